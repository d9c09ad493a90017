"""The security event store: retention and search by time, fields and free text."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest

from conftest import POSTGRES_URL, postgres_available, service_missing
from smartseoul.services.cyber.parsers import ParseStats, make_parser, parse_lines
from smartseoul.services.cyber.store import EventStore, PostgresEventStore, SearchError

LINES = [
    "<38>1 2026-11-28T01:00:00Z gw-1 sshd 10 - - Failed password for root from 203.0.113.9 port 1 ssh2",
    "<38>1 2026-11-28T02:00:00Z gw-1 sshd 11 - - Accepted publickey for kim from 10.0.0.8 port 2 ssh2",
    "<38>1 2026-11-28T03:00:00Z gw-2 CRON 12 - - (root) CMD (/usr/lib/sensors/collect.sh)",
    "<38>1 2026-10-01T00:00:00Z gw-2 sshd 13 - - Failed password for admin from 203.0.113.9 port 3 ssh2",
]


def open_store(backend: str, tmp_path, retention_days: float):
    if backend == "sqlite":
        return EventStore(tmp_path / "events.db", retention_days=retention_days)
    if not postgres_available():
        service_missing(f"PostgreSQL not reachable at {POSTGRES_URL}")
    return PostgresEventStore(
        POSTGRES_URL, schema=f"cyber_{uuid.uuid4().hex[:10]}", retention_days=retention_days
    )


@pytest.fixture
def make_store(backend, tmp_path):
    opened = []

    def make(retention_days: float):
        opened.append(open_store(backend, tmp_path, retention_days))
        return opened[-1]

    yield make
    for store in opened:
        if isinstance(store, PostgresEventStore):
            store.drop()
        store.close()


@pytest.fixture
def store(make_store):
    store = make_store(365)
    store.add(list(parse_lines(LINES, make_parser("syslog"), ParseStats())))
    return store


def test_search_by_time_fields_and_text(store):
    assert store.count() == 4
    found = store.search(start="2026-11-28T00:00:00Z", end="2026-11-28T02:30:00Z")
    assert [e["@timestamp"] for e in found] == [
        "2026-11-28T02:00:00.000Z",
        "2026-11-28T01:00:00.000Z",
    ]
    assert len(store.search(filters={"source.ip": "203.0.113.9"})) == 2
    assert len(store.search(filters={"user.name": "kim"})) == 1
    assert len(store.search(filters={"event.outcome": "failure", "host.hostname": "gw-2"})) == 1
    assert [e["user.name"] for e in store.search(text="failed root")] == ["root"]
    assert len(store.search(text='"Failed password"')) == 2
    assert len(store.search(text="203.0.113.9")) == 2
    assert store.search(text="collect.sh")[0]["host.hostname"] == "gw-2"
    assert store.search(text='weird " (query) AND OR') == []  # user text never breaks FTS syntax
    assert len(store.search(limit=1, offset=1)) == 1
    assert "event.original" in store.search(limit=1)[0]


def _lines_ago(*days: float) -> list[str]:
    """Syslog lines stamped ``days`` before now (retention counts from the clock)."""
    now = time.time()
    stamps = [
        datetime.fromtimestamp(now - d * 86400, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for d in days
    ]
    return [f"<38>1 {t} gw-1 sshd {i} - - Failed password for u{i} from 203.0.113.9 port {i} ssh2"
            for i, t in enumerate(stamps)]  # fmt: skip


def test_retention_deletes_old_events_from_the_index_too(make_store):
    store = make_store(30)
    events = list(parse_lines(_lines_ago(0.1, 1, 2, 45), make_parser("syslog"), ParseStats()))
    # An event already past retention is not stored: the next purge would delete it.
    assert store.add(events) == 3
    assert store.count() == 3 and store.search(text="u3") == []
    assert store.add(events[:1]) == 1
    assert store.purge(now=time.time() + 10 * 86400) == 0  # ten days on, all are still kept
    assert store.purge(now=time.time() + 40 * 86400) == 4
    assert store.count() == 0 and store.search(text="u0") == []


def test_bad_searches_name_the_parameter(store):
    with pytest.raises(SearchError, match="start"):
        store.search(start="yesterday")
    with pytest.raises(SearchError, match="time zone"):
        store.search(end="2026-11-28T00:00:00")
    with pytest.raises(SearchError, match="field"):
        store.search(filters={"x') OR 1=1 --": "1"})
