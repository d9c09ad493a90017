"""Flood warnings: water levels and rainfall -> official warning levels -> alert lifecycle.

Pure computation. :func:`assess_gauge` maps an observation and its forecasts to the
official level of a gauge (Hangang Bridge: flood advisory 홍수주의보 at 8.5 m, flood warning
홍수경보 at 10.5 m); :func:`assess_rain` maps a gu's rainfall to the urban-inundation
pre-warning. :func:`next_alert` is the state machine that decides, for one gauge or gu,
whether an alert is issued, escalated, updated (including lowered) or cancelled; one
subject has at most one live alert, so replaying the same readings never duplicates one.
Lowering and cancelling wait until the level has stayed lower for ``hold_minutes``, so a
river hovering at a threshold does not make alerts flap; the hold state is part of the
alert (:attr:`AlertRecord.lower_since`), not of the process.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

__all__ = [
    "LEVELS",
    "AlertRecord",
    "Assessment",
    "GaugeLevels",
    "RainRule",
    "Transition",
    "assess_gauge",
    "assess_rain",
    "hold_state",
    "next_alert",
]


@dataclass(frozen=True)
class WarningLevel:
    """One official level: rank (0 none, higher is worse) and how to speak of it."""

    rank: int
    key: str
    name_ko: str
    name_en: str
    severity: str
    """Smart Data Models Alert severity."""
    cap_severity: str
    """CAP 1.2 severity."""


NONE = WarningLevel(0, "none", "없음", "none", "informational", "Minor")
INUNDATION = WarningLevel(
    1, "inundationPreWarning", "도시침수 예비경보", "urban inundation pre-warning", "medium",
    "Moderate",
)  # fmt: skip
ADVISORY = WarningLevel(2, "floodAdvisory", "홍수주의보", "flood advisory", "high", "Severe")
WARNING = WarningLevel(3, "floodWarning", "홍수경보", "flood warning", "critical", "Extreme")
LEVELS = {level.key: level for level in (NONE, INUNDATION, ADVISORY, WARNING)}


@dataclass(frozen=True)
class GaugeLevels:
    """A gauge's official thresholds in metres of gauge height (``None``: not set)."""

    code: str
    advisory_m: float | None = None
    warning_m: float | None = None

    def level_of(self, height_m: float) -> WarningLevel:
        """The official level a water height reaches.

        Examples
        --------
        >>> GaugeLevels("1018683", 8.5, 10.5).level_of(9.0).name_ko
        '홍수주의보'
        """
        if self.warning_m is not None and height_m >= self.warning_m:
            return WARNING
        if self.advisory_m is not None and height_m >= self.advisory_m:
            return ADVISORY
        return NONE


@dataclass(frozen=True)
class RainRule:
    """Urban-inundation pre-warning thresholds (mm in 60 and in 15 minutes)."""

    hour_mm: float = 55.0
    quarter_mm: float = 20.0


@dataclass(frozen=True)
class Assessment:
    """What the latest data say about one subject (a gauge code or a gu code).

    ``lead_minutes`` is 0 when the observation itself reaches ``level``, else the earliest
    forecast lead time that does; ``value`` is the level reached (m) or rainfall (mm).
    """

    subject: str
    level: WarningLevel
    time: datetime
    lead_minutes: int = 0
    value: float | None = None

    @property
    def basis(self) -> str:
        return "observed" if self.lead_minutes == 0 else "forecast"


def assess_gauge(
    levels: GaugeLevels,
    time: datetime,
    observed_m: float | None,
    forecast_m: Sequence[tuple[int, float]] = (),
) -> Assessment:
    """The highest official level reached now or within the forecast.

    Parameters
    ----------
    levels
        The gauge's thresholds.
    time
        Time of the observation.
    observed_m
        The observed height (m), if any.
    forecast_m
        ``(lead minutes, height m)`` pairs.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> t = datetime(2013, 7, 15, 13, 0, tzinfo=UTC)
    >>> a = assess_gauge(GaugeLevels("1018683", 8.5, 10.5), t, 8.2, [(10, 8.4), (40, 8.6)])
    >>> a.level.key, a.lead_minutes, a.value
    ('floodAdvisory', 40, 8.6)
    """
    best = Assessment(levels.code, NONE, time, 0, observed_m)
    if observed_m is not None:
        best = Assessment(levels.code, levels.level_of(observed_m), time, 0, observed_m)
    for lead, height in sorted(forecast_m):
        level = levels.level_of(height)
        if level.rank > best.level.rank:
            best = Assessment(levels.code, level, time, lead, height)
    return best


def assess_rain(
    gu: str, time: datetime, rainfall: Iterable[tuple[datetime, float]], rule: RainRule
) -> Assessment:
    """The pre-warning level of a gu from its rain gauges' readings up to ``time``.

    ``rainfall`` holds ``(end of interval, mm fallen in the interval)``; the heaviest of
    the gu's gauges counts, so pass one gauge's readings at a time or already merged.

    Examples
    --------
    >>> from datetime import datetime, timedelta, UTC
    >>> t = datetime(2022, 8, 8, 12, 0, tzinfo=UTC)
    >>> rain = [(t - timedelta(minutes=5 * i), 8.0) for i in range(3)]
    >>> a = assess_rain("11680", t, rain, RainRule())
    >>> a.level.key, a.value
    ('inundationPreWarning', 24.0)
    """
    readings = [(moment, mm) for moment, mm in rainfall if moment <= time]
    quarter = sum(mm for moment, mm in readings if moment > time - timedelta(minutes=15))
    hour = sum(mm for moment, mm in readings if moment > time - timedelta(minutes=60))
    hit = hour >= rule.hour_mm or quarter >= rule.quarter_mm
    value = quarter if quarter >= rule.quarter_mm else hour
    return Assessment(gu, INUNDATION if hit else NONE, time, 0, value)


