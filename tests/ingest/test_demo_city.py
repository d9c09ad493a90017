"""Tests for the demo city builder, with and without the Han River data in ../shared/data."""

import re
from collections import Counter
from pathlib import Path

import orjson
import pytest
from shapely.geometry import box, shape

from smartseoul.ingest.demo_city import DEMO_CONTEXT, GENERATED, build_demo_city

HAN_RIVER = Path(__file__).parents[2].parent / "shared" / "data" / "han-river"
SEOUL_BOX = box(126.7, 37.4, 127.3, 37.75)
CORE_TERMS = {"location", "description"}
UTC_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


@pytest.fixture(scope="module")
def generated():
    return build_demo_city(han_river_dir=None)


@pytest.fixture(scope="module")
def real():
    if not (HAN_RIVER / "data_2019.csv").exists():
        pytest.skip(f"Han River data (internal licence, not shipped) not found in {HAN_RIVER}")
    return build_demo_city(han_river_dir=HAN_RIVER)


def by_id(city):
    return {entity["id"]: entity for entity in city.entities}


def history_of(city, entity_id):
    return next(item["attrs"] for item in city.history if item["id"] == entity_id)


def test_25_districts_with_names_codes_and_boundaries(generated):
    areas = [e for e in generated.entities if e["type"] == "AdministrativeArea"]
    assert len(areas) == 25
    jongno = by_id(generated)["urn:ngsi-ld:AdministrativeArea:seoul:11110"]
    assert jongno["name"] == {
        "type": "LanguageProperty",
        "languageMap": {"ko": "종로구", "en": "Jongno-gu"},
    }
    assert jongno["code"] == {"type": "Property", "value": "11110"}
    assert jongno["location"]["value"]["type"] == "Polygon"


def test_entities_are_what_the_demo_promises(generated):
    types = Counter(e["type"] for e in generated.entities)
    assert types == {"AdministrativeArea": 25, "AirQualityObserved": 50, "WaterObserved": 5}
    ids = [e["id"] for e in generated.entities]
    assert len(set(ids)) == len(ids)
    assert all(item["id"] in ids for item in generated.history)


@pytest.mark.parametrize("city_name", ["generated", "real"])
def test_every_entity_has_a_valid_location_in_seoul(city_name, request):
    city = request.getfixturevalue(city_name)
    for entity in city.entities:
        location = entity["location"]
        assert location["type"] == "GeoProperty"
        geometry = shape(location["value"])
        assert geometry.is_valid and SEOUL_BOX.contains(geometry), entity["id"]


@pytest.mark.parametrize("city_name", ["generated", "real"])
def test_every_term_is_defined_and_every_instance_is_well_formed(city_name, request):
    city = request.getfixturevalue(city_name)
    known = set(DEMO_CONTEXT) | CORE_TERMS
    assert all(iri.startswith("https://") for iri in DEMO_CONTEXT.values())
    for entity in city.entities:
        assert entity["type"] in DEMO_CONTEXT
        assert set(entity) - {"id", "type"} <= known, entity["id"]
        if "refDistrict" in entity:
            assert entity["refDistrict"]["object"].endswith(entity["district"]["value"])
    for item in city.history:
        assert set(item["attrs"]) <= known
        for instances in item["attrs"].values():
            times = [instance["observedAt"] for instance in instances]
            assert times == sorted(times) and all(UTC_TIME.match(t) for t in times)
            assert all(
                instance["type"] == "Property" and "unitCode" in instance for instance in instances
            )
    orjson.dumps(city.entities)
    orjson.dumps(city.history)


def test_latest_values_are_the_last_instances(generated):
    for item in generated.history:
        entity = by_id(generated)[item["id"]]
        for term, instances in item["attrs"].items():
            assert entity[term] == instances[-1]


