"""Every bundled Sigma rule against its positive and negative example events."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from smartseoul.services.cyber.detection import Detector, bundled_rules_dir
from smartseoul.services.cyber.sigma import load_rules

EXAMPLES = yaml.safe_load((Path(__file__).parent / "rule_examples.yml").read_text(encoding="utf-8"))
RULES, CORRELATIONS = load_rules([bundled_rules_dir()])
T0 = datetime(2026, 11, 28, tzinfo=UTC)


def _expand(value):
    if isinstance(value, str):
        return re.sub(r"\{(\w)\*(\d+)\}", lambda m: m.group(1) * int(m.group(2)), value)
    return value


def _event(fields: dict, dataset: str | None, at: datetime = T0) -> dict:
    event = {
        "@timestamp": at.isoformat().replace("+00:00", "Z"),
        **{k: _expand(v) for k, v in fields.items()},
    }
    if dataset and "event.dataset" not in event:
        event["event.dataset"] = dataset
    return event


def _sequence(example, dataset: str | None) -> list[dict]:
    if isinstance(example, list):
        return [_event(e, dataset) for e in example]
    out = []
    for i in range(example["repeat"]):
        fields = dict(example["event"])
        for name, template in (example.get("vary") or {}).items():
            value = template.format(i=i + 1)
            fields[name] = int(value) if value.isdigit() else value
        out.append(_event(fields, dataset, T0 + timedelta(seconds=i * example["every"])))
    return out


def _fires(detector: Detector, rule, event: dict) -> bool:
    applies = rule in detector.applicable(event)
    gate_open = rule.gate is None or not event.keys().isdisjoint(rule.gate)
    matched = rule.predicate(event)
    assert gate_open or not matched, f"{rule.title}: the gate would hide a match"
    return applies and gate_open and matched


def _dataset(rule) -> str | None:
    return sorted(rule.datasets)[0] if rule.datasets else None


def test_bundled_set_is_big_enough_and_every_rule_has_examples():
    assert len(RULES) + len(CORRELATIONS) >= 50
    titles = [r.title for r in RULES] + [c.title for c in CORRELATIONS]
    assert len(set(titles)) == len(titles)
    assert sorted(set(titles) - set(EXAMPLES)) == []
    assert sorted(set(EXAMPLES) - set(titles)) == []
    alerting = [r for r in RULES if r.level != "informational"] + CORRELATIONS
    assert all(
        r.techniques or r.tactics for r in alerting if r.title != "Suricata medium-severity alert"
    )


@pytest.mark.parametrize("rule", RULES, ids=[r.title for r in RULES])
def test_rule_examples(rule):
    detector = Detector(RULES, CORRELATIONS)
    example = EXAMPLES[rule.title]
    for fields in example["match"]:
        assert _fires(detector, rule, _event(fields, _dataset(rule))), fields
    for fields in example["nomatch"]:
        assert not _fires(detector, rule, _event(fields, _dataset(rule))), fields


@pytest.mark.parametrize("corr", CORRELATIONS, ids=[c.title for c in CORRELATIONS])
def test_correlation_examples(corr):
    example = EXAMPLES[corr.title]
    for expected, key in ((True, "match"), (False, "nomatch")):
        detector = Detector(*load_rules([bundled_rules_dir()]))
        alerts = detector.process_all(_sequence(example[key], None))
        fired = [a for a in alerts if a.rule_id == corr.id]
        assert bool(fired) is expected, (key, [a.title for a in alerts])
        if expected:
            assert fired[0].techniques == corr.techniques or not corr.techniques
