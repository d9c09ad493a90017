"""The NGSI-LD query language (clause 4.9): ``q`` text -> tree, tree -> verdict on an entity.

``parse_q`` turns a ``q`` string into a small tree of frozen dataclasses (``And``, ``Or``,
``Exists``, ``Comparison``); ``matches_q`` evaluates that tree on an entity in the stored
form of ``hub.store.base``. ``matches_q`` is the reference semantics: the SQL compiled by
``hub.store.sqlfilter`` must select exactly the entities it accepts.

Semantics chosen where clause 4.9 leaves room (each one is mirrored by the SQL compiler):

* Target value of an attribute instance: the first present member among ``value``,
  ``object``, ``vocab``, ``json``, ``valueList``, ``objectList``; plus every value of a
  ``languageMap``. A path ending in an NGSI-LD member (``temperature.observedAt``) targets
  that member. An array target is flattened one level ("included in the target value");
  an object ``{"@value": v}`` (JSON-LD typed value) or ``{"object": uri}`` (ListRelationship
  item) stands for ``v`` / ``uri``.
* A term matches when *any* instance matches (multi-attributes, clause 4.5.5). ``==``,
  ordering operators and ``~=`` hold when any target scalar satisfies them; ``!=`` holds on
  an instance that has the target element and no scalar equal to (or in the range of) the
  query value; ``!~=`` holds on an instance with at least one string scalar and none
  matching the pattern.
* Data types must agree: numbers compare with numbers, strings with strings (code point
  order, IETF RFC 8259 section 8.3), booleans only for equality. A DateTime, Date or Time
  literal compares with string targets in the same format, in temporal order (by a key
  that pads the fraction of seconds to six digits).
* Relationship and ListRelationship targets only match ``==`` and ``!=`` (ranges included,
  being written with ``==``).
* VocabProperty targets also equal the query string expanded with the @context (clause
  4.9: "the target value shall be expanded"), e.g. ``category==Park``.
* Patterns are Python regular expressions searched anywhere in the string (anchor them
  with ``^`` and ``$``), with ``.`` also matching a newline, as PostgreSQL's ``~`` does.
* Unquoted values that are neither numbers, booleans, dates nor times are taken as
  strings (URIs per the grammar, and bare terms for ``expandValues``).
* Linked-entity paths (``sensor{humidity}==40``, ``sensor{Device:humidity}``) parse into a
  ``Linked`` term only where the caller asks for it (``linked=True``: a query with Linked
  Entity retrieval, clause 5.7.2.4): the term holds on an entity whose Relationship (or
  ListRelationship) targets a stored entity, of one of the hinted types if any, on which
  the inner term holds. It needs other entities, so only the SQL compiler evaluates it;
  elsewhere such a path is refused with OperationNotSupported.

The Entity Type Selection (clause 4.17), Scope Query (clause 4.19) and Attribute Projection
(clause 4.21) languages live in ``hub.selection``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import orjson
import regex

from smartseoul.hub.errors import BadRequestData, NgsiError, OperationNotSupported, TooComplexQuery
from smartseoul.hub.expressions import And, BooleanParser, Expand, Or

# NGSI-LD members an attribute path may end in: never expanded (clause 4.9, example 8).
MEMBERS = frozenset(
    {"observedAt", "createdAt", "modifiedAt", "deletedAt", "unitCode", "datasetId",
     "objectType", "type", "lang", "instanceId"}
)  # fmt: skip
# Members holding the target value, in the order they are looked up (clause 4.9).
TARGET_MEMBERS = ("value", "object", "vocab", "json", "valueList", "objectList")
RELATIONSHIPS = ("Relationship", "ListRelationship")

_MISSING: Any = object()
_NAME = re.compile(r"[^\s.\[\]{}()=!<>~;|,\"\\]+")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_BARE = re.compile(r"[^\s\"(){}\[\];|,]+")
# Temporal formats of clause 4.6.3; SQL reuses TEMPORAL_RE with \A...\Z anchors.
TEMPORAL_RE = {
    "DateTime": r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]{1,6})?Z",
    "Date": r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
    "Time": r"[0-9]{2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]{1,6})?Z",
}
_TEMPORAL = {kind: re.compile(rx) for kind, rx in TEMPORAL_RE.items()}
_SECONDS_END = re.compile(r"[0-9]{2}:[0-9]{2}:[0-9]{2}$")
_FRACTION_START = re.compile(r"[0-9]{1,6}Z")
# Length of the whole-seconds prefix of a temporal key (the rest is a 6-digit fraction).
TEMPORAL_SECONDS = {"DateTime": 19, "Time": 8}
ORDERING = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
# The entity type hint of a linked entity path: "Type1,Type2:" (clause 4.9).
_TYPE_HINT = re.compile(r"""([^\s.\[\]{}()=!<>~;|,:"\\]+(?:,[^\s.\[\]{}()=!<>~;|,:"\\]+)*):""")
_OPERATORS = ("!~=", "==", "!=", ">=", "<=", "~=", ">", "<")


@dataclass(frozen=True, slots=True)
class Path:
    """An attribute path: ``attr.sub.sub[key.key]`` with every attribute name expanded.

    ``sub`` holds expanded sub-attribute IRIs, possibly ending in an NGSI-LD member
    (``observedAt``, ``unitCode``, ...); ``keys`` is the trailing compound-value path in
    brackets, kept verbatim (``*`` or a language tag for a LanguageProperty).
    """

    attr: str
    sub: tuple[str, ...] = ()
    keys: tuple[str, ...] | None = None

    @property
    def member(self) -> str | None:
        """The NGSI-LD member the path ends in, if any."""
        return self.sub[-1] if self.sub and self.sub[-1] in MEMBERS else None

    @property
    def is_top(self) -> bool:
        """True for a bare attribute name: the target is the attribute's own value."""
        return not self.sub and self.keys is None


