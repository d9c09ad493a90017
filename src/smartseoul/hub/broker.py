"""The broker core: NGSI-LD provision operations on the store (clause 5.6), no web.

Each operation validates first, then reads, changes and writes inside one store
transaction, and records every written attribute instance in history (clause 4.5.6).
A failed request leaves nothing half-written.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from smartseoul.hub.entities import (
    NGSI_NULL,
    VALUE_KEY,
    check_entity_id,
    check_name,
    check_scopes,
    epoch,
    expand_types,
    is_uri,
    normalize_attribute,
    normalize_attrs,
    normalize_entity,
    now_iso,
)
from smartseoul.hub.errors import AlreadyExists, BadRequestData, NgsiError, ResourceNotFound
from smartseoul.hub.store.base import EntityQuery, HistoryRow, Store, TemporalEntityRow, Tx
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


def new_instance_id() -> str:
    return f"urn:ngsi-ld:attribute:instance:{uuid.uuid4()}"


def history_rows(entity_id: str, attrs: dict[str, Instances], now: float) -> list[HistoryRow]:
    rows = []
    for name, instances in attrs.items():
        for inst in instances:
            observed = inst.get("observedAt")
            num, _ = scalar_of(inst)
            rows.append(
                HistoryRow(
                    entity_id=entity_id,
                    attr=name,
                    instance_id=inst.get("instanceId") or new_instance_id(),
                    dataset_id=inst.get("datasetId", ""),
                    observed_at=epoch(observed) if observed else None,
                    modified_at=now,
                    data=inst,
                    num=num,
                )
            )
    return rows


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
    kind = patch.get("type", old.get("type"))
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
            and kind == "Property"
        ):
            merged[key] = _merge_json(merged[key], item)
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


def _merge_json(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(target)
    for k, v in patch.items():
        if v is None or v == NGSI_NULL:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge_json(out[k], v)
        else:
            out[k] = v
    return out


class Broker:
    """Provision and consumption operations over one Store (any backend)."""

    def __init__(
        self, store: Store, *, on_change: Callable[[str, list[dict[str, Any]]], Any] | None = None
    ):
        self.store = store
        self.on_change = on_change

    # -- helpers -----------------------------------------------------------------
    @staticmethod
    def _clock() -> tuple[str, float]:
        return now_iso(), time.time()

    async def _save(self, tx: Tx, changes: Sequence[Change], *, new: bool = False) -> None:
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
            if not await tx.delete_entities([entity_id]):
                raise ResourceNotFound(f"Entity {entity_id} was not found", instance=entity_id)
            await tx.mark_temporal_deleted([entity_id], now)

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
                    if _is_null(inst):
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
            if _is_null(inst):
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
            if "scope" in fresh:
                old["scope"] = fresh["scope"]
            else:
                old.pop("scope", None)
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
                if _is_null(inst):
                    change.remove(name, inst.get("datasetId"))
                    continue
                if old is not None:
                    inst = _adapt_patch(old, inst, simplified, lang, observed_at)
                if old is None:
                    change.put(name, _strip_nulls(inst))
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

    # -- batch operations (clauses 5.6.7 to 5.6.10, 5.6.20) ---------------------------
    async def batch_create(self, tenant: str, items: Sequence[tuple[Any, Expand]]) -> BatchResult:
        result = BatchResult()
        now_text, now = self._clock()
        fresh: dict[str, dict[str, Any]] = {}
        for body, expand in items:
            try:
                entity = normalize_entity(body, expand, now=now_text)
            except NgsiError as err:
                result.errors.append((_body_id(body), err))
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
                result.errors.append((_body_id(body), err))
                continue
            incoming.setdefault(entity["id"], []).append(entity)
        created: list[str] = []
        if not incoming:
            return result, created
        async with self.store.transaction(tenant) as tx:
            existing = await tx.get_entities(list(incoming))
            new_changes, old_changes = [], []
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
                        if "scope" in entity:
                            current["scope"] = entity["scope"]
                        else:
                            current.pop("scope", None)
                    else:  # the update attributes behaviour of clause 5.6.2
                        for t in entity["type"]:
                            if t not in current["type"]:
                                current["type"].append(t)
                        if "scope" in entity and "scope" in current:
                            current["scope"] = entity["scope"]
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
                result.errors.append((_body_id(body), err))
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
        return await self.store.query_entities(tenant, query)


def _is_null(inst: dict[str, Any]) -> bool:
    return inst.get(VALUE_KEY.get(inst.get("type", "Property"), "value")) == NGSI_NULL


def _adapt_patch(
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


def _strip_nulls(inst: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in inst.items() if not (isinstance(v, dict) and _is_null(v))}


def _body_id(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("id"), str):
        return body["id"]
    return ""
