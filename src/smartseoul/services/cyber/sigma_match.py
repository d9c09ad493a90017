"""Sigma detection blocks compiled into Python predicates (pure).

A ``detection`` block is compiled once: each selection becomes a closure over field lookups
(one combined case-insensitive regular expression or a set lookup per field), the condition
a tree of such closures, so evaluating an event is a handful of dict lookups. Each compiled
block also has a *gate*: fields of which an event needs at least one to possibly match, so
the detector skips rules an event cannot satisfy without calling them.
"""

from __future__ import annotations

import base64
import fnmatch
import ipaddress
import re
from collections.abc import Callable
from typing import Any

__all__ = ["Compiled", "Gate", "Predicate", "SigmaError", "compile_detection", "compile_gated"]

Event = dict[str, Any]
Predicate = Callable[[Event], bool]
_DASHES = ("-", "/", "\u2013", "\u2014", "\u2015")


class SigmaError(ValueError):
    """A rule the engine cannot read; the message names the rule and the part at fault."""


# ============================================================================ values


def _wildcard_regex(value: str, *, plain: bool = False) -> str:
    """A Sigma string as a regex fragment: ``*`` and ``?`` are wildcards unless escaped."""
    if plain:
        return re.escape(value)
    out: list[str] = []
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value) and value[i + 1] in "*?\\":
            out.append(re.escape(value[i + 1]))
            i += 2
            continue
        out.append(".*" if char == "*" else "." if char == "?" else re.escape(char))
        i += 1
    return "".join(out)


def _has_wildcard(value: str) -> bool:
    return bool(re.search(r"(?<!\\)[*?]", value))


def _unescape(value: str) -> str:
    return re.sub(r"\\([*?\\])", r"\1", value)


def _base64offset(value: bytes) -> list[str]:
    starts, ends = (0, 2, 3), (None, -3, -2)
    return [base64.b64encode(i * b" " + value)[starts[i] : ends[(len(value) + i) % 3]].decode()
            for i in range(3)]  # fmt: skip


def _expand(values: list[str], transforms: list[str]) -> list[list[str]]:
    """Each value -> its variants after base64, base64offset and windash."""
    groups = [[v] for v in values]
    for transform in transforms:
        if transform == "windash":
            groups = [
                sorted({re.sub(r"\B[-/]\b", d, v) for d in _DASHES for v in g}) for g in groups
            ]
        elif transform == "base64":
            groups = [[base64.b64encode(v.encode()).decode() for v in g] for g in groups]
        elif transform == "base64offset":
            groups = [[x for v in g for x in _base64offset(v.encode())] for g in groups]
    return groups


def _text(value: Any) -> str:
    if value.__class__ is str:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _string_test(groups: list[list[str]], kind: str, *, cased: bool, every: bool,
                 literal: bool) -> Callable[[Any], bool]:  # fmt: skip
    """A test on one field value for string values (exact, contains, startswith, endswith)."""
    flags = re.S if cased else re.S | re.I

    def fragment(v: str) -> str:
        core = _wildcard_regex(v, plain=literal)
        if kind == "contains":
            return core
        if kind == "startswith":
            return rf"\A{core}"
        if kind == "endswith":
            return rf"{core}\Z"
        return rf"\A{core}\Z"

    def one(group: list[str]) -> Callable[[Any], bool]:
        if kind == "exact" and (literal or not any(_has_wildcard(v) for v in group)):
            wanted = {(v if literal else _unescape(v)) for v in group}
            if cased:
                return lambda x: _text(x) in wanted
            lowered = {v.lower() for v in wanted}
            return lambda x: _text(x).lower() in lowered
        search = re.compile("|".join(f"(?:{fragment(v)})" for v in group), flags).search
        return lambda x: search(_text(x)) is not None

    if not every:
        return one([v for g in groups for v in g])
    tests = [one(g) for g in groups]
    return lambda x: all(t(x) for t in tests)


