"""The mapping file of ``smartseoul import``: how the columns of a table become entities.

A mapping is YAML (``.yaml``/``.yml``) or JSON. It names the source layout, the
``@context``, the time column(s) and, per entity kind a row feeds, the id template, the
type, a lookup table, the location and the attributes. ``docs/import.md`` documents every
key; :data:`smartseoul/data/mappings` ships mappings for the Seoul air and Han River files,
usable by name (``--mapping seoul-air-daily``).

Templates such as ``urn:ngsi-ld:AirQualityObserved:seoul:{lookup.slug}`` take ``{column}``
(the cell, stripped) and ``{lookup.field}`` (a field of the row's lookup record). Columns
are matched by header text with a bracketed unit and spaces removed, as the dataset
readers do (``미세먼지농도(㎍/㎥)`` matches ``미세먼지농도``). Pure: no hub, no network.
"""

from __future__ import annotations

import csv
import json
import re
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from smartseoul.datasets import KST, DatasetError, decode_text, parse_number
from smartseoul.ingest.payloads import INT64_RANGE

__all__ = [
    "LOOKUPS",
    "AttributeSpec",
    "EntitySpec",
    "ImportMapping",
    "MappingError",
    "StaticSpec",
    "TimeSpec",
    "builtin_mappings",
    "header_key",
    "load_mapping",
    "render_template",
]

KINDS = ("number", "integer", "text", "boolean")
STATIC_TYPES = {"Property": "value", "Relationship": "object", "LanguageProperty": "languageMap"}
_FIELD = re.compile(r"\{([^{}]+)\}")
_UNIT = re.compile(r"\([^()]*\)\s*$")
_URI_UNSAFE = re.compile(r"[\s<>\"{}|\\^`]")
_TRUE = frozenset({"true", "1", "yes", "y", "t", "예", "o"})
_FALSE = frozenset({"false", "0", "no", "n", "f", "아니오", "x"})


class MappingError(ValueError):
    """A mapping file is invalid or does not fit the table; the message names the key."""


def header_key(text: str) -> str:
    """A header or mapping column name compared without its unit in brackets or spaces.

    >>> header_key(" 미세먼지농도(㎍/㎥) ")
    '미세먼지농도'
    """
    return re.sub(r"\s+", "", _UNIT.sub("", str(text).strip()))


@dataclass(frozen=True, slots=True)
class AttributeSpec:
    """A measured attribute: one instance per row, observed at the row's time."""

    name: str
    column: str
    kind: str = "number"
    unit_code: str | None = None
    scale: float | None = None
    dataset_id: str | None = None

    def convert(self, cell: Any) -> Any:
        """The attribute value of one cell, or None for a missing one (DatasetError if bad)."""
        if self.kind in ("number", "integer"):
            number = parse_number(cell)
            if number is None:
                return None
            if self.scale is not None:
                number = round(number * self.scale, 12)
            if self.kind == "number":
                return number
            if not number.is_integer():
                raise DatasetError(f"expected an integer, got {cell!r}")
            if not INT64_RANGE[0] <= number < INT64_RANGE[1]:
                raise DatasetError(f"integer out of the 64-bit range: {cell!r}")
            return int(number)
        text = "" if cell is None else str(cell).strip()
        if not text:
            return None
        if self.kind == "text":
            return text
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise DatasetError(f"expected a boolean, got {cell!r}")


@dataclass(frozen=True, slots=True)
class StaticSpec:
    """A descriptive attribute (name, kind, district...): written when it changes, not per row.

    ``template`` is a template string, or ``{language: template}`` for a LanguageProperty.
    """

    name: str
    type: str
    template: str | dict[str, str]


