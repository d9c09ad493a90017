"""The rule engine against the Sigma specification: values, modifiers, conditions, errors."""

from __future__ import annotations

import base64

import pytest
import yaml

from smartseoul.services.cyber.sigma import SigmaError, compile_detection, parse_rule_documents


def match(detection: dict, event: dict) -> bool:
    return compile_detection(detection)(event)


def sel(spec: str, value, condition: str = "s") -> dict:
    return {"s": {spec: value}, "condition": condition}


def test_plain_values_are_case_insensitive_equality_with_wildcards():
    assert match(sel("user.name", "Admin"), {"user.name": "admin"})
    assert not match(sel("user.name", "admin"), {"user.name": "admin2"})
    assert match(sel("url.path", "/wp-*/*.php"), {"url.path": "/wp-content/x.php"})
    assert match(sel("process.name", "s?d"), {"process.name": "sed"})
    assert not match(sel("process.name", "s?d"), {"process.name": "seed"})
    assert match(sel("message", r"a\*b"), {"message": "a*b"})
    assert not match(sel("message", r"a\*b"), {"message": "axxb"})
    assert match(sel("message", r"C:\\Windows\*"), {"message": "C:\\Windows*"})


def test_lists_are_or_numbers_match_text_and_null_means_absent():
    assert match(sel("destination.port", [22, 23]), {"destination.port": 23})
    assert match(sel("destination.port", 22), {"destination.port": "22"})
    assert not match(sel("destination.port", [22, 23]), {"destination.port": 80})
    assert match(sel("user.name", None), {"message": "x"})
    assert not match(sel("user.name", None), {"user.name": "kim"})
    assert match(sel("user.name", [None, "kim"]), {"user.name": "kim"})
    assert match(sel("tags", "web"), {"tags": ["db", "web"]})  # list-valued fields: any element
    assert not match(sel("user.name", "kim"), {})


def test_contains_startswith_endswith_and_all():
    assert match(
        sel("url.original|contains", "UNION SELECT"), {"url.original": "/?q=1 union select 2"}
    )
    assert match(sel("url.path|startswith", ["/admin", "/manager"]), {"url.path": "/manager/html"})
    assert not match(sel("url.path|startswith", "/admin"), {"url.path": "/x/admin"})
    assert match(sel("url.path|endswith", ".php"), {"url.path": "/a/b.PHP"})
    assert not match(sel("url.path|endswith", ".php"), {"url.path": "/a.php/b"})
    both = sel("message|contains|all", ["curl", "| sh"])
    assert match(both, {"message": "curl x | sh"})
    assert not match(both, {"message": "curl x"})
    assert match(sel("message|contains", "a*c"), {"message": "xxabbbcxx"})  # wildcards inside too


def test_cased_makes_matching_case_sensitive():
    assert match(sel("message|contains|cased", "Error"), {"message": "an Error"})
    assert not match(sel("message|contains|cased", "Error"), {"message": "an error"})


def test_re_with_sub_modifiers():
    assert match(sel("message|re", r"^Failed \w+ for"), {"message": "Failed password for x"})
    assert not match(sel("message|re", r"^failed"), {"message": "Failed"})  # re is case-sensitive
    assert match(sel("message|re|i", r"^failed"), {"message": "Failed"})
    assert match(sel("message|re|m", r"^b$"), {"message": "a\nb\nc"})
    assert match(sel("message|re|s", r"a.b"), {"message": "a\nb"})
    assert not match(sel("message|re", r"a.b"), {"message": "a\nb"})
    assert match(sel("message|re|all", ["a", "b"]), {"message": "ab"})
    assert not match(sel("message|re|all", ["a", "z"]), {"message": "ab"})


def test_cidr_ipv4_and_ipv6():
    rule = sel("source.ip|cidr", ["10.0.0.0/8", "2001:db8::/32"])
    assert match(rule, {"source.ip": "10.20.30.40"})
    assert match(rule, {"source.ip": "2001:db8::1"})
    assert not match(rule, {"source.ip": "11.0.0.1"})
    assert not match(rule, {"source.ip": "not-an-ip"})


