"""Han River gauges and Paldang dam: the 10-minute flood-season files and HRFCO records.

``data_YYYY.csv`` (1 May – 31 October, every 10 minutes, UTF-8) has the columns ``ymdhm``
(KST), Paldang dam ``swl`` level (El.m), ``inf`` inflow (m³/s), ``sfw`` storage and ``ecpc``
free capacity (million m³), ``tototf`` total discharge (m³/s), ``tide_level`` at Ganghwa
Bridge (cm), then ``wl_<code>`` water level (cm) and ``fw_<code>`` flow (m³/s) per HRFCO
gauge. Levels at the bridges are gauge heights, the dam level is an elevation above sea
level. Jamsu Bridge has no flow; flow at the tidal gauges can be negative.

HRFCO-style records (one row per gauge and time: code, ``ymdhm``, level in metres, flow)
are read by :func:`read_gauge_records`; :func:`gauge_readings` turns the wide season files
into the same :class:`GaugeReading` form.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from smartseoul.datasets import KST, DatasetError, decode_text, parse_number

__all__ = [
    "GAUGES",
    "PALDANG_DAM",
    "Gauge",
    "GaugeReading",
    "HanRiverRecord",
    "gauge_readings",
    "parse_ymdhm",
    "read_gauge_records",
    "read_han_river",
    "season_files",
]


@dataclass(frozen=True, slots=True)
class Gauge:
    """A water-level station: HRFCO code, names, approximate WGS84 position, warning levels.

    ``advisory_m`` and ``warning_m`` are the official flood advisory (홍수주의보) and flood
    warning (홍수경보) levels in metres of gauge height, where known.
    """

    code: str
    name_ko: str
    name_en: str
    lon: float
    lat: float
    advisory_m: float | None = None
    warning_m: float | None = None


# Positions are the bridges' river crossings, to a few hundred metres; HRFCO publishes the
# exact ones. Only Hangang Bridge's warning levels are given in our sources.
GAUGES: dict[str, Gauge] = {
    gauge.code: gauge
    for gauge in (
        Gauge("1018662", "청담대교", "Cheongdam Bridge", 127.0670, 37.5255),
        Gauge("1018680", "잠수교", "Jamsu Bridge", 126.9960, 37.5172),
        Gauge("1018683", "한강대교", "Hangang Bridge", 126.9590, 37.5170, 8.5, 10.5),
        Gauge("1019630", "행주대교", "Haengju Bridge", 126.8115, 37.5985),
    )
}
# The dam has no HRFCO gauge code in the season files; the code is our own.
PALDANG_DAM = Gauge("paldang-dam", "팔당댐", "Paldang Dam", 127.2795, 37.5260)


@dataclass(frozen=True, slots=True)
class HanRiverRecord:
    """One 10-minute row of a season file, in the file's own units; ``None`` if missing."""

    time: datetime
    dam_level: float | None
    """Paldang dam water level, El.m (metres above sea level)."""
    dam_inflow: float | None
    """m³/s."""
    dam_storage: float | None
    """Million m³."""
    dam_free_capacity: float | None
    """Million m³."""
    dam_discharge: float | None
    """Total release, m³/s."""
    tide_level_cm: float | None
    """Ganghwa Bridge tide level, cm."""
    water_level_cm: dict[str, float | None]
    """Gauge code -> water level, cm of gauge height."""
    flow: dict[str, float | None]
    """Gauge code -> flow, m³/s."""

    def water_level_m(self, code: str) -> float | None:
        """Water level at a gauge in metres (``None`` if missing or no such gauge)."""
        level_cm = self.water_level_cm.get(code)
        # Rounded to 0.1 mm: the file's floats carry noise like 293.70000000000005.
        return None if level_cm is None else round(level_cm / 100, 4)


@dataclass(frozen=True, slots=True)
class GaugeReading:
    """One observation at one gauge: level in metres, flow in m³/s, time tz-aware (KST)."""

    code: str
    time: datetime
    level_m: float | None
    flow_m3s: float | None


_DAM_COLUMNS = {
    "swl": "dam_level",
    "inf": "dam_inflow",
    "sfw": "dam_storage",
    "ecpc": "dam_free_capacity",
    "tototf": "dam_discharge",
    "tide_level": "tide_level_cm",
}
_GAUGE_COLUMN = re.compile(r"^(wl|fw)_(\w+)$")
_SEASON_FILE = re.compile(r"^data_(\d{4})\.csv$")
_YMDHM = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})[ T]?(\d{2}):?(\d{2})")
# Header names accepted for HRFCO-style records: HRFCO's API field names first.
_RECORD_COLUMNS = {
    "code": ("wlobscd", "obscd", "code", "station_code", "관측소코드"),
    "time": ("ymdhm", "time", "datetime", "관측시각", "일시"),
    "level": ("wl", "level", "water_level", "수위"),
    "flow": ("fw", "flow", "discharge", "유량"),
}


