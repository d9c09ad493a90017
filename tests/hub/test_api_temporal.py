"""/temporal/entities over real HTTP, on SQLite and PostgreSQL (clauses 6.18 to 6.22, 6.24)."""

from __future__ import annotations

import pytest

VEHICLE = "urn:ngsi-ld:Vehicle:B9211"
LD = {"Content-Type": "application/ld+json", "Accept": "application/ld+json"}
CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
BETWEEN = {
    "timerel": "between",
    "timeAt": "2018-08-01T12:00:00Z",
    "endTimeAt": "2018-08-01T13:00:00Z",
}


def speed(value, at, **extra):
    return {"type": "Property", "value": value, "observedAt": at, **extra}


def create_vehicle(hub, entity_id=VEHICLE, **attrs):
    body = {
        "id": entity_id,
        "type": "Vehicle",
        "speed": [
            speed(120, "2018-08-01T12:03:00Z"),
            speed(80, "2018-08-01T12:05:00Z"),
            speed(100, "2018-08-01T12:07:00Z"),
        ],
        **attrs,
    }
    response = hub.http.post("/temporal/entities", json=body)
    assert response.status_code == 201, response.text
    return response


def get(hub, path, **params):
    response = hub.http.get(path, params=params)
    assert response.status_code in (200, 206), response.text
    return response.json()


def test_create_then_retrieve_normalized(hub):
    response = create_vehicle(hub)
    assert response.headers["Location"] == f"/ngsi-ld/v1/temporal/entities/{VEHICLE}"
    out = get(hub, f"/temporal/entities/{VEHICLE}")
    assert out["id"] == VEHICLE and out["type"] == "Vehicle"
    instances = out["speed"]
    assert [i["value"] for i in instances] == [120, 80, 100]
    assert all(i["instanceId"].startswith("urn:ngsi-ld:") for i in instances)
    assert {k for i in instances for k in i} == {"type", "value", "observedAt", "instanceId"}
    assert len({i["instanceId"] for i in instances}) == 3


def test_upsert_adds_instances_and_types(hub):
    create_vehicle(hub)
    more = {"id": VEHICLE, "type": "Bus", "speed": [speed(60, "2018-08-01T12:09:00Z")]}
    assert hub.http.post("/temporal/entities", json=more).status_code == 204
    out = get(hub, f"/temporal/entities/{VEHICLE}")
    assert out["type"] == ["Vehicle", "Bus"]
    assert [i["value"] for i in out["speed"]] == [120, 80, 100, 60]


def test_simplified_and_time_filters(hub):
    create_vehicle(hub)
    path = f"/temporal/entities/{VEHICLE}"
    out = get(hub, path, format="temporalValues", **BETWEEN)
    assert out == {
        "id": VEHICLE,
        "type": "Vehicle",
        "speed": {
            "type": "Property",
            "values": [
                [120, "2018-08-01T12:03:00Z"],
                [80, "2018-08-01T12:05:00Z"],
                [100, "2018-08-01T12:07:00Z"],
            ],
        },
    }
    before = get(
        hub, path, options="temporalValues", timerel="before", timeAt="2018-08-01T12:05:00Z"
    )
    assert before["speed"]["values"] == [[120, "2018-08-01T12:03:00Z"]]
    after = get(hub, path, options="temporalValues", timerel="after", timeAt="2018-08-01T12:05:00Z")
    assert [v for v, _ in after["speed"]["values"]] == [80, 100]  # timeAt is inclusive
    last = get(hub, path, options="temporalValues", lastN="2")
    assert [v for v, _ in last["speed"]["values"]] == [80, 100]


def test_aggregated_values(hub):
    create_vehicle(hub)
    out = get(
        hub,
        f"/temporal/entities/{VEHICLE}",
        format="aggregatedValues",
        aggrMethods="max,avg",
        aggrPeriodDuration="PT4M",
        **BETWEEN,
    )
    p1 = ["2018-08-01T12:00:00Z", "2018-08-01T12:04:00Z"]
    p2 = ["2018-08-01T12:04:00Z", "2018-08-01T12:08:00Z"]
    assert out["speed"] == {
        "type": "Property",
        "max": [[120, *p1], [100, *p2]],
        "avg": [[120.0, *p1], [90.0, *p2]],
    }