@dataclass(frozen=True, slots=True)
class Temporal:
    """A DateTime, Date or Time literal; ``key`` orders it (see ``temporal_key``)."""

    kind: str
    text: str
    key: str


@dataclass(frozen=True, slots=True)
class Range:
    """``low..high``, both included; both ends have the same data type."""

    low: Any
    high: Any


@dataclass(frozen=True, slots=True)
class Exists:
    """A bare attribute path: the target element exists."""

    path: Path


@dataclass(frozen=True, slots=True)
class Linked:
    """``rel{Type1,Type2:term}``: the Relationship ``rel`` targets an entity (of one of
    ``types``, expanded, when given) on which ``term`` holds (clause 4.9, example 13)."""

    rel: str
    types: tuple[str, ...]
    term: Any  # Exists | Comparison | Linked

    @property
    def depth(self) -> int:
        """How many Relationship hops the term follows."""
        return 1 + (self.term.depth if isinstance(self.term, Linked) else 0)


def linked_depth(node: Any) -> int:
    """The deepest ``Linked`` term of a q tree (0 when it has none)."""
    if isinstance(node, And | Or):
        return max((linked_depth(item) for item in node.items), default=0)
    return node.depth if isinstance(node, Linked) else 0


@dataclass(frozen=True, slots=True)
class Comparison:
    """``path op value``.

    ``value`` is a tuple of literals for ``==``/``!=`` (one or a value list) or a ``Range``;
    a single literal (number, str or ``Temporal``) for ``<``, ``<=``, ``>``, ``>=``; the
    pattern text for ``~=``/``!~=``. ``vocab`` holds the @context expansions of the string
    literals, which VocabProperty targets also equal.
    """

    path: Path
    op: str
    value: Any
    vocab: tuple[str, ...] = ()


