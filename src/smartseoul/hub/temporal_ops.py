"""Temporal NGSI-LD operations on the store (clauses 5.6.11 to 5.6.16, 5.7.3, 5.7.4), no web.

A mixin of ``hub.broker.Broker``. The temporal rules (query parameters, bodies, merged
temporal entities) live in ``hub.temporal``; this module reads and writes the history
with them, one store transaction per write.

Temporal writes change history only, never the current entities, so subscriptions
(clause 5.8), which watch entities, are not notified of them, except those that opt in
with ``"temporalChanges": true`` (a smartseoul extension, rules in
``hub.subscription_match``). Before its transaction a write asks the subscription feed for
the opted-in subscriptions that may concern it (one version read when there are none),
reads only what those need (which attributes had instances, the instances a deletion
removes), and queues their notifications in the outbox inside its own transaction, ahead
of the write: both commit together or neither does.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from smartseoul.hub.changes import Expand, history_rows
from smartseoul.hub.entities import check_entity_id, check_name, is_uri, normalize_instance
from smartseoul.hub.entity_ops import EntityOperations
from smartseoul.hub.errors import BadRequestData, ResourceNotFound
from smartseoul.hub.ordering import sort_entities
from smartseoul.hub.query import matches_q
from smartseoul.hub.store.base import (
    EntityQuery,
    HistoryQuery,
    HistoryRow,
    TemporalEntityRow,
    Tx,
)
from smartseoul.hub.subscription_feed import NotificationBatch
from smartseoul.hub.subscription_match import CompiledSubscription, TemporalChange
from smartseoul.hub.temporal import (
    AGGREGATED_VALUES,
    SCOPE,
    StoreAggregation,
    TemporalFragment,
    TemporalQuerySpec,
    merge_temporal_entity,
    parse_temporal_fragment,
    replace_history_instance,
    stamp,
)
from smartseoul.hub.temporal_render import limit_instances

CHUNK = 200  # temporal entities whose history is read in one store call while paging

Found = list[tuple[TemporalEntityRow, list[HistoryRow]]]


@dataclass(slots=True)
class TemporalResult:
    """Temporal entities with the history rows to show (in the store's order).

    ``total`` is the number of matching entities when a count was asked; ``more`` whether
    entities match past this page; ``span`` the DateTime range of the answer when
    instances were cut to the limit (clause 6.3.10).
    """

    found: Found = field(default_factory=list)
    total: int | None = None
    more: bool = False
    span: tuple[float, float] | None = None
    # Aggregations the store computed, by entity id, in place of rows (see _store_aggregation).
    aggregated: dict[str, StoreAggregation] = field(default_factory=dict)


def _clock() -> tuple[float, str]:
    now = time.time()
    return now, stamp(now)


def _pseudo_entity(entity: TemporalEntityRow, rows: list[HistoryRow]) -> dict[str, Any]:
    """The instances in the time range as a stored-form entity, for ``q`` and geoQ (5.7.4.4)."""
    attrs: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if not row.deleted:
            attrs.setdefault(row.attr, []).append(row.data)
    return {"id": entity.entity_id, "type": entity.types, "attrs": attrs}


def _cut(found: Found, spec: TemporalQuerySpec, max_instances: int) -> TemporalResult:
    """At most ``max_instances`` per attribute and dataset over the whole answer."""
    if spec.mode == AGGREGATED_VALUES:
        return TemporalResult(found)
    rows, span = limit_instances(
        [row for _, entity_rows in found for row in entity_rows], spec, max_instances
    )
    by_entity: dict[str, list[HistoryRow]] = {}
    for row in rows:
        by_entity.setdefault(row.entity_id, []).append(row)
    return TemporalResult([(e, by_entity.get(e.entity_id, [])) for e, _ in found], span=span)


def _store_can_aggregate(spec: TemporalQuerySpec) -> bool:
    """Whether the store may aggregate in SQL: no lastN (it counts instances first), a
    period of exact seconds (calendar months need Python), an instance time in a column."""
    period = spec.aggr_period
    return (
        spec.mode == AGGREGATED_VALUES
        and spec.last_n is None
        and spec.timeproperty in ("observedAt", "modifiedAt")
        and (period is None or period.months == 0)
    )


def _new_instance(
    attr_term: str, attr: str, body: Any, expand: Expand, now_text: str
) -> dict[str, Any]:
    """The replacing instance of clause 5.6.14: ``{attr: [instance]}``, ``{attr: instance}``
    or the bare instance."""
    if isinstance(body, dict):
        for key in (attr_term, attr):
            if key in body:
                body = body[key]
                break
    if isinstance(body, list):
        if len(body) != 1:
            raise BadRequestData(f"{attr_term}: give exactly one attribute instance")
        body = body[0]
    if not isinstance(body, dict):
        raise BadRequestData(f"{attr_term}: the attribute instance must be a JSON object")
    return normalize_instance(attr, body, expand, now=now_text)


def _check_instance_id(instance_id: str) -> None:
    if not is_uri(instance_id):
        raise BadRequestData(f"instanceId: {instance_id!r} is not a URI")


def _attr_name(attr: str, expand: Expand) -> str:
    check_name(attr)
    return expand(attr)


class TemporalOperations(EntityOperations):
    """Temporal consumption and provision over ``self.store``."""

    async def _temporal_entity(self, tenant: str, entity_id: str) -> TemporalEntityRow:
        check_entity_id(entity_id)
        await self._require_tenant(tenant)
        entity = await self.store.get_temporal_entity(tenant, entity_id)
        if entity is None:
            raise ResourceNotFound(f"No temporal evolution of {entity_id}", instance=entity_id)
        return entity

    # -- consumption (clauses 5.7.3, 5.7.4) --------------------------------------------
    async def retrieve_temporal_entity(
        self,
        tenant: str,
        entity_id: str,
        spec: TemporalQuerySpec,
        *,
        attrs: list[str] | None = None,
        max_instances: int,
    ) -> TemporalResult:
        """Clause 5.7.3: the evolution of one entity, ``attrs`` (expanded) only if given."""
        entity = await self._temporal_entity(tenant, entity_id)
        query = spec.history_query([entity_id], attrs)
        if _store_can_aggregate(spec):
            aggregation = await self._store_aggregation(tenant, spec, query)
            if aggregation is not None:
                return TemporalResult([(entity, [])], aggregated={entity_id: aggregation})
        rows = await self.store.query_history(tenant, query)
        return _cut([(entity, rows)], spec, max_instances)

    async def _store_aggregation(
        self, tenant: str, spec: TemporalQuerySpec, query: HistoryQuery
    ) -> StoreAggregation | None:
        """The aggregated representation's sums computed by the store, when all values are
        numbers: the same periods and window as ``temporal_render`` (one query, no rows)."""
        start = spec.time_at if spec.timerel in ("after", "between") else None
        end = {"before": spec.time_at, "between": spec.end_time_at}.get(spec.timerel or "")
        period = spec.aggr_period
        found = await self.store.aggregate_history(
            tenant,
            query,
            dataset_ids=None if spec.dataset_ids is None else sorted(spec.dataset_ids),
            start=start,
            seconds=None if period is None or period.is_zero else period.seconds,
            distinct="distinctCount" in spec.aggr_methods,
        )
        if found is None:
            return None
        series, periods = found
        if start is None and series:
            start = min(s.first for s in series)
        return StoreAggregation(series, periods, start, end)

    async def temporal_ids(self, tenant: str, query: EntityQuery) -> list[str]:
        """The ids of the temporal entities the query's type, id and idPattern select."""
        await self._require_tenant(tenant)
        rows, _ = await self.store.temporal_entities(
            tenant, dataclasses.replace(query, limit=1 << 30, offset=0, count=False)
        )
        return [row.entity_id for row in rows]

    async def query_temporal_entities(
        self,
        tenant: str,
        query: EntityQuery,
        spec: TemporalQuerySpec,
        *,
        attrs: list[str] | None = None,
        max_instances: int,
    ) -> TemporalResult:
        """Clause 5.7.4: entities with some instance in the time range (and meeting q and
        geoQ there), paged by ``query.limit`` and ``query.offset`` after that match."""
        await self._require_tenant(tenant)
        limit, offset, count = query.limit, query.offset, query.count
        candidates, _ = await self.store.temporal_entities(
            tenant, dataclasses.replace(query, limit=1 << 30, offset=0, count=False)
        )
        if query.ordering is not None:  # by "id" only (clause 5.7.4.4, checked by the caller)
            by_id = {e.entity_id: e for e in candidates}
            ordered = sort_entities([{"id": i} for i in by_id], query.ordering)
            candidates = [by_id[e["id"]] for e in ordered]
        found: Found = []
        total = 0
        filtered = query.q is not None or query.geo is not None
        history_attrs = None if filtered else attrs
        for start in range(0, len(candidates), CHUNK):
            chunk = candidates[start : start + CHUNK]
            rows = await self.store.query_history(
                tenant, spec.history_query([e.entity_id for e in chunk], history_attrs)
            )
            by_entity: dict[str, list[HistoryRow]] = {}
            for row in rows:
                by_entity.setdefault(row.entity_id, []).append(row)
            for entity in chunk:
                entity_rows = by_entity.get(entity.entity_id)
                if not entity_rows:
                    continue
                if filtered:
                    pseudo = _pseudo_entity(entity, entity_rows)
                    if query.q is not None and not matches_q(pseudo, query.q):
                        continue
                    if query.geo is not None and not query.geo.matches(pseudo):
                        continue
                    if attrs:
                        # attrs: at least one of them has instances in the range (5.7.4.3).
                        entity_rows = [r for r in entity_rows if r.attr in attrs]
                        if not entity_rows:
                            continue
                total += 1
                if offset < total <= offset + limit:
                    found.append((entity, entity_rows))
            if total > offset + limit and not count:  # one past the page: a next page exists
                break
        result = _cut(found, spec, max_instances)
        result.more = total > offset + limit
        if count:
            result.total = total
        return result

    # -- provision (clauses 5.6.11 to 5.6.16) ------------------------------------------
    async def _watchers(
        self, tenant: str, entity: TemporalEntityRow, attrs: Collection[str] | None
    ) -> list[CompiledSubscription]:
        """Opted-in subscriptions a temporal write may concern (``SubscriptionFeed``)."""
        if self.feed is None:
            return []
        found: list[CompiledSubscription] = await self.feed.temporal_candidates(
            tenant, entity, attrs
        )
        return found

    async def _queue(self, tx: Tx, batch: NotificationBatch | None) -> None:
        """Queue notifications rendered before the transaction, first thing inside it: the
        write's failure (or finding nothing to delete) rolls them back with it."""
        if batch is not None:
            await self.feed.enqueue(tx, batch)

    async def _append_events(
        self,
        tenant: str,
        entity_id: str,
        names: Collection[str],
        existing: TemporalEntityRow | None,
        found: list[CompiledSubscription],
    ) -> dict[str, str]:
        """attributeCreated for attributes with no live instance before the write, else
        attributeUpdated. History is read only for a subscription that tells them apart."""
        if existing is None:
            return dict.fromkeys(names, "attributeCreated")
        if not any(
            ("attributeCreated" in c.triggers) != ("attributeUpdated" in c.triggers) for c in found
        ):
            return dict.fromkeys(names, "attributeUpdated")  # either would match the same
        had = await self.store.live_attributes(tenant, entity_id, list(names))
        return {n: "attributeUpdated" if n in had else "attributeCreated" for n in names}

    async def _add_history(
        self,
        tenant: str,
        entity_id: str,
        fragment: TemporalFragment,
        existing: TemporalEntityRow | None,
        now: float,
    ) -> None:
        rows = history_rows(entity_id, fragment.attrs, now)
        entity = merge_temporal_entity(existing, fragment, entity_id, now)
        found = await self._watchers(tenant, entity, fragment.attrs)
        batch: NotificationBatch | None = None
        if found:
            events = await self._append_events(tenant, entity_id, fragment.attrs, existing, found)
            change = TemporalChange(
                entity,
                now,
                written=rows,
                events=events,
                created=existing is None,
                scope_written=fragment.scopes is not None and SCOPE not in fragment.attrs,
            )
            batch = self.feed.temporal_batch(found, change)
        async with self.store.transaction(tenant) as tx:
            await tx.expect_temporal_entity(entity_id, existing)
            await self._queue(tx, batch)
            await tx.append_history(rows)
            await tx.upsert_temporal_entities([entity])

    async def upsert_temporal_entity(
        self, tenant: str, body: Any, expand: Expand
    ) -> tuple[str, bool]:
        """Clause 5.6.11: the entity id, and whether its temporal evolution is new."""
        now, now_text = _clock()
        fragment = parse_temporal_fragment(body, expand, now=now_text)
        entity_id = str(fragment.entity_id)
        existing = await self.store.get_temporal_entity(tenant, entity_id)
        await self._add_history(tenant, entity_id, fragment, existing, now)
        return entity_id, existing is None

    async def add_temporal_attrs(
        self, tenant: str, entity_id: str, body: Any, expand: Expand
    ) -> None:
        """Clause 5.6.12."""
        now, now_text = _clock()
        fragment = parse_temporal_fragment(body, expand, now=now_text, require_id=False)
        if fragment.entity_id not in (None, entity_id):
            raise BadRequestData(f"The body id {fragment.entity_id!r} differs from the URL id")
        existing = await self._temporal_entity(tenant, entity_id)
        await self._add_history(tenant, entity_id, fragment, existing, now)

    async def delete_temporal_entity(self, tenant: str, entity_id: str) -> None:
        """Clause 5.6.16."""
        now, _ = _clock()
        entity = await self._temporal_entity(tenant, entity_id)
        found = await self._watchers(tenant, entity, None)
        batch: NotificationBatch | None = None
        if found:
            rows: list[HistoryRow] = []
            if any(c.watched is not None or c.q is not None or c.geo is not None for c in found):
                rows = await self.store.query_history(tenant, HistoryQuery([entity.entity_id]))
            change = TemporalChange(entity, now, deleted=rows, entity_deleted=True)
            batch = self.feed.temporal_batch(found, change)
        async with self.store.transaction(tenant) as tx:
            await self._queue(tx, batch)
            await tx.delete_history(entity.entity_id)

    async def delete_temporal_attr(
        self,
        tenant: str,
        entity_id: str,
        attr: str,
        expand: Expand,
        *,
        dataset_id: str | None = None,
        delete_all: bool = False,
    ) -> None:
        """Clause 5.6.13: the instances of one datasetId (default: the default ones), or all."""
        now, _ = _clock()
        entity = await self._temporal_entity(tenant, entity_id)
        name = _attr_name(attr, expand)
        found = await self._watchers(tenant, entity, [name])
        batch: NotificationBatch | None = None
        if found:
            rows = await self.store.query_history(
                tenant, HistoryQuery([entity.entity_id], [name], include_deleted=True)
            )
            if not delete_all:
                rows = [row for row in rows if row.dataset_id == (dataset_id or "")]
            change = TemporalChange(
                entity,
                now,
                deleted=rows,
                events={name: "attributeDeleted"},
                whole_attribute=True,
            )
            batch = self.feed.temporal_batch(found, change) if rows else None
        async with self.store.transaction(tenant) as tx:
            await self._queue(tx, batch)
            deleted = await tx.delete_history(
                entity.entity_id, attr=name, dataset_id=dataset_id, all_datasets=delete_all
            )
            if not deleted:  # inside the transaction: its notifications roll back with it
                raise ResourceNotFound(
                    f"No instance of {attr} (datasetId {dataset_id}) "
                    f"in the temporal evolution of {entity.entity_id}",
                    instance=entity.entity_id,
                )

    async def modify_temporal_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str, body: Any, expand: Expand
    ) -> None:
        """Clause 5.6.14: replace one instance; it keeps its instanceId and datasetId."""
        now, now_text = _clock()
        _check_instance_id(instance_id)
        name = _attr_name(attr, expand)
        instance = _new_instance(attr, name, body, expand, now_text)
        entity = await self._temporal_entity(tenant, entity_id)
        old = await self.store.get_history_instance(tenant, entity.entity_id, name, instance_id)
        if old is None:
            raise ResourceNotFound(
                f"No instance {instance_id} in {name} of {entity.entity_id}", instance=instance_id
            )
        row = replace_history_instance(old, instance, now=now)
        touched = TemporalFragment(None, [], None, {})
        after = merge_temporal_entity(entity, touched, entity.entity_id, now)
        found = await self._watchers(tenant, after, [name])
        batch: NotificationBatch | None = None
        if found:
            change = TemporalChange(
                after,
                now,
                written=[row],
                events={name: "attributeUpdated"},
                previous={instance_id: old},
            )
            batch = self.feed.temporal_batch(found, change)
        async with self.store.transaction(tenant) as tx:
            await tx.expect_temporal_entity(entity.entity_id, entity)
            await self._queue(tx, batch)
            await tx.update_history_instance(entity.entity_id, name, instance_id, row)
            await tx.upsert_temporal_entities([after])

    async def delete_temporal_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str, expand: Expand
    ) -> None:
        """Clause 5.6.15."""
        now, _ = _clock()
        _check_instance_id(instance_id)
        name = _attr_name(attr, expand)
        entity = await self._temporal_entity(tenant, entity_id)
        found = await self._watchers(tenant, entity, [name])
        batch: NotificationBatch | None = None
        if found:
            old = await self.store.get_history_instance(tenant, entity.entity_id, name, instance_id)
            if old is not None:
                change = TemporalChange(
                    entity,
                    now,
                    deleted=[old],
                    events={name: "attributeDeleted"},
                    previous={instance_id: old},
                )
                batch = self.feed.temporal_batch(found, change)
        async with self.store.transaction(tenant) as tx:
            await self._queue(tx, batch)
            deleted = await tx.delete_history(entity.entity_id, attr=name, instance_id=instance_id)
            if not deleted:  # inside the transaction: its notifications roll back with it
                raise ResourceNotFound(
                    f"No instance {instance_id} of {attr} in {entity.entity_id}",
                    instance=instance_id,
                )
