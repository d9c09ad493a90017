"""Readers for real public data formats (pure: they read files, never the hub).

Each reader module turns one published format into plain records:

- :mod:`smartseoul.datasets.boundaries`: Seoul's 25 gu polygons (GeoJSON).
- :mod:`smartseoul.datasets.air`: Seoul air quality, daily by station (cp949 CSV and xlsx),
  citywide hourly (UTF-8 CSV with ``24:00`` hours) and the pollutant bands.
- :mod:`smartseoul.datasets.han_river`: Han River gauges and Paldang dam every 10 minutes,
  and HRFCO-style gauge records.

This module holds the few helpers every reader shares: the error type, text decoding with
encoding detection, lenient number parsing and the Korean time zone.
"""

from __future__ import annotations

import codecs
import re
from datetime import timedelta, timezone
from importlib.resources import files
from pathlib import Path

__all__ = ["KST", "DatasetError", "decode_text", "parse_number", "shipped_file"]

# Korea has kept UTC+9 without daylight saving since 1988, so a fixed offset is exact for
# every file we read and spares a dependency on the system tz database.
KST = timezone(timedelta(hours=9), "KST")

# Korean public files come in UTF-8 (often with a BOM) or in cp949, Microsoft's superset of
# EUC-KR; strict UTF-8 almost never decodes cp949 Hangul by accident, so try it first.
_ENCODINGS = ("utf-8", "cp949")
_MISSING = frozenset({"", "-", "--", "—", "―", "na", "n/a", "nan", "null", "none", "x"})
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?:\D|$))")


class DatasetError(ValueError):
    """A file does not have the shape its reader expects.

    The message names the file and the row or column at fault, so the user can fix the
    file or pick the right reader.
    """


def decode_text(data: bytes, *, encoding: str | None = None, source: str = "<bytes>") -> str:
    """Decode a published text file, detecting UTF-8 (with or without BOM) or cp949.

    Parameters
    ----------
    data
        The raw file content.
    encoding
        Force an encoding instead of detecting one.
    source
        Name used in the error message.

    Returns
    -------
    str
        The text without a byte order mark.

    Examples
    --------
    >>> decode_text("측정소명".encode("cp949"))
    '측정소명'
    >>> decode_text(codecs.BOM_UTF8 + "구".encode())
    '구'
    """
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    for candidate in (encoding,) if encoding else _ENCODINGS:
        try:
            return data.decode(candidate)
        except UnicodeDecodeError:
            continue
    raise DatasetError(f"{source}: not UTF-8 or cp949 (EUC-KR) text; pass encoding= explicitly")


def parse_number(value: object) -> float | None:
    """Read a measurement cell: ``None`` for the many spellings of "missing".

    Accepts numbers (from spreadsheets) and strings with thousands separators.

    Examples
    --------
    >>> parse_number("1,234.5")
    1234.5
    >>> parse_number(" - ") is None
    True
    >>> parse_number(17)
    17.0
    """
    # Hot path first: readers call this for every cell, and most cells are plain strings.
    if isinstance(value, str):
        if not value:
            return None
        try:
            number = float(value)
        except ValueError:
            return _parse_text(value)
        # "nan" parses as a float but, like a blank, means no measurement.
        return None if number != number else _finite(number, value)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DatasetError(f"expected a number, got {value!r}")
    return _finite(float(value), value)


_INFINITIES = (float("inf"), float("-inf"))


def _finite(number: float, value: object) -> float:
    """``number``, unless infinite: no reading is, and JSON cannot hold one."""
    if number in _INFINITIES:
        raise DatasetError(f"expected a finite number, got {value!r}")
    return number


def _parse_text(value: str) -> float | None:
    text = value.strip()
    if text.lower() in _MISSING:
        return None
    try:
        number = float(_THOUSANDS.sub("", text))
    except ValueError:
        raise DatasetError(f"expected a number, got {value!r}") from None
    return _finite(number, value)


def shipped_file(name: str) -> Path:
    """Path of a data file shipped with the package (``smartseoul/data/<name>``).

    See ``smartseoul/data/ATTRIBUTION.md`` for the source and licence of each file.
    """
    path = Path(str(files("smartseoul").joinpath("data", name)))
    if not path.is_file():
        raise FileNotFoundError(f"shipped data file {name!r} is missing from {path.parent}")
    return path
