"""Rules on the live stream: rule matching, Sigma correlations over windows, alerts (pure).

:class:`Detector` takes events one at a time (in time order per group), runs the rules
that apply to the event's dataset, feeds matches to the correlations that reference them,
and returns :class:`Alert` values. Correlation windows use the events' own timestamps, so
replaying a file gives the same alerts as the live stream did.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from smartseoul.services.cyber.parsers import event_time
from smartseoul.services.cyber.sigma import Correlation, Rule, SigmaError, load_rules

__all__ = ["Alert", "Detector", "bundled_rules_dir", "load_detector"]

Event = dict[str, Any]
_SUMMARY_FIELDS = ("@timestamp", "event.dataset", "event.action", "event.outcome", "source.ip",
                   "source.port", "destination.ip", "destination.port", "host.hostname",
                   "user.name", "url.original", "rule.name", "message")  # fmt: skip
_MAX_GROUPS = 100_000  # per correlation; stale groups are dropped first


def bundled_rules_dir() -> Path:
    """The starter rule set shipped with smartseoul."""
    return Path(str(files("smartseoul.services.cyber").joinpath("rules")))


@dataclass
class Alert:
    """A rule or correlation that fired, with the event(s) behind it."""

    id: str
    rule_id: str
    title: str
    level: str
    time: str
    asset: str
    techniques: list[str]
    tactics: list[str]
    tags: list[str]
    kind: str  # "rule" or the correlation type
    count: int = 1
    source_ip: str | None = None
    group: dict[str, Any] = field(default_factory=dict)
    event: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def asset_of(event: Event) -> str:
    """The asset an event is about: the host that logged it, else the target address."""
    return str(event.get("host.hostname") or event.get("destination.ip")
               or event.get("source.ip") or "unknown")  # fmt: skip


def _summary(event: Event) -> dict[str, Any]:
    return {k: event[k] for k in _SUMMARY_FIELDS if k in event}


def _alert_id(*parts: Any) -> str:
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:20]


class _Window:
    """One correlation group's recent matches."""

    __slots__ = ("entries", "last")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, str, Any]] = deque()
        self.last = 0.0


class Detector:
    """Compiled rules and correlation state for one stream."""

    def __init__(self, rules: list[Rule], correlations: list[Correlation] = ()):  # type: ignore[assignment]
        self.rules = rules
        self.correlations = list(correlations)
        known = {r.id: r for r in rules} | {r.name: r for r in rules if r.name}
        self.silent: set[str] = set()  # rules that only feed correlations (generate: false)
        self.feeds: dict[str, list[Correlation]] = {}
        self.members: dict[str, list[str]] = {}  # correlation id -> its rules' ids, in order
        for corr in self.correlations:
            for ref in corr.rules:
                rule = known.get(ref)
                if rule is None:
                    raise SigmaError(
                        f"{corr.source}: {corr.title}: correlation names unknown rule {ref!r}"
                    )
                self.feeds.setdefault(rule.id, []).append(corr)
                self.members.setdefault(corr.id, []).append(rule.id)
                if not corr.generate:
                    self.silent.add(rule.id)
        self.index: dict[str, list[Rule]] = {}
        self.generic = [r for r in rules if r.datasets is None]
        for dataset in {d for r in rules if r.datasets for d in r.datasets}:
            self.index[dataset] = [r for r in rules if r.datasets is None or dataset in r.datasets]
        self.windows: dict[tuple[str, tuple[Any, ...]], _Window] = {}
        self.matched = 0
        self._timed: Event | None = None
        self._now = 0.0

    def applicable(self, event: Event) -> list[Rule]:
        return self.index.get(event.get("event.dataset", ""), self.generic)

    def process(self, event: Event) -> list[Alert]:
        """Alerts raised by one event (rule matches and completed correlations)."""
        alerts: list[Alert] = []
        fields = event.keys()
        for rule in self.index.get(event.get("event.dataset", ""), self.generic):
            gate = rule.gate
            if gate is not None and fields.isdisjoint(gate):
                continue
            if not rule.predicate(event):
                continue
            self.matched += 1
            if rule.id not in self.silent:
                alerts.append(self._rule_alert(rule, event))
            for corr in self.feeds.get(rule.id, ()):
                fired = self._correlate(corr, rule, event)
                if fired is not None:
                    alerts.append(fired)
        return alerts

    def process_all(self, events: Iterable[Event]) -> list[Alert]:
        out: list[Alert] = []
        for event in events:
            out += self.process(event)
        return out

    @staticmethod
    def _rule_alert(rule: Rule, event: Event) -> Alert:
        return Alert(
            id=_alert_id(rule.id, event.get("event.original") or sorted(event.items())),
            rule_id=rule.id, title=rule.title, level=rule.level, time=event["@timestamp"],
            asset=asset_of(event), techniques=rule.techniques, tactics=rule.tactics,
            tags=rule.tags, kind="rule", source_ip=event.get("source.ip"), event=_summary(event),
        )  # fmt: skip

    def _correlate(self, corr: Correlation, rule: Rule, event: Event) -> Alert | None:
        group = tuple(event.get(f) for f in corr.group_by)
        key = (corr.id, group)
        window = self.windows.get(key)
        if window is None:
            if len(self.windows) >= _MAX_GROUPS:
                self._evict()
            window = self.windows[key] = _Window()
        if event is not self._timed:  # parse the event's time once for all its correlations
            self._timed, self._now = event, event_time(event)
        now = self._now
        window.last = now
        entries = window.entries
        value = event.get(str(corr.condition.get("field"))) if corr.type == "value_count" else None
        entries.append((now, rule.id, value))
        while entries and entries[0][0] < now - corr.timespan:
            entries.popleft()
        if corr.type == "event_count":
            count = len(entries)
            fired = corr.holds(count)
        elif corr.type == "value_count":
            count = len({v for _, _, v in entries if v is not None})
            fired = corr.holds(count)
        else:
            count = len(entries)
            fired = _temporal(corr.type == "temporal_ordered", self.members[corr.id], entries)
        if not fired:
            return None
        first = entries[0][0]
        entries.clear()
        return Alert(
            id=_alert_id(corr.id, group, first, now), rule_id=corr.id, title=corr.title,
            level=corr.level, time=event["@timestamp"], asset=asset_of(event),
            techniques=corr.techniques or rule.techniques, tactics=corr.tactics or rule.tactics,
            tags=corr.tags or rule.tags, kind=corr.type, count=count,
            source_ip=event.get("source.ip"), group=dict(zip(corr.group_by, group, strict=True)),
            event=_summary(event),
        )  # fmt: skip

    def _evict(self) -> None:
        """Drop the older half of the correlation groups (bounded memory under floods)."""
        ordered = sorted(self.windows.items(), key=lambda item: item[1].last)
        for key, _ in ordered[: len(ordered) // 2]:
            del self.windows[key]


def _temporal(ordered: bool, wanted: list[str], entries: deque[tuple[float, str, Any]]) -> bool:
    """All referenced rules matched in the window (in the listed order when ``ordered``)."""
    seen = [rule_id for _, rule_id, _ in entries]
    if not ordered:
        return set(wanted) <= set(seen)
    position = 0
    for rule_id in seen:
        if position < len(wanted) and wanted[position] == rule_id:
            position += 1
    return position == len(wanted)


def load_detector(extra: Iterable[Path] = (), *, bundled: bool = True) -> Detector:
    """A detector over the bundled rules and any extra rule files or folders."""
    paths = [bundled_rules_dir()] if bundled else []
    rules, correlations = load_rules([*paths, *extra])
    return Detector(rules, correlations)
