"""The cyber security service: live pipeline from log lines to alerts and incidents in the hub.

Lines arrive from syslog listeners (UDP and TCP, RFC 6587 framing), tailed files or the
HTTP API; they are parsed, stored in the event store, matched by the Sigma rules, and the
resulting alerts are grouped into incidents. Alerts, incidents and asset risk are written
to the hub as entities through :class:`~smartseoul.hub.client.HubClient`; raw events are not.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from smartseoul.hub.client import HubClient
from smartseoul.services.cyber.detection import Alert, Detector
from smartseoul.services.cyber.entities import (
    CYBER_CONTEXT,
    alert_entity,
    incident_entity,
    incident_from_entity,
    incident_urn,
    risk_entity,
)
from smartseoul.services.cyber.incidents import (
    OPEN,
    Exposure,
    Incident,
    IncidentBook,
    asset_risk,
    transition,
)
from smartseoul.services.cyber.model import StreamingAnomalyDetector
from smartseoul.services.cyber.parsers import (
    ParseStats,
    detect_format,
    event_time,
    make_parser,
    parse_lines,
)
from smartseoul.services.cyber.store import EventStore, PostgresEventStore, open_event_store

log = logging.getLogger("smartseoul.cyber")

__all__ = [
    "CyberPipeline",
    "IngestReport",
    "SyslogListener",
    "get_incident",
    "list_alerts",
    "list_incidents",
    "events_path",
    "list_risk",
    "make_pipeline",
    "model_dir",
    "tail_file",
    "update_incident",
]

Event = dict[str, Any]
_HISTORY = 50_000  # alerts kept in memory for the risk score


def _public(address: Any) -> bool:
    try:
        return ipaddress.ip_address(str(address)).is_global
    except ValueError:
        return False


@dataclass
class IngestReport:
    """What one ingestion did."""

    lines: int = 0
    events: int = 0
    alerts: int = 0
    incidents: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)
    # Events older than the event store's retention period: analysed, not stored.
    expired: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class CyberPipeline:
    """Parse -> store -> detect -> incidents -> hub, for any number of sources."""

    def __init__(
        self,
        detector: Detector,
        *,
        store: EventStore | PostgresEventStore | None = None,
        client: HubClient | None = None,
        tenant: str = "",
        incident_window: float = 3600.0,
        anomaly: bool = True,
    ):
        self.detector, self.store, self.client, self.tenant = detector, store, client, tenant
        self.book = IncidentBook(window=incident_window)
        self.parsers: dict[tuple[str, str], Any] = {}
        self.history: deque[dict[str, Any]] = deque(maxlen=_HISTORY)
        self.services: dict[str, set[int]] = {}
        self.exposed: set[str] = set()
        self.anomaly_scores: dict[str, float] = {}
        self.anomaly = StreamingAnomalyDetector() if anomaly else None
        self.published: set[str] = set()
        self.stats = ParseStats()

    # --------------------------------------------------------------------- sync part

    def parser(self, fmt: str, source: str) -> Any:
        key = (fmt, source)
        if key not in self.parsers:
            self.parsers[key] = make_parser(fmt)
        return self.parsers[key]

    def process(self, lines: Iterable[str], fmt: str, *, source: str = "",
                stats: ParseStats | None = None) -> tuple[list[Event], list[Alert]]:  # fmt: skip
        """Parse and match lines (no I/O): the events and the alerts they raised."""
        stats = stats or ParseStats()
        lines = list(lines)
        if fmt == "auto":
            first = next((line for line in lines if line.strip()), "")
            fmt = detect_format(first)
        events = list(parse_lines(lines, self.parser(fmt, source), stats))
        alerts: list[Alert] = []
        process = self.detector.process
        for event in events:
            alerts += process(event)
        self._observe(events)
        return events, alerts

    def _observe(self, events: list[Event]) -> None:
        """Exposure (services answering, internet-facing) and traffic anomalies per asset."""
        vectors, targets = [], []
        for event in events:
            target = event.get("destination.ip")
            if target is None or event.get("event.category") != "network":
                continue
            answered = event.get("destination.bytes") or event.get("destination.packets")
            if answered and event.get("destination.port") is not None:
                self.services.setdefault(target, set()).add(int(event["destination.port"]))
                if _public(event.get("source.ip")):
                    self.exposed.add(target)
            if self.anomaly is not None:
                vectors.append([
                    np.log1p(float(event.get("source.bytes") or event.get("network.bytes") or 0)),
                    np.log1p(float(event.get("destination.bytes") or 0)),
                    np.log1p(float(event.get("source.packets") or event.get("network.packets") or 0)),
                    np.log1p(float(event.get("event.duration") or 0) / 1e6),
                    float(event.get("destination.port") or 0) < 1024,
                ])  # fmt: skip
                targets.append(target)
        if vectors and self.anomaly is not None:
            scores = self.anomaly.update_batch(np.array(vectors))
            for target, score in zip(targets, scores, strict=True):
                if score >= 0.99:
                    self.anomaly_scores[target] = max(
                        self.anomaly_scores.get(target, 0.0), float(score)
                    )

    # --------------------------------------------------------------------- async part

    async def ingest(
        self, lines: Iterable[str], fmt: str = "auto", *, source: str = ""
    ) -> IngestReport:
        """Parse, store, detect and publish a batch of lines."""
        stats = ParseStats()
        events, alerts = self.process(lines, fmt, source=source, stats=stats)
        expired = 0
        if self.store is not None and events:
            expired = len(events) - await asyncio.to_thread(self.store.add, events)
            if expired:
                log.info(
                    "%d events older than the %g-day retention period were analysed, not "
                    "stored", expired, self.store.retention_days,
                )
        incidents = await self.publish(alerts)
        self.stats.lines += stats.lines
        self.stats.events += stats.events
        self.stats.skipped.update(stats.skipped)
        for reason, example in stats.examples.items():
            self.stats.examples.setdefault(reason, example)
        if stats.skipped:
            log.info(
                "skipped %d malformed lines: %s", sum(stats.skipped.values()), dict(stats.skipped)
            )
        return IngestReport(stats.lines, stats.events, len(alerts), incidents,
                            dict(stats.skipped), dict(stats.examples), expired)  # fmt: skip

    async def _refresh(self, alerts: list[dict[str, Any]]) -> None:
        """Forget incidents an analyst has closed in the hub since we last wrote them."""
        if self.client is None:
            return
        keys = {(a["asset"], (a["techniques"] or ["untagged"])[0]) for a in alerts}
        for key in keys:
            incident = self.book.open.get(key)
            if incident is None or incident.id not in self.published:
                continue
            try:
                current = await self.client.get(incident_urn(incident.id), context=CYBER_CONTEXT,
                                                tenant=self.tenant, key_values=True)  # fmt: skip
            except Exception:  # deleted in the hub: start afresh
                self.book.close(incident.id)
                continue
            if current.get("status") not in OPEN:
                self.book.close(incident.id)

    async def publish(self, alerts: list[Alert]) -> int:
        """Group alerts into incidents and write alerts, incidents and risk to the hub."""
        if not alerts:
            return 0
        records = [a.as_dict() for a in alerts]
        await self._refresh(records)
        touched: dict[str, Incident] = {}
        entities = []
        for record in records:
            at = event_time({"@timestamp": record["time"]})
            incident = self.book.add(record, at)
            touched[incident.id] = incident
            entities.append(alert_entity(record, incident.id))
            self.history.append({**record, "at": at})
        now = max(event_time({"@timestamp": r["time"]}) for r in records)
        self.book.prune(now)
        for incident in touched.values():
            entities.append(
                incident_entity(incident, with_status=incident.id not in self.published)
            )
        assets = {r["asset"] for r in records}
        risks = [r for r in self.risk(now=now) if r.asset in assets]
        entities += [risk_entity(r, now) for r in risks]
        if self.client is not None:
            for start in range(0, len(entities), 500):
                outcome = await self.client.upsert(entities[start : start + 500],
                                                   context=CYBER_CONTEXT, tenant=self.tenant)  # fmt: skip
                for error in outcome.errors:
                    log.warning("hub refused %s: %s", error.get("entityId"), error.get("error"))
            self.published.update(touched)
        return len(touched)

    def risk(self, *, now: float | None = None) -> list[Any]:
        """The risk of every asset seen, from the alerts kept in memory."""
        open_counts: dict[str, int] = {}
        for incident in self.book.open.values():
            if incident.is_open:
                open_counts[incident.asset] = open_counts.get(incident.asset, 0) + 1
        exposure = {
            asset: Exposure(internet_facing=asset in self.exposed, services=len(ports))
            for asset, ports in self.services.items()
        }
        return asset_risk(self.history, now=now or time.time(), exposure=exposure,
                          open_incidents=open_counts, anomaly=self.anomaly_scores)  # fmt: skip


# ============================================================================ listeners


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, queue: asyncio.Queue[str]):
        self.queue = queue

    def datagram_received(self, data: bytes, addr: Any) -> None:
        for line in data.decode("utf-8", "replace").splitlines():
            if line.strip():
                self.queue.put_nowait(line)


def split_frames(buffer: bytearray) -> list[str]:
    """Complete syslog frames at the start of a TCP buffer (RFC 6587), removed from it.

    Octet counting (``LEN SP MSG``) when the frame starts with a digit, newline framing
    otherwise.

    Examples
    --------
    >>> buf = bytearray(b"11 <13>1 - - -\\n<14>hello\\n<15>par")
    >>> split_frames(buf), bytes(buf)
    (['<13>1 - - -', '<14>hello'], b'<15>par')
    """
    out: list[str] = []
    while buffer:
        if buffer[:1].isdigit():
            space = buffer.find(b" ", 0, 12)
            if space > 0 and buffer[:space].isdigit():
                size = int(buffer[:space])
                if len(buffer) < space + 1 + size:
                    break
                out.append(
                    buffer[space + 1 : space + 1 + size].decode("utf-8", "replace").rstrip("\n")
                )
                del buffer[: space + 1 + size]
                continue
        newline = buffer.find(b"\n")
        if newline < 0:
            break
        line = buffer[:newline].decode("utf-8", "replace").rstrip("\r")
        del buffer[: newline + 1]
        if line.strip():
            out.append(line)
    return out


class SyslogListener:
    """Syslog over UDP and TCP into a pipeline, in batches (``port=0`` picks a free port)."""

    def __init__(self, pipeline: CyberPipeline, *, host: str = "127.0.0.1",
                 udp_port: int | None = 5514, tcp_port: int | None = 5514,
                 batch: int = 1000, flush_seconds: float = 0.2):  # fmt: skip
        self.pipeline, self.host = pipeline, host
        self.udp_port, self.tcp_port = udp_port, tcp_port
        self.batch, self.flush_seconds = batch, flush_seconds
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=100_000)
        self._transport: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._worker: asyncio.Task[None] | None = None
        self.reports: list[IngestReport] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.udp_port is not None:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self.queue), local_addr=(self.host, self.udp_port)
            )
            self._transport = transport
            self.udp_port = transport.get_extra_info("sockname")[1]
        if self.tcp_port is not None:
            self._server = await asyncio.start_server(self._connection, self.host, self.tcp_port)
            self.tcp_port = self._server.sockets[0].getsockname()[1]
        self._worker = asyncio.create_task(self._drain())
        log.info("syslog listening on %s udp:%s tcp:%s", self.host, self.udp_port, self.tcp_port)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = bytearray()
        try:
            while data := await reader.read(65536):
                buffer += data
                for line in split_frames(buffer):
                    await self.queue.put(line)
            if buffer.strip():
                await self.queue.put(buffer.decode("utf-8", "replace").strip())
        finally:
            writer.close()

    async def _drain(self) -> None:
        while True:
            lines = [await self.queue.get()]
            deadline = asyncio.get_running_loop().time() + self.flush_seconds
            while len(lines) < self.batch:
                timeout = deadline - asyncio.get_running_loop().time()
                if timeout <= 0:
                    break
                try:
                    lines.append(await asyncio.wait_for(self.queue.get(), timeout))
                except TimeoutError:
                    break
            try:
                self.reports.append(await self.pipeline.ingest(lines, "syslog", source="syslog"))
            except Exception:
                log.exception("syslog batch of %d lines failed", len(lines))

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker


async def tail_file(pipeline: CyberPipeline, path: Path, fmt: str = "auto", *,
                    follow: bool = False, poll_seconds: float = 0.5, batch: int = 5000,
                    stop: asyncio.Event | None = None) -> IngestReport:  # fmt: skip
    """Ingest a file from its start; with ``follow``, keep reading what is appended.

    A file that shrinks (rotated or truncated) is read again from its start.
    """
    total = IngestReport()
    offset = 0
    source = str(path)
    while True:
        size = path.stat().st_size if path.exists() else 0
        if size < offset:
            offset = 0
        if size > offset:
            with path.open("rb") as handle:
                handle.seek(offset)
                while True:
                    chunk = handle.readlines(batch * 200)
                    if not chunk:
                        break
                    if not chunk[-1].endswith(b"\n") and follow:
                        handle.seek(-len(chunk[-1]), 1)  # a half-written last line: next round
                        chunk = chunk[:-1]
                        if not chunk:
                            break
                    lines = [c.decode("utf-8", "replace") for c in chunk]
                    report = await pipeline.ingest(lines, fmt, source=source)
                    total.lines += report.lines
                    total.events += report.events
                    total.alerts += report.alerts
                    total.incidents += report.incidents
                    total.expired += report.expired
                    for reason, n in report.skipped.items():
                        total.skipped[reason] = total.skipped.get(reason, 0) + n
                    for reason, text in report.examples.items():
                        total.examples.setdefault(reason, text)
                offset = handle.tell()
        if not follow or (stop is not None and stop.is_set()):
            return total
        await asyncio.sleep(poll_seconds)


# ============================================================================ hub queries


async def list_alerts(
    client: HubClient, *, tenant: str = "", limit: int = 1000
) -> list[dict[str, Any]]:
    """Security alerts in the hub, newest first."""
    found = await client.query(type="Alert", q='category=="security"', context=CYBER_CONTEXT,
                               tenant=tenant, key_values=True, limit=limit)  # fmt: skip
    return sorted(found, key=lambda a: str(a.get("dateIssued", "")), reverse=True)


async def list_incidents(client: HubClient, *, status: str | None = None, tenant: str = "",
                         limit: int = 1000) -> list[dict[str, Any]]:  # fmt: skip
    """Incidents in the hub (optionally of one status), most recent activity first."""
    q = f'status=="{status}"' if status else None
    found = await client.query(type="Incident", q=q, context=CYBER_CONTEXT, tenant=tenant,
                               key_values=True, limit=limit)  # fmt: skip
    return sorted(found, key=lambda i: str(i.get("lastSeen", "")), reverse=True)


async def get_incident(client: HubClient, incident_id: str, *, tenant: str = "") -> dict[str, Any]:
    entity_id = incident_id if incident_id.startswith("urn:") else incident_urn(incident_id)
    return await client.get(entity_id, context=CYBER_CONTEXT, tenant=tenant, key_values=True)


async def update_incident(client: HubClient, incident_id: str, *, status: str | None = None,
                          note: str = "", author: str = "", tenant: str = "") -> dict[str, Any]:  # fmt: skip
    """Apply an analyst's status change and/or note; raises ``WorkflowError`` if not allowed."""
    entity = await get_incident(client, incident_id, tenant=tenant)
    incident: Incident = incident_from_entity(entity)
    transition(incident, status or incident.status, at=time.time(), author=author, note=note)
    await client.update_attrs(
        entity["id"], {"status": {"type": "Property", "value": incident.status},
                       "notes": {"type": "Property", "value": incident.notes}},
        context=CYBER_CONTEXT, tenant=tenant,
    )  # fmt: skip
    return await get_incident(client, incident_id, tenant=tenant)


