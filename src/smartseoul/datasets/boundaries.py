"""Seoul's 25 autonomous districts (gu): codes, names and boundary polygons.

The shipped boundary file is the JUSO 2015 municipalities layer from southkorea/seoul-maps
(Apache-2.0). Its ``SIG_CD`` codes are the administrative district codes used by Korean
government data (11110 종로구 ... 11740 강동구). The KOSTAT 2013 layer from the same project,
which numbers gu with statistical codes (11010 ...), is read too: every gu is matched by its
Korean name, so a :class:`District` always carries the administrative code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from smartseoul.datasets import DatasetError, decode_text, shipped_file

__all__ = [
    "GU",
    "SHIPPED_BOUNDARIES",
    "District",
    "Gu",
    "district_at",
    "gu_by_name",
    "read_districts",
]

SHIPPED_BOUNDARIES = "seoul-gu-juso2015.geojson"


class Gu(NamedTuple):
    """One gu of Seoul: administrative code and names."""

    code: str
    name_ko: str
    name_en: str


# Administrative codes (시군구 코드) and the official Revised Romanization of the 25 gu.
GU: tuple[Gu, ...] = (
    Gu("11110", "종로구", "Jongno-gu"),
    Gu("11140", "중구", "Jung-gu"),
    Gu("11170", "용산구", "Yongsan-gu"),
    Gu("11200", "성동구", "Seongdong-gu"),
    Gu("11215", "광진구", "Gwangjin-gu"),
    Gu("11230", "동대문구", "Dongdaemun-gu"),
    Gu("11260", "중랑구", "Jungnang-gu"),
    Gu("11290", "성북구", "Seongbuk-gu"),
    Gu("11305", "강북구", "Gangbuk-gu"),
    Gu("11320", "도봉구", "Dobong-gu"),
    Gu("11350", "노원구", "Nowon-gu"),
    Gu("11380", "은평구", "Eunpyeong-gu"),
    Gu("11410", "서대문구", "Seodaemun-gu"),
    Gu("11440", "마포구", "Mapo-gu"),
    Gu("11470", "양천구", "Yangcheon-gu"),
    Gu("11500", "강서구", "Gangseo-gu"),
    Gu("11530", "구로구", "Guro-gu"),
    Gu("11545", "금천구", "Geumcheon-gu"),
    Gu("11560", "영등포구", "Yeongdeungpo-gu"),
    Gu("11590", "동작구", "Dongjak-gu"),
    Gu("11620", "관악구", "Gwanak-gu"),
    Gu("11650", "서초구", "Seocho-gu"),
    Gu("11680", "강남구", "Gangnam-gu"),
    Gu("11710", "송파구", "Songpa-gu"),
    Gu("11740", "강동구", "Gangdong-gu"),
)
_BY_NAME = {gu.name_ko: gu for gu in GU}

# Property names carrying the Korean gu name, per known boundary layer (JUSO, KOSTAT).
_NAME_KEYS = ("SIG_KOR_NM", "name")


@dataclass(frozen=True, slots=True)
class District:
    """A gu with its boundary.

    Attributes
    ----------
    code
        Five-digit administrative district code, e.g. ``"11110"``.
    name_ko, name_en
        Korean name and its romanisation, e.g. ``"종로구"``, ``"Jongno-gu"``.
    geometry
        GeoJSON Polygon or MultiPolygon in WGS84 (longitude, latitude).
    centroid
        ``(lon, lat)`` of the polygon's centroid.
    representative_point
        ``(lon, lat)`` guaranteed to lie inside the polygon (the centroid of a concave gu
        need not); use it to place things "somewhere in this gu".
    shape
        The geometry as a shapely object, for spatial tests.
    """

    code: str
    name_ko: str
    name_en: str
    geometry: dict[str, Any]
    centroid: tuple[float, float]
    representative_point: tuple[float, float]
    shape: BaseGeometry = field(repr=False, compare=False)


def gu_by_name(name_ko: str) -> Gu:
    """Look up a gu by its Korean name.

    Examples
    --------
    >>> gu_by_name("종로구")
    Gu(code='11110', name_ko='종로구', name_en='Jongno-gu')
    """
    try:
        return _BY_NAME[name_ko.strip()]
    except KeyError:
        raise DatasetError(
            f"{name_ko!r} is not one of Seoul's 25 gu ({', '.join(_BY_NAME)})"
        ) from None


def read_districts(path: Path | str | None = None) -> list[District]:
    """Read the gu boundary GeoJSON into 25 districts, sorted by code.

    Parameters
    ----------
    path
        A FeatureCollection with one feature per gu (JUSO ``SIG_KOR_NM`` or KOSTAT
        ``name`` properties). ``None`` reads the shipped JUSO 2015 layer.

    Returns
    -------
    list of District

    Raises
    ------
    DatasetError
        If a feature names no known gu, a gu appears twice or one is missing.
    """
    path = Path(path) if path is not None else shipped_file(SHIPPED_BOUNDARIES)
    collection = json.loads(decode_text(path.read_bytes(), source=str(path)))
    districts: dict[str, District] = {}
    for index, feature in enumerate(collection.get("features", [])):
        properties = feature.get("properties") or {}
        name = next((properties[key] for key in _NAME_KEYS if key in properties), None)
        if name is None:
            raise DatasetError(
                f"{path}: feature {index} has no gu name ({' or '.join(_NAME_KEYS)})"
            )
        gu = gu_by_name(name)
        if gu.code in districts:
            raise DatasetError(f"{path}: {gu.name_ko} appears twice")
        districts[gu.code] = _district(gu, feature.get("geometry"), f"{path}: {gu.name_ko}")
    missing = [gu.name_ko for gu in GU if gu.code not in districts]
    if missing:
        raise DatasetError(f"{path}: no boundary for {', '.join(missing)}")
    return [districts[code] for code in sorted(districts)]


def district_at(
    lon: float, lat: float, districts: Iterable[District], *, within: float = 0.005
) -> District | None:
    """The district containing a point, else the nearest one closer than ``within`` degrees.

    The tolerance (about 500 m by default) catches points on a border road or a bridge
    that fall a hair outside every polygon; points farther out (Paldang dam) get ``None``.

    Examples
    --------
    >>> district_at(126.9770, 37.5759, read_districts()).name_en  # Gwanghwamun
    'Jongno-gu'
    >>> district_at(127.2795, 37.5260, read_districts()) is None  # Paldang dam, Hanam
    True
    """
    point = Point(lon, lat)
    distance, nearest = min(
        ((district.shape.distance(point), district) for district in districts),
        key=lambda pair: pair[0],
        default=(float("inf"), None),
    )
    return nearest if distance <= within else None


def _district(gu: Gu, geometry: dict[str, Any] | None, where: str) -> District:
    if not geometry or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise DatasetError(f"{where}: geometry must be a Polygon or MultiPolygon")
    polygon = shape(geometry)
    if polygon.is_empty:
        raise DatasetError(f"{where}: empty geometry")
    inside = polygon.representative_point()
    return District(
        code=gu.code,
        name_ko=gu.name_ko,
        name_en=gu.name_en,
        geometry=geometry,
        centroid=(polygon.centroid.x, polygon.centroid.y),
        representative_point=(inside.x, inside.y),
        shape=polygon,
    )
