"""Entity ordering (clause 4.23.3): orderBy, collation, orderFrom, orderGeometry.

The parser and the sort as pure functions, then queries over real HTTP on both backends
(GET /entities and POST /entityOperations/query).
"""

from __future__ import annotations

import pytest

from conftest import problem
from smartseoul.hub.errors import BadRequestData
from smartseoul.hub.ordering import parse_ordering, sort_entities

EX = "https://example.org/"


def expand(term: str) -> str:
    return term if ":" in term else EX + term


def prop(value, **more) -> list[dict]:
    return [{"type": "Property", "value": value, **more}]


def stored(eid: str, **attrs) -> dict:
    return {"id": eid, "type": [EX + "Person"], "attrs": {EX + k: v for k, v in attrs.items()}}


def order(entities: list[dict], text: str, **params) -> list[str]:
    ordering = parse_ordering(
        text, params.get("collation"), params.get("orderFrom"), None, expand
    )
    assert ordering is not None
    return [e["id"] for e in sort_entities(entities, ordering)]


PEOPLE = [
    stored("p1", name=prop("bora"), age=prop(30)),
    stored("p2", name=prop("Ahn"), age=prop(25)),
    stored("p3", name=prop("chul"), age=prop(30)),
    stored("p4", name=prop("Dami")),  # no age
    stored("p5", name=prop("ahn"), age=prop(41, observedAt="2026-01-01T00:00:00Z")),
]


def test_terms_directions_and_missing_values() -> None:
    assert order(PEOPLE, "age") == ["p2", "p1", "p3", "p5", "p4"]  # ties keep their order
    assert order(PEOPLE, "age;desc") == ["p5", "p1", "p3", "p2", "p4"]  # missing still last
    assert order(PEOPLE, "age,name;desc") == ["p2", "p3", "p1", "p5", "p4"]
    assert order(PEOPLE, "name") == ["p2", "p4", "p5", "p1", "p3"]  # code points: upper first
    assert order(PEOPLE, "name", collation="und-u-ks-level2") == ["p2", "p5", "p1", "p3", "p4"]
    assert order(PEOPLE, "id;desc") == ["p5", "p4", "p3", "p2", "p1"]
    assert order(PEOPLE, "age.observedAt") == ["p5", "p1", "p2", "p3", "p4"]


def test_values_of_other_kinds_and_instances() -> None:
    people = [
        stored("a", v=prop("text")),
        stored("b", v=prop(True)),
        stored("c", v=prop(7)),
        stored("d", v=[{"type": "Relationship", "object": "urn:x:1"}]),
        stored("e", v=[{"type": "Property", "value": 1, "datasetId": "urn:ds:1"},
                       {"type": "Property", "value": 9}]),  # fmt: skip
        stored("f", v=prop({"city": "Seoul"})),
    ]
    # numbers, then strings (a Relationship orders by its object), then booleans; the
    # default instance wins over a dataset's; a compound value without a scalar is missing
    assert order(people, "v") == ["c", "e", "a", "d", "b", "f"]
    assert order(people, "v[city]") == ["f", "a", "b", "c", "d", "e"]


def test_order_by_distance() -> None:
    def at(eid: str, lon: float, lat: float) -> dict:
        return stored(eid, location=[{"type": "GeoProperty",
                                      "value": {"type": "Point", "coordinates": [lon, lat]}}])  # fmt: skip

    places = [at("far", 127.10, 37.50), at("near", 126.98, 37.57), at("mid", 127.02, 37.55),
              stored("none", name=prop("x"))]  # fmt: skip
    assert order(places, "location;dist-asc", orderFrom="[126.978,37.566]") == [
        "near", "mid", "far", "none"
    ]
    assert order(places, "location;dist-desc", orderFrom=[126.978, 37.566]) == [
        "far", "mid", "near", "none"
    ]


@pytest.mark.parametrize(
    ("order_by", "collation", "order_from", "geometry"),
    [
        ("age;sideways", None, None, None),
        ("", None, None, None),
        ("age;", None, None, "Point"),
        ("location;dist-asc", None, None, None),
        ("location;dist-asc", None, "[1,2,3,4]", None),
        ("id;dist-asc", None, "[1,2]", None),
        ("age", "not a tag!", None, None),
        ("age", None, "[126.9,37.5]", None),
        (None, "und", None, None),
        ("age>3", None, None, None),
    ],
)
def test_invalid_ordering_is_bad_request(order_by, collation, order_from, geometry) -> None:
    with pytest.raises(BadRequestData):
        parse_ordering(order_by, collation, order_from, geometry, expand)


