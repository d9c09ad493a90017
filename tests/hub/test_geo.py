"""Geoqueries (clause 4.10): parameter validation, exact relations, distances, and the bbox prefilter."""

from __future__ import annotations

import math
from typing import Any

import pytest

from smartseoul.hub.errors import BadRequestData
from smartseoul.hub.geo import (
    DEFAULT_GEOPROPERTY,
    EARTH_RADIUS,
    GeoQuery,
    geometry_bbox,
    haversine,
    parse_geoquery,
)

E = "https://example.org/"
CITY_HALL = [126.9780, 37.5665]
GWANGHWAMUN = [126.9769, 37.5759]
SQUARE = [[[126.9, 37.5], [127.1, 37.5], [127.1, 37.7], [126.9, 37.7], [126.9, 37.5]]]


def expand(name: str) -> str:
    return name if ":" in name else E + name


def located(*geometries: Any, name: str = DEFAULT_GEOPROPERTY) -> dict[str, Any]:
    instances = [{"type": "GeoProperty", "value": g} for g in geometries]
    return {"id": "urn:ngsi-ld:Place:1", "type": [E + "Place"], "attrs": {name: instances}}


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def geo(georel: str, geometry: str, coordinates: Any, geoproperty: str | None = None) -> GeoQuery:
    return parse_geoquery(georel, geometry, coordinates, geoproperty, expand)


def test_parse() -> None:
    near = geo("near;maxDistance==2000", "Point", "[8,40]", "observationSpace")
    assert (near.georel, near.max_distance, near.min_distance) == ("near", 2000.0, None)
    assert near.geoproperty == E + "observationSpace" and near.coordinates == [8, 40]
    far = geo("near;minDistance==10.5", "point", [8, 40])
    assert far.min_distance == 10.5 and far.geometry == "Point"
    assert far.geoproperty == DEFAULT_GEOPROPERTY
    within = geo(
        "within", "Polygon", "[[[100.0,0.0],[101.0,0.0],[101.0,1.0],[100.0,1.0],[100.0,0.0]]]"
    )
    assert within.georel == "within" and within.geometry == "Polygon"


@pytest.mark.parametrize(
    ("georel", "geometry", "coordinates", "field"),
    [
        (None, "Point", "[8,40]", "georel"),
        ("within", "", "[8,40]", "geometry"),
        ("within", "Point", None, "coordinates"),
        ("nearby", "Point", "[8,40]", "georel"),
        ("near", "Point", "[8,40]", "georel"),
        ("near;maxDistance==0", "Point", "[8,40]", "georel"),
        ("near;maxDistance==-5", "Point", "[8,40]", "georel"),
        ("near;distance==5", "Point", "[8,40]", "georel"),
        ("within;maxDistance==5", "Point", "[8,40]", "georel"),
        ("within", "Circle", "[8,40]", "geometry"),
        ("within", "GeometryCollection", "[]", "geometry"),
        ("within", "Point", "[8,40", "coordinates"),
        ("within", "Point", "[8]", "coordinates"),
        ("within", "Point", "[8, true]", "coordinates"),
        ("within", "Point", "[200, 40]", "coordinates"),
        ("within", "Point", "[[8, 40]]", "coordinates"),
        ("within", "LineString", "[[8, 40]]", "coordinates"),
        ("within", "Polygon", "[[[0,0],[1,0],[1,1],[0,1]]]", "coordinates"),  # not closed
        ("within", "Polygon", "[[[0,0],[1,0],[0,0]]]", "coordinates"),  # too few positions
        ("within", "Polygon", "[[[0,0],[1,1],[1,0],[0,1],[0,0]]]", "coordinates"),  # bow tie
        ("within", "MultiPolygon", "[[[0,0],[1,0],[1,1],[0,0]]]", "coordinates"),  # one level short
    ],
)
def test_invalid_parameters_name_the_field(georel, geometry, coordinates, field) -> None:
    with pytest.raises(BadRequestData, match=field):
        geo(georel, geometry, coordinates)


def test_topological_relations() -> None:
    inside, outside = point(127.0, 37.6), point(128.0, 37.6)
    crossing = {"type": "LineString", "coordinates": [[127.0, 37.6], [128.0, 37.6]]}
    within = geo("within", "Polygon", SQUARE)
    assert within.matches(located(inside)) and not within.matches(located(outside))
    assert not within.matches(located(crossing))
    assert within.matches(located(outside, inside))  # any instance
    contains = geo("contains", "Point", [127.0, 37.6])
    assert contains.matches(located({"type": "Polygon", "coordinates": SQUARE}))
    assert not contains.matches(located(outside))
    intersects = geo("intersects", "Polygon", SQUARE)
    assert intersects.matches(located(crossing)) and not intersects.matches(located(outside))
    disjoint = geo("disjoint", "Polygon", SQUARE)
    assert disjoint.matches(located(outside)) and not disjoint.matches(located(inside))
    assert not disjoint.matches(located())  # entities without the geoproperty never match
    equals = geo("equals", "Point", [127.0, 37.6])
    assert equals.matches(located(inside)) and not equals.matches(located(outside))
    half = [[[127.0, 37.5], [127.2, 37.5], [127.2, 37.7], [127.0, 37.7], [127.0, 37.5]]]
    overlaps = geo("overlaps", "Polygon", SQUARE)
    assert overlaps.matches(located({"type": "Polygon", "coordinates": half}))
    assert not overlaps.matches(located({"type": "Polygon", "coordinates": SQUARE}))


