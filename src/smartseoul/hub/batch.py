"""Batch entity operations (clauses 5.6.7 to 5.6.10, 5.6.20, 5.5.11) and purge (5.6.21).

A mixin of ``hub.broker.Broker``: each batch validates every entity first, then runs one
store transaction, and reports per-entity results (clause 5.2.16).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from smartseoul.hub.changes import (
    BatchResult,
    Change,
    Expand,
    Instances,
    body_id,
)
from smartseoul.hub.entities import (
    check_entity_id,
    expand_types,
    normalize_attrs,
    normalize_entity,
)
from smartseoul.hub.entity_ops import EntityOperations
from smartseoul.hub.errors import AlreadyExists, BadRequestData, NgsiError, ResourceNotFound
from smartseoul.hub.store.base import EntityQuery


class BatchOperations(EntityOperations):
    """Batch create, upsert, update, merge, delete and purge over ``self.store``."""

    # -- batch operations (clauses 5.6.7 to 5.6.10, 5.6.20) ---------------------------
    async def batch_create(self, tenant: str, items: Sequence[tuple[Any, Expand]]) -> BatchResult:
        result = BatchResult()
        now_text, now = self._clock()
        fresh: dict[str, dict[str, Any]] = {}
        for body, expand in items:
            try:
                entity = normalize_entity(body, expand, now=now_text)
            except NgsiError as err:
                result.errors.append((body_id(body), err))
                continue
            if entity["id"] in fresh:
                # Clause 5.5.11.1: a repeated id in a batch create is an error for the repeats.
                result.errors.append(
                    (entity["id"], AlreadyExists(f"Entity {entity['id']} is repeated in the batch"))
                )
                continue
            entity["createdAt"] = entity["modifiedAt"] = now_text
            fresh[entity["id"]] = entity
        if fresh:
            async with self.store.transaction(tenant) as tx:
                existing = await tx.get_entities(list(fresh))
                changes = []
                for entity_id, entity in fresh.items():
                    if entity_id in existing:
                        result.errors.append(
                            (
                                entity_id,
                                AlreadyExists(
                                    f"Entity {entity_id} already exists", instance=entity_id
                                ),
                            )
                        )
                        continue
                    change = Change(entity, now_text, now)
                    change.written = entity["attrs"]
                    changes.append(change)
                    result.success.append(entity_id)
                await self._save(tx, changes, new=True)
        return result

    async def batch_upsert(
        self, tenant: str, items: Sequence[tuple[Any, Expand]], *, mode: str = "replace"
    ) -> tuple[BatchResult, list[str]]:
        """Clause 5.6.8; returns the result and the ids that were newly created."""
        result = BatchResult()
        now_text, now = self._clock()
        incoming: dict[str, list[dict[str, Any]]] = {}
        for body, expand in items:
            try:
                entity = normalize_entity(body, expand, now=now_text)
            except NgsiError as err:
                result.errors.append((body_id(body), err))
                continue
            incoming.setdefault(entity["id"], []).append(entity)
        created: list[str] = []
        if not incoming:
            return result, created
        async with self.store.transaction(tenant) as tx:
            existing = await tx.get_entities(list(incoming))
            new_changes: list[Change] = []
            old_changes: list[Change] = []
            for entity_id, versions in incoming.items():
                current = existing.get(entity_id)
                change: Change | None = None
                for entity in versions:  # clause 5.5.11.2: later versions apply in order
                    if current is None:
                        entity["createdAt"] = entity["modifiedAt"] = now_text
                        current = entity
                        change = Change(current, now_text, now)
                        change.written = {k: list(v) for k, v in entity["attrs"].items()}
                        created.append(entity_id)
                        continue
                    if change is None:
                        change = Change(current, now_text, now)
                    if mode == "replace":  # also a later version of one created here
                        for name in list(current["attrs"]):
                            if name not in entity["attrs"]:
                                change.remove(name, None, all_instances=True)
                        current["attrs"] = {}
                        current["type"] = entity["type"]
                        for member in ("scope", "expiresAt"):
                            if member in entity:
                                current[member] = entity[member]
                            else:
                                current.pop(member, None)
                    else:  # the update attributes behaviour of clause 5.6.2
                        for t in entity["type"]:
                            if t not in current["type"]:
                                current["type"].append(t)
                        if "scope" in entity and "scope" in current:
                            current["scope"] = entity["scope"]
                        if "expiresAt" in entity:
                            current["expiresAt"] = entity["expiresAt"]
                    for name, instances in entity["attrs"].items():
                        for inst in instances:
                            change.put(name, inst, keep_created=mode != "replace")
                    current["modifiedAt"] = now_text
                assert change is not None
                (new_changes if entity_id in created else old_changes).append(change)
                result.success.append(entity_id)
            await self._save(tx, new_changes, new=True)
            await self._save(tx, old_changes)
        return result, created

    async def batch_update(
        self, tenant: str, items: Sequence[tuple[Any, Expand]], *, overwrite: bool = True
    ) -> BatchResult:
        """Clause 5.6.9: append-attributes semantics per entity (noOverwrite honoured)."""
        return await self._batch_modify(tenant, items, merge=False, overwrite=overwrite)

    async def batch_merge(self, tenant: str, items: Sequence[tuple[Any, Expand]]) -> BatchResult:
        """Clause 5.6.20."""
        return await self._batch_modify(tenant, items, merge=True, overwrite=True)

    async def _batch_modify(
        self, tenant: str, items: Sequence[tuple[Any, Expand]], *, merge: bool, overwrite: bool
    ) -> BatchResult:
        result = BatchResult()
        now_text, now = self._clock()
        parsed: list[tuple[str, dict[str, Any], dict[str, Instances], Expand]] = []
        for body, expand in items:
            try:
                if not isinstance(body, dict) or "id" not in body:
                    raise BadRequestData("Each entity in the batch needs an id")
                check_entity_id(body["id"])
                if "type" in body:
                    expand_types(body["type"], expand)
                attrs = normalize_attrs(body, expand, now=now_text, allow_null=merge)
            except NgsiError as err:
                result.errors.append((body_id(body), err))
                continue
            parsed.append((body["id"], body, attrs, expand))
        if not parsed:
            return result
        await self._require_tenant(tenant)
        async with self.store.transaction(tenant) as tx:
            existing = await tx.get_entities([p[0] for p in parsed])
            changes: dict[str, Change] = {}
            for entity_id, body, attrs, expand in parsed:
                entity = existing.get(entity_id)
                if entity is None:
                    result.errors.append(
                        (
                            entity_id,
                            ResourceNotFound(
                                f"Entity {entity_id} was not found", instance=entity_id
                            ),
                        )
                    )
                    continue
                change = changes.get(entity_id) or Change(entity, now_text, now)
                changes[entity_id] = change
                if merge:
                    self._merge_into(change, body, attrs, expand)
                else:  # clause 5.6.9.4: the append attributes behaviour of 5.6.3
                    self._apply_types_scope(
                        entity, body, expand, scope="replace" if overwrite else "add"
                    )
                    for name, instances in attrs.items():
                        for inst in instances:
                            if overwrite or change.find(name, inst.get("datasetId")) is None:
                                change.put(name, inst)
                    entity["modifiedAt"] = now_text
                if entity_id not in result.success:
                    result.success.append(entity_id)
            await self._save(tx, list(changes.values()))
        return result

    async def batch_delete(self, tenant: str, ids: Sequence[Any]) -> BatchResult:
        """Clause 5.6.10."""
        result = BatchResult()
        valid = []
        for entity_id in ids:
            try:
                valid.append(check_entity_id(entity_id))
            except NgsiError as err:
                result.errors.append((str(entity_id), err))
        if not valid:
            return result
        await self._require_tenant(tenant)
        _, now = self._clock()
        async with self.store.transaction(tenant) as tx:
            existing = await tx.get_entities(valid)
            seen: set[str] = set()
            for entity_id in valid:
                if entity_id in existing and entity_id not in seen:
                    result.success.append(entity_id)
                    seen.add(entity_id)
                else:
                    result.errors.append(
                        (
                            entity_id,
                            ResourceNotFound(
                                f"Entity {entity_id} was not found", instance=entity_id
                            ),
                        )
                    )
            if self.feed is not None:
                await self.feed.record_deleted(tx, list(seen))
            await tx.delete_entities(list(seen))
            await tx.mark_temporal_deleted(list(seen), now)
        return result

    async def matching_ids(self, tenant: str, query: EntityQuery) -> list[str]:
        """The ids of every entity the query selects, in query order (no paging)."""
        await self._require_tenant(tenant)
        query.limit, query.offset, query.count = 1 << 30, 0, False
        return [e["id"] async for e in self.store.iter_entities(tenant, query)]

    async def purge(
        self,
        tenant: str,
        query: EntityQuery,
        *,
        drop: set[str] | None = None,
        keep: set[str] | None = None,
    ) -> int:
        """Clause 5.6.21: delete the entities the query selects, or with ``drop`` only those
        attributes, with ``keep`` all but those attributes (expanded names)."""
        await self._require_tenant(tenant)
        query.limit = 1 << 30
        ids = [e["id"] async for e in self.store.iter_entities(tenant, query)]
        if not ids:
            return 0
        now_text, now = self._clock()
        async with self.store.transaction(tenant) as tx:
            if drop is None and keep is None:
                if self.feed is not None:
                    await self.feed.record_deleted(tx, ids)
                await tx.delete_entities(ids)
                await tx.mark_temporal_deleted(ids, now)
                return len(ids)
            changes = []
            for entity in (await tx.get_entities(ids)).values():
                change = Change(entity, now_text, now)
                for name in list(entity["attrs"]):
                    if (drop is not None and name in drop) or (
                        keep is not None and name not in keep
                    ):
                        change.remove(name, None, all_instances=True)
                if change.touched():
                    entity["modifiedAt"] = now_text
                    changes.append(change)
            await self._save(tx, changes)
        return len(ids)
