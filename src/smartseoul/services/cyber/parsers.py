"""Security log lines -> events with Elastic Common Schema field names (pure).

Formats: syslog (RFC 5424, and RFC 3164 with or without the ``<PRI>``, as in
``/var/log/auth.log``), Suricata EVE JSON, Zeek ``conn.log`` (TSV with its ``#fields``
header, or JSON) and network flow records (JSON objects or CSV with a header, nfdump-style
or goflow-style names). An event is a flat dict keyed by dotted ECS names
(``source.ip``, ``destination.port``, ``event.outcome``, ...); ``@timestamp`` is ISO 8601 in
UTC. A line that cannot be read raises :class:`ParseError` with a short reason, which
:func:`parse_lines` counts in :class:`ParseStats` before going on with the next line.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson

from smartseoul.services.cyber.logline import Event, ParseError, ParseStats, event_time
from smartseoul.services.cyber.netlogs import EveParser, FlowParser, ZeekParser, is_flow_header
from smartseoul.services.cyber.syslog_ import SyslogParser

__all__ = [
    "FORMATS",
    "EveParser",
    "FlowParser",
    "ParseError",
    "ParseStats",
    "SyslogParser",
    "ZeekParser",
    "detect_format",
    "event_time",
    "make_parser",
    "parse_lines",
]

# ============================================================================ registry

FORMATS: dict[str, Callable[[], Any]] = {
    "syslog": SyslogParser, "eve": EveParser, "zeek": ZeekParser, "flow": FlowParser,
}  # fmt: skip


def make_parser(name: str) -> Any:
    """A fresh parser for a format name (``syslog``, ``eve``, ``zeek``, ``flow``)."""
    try:
        return FORMATS[name]()
    except KeyError:
        raise ValueError(
            f"unknown log format {name!r}; valid formats: {', '.join(FORMATS)}"
        ) from None


def detect_format(line: str) -> str:
    """Guess a format from a file's first non-empty line.

    Examples
    --------
    >>> detect_format('{"timestamp": "2025-01-01T00:00:00Z", "event_type": "alert"}')
    'eve'
    >>> detect_format("#separator \\\\x09")
    'zeek'
    >>> detect_format("<34>1 2025-01-01T00:00:00Z host app - - - hi")
    'syslog'
    """
    text = line.strip()
    if text.startswith("{"):
        try:
            record = orjson.loads(text)
        except orjson.JSONDecodeError:
            return "eve"
        if isinstance(record, dict):
            if "event_type" in record:
                return "eve"
            if "id.orig_h" in record or "uid" in record:
                return "zeek"
        return "flow"
    if text.startswith("#separator") or text.startswith("#fields"):
        return "zeek"
    try:
        if is_flow_header(next(csv.reader([text]), [])):
            return "flow"
    except csv.Error:  # e.g. a field over the csv module's 131,072-character limit
        pass
    return "syslog"


def parse_lines(lines: Iterable[str], parser: Any, stats: ParseStats) -> Iterator[Event]:
    """Events from lines; malformed lines are counted in ``stats`` and skipped.

    A NUL character is escaped as ``#000``, as rsyslog escapes control characters on
    receipt: PostgreSQL text cannot hold it, and the rest of the line is kept."""
    parse = parser.parse
    for line in lines:
        stats.lines += 1
        if "\x00" in line:
            line = line.replace("\x00", "#000")
        try:
            event = parse(line)
        except ParseError as err:
            stats.skip(err.reason, line)
            continue
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, csv.Error) as err:
            stats.skip(f"unreadable ({type(err).__name__})", line)
            continue
        if event is not None:
            stats.events += 1
            yield event