def test_base64_and_base64offset():
    encoded = base64.b64encode(b"/bin/sh -c id").decode()
    assert match(sel("process.args|base64", "/bin/sh -c id"), {"process.args": encoded})
    assert match(
        sel("message|base64|contains", "/bin/sh"),
        {"message": f"x {base64.b64encode(b'/bin/sh').decode()} y"},
    )
    for prefix in (b"", b"a", b"ab"):  # the value at each offset of a longer encoded text
        text = base64.b64encode(prefix + b"powershell -enc" + b"zz").decode()
        assert match(sel("message|base64offset|contains", "powershell"), {"message": text}), prefix
    assert not match(
        sel("message|base64offset|contains", "powershell"),
        {"message": base64.b64encode(b"hello world").decode()},
    )
    with pytest.raises(SigmaError, match="base64offset must be followed by"):
        compile_detection(sel("message|base64offset", "x"))


def test_windash_matches_every_dash_style():
    rule = sel("message|windash|contains", " -enc ")
    for dash in ("-", "/", "\u2013", "\u2014", "\u2015"):
        assert match(rule, {"message": f"powershell {dash}enc AAAA"}), dash
    assert not match(rule, {"message": "powershell enc AAAA"})


@pytest.mark.parametrize(
    ("op", "value", "hits"),
    [
        ("gt", 100, [101]),
        ("gte", 100, [100, 101]),
        ("lt", 100, [99]),
        ("lte", 100, [99, 100]),
    ],
)
def test_numeric_comparisons(op, value, hits):
    for number in (99, 100, 101):
        assert match(sel(f"network.bytes|{op}", value), {"network.bytes": number}) is (
            number in hits
        )
    assert match(sel(f"network.bytes|{op}", value), {"network.bytes": str(hits[0])})
    assert not match(sel(f"network.bytes|{op}", value), {"network.bytes": "many"})


def test_exists_and_fieldref():
    assert match(sel("user.name|exists", True), {"user.name": "kim"})
    assert match(sel("user.name|exists", False), {"source.ip": "1.2.3.4"})
    assert not match(sel("user.name|exists", True), {})
    assert match(
        sel("source.ip|fieldref", "destination.ip"),
        {"source.ip": "1.1.1.1", "destination.ip": "1.1.1.1"},
    )
    assert not match(
        sel("source.ip|fieldref", "destination.ip"),
        {"source.ip": "1.1.1.1", "destination.ip": "2.2.2.2"},
    )


def test_keyword_lists_search_the_whole_line():
    detection = {"keywords": ["segfault", "oom-kill*invoked"], "condition": "keywords"}
    assert match(detection, {"event.original": "kernel: app[1]: segfault at 0"})
    assert match(detection, {"message": "oom-kill: constraint invoked"})
    assert not match(detection, {"message": "all good"})


SELECTIONS = {
    "sel_a": {"a": 1},
    "sel_b": {"b": 1},
    "filter": {"c": 1},
    "_hidden": {"h": 1},
}


