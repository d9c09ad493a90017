"""The alert state machine: issue, escalate, update, lower, cancel; never twice."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, timedelta

import pytest

from smartseoul.services.flood.entities import LiveAlert, alert_entity, alert_text, live_alert
from smartseoul.services.flood.warnings import (
    GaugeLevels,
    RainRule,
    Transition,
    assess_gauge,
    assess_rain,
    next_alert,
)

HANGANG = GaugeLevels("1018683", 8.5, 10.5)
T0 = datetime(2013, 7, 15, 12, 0, tzinfo=UTC)


def replay(heights, forecasts=None, hold=30, *, first=0, alert=None):
    actions = []
    for i, height in enumerate(heights, start=first):
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


def test_each_lower_level_holds_on_its_own_before_the_alert_goes_down_to_it():
    # A flood warning; 30 minutes at the advisory, then the river is below both levels.
    heights = [10.6, 9.0, 9.0, 9.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0]
    actions, alert = replay(heights, hold=60)
    # Below the warning for 60 minutes at i=7: lowered to the advisory, not cancelled,
    # since none has held only 30 minutes; cancelled when none has held 60, at i=10.
    assert actions == ["issue", "none", "none", "none", "none", "none", "none", "update",
                       "none", "none", "cancel", "none"]  # fmt: skip
    assert alert is None
    _, lowered = replay(heights[:8], hold=60)
    assert lowered.level.key == "floodAdvisory" and lowered.sequence == 2
    assert [(level.key, since) for level, since in lowered.lower_since] == [
        ("none", T0 + timedelta(minutes=40))
    ]


def test_the_alert_entity_carries_the_whole_state():
    """Going on from the Alert entity after any step, as a restarted service does, gives
    the actions of one uninterrupted run."""
    heights = [8.6, 8.7, 10.6, 9.0, 8.0, 8.6, 8.0, 8.1, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0]
    whole, _ = replay(heights, hold=30)
    assert whole.count("cancel") == 1 and whole.count("issue") == 1
    for cut in range(1, len(heights)):
        first, alert = replay(heights[:cut], hold=30)
        if alert is not None:
            entity = alert_entity(Transition("none", alert), LiveAlert(alert, [T0]),
                                  alert_text(alert), "<alert/>")  # fmt: skip
            key_values = {
                name: value.get("value", value.get("object")) if isinstance(value, dict) else value
                for name, value in entity.items()
            }
            alert = live_alert(key_values).record
        rest, _ = replay(heights[cut:], hold=30, first=cut, alert=alert)
        assert first + rest == whole, cut


@pytest.mark.parametrize("name", ["warnings", "service", "model", "metrics"])
def test_docstring_examples_run(name):
    import importlib

    module = importlib.import_module(f"smartseoul.services.flood.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
