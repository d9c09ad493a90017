"""Incidents and intrusion prediction: alert grouping, the analyst workflow, asset risk (pure).

Alerts about the same asset and ATT&CK technique within ``window`` seconds of each other
form one :class:`Incident`. Its severity is the highest alert level, raised one step when
ten or more alerts or five or more sources pile up. Analysts move it through ``new ->
investigating -> resolved | false_positive`` (and may reopen it) with notes.

:func:`asset_risk` predicts which assets are likely to be breached next. No public data
labels city assets as breached or not, so it is a transparent additive model rather than a
trained one: recent alerts (decayed with a half-life), how far along the ATT&CK kill chain
the alerts have got, distinct techniques, open incidents, exposure (internet-facing,
services answering) and the anomaly detector's score each add to a hazard ``z``; the risk
is ``1 - exp(-z)`` and the largest terms are its explanation.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "STATUSES",
    "AssetRisk",
    "Exposure",
    "Incident",
    "IncidentBook",
    "WorkflowError",
    "asset_risk",
    "transition",
]

STATUSES = ("new", "investigating", "resolved", "false_positive")
OPEN = frozenset({"new", "investigating"})
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"investigating", "resolved", "false_positive"}),
    "investigating": frozenset({"new", "resolved", "false_positive"}),
    "resolved": frozenset({"investigating"}),
    "false_positive": frozenset({"investigating"}),
}
SEVERITIES = ("low", "medium", "high", "critical")
_LEVEL_RANK = {"informational": 0, "low": 0, "medium": 1, "high": 2, "critical": 3}
_LEVEL_WEIGHT = {"informational": 0.2, "low": 1.0, "medium": 3.0, "high": 6.0, "critical": 10.0}
# Kill-chain stage of each ATT&CK tactic, 0 (looking) to 4 (acting on objectives).
_STAGE = {
    "reconnaissance": 0, "discovery": 1, "resource_development": 0, "credential_access": 2,
    "initial_access": 3, "execution": 3, "persistence": 3, "privilege_escalation": 3,
    "defense_evasion": 3, "lateral_movement": 4, "collection": 4, "command_and_control": 4,
    "exfiltration": 4, "impact": 4,
}  # fmt: skip


class WorkflowError(ValueError):
    """A status change the workflow does not allow; the message lists the allowed ones."""


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _severity(level_rank: int, count: int, sources: int) -> str:
    if count >= 10 or sources >= 5:
        level_rank += 1
    return SEVERITIES[min(level_rank, 3)]


@dataclass
class Incident:
    """Alerts on one asset for one technique, close in time."""

    id: str
    asset: str
    technique: str
    title: str
    first_seen: float
    last_seen: float
    status: str = "new"
    alert_ids: list[str] = field(default_factory=list)
    level_rank: int = 0
    sources: set[str] = field(default_factory=set)
    rules: set[str] = field(default_factory=set)
    tactics: set[str] = field(default_factory=set)
    notes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def severity(self) -> str:
        return _severity(self.level_rank, len(self.alert_ids), len(self.sources))

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


def transition(incident: Incident, status: str, *, at: float, author: str = "",
               note: str = "") -> Incident:  # fmt: skip
    """Move an incident to ``status`` (recording a note); raises :class:`WorkflowError`.

    Examples
    --------
    >>> i = Incident("i1", "web-1", "T1190", "SQL injection", 0.0, 0.0)
    >>> transition(i, "investigating", at=1.0, author="kim").status
    'investigating'
    >>> transition(i, "new", at=2.0).status
    'new'
    >>> transition(transition(i, "resolved", at=3.0), "false_positive", at=4.0)
    Traceback (most recent call last):
    ...
    smartseoul.services.cyber.incidents.WorkflowError: cannot go from resolved to false_positive; allowed: investigating
    """
    if status not in STATUSES:
        raise WorkflowError(f"unknown status {status!r}; valid: {', '.join(STATUSES)}")
    if status != incident.status:
        allowed = TRANSITIONS[incident.status]
        if status not in allowed:
            raise WorkflowError(f"cannot go from {incident.status} to {status}; "
                                f"allowed: {', '.join(sorted(allowed))}")  # fmt: skip
        incident.notes.append({"time": _iso(at), "author": author, "text": note,
                               "status": f"{incident.status} -> {status}"})  # fmt: skip
        incident.status = status
    elif note:
        incident.notes.append({"time": _iso(at), "author": author, "text": note})
    return incident


class IncidentBook:
    """Open incidents of a stream, keyed by asset and technique."""

    def __init__(self, *, window: float = 3600.0):
        self.window = window
        self.open: dict[tuple[str, str], Incident] = {}

    def add(self, alert: dict[str, Any], at: float) -> Incident:
        """Put an alert (:meth:`Alert.as_dict`) into its incident; returns that incident."""
        technique = (alert.get("techniques") or ["untagged"])[0]
        key = (alert["asset"], technique)
        incident = self.open.get(key)
        if incident is None or not incident.is_open or at - incident.last_seen > self.window:
            digest = hashlib.sha1(f"{key}\x1f{at}\x1f{alert['id']}".encode()).hexdigest()[:16]
            incident = Incident(
                id=digest, asset=alert["asset"], technique=technique,
                title=f"{alert['title']} on {alert['asset']}", first_seen=at, last_seen=at,
            )  # fmt: skip
            self.open[key] = incident
        if alert["id"] not in incident.alert_ids:
            incident.alert_ids.append(alert["id"])
        incident.first_seen = min(incident.first_seen, at)
        incident.last_seen = max(incident.last_seen, at)
        incident.level_rank = max(incident.level_rank, _LEVEL_RANK.get(alert["level"], 0))
        if alert.get("source_ip"):
            incident.sources.add(str(alert["source_ip"]))
        incident.rules.add(alert["rule_id"])
        incident.tactics.update(alert.get("tactics") or [])
        return incident

    def close(self, incident_id: str) -> None:
        """Forget an incident an analyst closed: later alerts start a new one."""
        for key, incident in list(self.open.items()):
            if incident.id == incident_id:
                del self.open[key]

    def prune(self, now: float) -> None:
        """Drop incidents whose window has passed (bounded memory)."""
        for key, incident in list(self.open.items()):
            if now - incident.last_seen > self.window:
                del self.open[key]


@dataclass(frozen=True)
class Exposure:
    """What an asset offers to attackers."""

    internet_facing: bool = False
    services: int = 0  # distinct ports seen answering
    criticality: float = 1.0  # 1 ordinary, 2 important, 3 critical city system


@dataclass
class AssetRisk:
    """Predicted risk of an asset being breached next, with its explanation."""

    asset: str
    score: float  # 0 to 100
    level: str
    factors: list[dict[str, Any]]


def asset_risk(
    alerts: Iterable[dict[str, Any]],
    *,
    now: float,
    exposure: dict[str, Exposure] | None = None,
    open_incidents: dict[str, int] | None = None,
    anomaly: dict[str, float] | None = None,
    half_life_hours: float = 24.0,
    top: int = 3,
) -> list[AssetRisk]:
    """Risk per asset from its alert history and exposure, highest first.

    ``alerts`` are :meth:`Alert.as_dict` values with a ``time`` in epoch seconds
    (``at``) or ISO text.

    Examples
    --------
    >>> alerts = [{"asset": "cctv-7", "level": "high", "at": 0.0, "tactics": ["initial_access"],
    ...            "techniques": ["T1190"]}]
    >>> [(r.asset, r.level) for r in asset_risk(alerts, now=3600.0,
    ...     exposure={"cctv-7": Exposure(internet_facing=True), "db-1": Exposure()})]
    [('cctv-7', 'critical'), ('db-1', 'low')]
    """
    exposure = exposure or {}
    open_incidents = open_incidents or {}
    anomaly = anomaly or {}
    decay = math.log(2) / (half_life_hours * 3600.0)
    weight: dict[str, float] = {}
    stage: dict[str, int] = {}
    techniques: dict[str, set[str]] = {}
    for alert in alerts:
        asset = str(alert["asset"])
        age = max(0.0, now - float(alert["at"]))
        weight[asset] = weight.get(asset, 0.0) + _LEVEL_WEIGHT.get(alert["level"], 1.0) * math.exp(
            -decay * age
        )
        stages = [_STAGE.get(t, 0) for t in alert.get("tactics") or []]
        stage[asset] = max(stage.get(asset, 0), *stages) if stages else stage.get(asset, 0)
        techniques.setdefault(asset, set()).update(alert.get("techniques") or [])
    assets = set(weight) | set(exposure) | set(open_incidents) | set(anomaly)
    out: list[AssetRisk] = []
    for asset in assets:
        seen = exposure.get(asset, Exposure())
        terms = {
            "recent alerts": 0.08 * weight.get(asset, 0.0),
            "kill-chain stage reached": 0.25 * stage.get(asset, 0) if asset in weight else 0.0,
            "distinct ATT&CK techniques": 0.15 * len(techniques.get(asset, ())),
            "open incidents": 0.3 * open_incidents.get(asset, 0),
            "internet-facing": 0.5 if seen.internet_facing else 0.0,
            "exposed services": 0.05 * min(seen.services, 20),
            "traffic anomaly": 1.0 * anomaly.get(asset, 0.0),
        }
        hazard = sum(terms.values()) * seen.criticality
        score = round(100.0 * (1.0 - math.exp(-hazard)), 1)
        level = (
            "critical"
            if score >= 75
            else "high"
            if score >= 50
            else "medium"
            if score >= 25
            else "low"
        )
        ranked = sorted(((k, v) for k, v in terms.items() if v > 0), key=lambda kv: -kv[1])[:top]
        total = sum(terms.values()) or 1.0
        factors = [{"factor": k, "share": round(v / total, 3)} for k, v in ranked]
        out.append(AssetRisk(asset, score, level, factors))
    out.sort(key=lambda r: (-r.score, r.asset))
    return out
