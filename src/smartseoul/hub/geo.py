"""NGSI-LD geoqueries (clause 4.10): parse and validate, prefilter by bounding box, evaluate.

Coordinates are GeoJSON positions in WGS84 (longitude, latitude). The topological relations
use shapely (GEOS) on those coordinates, as IETF RFC 7946 geometries are planar in lon/lat.
``near`` measures distances in metres on the sphere (mean Earth radius): point to point by
the haversine formula; otherwise shapely finds the closest pair of points in a local
equirectangular projection centred on the reference geometry, and the haversine distance
between that pair is compared. That is exact for points and within a fraction of a percent
for shapes a few tens of kilometres across. Geometries crossing the antimeridian are not
handled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import orjson
import shapely
from shapely.geometry import shape
from shapely.ops import nearest_points

from smartseoul.hub.errors import BadRequestData
from smartseoul.hub.expressions import Expand

DEFAULT_GEOPROPERTY = "https://uri.etsi.org/ngsi-ld/location"
GEORELS = ("near", "within", "contains", "intersects", "equals", "disjoint", "overlaps")
# GeoJSON geometry types a reference geometry may have (all but GeometryCollection).
GEOMETRIES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
EARTH_RADIUS = 6_371_008.8  # metres, IUGG mean radius
METRES_PER_DEGREE = EARTH_RADIUS * math.pi / 180

# georel relation -> shapely predicate with the (prepared) reference geometry first:
# "target within reference" is "reference contains target", and so on (DE-9IM transpose).
_PREDICATES = {
    "within": shapely.contains,
    "contains": shapely.within,
    "intersects": shapely.intersects,
    "equals": shapely.equals,
    "disjoint": shapely.disjoint,
    "overlaps": shapely.overlaps,
}


@dataclass(frozen=True)
class GeoQuery:
    """A validated geoquery; build it with ``parse_geoquery``.

    ``georel`` is the relation name (``near`` with ``max_distance`` or ``min_distance`` in
    metres); ``coordinates`` the reference geometry's GeoJSON coordinates; ``geoproperty``
    the expanded name of the target GeoProperty.
    """

    georel: str
    geometry: str
    coordinates: Any
    geoproperty: str = DEFAULT_GEOPROPERTY
    max_distance: float | None = None
    min_distance: float | None = None
    _reference: Any = field(init=False, repr=False, compare=False)
    _origin: tuple[float, float] = field(init=False, repr=False, compare=False)
    _projected: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        reference = _reference_geometry(self.geometry, self.coordinates)
        shapely.prepare(reference)
        origin = (reference.centroid.x, reference.centroid.y)
        projected = _project(reference, origin) if self.georel == "near" else None
        object.__setattr__(self, "_reference", reference)
        object.__setattr__(self, "_origin", origin)
        object.__setattr__(self, "_projected", projected)

    def matches(self, entity: dict[str, Any]) -> bool:
        """Whether any instance of the entity's geoproperty stands in the relation.

        Entities without the geoproperty never match (clause 4.10).
        """
        for instance in entity.get("attrs", {}).get(self.geoproperty, ()):
            value = instance.get("value")
            point = _point(value)
            if point is not None and self.georel in _POINT_TESTS:
                if _POINT_TESTS[self.georel](self, *point):
                    return True
                continue
            target = _target_geometry(value)
            if target is not None and not target.is_empty and self._holds(target):
                return True
        return False

    def _near_point(self, x: float, y: float) -> bool:
        if self._reference.geom_type != "Point":
            return self._holds(shapely.Point(x, y))
        distance = haversine(self._reference.x, self._reference.y, x, y)
        if self.max_distance is not None:
            return distance <= self.max_distance
        assert self.min_distance is not None
        return distance > self.min_distance

    def _holds(self, target: Any) -> bool:
        try:
            if self.georel != "near":
                return bool(_PREDICATES[self.georel](self._reference, target))
            distance = self.distance(target)
        except shapely.errors.GEOSException:
            return False  # an invalid stored geometry matches nothing
        if self.max_distance is not None:
            return distance <= self.max_distance  # inside the buffer (closed)
        assert self.min_distance is not None
        return distance > self.min_distance  # disjoint from the buffer

    def distance(self, target: Any) -> float:
        """Metres between the reference geometry and a shapely geometry (module docstring)."""
        near, far = nearest_points(self._projected, _project(target, self._origin))
        (x1, y1), (x2, y2) = _unproject(near, self._origin), _unproject(far, self._origin)
        return haversine(x1, y1, x2, y2)

    def bbox(self) -> tuple[float, float, float, float] | None:
        """A lon/lat box that the bounding box of every matching geometry intersects.

        None when no box can be given: ``disjoint`` and ``near;minDistance``.
        """
        if self.georel == "disjoint" or self.min_distance is not None:
            return None
        minx, miny, maxx, maxy = self._reference.bounds
        if self.max_distance is None:
            return minx, miny, maxx, maxy
        dlat = math.degrees(self.max_distance / EARTH_RADIUS)
        # Widest longitude span of a spherical cap of that radius, at the box's widest
        # latitude; the cap reaches a pole when the ratio is >= 1.
        ratio = math.sin(self.max_distance / EARTH_RADIUS) / math.cos(
            math.radians(max(abs(miny), abs(maxy)))
        )
        low, high = max(-90.0, miny - dlat), min(90.0, maxy + dlat)
        if ratio >= 1 or high >= 90 or low <= -90 or self.max_distance >= EARTH_RADIUS:
            return -180.0, low, 180.0, high
        dlon = math.degrees(math.asin(ratio)) * 1.0001
        return max(-180.0, minx - dlon), low, min(180.0, maxx + dlon), high


def parse_geoquery(
    georel: str | None,
    geometry: str | None,
    coordinates: str | list[Any] | None,
    geoproperty: str | None,
    expand: Expand,
) -> GeoQuery:
    """Parse the geoquery parameters of clause 6.4.3.2 (or a GeoQuery object, clause 5.2.13).

    ``coordinates`` is JSON text or an already parsed array; ``geoproperty`` a short name
    (expanded with ``expand``) or None for ``location``. Raises BadRequestData naming the
    missing or invalid parameter.

    >>> q = parse_geoquery("near;maxDistance==2000", "Point", "[126.978, 37.566]", None, str)
    >>> q.georel, q.max_distance, q.geoproperty
    ('near', 2000.0, 'https://uri.etsi.org/ngsi-ld/location')
    """
    given = {"georel": georel, "geometry": geometry, "coordinates": coordinates}
    missing = [name for name, value in given.items() if value in (None, "", [])]
    if missing:
        raise BadRequestData(f"geoquery: missing {', '.join(missing)} (georel, geometry and "
                             "coordinates go together, clause 4.10)")  # fmt: skip
    assert georel is not None and geometry is not None and coordinates is not None
    relation, max_distance, min_distance = _parse_georel(georel)
    canonical = {name.lower(): name for name in GEOMETRIES}.get(geometry.strip().lower())
    if canonical is None:
        raise BadRequestData(f"geometry: {geometry!r} is not one of {', '.join(GEOMETRIES)}")
    if isinstance(coordinates, str):
        try:
            coordinates = orjson.loads(coordinates)
        except orjson.JSONDecodeError:
            raise BadRequestData(f"coordinates: not a JSON array: {coordinates!r}") from None
    target = DEFAULT_GEOPROPERTY if not geoproperty else expand(geoproperty)
    return GeoQuery(relation, canonical, coordinates, target, max_distance, min_distance)


def _parse_georel(georel: str) -> tuple[str, float | None, float | None]:
    relation, _, modifier = georel.strip().partition(";")
    if relation not in GEORELS:
        raise BadRequestData(f"georel: {georel!r} is not one of {', '.join(GEORELS)}")
    if relation != "near":
        if modifier:
            raise BadRequestData(f"georel: {relation} takes no modifier, got {georel!r}")
        return relation, None, None
    name, _, number = modifier.partition("==")
    try:
        distance = float(number)
    except ValueError:
        distance = -1.0
    if name not in ("maxDistance", "minDistance") or not 0 < distance < math.inf:
        raise BadRequestData(
            f"georel: expected near;maxDistance==<metres> or near;minDistance==<metres>, "
            f"got {georel!r}"
        )
    return ("near", distance, None) if name == "maxDistance" else ("near", None, distance)


def _reference_geometry(geometry: str, coordinates: Any) -> Any:
    """The shapely geometry of validated GeoJSON coordinates; BadRequestData otherwise."""
    problem = coordinates_problem(coordinates, COORDINATE_DEPTH.get(geometry, 3), geometry)
    if problem:
        raise BadRequestData(f"coordinates: {problem} for a {geometry}")
    result = shape({"type": geometry, "coordinates": coordinates})
    if not shapely.is_valid(result):
        raise BadRequestData(f"coordinates: invalid {geometry}: {shapely.is_valid_reason(result)}")
    return result


# How deeply each geometry nests its positions (IETF RFC 7946 3.1).
COORDINATE_DEPTH = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}


def coordinates_problem(value: Any, depth: int, geometry: str) -> str | None:
    """What is wrong with nested position arrays of this depth, or None (IETF RFC 7946 3.1).

    Used for query geometries and stored GeoProperty values alike. NaN, the infinities and
    integers beyond 64 bits (which only an in-process writer can pass) fail the range test.
    """
    if depth == 0:
        if not isinstance(value, list) or len(value) not in (2, 3):
            return f"{value!r} is not a position [longitude, latitude]"
        if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in value):
            return f"{value!r} is not a position of numbers"
        if not (-180 <= value[0] <= 180 and -90 <= value[1] <= 90):
            return f"{value!r} is outside longitude [-180, 180], latitude [-90, 90]"
        return None
    if not isinstance(value, list) or not value:
        return f"{value!r} is not a non-empty array"
    ring = geometry.endswith("Polygon") and depth == 1
    if ring and (len(value) < 4 or value[0] != value[-1]):
        return "each linear ring needs 4 or more positions and to end where it starts"
    if geometry.endswith("LineString") and depth == 1 and len(value) < 2:
        return "each line needs 2 or more positions"
    return next(filter(None, (coordinates_problem(v, depth - 1, geometry) for v in value)), None)


# Point targets, the common case, skip building a shapely geometry.
_POINT_TESTS = {
    "near": GeoQuery._near_point,
    "within": lambda query, x, y: bool(shapely.contains_xy(query._reference, x, y)),
    "intersects": lambda query, x, y: bool(shapely.intersects_xy(query._reference, x, y)),
}


def _point(value: Any) -> tuple[float, float] | None:
    """(x, y) of a GeoJSON Point object, or None for anything else."""
    if not isinstance(value, dict) or value.get("type") != "Point":
        return None
    position = value.get("coordinates")
    if not isinstance(position, list) or len(position) not in (2, 3):
        return None
    x, y = position[0], position[1]
    if isinstance(x, bool) or isinstance(y, bool) or not isinstance(x, int | float):
        return None
    return (float(x), float(y)) if isinstance(y, int | float) else None


def _target_geometry(value: Any) -> Any:
    """The shapely geometry of a GeoProperty value (GeoJSON object or its JSON text)."""
    try:
        if isinstance(value, str):
            value = orjson.loads(value)
        return shape(value) if isinstance(value, dict) else None
    except (shapely.errors.ShapelyError, ValueError, TypeError, AttributeError, LookupError):
        return None  # not a geometry: nothing to match


def _project(geometry: Any, origin: tuple[float, float]) -> Any:
    """Local equirectangular projection in metres around ``origin``."""
    lon0, lat0 = origin
    scale = math.cos(math.radians(lat0)) * METRES_PER_DEGREE

    def forward(xy: Any) -> Any:
        return ((xy - (lon0, lat0)) * (scale, METRES_PER_DEGREE)).astype(float)

    return shapely.transform(geometry, forward)


def _unproject(point: Any, origin: tuple[float, float]) -> tuple[float, float]:
    lon0, lat0 = origin
    scale = math.cos(math.radians(lat0)) * METRES_PER_DEGREE
    return lon0 + point.x / scale, lat0 + point.y / METRES_PER_DEGREE


def haversine(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres between two lon/lat points.

    >>> round(haversine(126.9780, 37.5665, 126.9769, 37.5759))  # City Hall to Gwanghwamun
    1050
    """
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS * math.asin(min(1.0, math.sqrt(a)))


def geometry_bbox(geojson: dict[str, Any] | str) -> tuple[float, float, float, float] | None:
    """(minx, miny, maxx, maxy) of a GeoJSON geometry (or its JSON text); None if it has none.

    >>> geometry_bbox({"type": "LineString", "coordinates": [[127.0, 37.5], [126.9, 37.6]]})
    (126.9, 37.5, 127.0, 37.6)
    """
    if isinstance(geojson, str):
        geojson = orjson.loads(geojson)
    xs: list[float] = []
    ys: list[float] = []
    stack: list[Any] = [geojson]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.get("geometries") or [item.get("coordinates")])
        elif isinstance(item, list) and len(item) >= 2 and isinstance(item[0], int | float):
            xs.append(float(item[0]))
            ys.append(float(item[1]))
        elif isinstance(item, list):
            stack.extend(item)
    return (min(xs), min(ys), max(xs), max(ys)) if xs else None