def test_target_geoproperty_and_odd_values() -> None:
    query = geo("within", "Polygon", SQUARE, "observationSpace")
    assert not query.matches(located(point(127.0, 37.6)))
    assert query.matches(located(point(127.0, 37.6), name=E + "observationSpace"))
    as_text = '{"type": "Point", "coordinates": [127.0, 37.6]}'
    assert geo("within", "Polygon", SQUARE).matches(located(as_text))
    for junk in ("nowhere", {"type": "Point"}, {"type": "Blob", "coordinates": [1]}, 5, None):
        assert not geo("intersects", "Polygon", SQUARE).matches(located(junk))


def test_near_points() -> None:
    distance = haversine(*CITY_HALL, *GWANGHWAMUN)
    assert 1040 < distance < 1060
    target = located(point(*GWANGHWAMUN))
    assert geo("near;maxDistance==1100", "Point", CITY_HALL).matches(target)
    assert not geo("near;maxDistance==1000", "Point", CITY_HALL).matches(target)
    assert geo("near;minDistance==1000", "Point", CITY_HALL).matches(target)
    assert not geo("near;minDistance==1100", "Point", CITY_HALL).matches(target)
    # the same through shapely: a MultiPoint target, and a point with an altitude
    several = located({"type": "MultiPoint", "coordinates": [GWANGHWAMUN, [127.5, 38.0]]})
    assert geo("near;maxDistance==1100", "Point", CITY_HALL).matches(several)
    assert not geo("near;maxDistance==1000", "Point", CITY_HALL).matches(several)
    assert geo("near;maxDistance==1100", "Point", CITY_HALL).matches(
        located(point(*GWANGHWAMUN) | {"coordinates": [*GWANGHWAMUN, 20.0]})
    )


def test_near_shapes_use_the_nearest_point() -> None:
    line = {"type": "LineString", "coordinates": [[127.01, 37.4], [127.01, 37.6]]}
    expected = haversine(127.0, 37.5, 127.01, 37.5)  # about 882 m due east
    query = geo(f"near;maxDistance=={expected + 2}", "Point", [127.0, 37.5])
    assert query.matches(located(line))
    assert not geo(f"near;maxDistance=={expected - 2}", "Point", [127.0, 37.5]).matches(
        located(line)
    )
    assert query.matches(located({"type": "Polygon", "coordinates": SQUARE}))  # contains it: 0 m
    area = geo("near;maxDistance==500", "Polygon", SQUARE)
    assert area.matches(located(point(127.1 + 0.004, 37.6)))  # about 350 m east of the edge
    assert not area.matches(located(point(127.1 + 0.007, 37.6)))  # about 620 m


def destination(lon: float, lat: float, metres: float, bearing: float) -> tuple[float, float]:
    """The point ``metres`` away on a great circle (the inverse of haversine)."""
    delta, theta, phi = metres / EARTH_RADIUS, math.radians(bearing), math.radians(lat)
    phi2 = math.asin(
        math.sin(phi) * math.cos(delta) + math.cos(phi) * math.sin(delta) * math.cos(theta)
    )
    lam = math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi),
        math.cos(delta) - math.sin(phi) * math.sin(phi2),
    )
    return lon + math.degrees(lam), math.degrees(phi2)


@pytest.mark.parametrize("lat", [0.0, 37.5665, 60.0, 84.0, -45.0])
@pytest.mark.parametrize("metres", [50.0, 2000.0, 150_000.0])
def test_near_bbox_holds_every_point_in_range(lat: float, metres: float) -> None:
    query = geo(f"near;maxDistance=={metres}", "Point", [126.978, lat])
    minx, miny, maxx, maxy = query.bbox()  # type: ignore[misc]
    for bearing in range(0, 360, 5):
        lon, lat2 = destination(126.978, lat, metres * 0.999, bearing)
        assert minx <= lon <= maxx and miny <= lat2 <= maxy, (bearing, lon, lat2)
        assert query.matches(located(point(lon, lat2)))
    # and the box is not wastefully large
    assert maxy - miny < 2.1 * math.degrees(metres / EARTH_RADIUS)


def test_bbox_of_relations() -> None:
    assert geo("within", "Polygon", SQUARE).bbox() == (126.9, 37.5, 127.1, 37.7)
    assert geo("contains", "Point", [127.0, 37.6]).bbox() == (127.0, 37.6, 127.0, 37.6)
    assert geo("disjoint", "Polygon", SQUARE).bbox() is None
    assert geo("near;minDistance==10", "Point", [127.0, 37.6]).bbox() is None
    polar = geo("near;maxDistance==200000", "Point", [0.0, 89.5]).bbox()
    assert polar is not None and polar[0] == -180.0 and polar[2] == 180.0 and polar[3] == 90.0


def test_geometry_bbox() -> None:
    assert geometry_bbox(point(127.0, 37.5)) == (127.0, 37.5, 127.0, 37.5)
    assert geometry_bbox({"type": "Polygon", "coordinates": SQUARE}) == (126.9, 37.5, 127.1, 37.7)
    collection = {"type": "GeometryCollection", "geometries": [point(1, 2), point(-3, 4.5)]}
    assert geometry_bbox(collection) == (-3.0, 2.0, 1.0, 4.5)
    assert geometry_bbox('{"type": "Point", "coordinates": [1, 2, 30]}') == (1.0, 2.0, 1.0, 2.0)
    assert geometry_bbox({"type": "Point", "coordinates": []}) is None
