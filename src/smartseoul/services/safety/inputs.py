"""Inputs of the safe-city service: points, areas and district statistics (pure readers).

Points (incidents, demand, cameras, candidate sites) come from CSV (``id`` and either
``lon``, ``lat`` in WGS84 or ``x``, ``y`` in metres, optional ``weight``, ``time``,
``type``) or GeoJSON Point features, and are projected to metres with
:class:`LocalProjection`. Areas are GeoJSON polygons (gu or dong). District statistics are
the real Seoul files described in ``docs/safety.md``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from smartseoul.datasets import DatasetError, decode_text, parse_number
from smartseoul.services.safety.errors import GeometryError, SafetyInputError

__all__ = [
    "Area",
    "LocalProjection",
    "PointSet",
    "grid_candidates",
    "points_from_records",
    "project",
    "read_areas",
    "read_points",
]

MAX_WEIGHT = 1e12
"""Largest weight of one point: sums of weights stay finite (1e308 + 1e308 is infinite)."""
MAX_METRES = 1e8
"""Largest x or y in metres: beyond any projected coordinate on Earth (squared distances
of larger ones overflow)."""

# WGS84 ellipsoid.
_A = 6378137.0
_E2 = 6.69437999014e-3


@dataclass(frozen=True)
class LocalProjection:
    """Equirectangular projection on the WGS84 ellipsoid around an origin (metres).

    ``x = N(φ0) cos φ0 (λ − λ0)``, ``y = M(φ0) (φ − φ0)`` with the prime-vertical and
    meridian radii of curvature at the origin's latitude. East-west distances are off by
    the factor ``cos φ / cos φ0``: about 0.13 % per 0.1° of latitude from the origin at
    Seoul (tan 37.5° × 0.1° in radians), so at most 0.2 % across the city with the origin
    at its centre; north-south distances within 0.01 %. :meth:`scale_error` gives the bound
    for given latitudes.

    Examples
    --------
    >>> p = LocalProjection(126.978, 37.5665)
    >>> p.forward([126.988], [37.5665]).round(1).tolist()  # 0.01° east of City Hall
    [[883.5, 0.0]]
    """

    lon0: float
    lat0: float

    @property
    def _radii(self) -> tuple[float, float]:
        s = math.sin(math.radians(self.lat0))
        w = math.sqrt(1 - _E2 * s * s)
        n = _A / w
        m = _A * (1 - _E2) / w**3
        return n * math.cos(math.radians(self.lat0)), m

    def forward(
        self, lon: Sequence[float] | np.ndarray, lat: Sequence[float] | np.ndarray
    ) -> np.ndarray:
        """``(n, 2)`` metres east and north of the origin."""
        kx, ky = self._radii
        x = np.radians(np.asarray(lon, dtype=float) - self.lon0) * kx
        y = np.radians(np.asarray(lat, dtype=float) - self.lat0) * ky
        return np.column_stack([np.atleast_1d(x), np.atleast_1d(y)])

    def inverse(self, xy: np.ndarray) -> np.ndarray:
        """``(n, 2)`` longitude, latitude of projected points."""
        kx, ky = self._radii
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        return np.column_stack(
            [self.lon0 + np.degrees(xy[:, 0] / kx), self.lat0 + np.degrees(xy[:, 1] / ky)]
        )

    def scale_error(self, lats: Iterable[float]) -> float:
        """Largest relative east-west distance error at these latitudes."""
        c0 = math.cos(math.radians(self.lat0))
        return max((abs(math.cos(math.radians(v)) / c0 - 1) for v in lats), default=0.0)


@dataclass
class PointSet:
    """Points with ids and weights, in lon/lat (``geographic``) or metres.

    ``xy`` is filled by :func:`project`; for files in metres it equals ``coords``.
    """

    ids: list[str]
    coords: np.ndarray
    weights: np.ndarray
    geographic: bool
    source: str = "<points>"
    times: list[str | None] = field(default_factory=list)
    kinds: list[str | None] = field(default_factory=list)
    xy: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def metres(self) -> np.ndarray:
        """Projected coordinates; raises if a geographic set was never projected."""
        if self.xy is not None:
            return self.xy
        if self.geographic:
            raise SafetyInputError(f"{self.source}: lon/lat points must be projected first")
        return self.coords

    def select(self, *, types: Iterable[str] | None = None) -> PointSet:
        """The points whose ``type`` is one of ``types`` (incidents of some crimes)."""
        wanted = set(types or ())
        keep = [i for i, kind in enumerate(self.kinds) if not wanted or kind in wanted]
        idx = np.array(keep, dtype=int)
        return PointSet(
            ids=[self.ids[i] for i in keep],
            coords=self.coords[idx],
            weights=self.weights[idx],
            geographic=self.geographic,
            source=self.source,
            times=[self.times[i] for i in keep] if self.times else [],
            kinds=[self.kinds[i] for i in keep],
            xy=None if self.xy is None else self.xy[idx],
        )


def read_points(path: Path | str, *, default_weight: float = 1.0) -> PointSet:
    """Read points from a CSV or GeoJSON file.

    Raises
    ------
    GeometryError
        A row or feature without usable coordinates; the message names it.
    SafetyInputError
        Missing columns, duplicate ids or a negative weight.
    """
    path = Path(path)
    try:
        text = decode_text(path.read_bytes(), source=str(path))
    except DatasetError as err:
        raise SafetyInputError(str(err)) from None
    if path.suffix.lower() in (".json", ".geojson") or text.lstrip().startswith("{"):
        return _geojson_points(text, str(path), default_weight)
    rows = list(csv.DictReader(io.StringIO(text)))
    return points_from_records(rows, source=str(path), default_weight=default_weight, first_row=2)


def points_from_records(
    records: Sequence[Mapping[str, Any]],
    *,
    source: str = "<points>",
    default_weight: float = 1.0,
    first_row: int = 0,
) -> PointSet:
    """Points from dicts with ``id`` and ``lon``/``lat`` or ``x``/``y`` (CSV rows, JSON bodies).

    ``first_row`` is the number the first record gets in error messages (2 for a CSV file
    whose line 1 is the header).
    """
    if not records:
        raise SafetyInputError(f"{source}: no points")
    keys = {k.strip().lower() for k in records[0] if k}
    if {"lon", "lat"} <= keys:
        names, geographic = ("lon", "lat"), True
    elif {"x", "y"} <= keys:
        names, geographic = ("x", "y"), False
    else:
        raise SafetyInputError(
            f"{source}: needs columns id and lon, lat (WGS84) or x, y (metres); has {sorted(keys)}"
        )
    ids: list[str] = []
    coords = np.empty((len(records), 2))
    weights = np.empty(len(records))
    times: list[str | None] = []
    kinds: list[str | None] = []
    for n, raw in enumerate(records):
        row = {str(k).strip().lower(): v for k, v in raw.items() if k}
        where = f"{source} row {n + first_row}"
        ident = str(row.get("id") or "").strip()
        if not ident:
            raise SafetyInputError(f"{where}: no id")
        coords[n] = [_number(row.get(name), where, name) for name in names]
        weight = row.get("weight")
        weights[n] = default_weight if weight in (None, "") else _number(weight, where, "weight")
        if not 0 <= weights[n] <= MAX_WEIGHT:
            raise SafetyInputError(f"{where}: weight {weights[n]:g} is not from 0 to 10^12")
        ids.append(ident)
        times.append(_text(row.get("time")))
        kinds.append(_text(row.get("type")))
    _check(ids, coords, geographic, source, lambda i: f"{source} row {i + first_row}")
    return PointSet(ids, coords, weights, geographic, source, times, kinds)


def _geojson_points(text: str, source: str, default_weight: float) -> PointSet:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SafetyInputError(f"{source}: not JSON ({err})") from None
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list) or not features:
        raise SafetyInputError(f"{source}: not a GeoJSON FeatureCollection with features")
    records: list[dict[str, Any]] = []
    for n, feature in enumerate(features):
        props = feature.get("properties") if isinstance(feature, dict) else None
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        if not isinstance(props or {}, dict) or not isinstance(geometry or {}, dict):
            raise GeometryError(f"{source} feature {n}: not a GeoJSON Feature with object "
                                "properties and geometry")  # fmt: skip
        props, geometry = dict(props or {}), geometry or {}
        ident = props.pop("id", None) or feature.get("id")
        if geometry.get("type") != "Point":
            raise GeometryError(
                f"{source} feature {n} ({ident or 'no id'}): geometry must be a Point, "
                f"got {geometry.get('type')!r}"
            )
        position = geometry.get("coordinates")
        if not isinstance(position, list) or len(position) < 2:
            raise GeometryError(f"{source} feature {n} ({ident}): Point without 2 coordinates")
        records.append({**props, "id": ident if ident is not None else str(n),
                        "lon": position[0], "lat": position[1]})  # fmt: skip
    try:
        return points_from_records(records, source=source, default_weight=default_weight)
    except GeometryError as err:  # name features, not rows
        raise GeometryError(str(err).replace(" row ", " feature ")) from None


def _number(value: Any, where: str, name: str) -> float:
    try:
        number = parse_number(value)
    except DatasetError:
        number = None
    if number is None or not math.isfinite(number):
        raise GeometryError(f"{where}: {name} {value!r} is not a number")
    return number


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _check(ids: list[str], coords: np.ndarray, geographic: bool, source: str, where: Any) -> None:
    seen: dict[str, int] = {}
    for i, ident in enumerate(ids):
        if ident in seen:
            raise SafetyInputError(f"{where(i)}: id {ident!r} repeats {where(seen[ident])}")
        seen[ident] = i
    if geographic:
        bad = np.flatnonzero((np.abs(coords[:, 0]) > 180) | (np.abs(coords[:, 1]) > 90))
        if bad.size:
            i = int(bad[0])
            lon, lat = coords[i]
            raise GeometryError(
                f"{where(i)} ({ids[i]}): lon {lon}, lat {lat} is not a WGS84 position "
                "(lon in [-180, 180], lat in [-90, 90]; are x, y in metres named lon, lat?)"
            )
    else:
        bad = np.flatnonzero((np.abs(coords) > MAX_METRES).any(axis=1))
        if bad.size:
            i = int(bad[0])
            x, y = coords[i]
            raise GeometryError(f"{where(i)} ({ids[i]}): x {x:g}, y {y:g} is not a position in "
                                "metres (|x| and |y| up to 10^8)")  # fmt: skip


def project(
    *sets: PointSet | None, projection: LocalProjection | None = None
) -> LocalProjection | None:
    """Give every set metre coordinates (in place of ``xy``), with one shared projection.

    All sets must use the same coordinate system. Geographic sets are projected around
    the mean of all their points unless ``projection`` is given; the projection is
    returned (``None`` for sets already in metres).
    """
    given = [s for s in sets if s is not None]
    kinds = {s.geographic for s in given}
    if len(kinds) > 1:
        names = ", ".join(f"{s.source} ({'lon/lat' if s.geographic else 'x/y'})" for s in given)
        raise SafetyInputError(f"mixed coordinate systems: {names}; use one for every file")
    if not given or not given[0].geographic:
        for s in given:
            s.xy = s.coords
        return None
    if projection is None:
        every = np.vstack([s.coords for s in given])
        projection = LocalProjection(float(every[:, 0].mean()), float(every[:, 1].mean()))
    for s in given:
        s.xy = projection.forward(s.coords[:, 0], s.coords[:, 1])
    return projection


@dataclass(frozen=True)
class Area:
    """A polygon (gu or dong) in lon/lat with its code and name."""

    code: str
    name: str
    geometry: dict[str, Any]
    shape: BaseGeometry = field(repr=False, compare=False)


_CODE_KEYS = ("SIG_CD", "code", "adm_cd", "id")
_NAME_KEYS = ("SIG_KOR_NM", "name", "adm_nm")


def read_areas(path: Path | str) -> list[Area]:
    """Read gu or dong polygons from GeoJSON (JUSO ``SIG_CD``/``SIG_KOR_NM`` or KOSTAT
    ``code``/``name`` properties).

    Raises
    ------
    GeometryError
        A feature that is not a valid (Multi)Polygon; the message names it.
    """
    path = Path(path)
    source = str(path)
    try:
        data = json.loads(decode_text(path.read_bytes(), source=source))
    except (DatasetError, json.JSONDecodeError) as err:
        raise SafetyInputError(f"{source}: not a GeoJSON file ({err})") from None
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list):
        raise SafetyInputError(f"{source}: not a GeoJSON FeatureCollection")
    return areas_from_features(features, source=source)


def areas_from_features(features: Sequence[Mapping[str, Any]], *, source: str) -> list[Area]:
    """Areas from GeoJSON features (a file or hub entities' ``location``)."""
    areas: list[Area] = []
    for n, feature in enumerate(features):
        if not isinstance(feature, Mapping):
            raise GeometryError(f"{source} feature {n}: not a GeoJSON Feature object")
        props = feature.get("properties") or {}
        if not isinstance(props, Mapping):
            raise GeometryError(f"{source} feature {n}: properties must be an object")
        code = next((str(props[k]) for k in _CODE_KEYS if props.get(k)), str(feature.get("id", n)))
        name = next((str(props[k]) for k in _NAME_KEYS if props.get(k)), code)
        geometry = feature.get("geometry") or {}
        where = f"{source} feature {n} ({name})"
        kind = geometry.get("type") if isinstance(geometry, Mapping) else geometry
        if kind not in ("Polygon", "MultiPolygon"):
            raise GeometryError(f"{where}: geometry must be a Polygon or MultiPolygon, "
                                f"got {kind!r}")  # fmt: skip
        try:
            polygon = shape(geometry)
        except (ValueError, TypeError, IndexError, AttributeError) as err:
            raise GeometryError(f"{where}: unreadable polygon ({err})") from None
        if polygon.is_empty:
            raise GeometryError(f"{where}: empty polygon")
        if not polygon.is_valid:
            reason = shapely.is_valid_reason(polygon)
            polygon = shapely.make_valid(polygon)
            if polygon.is_empty or polygon.area == 0:
                raise GeometryError(f"{where}: invalid polygon ({reason})")
        areas.append(Area(code, name, dict(geometry), polygon))
    if not areas:
        raise SafetyInputError(f"{source}: no polygon features")
    return areas


def grid_candidates(areas: Sequence[Area], spacing: float, projection: LocalProjection) -> PointSet:
    """Candidate sites on a square grid (``spacing`` metres) inside the areas.

    Ids are ``<area code>-<n>``; coordinates are lon/lat with ``xy`` filled.
    """
    if spacing <= 0:
        raise SafetyInputError(f"grid spacing must be positive, got {spacing}")
    ids: list[str] = []
    chunks: list[np.ndarray] = []
    for area in areas:
        lon0, lat0, lon1, lat1 = area.shape.bounds
        (x0, y0), (x1, y1) = projection.forward([lon0, lon1], [lat0, lat1])
        gx, gy = np.meshgrid(np.arange(x0 + spacing / 2, x1, spacing),
                             np.arange(y0 + spacing / 2, y1, spacing))  # fmt: skip
        xy = np.column_stack([gx.ravel(), gy.ravel()])
        lonlat = projection.inverse(xy)
        inside = shapely.contains_xy(area.shape, lonlat[:, 0], lonlat[:, 1])
        ids += [f"{area.code}-{k}" for k in range(int(inside.sum()))]
        chunks.append(lonlat[inside])
    coords = np.vstack(chunks) if chunks else np.empty((0, 2))
    if not ids:
        raise SafetyInputError(f"no grid point falls inside the areas at {spacing} m spacing")
    points = PointSet(ids, coords, np.ones(len(ids)), True, "<grid>", [], [None] * len(ids))
    points.xy = projection.forward(coords[:, 0], coords[:, 1])
    return points