def test_aggregating_strings_is_an_invalid_request(hub):
    create_vehicle(hub, name=[speed("Bus 9211", "2018-08-01T12:01:00Z")])
    response = hub.http.get(
        f"/temporal/entities/{VEHICLE}",
        params={"format": "aggregatedValues", "aggrMethods": "avg", "attrs": "name", **BETWEEN},
    )
    assert response.status_code == 400
    assert response.json()["type"].endswith("InvalidRequest")


def test_entity_writes_are_recorded(hub):
    entity = {
        "id": "urn:ngsi-ld:Vehicle:1",
        "type": "Vehicle",
        "speed": speed(10, "2018-08-01T12:00:00Z"),
    }
    assert hub.http.post("/entities", json=entity).status_code == 201
    patch = {"speed": speed(20, "2018-08-01T12:10:00Z")}
    assert hub.http.patch("/entities/urn:ngsi-ld:Vehicle:1/attrs", json=patch).status_code == 204
    out = get(hub, "/temporal/entities/urn:ngsi-ld:Vehicle:1", options="temporalValues,sysAttrs")
    assert out["speed"]["values"] == [[10, "2018-08-01T12:00:00Z"], [20, "2018-08-01T12:10:00Z"]]
    normalized = get(hub, "/temporal/entities/urn:ngsi-ld:Vehicle:1", options="sysAttrs")
    assert {"createdAt", "modifiedAt"} <= set(normalized) and "createdAt" in normalized["speed"][0]