# -- over HTTP -----------------------------------------------------------------------------

LOCAL = {"local": "true"}


def load(hub) -> None:
    rows = [("p1", "bora", 30, [127.10, 37.50]), ("p2", "Ahn", 25, [126.98, 37.57]),
            ("p3", "chul", 30, [127.02, 37.55]), ("p4", "Dami", None, [126.90, 37.60]),
            ("p5", "ahn", 41, [126.99, 37.56])]  # fmt: skip
    for eid, name, age, point in rows:
        body = {"id": f"urn:ngsi-ld:Person:{eid}", "type": "Person",
                "name": {"type": "Property", "value": name},
                "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": point}}}  # fmt: skip
        if age is not None:
            body["age"] = {"type": "Property", "value": age}
        assert hub.http.post("/entities", json=body).status_code == 201


def short(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [e["id"].rsplit(":", 1)[1] for e in response.json()]


def test_query_orders_pages_and_counts(hub) -> None:
    load(hub)
    get = hub.http.get
    assert short(get("/entities", params={"type": "Person", "orderBy": "age", **LOCAL})) == [
        "p2", "p1", "p3", "p5", "p4"]  # fmt: skip
    assert short(get("/entities", params={"type": "Person", "orderBy": "age;desc,name",
                                          **LOCAL})) == ["p5", "p1", "p3", "p2", "p4"]  # fmt: skip
    paged = get("/entities", params={"type": "Person", "orderBy": "name", "limit": 2,
                                     "offset": 2, "count": "true", **LOCAL})  # fmt: skip
    assert short(paged) == ["p5", "p1"]
    assert paged.headers["NGSILD-Results-Count"] == "5"
    assert 'rel="next"' in paged.headers["link"] and 'rel="prev"' in paged.headers["link"]
    near = get("/entities", params={"type": "Person", "orderBy": "location;dist-asc",
                                    "orderFrom": "[126.978,37.566]", **LOCAL})  # fmt: skip
    assert short(near) == ["p2", "p5", "p3", "p4", "p1"]  # 0.5, 1.3, 4.1, 7.9, 13 km
    filtered = get("/entities", params={"type": "Person", "q": "age>26", "orderBy": "age;desc",
                                        "options": "keyValues", **LOCAL})  # fmt: skip
    assert short(filtered) == ["p5", "p1", "p3"]
    folded = get("/entities", params={"type": "Person", "orderBy": "name",
                                      "collation": "und-u-ks-level2", **LOCAL})  # fmt: skip
    assert short(folded) == ["p2", "p5", "p1", "p3", "p4"]


def test_post_query_with_ordering_params(hub) -> None:
    load(hub)
    body = {"type": "Query", "entities": [{"type": "Person"}], "local": True,
            "ordering": {"orderBy": ["location;dist-desc"], "coordinates": [126.978, 37.566],
                         "geometry": "Point"}}  # fmt: skip
    assert short(hub.http.post("/entityOperations/query", json=body)) == [
        "p1", "p4", "p3", "p5", "p2"]  # fmt: skip


def test_ordering_errors_are_bad_request_data(hub) -> None:
    load(hub)
    get = hub.http.get
    # Clause 5.7.2.4: ordering needs the query limited to the local scope.
    problem(get("/entities", params={"type": "Person", "orderBy": "age"}), 400, "BadRequestData")
    problem(get("/entities", params={"type": "Person", "orderBy": "location;dist-asc", **LOCAL}),
            400, "BadRequestData")  # fmt: skip
    problem(get("/entities", params={"type": "Person", "orderBy": "age", "collation": "x y",
                                     **LOCAL}), 400, "BadRequestData")  # fmt: skip
    body = {"type": "Query", "entities": [{"type": "Person"}], "local": True, "ordering": "age"}
    problem(hub.http.post("/entityOperations/query", json=body), 400, "BadRequestData")
