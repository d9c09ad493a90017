"""The Store contract, run on every backend (SQLite file and the real PostgreSQL)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from conftest import make_store
from smartseoul.hub.entities import normalize_entity
from smartseoul.hub.errors import BadRequestData
from smartseoul.hub.geo import parse_geoquery
from smartseoul.hub.query import parse_q
from smartseoul.hub.selection import parse_type_expr
from smartseoul.hub.store.base import EntityQuery, HistoryQuery, HistoryRow, TemporalEntityRow

V = "https://uri.etsi.org/ngsi-ld/default-context/"
NOW = "2026-01-01T00:00:00.000000Z"


def expand(term: str) -> str:
    if term == "location":
        return "https://uri.etsi.org/ngsi-ld/location"
    return term if ":" in term else V + term


def entity(n: int, **extra) -> dict:
    body = {
        "id": f"urn:ngsi-ld:Sensor:{n:04d}",
        "type": "Sensor" if n % 2 else "Gauge",
        "temperature": {"type": "Property", "value": float(n), "unitCode": "CEL"},
        "name": f"sensor {n}",
        "location": {"type": "Point", "coordinates": [126.9 + n / 1000, 37.5 + n / 1000]},
        **extra,
    }
    e = normalize_entity(body, expand, now=NOW)
    e["createdAt"] = e["modifiedAt"] = NOW
    return e


@pytest.fixture
def run():
    """One event loop per test: the PostgreSQL pool is bound to the loop it opened on."""
    with asyncio.Runner() as runner:
        yield runner.run


@pytest.fixture
def store(backend: str, tmp_path: Path, run):
    store = make_store(backend, tmp_path)
    run(store.open())
    yield store
    run(store.close())
    if backend == "postgres":
        run(store.drop())


async def _insert(store, entities, tenant=""):
    async with store.transaction(tenant) as tx:
        await tx.insert_entities(entities)


def test_insert_get_replace_delete(store, run):
    run(_insert(store, [entity(i) for i in range(10)]))
    got = run(store.get_entity("", "urn:ngsi-ld:Sensor:0003"))
    assert got["attrs"][V + "temperature"][0]["value"] == 3.0
    assert run(store.get_entity("", "urn:ngsi-ld:Sensor:9999")) is None

    async def replace():
        async with store.transaction("") as tx:
            e = await tx.get_entity("urn:ngsi-ld:Sensor:0003")
            e["attrs"][V + "temperature"][0]["value"] = 99.5
            await tx.replace_entities([e])

    run(replace())
    assert run(store.get_entity("", "urn:ngsi-ld:Sensor:0003"))["attrs"][V + "temperature"][0]["value"] == 99.5
    # The index follows the replacement: the old value no longer matches, the new one does.
    q_old = EntityQuery(q=parse_q("temperature==3", expand), count=True)
    q_new = EntityQuery(q=parse_q("temperature==99.5", expand), count=True)
    assert run(store.query_entities("", q_old))[1] == 0
    assert [e["id"] for e in run(store.query_entities("", q_new))[0]] == ["urn:ngsi-ld:Sensor:0003"]

    async def delete():
        async with store.transaction("") as tx:
            return await tx.delete_entities(["urn:ngsi-ld:Sensor:0003", "urn:ngsi-ld:Sensor:9999"])

    assert run(delete()) == 1
    assert run(store.query_entities("", q_new))[1] == 0
    assert run(store.stats())["entities"] == 9


def test_failed_transaction_writes_nothing(store, run):
    async def failing():
        async with store.transaction("") as tx:
            await tx.insert_entities([entity(1)])
            raise BadRequestData("boom")

    with pytest.raises(BadRequestData):
        run(failing())
    assert run(store.get_entity("", "urn:ngsi-ld:Sensor:0001")) is None
    assert run(store.stats())["entities"] == 0


def test_query_order_paging_count_types(store, run):
    run(_insert(store, [entity(i) for i in range(25)]))
    query = EntityQuery(types=parse_type_expr("Sensor", expand), limit=5, offset=5, count=True)
    rows, count = run(store.query_entities("", query))
    assert count == 12
    assert [e["id"] for e in rows] == [f"urn:ngsi-ld:Sensor:{n:04d}" for n in (11, 13, 15, 17, 19)]
    both = EntityQuery(types=parse_type_expr("Sensor,Gauge", expand), limit=100)
    assert len(run(store.query_entities("", both))[0]) == 25
    ranged = EntityQuery(q=parse_q("temperature==3..6;name~=sensor.*", expand), limit=100)
    assert [e["id"][-2:] for e in run(store.query_entities("", ranged))[0]] == ["03", "04", "05", "06"]


def test_geo_prefilter_and_exact(store, run):
    run(_insert(store, [entity(i) for i in range(50)]))
    geo = parse_geoquery("near;maxDistance==1000", "Point", "[126.91,37.51]", None, expand)
    rows, count = run(store.query_entities("", EntityQuery(geo=geo, limit=100, count=True)))
    ids = {e["id"] for e in rows}
    assert "urn:ngsi-ld:Sensor:0010" in ids
    assert "urn:ngsi-ld:Sensor:0040" not in ids  # ~4.2 km away
    assert count == len(rows) > 0


def test_tenants_are_separate(store, run):
    run(_insert(store, [entity(1)], tenant="gangnam"))
    assert run(store.tenant_exists("gangnam"))
    assert not run(store.tenant_exists("mapo"))
    assert run(store.get_entity("", "urn:ngsi-ld:Sensor:0001")) is None
    assert run(store.get_entity("gangnam", "urn:ngsi-ld:Sensor:0001")) is not None


def test_history_rows_and_temporal_entities(store, run):
    rows = [
        HistoryRow(
            entity_id="urn:ngsi-ld:Sensor:0001", attr=V + "temperature", instance_id=f"urn:i:{k}",
            dataset_id="", observed_at=1_000.0 + k * 60, modified_at=5_000.0 + k,
            data={"type": "Property", "value": k}, num=float(k),
        )
        for k in range(10)
    ]

    async def write():
        async with store.transaction("") as tx:
            await tx.append_history(rows)
            await tx.upsert_temporal_entities(
                [TemporalEntityRow("urn:ngsi-ld:Sensor:0001", [V + "Sensor"], [], 1000.0, 1540.0)]
            )

    run(write())
    between = HistoryQuery(
        entity_ids=["urn:ngsi-ld:Sensor:0001"], timerel="between", time_at=1_120.0, end_time_at=1_300.0
    )
    got = run(store.query_history("", between))
    assert [r.num for r in got] == [2.0, 3.0, 4.0]
    assert got[0].data == {"type": "Property", "value": 2}
    one = run(store.get_history_instance("", "urn:ngsi-ld:Sensor:0001", V + "temperature", "urn:i:7"))
    assert one is not None and one.num == 7.0 and one.observed_at == 1_420.0
    assert run(store.get_history_instance("", "urn:ngsi-ld:Sensor:0001", V + "temperature", "urn:i:x")) is None
    before = HistoryQuery(entity_ids=["urn:ngsi-ld:Sensor:0001"], timerel="before", time_at=1_060.0)
    assert [r.instance_id for r in run(store.query_history("", before))] == ["urn:i:0"]
    listed, count = run(store.temporal_entities("", EntityQuery(types=parse_type_expr("Sensor", expand), count=True)))
    assert count == 1 and listed[0].types == [V + "Sensor"]

    async def delete_attr():
        async with store.transaction("") as tx:
            return await tx.delete_history("urn:ngsi-ld:Sensor:0001", attr=V + "temperature")

    assert run(delete_attr()) == 10
    assert run(store.query_history("", HistoryQuery(entity_ids=["urn:ngsi-ld:Sensor:0001"]))) == []


def test_type_and_attribute_summaries(store, run):
    run(_insert(store, [entity(i) for i in range(4)]))
    types = run(store.type_summary(""))
    assert types[V + "Sensor"]["@count"] == 2
    assert types[V + "Gauge"][V + "temperature"] == 2
    attrs = run(store.attribute_summary(""))
    assert attrs[V + "name"]["count"] == 4
    assert attrs[V + "name"]["types"] == {V + "Sensor", V + "Gauge"}
    assert run(store.attribute_kinds("", "https://uri.etsi.org/ngsi-ld/location")) == {"GeoProperty"}


def test_context_records(store, run):
    record = {"id": "ctx-1", "url": "http://example.org/ctx.jsonld", "kind": "Cached",
              "data": {"@context": {"a": "http://a/"}}, "created_at": 1.0, "last_usage": None, "hits": 0}
    run(store.put_context(record))
    assert run(store.get_context("ctx-1"))["data"] == {"@context": {"a": "http://a/"}}
    assert run(store.get_context("http://example.org/ctx.jsonld"))["id"] == "ctx-1"
    assert [r["id"] for r in run(store.list_contexts())] == ["ctx-1"]
    assert run(store.delete_context("ctx-1"))
    assert run(store.get_context("ctx-1")) is None


def test_concurrent_writes_commit_together_and_a_failing_one_alone_is_undone(
    backend, store, tmp_path, run
):
    """Writes that run at once share a commit on SQLite (group commit); every write is
    all-or-nothing on its own, and once a write returns it is committed."""

    async def write(n: int) -> None:
        async with store.transaction("") as tx:
            await tx.insert_entities([entity(n)])
            if n % 5 == 0:
                raise BadRequestData(f"write {n} fails after its insert")

    async def main() -> list[BaseException | None]:
        return await asyncio.gather(*(write(n) for n in range(1, 41)), return_exceptions=True)

    results = run(main())
    failed = [n for n, r in zip(range(1, 41), results, strict=True) if r is not None]
    assert failed == list(range(5, 41, 5))
    assert all(isinstance(r, BadRequestData) for r in results if r is not None)
    found = run(store.get_entities("", [f"urn:ngsi-ld:Sensor:{n:04d}" for n in range(1, 41)]))
    assert sorted(found) == [f"urn:ngsi-ld:Sensor:{n:04d}" for n in range(1, 41) if n % 5]
    if backend == "sqlite":  # committed: another connection to the file sees them
        import sqlite3

        other = sqlite3.connect(tmp_path / "hub.db")
        (count,) = other.execute("SELECT count(*) FROM entities").fetchone()
        other.close()
        assert count == 32


def test_a_failing_first_write_of_a_group_leaves_the_next_writes_whole(backend, store, run):
    """The first write of a SQLite group runs without a savepoint; when it fails the
    transaction starts afresh and the writes after it in the same group still commit."""

    async def write(n: int, fail: bool) -> None:
        async with store.transaction("") as tx:
            await tx.insert_entities([entity(n)])
            if fail:
                raise BadRequestData(f"write {n} fails")

    async def main() -> list[BaseException | None]:
        return await asyncio.gather(
            write(1, True), write(2, False), write(3, True), write(4, False),
            return_exceptions=True,
        )

    results = run(main())
    assert [type(r).__name__ if r else None for r in results] == [
        "BadRequestData", None, "BadRequestData", None
    ]
    found = run(store.get_entities("", [f"urn:ngsi-ld:Sensor:{n:04d}" for n in range(1, 5)]))
    assert sorted(found) == ["urn:ngsi-ld:Sensor:0002", "urn:ngsi-ld:Sensor:0004"]


def test_index_rows_follow_every_kind_of_update(backend, store, run):
    """Updates rewrite only the index rows of what changed: after each operation the
    attr_index rows in the database are exactly those of the stored entity."""
    from smartseoul.hub.broker import Broker
    from smartseoul.hub.store.indexing import geo_rows, index_rows

    broker = Broker(store)
    eid = "urn:ngsi-ld:Sensor:0001"

    async def rows_in_db() -> list[tuple]:
        async with store.read() as conn:
            found = await conn.fetchall(
                "SELECT n.iri, a.num, a.str FROM attr_index a JOIN entities e ON e.pk = a.pk "
                "JOIN attr_names n ON n.id = a.name WHERE e.id = ?",
                [eid],
            )
        return sorted(found, key=repr)

    async def geo_pks(name: str, box: tuple) -> set[int]:
        sql, params = store.geo_candidates("", name, box)
        async with store.read() as conn:
            return {pk for (pk,) in await conn.fetchall(sql, params)}

    async def check() -> None:
        entity = await store.get_entity("", eid)
        assert await rows_in_db() == sorted(index_rows(entity), key=repr)
        async with store.read() as conn:
            ((pk,),) = await conn.fetchall("SELECT pk FROM entities WHERE id = ?", [eid])
            table = "geo_rtree WHERE id BETWEEN ? AND ?" if backend == "sqlite" else (
                "geo_index WHERE pk >= ? AND pk <= ?")  # fmt: skip
            span = [pk * 64, pk * 64 + 63] if backend == "sqlite" else [pk, pk]
            ((count,),) = await conn.fetchall(f"SELECT count(*) FROM {table}", span)
        boxes = geo_rows(entity)
        assert count == len(boxes)
        for name, x0, y0, x1, y1 in boxes:
            assert pk in await geo_pks(name, (x0, y0, x1, y1))
        return pk

    async def main() -> None:
        body = {
            "id": eid, "type": "Sensor",
            "temperature": {"type": "Property", "value": 20.5},
            "status": {"type": "Property", "value": "ok"},
            "tags": {"type": "Property", "value": ["a", "b"]},
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [127.0, 37.5]}},
        }  # fmt: skip
        await broker.create_entity("", body, expand)
        await check()
        await broker.append_attrs("", eid, {"temperature": 21.0, "pm10": 40}, expand)
        await check()
        await broker.update_attrs("", eid, {"status": "down", "tags": ["c"]}, expand)
        await check()
        await broker.append_attrs(
            "", eid, {"temperature": {"type": "Property", "value": 7, "datasetId": "urn:x:ds"}},
            expand,
        )  # fmt: skip
        await check()
        await broker.partial_update_attr("", eid, "pm10", {"value": 41}, expand)
        await check()
        await broker.delete_attr("", eid, "status", expand)
        await check()
        await broker.merge_entity(
            "", eid, {"type": ["Sensor", "Gauge"], "location": {"type": "Point", "coordinates": [127.1, 37.6]}},
            expand,
        )  # fmt: skip
        pk = await check()
        location = "https://uri.etsi.org/ngsi-ld/location"
        assert pk not in await geo_pks(location, (127.0, 37.5, 127.0, 37.5))  # the old position
        await broker.batch_upsert(
            "", [({"id": eid, "type": "Sensor", "pm10": 42, "scope": "/Seoul/Jongno"}, expand)],
            mode="update",
        )  # fmt: skip
        await check()
        await broker.replace_entity("", eid, {"id": eid, "type": "Gauge", "level": 3.5}, expand)
        await check()
        geo = parse_geoquery("near;maxDistance==2000", "Point", "[127.0, 37.5]", None, expand)
        rows, _ = await store.query_entities("", EntityQuery(geo=geo))
        assert rows == []  # no GeoProperty left: its entry left the geometry index

    run(main())


def test_live_attributes(store, run):
    """Attributes with a live (not deleted) instance in an entity's history."""

    def row(attr: str, k: int, *, deleted: bool = False) -> HistoryRow:
        return HistoryRow(
            entity_id="urn:ngsi-ld:Sensor:0001", attr=V + attr, instance_id=f"urn:i:{attr}{k}",
            dataset_id="", observed_at=1_000.0 + k, modified_at=2_000.0 + k,
            data={"type": "Property", "value": k}, num=float(k), deleted=deleted,
        )  # fmt: skip

    async def write() -> None:
        async with store.transaction("") as tx:
            await tx.append_history(
                [row("a", 1), row("a", 2), row("b", 1, deleted=True), row("c", 1)]
            )

    run(write())
    names = [V + "a", V + "b", V + "c", V + "d"]
    assert run(store.live_attributes("", "urn:ngsi-ld:Sensor:0001", names)) == {V + "a", V + "c"}
    assert run(store.live_attributes("", "urn:ngsi-ld:Sensor:0002", names)) == set()


