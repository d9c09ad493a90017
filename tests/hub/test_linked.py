"""Linked Entity Retrieval (clause 4.5.23) over real HTTP, on SQLite and PostgreSQL.

``join=inline`` (4.5.23.2) and ``join=flat`` (4.5.23.3) on retrieve (5.7.1.5) and query
(5.7.2.5, 6.23), ``joinLevel``, ``containedBy``, nested projections (4.21) and the errors of
clauses 5.7.1.4 / 5.7.2.4. The entities follow the Vehicle / OffStreetParking example of
annex C.2.2.
"""

from __future__ import annotations

import pytest

from conftest import problem

V1 = "urn:ngsi-ld:Vehicle:A4567"
V2 = "urn:ngsi-ld:Vehicle:B123"
PARK = "urn:ngsi-ld:OffStreetParking:Downtown1"
CORP = "urn:ngsi-ld:Company:BigParkingCorp"
BOB = "urn:ngsi-ld:Person:Bob"
GONE = "urn:ngsi-ld:OffStreetParking:NotHere"

ENTITIES = [
    {
        "id": V1,
        "type": "Vehicle",
        "brandName": {"type": "Property", "value": "Mercedes"},
        "isParked": {
            "type": "Relationship",
            "object": PARK,
            "objectType": "OffStreetParking",
            "observedAt": "2017-07-29T12:00:04Z",
            "providedBy": {"type": "Relationship", "object": BOB},
        },
        "route": {
            "type": "ListRelationship",
            "objectList": [{"object": CORP}, {"object": GONE}, {"object": PARK}],
        },
    },
    {
        "id": V2,
        "type": "Vehicle",
        "brandName": {"type": "Property", "value": "Hyundai"},
        "isParked": {"type": "Relationship", "object": GONE},
    },
    {
        "id": PARK,
        "type": "OffStreetParking",
        "name": {"type": "Property", "value": "Top Parking"},
        "availableSpotNumber": {"type": "Property", "value": 121},
        "operatedBy": {"type": "Relationship", "object": CORP},
    },
    {
        "id": CORP,
        "type": "Company",
        "name": {"type": "Property", "value": "Big Parking Corp"},
        "owns": {"type": "Relationship", "object": PARK},  # a loop back to the parking
    },
]


@pytest.fixture
def city(hub):
    response = hub.http.post("/entityOperations/create", json=ENTITIES)
    assert response.status_code == 201, response.text
    return hub


