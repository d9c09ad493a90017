"""What one write does to one entity: the Change record, merge rules and history rows (pure).

The broker (``hub.broker``) and the batch operations (``hub.batch``) both build Changes;
``Broker._save`` turns them into store writes.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smartseoul.hub.entities import (
    NGSI_NULL,
    VALUE_KEY,
    epoch,
    is_uri,
)
from smartseoul.hub.errors import BadRequestData, NgsiError
from smartseoul.hub.store.base import HistoryRow
from smartseoul.hub.store.indexing import scalar_of

Expand = Callable[[str], str]
Instances = list[dict[str, Any]]


@dataclass
class UpdateResult:
    """Clause 5.2.18: attributes updated and not updated (expanded names)."""

    updated: list[str] = field(default_factory=list)
    not_updated: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class BatchResult:
    """Clause 5.2.16: ids that succeeded and per-entity errors."""

    success: list[str] = field(default_factory=list)
    errors: list[tuple[str, NgsiError]] = field(default_factory=list)


# Instance ids: a random per-process prefix and a counter. As unique as a uuid4 per
# instance across processes and restarts, at a fraction of its cost on the write path.
_INSTANCE_PREFIX = f"urn:ngsi-ld:attribute:instance:{uuid.uuid4().hex}-"
_instance_counter = itertools.count(1)


def new_instance_id() -> str:
    return f"{_INSTANCE_PREFIX}{next(_instance_counter)}"


def history_rows(entity_id: str, attrs: dict[str, Instances], now: float) -> list[HistoryRow]:
    rows: list[HistoryRow] = []
    append = rows.append
    for name, instances in attrs.items():
        for inst in instances:
            observed = inst.get("observedAt")
            append(
                HistoryRow(
                    entity_id,
                    name,
                    inst.get("instanceId") or new_instance_id(),
                    inst.get("datasetId", ""),
                    epoch(observed) if observed else None,
                    now,
                    inst,
                    False,
                    _number_of(inst),
                )
            )
    return rows


def _number_of(inst: dict[str, Any]) -> float | None:
    """``scalar_of(inst)[0]``, with the write path's common kinds answered first."""
    kind = inst.get("type")
    if kind == "Property":
        value: Any = inst.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)
    if kind == "Relationship" or kind == "GeoProperty":
        return None  # a URI or a geometry: never a number
    return scalar_of(inst)[0]


def deletion_row(
    entity_id: str, name: str, inst: dict[str, Any], now: float, now_text: str
) -> HistoryRow:
    """A deleted instance is kept in history with an NGSI-LD Null and deletedAt (clause 4.5.6)."""
    kind = inst.get("type", "Property")
    data = {"type": kind, VALUE_KEY.get(kind, "value"): NGSI_NULL, "deletedAt": now_text}
    if "datasetId" in inst:
        data["datasetId"] = inst["datasetId"]
    return HistoryRow(
        entity_id=entity_id,
        attr=name,
        instance_id=new_instance_id(),
        dataset_id=inst.get("datasetId", ""),
        observed_at=None,
        modified_at=now,
        data=data,
        deleted=True,
    )


class Change:
    """The writes one operation makes to one entity, collected before they hit the store."""

    def __init__(self, entity: dict[str, Any], now_text: str, now: float):
        self.entity = entity
        self.now_text = now_text
        self.now = now
        self.written: dict[str, Instances] = {}
        self.deleted: list[HistoryRow] = []

    def put(self, name: str, inst: dict[str, Any], *, keep_created: bool = True) -> None:
        """Add or replace the instance with the same datasetId (clauses 5.6.2, 5.6.3)."""
        instances = self.entity["attrs"].setdefault(name, [])
        ds = inst.get("datasetId")
        for i, old in enumerate(instances):
            if old.get("datasetId") == ds:
                if keep_created and "createdAt" in old:
                    inst["createdAt"] = old["createdAt"]
                instances[i] = inst
                break
        else:
            instances.append(inst)
        self.written.setdefault(name, []).append(inst)

    def remove(self, name: str, dataset_id: str | None, *, all_instances: bool = False) -> bool:
        instances = self.entity["attrs"].get(name)
        if not instances:
            return False
        keep = []
        removed = []
        for inst in instances:
            if all_instances or inst.get("datasetId") == dataset_id:
                removed.append(inst)
            else:
                keep.append(inst)
        if not removed:
            return False
        if keep:
            self.entity["attrs"][name] = keep
        else:
            del self.entity["attrs"][name]
        self.deleted.extend(
            deletion_row(self.entity["id"], name, r, self.now, self.now_text) for r in removed
        )
        return True

    def find(self, name: str, dataset_id: str | None) -> dict[str, Any] | None:
        for inst in self.entity["attrs"].get(name, ()):
            if inst.get("datasetId") == dataset_id:
                return inst
        return None

    def history(self) -> list[HistoryRow]:
        return history_rows(self.entity["id"], self.written, self.now) + self.deleted

    def touched(self) -> bool:
        return bool(self.written or self.deleted)