def test_scan_reads_without_holding_the_event_loop(store, run):
    """A long read through ``scan()`` lets other tasks run meanwhile (on SQLite it runs on a
    worker thread with a connection of its own; PostgreSQL's driver is asynchronous)."""
    import time

    slow = (
        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000000) "
        "SELECT count(*) FROM c"
    )

    async def main() -> tuple[int, float, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.002)
                ticks += 1

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        started = time.perf_counter()
        async with store.scan() as conn:
            ((n,),) = await conn.fetchall(slow)
        took = time.perf_counter() - started
        task.cancel()
        return n, took, ticks

    n, took, ticks = run(main())
    assert n == 1_000_000
    assert took > 0.05  # long enough to tell
    assert ticks >= took / 0.002 * 0.3  # the loop kept ticking while the count ran


def test_a_bulk_load_leaves_the_planner_current_statistics(store, run):
    """PostgreSQL planned a q query right after a bulk load on the statistics of an empty
    table: reading the 3,000 matches of 6,000 new entities joined every index row with
    every other, and 10,000 of 20,000 took 74 s (autovacuum is off on this server, and a
    minute away at best elsewhere). The store now refreshes them itself once enough rows
    were added; SQLite's planner needs none."""
    import time

    for start in range(0, 6000, 500):
        run(_insert(store, [entity(n) for n in range(start, start + 500)]))
    if store.dialect == "postgres":
        run(store.settled())  # the refresh runs beside the writes

        async def estimated() -> float:
            async with store.read() as conn:
                rows = await conn.fetchall(
                    "SELECT reltuples FROM pg_class WHERE oid = 'attr_index'::regclass"
                )
            return float(rows[0][0])

        assert run(estimated()) > 10_000  # about 4 rows per entity; -1 or 0 if never analyzed
    query = EntityQuery(q=parse_q("temperature>=3000", expand))
    start = time.perf_counter()

    async def matches() -> int:
        return sum([1 async for _ in store.iter_entities("", query)])

    assert run(matches()) == 3000
    assert time.perf_counter() - start < 10
