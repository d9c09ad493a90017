"""The alert state machine: issue, escalate, update, lower, cancel; never twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from smartseoul.services.flood.warnings import (
    GaugeLevels,
    RainRule,
    assess_gauge,
    assess_rain,
    next_alert,
)

HANGANG = GaugeLevels("1018683", 8.5, 10.5)
T0 = datetime(2013, 7, 15, 12, 0, tzinfo=UTC)


def replay(heights, forecasts=None, hold=30):
    alert, actions = None, []
    for i, height in enumerate(heights):
        moment = T0 + timedelta(minutes=10 * i)
        ahead = (forecasts or {}).get(i, [])
        step = next_alert(
            alert, assess_gauge(HANGANG, moment, height, ahead),
            alert_id=f"urn:ngsi-ld:Alert:flood:1018683:{i}", hold_minutes=hold,
        )  # fmt: skip
        actions.append(step.action)
        alert = step.alert
    return actions, alert


def test_levels_follow_the_official_thresholds():
    assert HANGANG.level_of(8.49).key == "none"
    assert HANGANG.level_of(8.5).key == "floodAdvisory"
    assert HANGANG.level_of(10.5).key == "floodWarning"
    assert GaugeLevels("1018662").level_of(20.0).key == "none"


def test_issue_escalate_lower_cancel_without_duplicates():
    heights = [8.0, 8.6, 8.7, 10.6, 10.7, 10.2, 10.1, 10.0, 10.0, 8.0, 8.0, 8.0, 8.0, 8.0]
    actions, alert = replay(heights)
    assert actions == [
        "none", "issue", "none", "escalate", "none",
        "none", "none", "none", "update",  # below warning for 30 minutes: lowered
        "none", "none", "none", "cancel",  # below advisory for 30 minutes: cancelled
        "none",
    ]  # fmt: skip
    assert alert is None
    assert actions.count("issue") == 1


def test_forecast_issues_early_then_observation_updates():
    forecasts = {0: [(120, 8.6), (180, 8.9)]}
    actions, alert = replay([8.0, 8.2, 8.6], forecasts)
    assert actions == ["issue", "none", "update"]
    assert alert.lead_minutes == 0 and alert.sequence == 2


def test_a_level_hovering_at_the_threshold_does_not_flap():
    actions, alert = replay([8.6, 8.4, 8.6, 8.4, 8.6, 8.4], hold=30)
    assert actions == ["issue"] + ["none"] * 5
    assert alert.status == "active"


def test_rain_pre_warning_by_hour_or_quarter():
    rule = RainRule(hour_mm=55, quarter_mm=20)
    quarter = [(T0 - timedelta(minutes=m), 7.0) for m in (0, 5, 10)]
    assert assess_rain("11680", T0, quarter, rule).level.key == "inundationPreWarning"
    hour = [(T0 - timedelta(minutes=m), 5.0) for m in range(0, 60, 5)]
    assert assess_rain("11680", T0, hour, rule).level.key == "inundationPreWarning"
    light = [(T0 - timedelta(minutes=m), 1.0) for m in range(0, 60, 5)]
    assert assess_rain("11680", T0, light, rule).level.key == "none"