@dataclass(frozen=True, slots=True)
class TimeSpec:
    """The observation time: the cells of ``columns`` joined by a space, then parsed."""

    columns: tuple[str, ...]
    format: str = "iso"
    tz: tzinfo = KST

    def parse(self, cells: list[Any]) -> datetime:
        """The observation time in UTC; naive times are in ``tz`` (``24:00`` is next day 00:00).

        >>> TimeSpec(("d",), "%Y%m%d").parse(["20190101"]).isoformat()
        '2018-12-31T15:00:00+00:00'
        >>> TimeSpec(("d", "h"), "%Y-%m-%d %H:%M").parse(["2019-01-01", "24:00"]).isoformat()
        '2019-01-01T15:00:00+00:00'
        """
        if len(cells) == 1 and isinstance(cells[0], datetime | date):
            moment = cells[0]
            if not isinstance(moment, datetime):
                moment = datetime.combine(moment, datetime.min.time())
        else:
            text = " ".join(_cell_text(c) for c in cells).strip()
            if not text:
                raise DatasetError("no time given")
            moment = self._parse_text(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.tz)
        try:
            return moment.astimezone(UTC)
        except OverflowError:  # the year 1 or 9999 moved out of range by its UTC offset
            raise DatasetError(f"time {moment.isoformat()} is out of range in UTC") from None

    def _parse_text(self, text: str) -> datetime:
        extra, written = timedelta(0), text
        # Korean hourly files write midnight as 24:00 of the day that ends.
        midnight = re.search(r"(?<![\d])24(:?00)", text)
        if midnight:
            text = text[: midnight.start()] + "00" + text[midnight.start() + 2 :]
            extra = timedelta(days=1)
        try:
            if self.format == "iso":
                return datetime.fromisoformat(text) + extra
            return datetime.strptime(text, self.format) + extra
        except ValueError:
            raise DatasetError(f"time {text!r} does not match the format {self.format!r}") from None
        except OverflowError:  # 24:00 of 9999-12-31
            raise DatasetError(f"time {written!r} is out of range") from None


def _cell_text(cell: Any) -> str:
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)  # spreadsheets give 20190101 as a float
    return "" if cell is None else str(cell).strip()


@dataclass(frozen=True, slots=True)
class EntitySpec:
    """One kind of entity a row feeds."""

    id: str
    type: str
    attributes: tuple[AttributeSpec, ...]
    static: tuple[StaticSpec, ...] = ()
    lookup_table: str | None = None
    lookup_key: str | None = None
    location: tuple[str, str] | None = None  # lon, lat templates
    unknown: str = "error"  # or "skip": a lookup key with no record

    def static_columns(self) -> tuple[str, ...]:
        """The columns the descriptive attributes and the location read."""
        texts: list[str] = [*(self.location or ())]
        for spec in self.static:
            texts.extend(
                spec.template.values() if isinstance(spec.template, dict) else [spec.template]
            )
        return tuple(sorted(_columns_in(texts)))

    def columns(self) -> set[str]:
        """The columns this entity reads (templates and attributes)."""
        names = _columns_in([self.id, self.lookup_key or ""]) | set(self.static_columns())
        return names | {a.column for a in self.attributes}


def _columns_in(templates: list[str]) -> set[str]:
    return {m for t in templates for m in _FIELD.findall(t) if not m.startswith("lookup.")}


@dataclass(frozen=True, slots=True)
class ImportMapping:
    """A whole mapping file."""

    name: str
    time: TimeSpec
    entities: tuple[EntitySpec, ...]
    context: Any = None
    encoding: str | None = None
    sheet: str | int | None = None
    header_row: int = 1
    delimiter: str = ","
    digest: str = ""
    lookups: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def columns(self) -> set[str]:
        return set(self.time.columns).union(*(e.columns() for e in self.entities))


def render_template(
    template: str, cells: Mapping[str, Any], record: Mapping[str, Any] | None, *, uri: bool = False
) -> str:
    """Fill ``{column}`` and ``{lookup.field}``; for an id, characters a URI forbids are escaped.

    >>> render_template("urn:x:{a}:{lookup.slug}", {"a": "b c"}, {"slug": "s"}, uri=True)
    'urn:x:b%20c:s'
    """

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key.startswith("lookup."):
            if record is None or key[7:] not in record:
                raise DatasetError(f"{{{key}}}: the lookup record has no field {key[7:]!r}")
            value = _cell_text(record[key[7:]])
        else:
            value = _cell_text(cells.get(key))
            if not value:
                raise DatasetError(f"column {key} is empty")
        if uri:
            return _URI_UNSAFE.sub(
                lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), value
            )
        return value

    return _FIELD.sub(fill, template)


