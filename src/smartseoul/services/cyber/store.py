"""Security event storage with retention and search: a SQLite file of its own, or a schema.

Raw events never go into the hub (they are many, short-lived and sensitive); they are kept
here for ``retention_days`` and searched by time range, field filters and free text (FTS5
over the message and the original line on SQLite; a GIN-indexed ``tsvector`` in the
``cyber`` schema when the hub runs on PostgreSQL). Only alerts, incidents and risk go to the hub.
The store is synchronous; the service calls it from a worker thread.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

__all__ = ["EventStore", "PostgresEventStore", "SearchError", "open_event_store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    dataset TEXT,
    source_ip TEXT,
    destination_ip TEXT,
    host TEXT,
    text TEXT,
    doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE INDEX IF NOT EXISTS events_source ON events (source_ip, ts);
CREATE INDEX IF NOT EXISTS events_destination ON events (destination_ip, ts);
CREATE VIRTUAL TABLE IF NOT EXISTS events_fts USING fts5 (
    text, content='events', content_rowid='id'
);
CREATE TRIGGER IF NOT EXISTS events_ai AFTER INSERT ON events BEGIN
    INSERT INTO events_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS events_ad AFTER DELETE ON events BEGIN
    INSERT INTO events_fts (events_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
"""
_COLUMNS = {"event.dataset": "dataset", "source.ip": "source_ip",
            "destination.ip": "destination_ip", "host.hostname": "host"}  # fmt: skip
_FIELD = re.compile(r"[A-Za-z0-9_.@]+")


class SearchError(ValueError):
    """A search the store cannot run (a bad field name or time); names the parameter."""