def merge_instance(old: dict[str, Any], patch: dict[str, Any], now: str) -> dict[str, Any] | None:
    """Merge patch of one instance (clause 5.5.12); None when the patch deletes it."""
    kind = patch.get("type", old.get("type", "Property"))
    key = VALUE_KEY.get(kind, "value")
    if patch.get(key) == NGSI_NULL:
        return None
    merged = copy.deepcopy(old)
    if kind != old.get("type"):
        merged.pop(VALUE_KEY.get(old.get("type", "Property"), "value"), None)
    for member, item in patch.items():
        if member in ("createdAt",):
            continue
        if item == NGSI_NULL or (
            isinstance(item, dict) and item.get("value") == NGSI_NULL and member not in (key,)
        ):
            merged.pop(member, None)
        elif (
            member == key
            and isinstance(item, dict)
            and isinstance(merged.get(key), dict)
            and kind in ("Property", "LanguageProperty")
        ):
            # "Up to an arbitrary depth": a JSON object value, and a languageMap, where a
            # Null removes one language (clause 5.5.12).
            merged[key] = merge_json(merged[key], item)
        elif isinstance(item, dict) and "type" in item and isinstance(merged.get(member), dict):
            sub = merge_instance(merged[member], item, now)
            if sub is None:
                merged.pop(member, None)
            else:
                merged[member] = sub
        else:
            merged[member] = item
    merged["modifiedAt"] = now
    return merged


def merge_json(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(target)
    for k, v in patch.items():
        if v is None or v == NGSI_NULL:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_json(out[k], v)
        else:
            out[k] = v
    return out


def is_null(inst: dict[str, Any]) -> bool:
    return inst.get(VALUE_KEY.get(inst.get("type", "Property"), "value")) == NGSI_NULL


def adapt_patch(
    old: dict[str, Any],
    inst: dict[str, Any],
    simplified: bool,
    lang: str | None,
    observed_at: str | None,
) -> dict[str, Any]:
    """Merge entity parameters applied to one patch instance (clause 5.6.17.4)."""
    kind = old["type"]
    if inst["type"] == "Property" and kind != "Property" and "value" in inst:
        value = inst["value"]
        if kind == "LanguageProperty" and lang is not None:
            if not (
                isinstance(value, str)
                or (isinstance(value, list) and all(isinstance(v, str) for v in value))
            ):
                raise BadRequestData("With lang, a LanguageProperty value must be a string")
            rest = {k: v for k, v in inst.items() if k not in ("type", "value")}
            return {"type": kind, "languageMap": {**old["languageMap"], lang: value}, **rest}
        if simplified:
            # A simplified value keeps the type of the existing attribute.
            rest = {k: v for k, v in inst.items() if k not in ("type", "value")}
            if kind == "Relationship" and not is_uri(value):
                raise BadRequestData(f"Relationship object must be a URI, got {value!r}")
            if kind == "ListRelationship":
                if not isinstance(value, list) or not all(is_uri(v) for v in value):
                    raise BadRequestData("ListRelationship objects must be URIs")
                value = [{"object": v} for v in value]
            inst = {"type": kind, VALUE_KEY.get(kind, "value"): value, **rest}
    if observed_at is not None and "observedAt" in old and "observedAt" not in inst:
        inst = {**inst, "observedAt": observed_at}
    return inst


def strip_nulls(inst: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in inst.items() if not (isinstance(v, dict) and is_null(v))}


def body_id(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("id"), str):
        return body["id"]
    return ""
