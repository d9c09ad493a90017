"""A database written by the first layout (attribute IRIs as text in attr_index and the
geometry index) opens in the current one, on both backends, and answers as before."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from conftest import make_store
from smartseoul.hub.broker import Broker
from smartseoul.hub.geo import parse_geoquery
from smartseoul.hub.query import parse_q
from smartseoul.hub.selection import parse_type_expr
from smartseoul.hub.store.base import EntityQuery

V = "https://uri.etsi.org/ngsi-ld/default-context/"


def expand(term: str) -> str:
    if term == "location":
        return "https://uri.etsi.org/ngsi-ld/location"
    return term if ":" in term else V + term


# Back to the first layout: what the schema of 2026-11 wrote.
DOWNGRADE_SQLITE = [
    "ALTER TABLE attr_index RENAME TO attr_index_ids",
    "DROP INDEX IF EXISTS attr_index_num",
    "DROP INDEX IF EXISTS attr_index_str",
    "DROP INDEX IF EXISTS attr_index_pk_name",
    "CREATE TABLE attr_index (tenant TEXT NOT NULL, pk INTEGER NOT NULL, name TEXT NOT NULL, "
    "num REAL, str TEXT)",
    "CREATE INDEX attr_index_num ON attr_index (tenant, name, num)",
    "CREATE INDEX attr_index_str ON attr_index (tenant, name, str)",
    "CREATE INDEX attr_index_pk_name ON attr_index (pk, name)",
    "INSERT INTO attr_index SELECT a.tenant, a.pk, n.iri, a.num, a.str FROM attr_index_ids a "
    "JOIN attr_names n ON n.id = a.name",
    "DROP TABLE attr_index_ids",
    "UPDATE geo_rtree SET name = (SELECT iri FROM attr_names WHERE id = name)",
    "DROP TABLE attr_names",
    "DROP INDEX entities_expires",
    "ALTER TABLE entities DROP COLUMN expires_at",
]
DOWNGRADE_POSTGRES = [
    "ALTER TABLE attr_index ADD COLUMN name_text TEXT",
    "UPDATE attr_index a SET name_text = n.iri FROM attr_names n WHERE n.id = a.name",
    "ALTER TABLE attr_index DROP COLUMN name",
    "ALTER TABLE attr_index RENAME COLUMN name_text TO name",
    "CREATE INDEX attr_index_num ON attr_index (tenant, name, num)",
    "CREATE INDEX attr_index_str ON attr_index (tenant, name, str)",
    "CREATE INDEX attr_index_pk_name ON attr_index (pk, name)",
    "ALTER TABLE geo_index ADD COLUMN name_text TEXT",
    "UPDATE geo_index g SET name_text = n.iri FROM attr_names n WHERE n.id = g.name",
    "ALTER TABLE geo_index DROP COLUMN name",
    "ALTER TABLE geo_index RENAME COLUMN name_text TO name",
    "DROP TABLE attr_names",
    "ALTER TABLE entities DROP COLUMN expires_at",
]


def test_first_layout_is_migrated(backend: str, tmp_path: Path) -> None:
    queries = {
        "type": EntityQuery(types=parse_type_expr("Gauge", expand), limit=100),
        "q": EntityQuery(q=parse_q('temperature>4;status=="ok"', expand), limit=100),
        "attrs": EntityQuery(attrs=[V + "status"], limit=100),
        "geo": EntityQuery(
            geo=parse_geoquery("near;maxDistance==600", "Point", "[126.902,37.502]", None, expand),
            limit=100,
        ),
    }

    async def answers(store) -> dict:
        found = {}
        for name, query in queries.items():
            rows, _ = await store.query_entities("", query)
            found[name] = sorted(e["id"] for e in rows)
        found["types"] = await store.type_summary("")
        found["attributes"] = {
            k: {**v, "types": sorted(v["types"])}
            for k, v in (await store.attribute_summary("")).items()
        }
        return found

    async def main() -> None:
        store = make_store(backend, tmp_path)
        await store.open()
        broker = Broker(store)
        for n in range(1, 11):
            await broker.create_entity(
                "",
                {
                    "id": f"urn:ngsi-ld:Sensor:{n:02d}",
                    "type": "Sensor" if n % 2 else "Gauge",
                    "temperature": {"type": "Property", "value": float(n)},
                    "status": {"type": "Property", "value": "ok" if n % 3 else "alarm"},
                    "location": {"type": "GeoProperty", "value": {
                        "type": "Point", "coordinates": [126.9 + n / 1000, 37.5 + n / 1000]}},
                },  # fmt: skip
                expand,
            )
        before = await answers(store)
        assert before["type"] == [f"urn:ngsi-ld:Sensor:{n:02d}" for n in (2, 4, 6, 8, 10)]
        assert before["q"] == [f"urn:ngsi-ld:Sensor:{n:02d}" for n in (5, 7, 8, 10)]
        assert len(before["attrs"]) == 10
        assert 0 < len(before["geo"]) < 10
        async with store.write() as conn:
            for statement in DOWNGRADE_SQLITE if backend == "sqlite" else DOWNGRADE_POSTGRES:
                await conn.execute(statement)
        schema = getattr(store, "schema", None)
        await store.close()

        again = make_store(backend, tmp_path)
        if schema is not None:
            again.schema = schema  # the same PostgreSQL schema, opened afresh
        await again.open()
        try:
            async with again.read() as conn:
                rows = await conn.fetchall("SELECT count(*) FROM attr_names")
            assert rows[0][0] >= 5  # @type, @scope, temperature, status, location
            assert await again.expiring(1e12) == []  # the expires_at column is back
            assert await answers(again) == before
            # and it keeps working: a new attribute gets an id, an update moves its row
            await Broker(again).append_attrs(
                "", "urn:ngsi-ld:Sensor:01", {"pm10": 40, "temperature": 99.0}, expand
            )
            rows, _ = await again.query_entities(
                "", EntityQuery(q=parse_q("pm10==40;temperature>98", expand), limit=10)
            )
            assert [e["id"] for e in rows] == ["urn:ngsi-ld:Sensor:01"]
        finally:
            await again.close()
            if backend == "postgres":
                await again.drop()

    asyncio.run(main())


def test_name_ids_of_a_rolled_back_write_are_not_kept(backend: str, tmp_path: Path) -> None:
    """An id given inside a transaction that fails is not cached: the next write asks again."""

    async def main() -> None:
        store = make_store(backend, tmp_path)
        await store.open()
        try:
            with pytest.raises(RuntimeError):
                async with store.transaction("") as tx:
                    await tx.name_ids([V + "ghost"])
                    assert V + "ghost" in tx.new_names
                    raise RuntimeError("fail after the name got an id")
            assert V + "ghost" not in store.name_ids
            async with store.read() as conn:
                rows = await conn.fetchall(
                    "SELECT count(*) FROM attr_names WHERE iri = ?", [V + "ghost"]
                )
            assert rows[0][0] == 0
            async with store.transaction("") as tx:
                ids = await tx.name_ids([V + "ghost"])
                given = ids(V + "ghost")
            assert store.name_ids[V + "ghost"] == given
        finally:
            await store.close()
            if backend == "postgres":
                await store.drop()

    asyncio.run(main())
