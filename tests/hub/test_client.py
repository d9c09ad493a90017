"""HubClient: the in-process and the HTTP client behave the same against a real hub."""

from __future__ import annotations

import asyncio

import pytest

from conftest import make_store
from smartseoul.config import Settings
from smartseoul.hub.broker import Broker
from smartseoul.hub.client import HttpHubClient, HubError, LocalHubClient
from smartseoul.hub.jsonld import ContextResolver

CTX = {"Gauge": "https://example.org/Gauge", "level": "https://example.org/level"}


def gauges(n: int) -> list[dict]:
    return [
        {
            "id": f"urn:ngsi-ld:Gauge:{i}",
            "type": "Gauge",
            "level": {"type": "Property", "value": float(i)},
        }
        for i in range(n)
    ]


async def exercise(client) -> None:
    outcome = await client.upsert(gauges(5), context=CTX)
    assert (
        sorted(outcome.written) == [f"urn:ngsi-ld:Gauge:{i}" for i in range(5)]
        and outcome.errors == []
    )
    bad = await client.upsert([{"id": "not a uri", "type": "Gauge"}, *gauges(1)], context=CTX)
    assert bad.written == ["urn:ngsi-ld:Gauge:0"] and bad.errors[0]["error"]["status"] == 400
    await client.update_attrs("urn:ngsi-ld:Gauge:3", {"level": 30.5}, context=CTX)
    got = await client.get("urn:ngsi-ld:Gauge:3", context=CTX, key_values=True)
    assert got == {"id": "urn:ngsi-ld:Gauge:3", "type": "Gauge", "level": 30.5}
    found = await client.query(type="Gauge", q="level>2", context=CTX, key_values=True)
    assert sorted(e["id"] for e in found) == ["urn:ngsi-ld:Gauge:3", "urn:ngsi-ld:Gauge:4"]


def test_http_client(hub):
    async def run() -> None:
        client = HttpHubClient(hub.api)
        try:
            await exercise(client)
            with pytest.raises(HubError) as err:
                await client.get("urn:ngsi-ld:Gauge:missing", context=CTX)
            assert err.value.status == 404
        finally:
            await client.close()

    asyncio.run(run())


def with_local_client(backend, tmp_path, work) -> None:
    """Run ``await work(client)`` with a LocalHubClient over a fresh store of ``backend``."""
    store = make_store(backend, tmp_path)

    async def run() -> None:
        await store.open()
        resolver = ContextResolver(store, Settings(data_dir=tmp_path))
        try:
            await work(LocalHubClient(Broker(store), resolver))
        finally:
            await resolver.close()
            await store.close()
            if backend == "postgres":
                await store.drop()

    asyncio.run(run())


def test_local_client(backend, tmp_path):
    with_local_client(backend, tmp_path, exercise)


def test_local_client_refuses_numbers_json_cannot_hold(backend, tmp_path):
    """In process, a writer can hand the hub NaN, an infinity or an integer beyond 64 bits,
    which no JSON body can carry, at the top of a value or inside it: each is that entity's
    400, the rest of the batch is stored, and nothing is stored as null."""
    nan, inf = float("nan"), float("inf")
    odd = [
        nan,
        inf,
        2**70,
        {"series": [1.0, nan]},  # inside a value: used to be stored as null
        [[1, 2**64]],  # inside a value: used to fail the whole batch
        {"type": "ListProperty", "valueList": [1, -inf]},
        {"type": "Property", "value": 1, "accuracy": {"type": "Property", "value": nan}},
        {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [126.9, nan]}},
    ]

    async def work(client) -> None:
        batch = gauges(len(odd) + 1)
        for entity, value in zip(batch, odd, strict=False):
            if isinstance(value, dict) and "type" in value:
                entity["level"] = value
            else:
                entity["level"]["value"] = value
        batch[1]["level"] = float("-inf")  # concise
        outcome = await client.upsert(batch, context=CTX)
        assert outcome.written == [f"urn:ngsi-ld:Gauge:{len(odd)}"]
        assert sorted(e["entityId"] for e in outcome.errors) == sorted(
            f"urn:ngsi-ld:Gauge:{i}" for i in range(len(odd))
        )
        assert all(e["error"]["status"] == 400 for e in outcome.errors)
        found = await client.query(type="Gauge", context=CTX, key_values=True)
        assert [(e["id"], e["level"]) for e in found] == [
            (f"urn:ngsi-ld:Gauge:{len(odd)}", float(len(odd)))
        ]

    with_local_client(backend, tmp_path, work)