def parse_q(
    text: str, expand: Expand, *, expand_values: Collection[str] = (), linked: bool = False
) -> Any:
    """Parse an NGSI-LD ``q`` string (clause 4.9) into a tree.

    Parameters
    ----------
    text
        The query, already percent-decoded.
    expand
        Expands an attribute name to its IRI with the request's @context (clause 5.5.7).
    expand_values
        Attribute names (as written) whose string values are expanded too (``expandValues``).
    linked
        Accept linked-entity paths (``rel{attr}``) as ``Linked`` terms; otherwise they raise
        OperationNotSupported.

    Returns
    -------
    And | Or | Exists | Comparison

    Raises
    ------
    BadRequestData
        Invalid syntax; the detail names the offending part.
    TooComplexQuery
        More than ``MAX_DEPTH`` nested parentheses or ``MAX_TERMS`` terms.

    Examples
    --------
    >>> expand = lambda name: "https://example.org/" + name
    >>> parse_q('speed>50;brand!="Mercedes"', expand)  # doctest: +NORMALIZE_WHITESPACE
    And(items=(Comparison(path=Path(attr='https://example.org/speed', sub=(), keys=None),
                          op='>', value=50, vocab=()),
               Comparison(path=Path(attr='https://example.org/brand', sub=(), keys=None),
                          op='!=', value=('Mercedes',),
                          vocab=('https://example.org/Mercedes',))))
    """
    return _QParser(text, expand, frozenset(expand_values), linked).parse()


