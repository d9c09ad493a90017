"""Write readings into the hub idempotently, in chunks, with a checkpoint to resume from.

Idempotent because each reading is identified by (entity, attribute, datasetId,
observedAt): before a chunk is written, the history already in the hub for those
entities and that time range is read (temporal query, clause 5.7.4), and

* a reading already there with the same value is skipped;
* one there with another value replaces that instance (clause 5.6.14);
* a new one is written: the newest of each attribute, when it is newer than the entity's
  current value, by batch upsert (which also records it in history), the others by
  temporal provision (clause 5.6.11), which adds history and leaves the entity alone.

Descriptive attributes (name, location...) are written only when the entity is new or
they changed, so re-running adds no history. The checkpoint (a JSON file under
``<data dir>/imports``) records the last row of the last chunk written; an interrupted
import resumes after it, and redoing a half-written chunk is harmless for the reasons
above. Only the hub client (``hub.client``) is used, so a remote hub works the same.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from smartseoul.hub.client import HubClient
from smartseoul.ingest.bulk_import import (
    Reading,
    RowError,
    file_digest,
    format_time,
    read_readings,
)
from smartseoul.ingest.mapping import ImportMapping

__all__ = ["Checkpoint", "ImportReport", "run_import"]

MAX_ERRORS_KEPT = 200
SeriesKey = tuple[str, str, str]  # entity id, attribute, datasetId


@dataclass
class ImportReport:
    """What an import did (this run and earlier runs of the same checkpoint)."""

    file: str
    rows: int = 0
    entities: int = 0
    written: int = 0
    replaced: int = 0
    unchanged: int = 0
    error_count: int = 0
    errors: list[str] = field(default_factory=list)
    last_row: int = 0
    resumed_from: int = 0
    complete: bool = False
    seconds: float = 0.0
    up_to_date: bool = False  # this run found the checkpoint complete and did nothing

    def add_error(self, error: RowError | str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(str(error))


class Checkpoint:
    """The state file of one import: file hash, mapping, target and the last row written."""

    def __init__(self, state_dir: Path, *, file_hash: str, mapping: ImportMapping, target: str):
        key = hashlib.sha256(f"{file_hash}\n{mapping.digest}\n{target}".encode()).hexdigest()
        self.path = state_dir / "imports" / f"{key[:24]}.json"
        self.file_hash, self.target = file_hash, target

    def load(self) -> dict[str, Any] | None:
        try:
            state: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return state if state.get("sha256") == self.file_hash else None

    def save(self, report: ImportReport) -> None:
        """Atomically: a crash leaves the old state or the new one, never half of it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        state = {"sha256": self.file_hash, "target": self.target, **asdict(report)}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ("type", "value", "object", "languageMap", "unitCode")
    return all(a.get(k) == b.get(k) for k in keys)


