"""Rendering stored entities (hub.render), pure: clauses 4.5.1 to 4.5.24, 4.15, 4.21."""

from __future__ import annotations

import pytest

from smartseoul.hub.render import RenderOptions, geojson_feature, pick_language, render_entity

EX = "https://ex.org/"
LOC = "https://uri.etsi.org/ngsi-ld/location"
T = "2026-01-01T00:00:00.000000Z"


def compact(iri: str) -> str:
    if iri == LOC:
        return "location"
    return iri.removeprefix(EX)


def stored() -> dict:
    def i(**members):
        return {**members, "createdAt": T, "modifiedAt": T}

    return {
        "id": "urn:ngsi-ld:B:1",
        "type": [EX + "Building"],
        "scope": ["/Seoul"],
        "createdAt": T,
        "modifiedAt": T,
        "attrs": {
            EX + "name": [i(type="Property", value="Hall")],
            EX + "temp": [
                i(type="Property", value=20, unitCode="CEL",
                  **{EX + "acc": i(type="Property", value=0.5)}),
                i(type="Property", value=21, datasetId="urn:d:2"),
            ],
            EX + "owner": [i(type="Relationship", object="urn:p:1", objectType=EX + "Person")],
            LOC: [i(type="GeoProperty", value={"type": "Point", "coordinates": [1, 2]})],
            EX + "street": [i(type="LanguageProperty", languageMap={"ko": "가", "en": "A"})],
            EX + "cat": [i(type="VocabProperty", vocab=EX + "Office")],
            EX + "cfg": [i(type="JsonProperty", json={"id": 1})],
            EX + "floors": [i(type="ListProperty", valueList=[1, 2])],
            EX + "route": [i(type="ListRelationship", objectList=[{"object": "urn:s:1"}])],
        },
    }  # fmt: skip


def render(**opts):
    return render_entity(stored(), compact, RenderOptions(**opts))


def test_normalized():
    assert render() == {
        "id": "urn:ngsi-ld:B:1",
        "type": "Building",
        "scope": "/Seoul",
        "name": {"type": "Property", "value": "Hall"},
        "temp": [
            {"type": "Property", "value": 20, "unitCode": "CEL",
             "acc": {"type": "Property", "value": 0.5}},
            {"type": "Property", "value": 21, "datasetId": "urn:d:2"},
        ],
        "owner": {"type": "Relationship", "object": "urn:p:1", "objectType": "Person"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}},
        "street": {"type": "LanguageProperty", "languageMap": {"ko": "가", "en": "A"}},
        "cat": {"type": "VocabProperty", "vocab": "Office"},
        "cfg": {"type": "JsonProperty", "json": {"id": 1}},
        "floors": {"type": "ListProperty", "valueList": [1, 2]},
        "route": {"type": "ListRelationship", "objectList": [{"object": "urn:s:1"}]},
    }  # fmt: skip


def test_sys_attrs_everywhere_but_simplified():
    out = render(sys_attrs=True)
    assert out["createdAt"] == T and out["modifiedAt"] == T
    assert out["name"] == {"type": "Property", "value": "Hall", "createdAt": T, "modifiedAt": T}
    assert out["temp"][0]["acc"]["createdAt"] == T
    assert render(sys_attrs=True, format="simplified")["name"] == "Hall"


def test_simplified():
    """Clause 4.5.4, examples 1 to 19."""
    assert render(format="simplified") == {
        "id": "urn:ngsi-ld:B:1",
        "type": "Building",
        "scope": "/Seoul",
        "name": "Hall",
        "temp": {"dataset": {"@none": 20, "urn:d:2": 21}},
        "owner": "urn:p:1",
        "location": {"type": "Point", "coordinates": [1, 2]},
        "street": {"languageMap": {"ko": "가", "en": "A"}},
        "cat": {"vocab": "Office"},
        "cfg": {"json": {"id": 1}},
        "floors": [1, 2],
        "route": ["urn:s:1"],
    }


def test_concise():
    assert render(format="concise") == {
        "id": "urn:ngsi-ld:B:1",
        "type": "Building",
        "scope": "/Seoul",
        "name": "Hall",
        "temp": [
            {"value": 20, "unitCode": "CEL", "acc": 0.5},
            {"value": 21, "datasetId": "urn:d:2"},
        ],
        "owner": {"object": "urn:p:1", "objectType": "Person"},
        "location": {"type": "Point", "coordinates": [1, 2]},
        "street": {"languageMap": {"ko": "가", "en": "A"}},
        "cat": {"vocab": "Office"},
        "cfg": {"json": {"id": 1}},
        "floors": {"valueList": [1, 2]},
        "route": {"objectList": [{"object": "urn:s:1"}]},
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"type": "X"}, {"value": {"type": "X"}}),
        ({"vocab": "x"}, {"value": {"vocab": "x"}}),
        ({"x": 1}, {"x": 1}),
        ([{"type": "X"}], [{"type": "X"}]),
    ],
)
def test_concise_value_objects_that_would_be_misread(value, expected):
    entity = {
        "id": "urn:a:b",
        "type": [EX + "T"],
        "attrs": {EX + "v": [{"type": "Property", "value": value}]},
    }
    assert render_entity(entity, compact, RenderOptions(format="concise"))["v"] == expected


def test_projection_and_dataset_filter():
    assert render(attrs={EX + "name"}) == {
        "id": "urn:ngsi-ld:B:1",
        "type": "Building",
        "scope": "/Seoul",
        "name": {"type": "Property", "value": "Hall"},
    }
    assert render(attrs={EX + "name"}, keep_id=False, keep_type=False, keep_scope=False) == {
        "name": {"type": "Property", "value": "Hall"}
    }
    omitted = render(omit={EX + "name", LOC}, keep_scope=False)
    assert "name" not in omitted and "location" not in omitted and "scope" not in omitted
    assert render(datasets={"urn:d:2"}, format="simplified") == {
        "id": "urn:ngsi-ld:B:1",
        "type": "Building",
        "scope": "/Seoul",
        "temp": {"dataset": {"urn:d:2": 21}},
    }
    assert render(datasets={"@none"}, attrs={EX + "temp"})["temp"]["value"] == 20


def test_language_filter():
    assert render(lang="en")["street"] == {"type": "Property", "value": "A", "lang": "en"}
    assert render(lang="en", format="concise")["street"] == {"value": "A", "lang": "en"}
    assert render(lang="ko", format="simplified")["street"] == "가"


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ("en", ("A", "en")),
        ("fr,ko", ("가", "ko")),
        ("en-GB", ("A", "en")),
        ("*", ("가", "ko")),
        ("fr", ("가", "ko")),
    ],
)
def test_pick_language(wanted, expected):
    assert pick_language({"ko": "가", "en": "A"}, wanted) == expected


def test_pick_language_none_default():
    assert pick_language({"ko": "가", "@none": "N"}, "fr") == ("N", "@none")


def test_geojson_feature():
    """Clauses 4.5.16.2 and 4.5.17.1."""
    feature = geojson_feature(
        stored(), compact, RenderOptions(format="simplified", attrs={EX + "name"})
    )
    assert feature == {
        "id": "urn:ngsi-ld:B:1",
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [1, 2]},
        "properties": {"type": "Building", "scope": "/Seoul", "name": "Hall"},
    }
    other = geojson_feature(stored(), compact, RenderOptions(), geoproperty=EX + "nothing")
    assert other["geometry"] is None
    assert other["properties"]["location"]["type"] == "GeoProperty"
