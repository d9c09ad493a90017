"""The write-path side of subscriptions: match changes, queue notifications in the same tx.

Each worker process keeps its subscriptions compiled in memory, indexed by entity type and
watched attribute, per tenant. A version counter row in the database (bumped by every
subscription change) tells a worker when to reload, so several workers stay correct with
no shared process memory (DESIGN.md, "Scale path"). The check is one indexed read in the
write transaction; with no subscriptions for a tenant, that is all a write pays.

Notifications are rendered here (the data as the subscription asks, clause 5.8.6) and
queued in ``notification_outbox`` inside the caller's transaction: the write and its
notifications commit together, so an acknowledged write never loses its notifications.

Temporal writes (``hub.temporal_ops``, subscriptions with ``temporalChanges``) take two
steps: :meth:`SubscriptionFeed.temporal_candidates` before the transaction (the caller then
reads what the candidates need), :meth:`SubscriptionFeed.temporal_batch` and
:meth:`SubscriptionFeed.enqueue` with the write, in its transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from smartseoul.hub import linked
from smartseoul.hub.entities import now_iso
from smartseoul.hub.jsonld import CORE_CONTEXT_URL
from smartseoul.hub.linked import Fetch
from smartseoul.hub.render import render_entity
from smartseoul.hub.store.base import TemporalEntityRow
from smartseoul.hub.subscription_match import (
    CompiledSubscription,
    TemporalChange,
    attribute_events,
    build_notification,
    candidates,
    compile_subscription,
    matches,
    notification_entity,
    temporal_matches,
    temporal_notification_entity,
)
from smartseoul.hub.subscriptions import notification_link

log = logging.getLogger("smartseoul.subscriptions")
Entity = dict[str, Any]


@dataclass(slots=True)
class Buckets:
    """Subscriptions indexed for matching: by single entity type, by watched attribute
    (those with no entity selectors), and the rest (type expressions, ``*``)."""

    by_type: dict[str, list[CompiledSubscription]] = field(default_factory=dict)
    by_attr: dict[str, list[CompiledSubscription]] = field(default_factory=dict)
    general: list[CompiledSubscription] = field(default_factory=list)
    every: list[CompiledSubscription] = field(default_factory=list)

    def add(self, c: CompiledSubscription) -> None:
        self.every.append(c)
        if not c.selectors:
            for name in c.watched or ():
                self.by_attr.setdefault(name, []).append(c)
            return
        if all(s.simple_type for s in c.selectors):
            for s in c.selectors:
                assert s.simple_type is not None
                bucket = self.by_type.setdefault(s.simple_type, [])
                if c not in bucket:
                    bucket.append(c)
        else:
            self.general.append(c)

    def candidates(self, types: Iterable[str], attrs: Iterable[str]) -> list[CompiledSubscription]:
        return candidates(self.by_type, self.by_attr, self.general, types, attrs)


@dataclass(slots=True)
class TenantIndex:
    version: int
    changes: Buckets = field(default_factory=Buckets)  # entity changes
    temporal: Buckets = field(default_factory=Buckets)  # temporalChanges: true
    count: int = 0

    def add(self, c: CompiledSubscription) -> None:
        self.count += 1
        if c.periodic:
            return  # timeInterval subscriptions are not triggered by changes
        self.changes.add(c)
        if c.temporal:
            self.temporal.add(c)


class SubscriptionFeed:
    """Matches entity changes against subscriptions and queues their notifications.

    Parameters
    ----------
    store
        A ``SqlStore`` with ``SubscriptionStoreMixin``.
    resolver
        The ``ContextResolver``: subscriptions' @contexts are resolved when loaded.
    """

    def __init__(self, store: Any, resolver: Any):
        self.store = store
        self.resolver = resolver
        self._tenants: dict[str, TenantIndex] = {}

    async def index(self, conn: Any, tenant: str) -> TenantIndex:
        """This worker's index for ``tenant``, reloaded when the database version moved."""
        version = await self.store.subscription_version(conn, tenant)
        current = self._tenants.get(tenant)
        if current is not None and current.version == version:
            return current
        fresh = TenantIndex(version)
        if version:
            for sub in await self.store.load_subscriptions(conn, tenant):
                try:
                    fresh.add(await self.compile(sub, tenant))
                except Exception:  # one broken subscription must not stop the others
                    log.exception("cannot load subscription %s", sub.get("id"))
        self._tenants[tenant] = fresh
        return fresh

    async def compile(self, sub: dict[str, Any], tenant: str) -> CompiledSubscription:
        query_context = await self.resolver.resolve(sub.get("context"))
        link = sub.get("jsonldContext")  # clause 5.8.1.4: else the subscription's @context
        notify_context = query_context if link is None else await self.resolver.resolve(link)
        return compile_subscription(sub, tenant, query_context, notify_context)

    async def record(self, tx: Any, changes: Sequence[Any], *, new: bool = False) -> None:
        """Hook for ``Broker._save``: call before the store replaces the entities.

        ``changes`` are ``broker.Change`` objects (``entity``, ``written``, ``deleted``).
        """
        if not changes:
            return
        index = await self.index(tx.conn, tx.tenant)
        if not index.count:
            return
        now = time.time()
        pending: list[tuple[Entity, list[CompiledSubscription], set[str]]] = []
        for change in changes:
            after = change.entity
            names = set(change.written) | {row.attr for row in change.deleted}
            found = index.changes.candidates(after["type"], names)
            if found:
                pending.append((after, found, names))
        if not pending:
            return
        befores: dict[str, Entity] = {}
        if not new:  # the stored rows still hold the previous state
            befores = await tx.get_entities([after["id"] for after, _, _ in pending])
        batch = NotificationBatch(now)
        joining: dict[str, list[tuple[Entity | None, Entity, dict[str, str]]]] = {}
        subs: dict[str, CompiledSubscription] = {}
        for after, found, names in pending:
            before = befores.get(after["id"])
            events = attribute_events(before, after, None if before is None else names)
            for c in found:
                if not matches(c, before, after, events, now=now):
                    continue
                if c.join is None:
                    batch.add(c, before, after, events)
                else:
                    subs[c.id] = c
                    joining.setdefault(c.id, []).append((before, after, events))
        for sub_id, items in joining.items():
            c = subs[sub_id]
            entities, appended = await joined(c, [after for _, after, _ in items], tx.get_entities)
            for (before, _, events), after in zip(items, entities, strict=True):
                batch.add(c, before, after, events)
            for item in appended:
                batch.put(c, item)
        await self.enqueue(tx, batch)

    async def record_deleted(self, tx: Any, entity_ids: Sequence[str]) -> None:
        """Hook for entity deletions: call before ``tx.delete_entities(entity_ids)``."""
        if not entity_ids:
            return
        index = await self.index(tx.conn, tx.tenant)
        if not index.count:
            return
        now = time.time()
        batch = NotificationBatch(now)
        for before in (await tx.get_entities(entity_ids)).values():
            found = index.changes.candidates(before["type"], before["attrs"])
            for c in found:
                if matches(c, before, None, {}, now=now):
                    batch.add(c, before, None, {})
        await self.enqueue(tx, batch)

    async def temporal_candidates(
        self, tenant: str, entity: TemporalEntityRow, attrs: Iterable[str] | None
    ) -> list[CompiledSubscription]:
        """Live opted-in subscriptions whose entity selectors and scopeQ take ``entity``, for
        a temporal write touching ``attrs`` (None: all of them, a temporal entity deletion).

        Call before the write's transaction: the caller reads what these need, then gives
        the change to :meth:`temporal_batch`. With no opted-in subscription in the tenant,
        the version read here is all a temporal write pays.
        """
        async with self.store.read() as conn:
            index = await self.index(conn, tenant)
        temporal = index.temporal
        if not temporal.every:
            return []
        found = temporal.every if attrs is None else temporal.candidates(entity.types, attrs)
        now = time.time()
        subject = {"id": entity.entity_id, "type": entity.types, "scope": entity.scopes}
        return [c for c in found if c.live(now) and c.selects_entity(subject)]

    def temporal_batch(
        self, found: Sequence[CompiledSubscription], change: TemporalChange
    ) -> NotificationBatch | None:
        """The temporal notifications of ``change`` for the ``found`` candidates, rendered;
        None when none matches. Queue them with :meth:`enqueue` in the write's transaction."""
        batch = NotificationBatch(time.time(), temporal=True)
        for c in found:
            if temporal_matches(c, change, now=batch.now):
                batch.put(c, temporal_notification_entity(c, change, now_text=batch.now_text))
        return batch if batch.data else None

    async def enqueue(self, tx: Any, batch: NotificationBatch) -> None:
        """Queue ``batch`` in the outbox inside ``tx``: they commit (or roll back) together."""
        if not batch.data:
            return
        throttled = [
            (c.id, float(c.sub["throttling"])) for c in batch.subs.values() if "throttling" in c.sub
        ]
        slots = (
            await self.store.reserve_slots(tx.conn, tx.tenant, throttled, batch.now)
            if throttled
            else {}
        )
        rows = [
            outbox_row(
                c,
                batch.data[sub_id],
                now_text=batch.now_text,
                send_at=slots.get(sub_id, 0),
                temporal=batch.temporal,
            )
            for sub_id, c in batch.subs.items()
        ]
        await self.store.enqueue_notifications(tx.conn, rows)


