"""Seoul air-quality files: daily means by station, citywide hourly means, pollutant bands.

Formats, as published by Seoul (warts included):

- daily by station (Seoul Open Data Plaza OA-2218): 2014–2017 as ``.xlsx`` whose CO column
  is mislabelled ``이산화탄소농도`` (carbon *dioxide*); 2018 onwards as cp949 CSV. Columns:
  ``측정일시`` (YYYYMMDD), ``측정소명`` station, NO2, O3, CO, SO2 (ppm), PM10, PM2.5 (㎍/㎥).
- citywide hourly (clean-air portal): UTF-8 CSV, an unnamed index column, ``일시`` with the
  hour ``24:00`` for midnight, and the NO2 column mislabelled ``이산화탄소``.
- ``item-info.csv``: item code, name, unit and the upper bounds of the good / normal / bad /
  very bad bands.

Measuring stations are the 25 district stations (named after their gu), roadside stations
(named after their road) and a few others. Their positions are approximate: see
:func:`locate_stations`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from smartseoul.datasets import KST, DatasetError, decode_text, parse_number
from smartseoul.datasets.boundaries import District, district_at

__all__ = [
    "POLLUTANTS",
    "UNIT_CODES",
    "DailyAirRecord",
    "HourlyAirRecord",
    "PollutantBands",
    "Station",
    "locate_stations",
    "parse_hour",
    "read_citywide_hourly",
    "read_daily_by_station",
    "read_item_info",
]

POLLUTANTS = ("no2", "o3", "co", "so2", "pm10", "pm25")
# UN/CEFACT common codes: 59 = part per million, GQ = microgram per cubic metre.
UNIT_CODES = {"no2": "59", "o3": "59", "co": "59", "so2": "59", "pm10": "GQ", "pm25": "GQ"}

# Header text (units in brackets and spaces removed) -> field.
_DAILY_COLUMNS = {
    "측정일시": "date",
    "측정소명": "station",
    "이산화질소농도": "no2",
    "오존농도": "o3",
    "일산화탄소농도": "co",
    # 2014-2017 sheets call CO "carbon dioxide"; the values (~0.5 ppm) are CO.
    "이산화탄소농도": "co",
    "아황산가스농도": "so2",
    "아황산가스": "so2",
    "미세먼지농도": "pm10",
    "미세먼지": "pm10",
    "초미세먼지농도": "pm25",
    "초미세먼지": "pm25",
}
_HOURLY_COLUMNS = {
    "일시": "time",
    "초미세먼지": "pm25",
    "미세먼지": "pm10",
    "오존": "o3",
    "이산화질소": "no2",
    # The citywide file calls NO2 "carbon dioxide"; the values (~0.03 ppm) are NO2.
    "이산화탄소": "no2",
    "일산화탄소": "co",
    "아황산가스": "so2",
}
_ITEMS = {"SO2": "so2", "NO2": "no2", "CO": "co", "O3": "o3", "PM10": "pm10", "PM2.5": "pm25"}
_Record = TypeVar("_Record")
_UNIT_BRACKETS = re.compile(r"\(.*?\)|\s")
_HOURLY_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2})")


@dataclass(frozen=True, slots=True)
class DailyAirRecord:
    """Daily means at one station; gases in ppm, particulates in ㎍/㎥, ``None`` if missing."""

    date: date
    station: str
    no2: float | None
    o3: float | None
    co: float | None
    so2: float | None
    pm10: float | None
    pm25: float | None


@dataclass(frozen=True, slots=True)
class HourlyAirRecord:
    """Seoul-wide means for the hour ending at ``time`` (tz-aware, KST)."""

    time: datetime
    no2: float | None
    o3: float | None
    co: float | None
    so2: float | None
    pm10: float | None
    pm25: float | None


@dataclass(frozen=True, slots=True)
class PollutantBands:
    """Korean air-quality bands for one pollutant: the upper bound of each band."""

    pollutant: str
    item_code: int
    unit: str
    good: float
    normal: float
    bad: float
    very_bad: float

    def grade(self, value: float) -> str:
        """Band of a concentration: ``good``, ``normal``, ``bad`` or ``very bad``.

        Examples
        --------
        >>> pm10 = PollutantBands("pm10", 8, "µg/m³", 30, 80, 150, 600)
        >>> pm10.grade(30), pm10.grade(81), pm10.grade(700)
        ('good', 'bad', 'very bad')
        """
        if value <= self.good:
            return "good"
        if value <= self.normal:
            return "normal"
        return "bad" if value <= self.bad else "very bad"


@dataclass(frozen=True, slots=True)
class Station:
    """An air-quality measuring station with an approximate WGS84 position.

    ``kind`` is ``district`` (the station named after its gu), ``roadside`` or ``other``
    (parks, mountains and city-edge stations). ``gu_code`` is the gu containing the point.
    """

    name_ko: str
    name_en: str
    slug: str
    kind: str
    lon: float
    lat: float
    gu_code: str


# Stations not named after a gu: English name, id slug, kind, approximate (lon, lat) chosen
# from the road or landmark the station is named after. Good to a few hundred metres at
# best; enough for a city map, not for exposure studies.
_OTHER_STATIONS: dict[str, tuple[str, str, str, float, float]] = {
    "강남대로": ("Gangnam-daero", "gangnam-daero", "roadside", 127.0330, 37.4850),
    "강변북로": ("Gangbyeonbuk-ro", "gangbyeonbuk-ro", "roadside", 127.0560, 37.5380),
    "공항대로": ("Gonghang-daero", "gonghang-daero", "roadside", 126.8376, 37.5585),
    "도산대로": ("Dosan-daero", "dosan-daero", "roadside", 127.0355, 37.5240),
    "동작대로": ("Dongjak-daero", "dongjak-daero", "roadside", 126.9810, 37.4880),
    "시흥대로": ("Siheung-daero", "siheung-daero", "roadside", 126.8980, 37.4660),
    "신촌로": ("Sinchon-ro", "sinchon-ro", "roadside", 126.9380, 37.5545),
    "영등포로": ("Yeongdeungpo-ro", "yeongdeungpo-ro", "roadside", 126.9050, 37.5200),
    "정릉로": ("Jeongneung-ro", "jeongneung-ro", "roadside", 127.0130, 37.6030),
    "종로": ("Jong-ro", "jong-ro", "roadside", 126.9920, 37.5705),
    "천호대로": ("Cheonho-daero", "cheonho-daero", "roadside", 127.0530, 37.5675),
    "청계천로": ("Cheonggyecheon-ro", "cheonggyecheon-ro", "roadside", 127.0050, 37.5675),
    "한강대로": ("Hangang-daero", "hangang-daero", "roadside", 126.9730, 37.5350),
    "홍릉로": ("Hongneung-ro", "hongneung-ro", "roadside", 127.0440, 37.5870),
    "화랑로": ("Hwarang-ro", "hwarang-ro", "roadside", 127.0840, 37.6200),
    "홍지문": ("Hongjimun", "hongjimun", "roadside", 126.9580, 37.6010),
    "관악산": ("Gwanaksan", "gwanaksan", "other", 126.9500, 37.4560),
    "궁동": ("Gung-dong", "gung-dong", "other", 126.8330, 37.4985),
    "남산": ("Namsan", "namsan", "other", 126.9900, 37.5550),
    "북한산": ("Bukhansan", "bukhansan", "other", 127.0100, 37.6600),
    "세곡": ("Segok", "segok", "other", 127.1050, 37.4650),
    "행주": ("Haengju", "haengju", "other", 126.8150, 37.5850),
    "마포아트센터": ("Mapo Art Center", "mapo-art-center", "other", 126.9420, 37.5496),
    "서울숲": ("Seoul Forest", "seoul-forest", "other", 127.0374, 37.5444),
    "올림픽공원": ("Olympic Park", "olympic-park", "other", 127.1215, 37.5207),
    "자연사박물관": (
        "Natural History Museum",
        "natural-history-museum",
        "other",
        126.9420,
        37.5760,
    ),
}


def read_daily_by_station(path: Path | str) -> Iterator[DailyAirRecord]:
    """Read a daily-by-station file: ``.xlsx`` (2014–2017) or cp949/UTF-8 CSV (2018+).

    Columns are found by their Korean headers, so column order does not matter; the
    mislabelled CO column of the 2014–2017 sheets is read as CO.

    Raises
    ------
    DatasetError
        On a missing column or a cell that is neither a number nor blank.
    """
    path = Path(path)
    rows: Iterable[Sequence[object]]
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        rows = _xlsx_rows(path)
    else:
        rows = csv.reader(decode_text(path.read_bytes(), source=str(path)).splitlines())
    yield from _records(rows, _DAILY_COLUMNS, _daily_record, str(path))


def read_citywide_hourly(path: Path | str) -> Iterator[HourlyAirRecord]:
    """Read the citywide hourly averages; ``24:00`` becomes 00:00 of the next day (KST).

    Rows repeating an hour with the same values are dropped (the 2018–2020 file lists
    2019-12-01 twice); hours the file lacks (2019-12-07, 2020-02-29) are simply absent.

    Raises
    ------
    DatasetError
        If an hour appears twice with different values.
    """
    path = Path(path)
    rows = csv.reader(decode_text(path.read_bytes(), source=str(path)).splitlines())
    seen: dict[datetime, HourlyAirRecord] = {}
    for record in _records(rows, _HOURLY_COLUMNS, _hourly_record, str(path)):
        earlier = seen.setdefault(record.time, record)
        if earlier is record:
            yield record
        elif earlier != record:
            raise DatasetError(
                f"{path}: {record.time:%Y-%m-%d %H:%M} appears twice with different values"
            )


def read_item_info(path: Path | str) -> dict[str, PollutantBands]:
    """Read ``item-info.csv`` into bands keyed by pollutant (``pm10``, ``no2`` ...)."""
    path = Path(path)
    bands = {}
    for number, row in enumerate(
        csv.DictReader(decode_text(path.read_bytes(), source=str(path)).splitlines()), start=2
    ):
        where = f"{path}: row {number}"
        name = (row.get("Item name") or "").strip()
        if name not in _ITEMS:
            raise DatasetError(f"{where}: unknown item {name!r} (known: {', '.join(_ITEMS)})")
        pollutant = _ITEMS[name]
        good, normal, bad, very_bad = (
            _required(row.get(key), f"{where}, {key}")
            for key in ("Good", "Normal", "Bad", "Very bad")
        )
        bands[pollutant] = PollutantBands(
            pollutant=pollutant,
            item_code=int(_required(row.get("Item code"), f"{where}, Item code")),
            # Our own spelling: the file writes "Mircrogram/m3".
            unit="ppm" if UNIT_CODES[pollutant] == "59" else "µg/m³",
            good=good,
            normal=normal,
            bad=bad,
            very_bad=very_bad,
        )
    return bands


def locate_stations(districts: Iterable[District]) -> dict[str, Station]:
    """Every known station keyed by Korean name, with an approximate position.

    District stations (named after their gu) sit at the gu polygon's representative point;
    other stations at a point on the road or landmark they are named after. Each station
    gets the code of the gu containing its point.
    """
    districts = list(districts)
    stations = {
        d.name_ko: Station(
            d.name_ko, d.name_en, d.name_en.lower(), "district", *d.representative_point, d.code
        )
        for d in districts
    }
    for name_ko, (name_en, slug, kind, lon, lat) in _OTHER_STATIONS.items():
        district = district_at(lon, lat, districts)
        if district is None:
            raise DatasetError(
                f"station {name_ko} at ({lon}, {lat}) lies in none of the districts given"
            )
        stations[name_ko] = Station(name_ko, name_en, slug, kind, lon, lat, district.code)
    return stations


def parse_hour(text: str) -> datetime:
    """Parse ``YYYY-MM-DD HH:MM`` (KST) where the hour may be ``24``.

    Examples
    --------
    >>> parse_hour("2018-12-31 24:00").isoformat()
    '2019-01-01T00:00:00+09:00'
    """
    match = _HOURLY_TIME.match(text.strip())
    if not match:
        raise DatasetError(f"expected a time like 2018-01-01 24:00, got {text!r}")
    year, month, day, hour, minute = map(int, match.groups())
    if hour > 24 or (hour == 24 and minute):
        raise DatasetError(f"hour out of range in {text!r}")
    start = datetime(year, month, day, tzinfo=KST)
    return start + timedelta(hours=hour, minutes=minute)


def _xlsx_rows(path: Path) -> Iterator[tuple[object, ...]]:
    # openpyxl is imported here so CSV-only users never pay for it.
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        # Only the first sheet holds data; the others are empty placeholders.
        yield from workbook.worksheets[0].iter_rows(values_only=True)
    finally:
        workbook.close()


def _records(
    rows: Iterable[Sequence[object]],
    columns: dict[str, str],
    make: Callable[[Sequence[object], dict[str, int]], _Record],
    source: str,
) -> Iterator[_Record]:
    """Find the columns in the header row, then make one record per non-blank row."""
    numbered = (
        (number, row)
        for number, row in enumerate(rows, start=1)
        # Spreadsheets end in empty rows.
        if any(cell not in (None, "") for cell in row)
    )
    index = _column_index(next(numbered, (0, ()))[1], columns, source)
    for number, row in numbered:
        try:
            record = make(row, index)
        except DatasetError as error:
            raise DatasetError(f"{source}: row {number}: {error}") from None
        yield record


def _daily_record(row: Sequence[object], index: dict[str, int]) -> DailyAirRecord:
    station = str(_cell(row, index["station"]) or "").strip()
    if not station:
        raise DatasetError("no station name")
    return DailyAirRecord(_parse_day(_cell(row, index["date"])), station, *_levels(row, index))


def _hourly_record(row: Sequence[object], index: dict[str, int]) -> HourlyAirRecord:
    return HourlyAirRecord(parse_hour(str(_cell(row, index["time"]))), *_levels(row, index))


def _levels(row: Sequence[object], index: dict[str, int]) -> list[float | None]:
    """The pollutant cells of a row, in :data:`POLLUTANTS` order."""
    levels = []
    for name in POLLUTANTS:
        try:
            levels.append(parse_number(_cell(row, index[name])))
        except DatasetError as error:
            raise DatasetError(f"{name}: {error}") from None
    return levels


def _column_index(header: Sequence[object], columns: dict[str, str], source: str) -> dict[str, int]:
    index: dict[str, int] = {}
    for position, title in enumerate(header):
        field = columns.get(_UNIT_BRACKETS.sub("", str(title or "")))
        if field is None:
            continue
        if field in index:
            raise DatasetError(f"{source}: two columns hold {field} ({title!r} and another)")
        index[field] = position
    missing = sorted(set(columns.values()) - set(index))
    if missing:
        raise DatasetError(f"{source}: no column for {', '.join(missing)} in header {list(header)}")
    return index


def _cell(row: Sequence[object], position: int) -> object:
    return row[position] if position < len(row) else None


def _required(value: object, where: str) -> float:
    number = parse_number(value)
    if number is None:
        raise DatasetError(f"{where}: value missing")
    return number


@lru_cache(maxsize=4096)
def _parse_day(value: object) -> date:
    # Cached: a year of data holds ~18 k rows but only 365 distinct days.
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    digits = re.sub(r"\D", "", str(value or ""))
    if len(digits) != 8:
        raise DatasetError(f"expected a date like 20190101, got {value!r}")
    return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
