"""The map's change feed: what changed in the hub since a cursor, read from the store."""

from __future__ import annotations

import asyncio

from conftest import make_store
from smartseoul.config import Settings
from smartseoul.hub.broker import Broker
from smartseoul.hub.jsonld import ContextResolver
from smartseoul.web.live import ChangeFeed, change_events

CTX = {"Gauge": "https://example.org/Gauge", "level": "https://example.org/level"}


def gauge(i: int, level: float) -> dict:
    return {"id": f"urn:ngsi-ld:Gauge:{i}", "type": "Gauge",
            "level": {"type": "Property", "value": level}}  # fmt: skip


def run_with_hub(backend, tmp_path, body) -> None:
    store = make_store(backend, tmp_path)

    async def run() -> None:
        await store.open()
        resolver = ContextResolver(store, Settings(data_dir=tmp_path))
        try:
            expand = (await resolver.resolve(CTX)).expand
            await body(Broker(store), resolver, expand)
        finally:
            await resolver.close()
            await store.close()
            if backend == "postgres":
                await store.drop()

    asyncio.run(run())


def test_feed_reports_each_change_once_and_sees_other_writers(backend, tmp_path):
    async def body(broker, resolver, expand):
        await broker.batch_upsert("", [(gauge(1, 1.0), expand)], mode="update")
        feed = ChangeFeed(broker, resolver)
        assert not await feed.poll()  # written before the feed opened
        # A second broker on the same store stands for another worker process.
        other = Broker(broker.store)
        await other.batch_upsert("", [(gauge(1, 2.5), expand), (gauge(2, 7.0), expand)],
                                 mode="update")  # fmt: skip
        changes = await feed.poll()
        got = {e["id"]: e["https://example.org/level"]["value"] for e in changes.entities}
        assert got == {"urn:ngsi-ld:Gauge:1": 2.5, "urn:ngsi-ld:Gauge:2": 7.0}
        assert changes.entities[0]["type"] == "https://example.org/Gauge"  # core @context only
        assert not await feed.poll()  # within the look-back window, but already reported
        await other.delete_entity("", "urn:ngsi-ld:Gauge:2")
        await other.append_attrs("", "urn:ngsi-ld:Gauge:1", {"level": 3.0}, expand)
        changes = await feed.poll()
        assert [e["id"] for e in changes.entities] == ["urn:ngsi-ld:Gauge:1"]

    run_with_hub(backend, tmp_path, body)


def test_events_start_with_hello_and_carry_changes(backend, tmp_path):
    async def body(broker, resolver, expand):
        feed = ChangeFeed(broker, resolver)
        polls = 0

        async def disconnected() -> bool:
            return polls > 3

        events = change_events(feed, disconnected=disconnected, poll=0.01, heartbeat=0.02)
        assert (await anext(events))[0] == "hello"
        await broker.batch_upsert("", [(gauge(3, 1.0), expand)], mode="update")
        names = []
        async for name, data in events:
            names.append(name)
            polls += 1
            if name == "changes":
                assert [e["id"] for e in data["entities"]] == ["urn:ngsi-ld:Gauge:3"]
        assert names[0] == "changes" and "ping" in names

    run_with_hub(backend, tmp_path, body)


def test_feed_reports_more_changes_than_one_read_can_ask_for(tmp_path):
    # The feed read every changed entity in one query: past 30,000 ids (one large batch, an
    # import) that was TooComplexQuery, the SSE stream broke and the map missed the changes.
    count = 30_500

    async def body(broker, resolver, expand):
        feed = ChangeFeed(broker, resolver)
        for start in range(0, count, 2500):
            batch = [(gauge(i, i / 10), expand) for i in range(start, min(start + 2500, count))]
            await broker.batch_upsert("", batch, mode="update")
        changes = await feed.poll()
        got = {e["id"]: e["https://example.org/level"]["value"] for e in changes.entities}
        assert got == {f"urn:ngsi-ld:Gauge:{i}": i / 10 for i in range(count)}
        assert changes.deleted == []

    run_with_hub("sqlite", tmp_path, body)


def test_feed_on_a_tenant_never_written(backend, tmp_path):
    async def body(broker, resolver, expand):
        assert not await ChangeFeed(broker, resolver, tenant="nobody").poll()

    run_with_hub(backend, tmp_path, body)