# -- lookup tables: an explicit registry, or a CSV file beside the mapping -------------------


def _air_stations() -> dict[str, dict[str, Any]]:
    from smartseoul.datasets.air import locate_stations
    from smartseoul.datasets.boundaries import read_districts

    stations = locate_stations(read_districts())
    return {k: {f: getattr(s, f) for f in s.__dataclass_fields__} for k, s in stations.items()}


def _districts() -> dict[str, dict[str, Any]]:
    from smartseoul.datasets.boundaries import read_districts

    out = {}
    for d in read_districts():
        lon, lat = d.representative_point
        record = {
            "code": d.code,
            "name_ko": d.name_ko,
            "name_en": d.name_en,
            "lon": lon,
            "lat": lat,
        }
        out[d.name_ko] = out[d.code] = record
    return out


def _gauges() -> dict[str, dict[str, Any]]:
    from smartseoul.datasets.han_river import GAUGES, PALDANG_DAM

    sites = [*GAUGES.values(), PALDANG_DAM]
    return {s.code: {f: getattr(s, f) for f in s.__dataclass_fields__} for s in sites}


LOOKUPS: dict[str, Callable[[], dict[str, dict[str, Any]]]] = {
    "seoul-air-stations": _air_stations,
    "seoul-districts": _districts,
    "han-river-gauges": _gauges,
}
"""Built-in lookup tables by name: key -> record (fields usable as ``{lookup.field}``)."""


def _lookup_file(path: Path) -> dict[str, dict[str, Any]]:
    """A CSV lookup table: the first column is the key."""
    rows = list(csv.DictReader(decode_text(path.read_bytes(), source=str(path)).splitlines()))
    if not rows:
        raise MappingError(f"lookup table {path} is empty")
    key = next(iter(rows[0]))
    return {
        row[key].strip(): {k.strip(): (v or "").strip() for k, v in row.items()} for row in rows
    }


def _load_lookup(table: str, base: Path) -> dict[str, dict[str, Any]]:
    if table in LOOKUPS:
        return LOOKUPS[table]()
    path = base / table
    if table.endswith(".csv") and path.is_file():
        return _lookup_file(path)
    raise MappingError(
        f"lookup.table: unknown table {table!r}; valid: {', '.join(sorted(LOOKUPS))} "
        "or a .csv file beside the mapping"
    )


# -- loading --------------------------------------------------------------------------------


def builtin_mappings() -> dict[str, Path]:
    """The mappings shipped in ``smartseoul/data/mappings``, by name."""
    folder = Path(str(files("smartseoul").joinpath("data", "mappings")))
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def _tz(name: str) -> tzinfo:
    if name in ("Asia/Seoul", "KST"):
        return KST
    if name in ("UTC", "Z"):
        return UTC
    if re.fullmatch(r"[+-]\d\d:\d\d", name):
        sign = -1 if name[0] == "-" else 1
        return timezone(sign * timedelta(hours=int(name[1:3]), minutes=int(name[4:6])))
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise MappingError(f"time.timezone: unknown time zone {name!r}") from None


