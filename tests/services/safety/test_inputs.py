"""Point, area and district-statistics readers; the local projection's error."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from smartseoul.datasets import shipped_file
from smartseoul.datasets.boundaries import SHIPPED_BOUNDARIES
from smartseoul.services.safety.districts import read_cctv_counts, read_population
from smartseoul.services.safety.errors import GeometryError, SafetyInputError
from smartseoul.services.safety.inputs import (
    LocalProjection,
    grid_candidates,
    points_from_records,
    project,
    read_areas,
    read_points,
)


def haversine(lon1, lat1, lon2, lat2, r=6_371_008.8):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * r * math.asin(math.sqrt(a))


def test_projection_error_across_seoul_is_small():
    projection = LocalProjection(126.99, 37.55)
    rng = np.random.default_rng(0)
    lon = rng.uniform(126.76, 127.18, 200)
    lat = rng.uniform(37.43, 37.70, 200)
    xy = projection.forward(lon, lat)
    worst = 0.0
    for i in range(0, 200, 2):
        d = float(np.linalg.norm(xy[i] - xy[i + 1]))
        worst = max(worst, abs(d / haversine(lon[i], lat[i], lon[i + 1], lat[i + 1]) - 1))
    # The sphere itself differs from the ellipsoid by up to ~0.3 %, so compare loosely; the
    # projection's own east-west scale error is the stated bound.
    assert worst < 0.005
    assert projection.scale_error([37.43, 37.70]) < 0.0025
    assert np.allclose(projection.inverse(xy), np.column_stack([lon, lat]))


def test_csv_lonlat_and_xy(tmp_path):
    a = tmp_path / "a.csv"
    a.write_text("id,lon,lat,weight,type\n1,126.97,37.56,2,theft\n2,126.98,37.57,,violence\n")
    points = read_points(a)
    assert points.ids == ["1", "2"] and points.geographic
    assert points.weights.tolist() == [2.0, 1.0]
    assert points.select(types=["theft"]).ids == ["1"]
    b = tmp_path / "b.csv"
    b.write_text("id,x,y\np,0,0\nq,100,0\n")
    flat = read_points(b)
    assert project(flat) is None and flat.metres().tolist() == [[0, 0], [100, 0]]
    with pytest.raises(SafetyInputError, match="mixed coordinate systems"):
        project(points, flat)


def test_geojson_points(tmp_path):
    path = tmp_path / "p.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "id": "f1",
                        "geometry": {"type": "Point", "coordinates": [127, 37.5]},
                        "properties": {"weight": 3, "time": "2016-05-01T10:00:00Z"},
                    }
                ],
            }
        )
    )
    points = read_points(path)
    assert points.ids == ["f1"] and points.weights.tolist() == [3.0]
    assert points.times == ["2016-05-01T10:00:00Z"]


def test_bad_geometry_names_the_row_or_feature(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,lon,lat\n1,126.9,37.5\n2,abc,37.5\n")
    with pytest.raises(GeometryError, match=r"bad.csv row 3: lon 'abc' is not a number"):
        read_points(bad)
    swapped = tmp_path / "swapped.csv"
    swapped.write_text("id,lon,lat\n1,126.9,37.5\n2,200000,450000\n")
    with pytest.raises(GeometryError, match=r"row 3 \(2\).*not a WGS84 position"):
        read_points(swapped)
    poly = tmp_path / "poly.geojson"
    poly.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"id": "x"},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]],
                        },
                    }
                ],
            }
        )
    )
    with pytest.raises(GeometryError, match="feature 0 \\(x\\): geometry must be a Point"):
        read_points(poly)
    with pytest.raises(SafetyInputError, match="repeats"):
        points_from_records([{"id": "a", "x": 0, "y": 0}, {"id": "a", "x": 1, "y": 1}])
    areas = tmp_path / "areas.geojson"
    areas.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"name": "점"},
                        "geometry": {"type": "Point", "coordinates": [0, 0]},
                    }
                ],
            }
        )
    )
    with pytest.raises(GeometryError, match=r"feature 0 \(점\): geometry must be a Polygon"):
        read_areas(areas)


def test_grid_candidates_fall_inside_their_gu():
    gu = [a for a in read_areas(shipped_file(SHIPPED_BOUNDARIES)) if a.name == "중구"]
    projection = LocalProjection(126.99, 37.56)
    grid = grid_candidates(gu, 250, projection)
    # 중구 is about 10 km²: roughly 160 cells of 250 m.
    assert 120 < len(grid) < 200
    assert grid.ids[0].startswith("11140-")
    from shapely import contains_xy

    assert contains_xy(gu[0].shape, grid.coords[:, 0], grid.coords[:, 1]).all()


def test_shipped_district_tables():
    population = read_population(shipped_file("population-by-district-2017q1.csv"))
    assert len(population) == 25 and population["종로구"] == 162_820
    assert sum(population.values()) == 10_197_604  # the table's own 합계 row
    cameras = read_cctv_counts(shipped_file("cctv-by-district-2016.csv"))
    assert len(cameras) == 25 and cameras["강남구"] == 2780