@dataclass(frozen=True)
class AlertRecord:
    """The live state of one subject's alert, as kept in its Alert entity.

    ``lower_since`` is the hold state: for each level below ``level`` that assessments
    have fallen to, the time since which every assessment has been at or below it, highest
    level first (empty while assessments are at ``level``). It is kept in the hub (the
    Alert's ``lowerSince``), so a restarted service resumes the hold where it was.
    ``sequence`` counts the messages sent about this alert (CAP references).
    """

    id: str
    subject: str
    level: WarningLevel
    status: str
    """``active`` or ``cancelled``."""
    issued: datetime
    updated: datetime
    lead_minutes: int
    value: float | None
    sequence: int = 1
    lower_since: tuple[tuple[WarningLevel, datetime], ...] = ()


@dataclass(frozen=True)
class Transition:
    """What to do: ``issue``, ``escalate``, ``update``, ``cancel`` or ``none``."""

    action: str
    alert: AlertRecord | None


def next_alert(
    current: AlertRecord | None,
    assessment: Assessment,
    *,
    alert_id: str,
    hold_minutes: int = 60,
) -> Transition:
    """Advance one subject's alert by one assessment.

    - no live alert and a level above none: **issue** (id ``alert_id``);
    - a higher level: **escalate** at once;
    - same level, now observed where it was only forecast: **update**;
    - assessments at or below a lower level for ``hold_minutes``: **update** down to the
      lowest such level, or **cancel** when that is none;
    - otherwise nothing is sent (only the hold state ``lower_since`` may change, action
      ``none``).

    Examples
    --------
    >>> from datetime import datetime, timedelta, UTC
    >>> t = datetime(2013, 7, 15, tzinfo=UTC)
    >>> g = GaugeLevels("1018683", 8.5, 10.5)
    >>> step = next_alert(None, assess_gauge(g, t, 8.6), alert_id="urn:ngsi-ld:Alert:x")
    >>> step.action, step.alert.level.key
    ('issue', 'floodAdvisory')
    >>> later = t + timedelta(minutes=70)
    >>> next_alert(step.alert, assess_gauge(g, t, 8.0), alert_id="-").action
    'none'
    >>> held = next_alert(step.alert, assess_gauge(g, t, 8.0), alert_id="-").alert
    >>> [(level.key, since.hour) for level, since in held.lower_since]
    [('none', 0)]
    >>> next_alert(held, assess_gauge(g, later, 8.0), alert_id="-").action
    'cancel'
    """
    level, now = assessment.level, assessment.time
    live = current if current is not None and current.status == "active" else None
    if live is None:
        if level.rank == 0:
            return Transition("none", None)
        alert = AlertRecord(
            id=alert_id,
            subject=assessment.subject,
            level=level,
            status="active",
            issued=now,
            updated=now,
            lead_minutes=assessment.lead_minutes,
            value=assessment.value,
        )
        return Transition("issue", alert)
    if level.rank > live.level.rank:
        return Transition("escalate", _sent(live, assessment))
    if level.rank == live.level.rank:
        if assessment.lead_minutes == 0 < live.lead_minutes:
            return Transition("update", _sent(live, assessment))
        return Transition("none", replace(live, lower_since=()))
    # Lower than the live alert: go down only as far as has held for the hold time.
    held = hold_state(live.lower_since, level, now)
    due = [lower for lower, since in held if now - since >= timedelta(minutes=hold_minutes)]
    if not due:
        return Transition("none", replace(live, lower_since=held))
    target = due[-1]
    if target.rank == 0:
        cancelled = replace(
            live, status="cancelled", updated=now, lead_minutes=assessment.lead_minutes,
            value=assessment.value, sequence=live.sequence + 1, lower_since=(),
        )  # fmt: skip
        return Transition("cancel", cancelled)
    lowered = _sent(live, assessment)
    remaining = tuple((lower, since) for lower, since in held if lower.rank < target.rank)
    return Transition("update", replace(lowered, level=target, lower_since=remaining))


def hold_state(
    held: Sequence[tuple[WarningLevel, datetime]], level: WarningLevel, now: datetime
) -> tuple[tuple[WarningLevel, datetime], ...]:
    """The hold state after an assessment at ``level`` (below the alert's) at ``now``.

    Levels above ``level`` keep their time; ``level`` itself holds since the earliest
    time of the levels at or below it (a river rising from none to the advisory has been
    at or below the advisory since it fell to none); lower levels are dropped.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> t1, t2, t3 = (datetime(2016, 7, 5, h, tzinfo=UTC) for h in (1, 2, 3))
    >>> state = hold_state([(ADVISORY, t1), (NONE, t2)], ADVISORY, t3)
    >>> [(level.key, since.hour) for level, since in state]
    [('floodAdvisory', 1)]
    """
    at_or_below = [since for lower, since in held if lower.rank <= level.rank]
    kept = [(lower, since) for lower, since in held if lower.rank > level.rank]
    kept.append((level, min(at_or_below, default=now)))
    return tuple(sorted(kept, key=lambda pair: -pair[0].rank))


def _sent(live: AlertRecord, assessment: Assessment) -> AlertRecord:
    return replace(
        live,
        level=assessment.level,
        updated=assessment.time,
        lead_minutes=assessment.lead_minutes,
        value=assessment.value,
        sequence=live.sequence + 1,
        lower_since=(),
    )