def _number_of(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _field_predicate(spec: str, raw: Any, where: str) -> Predicate:
    """One ``field|modifier|...: value(s)`` entry of a selection."""
    name, *modifiers = spec.split("|")
    values = raw if isinstance(raw, list) else [raw]
    known = {"contains", "startswith", "endswith", "all", "re", "i", "m", "s", "cidr", "base64",
             "base64offset", "windash", "cased", "exists", "gt", "gte", "lt", "lte", "fieldref"}  # fmt: skip
    unknown = [m for m in modifiers if m not in known]
    if unknown:
        raise SigmaError(f"{where}: unsupported modifier {unknown[0]!r} on {name!r}; "
                         f"supported: {', '.join(sorted(known))}")  # fmt: skip
    mods = set(modifiers)
    every = "all" in mods
    get = _getter(name)

    if "exists" in mods:
        want = bool(values[0])
        return lambda e: (get(e) is not None) == want
    if "fieldref" in mods:
        others = [_getter(str(v)) for v in values]
        cased = "cased" in mods

        def same(e: Event) -> bool:
            mine = get(e)
            if mine is None:
                return False
            a = _text(mine) if cased else _text(mine).lower()
            hits = [(o(e) is not None and (_text(o(e)) if cased else _text(o(e)).lower()) == a)
                    for o in others]  # fmt: skip
            return all(hits) if every else any(hits)

        return same
    test: Callable[[Any], bool]
    if mods & {"gt", "gte", "lt", "lte"}:
        op = next(m for m in modifiers if m in ("gt", "gte", "lt", "lte"))
        limits = [_number_of(v) for v in values]
        if any(limit is None for limit in limits):
            raise SigmaError(f"{where}: {name}|{op} needs numbers, got {values!r}")
        compare = {
            "gt": float.__gt__,
            "gte": float.__ge__,
            "lt": float.__lt__,
            "lte": float.__le__,
        }[op]

        def numeric(x: Any) -> bool:
            number = _number_of(x)
            if number is None:
                return False
            hits = (compare(number, limit) for limit in limits)  # type: ignore[arg-type]
            return all(hits) if every else any(hits)

        test = numeric
    elif "cidr" in mods:
        try:
            networks = [ipaddress.ip_network(str(v), strict=False) for v in values]
        except ValueError as err:
            raise SigmaError(f"{where}: {name}|cidr: {err}") from None

        def in_networks(x: Any) -> bool:
            try:
                address = ipaddress.ip_address(_text(x))
            except ValueError:
                return False
            hits = (address in n for n in networks)
            return all(hits) if every else any(hits)

        test = in_networks
    elif "re" in mods:
        flags = (
            (re.I if "i" in mods else 0)
            | (re.M if "m" in mods else 0)
            | (re.S if "s" in mods else 0)
        )
        try:
            patterns = [re.compile(str(v), flags) for v in values]
        except re.error as err:
            raise SigmaError(f"{where}: {name}|re: {err}") from None
        if not every:
            combined = re.compile("|".join(f"(?:{p.pattern})" for p in patterns), flags).search

            def regex(x: Any) -> bool:
                return combined(_text(x)) is not None

            test = regex
        else:
            test = lambda x: all(p.search(_text(x)) for p in patterns)  # noqa: E731
    else:
        nulls = any(v is None for v in values)
        strings = [_text(v) for v in values if v is not None]
        transforms = [m for m in modifiers if m in ("base64", "base64offset", "windash")]
        kinds = [m for m in modifiers if m in ("contains", "startswith", "endswith")]
        kind = kinds[0] if kinds else "exact"
        literal = bool(transforms) and "base64" in "".join(transforms)
        if "base64offset" in mods and kind != "contains":
            raise SigmaError(f"{where}: {name}|base64offset must be followed by |contains")
        string_test = _string_test(_expand(strings, transforms), kind, cased="cased" in mods,
                                   every=every, literal=literal) if strings else None  # fmt: skip
        if nulls:
            return lambda e: (
                get(e) is None or (string_test is not None and _any(get(e), string_test))
            )
        assert string_test is not None
        test = string_test
    return _on_field(name, test)


def _any(value: Any, test: Callable[[Any], bool]) -> bool:
    if value is None:
        return False
    if isinstance(value, list):
        return any(test(v) for v in value if v is not None)
    return test(value)


def _getter(name: str) -> Callable[[Event], Any]:
    return lambda e: e.get(name)


def _on_field(name: str, test: Callable[[Any], bool]) -> Predicate:
    def check(event: Event) -> bool:
        value = event.get(name)
        if value is None:
            return False
        if value.__class__ is list:
            return any(test(v) for v in value if v is not None)
        return test(value)

    return check


def _all_of(predicates: list[Predicate]) -> Predicate:
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        a, b = predicates
        return lambda e: a(e) and b(e)

    def every(e: Event) -> bool:
        for p in predicates:  # noqa: SIM110 (a loop beats all() over a generator here)
            if not p(e):
                return False
        return True

    return every


def _any_of(predicates: list[Predicate]) -> Predicate:
    if len(predicates) == 1:
        return predicates[0]

    def some(e: Event) -> bool:
        for p in predicates:  # noqa: SIM110 (a loop beats any() over a generator here)
            if p(e):
                return True
        return False

    return some


def _keywords(values: list[Any], where: str) -> Predicate:
    test = _string_test([[_text(v)] for v in values], "contains", cased=False, every=False,
                        literal=False)  # fmt: skip

    def search(e: Event) -> bool:
        text = e.get("event.original") or e.get("message")
        return text is not None and test(text)

    return search


Gate = frozenset[str] | None  # fields of which an event needs one to possibly match
Compiled = tuple[Predicate, Gate]


def _union(gates: list[Gate]) -> Gate:
    if any(g is None for g in gates):
        return None
    return frozenset().union(*(g for g in gates if g is not None))


def _narrowest(gates: list[Gate]) -> Gate:
    known = [g for g in gates if g is not None]
    return min(known, key=len) if known else None


def _and(parts: list[Compiled]) -> Compiled:
    return _all_of([p for p, _ in parts]), _narrowest([g for _, g in parts])


def _or(parts: list[Compiled]) -> Compiled:
    return _any_of([p for p, _ in parts]), _union([g for _, g in parts])


def _needs_field(spec: str, value: Any) -> bool:
    """Whether a field test can only hold when the field is present."""
    mods = spec.split("|")[1:]
    values = value if isinstance(value, list) else [value]
    if "exists" in mods:
        return bool(values[0])
    return not any(v is None for v in values)


def _selection(name: str, body: Any, where: str) -> Compiled:
    at = f"{where} selection {name!r}"
    if isinstance(body, dict):
        if not body:
            raise SigmaError(f"{at}: empty")
        needed = [str(k).split("|")[0] for k, v in body.items() if _needs_field(str(k), v)]
        predicate = _all_of([_field_predicate(str(k), v, at) for k, v in body.items()])
        return predicate, frozenset(needed[:1]) if needed else None
    if isinstance(body, list):
        if body and all(isinstance(item, dict) for item in body):
            return _or([_selection(name, item, where) for item in body])
        if any(isinstance(item, dict | list) for item in body):
            raise SigmaError(f"{at}: mixes maps and keywords")
        return _keywords(body, at), frozenset({"event.original", "message"})
    if isinstance(body, str | int):
        return _keywords([body], at), frozenset({"event.original", "message"})
    raise SigmaError(f"{at}: must be a map, a list of maps or a list of keywords")


# ============================================================================ conditions

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


def _tokens(condition: str) -> list[str]:
    return _TOKEN.findall(condition)


class _ConditionParser:
    def __init__(self, condition: str, selections: dict[str, Compiled], where: str):
        self.tokens, self.at = _tokens(condition), 0
        self.selections, self.where, self.text = selections, where, condition

    def fail(self, message: str) -> SigmaError:
        return SigmaError(f"{self.where}: condition {self.text!r}: {message}")

    def peek(self) -> str | None:
        return self.tokens[self.at].lower() if self.at < len(self.tokens) else None

    def take(self) -> str:
        if self.at >= len(self.tokens):
            raise self.fail("ends too early")
        self.at += 1
        return self.tokens[self.at - 1]

    def parse(self) -> Compiled:
        compiled = self.parse_or()
        if self.at != len(self.tokens):
            raise self.fail(f"unexpected {self.tokens[self.at]!r}")
        return compiled

    def parse_or(self) -> Compiled:
        parts = [self.parse_and()]
        while self.peek() == "or":
            self.take()
            parts.append(self.parse_and())
        return _or(parts)

    def parse_and(self) -> Compiled:
        parts = [self.parse_not()]
        while self.peek() == "and":
            self.take()
            parts.append(self.parse_not())
        return _and(parts)

    def parse_not(self) -> Compiled:
        if self.peek() == "not":
            self.take()
            inner, _ = self.parse_not()
            return (lambda e: not inner(e)), None
        return self.parse_atom()

    def parse_atom(self) -> Compiled:
        token = self.take()
        if token == "(":
            inner = self.parse_or()
            if self.take() != ")":
                raise self.fail("missing )")
            return inner
        if token.lower() in ("1", "any", "all") and self.peek() == "of":
            self.take()
            pattern = self.take()
            names = [n for n in self.selections if not n.startswith("_")] if pattern == "them" \
                else [n for n in self.selections if fnmatch.fnmatchcase(n, pattern)]  # fmt: skip
            if not names:
                raise self.fail(f"no selection matches {pattern!r}")
            chosen = [self.selections[n] for n in names]
            return _and(chosen) if token.lower() == "all" else _or(chosen)
        if token in self.selections:
            return self.selections[token]
        raise self.fail(f"unknown selection {token!r}; selections: {', '.join(self.selections)}")


def compile_detection(detection: dict[str, Any], *, where: str = "rule") -> Predicate:
    """A predicate on events from a Sigma ``detection`` block.

    Examples
    --------
    >>> match = compile_detection({
    ...     "sel": {"url.original|contains": ["../", "%2e%2e"]},
    ...     "ok": {"http.response.status_code": 404},
    ...     "condition": "sel and not ok"})
    >>> match({"url.original": "/a/%2E%2E/etc/passwd", "http.response.status_code": 200})
    True
    >>> match({"url.original": "/index.html"})
    False
    """
    if not isinstance(detection, dict) or "condition" not in detection:
        raise SigmaError(f"{where}: detection needs a condition")
    return compile_gated(detection, where=where)[0]


def compile_gated(detection: dict[str, Any], *, where: str = "rule") -> Compiled:
    """:func:`compile_detection` and the rule's gate: fields of which an event needs one."""
    if not isinstance(detection, dict) or "condition" not in detection:
        raise SigmaError(f"{where}: detection needs a condition")
    condition = detection["condition"]
    selections = {str(k): _selection(str(k), v, where) for k, v in detection.items()
                  if k not in ("condition", "timeframe")}  # fmt: skip
    conditions = condition if isinstance(condition, list) else [condition]
    return _or([_ConditionParser(str(c), selections, where).parse() for c in conditions])
