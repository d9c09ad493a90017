"""Context information provision over real HTTP, on SQLite and PostgreSQL.

Clauses 5.6.1 to 5.6.6 and 5.6.17 to 5.6.19 (behaviour), 5.5.8 / 5.5.12 (patch and merge
examples), 6.4 to 6.7 (HTTP binding), 4.5.x (attribute representations).
"""

from __future__ import annotations

import pytest

ERR = "https://uri.etsi.org/ngsi-ld/errors/"
NGSI = "https://uri.etsi.org/ngsi-ld/"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
B1 = "urn:ngsi-ld:Building:b1"
NULL = "urn:ngsi-ld:null"


def problem(response, status: int, kind: str) -> dict:
    """An error response as clauses 5.5.3 and 6.3.3 want it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert "link" not in response.headers
    body = response.json()
    assert body["type"] == ERR + kind
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def no_content(response, status: int = 204) -> None:
    assert response.status_code == status, response.text
    assert response.content == b""
    assert "link" not in response.headers
    if status == 204:
        assert "content-length" not in response.headers  # clause 6.3.6
        assert "content-type" not in response.headers


def create(hub, body: dict, **kw) -> None:
    response = hub.http.post("/entities", json=body, **kw)
    assert response.status_code == 201, response.text


def get(hub, entity_id: str = B1, **params) -> dict:
    response = hub.http.get(f"/entities/{entity_id}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def building(**attrs) -> dict:
    return {"id": B1, "type": "Building", **attrs}


TEMPERATURE = {
    "type": "Property",
    "value": 25,
    "unitCode": "CEL",
    "observedAt": "2022-03-14T01:59:26.535Z",
}


# -- create (5.6.1, 6.4.3.1) ---------------------------------------------------------------
def test_create_answers_201_with_location_and_no_body(hub):
    response = hub.http.post("/entities", json=building(name={"type": "Property", "value": "A"}))
    no_content(response, 201)
    assert response.headers["location"] == f"/ngsi-ld/v1/entities/{B1}"
    assert get(hub) == {"id": B1, "type": "Building", "name": {"type": "Property", "value": "A"}}


EVERY_KIND = {
    "temperature": {
        **TEMPERATURE,
        "accuracy": {"type": "Property", "value": 0.5},
        "measuredBy": {"type": "Relationship", "object": "urn:ngsi-ld:Sensor:s1"},
    },
    "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:p1", "objectType": "Person"},
    "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [126.97, 37.56]}},
    "street": {"type": "LanguageProperty", "languageMap": {"ko": "세종대로", "en": "Sejong-daero"}},
    "category": {"type": "VocabProperty", "vocab": "Office"},
    "config": {"type": "JsonProperty", "json": {"id": "raw", "value": [1, 2]}},
    "floors": {"type": "ListProperty", "valueList": [1, 2, 3]},
    "route": {
        "type": "ListRelationship",
        "objectList": [{"object": "urn:ngsi-ld:Stop:1"}, {"object": "urn:ngsi-ld:Stop:2"}],
    },
    "address": {"type": "Property", "value": {"city": "Seoul", "zip": "04524"}},
}


def test_every_attribute_kind_round_trips_normalized(hub):
    create(hub, building(scope="/Seoul/Jung", **EVERY_KIND))
    assert get(hub) == {"id": B1, "type": "Building", "scope": "/Seoul/Jung", **EVERY_KIND}


def test_concise_input_is_stored_normalized(hub):
    """Clauses 4.5.2.3, 4.5.3.3, 4.7.3, 4.5.18.3 to 4.5.24.3: types inferred."""
    create(
        hub,
        building(
            name="Seoul City Hall",
            height={"value": 42, "unitCode": "MTR"},
            owner={"object": "urn:ngsi-ld:Person:p1"},
            location={"type": "Point", "coordinates": [126.97, 37.56]},
            street={"languageMap": {"ko": "세종대로"}},
            category={"vocab": "Office"},
            config={"json": {"a": 1}},
            floors={"valueList": [1, 2]},
            route={"objectList": ["urn:ngsi-ld:Stop:1"]},
        ),
    )
    assert get(hub) == {
        "id": B1,
        "type": "Building",
        "name": {"type": "Property", "value": "Seoul City Hall"},
        "height": {"type": "Property", "value": 42, "unitCode": "MTR"},
        "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:p1"},
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [126.97, 37.56]},
        },
        "street": {"type": "LanguageProperty", "languageMap": {"ko": "세종대로"}},
        "category": {"type": "VocabProperty", "vocab": "Office"},
        "config": {"type": "JsonProperty", "json": {"a": 1}},
        "floors": {"type": "ListProperty", "valueList": [1, 2]},
        "route": {"type": "ListRelationship", "objectList": [{"object": "urn:ngsi-ld:Stop:1"}]},
    }


def test_create_twice_is_409_already_exists(hub):
    create(hub, building(name="A"))
    body = problem(hub.http.post("/entities", json=building(name="B")), 409, "AlreadyExists")
    assert B1 in body["detail"]
    assert get(hub)["name"]["value"] == "A"


def test_multi_types_and_multi_attribute_instances(hub):
    create(
        hub,
        building(
            type=["Building", "Office"],
            speed=[
                {"type": "Property", "value": 10},
                {"type": "Property", "value": 11, "datasetId": "urn:ngsi-ld:dataset:gps"},
            ],
        ),
    )
    out = get(hub)
    assert out["type"] == ["Building", "Office"]
    assert out["speed"] == [
        {"type": "Property", "value": 10},
        {"type": "Property", "value": 11, "datasetId": "urn:ngsi-ld:dataset:gps"},
    ]


RING = [[126.9, 37.5], [127.0, 37.5], [127.0, 37.6], [126.9, 37.5]]
BAD_ENTITIES = [
    pytest.param({"type": "Building"}, id="no-id"),
    pytest.param({"id": B1}, id="no-type"),
    pytest.param({"id": "not a uri", "type": "Building"}, id="id-not-uri"),
    pytest.param({"id": 42, "type": "Building"}, id="id-number"),
    pytest.param({"id": B1, "type": []}, id="type-empty"),
    pytest.param({"id": B1, "type": "Bad<Type>"}, id="type-bad-chars"),
    pytest.param(building(p={"type": "Property"}), id="property-without-value"),
    pytest.param(building(p={"type": "Property", "value": None}), id="property-null"),
    pytest.param(building(p=None), id="attribute-null"),
    pytest.param(building(p=NULL), id="attribute-ngsi-null"),
    pytest.param(building(p={"type": "Property", "value": NULL}), id="value-ngsi-null"),
    pytest.param(
        building(r={"type": "Relationship", "object": "not a uri"}), id="rel-object-not-uri"
    ),
    pytest.param(building(r={"type": "Relationship", "value": "urn:a:b"}), id="rel-without-object"),
    pytest.param(
        building(g={"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1]}}),
        id="geo-short-point",
    ),
    pytest.param(
        building(g={"type": "GeoProperty", "value": {"type": "Point", "coordinates": ["a", "b"]}}),
        id="geo-text-coordinates",
    ),
    pytest.param(
        building(g={"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": [1, 2]}}),
        id="geo-bad-polygon",
    ),
    pytest.param(building(g={"type": "GeoProperty", "value": "Seoul"}), id="geo-not-geojson"),
    # Concise geometries used to be stored unchecked (and then matched no geo-query).
    pytest.param(building(location={"type": "Point", "coordinates": "x"}), id="geo-concise-text"),
    pytest.param(building(location={"type": "Point", "coordinates": [1]}), id="geo-concise-short"),
    pytest.param(
        building(location={"type": "LineString", "coordinates": [[1, 2]]}), id="geo-one-point-line"
    ),
    pytest.param(
        building(
            g={"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": [RING[:-1]]}}
        ),
        id="geo-open-ring",
    ),
    pytest.param(
        building(location={"type": "MultiPolygon", "coordinates": [[RING[:3]]]}),
        id="geo-concise-short-ring",
    ),
    pytest.param(
        building(location={"type": "Point", "coordinates": [226.97, 37.56]}),
        id="geo-longitude-out-of-range",
    ),
    pytest.param(building(location={"type": "Property", "value": "Seoul"}), id="location-property"),
    pytest.param(building(location="Seoul"), id="location-concise-string"),
    pytest.param(
        building(p={"type": "Property", "value": 1, "observedAt": "yesterday"}), id="bad-observedAt"
    ),
    pytest.param(
        building(p={"type": "Property", "value": 1, "observedAt": "2024-13-45T99:00:00Z"}),
        id="impossible-observedAt",
    ),
    pytest.param(building(p={"type": "Unknown", "value": 1}), id="unknown-attribute-type"),
    pytest.param(building(**{"bad<name": 1}), id="bad-attribute-name"),
    # JSON-LD keywords were stored as attributes and came back over the entity's members:
    # "@id" as {"id": {"type": "Property", "value": ...}}.
    pytest.param(building(**{"@id": "urn:ngsi-ld:Building:other"}), id="keyword-@id"),
    pytest.param(building(**{"@type": "Other"}), id="keyword-@type"),
    pytest.param(building(p={"type": "Property", "value": 1, "@value": 2}), id="sub-keyword"),
    pytest.param(building(p={"@type": "Property", "value": 1}), id="attribute-@type"),
    pytest.param(
        building(p={"type": "Property", "value": 1, "datasetId": "not a uri"}),
        id="datasetId-not-uri",
    ),
    pytest.param(
        building(p=[{"type": "Property", "value": 1}, {"type": "Property", "value": 2}]),
        id="two-default-instances",
    ),
    pytest.param(building(l={"type": "ListProperty", "valueList": 5}), id="valueList-not-array"),
    pytest.param(
        building(l={"type": "LanguageProperty", "languageMap": {"en": 5}}), id="languageMap-number"
    ),
    pytest.param(
        building(l={"type": "ListRelationship", "objectList": ["nope"]}), id="objectList-not-uri"
    ),
    pytest.param(building(v={"type": "VocabProperty", "vocab": 5}), id="vocab-number"),
    pytest.param(building(scope="no-slash"), id="bad-scope"),
    pytest.param(
        building(p={"type": "Property", "value": {"a": 1, "b": NULL}}), id="null-inside-value"
    ),
]


@pytest.mark.parametrize("body", BAD_ENTITIES)
def test_create_invalid_entity_is_400_and_writes_nothing(hub, body):
    problem(hub.http.post("/entities", json=body), 400, "BadRequestData")
    problem(hub.http.get(f"/entities/{B1}"), 404, "ResourceNotFound")
    assert hub.http.get("/entities", params={"local": "true"}).json() == []


def test_a_term_the_context_maps_to_a_keyword_names_no_attribute(hub):
    core = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
    for context in ({"ident": "@id"}, {"amount": "@value"}):
        name = next(iter(context))
        body = building(**{"@context": [context, core], name: "urn:ngsi-ld:Building:other"})
        if name == "amount":
            body = building(**{"@context": [context, core],
                               "p": {"type": "Property", "value": 1, "amount": 2}})  # fmt: skip
        r = hub.http.post("/entities", json=body, headers={"Content-Type": "application/ld+json"})
        assert "JSON-LD keywords" in problem(r, 400, "BadRequestData")["detail"]
    assert hub.http.get("/entities", params={"local": "true"}).json() == []


def test_create_body_must_be_an_object(hub):
    problem(hub.http.post("/entities", json=[building()]), 400, "BadRequestData")


# -- delete entity (5.6.6, 6.5.3.2) ----------------------------------------------------------
def test_delete_entity(hub):
    create(hub, building(name="A"))
    no_content(hub.http.delete(f"/entities/{B1}"))
    problem(hub.http.get(f"/entities/{B1}"), 404, "ResourceNotFound")
    body = problem(hub.http.delete(f"/entities/{B1}"), 404, "ResourceNotFound")
    assert B1 in body["detail"]


def test_delete_with_invalid_id_is_400(hub):
    problem(hub.http.delete("/entities/not-a-uri"), 400, "BadRequestData")


def test_type_selector_on_entity_operations(hub):
    """Clause 4.17 ``type`` on delete, append, update, replace: a mismatch is not found."""
    create(hub, building(name="A"))
    problem(hub.http.delete(f"/entities/{B1}", params={"type": "Vehicle"}), 404, "ResourceNotFound")
    problem(
        hub.http.post(f"/entities/{B1}/attrs", params={"type": "Vehicle"}, json={"x": 1}),
        404,
        "ResourceNotFound",
    )
    problem(
        hub.http.patch(f"/entities/{B1}/attrs/name", params={"type": "Vehicle"}, json={"value": 1}),
        404,
        "ResourceNotFound",
    )
    assert get(hub) == building(name={"type": "Property", "value": "A"})
    no_content(hub.http.delete(f"/entities/{B1}", params={"type": "Building|Vehicle"}))


# -- append attributes (5.6.3, 6.6.3.1) ------------------------------------------------------
def test_append_adds_and_overwrites_keeping_created_at(hub):
    create(hub, building(name="A"))
    before = get(hub, options="sysAttrs")["name"]["createdAt"]
    response = hub.http.post(
        f"/entities/{B1}/attrs", json={"name": "B", "floors": {"type": "Property", "value": 3}}
    )
    no_content(response)
    out = get(hub, options="sysAttrs")
    assert out["name"]["value"] == "B" and out["name"]["createdAt"] == before
    assert out["name"]["modifiedAt"] >= before
    assert out["floors"]["value"] == 3
    assert out["modifiedAt"] >= out["createdAt"]


def test_append_no_overwrite_is_207_with_update_result(hub):
    create(hub, building(name="A"))
    response = hub.http.post(
        f"/entities/{B1}/attrs",
        params={"options": "noOverwrite"},
        json={"name": "B", "floors": 3},
    )
    assert response.status_code == 207, response.text
    assert response.headers["content-type"] == "application/json"
    assert "link" not in response.headers
    body = response.json()
    # Clause 6.3.6: partial success bodies use Fully Qualified Names.
    assert body["updated"] == [DEFAULT + "floors"]
    assert [n["attributeName"] for n in body["notUpdated"]] == [DEFAULT + "name"]
    assert isinstance(body["notUpdated"][0]["reason"], str) and body["notUpdated"][0]["reason"]
    out = get(hub)
    assert out["name"]["value"] == "A" and out["floors"]["value"] == 3


def test_append_no_overwrite_with_nothing_existing_is_204(hub):
    create(hub, building(name="A"))
    no_content(
        hub.http.post(f"/entities/{B1}/attrs", params={"options": "noOverwrite"}, json={"x": 1})
    )


def test_append_instance_with_dataset_id_and_types(hub):
    create(hub, building(speed=10))
    ds = "urn:ngsi-ld:dataset:gps"
    no_content(
        hub.http.post(
            f"/entities/{B1}/attrs",
            json={"type": "Office", "speed": {"type": "Property", "value": 11, "datasetId": ds}},
        )
    )
    out = get(hub)
    assert out["type"] == ["Building", "Office"]
    assert out["speed"] == [
        {"type": "Property", "value": 10},
        {"type": "Property", "value": 11, "datasetId": ds},
    ]


def test_append_scope_replaces_or_adds_with_no_overwrite(hub):
    create(hub, building(scope="/Seoul"))
    no_content(hub.http.post(f"/entities/{B1}/attrs", json={"scope": "/Busan"}))
    assert get(hub)["scope"] == "/Busan"
    no_content(
        hub.http.post(
            f"/entities/{B1}/attrs", params={"options": "noOverwrite"}, json={"scope": "/Daegu"}
        )
    )
    assert get(hub)["scope"] == ["/Busan", "/Daegu"]


def test_append_errors(hub):
    problem(hub.http.post(f"/entities/{B1}/attrs", json={"x": 1}), 404, "ResourceNotFound")
    create(hub, building(name="A"))
    problem(
        hub.http.post(
            f"/entities/{B1}/attrs", json={"x": 1, "r": {"type": "Relationship", "object": "no"}}
        ),
        400,
        "BadRequestData",
    )
    problem(
        hub.http.post(f"/entities/{B1}/attrs", params={"options": "bogus"}, json={"x": 1}),
        400,
        "InvalidRequest",
    )
    problem(hub.http.post("/entities/nope/attrs", json={"x": 1}), 400, "BadRequestData")
    assert get(hub) == building(name={"type": "Property", "value": "A"})


# -- update attributes (5.6.2, 5.5.8, 6.6.3.2) -----------------------------------------------
def test_update_attributes_replaces_whole_attribute(hub):
    """Clause 5.5.8 example 2: unitCode goes, since the whole attribute is replaced."""
    create(hub, building(temperature=TEMPERATURE))
    fragment = {
        "temperature": {"type": "Property", "value": 100, "observedAt": "2022-03-14T13:00:00.000Z"}
    }
    no_content(hub.http.patch(f"/entities/{B1}/attrs", json=fragment))
    assert get(hub)["temperature"] == fragment["temperature"]


def test_update_attributes_null_deletes(hub):
    """Clause 5.5.8 example 3."""
    create(hub, building(temperature=TEMPERATURE, name="A"))
    no_content(
        hub.http.patch(
            f"/entities/{B1}/attrs", json={"temperature": {"type": "Property", "value": NULL}}
        )
    )
    assert get(hub) == building(name={"type": "Property", "value": "A"})


def test_update_attributes_appends_missing_and_reports_missing_nulls(hub):
    create(hub, building(name="A"))
    no_content(hub.http.patch(f"/entities/{B1}/attrs", json={"floors": 3}))
    assert get(hub)["floors"] == {"type": "Property", "value": 3}
    response = hub.http.patch(f"/entities/{B1}/attrs", json={"name": "B", "ghost": NULL})
    assert response.status_code == 207, response.text
    assert response.json()["updated"] == [DEFAULT + "name"]
    assert response.json()["notUpdated"][0]["attributeName"] == DEFAULT + "ghost"
    assert get(hub)["name"]["value"] == "B"


def test_update_attributes_scope_only_when_entity_has_one(hub):
    """Clause 5.6.2.4: scope is replaced if the target has a scope, else ignored."""
    create(hub, building(name="A"))
    no_content(hub.http.patch(f"/entities/{B1}/attrs", json={"scope": "/Seoul"}))
    assert "scope" not in get(hub)
    create(hub, {"id": "urn:ngsi-ld:Building:b2", "type": "Building", "scope": "/Busan"})
    no_content(hub.http.patch("/entities/urn:ngsi-ld:Building:b2/attrs", json={"scope": "/Seoul"}))
    assert get(hub, "urn:ngsi-ld:Building:b2")["scope"] == "/Seoul"


def test_update_attributes_unknown_entity_is_404(hub):
    problem(hub.http.patch(f"/entities/{B1}/attrs", json={"x": 1}), 404, "ResourceNotFound")


# -- partial attribute update (5.6.4, 6.7.3.1) -----------------------------------------------
def test_partial_attribute_update_keeps_other_members(hub):
    """Clause 5.5.8 example 1: value and observedAt change, unitCode stays."""
    create(hub, building(temperature=TEMPERATURE))
    fragment = {"type": "Property", "value": 100, "observedAt": "2022-03-14T13:00:00.000Z"}
    no_content(hub.http.patch(f"/entities/{B1}/attrs/temperature", json=fragment))
    assert get(hub)["temperature"] == {**TEMPERATURE, **fragment}


def test_partial_attribute_update_of_one_member(hub):
    create(hub, building(temperature=TEMPERATURE))
    no_content(hub.http.patch(f"/entities/{B1}/attrs/temperature", json={"unitCode": "FAH"}))
    assert get(hub)["temperature"] == {**TEMPERATURE, "unitCode": "FAH"}
    no_content(hub.http.patch(f"/entities/{B1}/attrs/temperature", json={"value": 30}))
    assert get(hub)["temperature"] == {**TEMPERATURE, "unitCode": "FAH", "value": 30}


def test_partial_attribute_update_of_relationship_and_dataset(hub):
    ds = "urn:ngsi-ld:dataset:b"
    create(
        hub,
        building(
            owner=[
                {"type": "Relationship", "object": "urn:ngsi-ld:P:1"},
                {"type": "Relationship", "object": "urn:ngsi-ld:P:2", "datasetId": ds},
            ]
        ),
    )
    no_content(
        hub.http.patch(
            f"/entities/{B1}/attrs/owner", json={"object": "urn:ngsi-ld:P:3", "datasetId": ds}
        )
    )
    assert [i["object"] for i in get(hub)["owner"]] == ["urn:ngsi-ld:P:1", "urn:ngsi-ld:P:3"]


def test_partial_attribute_update_errors(hub):
    create(hub, building(temperature=TEMPERATURE, scope="/Seoul"))
    path = f"/entities/{B1}/attrs"
    problem(hub.http.patch(f"{path}/ghost", json={"value": 1}), 404, "ResourceNotFound")
    problem(
        hub.http.patch(
            f"{path}/temperature", json={"value": 1, "datasetId": "urn:ngsi-ld:dataset:x"}
        ),
        404,
        "ResourceNotFound",
    )
    # Clause 5.6.4.4: the type of an attribute cannot change; scope is not a target.
    problem(
        hub.http.patch(f"{path}/temperature", json={"type": "Relationship", "object": "urn:a:b"}),
        400,
        "BadRequestData",
    )
    problem(hub.http.patch(f"{path}/scope", json={"value": "/Busan"}), 400, "BadRequestData")
    problem(
        hub.http.patch("/entities/urn:ngsi-ld:Building:none/attrs/temperature", json={"value": 1}),
        404,
        "ResourceNotFound",
    )
    assert get(hub)["temperature"] == TEMPERATURE


def test_partial_attribute_update_null_deletes_the_attribute(hub):
    create(hub, building(temperature=TEMPERATURE, name="A"))
    no_content(hub.http.patch(f"/entities/{B1}/attrs/temperature", json={"value": NULL}))
    assert get(hub) == building(name={"type": "Property", "value": "A"})


# -- replace attribute (5.6.19, 6.7.3.3) -----------------------------------------------------
def test_replace_attribute(hub):
    create(hub, building(temperature=TEMPERATURE))
    created = get(hub, options="sysAttrs")["temperature"]["createdAt"]
    no_content(
        hub.http.put(f"/entities/{B1}/attrs/temperature", json={"type": "Property", "value": 7})
    )
    out = get(hub, options="sysAttrs")["temperature"]
    assert {k: v for k, v in out.items() if not k.endswith("At")} == {
        "type": "Property",
        "value": 7,
    }
    assert out["createdAt"] == created


def test_replace_attribute_errors(hub):
    create(hub, building(temperature=TEMPERATURE))
    path = f"/entities/{B1}/attrs"
    problem(hub.http.put(f"{path}/ghost", json={"value": 1}), 404, "ResourceNotFound")
    problem(
        hub.http.put(f"{path}/temperature", json={"value": 1, "datasetId": "urn:ngsi-ld:d:x"}),
        404,
        "ResourceNotFound",
    )
    problem(hub.http.put(f"{path}/temperature", json={"type": "Property"}), 400, "BadRequestData")
    problem(hub.http.put(f"{path}/scope", json={"value": "/a"}), 400, "BadRequestData")
    assert get(hub)["temperature"] == TEMPERATURE


# -- delete attribute (5.6.5, 6.7.3.2) -------------------------------------------------------
def multi_speed(hub):
    create(
        hub,
        building(
            speed=[
                {"type": "Property", "value": 1},
                {"type": "Property", "value": 2, "datasetId": "urn:ngsi-ld:d:a"},
                {"type": "Property", "value": 3, "datasetId": "urn:ngsi-ld:d:b"},
            ],
            name="A",
        ),
    )


def test_delete_attribute_default_instance_only(hub):
    multi_speed(hub)
    no_content(hub.http.delete(f"/entities/{B1}/attrs/speed"))
    assert [i["value"] for i in get(hub)["speed"]] == [2, 3]
    problem(hub.http.delete(f"/entities/{B1}/attrs/speed"), 404, "ResourceNotFound")


def test_delete_attribute_by_dataset_id(hub):
    multi_speed(hub)
    no_content(
        hub.http.delete(f"/entities/{B1}/attrs/speed", params={"datasetId": "urn:ngsi-ld:d:a"})
    )
    assert [i["value"] for i in get(hub)["speed"]] == [1, 3]
    problem(
        hub.http.delete(f"/entities/{B1}/attrs/speed", params={"datasetId": "urn:ngsi-ld:d:a"}),
        404,
        "ResourceNotFound",
    )
    no_content(hub.http.delete(f"/entities/{B1}/attrs/speed", params={"datasetId": "@none"}))
    assert get(hub)["speed"] == {"type": "Property", "value": 3, "datasetId": "urn:ngsi-ld:d:b"}


def test_delete_attribute_delete_all(hub):
    multi_speed(hub)
    no_content(hub.http.delete(f"/entities/{B1}/attrs/speed", params={"deleteAll": "true"}))
    assert get(hub) == building(name={"type": "Property", "value": "A"})


def test_delete_attribute_errors(hub):
    problem(hub.http.delete(f"/entities/{B1}/attrs/name"), 404, "ResourceNotFound")
    multi_speed(hub)
    problem(hub.http.delete(f"/entities/{B1}/attrs/ghost"), 404, "ResourceNotFound")
    problem(
        hub.http.delete(f"/entities/{B1}/attrs/speed", params={"datasetId": "not a uri"}),
        400,
        "BadRequestData",
    )
    problem(
        hub.http.delete(f"/entities/{B1}/attrs/speed", params={"deleteAll": "yes"}),
        400,
        "BadRequestData",
    )


def test_delete_scope_attribute(hub):
    create(hub, building(scope=["/Seoul", "/Busan"], name="A"))
    no_content(hub.http.delete(f"/entities/{B1}/attrs/scope"))
    assert get(hub) == building(name={"type": "Property", "value": "A"})
    problem(hub.http.delete(f"/entities/{B1}/attrs/scope"), 404, "ResourceNotFound")


# -- merge entity (5.6.17, 5.5.12, 6.5.3.4) --------------------------------------------------
def test_merge_entity_example_1(hub):
    create(hub, building(temperature=TEMPERATURE))
    fragment = {
        "temperature": {"type": "Property", "value": 100, "observedAt": "2022-03-14T13:00:00.000Z"}
    }
    no_content(hub.http.patch(f"/entities/{B1}", json=fragment))
    assert get(hub)["temperature"] == {
        "type": "Property",
        "value": 100,
        "unitCode": "CEL",
        "observedAt": "2022-03-14T13:00:00.000Z",
    }


def test_merge_entity_example_2_json_merge_of_value(hub):
    address = {"street": "Straße des 17. Juni", "city": "Berlin", "country": "Germany"}
    create(hub, building(address={"type": "Property", "value": address}))
    fragment = {
        "address": {"type": "Property", "value": {"street": "Pariser Platz", "country": NULL}}
    }
    no_content(hub.http.patch(f"/entities/{B1}", json=fragment))
    assert get(hub)["address"] == {
        "type": "Property",
        "value": {"street": "Pariser Platz", "city": "Berlin"},
    }


def test_merge_entity_nulls_types_scope_and_new_attributes(hub):
    create(hub, building(temperature=TEMPERATURE, name="A", scope="/Seoul"))
    fragment = {
        "type": "Office",
        "scope": "/Busan",
        "name": NULL,
        "temperature": {"type": "Property", "value": 5, "unitCode": NULL},
        "floors": {"type": "Property", "value": 3},
        "ghost": NULL,
    }
    no_content(hub.http.patch(f"/entities/{B1}", json=fragment))
    assert get(hub) == {
        "id": B1,
        "type": ["Building", "Office"],
        "scope": "/Busan",
        "temperature": {"type": "Property", "value": 5, "observedAt": TEMPERATURE["observedAt"]},
        "floors": {"type": "Property", "value": 3},
    }


def test_merge_entity_simplified_keeps_attribute_types(hub):
    """Table 6.5.3.4-1: with format=simplified the type of an existing attribute stays."""
    create(hub, building(owner={"type": "Relationship", "object": "urn:ngsi-ld:P:1"}, n=1))
    no_content(
        hub.http.patch(
            f"/entities/{B1}",
            params={"format": "simplified"},
            json={"owner": "urn:ngsi-ld:P:2", "n": 2},
        )
    )
    out = get(hub)
    assert out["owner"] == {"type": "Relationship", "object": "urn:ngsi-ld:P:2"}
    assert out["n"] == {"type": "Property", "value": 2}
    no_content(
        hub.http.patch(
            f"/entities/{B1}", params={"options": "keyValues"}, json={"owner": "urn:x:3"}
        )
    )
    assert get(hub)["owner"] == {"type": "Relationship", "object": "urn:x:3"}


def test_merge_entity_observed_at_and_lang_parameters(hub):
    create(
        hub,
        building(
            temperature=TEMPERATURE,
            name="A",
            street={"type": "LanguageProperty", "languageMap": {"ko": "세종대로", "en": "Sejong"}},
        ),
    )
    at = "2024-01-01T00:00:00Z"
    no_content(
        hub.http.patch(
            f"/entities/{B1}",
            params={"observedAt": at, "lang": "en"},
            json={"temperature": 30, "name": "B", "street": "Sejong-daero"},
        )
    )
    out = get(hub)
    assert out["temperature"] == {**TEMPERATURE, "value": 30, "observedAt": at}
    assert out["name"] == {"type": "Property", "value": "B"}  # had no observedAt
    assert out["street"] == {
        "type": "LanguageProperty",
        "languageMap": {"ko": "세종대로", "en": "Sejong-daero"},
    }
    problem(
        hub.http.patch(f"/entities/{B1}", params={"observedAt": "soon"}, json={"name": "C"}),
        400,
        "BadRequestData",
    )


def test_merge_entity_errors(hub):
    problem(hub.http.patch(f"/entities/{B1}", json={"name": "A"}), 404, "ResourceNotFound")
    create(hub, building(name="A"))
    problem(
        hub.http.patch(f"/entities/{B1}", json={"id": "urn:ngsi-ld:Building:other", "name": "B"}),
        400,
        "BadRequestData",
    )
    problem(hub.http.patch(f"/entities/{B1}", json=[{"name": "B"}]), 400, "BadRequestData")
    assert get(hub)["name"]["value"] == "A"


def test_merge_patch_content_type_is_accepted(hub):
    """Clause 6.3.4: application/merge-patch+json is json for PATCH."""
    create(hub, building(name="A"))
    response = hub.http.patch(
        f"/entities/{B1}",
        content=b'{"name": "B"}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    no_content(response)
    assert get(hub)["name"]["value"] == "B"


# -- replace entity (5.6.18, 6.5.3.3) --------------------------------------------------------
def test_replace_entity(hub):
    create(hub, building(name="A", temperature=TEMPERATURE, scope="/Seoul"))
    created = get(hub, options="sysAttrs")["createdAt"]
    no_content(hub.http.put(f"/entities/{B1}", json={"type": "Office", "floors": 3}))
    out = get(hub, options="sysAttrs")
    assert out["createdAt"] == created
    assert {k: v for k, v in out.items() if k not in ("createdAt", "modifiedAt")} == {
        "id": B1,
        "type": "Office",
        "floors": {"type": "Property", "value": 3, "createdAt": out["floors"]["createdAt"],
                   "modifiedAt": out["floors"]["modifiedAt"]},
    }  # fmt: skip


def test_replace_entity_errors(hub):
    problem(hub.http.put(f"/entities/{B1}", json={"type": "Building"}), 404, "ResourceNotFound")
    create(hub, building(name="A"))
    problem(
        hub.http.put(f"/entities/{B1}", json={"id": "urn:ngsi-ld:B:2", "type": "Building"}),
        400,
        "BadRequestData",
    )
    problem(
        hub.http.put(f"/entities/{B1}", json={"type": "Building", "name": NULL}),
        400,
        "BadRequestData",
    )
    assert get(hub) == building(name={"type": "Property", "value": "A"})


# -- sub-attributes and system attributes ----------------------------------------------------
def test_sub_attributes_are_kept_and_compacted(hub):
    create(
        hub,
        building(
            temperature={
                "type": "Property",
                "value": 20,
                "quality": {
                    "type": "Property",
                    "value": "good",
                    "checkedBy": {"type": "Relationship", "object": "urn:ngsi-ld:Person:p1"},
                },
            }
        ),
    )
    assert get(hub)["temperature"]["quality"] == {
        "type": "Property",
        "value": "good",
        "checkedBy": {"type": "Relationship", "object": "urn:ngsi-ld:Person:p1"},
    }


def test_sys_attrs_are_utc_datetimes(hub):
    create(hub, building(name="A"))
    out = get(hub, options="sysAttrs")
    for moment in (out["createdAt"], out["modifiedAt"], out["name"]["createdAt"]):
        assert moment.endswith("Z") and "T" in moment
    assert "createdAt" not in get(hub)


# -- purge entities (5.6.21, 6.4.3.3) --------------------------------------------------------
def purge_city(hub):
    for n, kind in ((1, "Building"), (2, "Building"), (3, "Vehicle")):
        create(hub, {"id": f"urn:ngsi-ld:{kind}:{n}", "type": kind, "a": n, "b": n, "c": n})


def test_purge_entities(hub):
    purge_city(hub)
    no_content(hub.http.delete("/entities", params={"type": "Building", "q": "a>1"}))
    problem(hub.http.get("/entities/urn:ngsi-ld:Building:2"), 404, "ResourceNotFound")
    assert get(hub, "urn:ngsi-ld:Building:1")["a"]["value"] == 1
    no_content(hub.http.delete("/entities", params={"type": "Nothing"}))
    # Clause 5.6.21.4: too wide without type, attributes, q or a geoquery.
    problem(hub.http.delete("/entities"), 400, "BadRequestData")
    problem(
        hub.http.delete("/entities", params={"id": "urn:ngsi-ld:Vehicle:3"}), 400, "BadRequestData"
    )
    assert get(hub, "urn:ngsi-ld:Vehicle:3")["a"]["value"] == 3


def test_purge_drop_and_keep_attributes(hub):
    purge_city(hub)
    no_content(hub.http.delete("/entities", params={"type": "Building", "drop": "a,b"}))
    assert get(hub, "urn:ngsi-ld:Building:1", options="keyValues") == {
        "id": "urn:ngsi-ld:Building:1",
        "type": "Building",
        "c": 1,
    }
    no_content(hub.http.delete("/entities", params={"type": "Vehicle", "keep": "b"}))
    assert get(hub, "urn:ngsi-ld:Vehicle:3", options="keyValues") == {
        "id": "urn:ngsi-ld:Vehicle:3",
        "type": "Vehicle",
        "b": 3,
    }
    problem(
        hub.http.delete("/entities", params={"type": "Vehicle", "keep": "b", "drop": "c"}),
        400,
        "BadRequestData",
    )


def test_null_inside_value_only_in_merge(hub):
    """Clause 5.5.4: a Null as the value of a key in a Property value object."""
    create(hub, building(address={"a": 1, "b": 2}))
    problem(
        hub.http.post(f"/entities/{B1}/attrs", json={"address": {"a": NULL}}), 400, "BadRequestData"
    )
    no_content(hub.http.patch(f"/entities/{B1}", json={"address": {"value": {"a": NULL}}}))
    assert get(hub)["address"]["value"] == {"b": 2}