class _QParser(BooleanParser):
    def __init__(
        self, text: str, expand: Expand, expand_values: frozenset[str], linked: bool = False
    ):
        super().__init__(text)
        self.expand = expand
        self.expand_values = expand_values
        self.linked = linked

    def term(self) -> Any:
        # A linked-entity path wraps the term on its innermost path (clause 4.9).
        hops: list[tuple[str, tuple[str, ...]]] = []
        name, path = self._path()
        while isinstance(path, tuple):
            hops.append(path)
            name, path = self._path()
        for _ in hops:
            if not self.text.startswith("}", self.pos):
                raise self.error("missing '}'")
            self.pos += 1
        term = self._term_on(name, path)
        for rel, types in reversed(hops):
            term = Linked(rel, types, term)
        return term

    def _term_on(self, name: str, path: Path) -> Any:
        op = self._operator()
        if op is None:
            return Exists(path)
        if op in ("~=", "!~="):
            return Comparison(path, op, self._pattern())
        value = self._value(op, self._value_text())
        if not isinstance(value, tuple):
            return Comparison(path, op, value)
        if name in self.expand_values:
            value = tuple(self._expand(v) if isinstance(v, str) else v for v in value)
        terms = (self._expand(v) for v in value if isinstance(v, str) and ":" not in v)
        given = set(value)  # not the tuple: a list of 40,000 values took 15 s
        vocab = tuple(dict.fromkeys(iri for iri in terms if iri not in given))
        return Comparison(path, op, value, vocab)

    def _expand(self, term: str) -> str:
        try:
            return self.expand(term)
        except (NgsiError, ValueError):
            return term

    def _name(self) -> str:
        match = _NAME.match(self.text, self.pos)
        if not match or not (match.group()[0].isalpha() or match.group()[0] in "_@"):
            raise self.error("expected an attribute name")
        self.pos = match.end()
        return match.group()

    def _path(self) -> tuple[str, Any]:
        """An attribute path, or at ``rel{`` the hop ``(rel IRI, type hints)`` with the
        reader left at the path inside the braces."""
        self.peek()
        first = self._name()
        if self.text.startswith("{", self.pos):
            if not self.linked:
                raise OperationNotSupported(
                    "q: linked entity paths (attr{...}) are supported in entity queries with "
                    "join only, not here"
                )
            self.pos += 1
            types: tuple[str, ...] = ()
            hint = _TYPE_HINT.match(self.text, self.pos)
            if hint:
                types = tuple(self.expand(t) for t in hint.group(1).split(","))
                self.pos = hint.end()
            return first, (self.expand(first), types)
        names = [first]
        while self.text.startswith(".", self.pos):
            self.pos += 1
            names.append(self._name())
        keys = None
        if self.text.startswith("[", self.pos):
            end = self.text.find("]", self.pos)
            if end < 0:
                raise self.error("missing ']'")
            keys = tuple(self.text[self.pos + 1 : end].split("."))
            if any(not key or '"' in key or "\\" in key for key in keys):
                raise self.error("invalid [compound.value.path]")
            self.pos = end + 1
        if self.text.startswith("{", self.pos):
            raise self.error("a linked entity path starts at a plain attribute name: rel{...}")
        for i, name in enumerate(names[1:-1], 1):
            if name in MEMBERS:
                raise self.error(f"member {name!r} must end the path {'.'.join(names[: i + 1])}")
        if keys is not None and names[-1] in MEMBERS and len(names) > 1:
            raise self.error(f"member {names[-1]!r} has no compound value to index")
        iris = [self.expand(first)] + [n if n in MEMBERS else self.expand(n) for n in names[1:]]
        if any('"' in iri for iri in iris):
            raise self.error("attribute IRIs may not contain '\"'")
        return first, Path(iris[0], tuple(iris[1:]), keys)

    def _operator(self) -> str | None:
        char = self.peek()
        if char in ("", ";", "|", ")"):
            return None
        for op in _OPERATORS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        raise self.error("expected an operator (==, !=, <, <=, >, >=, ~=, !~=), ';', '|' or ')'")

    def _value_text(self) -> str:
        """The raw value: up to ';', '|' or ')' outside double quotes."""
        start, quoted, i = self.pos, False, self.pos
        while i < len(self.text):
            char = self.text[i]
            if quoted and char == "\\":
                i += 1
            elif char == '"':
                quoted = not quoted
            elif not quoted and char in ";|)":
                break
            i += 1
        if quoted:
            raise self.error("unterminated string")
        self.pos = i
        return self.text[start:i]

    def _pattern(self) -> str:
        """A pattern: "quoted" verbatim, or up to ';', '|' or ')' outside its own groups."""
        self.peek()
        text, i = self.text, self.pos
        if text.startswith('"', i):
            end = i + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            if end >= len(text):
                raise self.error("unterminated pattern")
            self.pos = end + 1
            compile_pattern(text[i + 1 : end], what=self.what)
            return text[i + 1 : end]
        depth, in_class = 0, False
        while i < len(text):
            char = text[i]
            if char == "\\":
                i += 1
            elif in_class:
                in_class = char != "]"
            elif char == "[":
                in_class = True
            elif char == "(":
                depth += 1
            elif char == ")" and depth:
                depth -= 1
            elif char in ";|)" and not depth:
                break
            i += 1
        pattern = text[self.pos : i].strip()
        if not pattern:
            raise self.error("missing pattern")
        self.pos = i
        compile_pattern(pattern, what=self.what)
        return pattern

    def _value(self, op: str, raw: str) -> Any:
        items: list[str] = []
        for item in _split_outside_quotes(raw, ","):
            # A comma may also separate the fraction of seconds (clause 4.6.3).
            if items and _SECONDS_END.search(items[-1]) and _FRACTION_START.match(item):
                items[-1] += "," + item
            else:
                items.append(item)
        if len(items) > 1:
            if op not in ("==", "!="):
                raise self.error(f"a value list needs == or !=, not {op}")
            return tuple(self._literal(item)[0] for item in items)
        bounds = _split_outside_quotes(raw, "..")
        if len(bounds) == 2:
            if op not in ("==", "!="):
                raise self.error(f"a range needs == or !=, not {op}")
            (low, low_bare), (high, high_bare) = map(self._literal, bounds)
            if (
                low_bare
                or high_bare
                or value_kind(low) != value_kind(high)
                or value_kind(low) == "bool"
            ):
                raise self.error(f"range {raw.strip()!r} needs two numbers, strings, or dates")
            return Range(low, high)
        value, bare = self._literal(raw)
        if op in ("==", "!="):
            return (value,)
        if bare or isinstance(value, bool):
            raise self.error(f"{op} needs a number, a quoted string, a date or a time")
        return value

    def _literal(self, token: str) -> tuple[Any, bool]:
        """A literal and whether it was an unquoted string."""
        token = token.strip()
        if token.startswith('"'):
            try:
                value = orjson.loads(token)
            except orjson.JSONDecodeError:
                value = None
            if not isinstance(value, str):
                raise self.error(f"invalid string {token}")
            return value, False
        if token in ("true", "false"):
            return token == "true", False
        number = _NUMBER.fullmatch(token)
        if number:
            return (float(token) if number.group(1) or number.group(2) else int(token)), False
        for kind, pattern in _TEMPORAL.items():
            if pattern.fullmatch(token):
                try:
                    return _temporal(kind, token), False
                except ValueError:
                    raise self.error(f"invalid {kind} {token}") from None
        if not _BARE.fullmatch(token):
            raise self.error(f"invalid value {token!r}" if token else "missing value")
        return token, True


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts, start, quoted, i = [], 0, False, 0
    while i < len(text):
        if quoted and text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            quoted = not quoted
        elif not quoted and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
            i = start
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _temporal(kind: str, text: str) -> Temporal:
    """A validated temporal literal (clause 4.6.3); ValueError for impossible dates."""
    if kind == "Date":
        date.fromisoformat(text)
    else:
        stamp = text[:-1].replace(",", ".").split(".")[0]
        datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S" if kind == "DateTime" else "%H:%M:%S")
    return Temporal(kind, text, temporal_key(kind, text) or "")


