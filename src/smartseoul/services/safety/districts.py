"""Seoul district statistics: crimes per police station, residents, cameras, area counts.

Readers for the real files of ``../shared/data/safety/district-stats`` (see
``../shared/data/DATA.md``) and simple ``area, count`` CSVs; UTF-8 or cp949, numbers with
thousands separators.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from smartseoul.datasets import DatasetError, decode_text, parse_number
from smartseoul.services.safety.errors import SafetyInputError

__all__ = [
    "CRIMES",
    "SEOUL_STATION_GU",
    "StationCrimes",
    "crimes_by_gu",
    "read_area_counts",
    "read_cctv_counts",
    "read_population",
    "read_station_crimes",
    "read_station_gu",
]

log = logging.getLogger("smartseoul.safety")
CRIMES = ("살인", "강도", "강간", "절도", "폭력")
"""The five major crimes of the Korean police statistics: murder, robbery, rape, theft, violence."""


def _csv_rows(path: Path | str) -> tuple[str, list[dict[str, str]]]:
    path = Path(path)
    try:
        text = decode_text(path.read_bytes(), source=str(path))
    except DatasetError as err:
        raise SafetyInputError(str(err)) from None
    return str(path), [
        {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        for row in csv.DictReader(io.StringIO(text))
    ]


def _count(row: Mapping[str, str], column: str, where: str) -> float:
    try:
        value = parse_number(row.get(column))
    except DatasetError:
        value = None
    if value is None:
        raise SafetyInputError(f"{where}: column {column!r} has no number ({row.get(column)!r})")
    return value


def read_area_counts(path: Path | str) -> dict[str, float]:
    """Counts per area from a CSV with an ``area`` (name or code) and a ``count`` column."""
    source, rows = _csv_rows(path)
    out: dict[str, float] = {}
    for n, row in enumerate(rows, start=2):
        lower = {k.lower(): v for k, v in row.items()}
        area = next((lower[k] for k in ("area", "gu", "code", "name") if lower.get(k)), "")
        if not area:
            raise SafetyInputError(f"{source} row {n}: no area (columns area, gu, code or name)")
        out[area] = out.get(area, 0.0) + _count(lower, "count", f"{source} row {n}")
    if not out:
        raise SafetyInputError(f"{source}: no rows")
    return out


def read_population(path: Path | str) -> dict[str, int]:
    """Residents per gu (Korean name) from the population CSV (``자치구``, ``인구``).

    The shipped ``population-by-district-2017q1.csv`` is the Seoul statistics table
    converted from ``.xls`` (see ``data/ATTRIBUTION.md``).
    """
    source, rows = _csv_rows(path)
    out: dict[str, int] = {}
    for n, row in enumerate(rows, start=2):
        gu = row.get("자치구") or row.get("gu") or ""
        if not gu or gu == "합계":
            continue
        column = "인구" if "인구" in row else "population"
        out[gu] = int(_count(row, column, f"{source} row {n}"))
    if not out:
        raise SafetyInputError(f"{source}: no gu rows (columns 자치구, 인구 or gu, population)")
    return out


def read_cctv_counts(path: Path | str) -> dict[str, int]:
    """CCTV cameras installed per gu up to 2016 (``기관명``, ``소계``: the Seoul open data file)."""
    source, rows = _csv_rows(path)
    out = {}
    for n, row in enumerate(rows, start=2):
        name = row.get("기관명") or row.get("gu") or ""
        if name:
            column = "소계" if "소계" in row else "cameras"
            out[name] = int(_count(row, column, f"{source} row {n}"))
    if not out:
        raise SafetyInputError(f"{source}: no gu rows (columns 기관명, 소계 or gu, cameras)")
    return out


SEOUL_STATION_GU: dict[str, str] = {
    "중부서": "중구", "종로서": "종로구", "남대문서": "중구", "서대문서": "서대문구",
    "혜화서": "종로구", "용산서": "용산구", "성북서": "성북구", "동대문서": "동대문구",
    "마포서": "마포구", "영등포서": "영등포구", "성동서": "성동구", "동작서": "동작구",
    "광진서": "광진구", "서부서": "은평구", "강북서": "강북구", "금천서": "금천구",
    "중랑서": "중랑구", "강남서": "강남구", "관악서": "관악구", "강서서": "강서구",
    "강동서": "강동구", "종암서": "성북구", "구로서": "구로구", "서초서": "서초구",
    "양천서": "양천구", "송파서": "송파구", "노원서": "노원구", "방배서": "서초구",
    "은평서": "은평구", "도봉서": "도봉구", "수서서": "강남구",
}  # fmt: skip
"""The gu of each of Seoul's 31 police stations (2016), by the station's address.

The published ``-with-gu`` crime file puts 강서서 in 양천구; the station is in 강서구, and
without it 강서구 would have no crime figures at all, so this map wins over that column.
"""


@dataclass(frozen=True)
class StationCrimes:
    """The five major crimes at one police station: occurrences and arrests per crime."""

    station: str
    gu: str
    occurred: dict[str, int]
    arrested: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.occurred.values())


def read_station_crimes(
    path: Path | str, *, station_gu: Mapping[str, str] | None = None
) -> list[StationCrimes]:
    """Five major crimes per police station (``관서명``, ``<crime> 발생``, ``<crime> 검거``).

    The gu of each station comes from ``station_gu`` if given, else from
    :data:`SEOUL_STATION_GU`, else from the file's ``구별`` column; a disagreeing ``구별``
    is logged. A station with no gu at all is an error naming it.
    """
    source, rows = _csv_rows(path)
    known = {**SEOUL_STATION_GU, **(station_gu or {})}
    out = []
    for n, row in enumerate(rows, start=2):
        station = row.get("관서명", "")
        if not station:
            continue
        gu = known.get(station) or row.get("구별")
        if row.get("구별") and gu != row["구별"]:
            log.warning("%s row %d: %s is in %s, not %s as the file says", source, n, station,
                        gu, row["구별"])  # fmt: skip
        if not gu:
            raise SafetyInputError(
                f"{source} row {n}: no gu for police station {station!r} (no 구별 column; "
                "pass a station-to-gu map)"
            )
        where = f"{source} row {n} ({station})"
        occurred = {c: int(_count(row, f"{c} 발생", where)) for c in CRIMES}
        arrested = {c: int(_count(row, f"{c} 검거", where)) for c in CRIMES}
        out.append(StationCrimes(station, gu, occurred, arrested))
    if not out:
        raise SafetyInputError(f"{source}: no police station rows (column 관서명)")
    return out


def read_station_gu(path: Path | str) -> dict[str, str]:
    """Police station to gu map from a CSV with ``관서명`` and ``구별`` columns."""
    source, rows = _csv_rows(path)
    out = {row["관서명"]: row["구별"] for row in rows if row.get("관서명") and row.get("구별")}
    if not out:
        raise SafetyInputError(f"{source}: no station-to-gu rows (columns 관서명, 구별)")
    return out


def crimes_by_gu(stations: Iterable[StationCrimes]) -> dict[str, int]:
    """Total occurrences of the five crimes per gu (stations summed into their gu)."""
    out: dict[str, int] = {}
    for s in stations:
        out[s.gu] = out.get(s.gu, 0) + s.total
    return out