async def joined(
    c: CompiledSubscription, entities: list[Entity], fetch: Fetch
) -> tuple[list[Entity], list[dict[str, Any]]]:
    """Linked Entity retrieval for a notification (``notification.join``, clause 5.2.14):
    the entities, with their Linked Entities inline, and the rendered Linked Entities a flat
    join appends to the data. ``fetch`` reads entities by id in the subscription's tenant."""
    if c.join is None:
        return entities, []
    if c.join.mode == "inline":
        return await linked.inline(entities, c.render, c.join, fetch), []
    extra = await linked.flat(entities, c.render, c.join, fetch)
    return entities, [render_entity(e, c.context.compact, o) for e, o in extra]


class NotificationBatch:
    """Notification data per subscription for one transaction (one notification each);
    ``temporal``: notifications of a temporal write (marked ``"temporal": true``)."""

    def __init__(self, now: float, *, temporal: bool = False):
        self.now = now
        self.now_text = now_iso()
        self.temporal = temporal
        self.subs: dict[str, CompiledSubscription] = {}
        self.data: dict[str, list[dict[str, Any]]] = {}

    def add(
        self,
        c: CompiledSubscription,
        before: Entity | None,
        after: Entity | None,
        events: dict[str, str],
    ) -> None:
        self.put(c, notification_entity(c, before, after, events, now_text=self.now_text))

    def put(self, c: CompiledSubscription, item: dict[str, Any]) -> None:
        self.subs[c.id] = c
        self.data.setdefault(c.id, []).append(item)


