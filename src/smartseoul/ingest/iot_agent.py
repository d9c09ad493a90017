"""The IoT agent: device payloads in, partial entity updates to the hub out, in batches.

A message from a device (MQTT topic ``smartseoul/{apikey}/{device_id}/attrs`` or
``POST /iot/{apikey}/{device_id}/attrs``) is parsed (:mod:`~smartseoul.ingest.payloads`),
mapped through the device's provisioning (:mod:`~smartseoul.ingest.devices`) into partial
target entities whose attributes carry ``value``, ``unitCode`` and ``observedAt``, and
queued. A single writer task coalesces what arrives within ``window`` seconds (or up to
``max_batch`` measurements) into one batch upsert per tenant, update mode: that is what
makes thousands of measurements per second cheap on SQLite. The same batch stamps each
reporting Device with ``dateLastValueReported`` and, when it had been silent, sets
``deviceState`` back to ``ok``. A periodic check marks devices without data for
``silenceAfter`` expected intervals as ``deviceState: silent`` with ``silentSince``, so an
NGSI-LD subscription on ``deviceState=="silent"`` raises the outage.

Bad input never stops the agent and never costs the good readings beside it: it is
counted by reason (:mod:`~smartseoul.ingest.iot_stats`) and the rest goes through.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from smartseoul.hub.client import HubClient, HubError
from smartseoul.hub.errors import NgsiError
from smartseoul.ingest.devices import (
    IOT_CONTEXT,
    Device,
    DeviceRegistry,
    DeviceSpecError,
    device_entity,
    device_from_entity,
    is_not_found,
)
from smartseoul.ingest.iot_stats import AgentStats
from smartseoul.ingest.mqtt_listener import Done, MqttListener, claim_session
from smartseoul.ingest.payloads import Rejection, convert_value, format_time, parse_payload

__all__ = ["IotAgent", "Receipt", "start_iot_agent"]

log = logging.getLogger("smartseoul.iot")
TOPIC_PREFIX = "smartseoul"
# A failed batch is retried this many times (hub restarting, database busy) before its
# entities are counted as write_failed.
_WRITE_ATTEMPTS = 3
# Entities per hub write when a backlog is flushed (about 2,500 S-DoT measurements).
_WRITE_SLICE = 500
MAX_PAYLOAD_BYTES = 1 << 20  # one device message; a larger one is refused unparsed


@dataclass(slots=True)
class Receipt:
    """What became of one message: readings accepted, parts rejected, or why it was refused."""

    accepted: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    refused: str | None = None
    tenant: str = ""
    targets: dict[str, int] = field(default_factory=dict)  # entity id -> readings queued

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "accepted": self.accepted,
            "rejected": [r.as_dict() for r in self.rejections],
        }
        if self.refused:
            out["refused"] = self.refused
        return out


@dataclass
class _Pending:
    """Entities waiting for the next batch, per tenant, and the callers waiting on it."""

    targets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # One partial Device entity per device and tenant: only the latest last-seen matters.
    devices: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    measurements: int = 0
    # Callers waiting for the write; each learns the (tenant, entity id) pairs that failed.
    waiters: list[asyncio.Future[set[tuple[str, str]]]] = field(default_factory=list)
    # MQTT messages whose readings are in this batch: acknowledged once it is written.
    acks: list[Done] = field(default_factory=list)


class IotAgent:
    """Turns device messages into batched hub writes; see the module docstring.

    Parameters
    ----------
    client
        The hub (in-process or by URL).
    tenants
        Tenants whose Device entities this agent serves ("" is the default tenant).
    window
        Seconds a batch stays open after its first measurement.
    max_batch
        Measurements that close a batch early.
    check_every
        Seconds between silence checks.
    reload_every
        Seconds between full reloads of the Device cache (provisioning done elsewhere).
    topic_prefix
        First level of the device topics (``{prefix}/{apikey}/{device_id}/attrs``).
    clock
        Wall-clock seconds (tests may replace it).
    """

    def __init__(
        self,
        client: HubClient,
        *,
        tenants: tuple[str, ...] = ("",),
        window: float = 0.025,
        max_batch: int = 1000,
        check_every: float = 5.0,
        reload_every: float = 60.0,
        topic_prefix: str = TOPIC_PREFIX,
        clock: Callable[[], float] = time.time,
    ):
        self.client = client
        self.registry = DeviceRegistry(client, tenants=tenants)
        self.stats = AgentStats()
        self.window, self.max_batch = window, max_batch
        self.check_every, self.reload_every = check_every, reload_every
        self.clock, self.topic_prefix = clock, topic_prefix
        self.listener: MqttListener | None = None
        self._pending = _Pending()
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        # One flush at a time, in the order they took their readings: stop's last flush waits
        # for the writer's, which would otherwise be cancelled half-written or land after it.
        self._flushing = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._lookups: set[asyncio.Task[Any]] = set()
        # The lock file of the MQTT session slot this process holds (see claim_session).
        self.session_lock: IO[str] | None = None

    # -- life cycle -------------------------------------------------------------------

    async def start(self, *, mqtt_url: str | None = None, shared_group: str | None = None) -> None:
        """Load the Device cache, start the writer and the silence check, then MQTT."""
        await self.registry.reload()
        self._tasks = [
            asyncio.create_task(self._writer(), name="iot-writer"),
            asyncio.create_task(self._housekeeping(), name="iot-silence"),
        ]
        if mqtt_url:
            await self.listen(mqtt_url, shared_group=shared_group)

    async def listen(
        self,
        mqtt_url: str,
        *,
        shared_group: str | None = None,
        client_id: str | None = None,
        session_expiry: int = 0,
    ) -> None:
        """Subscribe to ``{topic_prefix}/+/+/attrs`` on a broker (also later than :meth:`start`).

        A message is acknowledged to the broker once its readings are written or refused;
        ``client_id`` and ``session_expiry`` keep the session for a restarted process (see
        :class:`~smartseoul.ingest.mqtt_listener.MqttListener`).
        """
        topic = f"{self.topic_prefix}/+/+/attrs"
        self.listener = MqttListener(
            self.feed, mqtt_url, topic=topic, shared_group=shared_group,
            client_id=client_id, session_expiry=session_expiry,
        )  # fmt: skip
        await self.listener.start()

    async def stop(self) -> None:
        """Stop listening, write what is queued and acknowledge it, stop the tasks."""
        if self.listener is not None:
            await self.listener.unsubscribe()
        for task in list(self._lookups):
            with contextlib.suppress(Exception):
                await task
        await self.flush()
        if self.listener is not None:
            await self.listener.stop()  # after the flush: its PUBACKs go out first
        if self.session_lock is not None:
            self.session_lock.close()
            self.session_lock = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- provisioning ------------------------------------------------------------------

    async def deprovision(self, device_id: str, *, tenant: str = "") -> bool:
        """Delete a device's Device entity and forget it; False if there was none. Its
        readings already queued are still written, its queued report stamp is dropped (it
        would create the Device entity again), and later messages are unknown_device."""
        device = await self.registry.lookup(device_id)
        if device is None or device.tenant != tenant:
            return False
        self.registry.forget(device_id)
        self._pending.devices.get(tenant, {}).pop(device.urn, None)
        try:
            await self.client.delete(device.urn, tenant=tenant)
        except (NgsiError, HubError) as err:
            if not is_not_found(err):
                raise
        return True

    async def provision(self, devices: list[Device]) -> list[Device]:
        """Write Device entities and their targets' skeletons; cache the devices.

        Re-provisioning keeps what the agent knows at run time (last seen, state).

        Raises
        ------
        DeviceSpecError
            A device is inconsistent or the hub refused it (``field`` names the member).
        """
        now = self.clock()
        by_tenant: dict[str, list[dict[str, Any]]] = {}
        for device in devices:
            device.check()
            if device.tenant not in self.registry.tenants:
                # It would be written, then forgotten at the next reload of the cache.
                served = ", ".join(repr(t) for t in self.registry.tenants)
                raise DeviceSpecError(
                    "NGSILD-Tenant",
                    f"this agent serves the tenants {served}, not {device.tenant!r}",
                )
            known = self.registry.cached(device.device_id)
            if known is not None:
                device.state, device.last_seen = known.state, known.last_seen
                device.seen_epoch, device.installed_at = known.seen_epoch, known.installed_at
            else:
                device.seen_epoch = now
            device.installed_at = device.installed_at or format_time(_utc(now))
            out = by_tenant.setdefault(device.tenant, [])
            out.append(device_entity(device))
            for target in device.targets.values():
                skeleton: dict[str, Any] = {
                    "id": target.id,
                    "type": target.type,
                    # Smart Data Models observed types link their sensor with refDevice.
                    "refDevice": {"type": "Relationship", "object": device.urn},
                }
                if device.location:
                    skeleton["location"] = {"type": "GeoProperty", "value": device.location}
                out.append(skeleton)
        for tenant, entities in by_tenant.items():
            outcome = await self.client.upsert(entities, context=IOT_CONTEXT, tenant=tenant)
            if outcome.errors:
                first = outcome.errors[0]
                detail = first.get("error", {}).get("detail", first)
                raise DeviceSpecError(str(first.get("entityId")), f"refused by the hub: {detail}")
        for device in devices:
            self.registry.put(device)
        return devices

    # -- ingestion ---------------------------------------------------------------------

    def feed(self, topic: str, payload: bytes, received: float, done: Done | None = None) -> None:
        """One MQTT message (called on the event loop by the listener). ``done`` is called
        once its readings are written (after the batch that holds them) or refused."""
        self.stats.messages["mqtt"] += 1
        parts = topic.split("/")
        if len(parts) != 4 or parts[0] != self.topic_prefix or parts[3] != "attrs":
            self.stats.reject(None, Rejection("bad_topic", f"topic {topic!r}"))
            if done is not None:
                done()
            return
        _, apikey, device_id, _ = parts
        device = self.registry.cached(device_id)
        if device is not None:
            self._settle(self._accept(device, apikey, payload, None, received), done)
            return
        # A cache miss needs a hub lookup; it must not hold up the messages behind it.
        task = asyncio.create_task(self._lookup_and_settle(apikey, device_id, payload, received, done))
        self._lookups.add(task)
        task.add_done_callback(self._lookups.discard)

    async def _lookup_and_settle(
        self, apikey: str, device_id: str, payload: bytes, received: float, done: Done | None
    ) -> None:
        try:
            receipt = await self._lookup_and_accept(apikey, device_id, payload, received)
        except BaseException:
            if done is not None:
                done()  # acknowledgements go in order: one never given would hold all the rest
            raise
        self._settle(receipt, done)

    def _settle(self, receipt: Receipt, done: Done | None) -> None:
        """Acknowledge a refused message now, an accepted one after the write of its batch."""
        if done is None:
            return
        if receipt.accepted:
            self._pending.acks.append(done)
        else:
            done()

    async def handle(
        self,
        apikey: str,
        device_id: str,
        payload: bytes,
        *,
        content_type: str | None = None,
        wait: bool = True,
        transport: str = "http",
    ) -> Receipt:
        """One message from HTTP; with ``wait`` returns once its batch is written."""
        self.stats.messages[transport] += 1
        receipt = await self._lookup_and_accept(
            apikey, device_id, payload, self.clock(), content_type=content_type
        )
        if wait and receipt.accepted:
            waiter: asyncio.Future[set[tuple[str, str]]] = (
                asyncio.get_running_loop().create_future()
            )
            self._pending.waiters.append(waiter)
            failed = await waiter
            for entity_id, count in receipt.targets.items():
                if (receipt.tenant, entity_id) in failed:  # acknowledged only once stored
                    receipt.accepted -= count
                    detail = "the hub did not store these readings (see the agent's log)"
                    receipt.rejections.append(Rejection("write_failed", detail, entity_id))
        return receipt

    async def _lookup_and_accept(
        self,
        apikey: str,
        device_id: str,
        payload: bytes,
        received: float,
        *,
        content_type: str | None = None,
    ) -> Receipt:
        try:
            device = await self.registry.lookup(device_id)
        except (NgsiError, HubError) as err:
            log.warning("device lookup for %s failed: %s", device_id, err)
            device = None
        if device is None:
            self.stats.reject(device_id, Rejection("unknown_device", f"device {device_id!r}"))
            return Receipt(refused="unknown_device")
        return self._accept(device, apikey, payload, content_type, received)

    def _accept(
        self,
        device: Device,
        apikey: str,
        payload: bytes,
        content_type: str | None,
        received: float,
    ) -> Receipt:
        """Map a message's readings onto target entities and queue them (no I/O)."""
        if apikey != device.apikey:
            self.stats.reject(device.device_id, Rejection("wrong_apikey", f"apikey {apikey!r}"))
            return Receipt(refused="wrong_apikey")
        if len(payload) > MAX_PAYLOAD_BYTES:  # parsed whole on the event loop: bound it
            detail = f"{len(payload)} bytes, more than {MAX_PAYLOAD_BYTES}"
            self.stats.reject(device.device_id, Rejection("payload_too_large", detail))
            return Receipt(refused="payload_too_large")
        parsed = parse_payload(payload, content_type=content_type)
        receipt = Receipt(rejections=parsed.rejections, tenant=device.tenant)
        received_at = format_time(_utc(received))
        entities: dict[tuple[str, str], dict[str, Any]] = {}
        for reading in parsed.readings:
            measure = device.measures.get(reading.name)
            if measure is None:
                detail = f"{reading.name!r} is not in the device's measurementMap"
                receipt.rejections.append(Rejection("unmapped_measure", detail, reading.name))
                continue
            try:
                value = convert_value(reading.raw, measure.kind)
            except ValueError as err:
                receipt.rejections.append(Rejection("bad_value", str(err), reading.name))
                continue
            observed_at = reading.observed_at or received_at
            target = device.targets[measure.target]
            # One partial entity per target and observation time: readings of one instant
            # share a write, readings of several instants each keep their history row.
            key = (target.id, observed_at)
            entity = entities.get(key)
            if entity is None:
                entity = entities[key] = {"id": target.id, "type": target.type}
            attr: dict[str, Any] = {"type": "Property", "value": value, "observedAt": observed_at}
            if measure.unit_code:
                attr["unitCode"] = measure.unit_code
            if measure.attr in entity:  # t|1|t|2: one instant holds one value, the last
                detail = f"{reading.name!r} given again for {observed_at}: the later value is kept"
                receipt.rejections.append(Rejection("duplicate_reading", detail, reading.name))
            else:
                receipt.accepted += 1
                receipt.targets[target.id] = receipt.targets.get(target.id, 0) + 1
            entity[measure.attr] = attr
        if not parsed.readings and not parsed.rejections:
            receipt.rejections.append(Rejection("empty_payload", "no measurement in the payload"))
        for rejection in receipt.rejections:
            self.stats.reject(device.device_id, rejection)
        if receipt.accepted:
            self._queue(device, list(entities.values()), receipt.accepted, received, received_at)
        return receipt

    def _queue(
        self,
        device: Device,
        entities: list[dict[str, Any]],
        count: int,
        received: float,
        received_at: str,
    ) -> None:
        pending = self._pending
        pending.targets.setdefault(device.tenant, []).extend(entities)
        seen = pending.devices.setdefault(device.tenant, {})
        stamp = seen.get(device.urn) or {"id": device.urn, "type": "Device"}
        stamp["dateLastValueReported"] = {"type": "Property", "value": received_at}
        if device.state != "ok":  # recovery from silence (or the first report)
            stamp["deviceState"] = {"type": "Property", "value": "ok"}
            device.state, device.silent_since = "ok", None
        seen[device.urn] = stamp
        device.last_seen, device.seen_epoch = received_at, received
        pending.measurements += count
        self.stats.measurements += count
        self._wake.set()
        if pending.measurements >= self.max_batch:
            self._full.set()

    # -- writing -----------------------------------------------------------------------

    async def flush(self) -> None:
        """Write everything queued now (also what the writer does after each window)."""
        async with self._flushing:
            await self._flush()

    async def _flush(self) -> None:
        pending, self._pending = self._pending, _Pending()
        self._full.clear()
        failed: set[tuple[str, str]] = set()
        try:
            for tenant in pending.targets.keys() | pending.devices.keys():
                entities = pending.targets.get(tenant, [])
                entities.extend(pending.devices.get(tenant, {}).values())
                # A backlog (the hub was slower than the devices for a while) goes in slices:
                # each write holds the event loop, and notifications, MQTT and HTTP requests
                # get their turn between slices instead of after one long write.
                for start in range(0, len(entities), _WRITE_SLICE):
                    if start:
                        await asyncio.sleep(0)
                    lost = await self._write(tenant, entities[start : start + _WRITE_SLICE])
                    failed.update((tenant, entity_id) for entity_id in lost)
        except BaseException:
            # Not acknowledged: a session kept for a restart has these messages again.
            failed.update((t, e["id"]) for t, es in pending.targets.items() for e in es)
            raise
        finally:
            for waiter in pending.waiters:
                if not waiter.done():
                    waiter.set_result(failed)
        # Written, or counted as write_failed after the retries: either way handled.
        for done in pending.acks:
            done()

    async def _write(self, tenant: str, entities: list[dict[str, Any]]) -> set[str]:
        """One batch upsert, retried while the hub fails; the ids it did not store."""
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                outcome = await self.client.upsert(entities, context=IOT_CONTEXT, tenant=tenant)
            except Exception as err:  # the hub is down or busy: retry, then count
                log.warning("batch upsert of %d entities failed: %s", len(entities), err)
                if attempt + 1 < _WRITE_ATTEMPTS:
                    await asyncio.sleep(0.2 * 2**attempt)
                    continue
                for entity in entities:
                    self.stats.reject(None, Rejection("write_failed", str(err), entity["id"]))
                return {entity["id"] for entity in entities}
            self.stats.batches += 1
            self.stats.entities_written += len(outcome.written)
            lost = set()
            for error in outcome.errors:
                detail = str(error.get("error", {}).get("detail", error))
                self.stats.reject(None, Rejection("write_failed", detail, error.get("entityId")))
                lost.add(str(error.get("entityId")))
            return lost
        return set()

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            if not self._full.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self.window)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # never let one bad batch stop the writer
                log.exception("IoT batch write failed")

    # -- silence -----------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        last_reload = time.monotonic()
        while True:
            await asyncio.sleep(self.check_every)
            try:
                if time.monotonic() - last_reload >= self.reload_every:
                    await self.registry.reload()
                    last_reload = time.monotonic()
                await self.check_silence()
            except Exception:
                log.exception("IoT silence check failed")

    async def check_silence(self) -> list[str]:
        """Mark devices silent after ``silenceAfter`` intervals without data; their ids."""
        now = self.clock()
        marked: list[str] = []
        for device in self.registry:
            if (
                device.state == "silent"
                or now - device.seen_epoch <= device.interval * device.silence_after
            ):
                continue
            # Another worker may have heard from it: trust the hub's last-seen over ours.
            with contextlib.suppress(NgsiError, HubError):
                row = await self.client.get(device.urn, context=IOT_CONTEXT, tenant=device.tenant)
                fresh = device_from_entity(row, tenant=device.tenant)
                if fresh.last_seen and fresh.seen_epoch > device.seen_epoch:
                    device.last_seen, device.seen_epoch = fresh.last_seen, fresh.seen_epoch
                    if now - device.seen_epoch <= device.interval * device.silence_after:
                        continue
            # Silent since its last report (or its installation, if it never reported).
            since = format_time(_utc(device.seen_epoch))
            update = {
                "id": device.urn,
                "type": "Device",
                "deviceState": {"type": "Property", "value": "silent"},
                "silentSince": {"type": "Property", "value": since},
            }
            outcome = await self.client.upsert([update], context=IOT_CONTEXT, tenant=device.tenant)
            if outcome.written:
                device.state, device.silent_since = "silent", since
                marked.append(device.device_id)
        return marked

    def device_states(self) -> Counter[str]:
        return Counter(device.state for device in self.registry)


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def start_iot_agent(
    app: Any,
    *,
    mqtt_url: str | None = None,
    tenants: tuple[str, ...] = ("",),
    store_location: str = "",
    session_dir: Path | None = None,
    session_expiry: int = 0,
    **options: Any,
) -> IotAgent:
    """Lifespan hook: an agent on the app's in-process hub, listening on MQTT if a URL is given.

    The worker processes of one hub (one store, ``store_location``) share the device topics
    through an MQTT shared subscription named after that store, so each message is written
    once, while another hub on the same broker gets every message too. With
    ``session_dir`` and ``session_expiry`` each worker keeps its MQTT session for that many
    seconds after it dies (see :func:`~smartseoul.ingest.mqtt_listener.claim_session`).
    """
    from smartseoul.hub.client import local_client

    agent = IotAgent(local_client(app), tenants=tenants, **options)
    await agent.start()
    if mqtt_url:
        # A SQLite file is on one host: the same path elsewhere is another hub.
        identity = store_location if not store_location.startswith("sqlite:") else (
            f"{socket.gethostname()}\0{store_location}"
        )
        group = "smartseoul-iot-" + hashlib.sha256(identity.encode()).hexdigest()[:12]
        client_id = None
        if session_dir is not None and session_expiry > 0:
            client_id, agent.session_lock = claim_session(session_dir, store_location)
        try:
            await agent.listen(
                mqtt_url, shared_group=group, client_id=client_id, session_expiry=session_expiry
            )
        except BaseException:
            await agent.stop()
            raise
    app.state.iot_agent = agent
    return agent
