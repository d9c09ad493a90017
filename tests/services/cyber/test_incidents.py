"""Incident grouping, the analyst workflow and the asset risk score."""

from __future__ import annotations

import pytest

from smartseoul.services.cyber.incidents import (
    Exposure,
    IncidentBook,
    WorkflowError,
    asset_risk,
    transition,
)


def alert(
    i: int,
    *,
    asset="web-1",
    technique="T1190",
    level="medium",
    source="203.0.113.1",
    tactics=("initial_access",),
) -> dict:
    return {
        "id": f"a{i}",
        "rule_id": f"r{i % 3}",
        "title": "SQL injection in a URL",
        "asset": asset,
        "techniques": [technique] if technique else [],
        "tactics": list(tactics),
        "level": level,
        "source_ip": source,
    }


def test_alerts_group_by_asset_technique_and_window():
    book = IncidentBook(window=600)
    first = book.add(alert(1), at=0)
    assert book.add(alert(2), at=300) is first
    assert book.add(alert(3, asset="db-1"), at=310) is not first
    assert book.add(alert(4, technique="T1110"), at=320) is not first
    assert book.add(alert(5, technique=None), at=330).technique == "untagged"
    later = book.add(alert(6), at=300 + 601)  # the window passed: a new incident
    assert later is not first
    assert first.alert_ids == ["a1", "a2"] and (first.first_seen, first.last_seen) == (0, 300)
    assert book.add(alert(6), at=902).alert_ids == ["a6"]  # the same alert twice counts once


def test_severity_is_the_highest_level_raised_by_volume():
    book = IncidentBook()
    incident = book.add(alert(0, level="low"), at=0)
    assert incident.severity == "low"
    book.add(alert(1, level="high"), at=1)
    assert incident.severity == "high"
    for i in range(2, 10):
        book.add(alert(i, level="low"), at=i)
    assert incident.severity == "critical"  # ten alerts: one step up
    many_sources = IncidentBook()
    for i in range(5):
        inc = many_sources.add(alert(i, source=f"198.51.100.{i}"), at=i)
    assert inc.severity == "high"


def test_workflow_and_notes():
    book = IncidentBook()
    incident = book.add(alert(1), at=0)
    assert incident.status == "new"
    transition(incident, "investigating", at=10, author="kim", note="checking the WAF logs")
    transition(incident, "investigating", at=11, author="kim", note="source is a known scanner")
    transition(incident, "false_positive", at=20, author="lee")
    assert [n.get("status") for n in incident.notes] == [
        "new -> investigating",
        None,
        "investigating -> false_positive",
    ]
    assert incident.notes[1] == {
        "time": "1970-01-01T00:00:11Z",
        "author": "kim",
        "text": "source is a known scanner",
    }
    with pytest.raises(WorkflowError, match="allowed: investigating"):
        transition(incident, "resolved", at=30)
    transition(incident, "investigating", at=40, note="reopened")
    with pytest.raises(WorkflowError, match="unknown status 'closed'"):
        transition(incident, "closed", at=50)
    # A closed incident takes no more alerts: the next one opens a new incident.
    transition(incident, "resolved", at=60)
    assert book.add(alert(2), at=61) is not incident
    book.close(book.add(alert(3), at=62).id)
    assert book.open == {}


def test_risk_ranks_assets_and_explains_itself():
    now = 100 * 3600.0
    alerts = [
        {**alert(1, asset="cctv-7", level="high", tactics=("initial_access",)), "at": now - 600},
        {
            **alert(
                2,
                asset="cctv-7",
                level="critical",
                technique="T1078",
                tactics=("credential_access",),
            ),
            "at": now - 300,
        },
        {**alert(3, asset="web-1", level="low", tactics=("reconnaissance",)), "at": now - 3600},
        {
            **alert(4, asset="old-1", level="critical", tactics=("impact",)),
            "at": now - 30 * 24 * 3600,
        },
    ]
    risks = asset_risk(
        alerts,
        now=now,
        exposure={
            "cctv-7": Exposure(internet_facing=True, services=3),
            "db-1": Exposure(services=1),
        },
        open_incidents={"cctv-7": 2},
        anomaly={"web-1": 0.99},
    )
    order = [r.asset for r in risks]
    assert order[0] == "cctv-7" and order.index("web-1") < order.index("db-1")
    top = risks[0]
    assert top.level in ("high", "critical") and 0 < top.score <= 100
    assert len(top.factors) == 3 and abs(sum(f["share"] for f in top.factors) - 1) < 0.5
    assert {f["factor"] for f in top.factors} <= {
        "recent alerts",
        "kill-chain stage reached",
        "open incidents",
        "distinct ATT&CK techniques",
        "internet-facing",
    }
    old = next(r for r in risks if r.asset == "old-1")
    assert old.score < top.score  # a month-old alert has decayed
    critical = asset_risk(
        [{**alerts[2], "at": now}], now=now, exposure={"web-1": Exposure(criticality=3.0)}
    )
    plain = asset_risk([{**alerts[2], "at": now}], now=now)
    assert critical[0].score > plain[0].score
