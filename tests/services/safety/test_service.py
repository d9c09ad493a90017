"""Plans and hotspots written into a real hub (SQLite, and PostgreSQL when reachable)."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np

from smartseoul.datasets import shipped_file
from smartseoul.datasets.boundaries import SHIPPED_BOUNDARIES
from smartseoul.hub.client import HttpHubClient
from smartseoul.services.safety.inputs import points_from_records, read_areas
from smartseoul.services.safety.outputs import SAFETY_CONTEXT
from smartseoul.services.safety.service import (
    SiteInputs,
    area_hotspots,
    plan_sites,
    points_from_hub,
    read_plan,
    write_hotspots,
    write_plan,
)

DEMAND = [
    {"id": "a", "lon": 126.9780, "lat": 37.5665, "weight": 2},
    {"id": "b", "lon": 126.9790, "lat": 37.5668, "weight": 1},
    {"id": "c", "lon": 127.0276, "lat": 37.4979, "weight": 4},
]
CANDIDATES = [
    {"id": "hall", "lon": 126.9785, "lat": 37.5666},
    {"id": "gangnam", "lon": 127.0275, "lat": 37.4980},
]


async def _plan_round_trip(api: str) -> dict:
    client = HttpHubClient(api)
    try:
        inputs = SiteInputs.of(points_from_records(DEMAND), points_from_records(CANDIDATES))
        problem, result = plan_sites(inputs, radius=150, facilities=1)
        plan_id = await write_plan(
            client,
            result,
            problem,
            inputs.candidates,
            name="test plan",
            facilities=1,
            plan_id="urn:ngsi-ld:CoveragePlan:t1",
        )
        # Incidents as hub entities read back as demand points.
        await client.upsert(
            [
                {
                    "id": f"urn:ngsi-ld:Incident:{d['id']}",
                    "type": "Incident",
                    "location": {
                        "type": "GeoProperty",
                        "value": {"type": "Point", "coordinates": [d["lon"], d["lat"]]},
                    },
                    "crimeCount": {"type": "Property", "value": d["weight"]},
                }
                for d in DEMAND
            ],
            context=SAFETY_CONTEXT,
        )
        incidents = await points_from_hub(client, "Incident", weight_attr="crimeCount")
        return {
            "plan_id": plan_id,
            "plan": await read_plan(client, plan_id),
            "incidents": incidents,
        }
    finally:
        await client.close()


def test_plan_written_to_the_hub_and_read_back(hub):
    found = asyncio.run(_plan_round_trip(hub.api))
    plan = found["plan"]
    assert plan["properties"]["type"] == "CoveragePlan"
    assert (
        plan["properties"]["coveredWeight"] == 4.0
        and plan["properties"]["solverStatus"] == "optimal"
    )
    [site] = plan["features"]
    assert (
        site["properties"]["name"] == "gangnam" and site["properties"]["newlyCoveredWeight"] == 4.0
    )
    assert site["geometry"]["type"] == "Point"
    assert sorted(found["incidents"].weights.tolist()) == [1.0, 2.0, 4.0]
    # The same plan over HTTP, as GeoJSON for the map.
    response = httpx.get(f"{hub.base}/safety/plans/{found['plan_id']}")
    assert (
        response.status_code == 200 and response.headers["content-type"] == "application/geo+json"
    )
    assert response.json()["features"][0]["properties"]["rank"] == 1


def test_site_route_solves_and_stores(hub):
    body = {
        "demand": DEMAND,
        "candidates": CANDIDATES,
        "radius": 150,
        "facilities": 2,
        "write": True,
    }
    response = httpx.post(f"{hub.base}/safety/site", json=body, timeout=30)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["objective"] == 7.0 and answer["status"] == "optimal"
    stored = httpx.get(f"{hub.base}/safety/plans/{answer['plan']}").json()
    assert [f["properties"]["name"] for f in stored["features"]] == ["gangnam", "hall"]
    bad = httpx.post(
        f"{hub.base}/safety/site", json={**body, "model": "lscp", "radius": 10, "write": False}
    )
    assert bad.status_code == 400 and "LSCP infeasible" in bad.json()["detail"]


async def _hotspots(api: str) -> list[dict]:
    areas = read_areas(shipped_file(SHIPPED_BOUNDARIES))
    rng = np.random.default_rng(0)
    counts = {a.name: float(rng.integers(1000, 5000)) for a in areas}
    found = area_hotspots(areas, counts, statistic="count", permutations=99)
    client = HttpHubClient(api)
    try:
        ids = await write_hotspots(client, found)
        assert len(ids) == 25
        return await client.query(type="CrimeHotspot", context=SAFETY_CONTEXT, key_values=True)
    finally:
        await client.close()


def test_hotspots_written_as_entities(hub):
    rows = asyncio.run(_hotspots(hub.api))
    assert len(rows) == 25
    assert all(r["hotspotClass"] in ("hot", "cold", "none") for r in rows)
    assert {r["location"]["type"] for r in rows} <= {"Polygon", "MultiPolygon"}
