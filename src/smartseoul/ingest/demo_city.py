"""The demo city: Seoul's gu, air-quality stations and Han River gauges as NGSI-LD entities.

:func:`build_demo_city` is pure: it reads the shipped data (and the Han River season files
when a folder is given) and returns entities plus the history to append; loading them
into a hub is the caller's job. Entities are normalized NGSI-LD in compact form: short
terms resolved by :data:`DEMO_CONTEXT` and the core context, e.g. ``@context:
[DEMO_CONTEXT, core]``. Types and attributes follow FIWARE Smart Data Models where one
exists; terms without one map to the NGSI-LD default vocabulary, exactly where they would
expand without any context.

Without Han River data the gauge readings are generated (a tide and a daily cycle around
typical flood-season levels); every such entity then carries ``dataProvenance``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from smartseoul.datasets import KST, shipped_file
from smartseoul.datasets.air import (
    POLLUTANTS,
    UNIT_CODES,
    DailyAirRecord,
    locate_stations,
    read_daily_by_station,
)
from smartseoul.datasets.boundaries import District, district_at, read_districts
from smartseoul.datasets.han_river import (
    GAUGES,
    PALDANG_DAM,
    Gauge,
    HanRiverRecord,
    read_han_river,
    season_files,
)
from smartseoul.ingest.devices import IOT_CONTEXT

__all__ = ["DEMO_AIR_FILE", "DEMO_CONTEXT", "GENERATED", "DemoCity", "build_demo_city"]

DEMO_AIR_FILE = "air-daily-by-station-2019.csv"
_SDOT_TERMS = (
    *("EnvironmentObserved", "Device", "deviceState", "dateLastValueReported"),
    *("temperature", "relativeHumidity", "illuminance", "uvIndex", "LAeq", "vibration"),
    *("windDirection", "windSpeed", "peopleCount"),
)
GENERATED = "generated: no Han River data found"

_SDM = "https://smartdatamodels.org/"
_ENV = _SDM + "dataModel.Environment/"
_DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"

DEMO_CONTEXT: dict[str, str] = {
    "AirQualityObserved": _ENV + "AirQualityObserved",
    "WaterObserved": _ENV + "WaterObserved",
    # Smart Data Models has no administrative-area type; schema.org's is the common one.
    "AdministrativeArea": "https://schema.org/AdministrativeArea",
    "name": _SDM + "name",
    "alternateName": _SDM + "alternateName",
    **{pollutant: _ENV + pollutant for pollutant in POLLUTANTS},
    "waterLevel": _ENV + "waterLevel",
    "flow": _ENV + "flow",
    # Project terms with no Smart Data Models equivalent.
    "code": _DEFAULT + "code",
    "district": _DEFAULT + "district",
    "refDistrict": _DEFAULT + "refDistrict",
    "stationKind": _DEFAULT + "stationKind",
    "inflow": _DEFAULT + "inflow",
    "discharge": _DEFAULT + "discharge",
    "floodAdvisoryLevel": _DEFAULT + "floodAdvisoryLevel",
    "floodWarningLevel": _DEFAULT + "floodWarningLevel",
    "dataProvenance": _DEFAULT + "dataProvenance",
    # The simulated S-DoT sensors (ingest/simulator.py) write under the IoT agent's terms.
    **{term: IOT_CONTEXT[term] for term in _SDOT_TERMS},
}
"""JSON-LD term definitions for the demo entities (the value of an ``@context``)."""

# UN/CEFACT common codes: MTR = metre, MQS = cubic metre per second.
_WATER_UNITS = {"waterLevel": "MTR", "flow": "MQS", "inflow": "MQS", "discharge": "MQS"}
_MINUTES_PER_STEP = 10
# Per gauge, for generated data: mean level (m), tide amplitude (m), mean flow (m³/s, None
# where the gauge measures none). Typical calm flood-season values from the 2019 file;
# the tide grows downstream towards the tidal Haengju gauge.
_GENERATED_GAUGE = {
    "1018662": (2.94, 0.05, 390.0),
    "1018680": (2.81, 0.06, None),
    "1018683": (2.80, 0.08, 300.0),
    "1019630": (2.67, 0.25, 480.0),
}
_M2_TIDE_HOURS = 12.42


@dataclass(slots=True)
class DemoCity:
    """What the demo loader writes into the hub.

    Attributes
    ----------
    entities
        Normalized NGSI-LD entities, compact form under :data:`DEMO_CONTEXT`; attributes
        hold the latest observation.
    history
        ``{"id": entity id, "attrs": {term: [instances]}}`` per entity: temporal instances,
        oldest first, each with ``observedAt`` in UTC (``...Z``).
    notes
        Human-readable remarks (what was generated or skipped), for the CLI to show.
    context
        The ``@context`` term map to send with the entities.
    """

    entities: list[dict[str, Any]]
    history: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    context: dict[str, str] = field(default_factory=lambda: dict(DEMO_CONTEXT))


def build_demo_city(
    *, han_river_dir: Path | str | None, days: int = 30, water_days: int = 3
) -> DemoCity:
    """Build the demo city from the shipped data and, if present, Han River season files.

    Parameters
    ----------
    han_river_dir
        Folder with ``data_YYYY.csv`` season files; the latest year is used, ``water_days``
        centred on its highest level at Hangang Bridge. ``None`` or a folder without
        season files: generated readings, labelled with ``dataProvenance``.
    days
        Days of air-quality history: the last ``days`` days of the shipped year (2019).
        The default, 30, gives about 9,000 instances, a load of a few seconds.
    water_days
        Days of 10-minute water history.

    Returns
    -------
    DemoCity
        Entities sorted by id within each kind: 25 gu, the air stations, the water sites.
    """
    if days < 1 or water_days < 1:
        raise ValueError("days and water_days must be at least 1")
    districts = read_districts()
    notes: list[str] = []
    air_entities, air_history, air_end = _air_quality(districts, days, notes)
    water_entities, water_history = _water(han_river_dir, districts, water_days, air_end, notes)
    entities = [_administrative_area(district) for district in districts]
    return DemoCity(
        entities=entities + air_entities + water_entities,
        history=air_history + water_history,
        notes=notes,
    )


def _administrative_area(district: District) -> dict[str, Any]:
    return {
        "id": _area_id(district.code),
        "type": "AdministrativeArea",
        "name": _names(district.name_ko, district.name_en),
        "code": {"type": "Property", "value": district.code},
        "location": {"type": "GeoProperty", "value": district.geometry},
    }


def _air_quality(
    districts: list[District], days: int, notes: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], datetime]:
    """Station entities and their daily history; also the end of the last day covered."""
    records = list(read_daily_by_station(shipped_file(DEMO_AIR_FILE)))
    window = sorted({record.date for record in records})[-days:]
    first = window[0]
    by_station: dict[str, list[DailyAirRecord]] = {}
    for record in records:
        if record.date >= first:
            by_station.setdefault(record.station, []).append(record)
    stations = locate_stations(districts)
    unknown = sorted(set(by_station) - set(stations))
    if unknown:
        notes.append(f"air stations without a known position, left out: {', '.join(unknown)}")
    entities, history = [], []
    for station in sorted(
        (stations[name] for name in by_station if name in stations), key=lambda s: s.slug
    ):
        days_seen = sorted(by_station[station.name_ko], key=lambda record: record.date)
        attrs = _instances(
            {
                pollutant: [(_day_start(r.date), getattr(r, pollutant)) for r in days_seen]
                for pollutant in POLLUTANTS
            },
            UNIT_CODES,
        )
        entity_id = f"urn:ngsi-ld:AirQualityObserved:seoul:{station.slug}"
        entities.append(
            {
                "id": entity_id,
                "type": "AirQualityObserved",
                "name": _names(station.name_ko, station.name_en),
                "location": _point(station.lon, station.lat),
                "stationKind": {"type": "Property", "value": station.kind},
                **_district_attrs(station.gu_code),
                **_latest(attrs),
            }
        )
        history.append({"id": entity_id, "attrs": attrs})
    notes.append(
        f"air quality: {len(entities)} stations, daily means {window[0]} to {window[-1]} "
        "(Seoul Open Data Plaza, KOGL type 1); positions are approximate"
    )
    return entities, history, _day_start(window[-1]) + timedelta(days=1)


def _water(
    han_river_dir: Path | str | None,
    districts: list[District],
    water_days: int,
    generated_end: datetime,
    notes: list[str],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    files = season_files(han_river_dir) if han_river_dir is not None else {}
    if files:
        year, path = max(files.items())
        records = _around_peak(list(read_han_river(path)), water_days)
        notes.append(
            f"Han River: {path.name}, {records[0].time:%Y-%m-%d %H:%M} to "
            f"{records[-1].time:%Y-%m-%d %H:%M} KST around the {year} peak at Hangang Bridge"
        )
    else:
        steps = water_days * 24 * 60 // _MINUTES_PER_STEP
        start = generated_end - timedelta(minutes=steps * _MINUTES_PER_STEP)
        records = [
            _generated(start + timedelta(minutes=i * _MINUTES_PER_STEP)) for i in range(steps)
        ]
        where = f"in {han_river_dir}" if han_river_dir is not None else "(no folder given)"
        notes.append(f"Han River: no data_YYYY.csv {where}; gauge readings are generated")

    entities, history = [], []
    sites = [*(GAUGES[code] for code in sorted(GAUGES)), PALDANG_DAM]
    for site in sites:
        if site is PALDANG_DAM:
            series = {
                "waterLevel": [(r.time, r.dam_level) for r in records],
                "inflow": [(r.time, r.dam_inflow) for r in records],
                "discharge": [(r.time, r.dam_discharge) for r in records],
            }
        else:
            series = {
                "waterLevel": [(r.time, r.water_level_m(site.code)) for r in records],
                "flow": [(r.time, r.flow.get(site.code)) for r in records],
            }
        attrs = _instances(series, _WATER_UNITS)
        entity = _water_site(site, districts) | _latest(attrs)
        if not files:
            entity["dataProvenance"] = {"type": "Property", "value": GENERATED}
        entities.append(entity)
        history.append({"id": entity["id"], "attrs": attrs})
    return entities, history


def _water_site(site: Gauge, districts: Iterable[District]) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "id": f"urn:ngsi-ld:WaterObserved:hrfco:{site.code}",
        "type": "WaterObserved",
        "name": _names(site.name_ko, site.name_en),
        "location": _point(site.lon, site.lat),
    }
    district = district_at(site.lon, site.lat, districts)
    if district is not None:
        entity |= _district_attrs(district.code)
    if site is PALDANG_DAM:
        entity["description"] = {
            "type": "Property",
            "value": "Paldang dam reservoir: waterLevel is the elevation above mean sea level "
            "(El.m); discharge is the total release.",
        }
    if site.advisory_m is not None:
        entity["floodAdvisoryLevel"] = {
            "type": "Property",
            "value": site.advisory_m,
            "unitCode": "MTR",
        }
    if site.warning_m is not None:
        entity["floodWarningLevel"] = {
            "type": "Property",
            "value": site.warning_m,
            "unitCode": "MTR",
        }
    return entity


def _around_peak(records: list[HanRiverRecord], water_days: int) -> list[HanRiverRecord]:
    """``water_days`` of records centred on the highest level at Hangang Bridge."""
    peak = max(records, key=lambda r: r.water_level_cm.get("1018683") or float("-inf")).time
    half = timedelta(days=water_days) / 2
    return [r for r in records if peak - half <= r.time < peak + half]


def _generated(moment: datetime) -> HanRiverRecord:
    """A plausible calm-day reading: an M2 tide plus a small daily cycle."""
    hours = (moment - datetime(2000, 1, 1, tzinfo=KST)).total_seconds() / 3600
    daily = math.sin(2 * math.pi * hours / 24)
    levels: dict[str, float | None] = {}
    flows: dict[str, float | None] = {}
    for index, (code, (mean, tide, flow)) in enumerate(_GENERATED_GAUGE.items()):
        # The tide reaches upstream gauges later: about an hour per gauge.
        wave = math.sin(2 * math.pi * (hours + index) / _M2_TIDE_HOURS)
        levels[code] = round((mean + tide * wave + 0.02 * daily) * 100, 1)
        flows[code] = None if flow is None else round(flow * (1 - 0.3 * wave), 2)
    return HanRiverRecord(
        time=moment,
        dam_level=round(25.1 + 0.05 * daily, 2),
        dam_inflow=round(180 + 40 * daily, 1),
        dam_storage=None,
        dam_free_capacity=None,
        dam_discharge=round(150 + 30 * daily, 1),
        tide_level_cm=None,
        water_level_cm=levels,
        flow=flows,
    )


def _latest(attrs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {term: dict(instances[-1]) for term, instances in attrs.items()}


def _instances(
    series: dict[str, list[tuple[datetime, float | None]]], unit_codes: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """Temporal instances per term, missing values left out; terms with none are dropped."""
    attrs = {
        term: [
            {
                "type": "Property",
                "value": value,
                "unitCode": unit_codes[term],
                "observedAt": _utc(moment),
            }
            for moment, value in values
            if value is not None
        ]
        for term, values in series.items()
    }
    return {term: instances for term, instances in attrs.items() if instances}


def _names(name_ko: str, name_en: str) -> dict[str, Any]:
    return {"type": "LanguageProperty", "languageMap": {"ko": name_ko, "en": name_en}}


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {
        "type": "GeoProperty",
        "value": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
    }


def _district_attrs(code: str) -> dict[str, Any]:
    return {
        "district": {"type": "Property", "value": code},
        "refDistrict": {"type": "Relationship", "object": _area_id(code)},
    }


def _area_id(code: str) -> str:
    return f"urn:ngsi-ld:AdministrativeArea:seoul:{code}"


def _day_start(day: date) -> datetime:
    """00:00 KST of a day: the time a daily mean is observed at."""
    return datetime.combine(day, time(), tzinfo=KST)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
