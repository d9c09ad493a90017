"""Transient entities and attributes (clause 4.22): expiresAt, and the sweeper that removes
what has expired, over real HTTP on both backends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from conftest import free_port, make_store, problem, running
from smartseoul.app import create_app
from smartseoul.config import Settings


def stamp(seconds_from_now: float) -> str:
    return datetime.fromtimestamp(time.time() + seconds_from_now, UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )


@pytest.fixture
def api(backend: str, tmp_path: Path) -> Iterator[httpx.Client]:
    store = make_store(backend, tmp_path)
    port = free_port()
    app = create_app(Settings(data_dir=tmp_path, port=port, expiry_interval=0.2), store=store)
    with running(app, port) as base, httpx.Client(base_url=base + "/ngsi-ld/v1") as client:
        yield client
    if backend == "postgres":
        import asyncio

        asyncio.run(store.drop())


def test_expired_entities_and_attributes_are_removed(api: httpx.Client) -> None:
    soon, later = stamp(1.0), stamp(3600)
    bodies = [
        {"id": "urn:ngsi-ld:Alert:a1", "type": "Alert", "expiresAt": soon,
         "severity": {"type": "Property", "value": "high"}},
        {"id": "urn:ngsi-ld:Sensor:s1", "type": "Sensor",
         "reading": {"type": "Property", "value": 3, "expiresAt": soon},
         "name": {"type": "Property", "value": "kept"}},
        {"id": "urn:ngsi-ld:Alert:a2", "type": "Alert", "expiresAt": later,
         "severity": {"type": "Property", "value": "low"}},
    ]  # fmt: skip
    for body in bodies:
        assert api.post("/entities", json=body).status_code == 201
    shown = api.get("/entities/urn:ngsi-ld:Alert:a1").json()
    assert shown["expiresAt"] == soon and "expiresAt" not in shown["severity"]
    assert api.get("/entities/urn:ngsi-ld:Sensor:s1").json()["reading"]["expiresAt"] == soon

    deadline = time.time() + 10
    while api.get("/entities/urn:ngsi-ld:Alert:a1").status_code != 404:
        assert time.time() < deadline, "the expired entity was not removed"
        time.sleep(0.1)
    deadline = time.time() + 10
    while "reading" in (sensor := api.get("/entities/urn:ngsi-ld:Sensor:s1").json()):
        assert time.time() < deadline, "the expired attribute was not removed"
        time.sleep(0.1)
    assert sensor["name"]["value"] == "kept"
    assert api.get("/entities/urn:ngsi-ld:Alert:a2").json()["expiresAt"] == later
    # removed as a deletion: the history keeps the reading and records its deletion
    history = api.get("/temporal/entities/urn:ngsi-ld:Sensor:s1", params={"attrs": "reading"})
    assert [i["value"] for i in history.json()["reading"]] == [3, "urn:ngsi-ld:null"]


def test_expires_at_is_validated_replaced_and_removed(api: httpx.Client) -> None:
    bad = {"id": "urn:ngsi-ld:Alert:x", "type": "Alert", "expiresAt": "tomorrow"}
    problem(api.post("/entities", json=bad), 400, "BadRequestData")
    bad = {"id": "urn:ngsi-ld:Alert:x", "type": "Alert",
           "level": {"type": "Property", "value": 1, "expiresAt": 5}}  # fmt: skip
    problem(api.post("/entities", json=bad), 400, "BadRequestData")
    assert api.get("/entities/urn:ngsi-ld:Alert:x").status_code == 404  # nothing written

    eid, later = "urn:ngsi-ld:Alert:y", stamp(3600)
    body = {"id": eid, "type": "Alert", "expiresAt": later,
            "level": {"type": "Property", "value": 1}}  # fmt: skip
    assert api.post("/entities", json=body).status_code == 201
    # expiresAt is an entity member, never an attribute
    assert "https://uri.etsi.org/ngsi-ld/default-context/expiresAt" not in api.get(
        f"/entities/{eid}", headers={"Accept": "application/ld+json"}
    ).text
    even_later = stamp(7200)
    merged = api.patch(f"/entities/{eid}", json={"expiresAt": even_later})
    assert merged.status_code == 204, merged.text
    assert api.get(f"/entities/{eid}").json()["expiresAt"] == even_later
    assert api.patch(f"/entities/{eid}", json={"expiresAt": "urn:ngsi-ld:null"}).status_code == 204
    assert "expiresAt" not in api.get(f"/entities/{eid}").json()
    body["expiresAt"] = later
    assert api.put(f"/entities/{eid}", json=body).status_code == 204
    assert api.get(f"/entities/{eid}").json()["expiresAt"] == later
    del body["expiresAt"]
    assert api.put(f"/entities/{eid}", json=body).status_code == 204
    assert "expiresAt" not in api.get(f"/entities/{eid}").json()
