"""Rows of a CSV or Excel file turned into readings by a mapping (pure: no hub).

:func:`read_readings` streams a table, row by row, and yields for each row either the
:class:`Reading` objects it gives (one per entity kind of the mapping) or a
:class:`RowError` naming the row and the cell at fault: a bad row never stops the
import. Text files are UTF-8 (with or without BOM) or cp949/EUC-KR, detected as the
dataset readers do (``datasets.decode_text``) unless an encoding is given. Writing the
readings into the hub is ``ingest.import_run``'s job.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from smartseoul.datasets import DatasetError, decode_text
from smartseoul.ingest.mapping import (
    EntitySpec,
    ImportMapping,
    MappingError,
    header_key,
    render_template,
)

__all__ = [
    "Reading",
    "RowError",
    "count_rows",
    "detect_encoding",
    "file_digest",
    "format_time",
    "read_readings",
    "read_table",
]

EXCEL_SUFFIXES = (".xlsx", ".xlsm")
_SNIFF = 1 << 20  # bytes read to detect a text encoding


@dataclass(slots=True)
class Reading:
    """What one row says about one entity.

    ``static`` holds normalized attributes that describe the entity (name, location...);
    ``attrs`` one normalized instance per measured attribute, each with ``observedAt``.
    """

    row: int
    entity_id: str
    type: str
    observed_at: datetime
    attrs: dict[str, dict[str, Any]] = field(default_factory=dict)
    static: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that could not be read; ``row`` is the line (CSV) or sheet row (Excel)."""

    row: int
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}"


def format_time(moment: datetime) -> str:
    """A UTC time as the hub writes it (``...Z``, seconds unless there are fractions).

    >>> from datetime import UTC
    >>> format_time(datetime(2019, 1, 1, 15, tzinfo=UTC))
    '2019-01-01T15:00:00Z'
    """
    return moment.isoformat().replace("+00:00", "Z")


