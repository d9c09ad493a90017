"""Validation and normalisation of entities into the stored form (hub.entities), pure."""

from __future__ import annotations

import pytest

from smartseoul.hub.entities import (
    NGSI_NULL,
    check_entity_id,
    check_scopes,
    expand_types,
    infer_type,
    normalize_attribute,
    normalize_entity,
    normalize_instance,
    parse_time,
    primary_value,
)
from smartseoul.hub.errors import BadRequestData

NOW = "2026-01-01T00:00:00.000000Z"
EX = "https://ex.org/"


def expand(term: str) -> str:
    return term if ":" in term else EX + term


def inst(raw, *, iri=EX + "a", **kw):
    out = normalize_instance(iri, raw, expand, now=NOW, **kw)
    out.pop("createdAt", None)
    out.pop("modifiedAt", None)
    return out


def test_normalize_entity_expands_names_and_keeps_times_out_of_the_entity():
    entity = normalize_entity(
        {"id": "urn:ngsi-ld:B:1", "type": ["B", "C", "B"], "scope": "/a", "n": 1, "@context": []},
        expand,
        now=NOW,
    )
    assert entity == {
        "id": "urn:ngsi-ld:B:1",
        "type": [EX + "B", EX + "C"],
        "scope": ["/a"],
        "attrs": {
            EX + "n": [{"type": "Property", "value": 1, "createdAt": NOW, "modifiedAt": NOW}]
        },
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (5, {"type": "Property", "value": 5}),
        ("x", {"type": "Property", "value": "x"}),
        ([1, 2], {"type": "Property", "value": [1, 2]}),
        ({"k": 1}, {"type": "Property", "value": {"k": 1}}),
        ({"value": 1, "unitCode": "CEL"}, {"type": "Property", "value": 1, "unitCode": "CEL"}),
        ({"object": "urn:a:b"}, {"type": "Relationship", "object": "urn:a:b"}),
        ({"object": ["urn:a:b", "urn:a:c"]}, {"type": "Relationship", "object": ["urn:a:b", "urn:a:c"]}),
        ({"type": "Point", "coordinates": [1, 2]},
         {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}}),
        ({"value": {"type": "Point", "coordinates": [1, 2]}},
         {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}}),
        ({"languageMap": {"en": "a"}}, {"type": "LanguageProperty", "languageMap": {"en": "a"}}),
        ({"vocab": "Office"}, {"type": "VocabProperty", "vocab": EX + "Office"}),
        ({"vocab": ["A", "B"]}, {"type": "VocabProperty", "vocab": [EX + "A", EX + "B"]}),
        ({"json": {"id": 1}}, {"type": "JsonProperty", "json": {"id": 1}}),
        ({"valueList": [3, 1]}, {"type": "ListProperty", "valueList": [3, 1]}),
        ({"objectList": ["urn:a:1", {"object": "urn:a:2"}]},
         {"type": "ListRelationship", "objectList": [{"object": "urn:a:1"}, {"object": "urn:a:2"}]}),
    ],
)  # fmt: skip
def test_concise_inference(raw, expected):
    """Clauses 4.5.2.3, 4.5.3.3, 4.7.3 and 4.5.18.3 to 4.5.24.3."""
    assert inst(raw) == expected


def test_sub_attributes_members_and_dataset_none():
    out = inst(
        {
            "type": "Property",
            "value": 1,
            "observedAt": "2024-01-01T00:00:00Z",
            "datasetId": "@none",
            "unitCode": "MTR",
            "quality": {"value": "ok"},
            "createdAt": "ignored",
            "instanceId": "ignored",
        }
    )
    assert out == {
        "type": "Property",
        "value": 1,
        "observedAt": "2024-01-01T00:00:00Z",
        "unitCode": "MTR",
        EX + "quality": {"type": "Property", "value": "ok", "createdAt": NOW, "modifiedAt": NOW},
    }


