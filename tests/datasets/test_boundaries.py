"""Tests for the gu boundary reader (shipped JUSO 2015 layer, KOSTAT 2013 from ../shared)."""

import json
from pathlib import Path

import pytest
from shapely.geometry import Point

from smartseoul.datasets import DatasetError
from smartseoul.datasets.boundaries import GU, district_at, gu_by_name, read_districts

SHARED = Path(__file__).parents[2].parent / "shared" / "data"
KOSTAT = SHARED / "safety" / "boundaries" / "kostat2013_seoul_municipalities_geo_simple.json"


@pytest.fixture(scope="module")
def districts():
    return read_districts()


def test_shipped_layer_has_the_25_gu_with_administrative_codes(districts):
    assert len(districts) == 25
    assert [d.code for d in districts] == sorted(gu.code for gu in GU)
    jongno = districts[0]
    assert (jongno.code, jongno.name_ko, jongno.name_en) == ("11110", "종로구", "Jongno-gu")
    assert {d.name_en for d in districts} >= {"Gangnam-gu", "Jung-gu", "Yeongdeungpo-gu"}


def test_geometry_is_valid_wgs84_and_points_lie_inside(districts):
    for district in districts:
        assert district.geometry["type"] in ("Polygon", "MultiPolygon")
        assert district.shape.is_valid, district.name_en
        lon, lat = district.representative_point
        assert district.shape.contains(Point(lon, lat))
        min_lon, min_lat, max_lon, max_lat = district.shape.bounds
        assert 126.7 < min_lon < max_lon < 127.3 and 37.4 < min_lat < max_lat < 37.75
        assert min_lon < district.centroid[0] < max_lon and min_lat < district.centroid[1] < max_lat


def test_gangseo_is_the_westmost_gu_and_gangdong_the_eastmost(districts):
    by_west = sorted(districts, key=lambda d: d.shape.bounds[0])
    assert by_west[0].name_ko == "강서구"
    assert max(districts, key=lambda d: d.shape.bounds[2]).name_ko == "강동구"


@pytest.mark.skipif(not KOSTAT.exists(), reason=f"shared data not found: {KOSTAT}")
def test_kostat_layer_is_matched_by_name_to_administrative_codes(districts):
    kostat = read_districts(KOSTAT)
    # The file numbers 종로구 11010 (a statistical code); the reader gives the official one.
    assert [(d.code, d.name_ko) for d in kostat] == [(d.code, d.name_ko) for d in districts]
    for old, new in zip(kostat, districts, strict=True):
        assert old.shape.representative_point().within(new.shape.buffer(0.01))


def test_district_at_finds_the_containing_gu_and_nothing_outside_seoul(districts):
    assert district_at(126.9770, 37.5759, districts).code == "11110"  # Gwanghwamun
    assert district_at(127.0276, 37.4979, districts).code == "11650"  # Gangnam station, west exit
    assert district_at(127.2795, 37.5260, districts) is None  # Paldang dam
    assert district_at(127.2795, 37.5260, districts, within=1.0).code == "11740"


def test_gu_by_name():
    assert gu_by_name(" 강남구 ").code == "11680"
    with pytest.raises(DatasetError, match="not one of Seoul's 25 gu.*종로구"):
        gu_by_name("수원시")


def _collection(names):
    square = {
        "type": "Polygon",
        "coordinates": [[[127, 37.5], [127.01, 37.5], [127.01, 37.51], [127, 37.5]]],
    }
    features = [{"type": "Feature", "properties": {"name": n}, "geometry": square} for n in names]
    return {"type": "FeatureCollection", "features": features}


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["종로구", "종로구"], "appears twice"),
        (["종로구"], "no boundary for 중구"),
        (["Jongno"], "not one of Seoul's 25 gu"),
    ],
)
def test_bad_layers_are_refused_with_the_reason(tmp_path, names, message):
    path = tmp_path / "gu.json"
    path.write_text(json.dumps(_collection(names)), encoding="utf-8")
    with pytest.raises(DatasetError, match=message):
        read_districts(path)


def test_a_feature_without_geometry_is_refused(tmp_path):
    collection = _collection([gu.name_ko for gu in GU])
    collection["features"][3]["geometry"] = {"type": "Point", "coordinates": [127, 37.5]}
    path = tmp_path / "gu.json"
    path.write_text(json.dumps(collection), encoding="utf-8")
    with pytest.raises(DatasetError, match="성동구: geometry must be a Polygon"):
        read_districts(path)
