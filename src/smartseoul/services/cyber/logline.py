"""What every log format shares (pure): the event type, parse errors and statistics, and
time and number helpers.

An event is a flat dict keyed by dotted Elastic Common Schema names; ``@timestamp`` is ISO
8601 in UTC with milliseconds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = [
    "Event",
    "ParseError",
    "ParseStats",
    "epoch_iso",
    "event_time",
    "iso_utc",
    "json_time",
    "load_json_object",
    "parse_count",
    "parse_port",
]

Event = dict[str, Any]


class ParseError(ValueError):
    """A line that is not in the expected format; ``reason`` is a short, countable phrase."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class ParseStats:
    """Lines read, events made and lines skipped per reason (with the first offending line)."""

    lines: int = 0
    events: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def skip(self, reason: str, line: str) -> None:
        self.skipped[reason] += 1
        self.examples.setdefault(reason, line[:200].rstrip("\r\n"))

    def as_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "events": self.events, "skipped": dict(self.skipped),
                "examples": self.examples}  # fmt: skip


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_iso(seconds: float) -> str:
    return iso_utc(datetime.fromtimestamp(seconds, UTC))


def event_time(event: Event) -> float:
    """Seconds since the epoch of an event's ``@timestamp``."""
    return datetime.fromisoformat(event["@timestamp"]).timestamp()


# Integer fields stay within 64 bits: the event store keeps events as JSON written by orjson,
# which writes no larger integer, and one such event would fail the batch it is stored in.
INT64 = (-(2**63), 2**63 - 1)


def bounded_int(value: Any, error: str, *, low: int = INT64[0], high: int = INT64[1]) -> int:
    """``value`` (an int, a numeral kept exact, or any other number truncated) as an int
    within ``[low, high]``; ParseError(``error``) otherwise, infinities and NaN included."""
    try:
        text = value.strip() if isinstance(value, str) else ""
        if isinstance(value, int) or text.lstrip("+-").isdigit():
            number = int(value)
        else:
            number = int(float(value))
    except (TypeError, ValueError, OverflowError):
        raise ParseError(error) from None
    if not low <= number <= high:
        raise ParseError(error)
    return number


def parse_port(value: Any) -> int | None:
    if value in (None, "", "-"):
        return None
    return bounded_int(value, "bad port", low=0, high=65535)


def parse_count(value: Any) -> int | None:
    """A count (bytes, packets): a whole number from 0."""
    if value in (None, "", "-"):
        return None
    return bounded_int(value, "bad number", low=0)


def parse_duration_ns(seconds: Any, error: str = "bad duration") -> int:
    """A duration in seconds (text or number) as ECS ``event.duration`` nanoseconds."""
    try:
        scaled = float(seconds) * 1e9
    except (TypeError, ValueError):
        raise ParseError(error) from None
    return bounded_int(scaled, error, low=0)


def load_json_object(line: str) -> dict[str, Any]:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise ParseError("invalid JSON") from None
    if not isinstance(value, dict):
        raise ParseError("JSON line is not an object")
    return value


def json_time(value: Any, reason: str) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return epoch_iso(float(value))
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            try:
                return epoch_iso(float(value))
            except ValueError:
                raise ParseError(reason) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return iso_utc(moment)
    raise ParseError(reason)
