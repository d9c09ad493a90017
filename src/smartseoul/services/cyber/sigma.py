"""Sigma rules: documents, logsources, ATT&CK tags and correlation rules (pure).

Rule files are read here; their ``detection`` blocks are compiled by :mod:`.sigma_match`
into predicates, and correlations are run by :mod:`.detection`. Supported (Sigma
specification 2.0): selections as maps (AND) and lists of maps (OR), keyword lists, ``null``
values, wildcards ``*`` ``?`` with ``\\`` escapes, the modifiers ``contains``,
``startswith``, ``endswith``, ``all``, ``re`` (with ``i``, ``m``, ``s``), ``cidr``,
``base64``, ``base64offset``, ``windash``, ``cased``, ``exists``, ``gt``, ``gte``, ``lt``,
``lte`` and ``fieldref``; conditions with ``and``, ``or``, ``not``, parentheses,
``1 of``/``any of``/``all of`` a name pattern or ``them``; correlation rules
``event_count``, ``value_count``, ``temporal`` and ``temporal_ordered`` with ``group-by``
and ``timespan``. Field names are the event's ECS names.

A rule's ``logsource`` selects the events it sees through their ``event.dataset``
(:data:`LOGSOURCES`); a logsource this table does not know leaves the rule on every event.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from smartseoul.services.cyber.sigma_match import (
    Predicate,
    SigmaError,
    compile_detection,
    compile_gated,
)

__all__ = [
    "LEVELS",
    "LOGSOURCES",
    "Correlation",
    "Rule",
    "SigmaError",
    "compile_detection",
    "compile_gated",
    "load_rules",
    "parse_rule_documents",
]


_NETWORK = frozenset({"zeek.conn", "netflow.log", "suricata.eve"})
LOGSOURCES: dict[tuple[str, str], frozenset[str]] = {
    ("product", "linux"): frozenset({"system.auth", "system.syslog"}),
    ("service", "sshd"): frozenset({"system.auth"}),
    ("service", "auth"): frozenset({"system.auth"}),
    ("service", "syslog"): frozenset({"system.auth", "system.syslog"}),
    ("product", "suricata"): frozenset({"suricata.eve"}),
    ("product", "zeek"): frozenset({"zeek.conn"}),
    ("service", "conn"): frozenset({"zeek.conn"}),
    ("category", "webserver"): frozenset({"suricata.eve"}),
    ("category", "proxy"): frozenset({"suricata.eve"}),
    ("category", "ids"): frozenset({"suricata.eve"}),
    ("category", "dns"): frozenset({"suricata.eve"}),
    ("category", "network_connection"): _NETWORK,
    ("category", "firewall"): _NETWORK,
    ("category", "flow"): _NETWORK,
}
"""Sigma logsource key and value -> the ``event.dataset`` values it covers."""

LEVELS = ("informational", "low", "medium", "high", "critical")


def techniques_of(tags: list[str]) -> list[str]:
    """ATT&CK technique ids in Sigma tags.

    Examples
    --------
    >>> techniques_of(["attack.credential_access", "attack.t1110.001", "cve.2021-44228"])
    ['T1110.001']
    """
    return [
        t.split(".", 1)[1].upper() for t in tags if re.fullmatch(r"attack\.t\d{4}(\.\d{3})?", t)
    ]


def tactics_of(tags: list[str]) -> list[str]:
    """ATT&CK tactic names in Sigma tags (``attack.initial_access`` -> ``initial_access``)."""
    return [t.split(".", 1)[1] for t in tags
            if t.startswith("attack.") and not re.fullmatch(r"attack\.[tgs]\d{4}(\.\d{3})?", t)]  # fmt: skip


@dataclass
class Rule:
    """A compiled detection rule."""

    id: str
    title: str
    level: str
    predicate: Predicate
    name: str = ""
    tags: list[str] = field(default_factory=list)
    logsource: dict[str, str] = field(default_factory=dict)
    datasets: frozenset[str] | None = None  # None: every event
    description: str = ""
    source: str = ""
    gate: frozenset[str] | None = None  # an event without any of these fields cannot match

    @property
    def techniques(self) -> list[str]:
        """ATT&CK technique ids from tags such as ``attack.t1110.001``."""
        return techniques_of(self.tags)

    @property
    def tactics(self) -> list[str]:
        return tactics_of(self.tags)

    def matches(self, event: dict[str, Any]) -> bool:
        return self.predicate(event)


@dataclass
class Correlation:
    """A Sigma correlation rule (event_count, value_count, temporal, temporal_ordered)."""

    id: str
    title: str
    type: str
    rules: list[str]
    timespan: float
    level: str
    group_by: list[str] = field(default_factory=list)
    condition: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    tags: list[str] = field(default_factory=list)
    generate: bool = False
    source: str = ""

    @property
    def techniques(self) -> list[str]:
        return techniques_of(self.tags)

    @property
    def tactics(self) -> list[str]:
        return tactics_of(self.tags)

    def __post_init__(self) -> None:
        self._low = max([float(self.condition["gte"])] if "gte" in self.condition else []
                        + ([float(self.condition["gt"]) + 1e-9] if "gt" in self.condition else [])
                        + ([float(self.condition["eq"])] if "eq" in self.condition else []),
                        default=float("-inf"))  # fmt: skip
        self._high = min([float(self.condition["lte"])] if "lte" in self.condition else []
                         + ([float(self.condition["lt"]) - 1e-9] if "lt" in self.condition else [])
                         + ([float(self.condition["eq"])] if "eq" in self.condition else []),
                         default=float("inf"))  # fmt: skip

    def holds(self, value: int) -> bool:
        """Whether a count satisfies the condition (``gte: 10``, ``gt: 3, lte: 9``, ...)."""
        return self._low <= value <= self._high


# ============================================================================ documents

_SPAN = re.compile(r"(\d+)\s*([smhdw])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _timespan(text: Any, where: str) -> float:
    found = _SPAN.fullmatch(str(text).strip())
    if found is None:
        raise SigmaError(f"{where}: timespan {text!r} is not like 30s, 5m, 1h or 1d")
    return float(int(found.group(1)) * _SECONDS[found.group(2)])


def _datasets(logsource: dict[str, str]) -> frozenset[str] | None:
    result: frozenset[str] | None = None
    for key in ("category", "product", "service"):
        value = logsource.get(key)
        if value is None:
            continue
        covered = LOGSOURCES.get((key, str(value).lower()))
        if covered is not None:
            result = covered if result is None else result & covered
    return result


def _level(doc: dict[str, Any], where: str) -> str:
    level = str(doc.get("level", "medium")).lower()
    if level not in LEVELS:
        raise SigmaError(f"{where}: level {level!r}; valid: {', '.join(LEVELS)}")
    return level


def parse_rule_documents(
    docs: Iterable[Any], *, source: str = ""
) -> tuple[list[Rule], list[Correlation]]:
    """Rules and correlations from parsed YAML documents (one file may hold several)."""
    rules: list[Rule] = []
    correlations: list[Correlation] = []
    for number, doc in enumerate(docs, start=1):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise SigmaError(f"{source} document {number}: not a map")
        title = str(doc.get("title", ""))
        where = f"{source}: {title or f'document {number}'}"
        rule_id = str(doc.get("id") or doc.get("name") or f"{source}#{number}")
        tags = [str(t).lower() for t in doc.get("tags", [])]
        if "correlation" in doc:
            body = doc["correlation"]
            kind = str(body.get("type", ""))
            if kind not in ("event_count", "value_count", "temporal", "temporal_ordered"):
                raise SigmaError(f"{where}: correlation type {kind!r}; valid: event_count, "
                                 "value_count, temporal, temporal_ordered")  # fmt: skip
            refs = body.get("rules")
            refs = [refs] if isinstance(refs, str) else refs
            if not refs:
                raise SigmaError(f"{where}: correlation names no rules")
            condition = dict(body.get("condition") or {})
            if kind in ("event_count", "value_count") and not condition:
                raise SigmaError(f"{where}: {kind} needs a condition such as gte: 10")
            if kind == "value_count" and "field" not in condition:
                raise SigmaError(f"{where}: value_count needs condition.field")
            group = body.get("group-by") or []
            correlations.append(Correlation(
                id=rule_id, title=title, type=kind, rules=[str(r) for r in refs],
                timespan=_timespan(body.get("timespan"), where), level=_level(doc, where),
                group_by=[group] if isinstance(group, str) else list(group), condition=condition,
                name=str(doc.get("name", "")), tags=tags, generate=bool(body.get("generate", False)),
                source=source,
            ))  # fmt: skip
            continue
        if "detection" not in doc:
            raise SigmaError(f"{where}: no detection")
        logsource = {str(k): str(v) for k, v in (doc.get("logsource") or {}).items()}
        predicate, gate = compile_gated(doc["detection"], where=where)
        rules.append(Rule(
            id=rule_id, title=title, level=_level(doc, where), predicate=predicate, gate=gate,
            name=str(doc.get("name", "")),
            tags=tags, logsource=logsource, datasets=_datasets(logsource),
            description=str(doc.get("description", "")).strip(), source=source,
        ))  # fmt: skip
    return rules, correlations


def load_rules(paths: Iterable[Path]) -> tuple[list[Rule], list[Correlation]]:
    """Every rule in the given YAML files and folders (``*.yml``/``*.yaml``, recursively)."""
    rules: list[Rule] = []
    correlations: list[Correlation] = []
    for path in paths:
        files = sorted([*path.rglob("*.yml"), *path.rglob("*.yaml")]) if path.is_dir() else [path]
        for file in files:
            try:
                docs = list(yaml.safe_load_all(file.read_text(encoding="utf-8")))
            except yaml.YAMLError as err:
                raise SigmaError(f"{file}: not YAML: {err}") from None
            found, linked = parse_rule_documents(docs, source=file.name)
            rules += found
            correlations += linked
    return rules, correlations
