"""PostgreSQL backend: the production store (psycopg 3, async pool, JSONB, GiST boxes)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
from psycopg import AsyncConnection
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool

from smartseoul.hub.store.sql import SqlStore
from smartseoul.hub.store.subscription_sql import SCHEMA_POSTGRES

SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (name TEXT PRIMARY KEY, created_at DOUBLE PRECISION);
CREATE TABLE IF NOT EXISTS entities (
  pk BIGSERIAL PRIMARY KEY, tenant TEXT NOT NULL, id TEXT NOT NULL, data JSONB NOT NULL,
  created_at TEXT NOT NULL, modified_at TEXT NOT NULL, UNIQUE (tenant, id));
CREATE TABLE IF NOT EXISTS attr_index (
  tenant TEXT NOT NULL, pk BIGINT NOT NULL, name TEXT NOT NULL, num DOUBLE PRECISION,
  str TEXT COLLATE "C");
CREATE INDEX IF NOT EXISTS attr_index_num ON attr_index (tenant, name, num);
CREATE INDEX IF NOT EXISTS attr_index_str ON attr_index (tenant, name, str);
DROP INDEX IF EXISTS attr_index_pk;
CREATE INDEX IF NOT EXISTS attr_index_pk_name ON attr_index (pk, name);
CREATE TABLE IF NOT EXISTS geo_index (
  pk BIGINT NOT NULL, tenant TEXT NOT NULL, name TEXT NOT NULL, bbox BOX NOT NULL);
CREATE INDEX IF NOT EXISTS geo_index_bbox ON geo_index USING gist (bbox);
CREATE INDEX IF NOT EXISTS geo_index_pk ON geo_index (pk);
CREATE TABLE IF NOT EXISTS history (
  tenant TEXT NOT NULL, entity_id TEXT NOT NULL, attr TEXT NOT NULL, instance_id TEXT NOT NULL,
  dataset_id TEXT NOT NULL, observed_at DOUBLE PRECISION, modified_at DOUBLE PRECISION NOT NULL,
  deleted BOOLEAN NOT NULL, num DOUBLE PRECISION, data JSONB NOT NULL);
CREATE INDEX IF NOT EXISTS history_observed ON history (tenant, entity_id, attr, observed_at);
CREATE TABLE IF NOT EXISTS temporal_entities (
  tenant TEXT NOT NULL, entity_id TEXT NOT NULL, types JSONB NOT NULL, scopes JSONB,
  created_at DOUBLE PRECISION, modified_at DOUBLE PRECISION, deleted_at DOUBLE PRECISION,
  PRIMARY KEY (tenant, entity_id));
CREATE INDEX IF NOT EXISTS temporal_entities_modified ON temporal_entities (tenant, modified_at);
CREATE TABLE IF NOT EXISTS contexts (
  id TEXT PRIMARY KEY, url TEXT, kind TEXT NOT NULL, data JSONB, created_at DOUBLE PRECISION,
  last_usage DOUBLE PRECISION, hits INTEGER);
CREATE INDEX IF NOT EXISTS contexts_url ON contexts (url);
"""

_PLACEHOLDER = re.compile(r"\?")


def _pg(sql: str, cache: dict[str, str] = {}) -> str:  # noqa: B006 - deliberate memo
    out = cache.get(sql)
    if out is None:
        out = cache[sql] = _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))
    return out


class _Conn:
    def __init__(self, conn: AsyncConnection[Any]):
        self.conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cur = await self.conn.execute(_pg(sql), list(params))
        return cur.rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self.conn.cursor() as cur:
            await cur.executemany(_pg(sql), rows)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = await self.conn.execute(_pg(sql), list(params))
        return await cur.fetchall()


class PostgresStore(SqlStore):
    dialect = "postgres"
    lock_clause = " FOR UPDATE"

    def __init__(self, url: str, *, schema: str | None = None, pool_size: int = 8):
        self.url = url
        self.schema = schema
        self.pool_size = pool_size
        self.pool: AsyncConnectionPool | None = None

    async def _configure(self, conn: AsyncConnection[Any]) -> None:
        # jsonb columns decode with orjson rather than the standard library's json.
        set_json_loads(orjson.loads, conn)
        if self.schema:
            await conn.execute(f'SET search_path TO "{self.schema}"')
        # psycopg prepares a statement after a few runs; PostgreSQL's generic plan for an
        # entity query cannot see how selective a type or q value is and scanned every
        # entity (seconds at 100k). A plan per execution costs little beside that.
        await conn.execute("SET plan_cache_mode TO force_custom_plan")
        await conn.commit()

    async def open(self) -> None:
        if self.schema:
            async with await AsyncConnection.connect(self.url, autocommit=True) as conn:
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        self.pool = AsyncConnectionPool(
            self.url, min_size=1, max_size=self.pool_size, configure=self._configure, open=False
        )
        await self.pool.open(wait=True)
        async with self.pool.connection() as conn:
            # One migration at a time when several workers start together.
            await conn.execute("SELECT pg_advisory_xact_lock(726172)")
            await conn.execute(SCHEMA + SCHEMA_POSTGRES)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def drop(self) -> None:
        """Drop the schema (tests)."""
        if self.schema:
            async with await AsyncConnection.connect(self.url, autocommit=True) as conn:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    @asynccontextmanager
    async def read(self) -> AsyncIterator[_Conn]:
        assert self.pool is not None, "store not open"
        async with self.pool.connection() as conn:
            yield _Conn(conn)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[_Conn]:
        assert self.pool is not None, "store not open"
        async with self.pool.connection() as conn, conn.transaction():
            yield _Conn(conn)

    async def insert_entity_rows(self, conn: Any, rows: list[tuple[Any, ...]]) -> list[int]:
        if not rows:
            return []
        # One statement for the whole batch; RETURNING keeps the input order with ORDINALITY.
        result = await conn.fetchall(
            "INSERT INTO entities (tenant, id, data, created_at, modified_at) "
            "SELECT t, i, d::jsonb, c, m FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[]) "
            "WITH ORDINALITY AS u(t, i, d, c, m, n) ORDER BY n RETURNING pk, id",
            [list(col) for col in zip(*rows, strict=True)],
        )
        by_id = {i: pk for pk, i in result}
        return [by_id[row[1]] for row in rows]

    async def insert_geo_rows(self, conn: Any, tenant: str, rows: list[tuple[Any, ...]]) -> None:
        await conn.executemany(
            "INSERT INTO geo_index (pk, tenant, name, bbox) VALUES (?,?,?, box(point(?,?), point(?,?)))",
            [(pk, tenant, name, x0, y0, x1, y1) for pk, _n, name, x0, y0, x1, y1 in rows],
        )

    async def delete_geo_rows(self, conn: Any, pks: list[int]) -> None:
        await conn.execute("DELETE FROM geo_index WHERE pk = ANY(?)", [pks])

    def geo_candidates(
        self, tenant: str, name: str, box: tuple[float, float, float, float]
    ) -> tuple[str, list[Any]]:
        minx, miny, maxx, maxy = box
        return (
            "SELECT pk FROM geo_index WHERE tenant = ? AND name = ? AND bbox && box(point(?,?), point(?,?))",
            [tenant, name, minx, miny, maxx, maxy],
        )

    def regex_sql(self, column: str) -> str:
        return f"{column} ~ ?"