def _instances(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return [value] if isinstance(value, dict) else []


class HubWriter:
    """Writes chunks of readings; remembers what each entity holds across chunks."""

    def __init__(self, client: HubClient, mapping: ImportMapping, report: ImportReport, **kw: Any):
        self.client, self.mapping, self.report = client, mapping, report
        self.kw = kw  # context and tenant for every call
        self.latest: dict[SeriesKey, float] = {}
        self.static: dict[str, dict[str, dict[str, Any]]] = {}
        self.missing: set[str] = set()  # entities not in the hub when first seen
        self.attrs = sorted({a.name for e in mapping.entities for a in e.attributes})

    async def _load_entity(self, entity_id: str) -> str | None:
        """Read what the entity holds; why the hub refuses its id, if it does."""
        try:
            entity = await self.client.get(entity_id, **self.kw)
        except Exception as exc:
            status = getattr(exc, "status", 0)
            if not 400 <= status < 500:
                raise  # the hub is down or failing: stop, the checkpoint resumes here
            if status != 404:
                return str(exc)  # an id too long...: the entity's rows are reported
            entity = None
        self.static[entity_id] = {}
        if entity is None:
            self.missing.add(entity_id)
            return None
        for name, value in entity.items():
            for inst in _instances(value):
                self.static[entity_id][name] = inst
                if "observedAt" in inst:
                    key = (entity_id, name, inst.get("datasetId", ""))
                    self.latest[key] = max(self.latest.get(key, 0.0), _epoch(inst["observedAt"]))
        return None

    async def write(self, readings: list[Reading]) -> None:
        by_entity: dict[str, list[Reading]] = {}
        for reading in readings:
            by_entity.setdefault(reading.entity_id, []).append(reading)
        for entity_id in list(by_entity):
            if entity_id not in self.static:
                problem = await self._load_entity(entity_id)
                if problem is not None:
                    numbers = [r.row for r in by_entity.pop(entity_id)]
                    self._entity_error(entity_id, numbers, f"refused by the hub: {problem}")
        if not by_entity:
            return
        times = [r.observed_at for group in by_entity.values() for r in group]
        existing = await self.client.history(
            list(by_entity),
            attrs=self.attrs,
            time_at=format_time(min(times)),
            end_time_at=format_time(max(times) + timedelta(seconds=1)),
            **self.kw,
        )
        upserts: list[dict[str, Any]] = []
        history: dict[str, tuple[str, dict[str, list[dict[str, Any]]]]] = {}
        replace: list[tuple[str, str, str, dict[str, Any]]] = []
        rows: dict[str, list[int]] = {}
        new: dict[str, int] = {}
        for entity_id, group in by_entity.items():
            rows[entity_id] = [r.row for r in group]
            fragment = self._changed_static(entity_id, group)
            seen = {
                (name, i.get("datasetId", ""), _epoch(i["observedAt"])): i
                for name, instances in existing.get(entity_id, {}).items()
                for i in instances
                if "observedAt" in i
            }
            fresh: dict[tuple[str, str], dict[float, dict[str, Any]]] = {}
            for reading in group:
                for name, inst in reading.attrs.items():
                    ds, at = inst.get("datasetId", ""), reading.observed_at.timestamp()
                    old = seen.get((name, ds, at))
                    if old is None:
                        fresh.setdefault((name, ds), {})[at] = inst  # a repeated row: last wins
                    elif _same(old, inst):
                        self.report.unchanged += 1
                    else:
                        replace.append((entity_id, name, old["instanceId"], inst))
                        seen[(name, ds, at)] = inst
            attrs: dict[str, list[dict[str, Any]]] = {}
            for (name, ds), series in fresh.items():
                newest = max(series)
                key = (entity_id, name, ds)
                if newest > self.latest.get(key, float("-inf")):
                    fragment.setdefault(name, series.pop(newest))
                    self.latest[key] = newest
                    new[entity_id] = new.get(entity_id, 0) + 1
                if series:
                    attrs.setdefault(name, []).extend(series[t] for t in sorted(series))
                new[entity_id] = new.get(entity_id, 0) + len(series)
            if fragment:
                upserts.append({"id": entity_id, "type": group[0].type, **fragment})
            if attrs:
                history[entity_id] = (group[0].type, attrs)
        refused = await self._commit(upserts, history, replace, rows)
        self.report.written += sum(n for i, n in new.items() if i not in refused)

    def _changed_static(self, entity_id: str, group: list[Reading]) -> dict[str, Any]:
        """The descriptive attributes that are new or differ from what the entity holds."""
        current = self.static[entity_id]
        changed: dict[str, Any] = {}
        for name, inst in group[-1].static.items():
            if name not in current or not _same(current[name], inst):
                changed[name] = copy.deepcopy(inst)  # readings share it; the hub gets a copy
                current[name] = inst
        return changed

    async def _commit(
        self,
        upserts: list[dict[str, Any]],
        history: dict[str, tuple[str, dict[str, list[dict[str, Any]]]]],
        replace: list[tuple[str, str, str, dict[str, Any]]],
        rows: dict[str, list[int]],
    ) -> set[str]:
        """Upsert, then history, then replacements; returns the entities the hub refused."""
        refused: set[str] = set()
        if upserts:
            outcome = await self.client.upsert(upserts, **self.kw)
            for error in outcome.errors:
                entity_id = error.get("entityId", "")
                refused.add(entity_id)
                detail = error.get("error", {})
                detail = detail.get("detail", detail) if isinstance(detail, dict) else detail
                self._entity_error(
                    entity_id, rows.get(entity_id, []), f"refused by the hub: {detail}"
                )
            created = self.missing.intersection(outcome.written)
            self.report.entities += len(created)
            self.missing -= created
        for entity_id, (entity_type, attrs) in history.items():
            if entity_id in refused:
                continue
            try:
                await self.client.append_history(entity_id, entity_type, attrs, **self.kw)
            except Exception as exc:
                if not 400 <= getattr(exc, "status", 0) < 500:
                    raise  # the hub is down or failing: stop, the checkpoint resumes here
                refused.add(entity_id)
                self._entity_error(entity_id, rows.get(entity_id, []), f"history refused: {exc}")
        for entity_id, name, instance_id, inst in replace:
            if entity_id not in refused:
                await self.client.replace_history_instance(
                    entity_id, name, instance_id, inst, **self.kw
                )
                self.report.replaced += 1
        return refused

    def _entity_error(self, entity_id: str, rows: list[int], message: str) -> None:
        self.static.pop(entity_id, None)
        self.missing.discard(entity_id)
        for key in [k for k in self.latest if k[0] == entity_id]:
            del self.latest[key]
        first = rows[0] if rows else 0
        more = f" (and {len(rows) - 1} more rows)" if len(rows) > 1 else ""
        self.report.add_error(RowError(first, f"{entity_id}: {message}{more}"))


def _chunks(
    items: Iterable[tuple[int, list[Reading] | RowError]], size: int
) -> Iterable[list[tuple[int, list[Reading] | RowError]]]:
    chunk: list[tuple[int, list[Reading] | RowError]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def run_import(
    client: HubClient,
    path: Path,
    mapping: ImportMapping,
    *,
    state_dir: Path,
    target: str,
    encoding: str | None = None,
    batch: int = 500,
    limit: int | None = None,
    restart: bool = False,
    tenant: str = "",
    on_progress: Callable[[int, ImportReport], None] | None = None,
) -> ImportReport:
    """Import ``path`` into the hub behind ``client``; resumes from the checkpoint if any.

    ``target`` names the hub (its URL or store) so that a checkpoint is per hub;
    ``limit`` stops after that many rows (the checkpoint then resumes from there);
    ``restart`` ignores an earlier checkpoint. ``on_progress(rows, report)`` is called
    after each chunk is written and checkpointed.
    """
    started = time.perf_counter()
    checkpoint = Checkpoint(state_dir, file_hash=file_digest(path), mapping=mapping, target=target)
    state = None if restart else checkpoint.load()
    report = ImportReport(file=str(path))
    if state is not None:
        known = set(ImportReport.__dataclass_fields__)
        report = ImportReport(**{k: v for k, v in state.items() if k in known})
        report.resumed_from = report.last_row
        if report.complete:
            report.up_to_date = True
            return report
    writer = HubWriter(client, mapping, report, context=mapping.context, tenant=tenant)
    done = 0
    items = read_readings(path, mapping, encoding=encoding, skip_to=report.last_row)
    for chunk in _chunks(items, batch if limit is None else min(batch, max(limit, 1))):
        if limit is not None and done + len(chunk) > limit:
            chunk = chunk[: limit - done]
        readings: list[Reading] = []
        for _, outcome in chunk:
            if isinstance(outcome, RowError):
                report.add_error(outcome)
            else:
                readings.extend(outcome)
        if readings:
            await writer.write(readings)
        done += len(chunk)
        report.rows += len(chunk)
        report.last_row = chunk[-1][0]
        report.seconds = round(report.seconds + time.perf_counter() - started, 3)
        started = time.perf_counter()
        checkpoint.save(report)
        if on_progress is not None:
            on_progress(len(chunk), report)
        if limit is not None and done >= limit:
            return report
    report.complete = True
    report.seconds = round(report.seconds + time.perf_counter() - started, 3)
    checkpoint.save(report)
    return report