def test_query_temporal_entities(hub):
    create_vehicle(hub)
    late = {
        "id": "urn:ngsi-ld:Vehicle:late",
        "type": "Vehicle",
        "speed": [speed(5, "2018-08-02T00:00:00Z")],
    }
    assert hub.http.post("/temporal/entities", json=late).status_code == 201
    params = {
        "type": "Vehicle",
        "attrs": "speed",
        "options": "temporalValues",
        "count": "true",
        **BETWEEN,
    }
    response = hub.http.get("/temporal/entities", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["NGSILD-Results-Count"] == "1"
    assert [e["id"] for e in response.json()] == [VEHICLE]
    filtered = get(hub, "/temporal/entities", q="speed>110", **params)
    assert [e["id"] for e in filtered] == [VEHICLE]
    assert get(hub, "/temporal/entities", q="speed>500", **params) == []
    response = hub.http.get("/temporal/entities", params={"type": "Vehicle"})
    assert response.status_code == 400 and "timerel" in response.json()["detail"]


def test_query_temporal_via_post(hub):
    create_vehicle(hub)
    body = {
        "type": "Query",
        "entities": [{"type": "Vehicle"}],
        "temporalQ": {"timerel": "after", "timeAt": "2018-08-01T12:04:00Z", "lastN": 1},
        "@context": CORE,
    }
    response = hub.http.post(
        "/temporal/entityOperations/query",
        json=body,
        params={"format": "temporalValues"},
        headers=LD,
    )
    assert response.status_code == 200, response.text
    (entity,) = response.json()
    assert entity["speed"] == {"type": "Property", "values": [[100, "2018-08-01T12:07:00Z"]]}
    assert entity["@context"] == CORE


def test_query_temporal_via_post_ors_every_selector(hub):
    """All EntitySelectors count, OR-ed (clause 5.2.23); not only the first one."""
    create_vehicle(hub)
    bus = {"id": "urn:ngsi-ld:Bus:7", "type": "Bus", "speed": [speed(40, "2018-08-01T12:06:00Z")]}
    car = {"id": "urn:ngsi-ld:Car:9", "type": "Car", "speed": [speed(30, "2018-08-01T12:06:00Z")]}
    for body in (bus, car):
        assert hub.http.post("/temporal/entities", json=body).status_code == 201
    query = {"type": "Query", "temporalQ": BETWEEN}

    def ids(*selectors):
        response = hub.http.post(
            "/temporal/entityOperations/query", json={**query, "entities": list(selectors)}
        )
        assert response.status_code == 200, response.text
        return sorted(e["id"] for e in response.json())

    assert ids({"type": "Vehicle"}, {"type": "Bus"}) == ["urn:ngsi-ld:Bus:7", VEHICLE]
    assert ids({"type": "Vehicle"}, {"type": "Car", "id": "urn:ngsi-ld:Car:9"}) == [
        "urn:ngsi-ld:Car:9",
        VEHICLE,
    ]
    assert ids({"type": "Bus", "idPattern": ".*:8$"}, {"type": "Car"}) == ["urn:ngsi-ld:Car:9"]
    bad = {**query, "entities": [{"type": ["Vehicle"]}]}
    response = hub.http.post("/temporal/entityOperations/query", json=bad)
    assert response.status_code == 400, response.text
    assert "type string" in response.json()["detail"]


def test_modify_and_delete_instances(hub):
    create_vehicle(hub)
    path = f"/temporal/entities/{VEHICLE}"
    first, second, third = get(hub, path)["speed"]
    patch = {"speed": [speed(125, "2018-08-01T12:03:30Z")]}
    response = hub.http.patch(f"{path}/attrs/speed/{first['instanceId']}", json=patch)
    assert response.status_code == 204, response.text
    assert hub.http.delete(f"{path}/attrs/speed/{second['instanceId']}").status_code == 204
    out = get(hub, path)["speed"]
    assert [(i["value"], i["observedAt"], i["instanceId"]) for i in out] == [
        (125, "2018-08-01T12:03:30Z", first["instanceId"]),
        (100, "2018-08-01T12:07:00Z", third["instanceId"]),
    ]
    missing = hub.http.delete(f"{path}/attrs/speed/{second['instanceId']}")
    assert missing.status_code == 404
    assert hub.http.patch(f"{path}/attrs/speed/not-a-uri", json=patch).status_code == 400


def test_add_attrs_and_delete_attribute_and_entity(hub):
    create_vehicle(hub)
    path = f"/temporal/entities/{VEHICLE}"
    gps = {"speed": [speed(7, "2018-08-01T12:01:00Z", datasetId="urn:ngsi-ld:Dataset:gps")]}
    assert hub.http.post(f"{path}/attrs", json=gps).status_code == 204
    out = get(hub, path, format="temporalValues")
    assert [obj.get("datasetId") for obj in out["speed"]] == [None, "urn:ngsi-ld:Dataset:gps"]
    only_gps = get(hub, path, format="temporalValues", datasetId="urn:ngsi-ld:Dataset:gps")
    assert only_gps["speed"]["values"] == [[7, "2018-08-01T12:01:00Z"]]
    assert hub.http.delete(f"{path}/attrs/speed").status_code == 204  # the default instances
    assert get(hub, path)["speed"][0]["datasetId"] == "urn:ngsi-ld:Dataset:gps"
    assert hub.http.delete(f"{path}/attrs/speed", params={"deleteAll": "true"}).status_code == 204
    assert "speed" not in get(hub, path)
    assert hub.http.delete(f"{path}/attrs/speed").status_code == 404
    assert hub.http.delete(path).status_code == 204
    assert hub.http.get(path).status_code == 404
    assert hub.http.post(f"{path}/attrs", json=gps).status_code == 404


def test_partial_content_when_instances_are_cut(hub):
    hub.app.state.settings.temporal_max_instances = 2
    create_vehicle(hub)
    response = hub.http.get(f"/temporal/entities/{VEHICLE}", params=BETWEEN)
    assert response.status_code == 206
    assert [i["value"] for i in response.json()["speed"]] == [120, 80]
    assert response.headers["Content-Range"] == (
        "DateTime 2018-08-01T12:00:00Z-2018-08-01T12:05:00Z/*"
    )
    backwards = hub.http.get(f"/temporal/entities/{VEHICLE}", params={**BETWEEN, "lastN": "3"})
    assert backwards.status_code == 206
    assert [i["value"] for i in backwards.json()["speed"]] == [80, 100]
    assert backwards.headers["Content-Range"].endswith("/3")


def test_projection(hub):
    create_vehicle(hub, name=[speed("Bus", "2018-08-01T12:01:00Z")])
    path = f"/temporal/entities/{VEHICLE}"
    assert set(get(hub, path, attrs="name")) == {"id", "type", "name"}
    assert set(get(hub, path, pick="speed")) == {"speed"}
    assert set(get(hub, path, omit="type,name")) == {"id", "speed"}


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        ({"timerel": "after"}, 400, "BadRequestData"),
        ({"timerel": "after", "timeAt": "noon"}, 400, "BadRequestData"),
        ({"format": "aggregatedValues", "aggrMethods": "median"}, 400, "BadRequestData"),
        ({"lastN": "0"}, 400, "BadRequestData"),
    ],
)
def test_bad_parameters(hub, params, status, error):
    create_vehicle(hub)
    response = hub.http.get(f"/temporal/entities/{VEHICLE}", params=params)
    assert response.status_code == status
    assert response.json()["type"].endswith(error)


