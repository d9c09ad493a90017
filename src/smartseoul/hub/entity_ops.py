"""Single-entity NGSI-LD operations on the store (clauses 5.6, 5.7.1, 5.7.2), no web.

Each operation validates first, then reads, changes and writes inside one store
transaction, and records every written attribute instance in history (clause 4.5.6).
A failed request leaves nothing half-written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from smartseoul.hub.changes import (
    Change,
    Expand,
    Instances,
    UpdateResult,
    adapt_patch,
    is_null,
    merge_instance,
    strip_nulls,
)
from smartseoul.hub.entities import (
    NGSI_NULL,
    VALUE_KEY,
    check_entity_id,
    check_expiry,
    check_name,
    check_scopes,
    epoch,
    expand_types,
    normalize_attribute,
    normalize_attrs,
    normalize_entity,
    now_iso,
)
from smartseoul.hub.errors import AlreadyExists, BadRequestData, ResourceNotFound
from smartseoul.hub.ordering import sort_entities
from smartseoul.hub.store.base import EntityQuery, Store, TemporalEntityRow, Tx

log = logging.getLogger("smartseoul.hub")

class EntityOperations:
    """Single-entity provision and consumption over one Store (any backend)."""

    def __init__(self, store: Store):
        self.store = store
        # hub.subscription_feed.SubscriptionFeed, set by the app lifespan: queues the
        # notifications a write causes inside the write's own transaction.
        self.feed: Any = None

    # -- helpers -----------------------------------------------------------------
    @staticmethod
    def _clock() -> tuple[str, float]:
        return now_iso(), time.time()

    async def _save(self, tx: Tx, changes: Sequence[Change], *, new: bool = False) -> None:
        if self.feed is not None:  # before the write: the feed reads the old entities
            await self.feed.record(tx, changes, new=new)
        entities = [c.entity for c in changes]
        if new:
            await tx.insert_entities(entities)
        else:
            await tx.replace_entities(entities)
        rows = [row for c in changes for row in c.history()]
        await tx.append_history(rows)
        await tx.upsert_temporal_entities(
            [
                TemporalEntityRow(
                    entity_id=e["id"],
                    types=e["type"],
                    scopes=e.get("scope", []),
                    created_at=epoch(e["createdAt"]),
                    modified_at=epoch(e["modifiedAt"]),
                )
                for e in entities
            ]
        )

    async def _load(self, tx: Tx, entity_id: str) -> dict[str, Any]:
        check_entity_id(entity_id)
        entity = await tx.get_entity(entity_id)
        if entity is None:
            raise ResourceNotFound(f"Entity {entity_id} was not found", instance=entity_id)
        return entity

    # -- create / delete -----------------------------------------------------------
    async def create_entity(self, tenant: str, body: Any, expand: Expand) -> str:
        """Clause 5.6.1."""
        now_text, now = self._clock()
        entity = normalize_entity(body, expand, now=now_text)
        entity["createdAt"] = entity["modifiedAt"] = now_text
        async with self.store.transaction(tenant) as tx:
            if await tx.get_entity(entity["id"]) is not None:
                raise AlreadyExists(f"Entity {entity['id']} already exists", instance=entity["id"])
            change = Change(entity, now_text, now)
            change.written = entity["attrs"]
            await self._save(tx, [change], new=True)
        return entity["id"]

    async def delete_entity(self, tenant: str, entity_id: str) -> None:
        """Clause 5.6.6."""
        check_entity_id(entity_id)
        await self._require_tenant(tenant)
        _, now = self._clock()
        async with self.store.transaction(tenant) as tx:
            if not await self._delete_in(tx, entity_id, now):
                raise ResourceNotFound(f"Entity {entity_id} was not found", instance=entity_id)

    async def _delete_in(self, tx: Tx, entity_id: str, now: float) -> bool:
        """Delete the entity inside ``tx``: notifications, the row, and its temporal
        entity marked deleted. False if there was no such entity."""
        if self.feed is not None:
            await self.feed.record_deleted(tx, [entity_id])
        if not await tx.delete_entities([entity_id]):
            return False
        await tx.mark_temporal_deleted([entity_id], now)
        return True

    async def expire(self, now: float | None = None, *, limit: int = 500) -> int:
        """Remove what has expired (clause 4.22): entities whose ``expiresAt`` has passed, and
        attribute instances whose own has, as deletions (history rows, notifications).

        Looks at ``limit`` entities at most and returns how many it looked at (a full page
        means there may be more); called by the app's sweeper.
        """
        now = time.time() if now is None else now
        due = await self.store.expiring(now, limit)
        for tenant, entity_id in due:
            try:
                await self._expire_one(tenant, entity_id, now)
            except Exception:  # one entity that fails must not hold the others back
                log.exception("expiring %s (tenant %r) failed", entity_id, tenant)
        return len(due)

    async def _expire_one(self, tenant: str, entity_id: str, now: float) -> None:
        now_text = now_iso()
        async with self.store.transaction(tenant) as tx:
            entity = await tx.get_entity(entity_id)
            if entity is None:  # gone meanwhile (another worker's sweep, a delete)
                return
            if "expiresAt" in entity and epoch(entity["expiresAt"]) <= now:
                await self._delete_in(tx, entity_id, now)
                return
            change = Change(entity, now_text, now)
            expired = [
                (name, inst.get("datasetId"))
                for name, instances in entity["attrs"].items()
                for inst in instances
                if "expiresAt" in inst and epoch(inst["expiresAt"]) <= now
            ]
            if not expired:  # moved later meanwhile: the row's expires_at is stale
                await tx.replace_entities([entity])
                return
            for name, dataset_id in expired:
                change.remove(name, dataset_id)
            entity["modifiedAt"] = now_text
            await self._save(tx, [change])

    async def _require_tenant(self, tenant: str) -> None:
        from smartseoul.hub.errors import NonexistentTenant

        if not await self.store.tenant_exists(tenant):
            raise NonexistentTenant(f"Tenant {tenant!r} does not exist", instance=tenant)

    # -- attribute operations --------------------------------------------------------
    async def append_attrs(
        self, tenant: str, entity_id: str, body: Any, expand: Expand, *, overwrite: bool = True
    ) -> UpdateResult:
        """Clause 5.6.3: add attributes, replacing same-datasetId instances unless noOverwrite."""
        fragment = self._fragment(body)
        now_text, now = self._clock()
        attrs = normalize_attrs(fragment, expand, now=now_text)
        await self._require_tenant(tenant)
        result = UpdateResult()
        async with self.store.transaction(tenant) as tx:
            change = Change(await self._load(tx, entity_id), now_text, now)
            self._apply_types_scope(
                change.entity, fragment, expand, scope="replace" if overwrite else "add"
            )
            for name, instances in attrs.items():
                done = False
                for inst in instances:
                    if not overwrite and change.find(name, inst.get("datasetId")) is not None:
                        continue
                    change.put(name, inst)
                    done = True
                if done:
                    result.updated.append(name)
                else:
                    result.not_updated.append((name, "Attribute exists and noOverwrite was given"))
            change.entity["modifiedAt"] = now_text
            await self._save(tx, [change])
        return result

    async def update_attrs(
        self, tenant: str, entity_id: str, body: Any, expand: Expand
    ) -> UpdateResult:
        """Clause 5.6.2 (V1.9.1): partial update patch; NGSI-LD Null deletes an instance."""
        fragment = self._fragment(body)
        now_text, now = self._clock()
        attrs = normalize_attrs(fragment, expand, now=now_text, allow_null=True)
        await self._require_tenant(tenant)
        result = UpdateResult()
        async with self.store.transaction(tenant) as tx:
            change = Change(await self._load(tx, entity_id), now_text, now)
            self._apply_types_scope(change.entity, fragment, expand, scope="existing")
            for name, instances in attrs.items():
                for inst in instances:
                    if is_null(inst):
                        if not change.remove(name, inst.get("datasetId")):
                            result.not_updated.append(
                                (name, "No such attribute instance to delete")
                            )
                            continue
                    else:
                        change.put(name, inst)
                if name not in dict(result.not_updated):
                    result.updated.append(name)
            change.entity["modifiedAt"] = now_text
            await self._save(tx, [change])
        return result

    async def partial_update_attr(
        self, tenant: str, entity_id: str, attr: str, body: Any, expand: Expand
    ) -> None:
        """Clause 5.6.4: partial update patch (5.5.8) of one existing attribute instance.

        Members of the fragment replace those of the instance, others stay; the attribute
        type cannot change; an NGSI-LD Null value deletes the instance.
        """
        if not isinstance(body, dict):
            raise BadRequestData("The attribute fragment must be a JSON object")
        check_name(attr)
        if attr == "scope":
            raise BadRequestData("scope cannot be the target of a partial attribute update")
        name = expand(attr)
        dataset_id = body.get("datasetId")
        if dataset_id == "@none":
            dataset_id = None
        now_text, now = self._clock()
        await self._require_tenant(tenant)
        async with self.store.transaction(tenant) as tx:
            change = Change(await self._load(tx, entity_id), now_text, now)
            old = change.find(name, dataset_id)
            if old is None:
                raise ResourceNotFound(
                    f"Attribute {attr} (datasetId {dataset_id}) not found in {entity_id}",
                    instance=entity_id,
                )
            kind = old["type"]
            key = VALUE_KEY[kind]
            if "type" in body and body["type"] != kind:
                raise BadRequestData(
                    f"The type of attribute {attr} cannot change from {kind} to {body['type']}"
                )
            raw = {"type": kind, key: old[key], **body}
            if key not in body and "value" in body and kind != "Property":
                raw[key] = body["value"]  # a value given under the generic member name
                del raw["value"]
            (inst,) = normalize_attribute(name, raw, expand, now=now_text, allow_null=True)
            if is_null(inst):
                change.remove(name, dataset_id)
            else:
                merged = {k: v for k, v in old.items() if k != "modifiedAt"}
                merged.update((k, v) for k, v in inst.items() if k != "createdAt")
                merged.setdefault("createdAt", now_text)
                change.put(name, merged)
            change.entity["modifiedAt"] = now_text
            await self._save(tx, [change])

    async def replace_attr(
        self, tenant: str, entity_id: str, attr: str, body: Any, expand: Expand
    ) -> None:
        """Clause 5.6.19: replace an existing attribute instance as a whole."""
        check_name(attr)
        if attr == "scope":
            raise BadRequestData("scope cannot be the target of a replace attribute")
        name = expand(attr)
        if isinstance(body, dict) and len(body) == 1 and attr in body:
            body = body[attr]
        now_text, now = self._clock()
        instances = normalize_attribute(name, body, expand, now=now_text)
        await self._require_tenant(tenant)
        async with self.store.transaction(tenant) as tx:
            change = Change(await self._load(tx, entity_id), now_text, now)
            for inst in instances:
                if change.find(name, inst.get("datasetId")) is None:
                    raise ResourceNotFound(
                        f"Attribute {attr} (datasetId {inst.get('datasetId')}) not found in "
                        f"{entity_id}",
                        instance=entity_id,
                    )
                change.put(name, inst)
            change.entity["modifiedAt"] = now_text
            await self._save(tx, [change])

    async def delete_attr(
        self,
        tenant: str,
        entity_id: str,
        attr: str,
        expand: Expand,
        *,
        dataset_id: str | None = None,
        delete_all: bool = False,
    ) -> None:
        """Clause 5.6.5; deleting ``scope`` removes the entity's scopes."""
        check_name(attr)
        name = expand(attr)
        now_text, now = self._clock()
        await self._require_tenant(tenant)
        async with self.store.transaction(tenant) as tx:
            change = Change(await self._load(tx, entity_id), now_text, now)
            if attr == "scope" and name not in change.entity["attrs"]:
                if change.entity.pop("scope", None) is None:
                    raise ResourceNotFound(f"Entity {entity_id} has no scope", instance=entity_id)
            elif not change.remove(name, dataset_id, all_instances=delete_all):
                raise ResourceNotFound(
                    f"Attribute {attr} not found in {entity_id}", instance=entity_id
                )
            change.entity["modifiedAt"] = now_text
            await self._save(tx, [change])

    # -- whole-entity operations -------------------------------------------------------
    async def replace_entity(self, tenant: str, entity_id: str, body: Any, expand: Expand) -> None:
        """Clause 5.6.18: replace all attributes (and types); createdAt stays."""
        if isinstance(body, dict) and "id" in body and body["id"] != entity_id:
            raise BadRequestData(
                f"The body id {body['id']!r} differs from the URL id {entity_id!r}"
            )
        now_text, now = self._clock()
        fresh = normalize_entity(
            {**body, "id": entity_id} if isinstance(body, dict) else body, expand, now=now_text
        )
        await self._require_tenant(tenant)
        async with self.store.transaction(tenant) as tx:
            old = await self._load(tx, entity_id)
            change = Change(old, now_text, now)
            for name in list(old["attrs"]):
                if name not in fresh["attrs"]:
                    change.remove(name, None, all_instances=True)
            old["attrs"] = {}
            for name, instances in fresh["attrs"].items():
                for inst in instances:
                    change.put(name, inst, keep_created=False)
            old["type"] = fresh["type"]
            for member in ("scope", "expiresAt"):
                if member in fresh:
                    old[member] = fresh[member]
                else:
                    old.pop(member, None)
            old["modifiedAt"] = now_text
            await self._save(tx, [change])

    async def merge_entity(
        self,
        tenant: str,
        entity_id: str,
        body: Any,
        expand: Expand,
        *,
        simplified: bool = False,
        observed_at: str | None = None,
        lang: str | None = None,
    ) -> None:
        """Clause 5.6.17 with the merge patch behaviour of clause 5.5.12.

        ``simplified`` keeps the type of existing attributes given as bare values,
        ``observed_at`` updates observedAt where the attribute had one, ``lang`` merges a
        bare string into an existing LanguageProperty's languageMap (table 6.5.3.4-1).
        """
        fragment = self._fragment(body)
        if "id" in fragment and fragment["id"] != entity_id:
            raise BadRequestData(
                f"The body id {fragment['id']!r} differs from the URL id {entity_id!r}"
            )
        now_text, now = self._clock()
        attrs = normalize_attrs(fragment, expand, now=now_text, allow_null=True)
        await self._require_tenant(tenant)
        async with self.store.transaction(tenant) as tx:
            change = Change(await self._load(tx, entity_id), now_text, now)
            self._merge_into(
                change, fragment, attrs, expand,
                simplified=simplified, observed_at=observed_at, lang=lang,
            )  # fmt: skip
            await self._save(tx, [change])

    def _merge_into(
        self,
        change: Change,
        fragment: dict[str, Any],
        attrs: dict[str, Instances],
        expand: Expand,
        *,
        simplified: bool = False,
        observed_at: str | None = None,
        lang: str | None = None,
    ) -> None:
        self._apply_types_scope(change.entity, fragment, expand)
        for name, instances in attrs.items():
            for inst in instances:
                old = change.find(name, inst.get("datasetId"))
                if is_null(inst):
                    change.remove(name, inst.get("datasetId"))
                    continue
                if old is not None:
                    inst = adapt_patch(old, inst, simplified, lang, observed_at)
                if old is None:
                    change.put(name, strip_nulls(inst))
                else:
                    merged = merge_instance(old, inst, change.now_text)
                    if merged is None:
                        change.remove(name, inst.get("datasetId"))
                    else:
                        change.put(name, merged)
        change.entity["modifiedAt"] = change.now_text

    @staticmethod
    def _apply_types_scope(
        entity: dict[str, Any], fragment: dict[str, Any], expand: Expand, *, scope: str = "replace"
    ) -> None:
        """Add the fragment's types; apply its scope.

        ``scope`` is "replace" (append with overwrite, merge: 5.6.3.4, 5.6.17.4), "add"
        (append with noOverwrite: union) or "existing" (update: replace only when the
        entity has a scope, 5.6.2.4).
        """
        if "type" in fragment:
            for t in expand_types(fragment["type"], expand):
                if t not in entity["type"]:
                    entity["type"].append(t)
        if "expiresAt" in fragment:  # clause 4.22; a Null removes it (5.5.12)
            if fragment["expiresAt"] in (None, NGSI_NULL):
                entity.pop("expiresAt", None)
            else:
                entity["expiresAt"] = check_expiry(fragment["expiresAt"])
        if "scope" in fragment:
            if fragment["scope"] in (None, NGSI_NULL):
                if scope == "replace":
                    entity.pop("scope", None)
                return
            scopes = check_scopes(fragment["scope"])
            if scope == "replace" or (scope == "existing" and "scope" in entity):
                entity["scope"] = scopes
            elif scope == "add":
                entity["scope"] = list(dict.fromkeys([*entity.get("scope", []), *scopes]))

    @staticmethod
    def _fragment(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequestData("The fragment must be a JSON object")
        if "id" in body:
            check_entity_id(body["id"])
        return body

    # -- consumption ------------------------------------------------------------------
    async def retrieve_entity(self, tenant: str, entity_id: str) -> dict[str, Any]:
        check_entity_id(entity_id)
        await self._require_tenant(tenant)
        entity = await self.store.get_entity(tenant, entity_id)
        if entity is None:
            raise ResourceNotFound(f"Entity {entity_id} was not found", instance=entity_id)
        return entity

    async def query_entities(
        self, tenant: str, query: EntityQuery
    ) -> tuple[list[dict[str, Any]], int | None]:
        await self._require_tenant(tenant)
        if query.ordering is None:
            return await self.store.query_entities(tenant, query)
        # Clause 4.23.3: every match is read and sorted, then paged.
        matched = [entity async for entity in self.store.iter_entities(tenant, query)]
        ordered = sort_entities(matched, query.ordering)
        count = len(ordered) if query.count else None
        return ordered[query.offset : query.offset + query.limit], count
