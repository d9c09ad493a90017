"""Device payloads: JSON and UltraLight 2.0 text into readings, bad parts set aside.

Pure functions, no I/O. A payload yields the readings it could parse *and* a rejection per
part it could not, so one bad measurement never costs the good ones beside it: in
``t|21.5|h|oops|p|3`` the ``h`` reading is rejected and ``t`` and ``p`` go through.

Accepted forms
--------------
JSON
    An object ``{"t": 21.5, "h": 40}`` or a list of such objects (several observations in
    one message). An optional ``TimeInstant`` or ``ts`` member gives the observation time:
    ISO 8601 text or epoch seconds (milliseconds above 1e11).
UltraLight 2.0 text
    ``t|21.5|h|40``; groups separated by ``#``; a group with an odd number of fields starts
    with its timestamp: ``2026-05-01T09:00:00Z|t|21.5#2026-05-01T09:02:00Z|t|21.7``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = [
    "TIME_KEYS",
    "ParsedPayload",
    "Reading",
    "Rejection",
    "convert_value",
    "format_time",
    "parse_json",
    "parse_payload",
    "parse_time",
    "parse_ultralight",
]

TIME_KEYS = ("TimeInstant", "ts")
# Epoch numbers above this are milliseconds: 1e11 s is the year 5138.
_MILLIS_FROM = 1e11
# Characters of a raw value quoted in a rejection's detail.
_SHOWN = 80


@dataclass(slots=True)
class Reading:
    """One measurement as sent: short name, raw value, observation time (None: receive time)."""

    name: str
    raw: Any
    observed_at: str | None = None


@dataclass(slots=True)
class Rejection:
    """A part of a payload that was set aside, with a reason counted by the agent."""

    reason: str
    detail: str
    measure: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason, "detail": self.detail}
        if self.measure is not None:
            out["measure"] = self.measure
        return out


@dataclass(slots=True)
class ParsedPayload:
    readings: list[Reading] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


def format_time(moment: datetime) -> str:
    """UTC ISO 8601 with milliseconds and a ``Z``, the form NGSI-LD ``observedAt`` uses.

    Examples
    --------
    >>> format_time(datetime(2026, 5, 1, 9, 0, tzinfo=UTC))
    '2026-05-01T09:00:00.000Z'
    """
    # isoformat, not strftime: that writes the year 100 as "100", a DateTime the hub refuses.
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"


def parse_time(raw: Any) -> str:
    """An observation time from ISO text or epoch seconds/milliseconds, as UTC ``...Z``.

    Text without a zone is taken as UTC (devices are asked to send UTC).

    Raises
    ------
    ValueError
        When the value is no time.

    Examples
    --------
    >>> parse_time("2026-05-01T18:00:00+09:00")
    '2026-05-01T09:00:00.000Z'
    >>> parse_time(1777626000)
    '2026-05-01T09:00:00.000Z'
    """
    if isinstance(raw, bool):
        raise ValueError(f"not a time: {raw!r}")
    if isinstance(raw, int | float):
        seconds = raw / 1000 if raw > _MILLIS_FROM else raw
        if not math.isfinite(seconds):
            raise ValueError(f"not a time: {raw!r}")
        try:
            return format_time(datetime.fromtimestamp(seconds, UTC))
        except (OverflowError, OSError):  # what fromtimestamp raises beyond the platform's range
            raise ValueError(f"time out of range: {raw!r}") from None
    if isinstance(raw, str):
        text = raw.strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an ISO 8601 time: {_shown(raw)}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            return format_time(moment)
        except OverflowError:  # the year 1 or 9999 moved out of range by its UTC offset
            raise ValueError(f"time out of range: {_shown(raw)}") from None
    raise ValueError(f"not a time: {_shown(raw)}")


def _shown(raw: Any) -> str:
    """A raw value as a rejection's detail quotes it: short text, containers by their type.

    A value nested a few hundred levels deep (orjson reads 1,024) would overflow ``repr``.

    Examples
    --------
    >>> _shown("oops"), _shown([[1]]), len(_shown("x" * 1000))
    ("'oops'", 'a list', 83)
    """
    if isinstance(raw, dict | list):
        return f"a {'list' if isinstance(raw, list) else 'object'}"
    text = repr(raw)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


# Integer readings stay within 64 bits (signed): the hub's JSON (orjson) holds no larger one.
INT64_RANGE = (-(2**63), 2**63)  # [low, high)


def convert_value(raw: Any, kind: str) -> Any:
    """Convert a raw measurement to the mapped type: Number, Integer, Text or Boolean.

    Raises
    ------
    ValueError
        When the value cannot be that type (the reading is then rejected as ``bad_value``).

    Examples
    --------
    >>> convert_value("21.5", "Number"), convert_value("12.0", "Integer")
    (21.5, 12)
    >>> convert_value("1", "Boolean")
    True
    """
    if kind == "Text":
        if isinstance(raw, dict | list):
            raise ValueError(f"expected text, got {type(raw).__name__}")
        text = raw if isinstance(raw, str) else orjson.dumps(raw).decode()
        if "\x00" in text:  # the hub refuses it (PostgreSQL cannot store it)
            raise ValueError("text holds a NUL character (U+0000)")
        return text
    if kind == "Boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, dict | list):
            raise ValueError(f"expected a boolean, got {_shown(raw)}")
        text = str(raw).strip().lower()
        if text in ("true", "1", "on"):
            return True
        if text in ("false", "0", "off"):
            return False
        raise ValueError(f"expected a boolean, got {_shown(raw)}")
    if isinstance(raw, bool | dict | list) or raw is None:
        raise ValueError(f"expected a number, got {_shown(raw)}")
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {_shown(raw)}") from None
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {_shown(raw)}")
    if kind == "Integer":
        if not number.is_integer():
            raise ValueError(f"expected an integer, got {_shown(raw)}")
        digits = raw.strip() if isinstance(raw, str) else ""
        whole = int(digits) if digits.lstrip("+-").isdigit() else int(number)  # exact if written so
        if not INT64_RANGE[0] <= whole < INT64_RANGE[1]:
            # JSON in the hub (orjson, jsonb as read back) keeps 64-bit integers: a larger
            # one would fail the whole batch it is written in.
            raise ValueError(f"integer out of the 64-bit range: {_shown(raw)}")
        return whole
    if kind != "Number":
        raise ValueError(f"unknown value type {kind!r}")
    if isinstance(raw, int) and INT64_RANGE[0] <= raw < INT64_RANGE[1]:
        return raw
    return number  # a larger integer is kept as the float it is close to


def parse_json(body: bytes) -> ParsedPayload:
    """Readings of a JSON object (or list of objects); see the module docstring."""
    out = ParsedPayload()
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        out.rejections.append(Rejection("malformed_payload", f"invalid JSON: {err}"))
        return out
    groups = doc if isinstance(doc, list) else [doc]
    for group in groups:
        if not isinstance(group, dict):
            detail = f"expected an object of measurements, got {type(group).__name__}"
            out.rejections.append(Rejection("malformed_payload", detail))
            continue
        observed_at = _group_time(group, out)
        for name, raw in group.items():
            if name in TIME_KEYS:
                continue
            out.readings.append(Reading(name, raw, observed_at))
    return out


def parse_ultralight(body: bytes) -> ParsedPayload:
    """Readings of an UltraLight 2.0 text payload; see the module docstring."""
    out = ParsedPayload()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        out.rejections.append(Rejection("malformed_payload", "text payload is not UTF-8"))
        return out
    for group in text.strip().split("#"):
        fields = [f.strip() for f in group.split("|")]
        if fields == [""]:
            continue
        observed_at = None
        if len(fields) % 2 == 1:
            # An odd field count means a leading timestamp, or a dangling name at the end;
            # only the former is recoverable, so try it and otherwise drop the dangling name.
            try:
                observed_at = parse_time(fields[0])
                fields = fields[1:]
            except ValueError:
                dangling = fields.pop()
                out.rejections.append(
                    Rejection("malformed_payload", "measure without a value", dangling or None)
                )
        for name, raw in zip(fields[::2], fields[1::2], strict=True):
            if not name:
                out.rejections.append(Rejection("malformed_payload", "empty measure name"))
                continue
            out.readings.append(Reading(name, raw, observed_at))
    return out


def parse_payload(body: bytes, *, content_type: str | None = None) -> ParsedPayload:
    """Parse a device payload, JSON or UltraLight text.

    Parameters
    ----------
    body
        The raw payload.
    content_type
        A hint (an HTTP Content-Type); without one, a body starting with ``{`` or ``[`` is
        JSON and anything else UltraLight text.

    Examples
    --------
    >>> parsed = parse_payload(b"t|21.5|h|40")
    >>> [(r.name, r.raw) for r in parsed.readings]
    [('t', '21.5'), ('h', '40')]
    """
    if content_type is not None and "json" in content_type:
        return parse_json(body)
    if content_type is not None and content_type.startswith("text/"):
        return parse_ultralight(body)
    if body.lstrip()[:1] in (b"{", b"["):
        return parse_json(body)
    return parse_ultralight(body)


def _group_time(group: dict[str, Any], out: ParsedPayload) -> str | None:
    for key in TIME_KEYS:
        if key in group:
            try:
                return parse_time(group[key])
            except ValueError as err:
                # The readings stay, stamped with the receive time; the bad stamp is counted.
                out.rejections.append(Rejection("bad_timestamp", str(err), key))
    return None