def get(hub, entity_id: str, **params):
    response = hub.http.get(f"/entities/{entity_id}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def query(hub, **params):
    response = hub.http.get("/entities", params=params)
    assert response.status_code == 200, response.text
    return response


def test_inline_normalized_adds_entity_to_the_relationship(city):
    body = get(city, V1, join="inline")
    parked = body["isParked"]
    assert parked["object"] == PARK and parked["objectType"] == "OffStreetParking"
    assert parked["observedAt"] == "2017-07-29T12:00:04Z"
    assert parked["entity"] == {
        "id": PARK,
        "type": "OffStreetParking",
        "name": {"type": "Property", "value": "Top Parking"},
        "availableSpotNumber": {"type": "Property", "value": 121},
        # joinLevel 1: the parking's own Relationship stays a plain one
        "operatedBy": {"type": "Relationship", "object": CORP},
    }
    # The sub-Relationship providedBy targets no stored entity and is left alone.
    assert parked["providedBy"] == {"type": "Relationship", "object": BOB}
    # ListRelationship: entityList holds the stored targets in objectList order.
    assert [e["id"] for e in body["route"]["entityList"]] == [CORP, PARK]
    assert body["route"]["objectList"] == [{"object": CORP}, {"object": GONE}, {"object": PARK}]
    assert body["brandName"] == {"type": "Property", "value": "Mercedes"}
    # Without join the answer is as before.
    plain = get(city, V1)
    assert "entity" not in plain["isParked"] and "entityList" not in plain["route"]
    assert get(city, V1, join="@none") == plain


def test_inline_concise_and_key_values(city):
    concise = get(city, V1, join="inline", format="concise")
    assert concise["isParked"]["entity"] == {
        "id": PARK,
        "type": "OffStreetParking",
        "name": "Top Parking",
        "availableSpotNumber": 121,
        "operatedBy": {"object": CORP},
    }
    simple = get(city, V1, join="inline", options="keyValues")
    # Annex C.2.2: the Linked Entity stands in place of the URI.
    assert simple["isParked"] == {
        "id": PARK,
        "type": "OffStreetParking",
        "name": "Top Parking",
        "availableSpotNumber": 121,
        "operatedBy": CORP,
    }
    # A target with nothing to show keeps its URI, so the list keeps the objects' order.
    assert [e if isinstance(e, str) else e["id"] for e in simple["route"]] == [CORP, GONE, PARK]


def test_join_level_follows_more_hops_and_stops_at_loops(city):
    body = get(city, V1, join="inline", joinLevel="2", options="keyValues")
    assert body["isParked"]["operatedBy"]["id"] == CORP
    # CORP owns PARK, which is on the path already: left as a URI, no endless nesting.
    assert body["isParked"]["operatedBy"]["owns"] == PARK
    deep = get(city, V1, join="inline", joinLevel="5", options="keyValues")
    assert deep["isParked"]["operatedBy"]["owns"] == PARK
    # containedBy: URIs encountered earlier are not expanded.
    body = get(city, V1, join="inline", containedBy=PARK, options="keyValues")
    assert body["isParked"] == PARK
    assert [e if isinstance(e, str) else e["id"] for e in body["route"]] == [CORP, GONE, PARK]
    assert isinstance(body["route"][0], dict) and body["route"][2] == PARK


def test_flat_retrieve_appends_each_linked_entity_once(city):
    body = get(city, V1, join="flat")
    assert [e["id"] for e in body] == [V1, PARK, CORP]  # PARK is linked twice, shown once
    assert body[0]["isParked"] == ENTITIES[0]["isParked"]
    assert body[1]["name"] == {"type": "Property", "value": "Top Parking"}
    # Level 2 reaches nothing new (CORP -> PARK is known); level 1 from the parking:
    assert [e["id"] for e in get(city, PARK, join="flat")] == [PARK, CORP]
    assert [e["id"] for e in get(city, PARK, join="flat", joinLevel="2")] == [PARK, CORP]
    geo = city.http.get(
        f"/entities/{V1}", params={"join": "flat"}, headers={"Accept": "application/geo+json"}
    )
    assert geo.status_code == 200
    assert geo.json()["type"] == "FeatureCollection"
    assert [f["id"] for f in geo.json()["features"]] == [V1, PARK, CORP]


def test_flat_query_appends_after_the_page_and_counts_matches_only(city):
    response = query(city, type="Vehicle", join="flat", count="true")
    assert response.headers["NGSILD-Results-Count"] == "2"
    assert [e["id"] for e in response.json()] == [V1, V2, PARK, CORP]
    inline = query(city, type="Vehicle", join="inline", options="keyValues").json()
    assert [e["id"] for e in inline] == [V1, V2]
    assert inline[0]["isParked"]["id"] == PARK
    assert inline[1]["isParked"] == GONE  # not stored here: stays a URI
    posted = city.http.post(
        "/entityOperations/query",
        json={"type": "Query", "entities": [{"type": "Vehicle"}], "join": "flat", "joinLevel": 2},
    )
    assert posted.status_code == 200, posted.text
    assert [e["id"] for e in posted.json()] == [V1, V2, PARK, CORP]


def test_nested_projection_picks_in_linked_entities(city):
    body = get(city, V1, join="inline", pick="id,isParked{name}", options="keyValues")
    assert body == {
        "id": V1,
        "isParked": {"id": PARK, "type": "OffStreetParking", "name": "Top Parking"},
    }
    # omit=rel{a}: the relationship stays, a goes from its Linked Entities.
    body = get(city, V1, join="inline", omit="isParked{availableSpotNumber,operatedBy}")
    assert set(body["isParked"]["entity"]) == {"id", "type", "name"}
    assert "brandName" in body
    # A plain pick applies to the Linked Entities too (clause 5.7.1.5).
    # Only returned Relationships are followed: route is not picked, so CORP is not joined.
    flat = get(city, V1, join="flat", pick="id,name,brandName,isParked", options="keyValues")
    assert flat == [
        {"id": V1, "brandName": "Mercedes", "isParked": PARK},
        {"id": PARK, "name": "Top Parking"},
    ]


def test_join_errors(city):
    path = f"/entities/{V1}"
    for params in (
        {"join": "deep"},
        {"join": "inline", "joinLevel": "0"},
        {"join": "inline", "joinLevel": "two"},
        {"join": "flat", "containedBy": "not a uri"},
        {"pick": "isParked{name}"},  # a linked projection needs join (5.7.1.4)
        {"pick": "isParked{operatedBy{name}}", "join": "inline"},  # deeper than joinLevel 1
    ):
        problem(city.http.get(path, params=params), 400, "BadRequestData")
    # A linked-entity filter without join is a bad request (clause 5.7.2.4).
    problem(
        city.http.get("/entities", params={"type": "Vehicle", "q": "isParked{name}==1"}),
        400,
        "BadRequestData",
    )
    # Deep enough projection is fine.
    body = get(city, V1, join="inline", joinLevel="2", pick="isParked{operatedBy{name}}")
    assert body["isParked"]["entity"]["operatedBy"]["entity"] == {
        "id": CORP,
        "type": "Company",
        "name": {"type": "Property", "value": "Big Parking Corp"},
    }


def test_q_on_linked_entities(city):
    def ids(q: str, **params) -> list[str]:
        response = query(city, type="Vehicle", q=q, join="flat", **params)
        return [e["id"] for e in response.json() if e["type"] == "Vehicle"]

    assert ids('isParked{name}=="Top Parking"') == [V1]
    assert ids("isParked{availableSpotNumber}>100") == [V1]
    assert ids("isParked{availableSpotNumber}>200") == []
    assert ids("isParked{availableSpotNumber}") == [V1]  # V2's target is not stored here
    # An entity type hint (clause 4.9, example 14).
    assert ids("isParked{OffStreetParking:availableSpotNumber}==121") == [V1]
    assert ids("isParked{Company,Person:availableSpotNumber}==121") == []
    # A ListRelationship links too; AND / OR with plain terms.
    assert ids('route{name}=="Big Parking Corp"') == [V1]
    assert ids('isParked{name}=="Nowhere"|brandName=="Hyundai"') == [V2]
    assert ids('isParked{name}=="Top Parking";brandName=="Hyundai"') == []
    # Two hops need joinLevel 2 (clause 5.7.2.4).
    deep = 'isParked{operatedBy{name}}=="Big Parking Corp"'
    assert ids(deep, joinLevel="2") == [V1]
    problem(
        city.http.get("/entities", params={"type": "Vehicle", "q": deep, "join": "flat"}),
        400,
        "BadRequestData",
    )
    response = query(city, type="Vehicle", q="isParked{name}", join="inline", count="true")
    assert response.headers["NGSILD-Results-Count"] == "1"
    assert [e["id"] for e in response.json()] == [V1]
    # The temporal API has no Linked Entity retrieval: such a filter is a bad request.
    problem(
        city.http.get(
            "/temporal/entities",
            params={
                "type": "Vehicle",
                "q": "isParked{name}",
                "join": "flat",
                "timerel": "after",
                "timeAt": "2000-01-01T00:00:00Z",
            },
        ),
        400,
        "BadRequestData",
    )
    problem(
        city.http.get(
            "/entities", params={"type": "Vehicle", "q": "isParked{name", "join": "flat"}
        ),
        400,
        "BadRequestData",
    )