async def list_risk(
    client: HubClient, *, tenant: str = "", limit: int = 1000
) -> list[dict[str, Any]]:
    """Assets by predicted risk, highest first."""
    found = await client.query(type="CyberAsset", context=CYBER_CONTEXT, tenant=tenant,
                               key_values=True, limit=limit)  # fmt: skip
    return sorted(found, key=lambda a: -float(a.get("riskScore", 0)))


# ============================================================================ settings


def events_path(settings: Any) -> Path:
    """The event store's file: ``SMARTSEOUL_CYBER_EVENTS_PATH`` or ``DATA_DIR/cyber-events.db``."""
    return Path(settings.cyber_events_path or Path(settings.data_dir) / "cyber-events.db")


def model_dir(settings: Any) -> Path:
    """Saved intrusion models: ``SMARTSEOUL_CYBER_MODEL_DIR`` or ``DATA_DIR/cyber-models``."""
    return Path(settings.cyber_model_dir or Path(settings.data_dir) / "cyber-models")


def rule_paths(settings: Any) -> list[Path]:
    return [Path(p.strip()) for p in str(settings.cyber_rules).split(",") if p.strip()]


def make_pipeline(settings: Any, client: HubClient | None, *, tenant: str = "",
                  store: bool = True) -> CyberPipeline:  # fmt: skip
    """A pipeline configured from :class:`~smartseoul.config.Settings`."""
    from smartseoul.services.cyber.detection import load_detector

    return CyberPipeline(
        load_detector(rule_paths(settings)),
        store=open_event_store(settings, events_path(settings)) if store else None,
        client=client, tenant=tenant,
        incident_window=settings.cyber_incident_window_minutes * 60.0,
    )  # fmt: skip