def test_relationship_object_type_is_expanded():
    out = inst({"type": "Relationship", "object": "urn:a:b", "objectType": "Person"})
    assert out["objectType"] == EX + "Person"


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "Property"},
        {"type": "Relationship", "object": "no uri"},
        {"type": "Relationship", "object": []},
        {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1]}},
        {"type": "GeoProperty", "value": {"type": "LineString", "coordinates": [1, 2]}},
        {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [True, 2]}},
        {"type": "LanguageProperty", "languageMap": ["en"]},
        {"type": "ListProperty", "valueList": {}},
        {"type": "ListRelationship", "objectList": "urn:a:b"},
        {"type": "Mystery", "value": 1},
        {"type": "Property", "value": 1, "observedAt": "2024-02-30T00:00:00Z"},
        {"type": "Property", "value": 1, "unitCode": 5},
        {
            "type": "Property",
            "value": 1,
            "sub": {"type": "Property", "value": 1, "datasetId": "urn:a:b"},
        },
        None,
        NGSI_NULL,
        {"type": "Property", "value": NGSI_NULL},
    ],
)
def test_invalid_instances(raw):
    with pytest.raises(BadRequestData):
        inst(raw)


def test_location_must_be_geo():
    with pytest.raises(BadRequestData):
        inst("Seoul", iri="https://uri.etsi.org/ngsi-ld/location")
    with pytest.raises(BadRequestData):
        inst({"type": "Property", "value": 1}, iri="https://uri.etsi.org/ngsi-ld/observationSpace")


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (NGSI_NULL, "Property"),
        ({"type": "Property", "value": NGSI_NULL}, "Property"),
        ({"type": "Relationship", "object": NGSI_NULL}, "Relationship"),
        ({"type": "LanguageProperty", "languageMap": {"@none": NGSI_NULL}}, "LanguageProperty"),
        ({"type": "ListProperty", "valueList": [NGSI_NULL]}, "ListProperty"),
        ({"objectList": [NGSI_NULL]}, "ListRelationship"),
    ],
)
def test_null_encodings_in_fragments(raw, kind):
    """Clauses 4.5.18.2, 4.5.21.2, 4.5.22.2: NGSI-LD Null for each attribute kind."""
    out = inst(raw, allow_null=True)
    assert out["type"] == kind
    assert primary_value(out) == NGSI_NULL


def test_multi_instance_attributes():
    both = normalize_attribute(
        EX + "a",
        [{"value": 1}, {"value": 2, "datasetId": "urn:d:1"}],
        expand,
        now=NOW,
    )
    assert [i.get("datasetId") for i in both] == [None, "urn:d:1"]
    with pytest.raises(BadRequestData):
        normalize_attribute(
            EX + "a", [{"value": 1, "datasetId": "urn:d:1"}, {"value": 2, "datasetId": "urn:d:1"}],
            expand, now=NOW,
        )  # fmt: skip
    # A plain array is a Property value, not instances.
    assert normalize_attribute(EX + "a", [1, 2], expand, now=NOW)[0]["value"] == [1, 2]


def test_entity_id_types_scopes_and_times():
    assert check_entity_id("urn:ngsi-ld:X:1") == "urn:ngsi-ld:X:1"
    for bad in ("x", "", None, 5, "urn:with space"):
        with pytest.raises(BadRequestData):
            check_entity_id(bad)
    assert expand_types("https://full/Type", expand) == ["https://full/Type"]
    for bad in ([], "", [1], "a b"):
        with pytest.raises(BadRequestData):
            expand_types(bad, expand)
    assert check_scopes(["/a/b", "/a/b", "/c"]) == ["/a/b", "/c"]
    for bad in ("a", "/a/", "/a#", 5, ["/a", "b"]):
        with pytest.raises(BadRequestData):
            check_scopes(bad)
    assert parse_time("2024-01-01T09:00:00+09:00").isoformat() == "2024-01-01T09:00:00+09:00"
    assert parse_time("2024-01-01T00:00:00").tzinfo is not None
    with pytest.raises(BadRequestData):
        parse_time("2024-01-01")


def test_infer_type_errors():
    assert infer_type({"type": "Point", "coordinates": [1, 2]}) == "GeoProperty"
    with pytest.raises(BadRequestData):
        infer_type({"type": "Whatever"})


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"type": "T"},
        {"id": "urn:a:b"},
        {"id": "urn:a:b", "type": "T", "bad name": 1},
        {"id": "urn:a:b", "type": "T", "scope": "x"},
    ],
)
def test_invalid_entities(body):
    with pytest.raises(BadRequestData):
        normalize_entity(body, expand, now=NOW)
