"""Careless bodies to /safety on a running hub (SQLite and PostgreSQL): members the checks
missed used to be 500s or overflowed to meaningless results; each is a 400 naming it."""

from __future__ import annotations

import pytest

from conftest import problem


def square(i: int, j: int) -> dict:
    x, y = 127 + i / 100, 37.5 + j / 100
    ring = [[x, y], [x + 0.01, y], [x + 0.01, y + 0.01], [x, y + 0.01], [x, y]]
    return {"type": "Feature", "properties": {"name": f"gu{i}{j}"},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}  # fmt: skip


AREAS = {
    "type": "FeatureCollection",
    "features": [square(i, j) for i in range(3) for j in range(3)],
}
COUNTS = {f"gu{i}{j}": 1 + i * 3 + j for i in range(3) for j in range(3)}


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"counts": {**COUNTS, "gu00": "abc"}}, "counts.gu00 must be a count from 0, got 'abc'"),
        ({"counts": {**COUNTS, "gu00": [1]}}, "counts.gu00 must be a count from 0, got [1]"),
        ({"counts": {**COUNTS, "gu00": -5}}, "counts.gu00 must be a count from 0, got -5"),
        ({"counts": {**COUNTS, "gu00": 1e308}}, "counts.gu00 must be a count from 0, got 1e+308"),
        ({"population": {**COUNTS, "gu11": "x"}}, "population.gu11 must be a count from 0, got 'x'"),
        ({"areas": {"type": "FeatureCollection", "features": [1, 2]}},
         "areas feature 0: not a GeoJSON Feature object"),
        ({"areas": {"type": "FeatureCollection", "features": [{**square(0, 0), "properties": [1]}]}},
         "areas feature 0: properties must be an object"),
        ({"areas": {"type": "FeatureCollection", "features": [{**square(0, 0), "geometry": "x"}]}},
         "areas feature 0 (gu00): geometry must be a Polygon or MultiPolygon, got 'x'"),
    ],
)  # fmt: skip
def test_hotspots_refuses_bad_members(hub, change, detail):
    body = {"areas": AREAS, "counts": COUNTS, "permutations": 19, "write": True, **change}
    response = hub.http.post(hub.base + "/safety/hotspots", json=body)
    assert problem(response, 400, "BadRequestData")["detail"] == detail
    assert hub.http.get("/entities", params={"type": "CrimeHotspot"}).json() == []


def test_site_refuses_overflowing_points(hub):
    demand = [{"id": "a", "x": 1e300, "y": 1e300}, {"id": "b", "x": 0, "y": 0}]
    candidates = [{"id": "c", "x": 0, "y": 10}]
    body = {"demand": demand, "candidates": candidates, "radius": 100, "facilities": 1}
    response = hub.http.post(hub.base + "/safety/site", json=body)
    assert problem(response, 400, "BadRequestData")["detail"] == (
        "demand row 0 (a): x 1e+300, y 1e+300 is not a position in metres (|x| and |y| up to 10^8)"
    )
    # Two weights of 1e308 summed to infinity: coverage came out as 0.0 with the plan covering all.
    demand = [
        {"id": "a", "x": 0, "y": 0, "weight": 1e308},
        {"id": "b", "x": 5, "y": 0, "weight": 1e308},
    ]
    body = {
        "demand": demand,
        "candidates": candidates,
        "radius": 100,
        "facilities": 1,
        "write": True,
    }
    response = hub.http.post(hub.base + "/safety/site", json=body)
    assert problem(response, 400, "BadRequestData")["detail"] == (
        "demand row 0: weight 1e+308 is not from 0 to 10^12"
    )
    demand[0]["weight"] = demand[1]["weight"] = 1e12  # the largest weight is fine
    response = hub.http.post(hub.base + "/safety/site", json={**body, "write": False})
    assert response.status_code == 200, response.text
    assert (response.json()["objective"], response.json()["coverage"]) == (2e12, 1.0)
