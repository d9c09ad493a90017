"""The Store contract: one interface, two backends (SQLite, PostgreSQL).

Stored entity form
------------------
The hub keeps every entity in one *stored form*: attribute and type names are
already expanded to IRIs (clause 5.5.7), every attribute is a list of its
instances (multi-attributes, clause 4.5.5), and every instance is the
normalized representation (clause 4.5.2.2) with expanded sub-attribute names::

    {
      "id": "urn:ngsi-ld:AirQualityObserved:111121",
      "type": ["https://smartdatamodels.org/dataModel.Environment/AirQualityObserved"],
      "scope": ["/Seoul/Jongno"],                      # optional
      "createdAt": "2026-11-28T06:00:00.000000Z",
      "modifiedAt": "2026-11-28T06:00:00.000000Z",
      "attrs": {
        "https://.../pm10": [
          {"type": "Property", "value": 41, "observedAt": "...", "unitCode": "GQ",
           "createdAt": "...", "modifiedAt": "..."}
        ],
        "https://uri.etsi.org/ngsi-ld/location": [
          {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [126.97, 37.57]}}
        ]
      }
    }

Instances keep their kind-specific member (``value``, ``object``, ``languageMap``,
``vocab``, ``json``, ``valueList``, ``objectList``), optional ``datasetId``,
``observedAt``, ``unitCode``, and sub-attributes keyed by expanded IRI whose
values are single instance dicts.

Tables (the same names in both backends)
----------------------------------------
``tenants(name, created_at)``
    Tenants that exist (clause 4.14); the default tenant is ``""``.
``entities(pk, tenant, id, data, created_at, modified_at, expires_at)``
    One row per entity; ``data`` is the stored form as JSON; ``pk`` gives the
    stable query order. Unique on ``(tenant, id)``. ``expires_at`` is the first moment
    the entity or one of its attribute instances expires (``expiresAt``, clause 4.22),
    indexed for the sweeper.
``attr_names(id, iri)``
    A small id per attribute IRI (``1`` is ``'@type'``, ``2`` is ``'@scope'``), given on
    first use inside the writing transaction; ids never change, so each process caches
    the committed ones. Index entries carry the id instead of the whole IRI, which
    halves the cost of writing them (docs/performance.md).
``attr_index(tenant, pk, name, num, str)``
    One row per entity type (``name`` = the id of ``'@type'``, ``str`` = type IRI), per
    scope (``'@scope'``) and per attribute instance (``name`` = the attribute's id).
    ``num`` holds a number value, ``str`` a string value, a boolean as
    ``'true'``/``'false'``, a Relationship's object or a VocabProperty's vocab;
    both are NULL for other values. Indexed on ``(tenant, name, num)``,
    ``(tenant, name, str)`` and ``(pk, name)``: it serves type filters, attribute
    existence, simple ``q`` comparisons and the discovery endpoints. An update
    rewrites only the rows of attributes whose values changed, in place where an
    attribute keeps one row (found by ``(pk, name)``).
geometry index
    Bounding boxes of every GeoProperty instance: an R*Tree ``geo_rtree(id, minx,
    maxx, miny, maxy, +pk, +name)`` on SQLite, ``geo_index(pk, tenant, name, bbox
    box)`` with a GiST index on PostgreSQL (``name``: the attr_names id). Exact
    predicates run on candidates.
``history(tenant, entity_id, attr, instance_id, dataset_id, observed_at, modified_at,
deleted, num, data)``
    Every attribute instance ever written (clause 4.5.6). Times are epoch seconds
    (float). ``data`` is the instance in stored form. Indexed on ``(tenant,
    entity_id, attr, observed_at)`` and ``(tenant, entity_id, attr, modified_at)``.
``temporal_entities(tenant, entity_id, types, scopes, created_at, modified_at, deleted_at)``
    Entities that have history, kept after the entity itself is deleted.
``contexts(id, url, kind, data, created_at, last_usage, hits)``
    Hosted and cached @context documents (clause 5.13).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

Entity = dict[str, Any]
T = TypeVar("T")
WRITE_ATTEMPTS = 4  # a write that loses to concurrent ones runs at most this often


class WriteConflict(Exception):
    """A write transaction lost to concurrent ones and was rolled back whole, so running it
    again is safe: on PostgreSQL a deadlock, a serialization failure or a row another
    transaction inserted first; on both stores a temporal entity changed since it was read
    (``Tx.expect_temporal_entity``)."""


async def retry_conflicts(run: Callable[[], Awaitable[T]]) -> T:
    """``run()``, again after a short random pause while it ends in WriteConflict: two
    batches locking the same entities in another order deadlock, and PostgreSQL aborts one."""
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            return await run()
        except WriteConflict:
            if attempt == WRITE_ATTEMPTS:
                raise
            await asyncio.sleep(random.uniform(0.005, 0.02) * 2**attempt)
    raise AssertionError("unreachable")


@dataclass(slots=True)
class HistoryRow:
    """One attribute instance in the temporal store (clause 4.5.6)."""

    entity_id: str
    attr: str
    instance_id: str
    dataset_id: str  # "" for the default instance
    observed_at: float | None
    modified_at: float
    data: dict[str, Any]
    deleted: bool = False
    num: float | None = None


@dataclass(slots=True)
class EntityQuery:
    """What the store filters on. Names are expanded IRIs; trees come from ``hub.query``."""

    ids: Sequence[str] | None = None
    id_pattern: str | None = None
    types: Any = None  # hub.query type expression tree, or None
    attrs: Sequence[str] | None = None  # entities having at least one of these attributes
    q: Any = None  # hub.query q tree, or None
    geo: Any = None  # hub.geo.GeoQuery, or None
    scope_q: Any = None  # hub.query scopeQ tree, or None
    limit: int = 20
    offset: int = 0
    count: bool = False
    ordering: Any = None  # hub.ordering.Ordering: the broker sorts, stores ignore it


@dataclass(slots=True)
class HistoryQuery:
    """A temporal query over the ``history`` table (clause 4.11)."""

    entity_ids: Sequence[str]
    attrs: Sequence[str] | None = None
    timerel: str | None = None  # "before" | "after" | "between"
    time_at: float | None = None
    end_time_at: float | None = None
    timeproperty: str = "observedAt"  # observedAt | modifiedAt | createdAt
    last_n: int | None = None
    include_deleted: bool = False


@dataclass(slots=True)
class SeriesStats:
    """Live numeric instances of one attribute and datasetId in a history query."""

    attr: str
    dataset_id: str
    count: int
    first: float  # earliest and latest instance time (the query's timeproperty)
    last: float
    kind: str  # the attribute type of the latest instance


@dataclass(slots=True)
class PeriodStats:
    """Sums over the live numeric instances of one series in one aggregation period."""

    attr: str
    dataset_id: str
    period: int  # k: the period [start + k * seconds, start + (k + 1) * seconds)
    count: int
    sum: float
    min: float
    max: float
    sumsq: float
    distinct: int


@dataclass(slots=True)
class TemporalEntityRow:
    entity_id: str
    types: list[str]
    scopes: list[str] = field(default_factory=list)
    created_at: float | None = None
    modified_at: float | None = None
    deleted_at: float | None = None


class Tx(Protocol):
    """A write transaction on one tenant. Everything commits together or not at all."""

    async def get_entity(self, entity_id: str) -> Entity | None: ...

    async def get_entities(self, entity_ids: Sequence[str]) -> dict[str, Entity]: ...

    async def insert_entities(self, entities: Sequence[Entity]) -> None:
        """Insert new entities; the caller has checked they do not exist."""

    async def replace_entities(self, entities: Sequence[Entity]) -> None:
        """Overwrite existing entities (data and all index rows)."""

    async def delete_entities(self, entity_ids: Sequence[str]) -> int: ...

    async def append_history(self, rows: Sequence[HistoryRow]) -> None: ...

    async def upsert_temporal_entities(self, rows: Sequence[TemporalEntityRow]) -> None: ...

    async def expect_temporal_entity(self, entity_id: str, seen: TemporalEntityRow | None) -> None:
        """WriteConflict unless the temporal entity is still as ``seen`` (read before the
        transaction, None: absent); holds it until the commit."""

    async def mark_temporal_deleted(self, entity_ids: Sequence[str], deleted_at: float) -> None: ...

    async def delete_history(
        self,
        entity_id: str,
        *,
        attr: str | None = None,
        dataset_id: str | None = None,
        instance_id: str | None = None,
        all_datasets: bool = False,
    ) -> int:
        """Delete history rows; with no attr, the whole temporal entity."""

    async def update_history_instance(
        self, entity_id: str, attr: str, instance_id: str, row: HistoryRow
    ) -> bool: ...


class Store(Protocol):
    dialect: str  # "sqlite" | "postgres"

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def tenant_exists(self, tenant: str) -> bool: ...

    def transaction(self, tenant: str) -> AbstractAsyncContextManager[Tx]:
        """A write transaction; creates the tenant on first write."""

    async def get_entity(self, tenant: str, entity_id: str) -> Entity | None: ...

    async def get_entities(self, tenant: str, entity_ids: Sequence[str]) -> dict[str, Entity]: ...

    async def query_entities(
        self, tenant: str, query: EntityQuery
    ) -> tuple[list[Entity], int | None]:
        """Entities matching ``query`` in pk order, and the total count when asked."""

    def iter_entities(self, tenant: str, query: EntityQuery) -> AsyncIterator[Entity]:
        """All matching entities (no limit), streamed: purge, discovery, exports."""

    async def type_summary(self, tenant: str) -> dict[str, dict[str, int]]:
        """{type IRI: {attribute IRI: number of entities having it}} plus '@count'."""

    async def attribute_summary(self, tenant: str) -> dict[str, dict[str, Any]]:
        """{attribute IRI: {"count": n, "types": set of type IRIs, "kinds": set of attr types}}."""

    async def query_history(self, tenant: str, query: HistoryQuery) -> list[HistoryRow]: ...

    async def live_attributes(
        self, tenant: str, entity_id: str, attrs: Sequence[str]
    ) -> set[str]:
        """Those of ``attrs`` with at least one instance in the entity's history that is not
        a deletion (one index probe each, however long the history)."""
        ...

    async def get_history_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str
    ) -> HistoryRow | None:
        """One attribute instance (deleted ones too), without reading the rest of its history."""

    async def expiring(self, now: float, limit: int = 500) -> list[tuple[str, str]]:
        """``(tenant, entity id)`` of entities with something expired at ``now`` (epoch
        seconds): the entity or one of its attribute instances (clause 4.22), earliest first."""
        ...

    async def changed_entities(self, tenant: str, since: float) -> list[tuple[str, float]]:
        """``(entity id, modifiedAt)`` of the entities written at or after ``since`` (epoch
        seconds), oldest first, from the ``(tenant, modified_at)`` index of temporal entities."""

    async def aggregate_history(
        self,
        tenant: str,
        query: HistoryQuery,
        *,
        dataset_ids: Sequence[str] | None,
        start: float | None,
        seconds: float | None,
        distinct: bool = True,
    ) -> tuple[list[SeriesStats], list[PeriodStats]] | None:
        """Aggregate the live instances of ``query`` (one entity) per series and period, in SQL.

        Periods are ``seconds`` long from ``start`` (from the earliest live instance when
        ``start`` is None); ``seconds`` None makes one period. ``distinct`` False skips
        the distinct counts. Answers None unless every live instance has a number value
        (a Property value or JsonProperty json): the caller then aggregates the rows.
        """

    async def temporal_entities(
        self, tenant: str, query: EntityQuery
    ) -> tuple[list[TemporalEntityRow], int | None]: ...

    async def get_temporal_entity(
        self, tenant: str, entity_id: str
    ) -> TemporalEntityRow | None: ...

    # JSON-LD contexts (clause 5.13), shared by all tenants
    async def put_context(self, record: dict[str, Any]) -> None: ...

    async def get_context(self, context_id: str) -> dict[str, Any] | None: ...

    async def list_contexts(self) -> list[dict[str, Any]]: ...

    async def delete_context(self, context_id: str) -> bool: ...

    async def ping(self) -> None:
        """Raise if the store cannot answer a trivial query (the health probe)."""

    def location(self) -> str:
        """Where the data lives (a file path, or a server and schema), for a stable
        identity of this broker (clause 5.15.1); never shown as it is."""

    async def stats(self) -> dict[str, int]:
        """Sizes for /metrics: entities, history rows, tenants (exact counts: they read
        whole indexes, so callers cache them; SQLite counts off the event loop)."""