def test_errors_on_unknown_things(hub):
    assert hub.http.get("/temporal/entities/urn:ngsi-ld:Vehicle:none").status_code == 404
    assert hub.http.get("/temporal/entities/not-a-uri").status_code == 400
    response = hub.http.get(f"/temporal/entities/{VEHICLE}", headers={"NGSILD-Tenant": "nobody"})
    assert response.status_code == 404 and response.json()["type"].endswith("NonexistentTenant")
    bad = {"id": VEHICLE, "type": "Vehicle", "speed": [speed(1, "yesterday")]}
    assert hub.http.post("/temporal/entities", json=bad).status_code == 400
    assert hub.http.post("/temporal/entities", json={"id": VEHICLE}).status_code == 400


def test_json_ld_response_carries_the_context(hub):
    create_vehicle(hub)
    response = hub.http.get(
        f"/temporal/entities/{VEHICLE}", headers={"Accept": "application/ld+json"}
    )
    assert response.headers["Content-Type"].startswith("application/ld+json")
    assert response.json()["@context"] == CORE
    plain = hub.http.get(f"/temporal/entities/{VEHICLE}")
    assert 'rel="http://www.w3.org/ns/json-ld#context"' in plain.headers["Link"]


def test_geo_and_scope_queries_use_the_time_range(hub):
    def point(lon, at):
        geometry = {"type": "Point", "coordinates": [lon, 37.57]}
        return {"type": "GeoProperty", "value": geometry, "observedAt": at}

    body = {
        "id": VEHICLE,
        "type": "Vehicle",
        "scope": "/Seoul/Jongno",
        "location": [point(126.97, "2018-08-01T12:00:00Z"), point(127.5, "2018-08-01T14:00:00Z")],
        "speed": [speed(10, "2018-08-01T12:00:00Z"), speed(20, "2018-08-01T14:00:00Z")],
    }
    assert hub.http.post("/temporal/entities", json=body).status_code == 201
    near = {
        "georel": "near;maxDistance==2000",
        "geometry": "Point",
        "coordinates": "[126.97,37.57]",
        "type": "Vehicle",
    }
    noon = {"timerel": "before", "timeAt": "2018-08-01T13:00:00Z"}
    later = {"timerel": "after", "timeAt": "2018-08-01T13:00:00Z"}
    assert [e["id"] for e in get(hub, "/temporal/entities", **near, **noon)] == [VEHICLE]
    assert get(hub, "/temporal/entities", **near, **later) == []
    params = {"type": "Vehicle", "attrs": "speed,scope", "format": "temporalValues", **noon}
    (entity,) = get(hub, "/temporal/entities", scopeQ="/Seoul/#", **params)
    assert set(entity) == {"id", "type", "scope", "speed"}
    assert entity["scope"]["values"][0][0] == "/Seoul/Jongno"
    assert get(hub, "/temporal/entities", scopeQ="/Busan", **params) == []


AGGREGATION_CASES = [
    {
        "aggrMethods": "totalCount,distinctCount,sum,avg,min,max,stddev,sumsq",
        "aggrPeriodDuration": "PT7M",
    },
    {"aggrMethods": "avg,max", "aggrPeriodDuration": "P0D"},
    {"aggrMethods": "min,sum", "timerel": "after", "timeAt": "2018-08-01T12:04:00Z"},
    {"aggrMethods": "max,totalCount", "aggrPeriodDuration": "PT2M", **BETWEEN},
    {
        "aggrMethods": "avg",
        "timerel": "before",
        "timeAt": "2018-08-01T12:30:00Z",
        "aggrPeriodDuration": "PT10M",
        "datasetId": "urn:ngsi-ld:Dataset:gps",
    },
    {"aggrMethods": "max", "timeproperty": "modifiedAt", "aggrPeriodDuration": "PT1H"},
]