def _need(raw: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in raw:
        raise MappingError(f"{where}: {key} is missing")
    return raw[key]


def _attribute(name: str, raw: Any, where: str) -> AttributeSpec:
    if isinstance(raw, str):
        raw = {"column": raw}
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: give a column name or an object with column")
    kind = raw.get("type", "number")
    if kind not in KINDS:
        raise MappingError(f"{where}.type: {kind!r} is not one of {', '.join(KINDS)}")
    unknown = set(raw) - {"column", "type", "unitCode", "scale", "datasetId"}
    if unknown:
        raise MappingError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    scale = raw.get("scale")
    return AttributeSpec(
        name=name,
        column=header_key(_need(raw, "column", where)),
        kind=kind,
        unit_code=None if raw.get("unitCode") is None else str(raw["unitCode"]),
        scale=None if scale is None else float(scale),
        dataset_id=raw.get("datasetId"),
    )


def _static(name: str, raw: Any, where: str) -> StaticSpec:
    if isinstance(raw, str):
        return StaticSpec(name, "Property", raw)
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in STATIC_TYPES.values():
        raise MappingError(f"{where}: give a template, or one of value, object, languageMap")
    member, template = next(iter(raw.items()))
    kind = next(k for k, v in STATIC_TYPES.items() if v == member)
    if kind == "LanguageProperty" and not isinstance(template, dict):
        raise MappingError(f"{where}.languageMap: give {{language: template}}")
    if isinstance(template, dict):
        return StaticSpec(name, kind, {str(k): str(v) for k, v in template.items()})
    return StaticSpec(name, kind, str(template))


def _entity(raw: Any, where: str) -> EntitySpec:
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: must be an object")
    attributes = raw.get("attributes") or {}
    if not isinstance(attributes, dict) or not attributes:
        raise MappingError(f"{where}.attributes: map at least one attribute to a column")
    lookup = raw.get("lookup") or {}
    location = raw.get("location")
    if location is not None:
        if not isinstance(location, dict) or set(location) != {"lon", "lat"}:
            raise MappingError(f"{where}.location: give lon and lat (templates or numbers)")
        location = (str(location["lon"]), str(location["lat"]))
    unknown = raw.get("unknown", "error")
    if unknown not in ("error", "skip"):
        raise MappingError(f"{where}.unknown: error or skip")
    return EntitySpec(
        id=str(_need(raw, "id", where)),
        type=str(_need(raw, "type", where)),
        attributes=tuple(
            _attribute(n, a, f"{where}.attributes.{n}") for n, a in attributes.items()
        ),
        static=tuple(
            _static(n, s, f"{where}.static.{n}") for n, s in (raw.get("static") or {}).items()
        ),
        lookup_table=lookup.get("table"),
        lookup_key=None if not lookup else str(_need(lookup, "key", f"{where}.lookup")),
        location=location,
        unknown=unknown,
    )


def parse_mapping(raw: Any, *, name: str = "<mapping>", base: Path = Path(".")) -> ImportMapping:
    """A mapping from its parsed YAML/JSON document; lookup files are read from ``base``."""
    if not isinstance(raw, dict):
        raise MappingError(f"{name}: the mapping must be an object")
    source = raw.get("source") or {}
    time = _need(raw, "time", name)
    columns = time.get("column") or time.get("columns")
    if isinstance(columns, str):
        columns = [columns]
    if not columns:
        raise MappingError(f"{name}: time.column is missing")
    entities = raw.get("entities") or ([raw["entity"]] if "entity" in raw else [])
    if not entities:
        raise MappingError(f"{name}: entities is missing")
    specs = tuple(_entity(e, f"entities[{i}]") for i, e in enumerate(entities))
    tables = {s.lookup_table for s in specs if s.lookup_table}
    return ImportMapping(
        name=name,
        time=TimeSpec(
            columns=tuple(header_key(c) for c in columns),
            format=time.get("format", "iso"),
            tz=_tz(str(time.get("timezone", "Asia/Seoul"))),
        ),
        entities=specs,
        context=raw.get("context"),
        encoding=source.get("encoding") if source.get("encoding") != "auto" else None,
        sheet=source.get("sheet"),
        header_row=int(source.get("header_row", 1)),
        delimiter=str(source.get("delimiter", ",")),
        digest=json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str),
        lookups={t: _load_lookup(t, base) for t in sorted(tables)},
    )


def load_mapping(path_or_name: str | Path) -> ImportMapping:
    """Read a mapping file, or a shipped mapping by name (see :func:`builtin_mappings`)."""
    path = Path(path_or_name)
    if not path.is_file():
        shipped = builtin_mappings()
        if str(path_or_name) not in shipped:
            raise MappingError(
                f"mapping {str(path_or_name)!r} is neither a file nor a shipped mapping; "
                f"shipped: {', '.join(shipped)}"
            )
        path = shipped[str(path_or_name)]
    text = path.read_text(encoding="utf-8")
    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise MappingError(f"{path}: not valid {path.suffix[1:] or 'YAML'}: {exc}") from None
    return parse_mapping(raw, name=path.stem, base=path.parent)