def outbox_row(
    c: CompiledSubscription,
    data: list[dict[str, Any]],
    *,
    now_text: str,
    send_at: float,
    temporal: bool = False,
) -> tuple[str, str, str, dict[str, Any], float]:
    """The outbox row for one Notification: the body is final, the worker only sends it."""
    endpoint = dict(c.sub["notification"]["endpoint"])
    explicit = c.sub.get("jsonldContext")
    endpoint["link"] = notification_link(c.sub)
    body = build_notification(c.id, data, now_text=now_text, temporal=temporal)
    accept = endpoint.get("accept", "application/json")
    if accept == "application/ld+json":
        body["@context"] = explicit or c.sub.get("context") or endpoint["link"]
    elif accept == "application/geo+json":
        body["data"] = _feature_collection(c, data)
    return c.tenant, c.id, orjson.dumps(body).decode(), endpoint, send_at


def _feature_collection(c: CompiledSubscription, data: list[dict[str, Any]]) -> dict[str, Any]:
    """Clause 5.3.1: data as a FeatureCollection for application/geo+json endpoints."""
    geo = c.context.compact("https://uri.etsi.org/ngsi-ld/location")
    features = []
    for item in data:
        props = {k: v for k, v in item.items() if k != "id"}
        location = item.get(geo)
        geometry = location.get("value") if isinstance(location, dict) else location
        features.append(
            {"id": item.get("id"), "type": "Feature", "geometry": geometry, "properties": props}
        )
    out: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    receiver = {
        kv["key"]: kv["value"] for kv in c.sub["notification"]["endpoint"].get("receiverInfo", ())
    }
    if receiver.get("Prefer") != "body=json":
        out["@context"] = c.sub.get("jsonldContext") or c.sub.get("context") or CORE_CONTEXT_URL
    return out