def temporal_key(kind: str, text: str) -> str | None:
    """A string that sorts like the instant ``text`` denotes, or None if not of that kind.

    The fraction of seconds is padded to six digits, so that keys compare in temporal
    order as plain strings (clause 4.9: "the order relation considered shall be a
    temporal one"). The SQL compiler computes the same key with ``substr``/``replace``.

    >>> temporal_key("DateTime", "2017-12-24T12:00:00.5Z")
    '2017-12-24T12:00:00500000'
    """
    if not _TEMPORAL[kind].fullmatch(text):
        return None
    if kind == "Date":
        return text
    n = TEMPORAL_SECONDS[kind]
    return text[:n] + (text[n + 1 :].replace("Z", "") + "000000")[:6]


# How long one search of a user's pattern may take on one value.
PATTERN_SECONDS = 0.1


class Pattern:
    """A user's regular expression (``~=``, ``idPattern``) whose every search is bounded in
    time. A pattern such as ``(a+)+$`` backtracks for minutes on 30 characters; on SQLite a
    query evaluates it in the store's one database thread, so one request could stall the
    hub. The ``regex`` module takes the same syntax as ``re`` and stops a search at a
    timeout: the query is then 403 TooComplexQuery."""

    __slots__ = ("compiled", "text")

    def __init__(self, text: str):
        self.text = text
        self.compiled = regex.compile(text, regex.DOTALL | regex.VERSION0)

    def search(self, value: str) -> bool:
        try:
            return self.compiled.search(value, timeout=PATTERN_SECONDS) is not None
        except TimeoutError:
            raise TooComplexQuery(
                f"The pattern {self.text!r} takes more than {PATTERN_SECONDS} s to search a "
                f"value of {len(value)} characters"
            ) from None


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> Pattern:
    return Pattern(pattern)


def compile_pattern(pattern: str, *, what: str = "q") -> Pattern:
    """The compiled pattern (cached); BadRequestData naming ``what`` if it is invalid."""
    try:
        return _compiled(pattern)
    except regex.error as exc:
        raise BadRequestData(f"{what}: invalid regular expression {pattern!r}: {exc}") from None


