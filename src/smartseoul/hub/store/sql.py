"""The Store contract implemented once over SQL; backends supply a connection adapter.

SQLite and PostgreSQL differ in their driver (sync sqlite3, async psycopg), their JSON
type and their geometry index. Everything else — the tables, the index rows, the
queries — is here, so both backends behave the same and one contract suite tests both.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from smartseoul.hub.entities import epoch
from smartseoul.hub.store.base import (
    Entity,
    EntityQuery,
    HistoryQuery,
    HistoryRow,
    PeriodStats,
    SeriesStats,
    TemporalEntityRow,
    WriteConflict,
)
from smartseoul.hub.store.indexing import geo_rows, index_rows
from smartseoul.hub.store.sqlcommon import Conn, dumps, loads, marks
from smartseoul.hub.store.sqlfilter import NAME_IDS, SCOPE_ROW, TYPE_ROW, attribute_rows
from smartseoul.hub.store.subscription_sql import SubscriptionStoreMixin

_TYPE = NAME_IDS[TYPE_ROW]
_LAST_FIXED = max(NAME_IDS.values())  # ids above it are attribute names
GEO_SLOTS = 64  # geometry index ids are pk * GEO_SLOTS + n: deletes by id range stay indexed
CHUNK = 500  # ids per IN (...) list
_HISTORY_SELECT = (
    "SELECT entity_id, attr, instance_id, dataset_id, observed_at, modified_at, deleted, num, data "
    "FROM history"
)


def _history_row(r: tuple[Any, ...]) -> HistoryRow:
    return HistoryRow(
        entity_id=r[0],
        attr=r[1],
        instance_id=r[2],
        dataset_id=r[3],
        observed_at=r[4],
        modified_at=r[5],
        deleted=bool(r[6]),
        num=r[7],
        data=loads(r[8]),
    )


def _history_where(
    tenant: str, entity_ids: Sequence[str], query: HistoryQuery
) -> tuple[str, list[Any]]:
    """The WHERE of a history query: entities, attributes and the time range (clause 4.11).

    A history row is written when its instance is created or changed, at modified_at:
    createdAt and modifiedAt filter on it, deletedAt on it for deletion rows.
    """
    column = "observed_at" if query.timeproperty == "observedAt" else "modified_at"
    where = f"tenant=? AND entity_id IN ({marks(len(entity_ids))})"
    params: list[Any] = [tenant, *entity_ids]
    if query.attrs:
        where += f" AND attr IN ({marks(len(query.attrs))})"
        params.extend(query.attrs)
    if query.timerel == "before":
        where += f" AND {column} < ?"
        params.append(query.time_at)
    elif query.timerel == "after":  # clause 4.11: an inclusive bound
        where += f" AND {column} >= ?"
        params.append(query.time_at)
    elif query.timerel == "between":
        where += f" AND {column} >= ? AND {column} < ?"
        params.extend([query.time_at, query.end_time_at])
    return where, params


IndexRow = tuple[str, float | None, str | None]  # attr_index (name, num, str)


@dataclass(slots=True)
class _Loaded:
    """An entity as a transaction loaded it: its pk and its stored JSON text."""

    pk: int
    text: str


def expiry(entity: Entity) -> float | None:
    """The first moment something of the entity expires (clause 4.22): its own ``expiresAt``
    or that of one of its attribute instances; ``entities.expires_at`` for the sweeper."""
    times = [entity["expiresAt"]] if "expiresAt" in entity else []
    times += [
        inst["expiresAt"]
        for instances in entity["attrs"].values()
        for inst in instances
        if "expiresAt" in inst
    ]
    return min(map(epoch, times)) if times else None


def _rows(name: str, values: Sequence[str]) -> list[IndexRow]:
    return [(name, None, v) for v in values]


class SqlTx:
    """A write transaction on one tenant (see ``base.Tx``)."""

    def __init__(self, store: SqlStore, conn: Conn, tenant: str):
        self.store, self.conn, self.tenant = store, conn, tenant
        self._before: dict[str, _Loaded] = {}
        # attr_names ids read or given in this transaction: the store's cache takes them
        # once the transaction has committed (an id from a rolled-back insert is no id).
        self.new_names: dict[str, int] = {}
        self.grown = 0  # entity and history rows it adds (see SqlStore.committed)

    async def name_ids(self, names: Iterable[str]) -> Callable[[str], int]:
        """The attr_names id of each name, giving ids to new names; a lookup function."""
        known, new = self.store.name_ids, self.new_names
        missing = sorted({n for n in names if n not in known and n not in new})
        for start in range(0, len(missing), CHUNK):
            part = missing[start : start + CHUNK]
            # Sorted: concurrent PostgreSQL transactions take the unique keys in one order.
            await self.conn.executemany(
                "INSERT INTO attr_names (iri) VALUES (?) ON CONFLICT (iri) DO NOTHING",
                [(n,) for n in part],
            )
            new.update(
                await self.conn.fetchall(
                    f"SELECT iri, id FROM attr_names WHERE iri IN ({marks(len(part))})", part
                )
            )

        def lookup(name: str) -> int:
            return known.get(name) or new[name]

        return lookup

    async def get_entity(self, entity_id: str) -> Entity | None:
        found = await self.get_entities([entity_id])
        return found.get(entity_id)

    async def get_entities(self, entity_ids: Sequence[str]) -> dict[str, Entity]:
        out: dict[str, Entity] = {}
        ids = list(dict.fromkeys(entity_ids))
        for start in range(0, len(ids), CHUNK):
            part = ids[start : start + CHUNK]
            text = "data::text" if self.store.dialect == "postgres" else "data"
            sql = (
                f"SELECT pk, {text} FROM entities WHERE tenant=? AND id IN ({marks(len(part))})"
                + self.store.lock_clause
            )
            for pk, data in await self.conn.fetchall(sql, [self.tenant, *part]):
                entity = loads(data)
                out[entity["id"]] = entity
                # The entity as stored, whatever the caller then changes in place:
                # replace_entities rewrites only the index rows of what changed.
                self._before[entity["id"]] = _Loaded(pk, data)
        return out

    async def insert_entities(self, entities: Sequence[Entity]) -> None:
        if not entities:
            return
        for e in entities:
            self._before.pop(e["id"], None)
        rows = [
            (self.tenant, e["id"], dumps(e), e["createdAt"], e["modifiedAt"], expiry(e))
            for e in entities
        ]
        pks = await self.store.insert_entity_rows(self.conn, rows)
        await self._write_indexes(list(zip(pks, entities, strict=True)))
        self.grown += len(entities)

    async def replace_entities(self, entities: Sequence[Entity]) -> None:
        if not entities:
            return
        known = [e for e in entities if e["id"] in self._before]
        unknown = [e for e in entities if e["id"] not in self._before]
        if known:
            await self.conn.executemany(
                "UPDATE entities SET data=?, modified_at=?, expires_at=? WHERE pk=?",
                [
                    (dumps(e), e["modifiedAt"], expiry(e), self._before[e["id"]].pk)
                    for e in known
                ],
            )
            await self._reindex([(self._before.pop(e["id"]), e) for e in known])
        if unknown:
            await self.conn.executemany(
                "UPDATE entities SET data=?, modified_at=?, expires_at=? WHERE tenant=? AND id=?",
                [(dumps(e), e["modifiedAt"], expiry(e), self.tenant, e["id"]) for e in unknown],
            )
            pks = await self._pks([e["id"] for e in unknown])
            pairs = [(pks[e["id"]], e) for e in unknown]
            await self._drop_indexes([pk for pk, _ in pairs])
            await self._write_indexes(pairs)

    async def _reindex(self, pairs: Sequence[tuple[_Loaded, Entity]]) -> None:
        """Rewrite only the index rows of what changed since the entity was loaded.

        The stored JSON read at load time is compared with the new entity attribute by
        attribute (a dict comparison, far cheaper than deriving index rows): unchanged
        attributes cost nothing. A changed attribute with one row before and after is
        updated in place (one index entry moves); other changes delete and insert that
        attribute's rows; geometry is rewritten only when a GeoProperty changed.
        """
        updates: list[tuple[float | None, str | None, int, str]] = []
        deletes: list[tuple[int, str]] = []
        inserts: list[tuple[str, int, str, float | None, str | None]] = []
        geo_drop: list[int] = []
        geo: list[tuple[Any, ...]] = []
        for loaded, entity in pairs:
            pk, before, attrs = loaded.pk, loads(loaded.text), entity["attrs"]
            changed: list[tuple[str, list[IndexRow], list[IndexRow]]] = []
            for row_name, member in ((TYPE_ROW, "type"), (SCOPE_ROW, "scope")):
                was_values, now_values = before.get(member, []), entity.get(member, [])
                if was_values != now_values:
                    changed.append(
                        (row_name, _rows(row_name, was_values), _rows(row_name, now_values))
                    )
            geo_changed = False
            old_attrs = before["attrs"]
            for name in old_attrs.keys() | attrs.keys():
                was, now = old_attrs.get(name), attrs.get(name)
                if was == now:
                    continue
                geo_changed = geo_changed or any(
                    inst.get("type") == "GeoProperty" for inst in (*(was or ()), *(now or ()))
                )
                changed.append(
                    (
                        name,
                        attribute_rows(name, was) if was else [],
                        attribute_rows(name, now) if now else [],
                    )
                )
            for name, old_rows, new_rows in changed:
                if old_rows == new_rows:
                    continue
                if len(old_rows) == len(new_rows) == 1:
                    updates.append((new_rows[0][1], new_rows[0][2], pk, name))
                    continue
                if old_rows:
                    deletes.append((pk, name))
                inserts.extend((self.tenant, pk, name, num, text) for _, num, text in new_rows)
            if geo_changed:
                geo_drop.append(pk)
                geo.extend(
                    (pk, n, name, *box)
                    for n, (name, *box) in enumerate(geo_rows(entity)[:GEO_SLOTS])
                )
        names = {u[3] for u in updates} | {d[1] for d in deletes} | {i[2] for i in inserts}
        ids = await self.name_ids(names | {g[2] for g in geo})
        if updates:
            await self.conn.executemany(
                "UPDATE attr_index SET num=?, str=? WHERE pk=? AND name=?",
                [(num, text, pk, ids(name)) for num, text, pk, name in updates],
            )
        if deletes:
            await self.conn.executemany(
                "DELETE FROM attr_index WHERE pk=? AND name=?",
                [(pk, ids(name)) for pk, name in deletes],
            )
        if inserts:
            await self.conn.executemany(
                "INSERT INTO attr_index (tenant, pk, name, num, str) VALUES (?,?,?,?,?)",
                [(tenant, pk, ids(name), num, text) for tenant, pk, name, num, text in inserts],
            )
        if geo_drop:
            await self.store.delete_geo_rows(self.conn, geo_drop)
        if geo:
            await self.store.insert_geo_rows(
                self.conn, self.tenant, [(pk, n, ids(name), *box) for pk, n, name, *box in geo]
            )

    async def delete_entities(self, entity_ids: Sequence[str]) -> int:
        for entity_id in entity_ids:
            self._before.pop(entity_id, None)
        pks = await self._pks(entity_ids)
        if not pks:
            return 0
        await self._drop_indexes(list(pks.values()))
        values = list(pks.values())
        for start in range(0, len(values), CHUNK):
            part = values[start : start + CHUNK]
            await self.conn.execute(f"DELETE FROM entities WHERE pk IN ({marks(len(part))})", part)
        return len(pks)

    async def _pks(self, entity_ids: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        ids = list(dict.fromkeys(entity_ids))
        for start in range(0, len(ids), CHUNK):
            part = ids[start : start + CHUNK]
            rows = await self.conn.fetchall(
                f"SELECT id, pk FROM entities WHERE tenant=? AND id IN ({marks(len(part))})",
                [self.tenant, *part],
            )
            out.update(rows)
        return out

    async def _write_indexes(self, pairs: Sequence[tuple[int, Entity]]) -> None:
        rows = [(pk, index_rows(entity), geo_rows(entity)[:GEO_SLOTS]) for pk, entity in pairs]
        names = {row[0] for _, attr, boxes in rows for row in attr}
        names.update(box[0] for _, _, boxes in rows for box in boxes)
        ids = await self.name_ids(names)
        tenant = self.tenant
        attr_rows = [
            (tenant, pk, ids(name), num, text) for pk, attr, _ in rows for name, num, text in attr
        ]
        geo = [
            (pk, n, ids(name), *box)
            for pk, _, boxes in rows
            for n, (name, *box) in enumerate(boxes)
        ]
        if attr_rows:
            await self.conn.executemany(
                "INSERT INTO attr_index (tenant, pk, name, num, str) VALUES (?,?,?,?,?)", attr_rows
            )
        if geo:
            await self.store.insert_geo_rows(self.conn, self.tenant, geo)

    async def _drop_indexes(self, pks: Sequence[int]) -> None:
        for start in range(0, len(pks), CHUNK):
            part = list(pks[start : start + CHUNK])
            await self.conn.execute(
                f"DELETE FROM attr_index WHERE pk IN ({marks(len(part))})", part
            )
            await self.store.delete_geo_rows(self.conn, part)

    async def append_history(self, rows: Sequence[HistoryRow]) -> None:
        self.grown += len(rows)
        if rows:
            await self.conn.executemany(
                "INSERT INTO history (tenant, entity_id, attr, instance_id, dataset_id, "
                "observed_at, modified_at, deleted, num, data) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        self.tenant,
                        r.entity_id,
                        r.attr,
                        r.instance_id,
                        r.dataset_id,
                        r.observed_at,
                        r.modified_at,
                        r.deleted,
                        r.num,
                        dumps(r.data),
                    )
                    for r in rows
                ],
            )

    async def upsert_temporal_entities(self, rows: Sequence[TemporalEntityRow]) -> None:
        if rows:
            await self.conn.executemany(
                "INSERT INTO temporal_entities (tenant, entity_id, types, scopes, created_at, "
                "modified_at, deleted_at) VALUES (?,?,?,?,?,?,NULL) "
                "ON CONFLICT (tenant, entity_id) DO UPDATE SET types=excluded.types, "
                "scopes=excluded.scopes, modified_at=excluded.modified_at, deleted_at=NULL, "
                # a row claimed by expect_temporal_entity has none yet
                "created_at=COALESCE(temporal_entities.created_at, excluded.created_at)",
                [
                    (
                        self.tenant,
                        r.entity_id,
                        dumps(r.types),
                        dumps(r.scopes),
                        r.created_at,
                        r.modified_at,
                    )
                    for r in rows
                ],
            )

    async def expect_temporal_entity(self, entity_id: str, seen: TemporalEntityRow | None) -> None:
        """WriteConflict unless the temporal entity is as ``seen`` before the transaction: a
        concurrent write would be overwritten (types, scopes) or both would answer "created".
        The row stays locked (PostgreSQL) or is claimed with a plain INSERT, which a
        concurrent creator's makes a unique violation, until the commit."""
        rows = await self.conn.fetchall(
            "SELECT modified_at, deleted_at FROM temporal_entities WHERE tenant=? AND entity_id=?"
            + self.store.lock_clause,
            [self.tenant, entity_id],
        )
        now = tuple(rows[0]) if rows else None
        if now != (None if seen is None else (seen.modified_at, seen.deleted_at)):
            raise WriteConflict(f"the temporal evolution of {entity_id} changed meanwhile")
        if seen is None:
            await self.conn.execute(
                "INSERT INTO temporal_entities (tenant, entity_id, types, scopes, created_at, "
                "modified_at, deleted_at) VALUES (?,?,'[]','[]',NULL,NULL,NULL)",
                [self.tenant, entity_id],
            )

    async def mark_temporal_deleted(self, entity_ids: Sequence[str], deleted_at: float) -> None:
        await self.conn.executemany(
            "UPDATE temporal_entities SET deleted_at=? WHERE tenant=? AND entity_id=?",
            [(deleted_at, self.tenant, i) for i in entity_ids],
        )

    async def delete_history(
        self,
        entity_id: str,
        *,
        attr: str | None = None,
        dataset_id: str | None = None,
        instance_id: str | None = None,
        all_datasets: bool = False,
    ) -> int:
        sql = "DELETE FROM history WHERE tenant=? AND entity_id=?"
        params: list[Any] = [self.tenant, entity_id]
        if attr is None:
            await self.conn.execute(
                "DELETE FROM temporal_entities WHERE tenant=? AND entity_id=?", params
            )
        else:
            sql += " AND attr=?"
            params.append(attr)
            if instance_id is not None:
                sql += " AND instance_id=?"
                params.append(instance_id)
            elif not all_datasets:
                sql += " AND dataset_id=?"
                params.append(dataset_id or "")
        return await self.conn.execute(sql, params)

    async def update_history_instance(
        self, entity_id: str, attr: str, instance_id: str, row: HistoryRow
    ) -> bool:
        count = await self.conn.execute(
            "UPDATE history SET observed_at=?, modified_at=?, num=?, data=? "
            "WHERE tenant=? AND entity_id=? AND attr=? AND instance_id=?",
            [
                row.observed_at,
                row.modified_at,
                row.num,
                dumps(row.data),
                self.tenant,
                entity_id,
                attr,
                instance_id,
            ],
        )
        return count > 0


