"""Discovery of entity types and attributes over real HTTP, on SQLite and PostgreSQL.

Clauses 5.7.5 to 5.7.10 (behaviour), 4.5.10 to 4.5.15 and 5.2.24 to 5.2.28
(representations), 6.25 to 6.28 (HTTP binding).
"""

from __future__ import annotations

import re

import pytest

ERR = "https://uri.etsi.org/ngsi-ld/errors/"
CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
LOCATION = "https://uri.etsi.org/ngsi-ld/location"
URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


def ok(response):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert CORE in response.headers["link"]
    return response.json()


def not_found(response):
    assert response.status_code == 404, response.text
    assert response.json()["type"] == ERR + "ResourceNotFound"


@pytest.fixture
def city(hub):
    bodies = [
        {
            "id": "urn:ngsi-ld:Building:1",
            "type": ["Building", "Office"],
            "name": "Hall",
            "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:1"},
            "location": {"type": "Point", "coordinates": [126.97, 37.56]},
        },
        {
            "id": "urn:ngsi-ld:Building:2",
            "type": "Building",
            "name": [
                {"type": "Property", "value": "Tower"},
                {"type": "Property", "value": "Tour", "datasetId": "urn:ngsi-ld:dataset:fr"},
            ],
            "street": {"type": "LanguageProperty", "languageMap": {"ko": "세종대로"}},
        },
        {
            "id": "urn:ngsi-ld:Vehicle:1",
            "type": "Vehicle",
            "name": {"type": "Relationship", "object": "urn:ngsi-ld:Name:1"},
        },
    ]
    for body in bodies:
        assert hub.http.post("/entities", json=body).status_code == 201
    return hub


def test_empty_lists(hub):
    types = ok(hub.http.get("/types"))
    assert set(types) == {"id", "type", "typeList"}
    assert URI.match(types["id"]) and types["type"] == "EntityTypeList" and types["typeList"] == []
    attrs = ok(hub.http.get("/attributes"))
    assert URI.match(attrs["id"]) and attrs["type"] == "AttributeList"
    assert attrs["attributeList"] == []
    assert ok(hub.http.get("/types", params={"details": "true"})) == []
    assert ok(hub.http.get("/attributes", params={"details": "true"})) == []


def test_entity_type_list(city):
    """Clauses 4.5.10, 5.2.24."""
    body = ok(city.http.get("/types"))
    assert body["type"] == "EntityTypeList" and URI.match(body["id"])
    assert sorted(body["typeList"]) == ["Building", "Office", "Vehicle"]
    assert ok(city.http.get("/types", params={"details": "false"}))["typeList"] == body["typeList"]


def test_detailed_entity_type_list(city):
    """Clauses 4.5.11, 5.2.25."""
    body = ok(city.http.get("/types", params={"details": "true"}))
    by_id = {item["id"]: item for item in body}
    assert len(body) == 3
    assert by_id[DEFAULT + "Building"] == {
        "id": DEFAULT + "Building",
        "type": "EntityType",
        "typeName": "Building",
        "attributeNames": ["location", "name", "owner", "street"],
    }
    assert sorted(by_id[DEFAULT + "Office"]["attributeNames"]) == ["location", "name", "owner"]
    assert by_id[DEFAULT + "Vehicle"]["attributeNames"] == ["name"]