def _time(value: str | float | None, name: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise SearchError(f"{name}: {value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise SearchError(f"{name}: {value!r} needs a time zone (Z or +09:00)")
    return moment.timestamp()


def _conditions(start: str | float | None, end: str | float | None,
                filters: dict[str, str] | None, text: str | None, *,
                postgres: bool) -> tuple[list[str], list[Any]]:  # fmt: skip
    """SQL conditions and parameters of a search, for SQLite or PostgreSQL."""
    mark = "%s" if postgres else "?"
    where: list[str] = ["TRUE" if postgres else "1"]
    params: list[Any] = []
    low, high = _time(start, "start"), _time(end, "end")
    if low is not None:
        where.append(f"ts >= {mark}")
        params.append(low)
    if high is not None:
        where.append(f"ts < {mark}")
        params.append(high)
    for name, value in (filters or {}).items():
        if not _FIELD.fullmatch(name):
            raise SearchError(f"field {name!r}: letters, digits, '.', '_' and '@' only")
        column = _COLUMNS.get(name)
        if column:
            where.append(f"{column} = {mark}")
        elif postgres:
            where.append(f"doc->>'{name}' = %s")
        else:
            where.append(f"CAST(json_extract(doc, '$.\"{name}\"') AS TEXT) = ?")
        params.append(value)
    if text and text.strip():
        phrases = [(a or b).replace('"', "") for a, b in re.findall(r'"([^"]+)"|(\S+)', text)]
        if postgres:
            for phrase in phrases:
                where.append(
                    f"{_PG_WORDS.format('text')} @@ phraseto_tsquery('simple', "
                    "regexp_replace(%s, '[^[:alnum:]]+', ' ', 'g'))"
                )
                params.append(phrase)
        else:
            where.append("id IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)")
            params.append(" AND ".join(f'"{p}"' for p in phrases))
    return where, params


def _rows(events: list[dict[str, Any]], stamps: list[float]) -> list[tuple[Any, ...]]:
    return [
        (ts, e.get("event.dataset"), e.get("source.ip"), e.get("destination.ip"),
         e.get("host.hostname"), e.get("event.original") or e.get("message") or "",
         _document({k: v for k, v in e.items() if k != "event.original"}))
        for e, ts in zip(events, stamps, strict=True)
    ]  # fmt: skip


def _document(doc: dict[str, Any]) -> bytes:
    """The event as JSON. The parsers keep integers within 64 bits; should a larger one slip
    through (orjson writes none), it is kept as text rather than failing the whole batch."""
    try:
        return orjson.dumps(doc)
    except TypeError:
        return orjson.dumps(_big_ints_as_text(doc))


def _big_ints_as_text(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _big_ints_as_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_big_ints_as_text(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return str(value)
    return value


def _event(doc: Any, original: str) -> dict[str, Any]:
    event: dict[str, Any] = orjson.loads(doc) if isinstance(doc, bytes | str) else dict(doc)
    event["event.original"] = original
    return event


def _retained(
    events: list[dict[str, Any]], stamps: list[float], retention_days: float
) -> tuple[list[dict[str, Any]], list[float]]:
    """The events (and their times) that are not already past the retention period."""
    cutoff = time.time() - retention_days * 86400.0
    if all(stamp >= cutoff for stamp in stamps):
        return events, stamps
    kept = [(e, t) for e, t in zip(events, stamps, strict=True) if t >= cutoff]
    return [e for e, _ in kept], [t for _, t in kept]


@dataclass
class EventStore:
    """Events in ``path`` (SQLite, WAL), kept ``retention_days``."""

    path: Path
    retention_days: float = 30.0

    def __post_init__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self._purged = 0.0

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def add(self, events: Iterable[dict[str, Any]], *, times: Iterable[float] | None = None) -> int:
        """Store events (``times`` are their epoch seconds when already known); returns how
        many were stored. Events already past the retention period are not stored (the
        next purge would delete them): ``IngestReport.expired`` counts them."""
        from smartseoul.services.cyber.parsers import event_time

        events = list(events)
        stamps = list(times) if times is not None else [event_time(e) for e in events]
        rows = _rows(*_retained(events, stamps, self.retention_days))
        with self._lock:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO events (ts, dataset, source_ip, destination_ip, host, text, doc) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", rows,
            )  # fmt: skip
            self.db.execute("COMMIT")
        if time.time() - self._purged > 3600:
            self.purge()
        return len(rows)

    def purge(self, *, now: float | None = None) -> int:
        """Delete events older than the retention period; returns how many."""
        cutoff = (now if now is not None else time.time()) - self.retention_days * 86400.0
        with self._lock:
            cursor = self.db.execute("DELETE FROM events WHERE ts < ?", (cutoff,))
        self._purged = time.time()
        return cursor.rowcount

    def count(self) -> int:
        with self._lock:
            return int(self.db.execute("SELECT count(*) FROM events").fetchone()[0])

    def search(
        self,
        *,
        start: str | float | None = None,
        end: str | float | None = None,
        filters: dict[str, str] | None = None,
        text: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Events in ``[start, end)`` whose fields equal ``filters`` and that contain ``text``.

        Newest first. ``text`` is words (all must appear) or a ``"quoted phrase"``.
        """
        where, params = _conditions(start, end, filters, text, postgres=False)
        sql = (f"SELECT ts, doc, text FROM events WHERE {' AND '.join(where)} "
               "ORDER BY ts DESC, id DESC LIMIT ? OFFSET ?")  # fmt: skip
        with self._lock:
            rows = self.db.execute(sql, [*params, limit, offset]).fetchall()
        return [_event(doc, original) for _, doc, original in rows]


_PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id BIGSERIAL PRIMARY KEY,
    ts DOUBLE PRECISION NOT NULL,
    dataset TEXT,
    source_ip TEXT,
    destination_ip TEXT,
    host TEXT,
    text TEXT,
    doc JSONB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE INDEX IF NOT EXISTS events_source ON events (source_ip, ts);
CREATE INDEX IF NOT EXISTS events_destination ON events (destination_ip, ts);
CREATE INDEX IF NOT EXISTS events_words ON events USING GIN ({words});
"""
# Words split at every non-alphanumeric character, like SQLite's unicode61 tokenizer (the
# default parser would keep "/usr/lib/x.sh" or "a.example" as one token).
_PG_WORDS = "to_tsvector('simple', regexp_replace({}, '[^[:alnum:]]+', ' ', 'g'))"


class PostgresEventStore:
    """The same store in a PostgreSQL schema of its own (``cyber`` by default)."""

    def __init__(self, url: str, *, schema: str = "cyber", retention_days: float = 30.0):
        import psycopg

        if not re.fullmatch(r"[a-z_][a-z0-9_]*", schema):
            raise ValueError(f"schema {schema!r}: lower-case letters, digits and _ only")
        self.schema, self.retention_days = schema, retention_days
        self._lock = threading.Lock()
        self.db = psycopg.connect(url, autocommit=True)
        self.db.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        self.db.execute(f'SET search_path TO "{schema}"')
        self.db.execute(_PG_SCHEMA.format(words=_PG_WORDS.format("text")))
        self._purged = 0.0

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def drop(self) -> None:
        """Drop the schema (tests)."""
        with self._lock:
            self.db.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def add(self, events: Iterable[dict[str, Any]], *, times: Iterable[float] | None = None) -> int:
        """As ``EventStore.add``."""
        from smartseoul.services.cyber.parsers import event_time

        events = list(events)
        stamps = list(times) if times is not None else [event_time(e) for e in events]
        retained = _retained(events, stamps, self.retention_days)
        rows = [(*row[:6], row[6].decode()) for row in _rows(*retained)]
        with self._lock, self.db.transaction(), self.db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO events (ts, dataset, source_ip, destination_ip, host, text, doc) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb)", rows,
            )  # fmt: skip
        if time.time() - self._purged > 3600:
            self.purge()
        return len(rows)

    def purge(self, *, now: float | None = None) -> int:
        cutoff = (now if now is not None else time.time()) - self.retention_days * 86400.0
        with self._lock:
            cursor = self.db.execute("DELETE FROM events WHERE ts < %s", (cutoff,))
        self._purged = time.time()
        return cursor.rowcount

    def count(self) -> int:
        with self._lock:
            row = self.db.execute("SELECT count(*) FROM events").fetchone()
        return int(row[0]) if row else 0

    def search(self, *, start: str | float | None = None, end: str | float | None = None,
               filters: dict[str, str] | None = None, text: str | None = None,
               limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:  # fmt: skip
        where, params = _conditions(start, end, filters, text, postgres=True)
        sql = (f"SELECT ts, doc, text FROM events WHERE {' AND '.join(where)} "
               "ORDER BY ts DESC, id DESC LIMIT %s OFFSET %s")  # fmt: skip
        with self._lock:
            rows = self.db.execute(sql, [*params, limit, offset]).fetchall()
        return [_event(doc, original) for _, doc, original in rows]


def open_event_store(settings: Any, path: Path) -> EventStore | PostgresEventStore:
    """PostgreSQL (schema ``cyber``) when the hub runs on it, else the SQLite file ``path``."""
    if settings.is_postgres:
        return PostgresEventStore(
            settings.database_url, retention_days=settings.cyber_retention_days
        )
    return EventStore(path, retention_days=settings.cyber_retention_days)