def value_kind(value: Any) -> str | None:
    """The query data type of a JSON scalar or literal: bool, number, str, a temporal kind."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "str"
    return value.kind if isinstance(value, Temporal) else None


def matches_q(entity: dict[str, Any], node: Any) -> bool:
    """Whether a stored-form entity satisfies a q tree (the module docstring gives the rules)."""
    if isinstance(node, And):
        return all(matches_q(entity, item) for item in node.items)
    if isinstance(node, Or):
        return any(matches_q(entity, item) for item in node.items)
    if isinstance(node, Linked):  # needs the linked entities: parse_q(linked=True) callers
        raise OperationNotSupported("q: linked entity paths are evaluated by the store only")
    instances = entity.get("attrs", {}).get(node.path.attr, ())
    return any(_instance_matches(instance, node) for instance in instances)


def _instance_matches(instance: Any, term: Exists | Comparison) -> bool:
    path = term.path
    element = instance
    for name in path.sub:
        if not isinstance(element, dict) or name not in element:
            return False
        element = element[name]
    is_attribute = path.member is None
    value, languages = _target(element, path.keys) if is_attribute else (element, _MISSING)
    if path.keys is not None and value is _MISSING and languages is _MISSING:
        return False  # the compound path does not resolve: no target element
    if isinstance(term, Exists):
        return True
    scalars = list(_scalars(value, languages))
    kind = element.get("type") if is_attribute and isinstance(element, dict) else None
    if term.op in ("==", "!="):
        return (term.op == "==") == _equal(scalars, term, kind == "VocabProperty")
    if kind in RELATIONSHIPS:
        return False  # clause 4.9: only == and != apply to relationships
    if term.op in ("~=", "!~="):
        pattern = compile_pattern(term.value)
        strings = [s for s in scalars if isinstance(s, str)]
        found = any(pattern.search(s) for s in strings)
        return found if term.op == "~=" else bool(strings) and not found
    return any(_ordered(s, term.op, term.value) for s in scalars)


def _target(element: Any, keys: tuple[str, ...] | None) -> tuple[Any, Any]:
    """(target value, languageMap whose values are targets too); _MISSING for none."""
    if not isinstance(element, dict):
        return _MISSING, _MISSING
    if keys is None:
        value = next((element[m] for m in TARGET_MEMBERS if m in element), _MISSING)
        return value, element.get("languageMap", _MISSING)
    seeds = ("value", "json", "languageMap") if len(keys) == 1 else ("value", "json")
    value = _MISSING
    for member in seeds:
        value = element.get(member, _MISSING)
        for key in keys:
            value = value[key] if isinstance(value, dict) and key in value else _MISSING
        if value is not _MISSING:
            break
    return value, element.get("languageMap", _MISSING) if keys == ("*",) else _MISSING


def _scalars(value: Any, languages: Any) -> Iterator[Any]:
    if value is not _MISSING:
        yield from map(_unwrap, value if isinstance(value, list) else (value,))
    if isinstance(languages, dict):
        for text in languages.values():
            yield from map(_unwrap, text if isinstance(text, list) else (text,))


def _unwrap(item: Any) -> Any:
    if isinstance(item, dict):
        return item["@value"] if "@value" in item else item.get("object", item)
    return item


def parse_path(text: str, expand: Expand, *, what: str = "q") -> Path:
    """An attribute path on its own (``attr.sub[key]``), written as in q (clause 4.9)."""
    parser = _QParser(text, expand, frozenset())
    parser.what = what
    _, path = parser._path()
    if parser.pos != len(text):
        raise parser.error("expected an attribute path")
    return path


def path_scalars(instance: Any, path: Path) -> list[Any]:
    """The scalars an attribute instance offers at ``path``: what a q term compares."""
    element = instance
    for name in path.sub:
        if not isinstance(element, dict) or name not in element:
            return []
        element = element[name]
    if path.member is not None:
        return [element]
    return list(_scalars(*_target(element, path.keys)))


def target_scalars(instance: dict[str, Any]) -> list[Any]:
    """The scalars an attribute instance offers to a bare-name query term.

    The store indexes exactly these in ``attr_index`` (``hub.store.sqlfilter.index_rows``).
    """
    return list(_scalars(*_target(instance, None)))


def _equal(scalars: list[Any], term: Comparison, vocab: bool) -> bool:
    if isinstance(term.value, Range):
        low, high = term.value.low, term.value.high
        return any(_ordered(s, ">=", low) and _ordered(s, "<=", high) for s in scalars)
    if vocab and any(isinstance(s, str) and s in term.vocab for s in scalars):
        return True
    return any(_same(s, literal) for s in scalars for literal in term.value)


def _same(scalar: Any, literal: Any) -> bool:
    if isinstance(literal, Temporal):
        return isinstance(scalar, str) and temporal_key(literal.kind, scalar) == literal.key
    return value_kind(scalar) == value_kind(literal) and scalar == literal


def _ordered(scalar: Any, op: str, literal: Any) -> bool:
    if isinstance(literal, Temporal):
        if not isinstance(scalar, str):
            return False
        key = temporal_key(literal.kind, scalar)
        return key is not None and ORDERING[op](key, literal.key)
    return value_kind(scalar) == value_kind(literal) != "bool" and ORDERING[op](scalar, literal)
