"""Correlation rules on the stream: event_count, value_count, temporal, group-by, timespan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from smartseoul.services.cyber.detection import Detector, load_detector
from smartseoul.services.cyber.sigma import SigmaError, parse_rule_documents

BASE = """
title: Login failed
name: fail
id: fail
detection: {s: {outcome: failure}, condition: s}
level: low
---
title: Login ok
name: ok
id: ok
detection: {s: {outcome: success}, condition: s}
level: low
---
title: Standalone
id: alone
detection: {s: {outcome: weird}, condition: s}
level: medium
"""
T0 = datetime(2026, 11, 28, tzinfo=UTC)


def detector(correlation: str) -> Detector:
    return Detector(*parse_rule_documents(yaml.safe_load_all(BASE + "---\n" + correlation)))


def ev(second: float, **fields) -> dict:
    return {"@timestamp": (T0 + timedelta(seconds=second)).isoformat(), **fields}


def fired(d: Detector, events: list[dict], rule_id: str = "c") -> list:
    return [a for a in d.process_all(events) if a.rule_id == rule_id]


def test_event_count_with_group_by_and_timespan():
    d = detector("""title: Many
id: c
correlation: {type: event_count, rules: [fail], group-by: [ip], timespan: 1m, condition: {gte: 3}}
level: high
tags: [attack.t1110]""")
    events = [
        ev(0, outcome="failure", ip="a"),
        ev(10, outcome="failure", ip="b"),
        ev(20, outcome="failure", ip="a"),
        ev(90, outcome="failure", ip="a"),  # first fell out
        ev(100, outcome="failure", ip="a"),
        ev(110, outcome="failure", ip="a"),
    ]
    alerts = fired(d, events)
    assert [(a.count, a.group, a.techniques) for a in alerts] == [(3, {"ip": "a"}, ["T1110"])]
    assert alerts[0].time == events[-1]["@timestamp"]
    # The base rule only feeds the correlation (generate: false by default) ...
    assert fired(d, [ev(0, outcome="failure", ip="z")], "fail") == []
    # ... while a rule no correlation uses still alerts on its own.
    assert len(fired(d, [ev(0, outcome="weird")], "alone")) == 1


def test_event_count_fires_once_per_burst_and_again_after():
    d = detector("""title: Many
id: c
correlation: {type: event_count, rules: fail, timespan: 1m, condition: {gte: 2}}
level: high""")
    assert len(fired(d, [ev(i, outcome="failure") for i in range(5)])) == 2  # at 2 and 4


def test_value_count_counts_distinct_values():
    d = detector("""title: Spray
id: c
correlation: {type: value_count, rules: [fail], group-by: [ip], timespan: 5m, condition: {field: user, gte: 3}}
level: high""")
    same_user = [ev(i, outcome="failure", ip="a", user="kim") for i in range(10)]
    assert fired(d, same_user) == []
    users = [ev(100 + i, outcome="failure", ip="a", user=f"u{i}") for i in range(3)]
    assert [a.count for a in fired(d, users)] == [3]


def test_temporal_any_order_and_ordered():
    unordered = detector("""title: Both
id: c
correlation: {type: temporal, rules: [fail, ok], group-by: [ip], timespan: 10m}
level: high""")
    assert (
        len(fired(unordered, [ev(0, outcome="success", ip="a"), ev(60, outcome="failure", ip="a")]))
        == 1
    )
    assert (
        fired(unordered, [ev(0, outcome="success", ip="b"), ev(60, outcome="failure", ip="c")])
        == []
    )
    assert (
        fired(unordered, [ev(0, outcome="success", ip="d"), ev(601, outcome="failure", ip="d")])
        == []
    )
    ordered = detector("""title: Then
id: c
correlation: {type: temporal_ordered, rules: [fail, ok], group-by: [ip], timespan: 10m}
level: critical""")
    assert (
        fired(ordered, [ev(0, outcome="success", ip="a"), ev(60, outcome="failure", ip="a")]) == []
    )
    alerts = fired(
        ordered, [ev(120, outcome="failure", ip="e"), ev(180, outcome="success", ip="e")]
    )
    assert [a.kind for a in alerts] == ["temporal_ordered"]


def test_generate_true_keeps_base_rule_alerts():
    d = detector("""title: Many
id: c
correlation: {type: event_count, rules: [fail], timespan: 1m, condition: {gte: 2}, generate: true}
level: high""")
    assert len(fired(d, [ev(0, outcome="failure")], "fail")) == 1


def test_unknown_rule_reference_is_an_error():
    with pytest.raises(SigmaError, match="unknown rule 'nope'"):
        detector("""title: Bad
id: c
correlation: {type: event_count, rules: [nope], timespan: 1m, condition: {gte: 2}}""")


def test_alert_ids_are_stable_so_replays_are_idempotent():
    line = "<38>Nov 28 01:00:00 gw sshd[1]: Failed password for root from 203.0.113.1 port 1 ssh2"
    event = {
        "@timestamp": "2026-11-28T01:00:00Z",
        "event.dataset": "system.auth",
        "event.action": "ssh_login",
        "event.outcome": "failure",
        "user.name": "root",
        "event.original": line,
    }
    first = [a.id for a in load_detector().process(dict(event))]
    assert first and first == [a.id for a in load_detector().process(dict(event))]