@pytest.mark.parametrize("params", AGGREGATION_CASES)
def test_aggregation_in_sql_equals_aggregation_of_rows(hub, params):
    """Retrieving one entity aggregates numbers in SQL; querying aggregates the rows in
    Python. Both must give the same periods, values, types and datasets."""
    minutes = [3, 5, 7, 8, 8, 11, 15, 21, 22, 40, 41]
    body = {
        "id": VEHICLE,
        "type": "Vehicle",
        "speed": [
            speed((m * 37) % 23 + 0.5 * (m % 2), f"2018-08-01T12:{m:02d}:00Z") for m in minutes
        ]
        + [
            speed(m * 2, f"2018-08-01T12:{m:02d}:30Z", datasetId="urn:ngsi-ld:Dataset:gps")
            for m in minutes[::2]
        ],
        "fuel": [
            {"type": "JsonProperty", "json": 40 - m, "observedAt": f"2018-08-01T12:{m:02d}:10Z"}
            for m in minutes[:5]
        ],
    }
    assert hub.http.post("/temporal/entities", json=body).status_code == 201
    # A deleted instance takes no part in either path.
    first = get(hub, f"/temporal/entities/{VEHICLE}", attrs="speed")["speed"][0]
    assert (
        hub.http.delete(
            f"/temporal/entities/{VEHICLE}/attrs/speed/{first['instanceId']}"
        ).status_code
        == 204
    )
    full = {"format": "aggregatedValues", **params}
    one = get(hub, f"/temporal/entities/{VEHICLE}", **full)
    query = {"type": "Vehicle", **full}
    query.setdefault("timerel", "after")
    query.setdefault("timeAt", "2000-01-01T00:00:00Z")
    if query != {"type": "Vehicle", **full}:  # the query endpoint needs a timerel
        one = get(
            hub, f"/temporal/entities/{VEHICLE}", **{k: v for k, v in query.items() if k != "type"}
        )
    (many,) = get(hub, "/temporal/entities", **query)
    assert set(one) == set(many) and "speed" in one
    assert _approx(one) == _approx(many)


def _approx(value):
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-12, abs=1e-12)
    if isinstance(value, dict):
        return {k: _approx(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_approx(v) for v in value]
    return value


def test_aggregation_periods_and_times_at_the_ends_of_the_calendar(hub):
    """A period reaching past the year 9999, or an instant before the year 1 in UTC, used to
    fail the rendering with a 500; times before the year 1000 lost their leading zeros."""
    create_vehicle(hub)
    for duration in ("P1000000Y", "P99999999999D", "PT99999999999999999999H"):
        out = get(
            hub,
            f"/temporal/entities/{VEHICLE}",
            options="aggregatedValues",
            aggrMethods="max",
            aggrPeriodDuration=duration,
        )
        assert out["speed"]["max"] == [
            [120, "2018-08-01T12:03:00Z", "9999-12-31T23:59:59Z"]
        ], duration
    early = {"speed": [speed(5, "0001-01-01T00:00:00+14:00")]}
    response = hub.http.post(f"/temporal/entities/{VEHICLE}/attrs", json=early)
    assert response.status_code == 204, response.text
    out = get(
        hub,
        f"/temporal/entities/{VEHICLE}",
        options="aggregatedValues",
        aggrMethods="min",
        aggrPeriodDuration="P0D",
        timerel="before",
        timeAt="2000-01-01T00:00:00Z",
    )
    # 14 hours before the first UTC instant a datetime holds: shown as that instant.
    assert out["speed"]["min"] == [
        [5, "0001-01-01T00:00:00Z", "2000-01-01T00:00:00Z"]
    ]


def test_concurrent_temporal_creates_of_one_entity(hub):
    # Each request read "absent" before writing: several answered 201 Created, and the
    # types of all but the last were lost.
    import threading

    import httpx

    statuses: dict[int, list[int]] = {}

    def client(n: int) -> None:
        with httpx.Client(base_url=hub.api, timeout=60) as http:
            for k in range(6):
                body = {"id": f"urn:ngsi-ld:Gauge:{k}", "type": f"Kind{n}",
                        "level": [{"type": "Property", "value": n,
                                   "observedAt": f"2026-07-01T00:{n:02d}:00Z"}]}  # fmt: skip
                r = http.post("/temporal/entities", json=body)
                statuses.setdefault(k, []).append(r.status_code)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for k in range(6):
        assert sorted(statuses[k]) == [201, 204, 204, 204, 204, 204], statuses
        got = hub.http.get(f"/temporal/entities/urn:ngsi-ld:Gauge:{k}").json()
        assert sorted(got["type"]) == [f"Kind{n}" for n in range(6)]
        assert sorted(i["value"] for i in got["level"]) == list(range(6))