@pytest.mark.parametrize(
    ("condition", "event", "expected"),
    [
        ("sel_a and sel_b", {"a": 1, "b": 1}, True),
        ("sel_a and sel_b", {"a": 1}, False),
        ("sel_a or sel_b", {"b": 1}, True),
        ("not sel_a", {"b": 1}, True),
        ("sel_a and not filter", {"a": 1, "c": 1}, False),
        ("sel_a or sel_b and filter", {"a": 1}, True),  # and binds tighter than or
        ("(sel_a or sel_b) and filter", {"a": 1}, False),
        ("not not sel_a", {"a": 1}, True),
        ("1 of sel_*", {"b": 1}, True),
        ("any of sel_*", {"b": 1}, True),
        ("all of sel_*", {"a": 1}, False),
        ("all of sel_*", {"a": 1, "b": 1}, True),
        ("1 of them", {"c": 1}, True),
        ("1 of them", {"h": 1}, False),  # names starting with _ are not in "them"
        ("all of them", {"a": 1, "b": 1, "c": 1}, True),
        ("all of them", {"a": 1, "b": 1}, False),
        ("1 of sel_* and not filter", {"a": 1, "c": 1}, False),
        ("SEL_A", {"a": 1}, None),
    ],
)
def test_conditions(condition, event, expected):
    detection = {**SELECTIONS, "condition": condition}
    if expected is None:
        with pytest.raises(SigmaError, match="unknown selection"):
            compile_detection(detection)
        return
    assert match(detection, event) is expected


def test_selection_as_list_of_maps_is_or_and_map_is_and():
    detection = {"s": [{"a": 1, "b": 2}, {"c": 3}], "condition": "s"}
    assert match(detection, {"a": 1, "b": 2})
    assert match(detection, {"c": 3})
    assert not match(detection, {"a": 1, "c": 4})


@pytest.mark.parametrize(
    ("detection", "message"),
    [
        ({"s": {"a": 1}}, "needs a condition"),
        ({"s": {"a|nope": 1}, "condition": "s"}, "unsupported modifier 'nope'"),
        ({"s": {"a": 1}, "condition": "s and"}, "ends too early"),
        ({"s": {"a": 1}, "condition": "(s"}, "ends too early"),
        ({"s": {"a": 1}, "condition": "s s"}, "unexpected 's'"),
        ({"s": {"a": 1}, "condition": "1 of x*"}, "no selection matches"),
        ({"s": {"a|cidr": "10.0.0.300/8"}, "condition": "s"}, "cidr"),
        ({"s": {"a|re": "("}, "condition": "s"}, "re"),
        ({"s": {"a|gt": "x"}, "condition": "s"}, "needs numbers"),
    ],
)
def test_invalid_rules_name_the_fault(detection, message):
    with pytest.raises(SigmaError, match=message):
        compile_detection(detection, where="test.yml")


def test_documents_rules_and_correlations():
    docs = list(
        yaml.safe_load_all("""
title: Failed
name: failed
id: r1
logsource: {product: linux, service: sshd}
detection: {s: {event.outcome: failure}, condition: s}
level: low
tags: [attack.credential_access, attack.t1110.001]
---
title: Many
id: c1
correlation: {type: event_count, rules: failed, group-by: source.ip, timespan: 2m, condition: {gte: 3, lt: 10}}
level: high
""")
    )
    rules, correlations = parse_rule_documents(docs, source="x.yml")
    assert rules[0].datasets == frozenset({"system.auth"})
    assert rules[0].techniques == ["T1110.001"] and rules[0].tactics == ["credential_access"]
    corr = correlations[0]
    assert (corr.rules, corr.group_by, corr.timespan) == (["failed"], ["source.ip"], 120.0)
    assert [corr.holds(n) for n in (2, 3, 9, 10)] == [False, True, True, False]
    with pytest.raises(SigmaError, match="timespan"):
        parse_rule_documents(
            [
                {
                    "title": "x",
                    "correlation": {
                        "type": "event_count",
                        "rules": ["a"],
                        "timespan": "soon",
                        "condition": {"gte": 1},
                    },
                }
            ]
        )
    with pytest.raises(SigmaError, match="value_count needs condition.field"):
        parse_rule_documents(
            [
                {
                    "title": "x",
                    "correlation": {
                        "type": "value_count",
                        "rules": ["a"],
                        "timespan": "1m",
                        "condition": {"gte": 1},
                    },
                }
            ]
        )
    with pytest.raises(SigmaError, match="level"):
        parse_rule_documents(
            [{"title": "x", "level": "severe", "detection": {"s": {"a": 1}, "condition": "s"}}]
        )