class SqlStore(SubscriptionStoreMixin, ABC):
    """Shared implementation; subclasses provide connections and the geometry index."""

    dialect = "sql"
    lock_clause = ""  # " FOR UPDATE" on PostgreSQL
    # attr_names ids of committed names (ids never change; subclasses set a dict per store)
    name_ids: dict[str, int]

    # -- backend hooks ---------------------------------------------------------
    @abstractmethod
    def read(self) -> Any:
        """An async context manager yielding a Conn for reads."""

    @abstractmethod
    def write(self) -> Any:
        """An async context manager yielding a Conn inside one write transaction."""

    def scan(self) -> Any:
        """Like ``read``, for reads that walk many rows; SQLite runs them off the event loop."""
        return self.read()

    @abstractmethod
    async def insert_entity_rows(self, conn: Conn, rows: list[tuple[Any, ...]]) -> list[int]:
        """Insert ``(tenant, id, data, created_at, modified_at, expires_at)`` rows; their pks
        in order."""

    @abstractmethod
    async def insert_geo_rows(self, conn: Conn, tenant: str, rows: list[tuple[Any, ...]]) -> None:
        """Index ``(pk, n, name, minx, miny, maxx, maxy)`` bounding boxes."""

    @abstractmethod
    async def delete_geo_rows(self, conn: Conn, pks: list[int]) -> None:
        """Drop the geometry index rows of these entities."""

    @abstractmethod
    def geo_candidates(
        self, tenant: str, name: str, box: tuple[float, float, float, float]
    ) -> tuple[str, list[Any]]:
        """SQL selecting the pks whose ``name`` boxes intersect ``box``, and its parameters."""

    def build_where(self, query: EntityQuery, tenant: str) -> tuple[str, list[Any]]:
        from smartseoul.hub.store.sqlfilter import build_where

        # The shared code writes ``?`` everywhere; the PostgreSQL adapter rewrites them.
        return build_where(query, tenant, self.dialect, placeholder="?")

    # -- tenants ---------------------------------------------------------------
    async def tenant_exists(self, tenant: str) -> bool:
        if tenant == "":
            return True
        async with self.read() as conn:
            rows = await conn.fetchall("SELECT 1 FROM tenants WHERE name=?", [tenant])
        return bool(rows)

    @asynccontextmanager
    async def transaction(self, tenant: str) -> AsyncIterator[SqlTx]:
        async with self.write() as conn:
            if tenant:
                await conn.execute(
                    "INSERT INTO tenants (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                    [tenant, time.time()],
                )
            tx = SqlTx(self, conn, tenant)
            yield tx
        # Committed: the names it gave ids to are in attr_names for every later transaction.
        self.name_ids.update(tx.new_names)
        await self.committed(tx.grown)

    async def committed(self, grown: int) -> None:
        """After a write transaction that added ``grown`` entity and history rows."""

    # -- entities --------------------------------------------------------------
    async def get_entity(self, tenant: str, entity_id: str) -> Entity | None:
        async with self.read() as conn:
            rows = await conn.fetchall(
                "SELECT data FROM entities WHERE tenant=? AND id=?", [tenant, entity_id]
            )
        return loads(rows[0][0]) if rows else None

    async def get_entities(self, tenant: str, entity_ids: Sequence[str]) -> dict[str, Entity]:
        async with self.read() as conn:
            return await SqlTx(self, conn, tenant).get_entities(entity_ids)

    def _select(self, query: EntityQuery, tenant: str, columns: str) -> tuple[str, list[Any]]:
        where, params = self.build_where(query, tenant)
        # SQLite: "+" keeps the planner off the (tenant, id) index, so ORDER BY pk LIMIT n walks
        # the table in pk order and stops after the page instead of sorting the tenant.
        tenant_term = "+e.tenant" if self.dialect == "sqlite" else "e.tenant"
        sql = f"SELECT {columns} FROM entities e WHERE {tenant_term}=?"
        params = [tenant, *params]
        if where:
            sql += f" AND ({where})"
        if query.geo is not None:
            box = query.geo.bbox()
            if box is not None:
                geo_sql, geo_params = self.geo_candidates(tenant, query.geo.geoproperty, box)
                sql += f" AND e.pk IN ({geo_sql})"
                params.extend(geo_params)
        return sql, params

    async def query_entities(
        self, tenant: str, query: EntityQuery
    ) -> tuple[list[Entity], int | None]:
        if query.geo is not None:
            # Exact geometry predicates run in Python on the index candidates, so paging
            # and counting happen after them.
            matched = [e async for e in self.iter_entities(tenant, query)]
            count = len(matched) if query.count else None
            return matched[query.offset : query.offset + query.limit], count
        sql, params = self._select(query, tenant, "e.data")
        count = None
        async with self.read() as conn:
            if query.count:
                csql, cparams = self._count_sql(query, tenant)
                count = (await conn.fetchall(csql, cparams))[0][0]
            if query.limit == 0:
                return [], count
            rows = await conn.fetchall(
                sql + " ORDER BY e.pk LIMIT ? OFFSET ?", [*params, query.limit, query.offset]
            )
        return [loads(r[0]) for r in rows], count

    def _count_sql(self, query: EntityQuery, tenant: str) -> tuple[str, list[Any]]:
        """The exact count; a type-only query counts on attr_index alone (an index-only scan)."""
        types = query.types
        names = [types] if isinstance(types, str) else getattr(types, "items", None)
        only_types = not (
            query.ids or query.id_pattern or query.attrs or query.q or query.geo or query.scope_q
        )
        if (
            only_types
            and names
            and all(isinstance(n, str) for n in names)
            and type(types).__name__ != "And"
        ):
            # An entity has one @type row per type: one type needs no DISTINCT.
            counted = "count(*)" if len(names) == 1 else "count(DISTINCT pk)"
            return (
                f"SELECT {counted} FROM attr_index WHERE tenant=? AND name={NAME_IDS[TYPE_ROW]} "
                f"AND str IN ({marks(len(names))})",
                [tenant, *names],
            )
        return self._select(query, tenant, "count(*)")

    async def iter_entities(self, tenant: str, query: EntityQuery) -> AsyncIterator[Entity]:
        sql, params = self._select(query, tenant, "e.pk, e.data")
        last = 0
        while True:
            async with self.read() as conn:
                rows = await conn.fetchall(
                    sql + " AND e.pk > ? ORDER BY e.pk LIMIT ?", [*params, last, 1000]
                )
            for pk, data in rows:
                entity = loads(data)
                if query.geo is None or query.geo.matches(entity):
                    yield entity
                last = pk
            if len(rows) < 1000:
                return

    async def type_summary(self, tenant: str) -> dict[str, dict[str, int]]:
        async with self.read() as conn:
            counts = await conn.fetchall(
                f"SELECT str, count(*) FROM attr_index WHERE tenant=? AND name={_TYPE} "
                "GROUP BY str",
                [tenant],
            )
            pairs = await conn.fetchall(
                "SELECT g.str, n.iri, g.c FROM (SELECT t.str AS str, a.name AS name, "
                "count(DISTINCT a.pk) AS c FROM attr_index t "
                f"JOIN attr_index a ON a.pk = t.pk AND a.name > {_LAST_FIXED} "
                f"WHERE t.tenant=? AND t.name={_TYPE} GROUP BY t.str, a.name) AS g "
                "JOIN attr_names n ON n.id = g.name",
                [tenant],
            )
        out: dict[str, dict[str, int]] = {t: {"@count": n} for t, n in counts}
        for type_, name, n in pairs:
            out.setdefault(type_, {"@count": 0})[name] = n
        return out

    async def attribute_summary(self, tenant: str) -> dict[str, dict[str, Any]]:
        async with self.read() as conn:
            rows = await conn.fetchall(
                "SELECT n.iri, g.str, g.c FROM (SELECT a.name AS name, t.str AS str, "
                "count(DISTINCT a.pk) AS c FROM attr_index a "
                f"JOIN attr_index t ON t.pk = a.pk AND t.name={_TYPE} "
                f"WHERE a.tenant=? AND a.name > {_LAST_FIXED} GROUP BY a.name, t.str) AS g "
                "JOIN attr_names n ON n.id = g.name",
                [tenant],
            )
        out: dict[str, dict[str, Any]] = {}
        for name, type_, n in rows:
            item = out.setdefault(name, {"count": 0, "types": set()})
            item["types"].add(type_)
            item["count"] += n
        return out

    async def attribute_kinds(self, tenant: str, name: str) -> set[str]:
        """Attribute types (Property, Relationship, ...) in use for ``name``."""
        kinds: set[str] = set()
        query = EntityQuery(attrs=[name], limit=0)
        async for entity in self.iter_entities(tenant, query):
            kinds.update(inst["type"] for inst in entity["attrs"].get(name, ()))
            if len(kinds) >= 8:
                break
        return kinds

    # -- history ---------------------------------------------------------------
    async def query_history(self, tenant: str, query: HistoryQuery) -> list[HistoryRow]:
        column = "observed_at" if query.timeproperty == "observedAt" else "modified_at"
        out: list[HistoryRow] = []
        ids = list(query.entity_ids)
        for start in range(0, len(ids), CHUNK):
            where, params = _history_where(tenant, ids[start : start + CHUNK], query)
            if query.timeproperty == "deletedAt":
                where += " AND deleted"
            elif not query.include_deleted:
                where += " AND NOT deleted"
            sql = f"{_HISTORY_SELECT} WHERE {where} ORDER BY entity_id, attr, {column}, modified_at"
            async with self.read() as conn:
                rows = await conn.fetchall(sql, params)
            out.extend(_history_row(r) for r in rows)
        return out

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
        # The instance time of hub.temporal.timed_rows: observedAt, else modifiedAt.
        if query.timeproperty == "observedAt":
            t = "COALESCE(observed_at, modified_at)"
        elif query.timeproperty == "modifiedAt":
            t = "modified_at"
        else:
            return None
        where, params = _history_where(tenant, query.entity_ids, query)
        where += " AND NOT deleted"
        if dataset_ids is not None:
            where += f" AND dataset_id IN ({marks(len(dataset_ids))})"
            params.extend(dataset_ids)
        async with self.read() as conn:
            if start is None:
                ((start,),) = await conn.fetchall(f"SELECT min({t}) FROM history WHERE {where}", params)
                if start is None:
                    return [], []
            if seconds is None:
                period, period_params = "0", []
            elif self.dialect == "postgres":
                period, period_params = f"CAST(floor(({t} - ?) / ?) AS BIGINT)", [start, seconds]
            else:  # every instance is at or after start: truncation is floor
                period, period_params = f"CAST(({t} - ?) / ? AS INTEGER)", [start, seconds]
            # One pass over the rows (the history index, no JSON): numbers only, else None.
            rows = await conn.fetchall(
                f"SELECT attr, dataset_id, {period} AS k, count(*), count(num), min({t}), max({t}), "
                f"sum(num), min(num), max(num), sum(num * num), "
                f"{'count(DISTINCT num)' if distinct else '0'} FROM history WHERE {where} "
                "GROUP BY attr, dataset_id, k ORDER BY attr, dataset_id, k",
                [*period_params, *params],
            )
            if any(r[3] != r[4] for r in rows):
                return None
            series: dict[tuple[str, str], SeriesStats] = {}
            periods = []
            for attr, ds, k, n, _, first, last, total, low, high, sumsq, count_distinct in rows:
                periods.append(PeriodStats(attr, ds, k, n, total, low, high, sumsq, count_distinct))
                found = series.get((attr, ds))
                if found is None:
                    series[attr, ds] = SeriesStats(attr, ds, n, first, last, "Property")
                else:
                    found.count += n
                    found.last = max(found.last, last)
            # Numbers are Property values or JsonProperty json: the latest instance's type
            # is the type of the aggregated attribute (as in hub.temporal_render).
            for s in series.values():
                ((data,),) = await conn.fetchall(
                    f"SELECT data FROM history WHERE {where} AND attr=? AND dataset_id=? "
                    f"ORDER BY {t} DESC, modified_at DESC LIMIT 1",
                    [*params, s.attr, s.dataset_id],
                )
                s.kind = loads(data).get("type", "Property")
        return list(series.values()), periods

    async def live_attributes(
        self, tenant: str, entity_id: str, attrs: Sequence[str]
    ) -> set[str]:
        found: set[str] = set()
        async with self.read() as conn:
            for attr in dict.fromkeys(attrs):
                if await conn.fetchall(
                    "SELECT 1 FROM history WHERE tenant=? AND entity_id=? AND attr=? "
                    "AND NOT deleted LIMIT 1",
                    [tenant, entity_id, attr],
                ):
                    found.add(attr)
        return found

    async def get_history_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str
    ) -> HistoryRow | None:
        async with self.read() as conn:
            rows = await conn.fetchall(
                f"{_HISTORY_SELECT} WHERE tenant=? AND entity_id=? AND attr=? AND instance_id=?",
                [tenant, entity_id, attr, instance_id],
            )
        return _history_row(rows[0]) if rows else None

    async def expiring(self, now: float, limit: int = 500) -> list[tuple[str, str]]:
        async with self.read() as conn:
            rows = await conn.fetchall(
                "SELECT tenant, id FROM entities WHERE expires_at <= ? "
                "ORDER BY expires_at LIMIT ?",
                [now, limit],
            )
        return [(tenant, entity_id) for tenant, entity_id in rows]

    async def changed_entities(self, tenant: str, since: float) -> list[tuple[str, float]]:
        async with self.read() as conn:
            rows = await conn.fetchall(
                "SELECT entity_id, modified_at FROM temporal_entities "
                "WHERE tenant=? AND modified_at >= ? AND deleted_at IS NULL ORDER BY modified_at",
                [tenant, since],
            )
        return [(entity_id, modified) for entity_id, modified in rows]

    async def temporal_entities(
        self, tenant: str, query: EntityQuery
    ) -> tuple[list[TemporalEntityRow], int | None]:
        """Temporal entities by id, idPattern, type and scope; paged in creation order."""
        from smartseoul.hub.selection import matches_scope, matches_types

        sql = (
            "SELECT entity_id, types, scopes, created_at, modified_at, deleted_at "
            "FROM temporal_entities WHERE tenant=?"
        )
        params: list[Any] = [tenant]
        if query.ids:
            sql += f" AND entity_id IN ({marks(len(query.ids))})"
            params.extend(query.ids)
        if query.id_pattern:
            sql += " AND " + self.regex_sql("entity_id")
            params.append(query.id_pattern)
        async with self.read() as conn:
            rows = await conn.fetchall(sql + " ORDER BY created_at, entity_id", params)
        matched = []
        for r in rows:
            row = self._temporal_row(r)
            if query.types is not None and not matches_types(row.types, query.types):
                continue
            if query.scope_q is not None and not matches_scope(row.scopes, query.scope_q):
                continue
            matched.append(row)
        count = len(matched) if query.count else None
        return matched[query.offset : query.offset + query.limit], count

    @abstractmethod
    def regex_sql(self, column: str) -> str:
        """The backend's regular-expression match of ``column`` against a parameter."""

    async def get_temporal_entity(self, tenant: str, entity_id: str) -> TemporalEntityRow | None:
        async with self.read() as conn:
            rows = await conn.fetchall(
                "SELECT entity_id, types, scopes, created_at, modified_at, deleted_at "
                "FROM temporal_entities WHERE tenant=? AND entity_id=?",
                [tenant, entity_id],
            )
        return self._temporal_row(rows[0]) if rows else None

    @staticmethod
    def _temporal_row(r: tuple[Any, ...]) -> TemporalEntityRow:
        return TemporalEntityRow(
            entity_id=r[0],
            types=loads(r[1]),
            scopes=loads(r[2]) or [],
            created_at=r[3],
            modified_at=r[4],
            deleted_at=r[5],
        )

    # -- contexts --------------------------------------------------------------
    async def put_context(self, record: dict[str, Any]) -> None:
        async with self.write() as conn:
            await conn.execute(
                "INSERT INTO contexts (id, url, kind, data, created_at, last_usage, hits) "
                "VALUES (?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET url=excluded.url, "
                "kind=excluded.kind, data=excluded.data, last_usage=excluded.last_usage, hits=excluded.hits",
                [
                    record["id"],
                    record.get("url"),
                    record.get("kind", "Hosted"),
                    dumps(record.get("data")),
                    record.get("created_at", time.time()),
                    record.get("last_usage"),
                    record.get("hits", 0),
                ],
            )

    async def get_context(self, context_id: str) -> dict[str, Any] | None:
        async with self.read() as conn:
            rows = await conn.fetchall(
                "SELECT id, url, kind, data, created_at, last_usage, hits FROM contexts WHERE id=? OR url=?",
                [context_id, context_id],
            )
        return self._context_record(rows[0]) if rows else None

    async def list_contexts(self) -> list[dict[str, Any]]:
        async with self.read() as conn:
            rows = await conn.fetchall(
                "SELECT id, url, kind, data, created_at, last_usage, hits FROM contexts ORDER BY created_at"
            )
        return [self._context_record(r) for r in rows]

    async def delete_context(self, context_id: str) -> bool:
        async with self.write() as conn:
            return (
                await conn.execute(
                    "DELETE FROM contexts WHERE id=? OR url=?", [context_id, context_id]
                )
                > 0
            )

    @staticmethod
    def _context_record(r: tuple[Any, ...]) -> dict[str, Any]:
        return {
            "id": r[0],
            "url": r[1],
            "kind": r[2],
            "data": loads(r[3]),
            "created_at": r[4],
            "last_usage": r[5],
            "hits": r[6],
        }

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.fetchall("SELECT 1")

    STATS_SQL = (
        "SELECT (SELECT count(*) FROM entities), (SELECT count(*) FROM history), "
        "(SELECT count(*) FROM tenants)"
    )

    async def stats(self) -> dict[str, int]:
        async with self.scan() as conn:  # whole indexes are read: off the loop on SQLite
            ((entities, history, tenants),) = await conn.fetchall(self.STATS_SQL)
        return {"entities": entities, "history_rows": history, "tenants": tenants + 1}