def test_air_history_matches_the_shipped_file(generated):
    gangnam = "urn:ngsi-ld:AirQualityObserved:seoul:gangnam-gu"
    entity = by_id(generated)[gangnam]
    # 2019.csv: 20191231,강남구,0.014,0.025,0.4,0.003,22,14 -- 00:00 KST is 15:00 UTC the day before.
    assert entity["pm10"] == {
        "type": "Property",
        "value": 22.0,
        "unitCode": "GQ",
        "observedAt": "2019-12-30T15:00:00Z",
    }
    assert entity["no2"]["value"] == 0.014 and entity["no2"]["unitCode"] == "59"
    assert entity["refDistrict"] == {
        "type": "Relationship",
        "object": "urn:ngsi-ld:AdministrativeArea:seoul:11680",
    }
    pm10 = history_of(generated, gangnam)["pm10"]
    assert len(pm10) == 30 and pm10[0]["observedAt"] == "2019-12-01T15:00:00Z"
    jongro = by_id(generated)["urn:ngsi-ld:AirQualityObserved:seoul:jong-ro"]
    assert jongro["pm10"]["value"] == 32.0 and jongro["district"]["value"] == "11110"


def test_days_sets_the_air_history_length():
    city = build_demo_city(han_river_dir=None, days=2, water_days=1)
    gangnam = history_of(city, "urn:ngsi-ld:AirQualityObserved:seoul:gangnam-gu")
    assert [i["observedAt"] for i in gangnam["pm25"]] == [
        "2019-12-29T15:00:00Z",
        "2019-12-30T15:00:00Z",
    ]
    with pytest.raises(ValueError, match="at least 1"):
        build_demo_city(han_river_dir=None, days=0)


def test_generated_water_is_labelled(generated, tmp_path):
    water = [e for e in generated.entities if e["type"] == "WaterObserved"]
    assert len(water) == 5
    assert all(e["dataProvenance"] == {"type": "Property", "value": GENERATED} for e in water)
    assert any("generated" in note for note in generated.notes)
    hangang = by_id(generated)["urn:ngsi-ld:WaterObserved:hrfco:1018683"]
    assert 2 < hangang["waterLevel"]["value"] < 3.5 and hangang["waterLevel"]["unitCode"] == "MTR"
    assert len(history_of(generated, hangang["id"])["waterLevel"]) == 3 * 144
    empty = build_demo_city(han_river_dir=tmp_path, days=1, water_days=1)
    assert all("dataProvenance" in e for e in empty.entities if e["type"] == "WaterObserved")


def test_real_water_history_matches_the_file(real):
    hangang = "urn:ngsi-ld:WaterObserved:hrfco:1018683"
    entity = by_id(real)[hangang]
    assert "dataProvenance" not in entity
    assert (entity["floodAdvisoryLevel"]["value"], entity["floodWarningLevel"]["value"]) == (
        8.5,
        10.5,
    )
    levels = history_of(real, hangang)["waterLevel"]
    # data_2019.csv, 2019-08-01 09:00 KST: wl_1018683 = 521.0 cm, the season's peak.
    peak = max(levels, key=lambda instance: instance["value"])
    assert peak == {
        "type": "Property",
        "value": 5.21,
        "unitCode": "MTR",
        "observedAt": "2019-08-01T00:00:00Z",
    }
    assert len(levels) == 3 * 144
    dam = history_of(real, "urn:ngsi-ld:WaterObserved:hrfco:paldang-dam")
    discharge = {i["observedAt"]: i["value"] for i in dam["discharge"]}
    assert discharge["2019-08-01T00:00:00Z"] == 1748.0
    assert "flow" not in history_of(real, "urn:ngsi-ld:WaterObserved:hrfco:1018680")
    assert not any("generated" in note for note in real.notes)


def test_build_is_deterministic(generated):
    again = build_demo_city(han_river_dir=None)
    assert orjson.dumps(again.entities) == orjson.dumps(generated.entities)
    assert orjson.dumps(again.history) == orjson.dumps(generated.history)