def parse_ymdhm(text: str) -> datetime:
    """Parse an HRFCO time, ``YYYYMMDDHHMM`` or ``YYYY-MM-DD HH:MM``, as KST.

    Examples
    --------
    >>> parse_ymdhm("201907311000").isoformat()
    '2019-07-31T10:00:00+09:00'
    >>> parse_ymdhm("2019-07-31 10:00") == parse_ymdhm("201907311000")
    True
    """
    try:
        # Fast path for the season files' ISO-like "2019-05-01 00:00".
        moment = datetime.fromisoformat(text)
    except ValueError:
        pass
    else:
        return moment if moment.tzinfo else moment.replace(tzinfo=KST)
    match = _YMDHM.match(text.strip())
    if not match:
        raise DatasetError(f"expected a time like 201907311000 or 2019-07-31 10:00, got {text!r}")
    try:
        year, month, day, hour, minute = map(int, match.groups())
        return datetime(year, month, day, hour, minute, tzinfo=KST)
    except ValueError as error:
        raise DatasetError(f"bad time {text!r}: {error}") from None


def season_files(directory: Path | str) -> dict[int, Path]:
    """The ``data_YYYY.csv`` season files in a folder, keyed by year (empty if none)."""
    directory = Path(directory)
    if not directory.is_dir():
        return {}
    found = {}
    for path in directory.iterdir():
        match = _SEASON_FILE.match(path.name)
        if match:
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def read_han_river(path: Path | str) -> Iterator[HanRiverRecord]:
    """Read a ``data_YYYY.csv`` season file; gauge codes are taken from its header.

    Raises
    ------
    DatasetError
        On a missing column, a bad time or a cell that is neither a number nor blank.
    """
    path = Path(path)
    rows = csv.reader(decode_text(path.read_bytes(), source=str(path)).splitlines())
    header = [title.strip() for title in next(rows, [])]
    missing = [name for name in ("ymdhm", *_DAM_COLUMNS) if name not in header]
    if missing:
        raise DatasetError(f"{path}: no column {', '.join(missing)} in header {header}")
    position = {name: header.index(name) for name in ("ymdhm", *_DAM_COLUMNS)}
    gauges: dict[str, list[tuple[str, int]]] = {"wl": [], "fw": []}
    for index, title in enumerate(header):
        match = _GAUGE_COLUMN.match(title)
        if match:
            gauges[match.group(1)].append((match.group(2), index))
    used = [position["ymdhm"], *(position[name] for name in _DAM_COLUMNS)]
    needed = 1 + max(used + [index for pairs in gauges.values() for _, index in pairs])
    for number, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) < needed:
            raise DatasetError(f"{path}: row {number}: {len(row)} columns, {needed} expected")
        try:
            record = HanRiverRecord(
                time=parse_ymdhm(row[position["ymdhm"]]),
                **{
                    field: parse_number(row[position[name]]) for name, field in _DAM_COLUMNS.items()
                },
                water_level_cm={code: parse_number(row[index]) for code, index in gauges["wl"]},
                flow={code: parse_number(row[index]) for code, index in gauges["fw"]},
            )
        except (DatasetError, IndexError) as error:
            raise DatasetError(f"{path}: row {number}: {error}") from None
        yield record


def gauge_readings(records: Iterable[HanRiverRecord]) -> Iterator[GaugeReading]:
    """Split season-file rows into per-gauge readings, levels converted from cm to metres.

    Times where a gauge has neither level nor flow are skipped.
    """
    for record in records:
        for code in sorted(record.water_level_cm.keys() | record.flow.keys()):
            level = record.water_level_m(code)
            flow = record.flow.get(code)
            if level is not None or flow is not None:
                yield GaugeReading(code, record.time, level, flow)


def read_gauge_records(path: Path | str) -> Iterator[GaugeReading]:
    """Read HRFCO-style gauge records: one row per gauge and time.

    The header names the columns, HRFCO style (``wlobscd, ymdhm, wl, fw``) or plainly
    (``code, time, level, flow``); the flow column is optional. Levels are in metres, as
    HRFCO publishes them; blank or ``-`` cells are missing values.
    """
    path = Path(path)
    rows = csv.DictReader(decode_text(path.read_bytes(), source=str(path)).splitlines())
    header = [title.strip() for title in rows.fieldnames or []]
    rows.fieldnames = header
    # The first accepted name present in the header, per field.
    column: dict[str, str] = {}
    for field, names in _RECORD_COLUMNS.items():
        present = [name for name in names if name in header]
        if present:
            column[field] = present[0]
    missing = [field for field in ("code", "time", "level") if field not in column]
    if missing:
        raise DatasetError(f"{path}: no column for {', '.join(missing)} in header {header}")
    for number, row in enumerate(rows, start=2):
        try:
            reading = _gauge_reading(row, column)
        except DatasetError as error:
            raise DatasetError(f"{path}: row {number}: {error}") from None
        yield reading


def _gauge_reading(row: dict[str, str | None], column: dict[str, str]) -> GaugeReading:
    code = (row[column["code"]] or "").strip()
    if not code:
        raise DatasetError("no station code")
    return GaugeReading(
        code=code,
        time=parse_ymdhm(row[column["time"]] or ""),
        level_m=parse_number(row[column["level"]]),
        flow_m3s=parse_number(row[column["flow"]]) if "flow" in column else None,
    )