def test_entity_type_information(city):
    """Clauses 4.5.12, 5.2.26: entityCount and the attributes of that type."""
    body = ok(city.http.get("/types/Building"))
    assert {k: v for k, v in body.items() if k != "attributeDetails"} == {
        "id": DEFAULT + "Building",
        "type": "EntityTypeInfo",
        "typeName": "Building",
        "entityCount": 2,
    }
    details = {d["attributeName"]: d for d in body["attributeDetails"]}
    assert details == {
        "name": {"id": DEFAULT + "name", "type": "Attribute", "attributeName": "name",
                 "attributeTypes": ["Property"]},
        "owner": {"id": DEFAULT + "owner", "type": "Attribute", "attributeName": "owner",
                  "attributeTypes": ["Relationship"]},
        "street": {"id": DEFAULT + "street", "type": "Attribute", "attributeName": "street",
                   "attributeTypes": ["LanguageProperty"]},
        "location": {"id": LOCATION, "type": "Attribute", "attributeName": "location",
                     "attributeTypes": ["GeoProperty"]},
    }  # fmt: skip
    assert ok(city.http.get("/types/Vehicle"))["attributeDetails"] == [
        {"id": DEFAULT + "name", "type": "Attribute", "attributeName": "name",
         "attributeTypes": ["Relationship"]},
    ]  # fmt: skip
    # The type may also be given as a full IRI.
    assert ok(city.http.get(f"/types/{DEFAULT}Office"))["entityCount"] == 1


def test_attribute_list(city):
    """Clauses 4.5.13, 5.2.27."""
    body = ok(city.http.get("/attributes"))
    assert body["type"] == "AttributeList" and URI.match(body["id"])
    assert sorted(body["attributeList"]) == ["location", "name", "owner", "street"]


def test_detailed_attribute_list(city):
    """Clauses 4.5.14, 5.7.9: restricted to id, type, attributeName and typeNames."""
    body = ok(city.http.get("/attributes", params={"details": "true"}))
    by_name = {item["attributeName"]: item for item in body}
    assert by_name["name"] == {
        "id": DEFAULT + "name",
        "type": "Attribute",
        "attributeName": "name",
        "typeNames": ["Building", "Office", "Vehicle"],
    }
    assert by_name["location"] == {
        "id": LOCATION,
        "type": "Attribute",
        "attributeName": "location",
        "typeNames": ["Building", "Office"],
    }
    assert by_name["street"]["typeNames"] == ["Building"]


def test_attribute_information(city):
    """Clauses 4.5.15, 5.2.28: attributeCount counts instances."""
    assert ok(city.http.get("/attributes/name")) == {
        "id": DEFAULT + "name",
        "type": "Attribute",
        "attributeName": "name",
        "attributeCount": 4,
        "attributeTypes": ["Property", "Relationship"],
        "typeNames": ["Building", "Office", "Vehicle"],
    }
    # One entity with two types has one location instance, counted once.
    assert ok(city.http.get("/attributes/location")) == {
        "id": LOCATION,
        "type": "Attribute",
        "attributeName": "location",
        "attributeCount": 1,
        "attributeTypes": ["GeoProperty"],
        "typeNames": ["Building", "Office"],
    }


def test_discovery_not_found_and_bad_details(city):
    not_found(city.http.get("/types/Ship"))
    not_found(city.http.get("/attributes/colour"))
    response = city.http.get("/types", params={"details": "yes"})
    assert response.status_code == 400 and response.json()["type"] == ERR + "BadRequestData"


def test_discovery_follows_deletes_and_tenants(city):
    assert city.http.delete("/entities/urn:ngsi-ld:Vehicle:1").status_code == 204
    assert sorted(ok(city.http.get("/types"))["typeList"]) == ["Building", "Office"]
    not_found(city.http.get("/types/Vehicle"))
    assert ok(city.http.get("/attributes/name"))["attributeTypes"] == ["Property"]
    tenant = {"NGSILD-Tenant": "busan"}
    city.http.post("/entities", json={"id": "urn:ngsi-ld:Ship:1", "type": "Ship"}, headers=tenant)
    response = city.http.get("/types", headers=tenant)
    assert ok(response)["typeList"] == ["Ship"]
    assert response.headers["ngsild-tenant"] == "busan"
    assert ok(city.http.get("/attributes", headers=tenant))["attributeList"] == []


def test_discovery_ld_json_and_user_context(city):
    response = city.http.get("/types", headers={"Accept": "application/ld+json"})
    assert response.headers["content-type"] == "application/ld+json"
    assert response.json()["@context"] == CORE
    detailed = city.http.get(
        "/types", params={"details": "true"}, headers={"Accept": "application/ld+json"}
    ).json()
    assert all(item["@context"] == CORE for item in detailed)