def file_digest(path: Path) -> str:
    """SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def detect_encoding(path: Path, encoding: str | None = None) -> str:
    """The text encoding of a file: ``encoding`` if given, else UTF-8 or cp949 by its start."""
    if encoding:
        return encoding
    with path.open("rb") as f:
        head = f.read(_SNIFF)
    complete = len(head) < _SNIFF
    # A prefix may end inside a multi-byte character: drop up to three bytes to decode it.
    for cut in range(1 if complete else 4):
        try:
            decode_text(head[: len(head) - cut], source=str(path))
        except DatasetError:
            continue
        try:
            head[: len(head) - cut].decode("utf-8")
            return "utf-8-sig"
        except UnicodeDecodeError:
            return "cp949"
    raise DatasetError(f"{path}: not UTF-8 or cp949 (EUC-KR) text; pass --encoding")


def count_rows(path: Path, mapping: ImportMapping) -> int | None:
    """Data rows in the file (for the progress bar); lines minus the header for text."""
    if path.suffix.lower() in EXCEL_SUFFIXES:
        return None
    lines = 0
    last = b"\n"
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    return max(0, lines + (last != b"\n") - mapping.header_row)


def _text_rows(path: Path, mapping: ImportMapping, encoding: str | None) -> Iterator[list[Any]]:
    with path.open(encoding=detect_encoding(path, encoding or mapping.encoding), newline="") as f:
        yield from csv.reader(f, delimiter=mapping.delimiter)


def _excel_rows(path: Path, mapping: ImportMapping) -> Iterator[list[Any]]:
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = mapping.sheet
        if sheet is None:
            ws = book.worksheets[0]
        elif isinstance(sheet, int):
            ws = book.worksheets[sheet]
        elif sheet in book.sheetnames:
            ws = book[sheet]
        else:
            raise MappingError(f"source.sheet: no sheet {sheet!r}; sheets: {book.sheetnames}")
        for values in ws.iter_rows(values_only=True):
            yield list(values)
    finally:
        book.close()


def read_table(
    path: Path, mapping: ImportMapping, *, encoding: str | None = None
) -> tuple[list[str], Iterator[tuple[int, list[Any]]]]:
    """The header and the numbered data rows of a CSV or Excel file."""
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise MappingError(f"{path.name}: old .xls workbooks are not read; save it as .xlsx")
    rows = (
        _excel_rows(path, mapping)
        if suffix in EXCEL_SUFFIXES
        else _text_rows(path, mapping, encoding)
    )
    header: list[str] | None = None
    for number, values in enumerate(rows, start=1):
        if number == mapping.header_row:
            header = [header_key(v) if v is not None else "" for v in values]
            break
    if header is None:
        raise DatasetError(f"{path.name}: no header row {mapping.header_row}")
    return header, ((n, values) for n, values in enumerate(rows, start=mapping.header_row + 1))


class RowReader:
    """A mapping bound to a header: column positions resolved once, then row by row."""

    def __init__(self, mapping: ImportMapping, header: list[str], source: str):
        self.mapping = mapping
        missing = sorted(c for c in mapping.columns() if c not in header)
        if missing:
            raise MappingError(
                f"{source}: no column {', '.join(missing)} in the header; "
                f"columns: {', '.join(h for h in header if h)}"
            )
        self.index = {name: header.index(name) for name in mapping.columns()}
        # Descriptive attributes repeat row after row: rendered once per distinct input.
        self._static: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = {}

    def readings(self, row: int, values: list[Any]) -> list[Reading]:
        """The readings of one row (raises DatasetError naming the cell at fault)."""
        cells = {name: values[i] if i < len(values) else None for name, i in self.index.items()}
        for name, cell in cells.items():
            if isinstance(cell, str) and "\x00" in cell:  # PostgreSQL cannot store it
                raise DatasetError(f"column {name}: holds a NUL character (U+0000)")
        observed = self.mapping.time.parse([cells[c] for c in self.mapping.time.columns])
        out = []
        for spec in self.mapping.entities:
            reading = self._reading(spec, row, cells, observed)
            if reading is not None:
                out.append(reading)
        return out

    def _reading(
        self, spec: EntitySpec, row: int, cells: dict[str, Any], observed: datetime
    ) -> Reading | None:
        record = None
        if spec.lookup_table and spec.lookup_key is not None:
            key = render_template(spec.lookup_key, cells, None)
            record = self.mapping.lookups[spec.lookup_table].get(key)
            if record is None:
                if spec.unknown == "skip":
                    return None
                raise DatasetError(f"{key!r} is not in the lookup table {spec.lookup_table}")
        reading = Reading(
            row, render_template(spec.id, cells, record, uri=True), spec.type, observed
        )
        when = format_time(observed)
        for attr in spec.attributes:
            try:
                measured = attr.convert(cells[attr.column])
            except DatasetError as exc:
                raise DatasetError(f"column {attr.column}: {exc}") from None
            if measured is None:
                continue
            inst: dict[str, Any] = {"type": "Property", "value": measured, "observedAt": when}
            if attr.unit_code:
                inst["unitCode"] = attr.unit_code
            if attr.dataset_id:
                inst["datasetId"] = attr.dataset_id
            reading.attrs[attr.name] = inst
        memo = (id(spec), id(record), *(cells[c] for c in spec.static_columns()))
        static = self._static.get(memo)
        if static is None:
            static = self._static[memo] = _static_attrs(spec, cells, record)
        reading.static = static
        return reading


def _static_attrs(
    spec: EntitySpec, cells: dict[str, Any], record: dict[str, Any] | None
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for static in spec.static:
        value: Any
        if isinstance(static.template, dict):
            value = {k: render_template(t, cells, record) for k, t in static.template.items()}
        else:
            value = render_template(static.template, cells, record)
        member = {"Relationship": "object", "LanguageProperty": "languageMap"}
        out[static.name] = {"type": static.type, member.get(static.type, "value"): value}
    if spec.location is not None:
        lon, lat = (float(render_template(t, cells, record)) for t in spec.location)
        # Six decimals (~0.1 m) as the demo city writes them: re-imports compare equal.
        point = {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}
        out["location"] = {"type": "GeoProperty", "value": point}
    return out


def read_readings(
    path: Path, mapping: ImportMapping, *, encoding: str | None = None, skip_to: int = 0
) -> Iterator[tuple[int, list[Reading] | RowError]]:
    """Each data row's readings, or its error; rows numbered up to ``skip_to`` are passed over.

    Blank rows (spreadsheets' trailing empty rows) yield an empty list.
    """
    header, rows = read_table(path, mapping, encoding=encoding)
    reader = RowReader(mapping, header, path.name)
    for number, values in rows:
        if number <= skip_to:
            continue
        if not any(v not in (None, "") for v in values):
            yield number, []
            continue
        try:
            yield number, reader.readings(number, values)
        except (DatasetError, ValueError) as exc:
            yield number, RowError(number, str(exc))
