"""Entity type selection (clause 4.17), scope queries (clause 4.19), attribute projection (4.21).

Type and scope selections reuse the ``And``/``Or`` nodes and the boolean parser of
``hub.expressions`` (the clauses say their operators are those of the query language), with
``,`` as an alternative ``|``. Leaves are expanded type IRIs (``str``) and ``ScopePattern``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from smartseoul.hub.errors import BadRequestData, TooComplexQuery
from smartseoul.hub.expressions import MAX_DEPTH, And, BooleanParser, Expand, Or, TextReader

_TERM = re.compile(r"[^\s,;|()]+")  # a type or scope between operators
_ATTR = re.compile(r"[^\s,|{}]+")  # an attribute name in a projection


@dataclass(frozen=True, slots=True)
class AnyType:
    """``type=*`` (clause 6.4.3.2): every entity, whatever its types."""


ANY_TYPE = AnyType()


def parse_type_expr(text: str, expand: Expand) -> Any:
    """Parse an entity type selection such as ``(Home;Vehicle)|Motorhome`` (clause 4.17).

    Returns a type IRI (``str``), ``And``/``Or`` of those, or ``ANY_TYPE`` for ``*``.

    >>> parse_type_expr("Building,(Home;Vehicle)", lambda t: "ex:" + t)
    Or(items=('ex:Building', And(items=('ex:Home', 'ex:Vehicle'))))
    """
    if text.strip() == "*":
        return ANY_TYPE
    return _TypeParser(text, expand).parse()


def matches_types(types: Sequence[str], node: Any) -> bool:
    """Whether an entity with these (expanded) types satisfies a type selection."""
    if isinstance(node, str):
        return node in types
    if isinstance(node, And):
        return all(matches_types(types, item) for item in node.items)
    if isinstance(node, Or):
        return any(matches_types(types, item) for item in node.items)
    return isinstance(node, AnyType)


class _TypeParser(BooleanParser):
    what = "type"
    or_chars = "|,"

    def __init__(self, text: str, expand: Expand):
        super().__init__(text)
        self.expand = expand

    def term(self) -> str:
        match = _TERM.match(self.text, self.pos)
        if not match:
            raise self.error("expected an entity type")
        self.pos = match.end()
        return self.expand(match.group())


@dataclass(frozen=True, slots=True)
class ScopePattern:
    """One scope of a scope query: levels (``+`` for any one level), ``#`` for the subtree.

    ``levels == ()`` with ``subtree`` is ``/#``: any (non-empty) scope.
    """

    levels: tuple[str, ...]
    subtree: bool = False
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        body = "".join(
            "/[^/]+" if level == "+" else "/" + re.escape(level) for level in self.levels
        )
        object.__setattr__(
            self, "regex", re.compile(body + ("(/.*)?" if self.subtree else ""), re.S)
        )

    @property
    def text(self) -> str:
        """The scope path without wildcards, e.g. ``/Seoul/Jongno`` (``+``/``/#`` excluded)."""
        return "".join("/" + level for level in self.levels)

    @property
    def sql_regex(self) -> str:
        """The same pattern anchored for a search (SQLite REGEXP, PostgreSQL ``~``)."""
        return r"\A" + self.regex.pattern + r"\Z"

    def matches(self, scope: str) -> bool:
        return self.regex.fullmatch(scope) is not None


_SCOPE_LEVEL = re.compile(r"[^\W\d_]\w*|\+")


def parse_scope_q(text: str) -> Any:
    """Parse a scope query such as ``(/Madrid/Districts;/CompanyA),/Madrid/+/Parks/#``.

    >>> parse_scope_q("/Seoul/+/#")
    ScopePattern(levels=('Seoul', '+'), subtree=True)
    """
    return _ScopeParser(text).parse()


def matches_scope(scopes: Sequence[str], node: Any) -> bool:
    """Whether an entity with these scopes satisfies a scope query (clause 4.19)."""
    if isinstance(node, And):
        return all(matches_scope(scopes, item) for item in node.items)
    if isinstance(node, Or):
        return any(matches_scope(scopes, item) for item in node.items)
    return any(node.matches(scope) for scope in scopes)


class _ScopeParser(BooleanParser):
    what = "scopeQ"
    or_chars = "|,"

    def term(self) -> ScopePattern:
        match = _TERM.match(self.text, self.pos)
        raw = match.group() if match else ""
        levels = raw.split("/")[1:]
        subtree = bool(levels) and levels[-1] == "#"
        if subtree:
            levels.pop()
        if not raw.startswith("/") or not all(_SCOPE_LEVEL.fullmatch(lv) for lv in levels):
            raise self.error(f"invalid scope {raw!r} (expected /Level/Level, '+' and a final '#')")
        if not levels and not subtree:
            raise self.error("invalid scope '/'")
        self.pos += len(raw)
        return ScopePattern(tuple(levels), subtree)


ENTITY_MEMBERS = frozenset({"id", "type", "scope"})


@dataclass(frozen=True, slots=True)
class Projection:
    """An attribute projection (``pick``, ``omit``, ``attrs``; clause 4.21).

    ``members`` lists the entity members named (``id``, ``type``, ``scope``), unexpanded.
    ``attrs`` maps each named attribute's IRI, in the order given, to the projection of the
    entities it links to (``observation{temperature}``, Linked Entity Retrieval, clause
    4.5.23) or to None when no braces follow it. The renderer keeps (``pick``) or drops
    (``omit``) the members and attributes named, and applies a nested projection to the
    linked entities of that relationship.
    """

    members: frozenset[str]
    attrs: Mapping[str, Projection | None]

    def __contains__(self, name: str) -> bool:
        return name in self.members or name in self.attrs


def parse_projection(text: str, expand: Expand) -> Projection:
    """Parse ``a,b|c{d,e}`` into a ``Projection``; ``id``, ``type``, ``scope`` stay members.

    >>> p = parse_projection("id,temperature,sensor{humidity}", lambda a: "ex:" + a)
    >>> sorted(p.members), list(p.attrs)
    (['id'], ['ex:temperature', 'ex:sensor'])
    >>> p.attrs["ex:sensor"]
    Projection(members=frozenset(), attrs={'ex:humidity': None})
    """
    parser = _ProjectionParser(text, expand)
    if not text.strip():
        raise BadRequestData("projection: empty attribute list")
    projection = parser.projection()
    if parser.peek():
        raise parser.error(f"unexpected {parser.peek()!r}")
    return projection


class _ProjectionParser(TextReader):
    what = "projection"

    def __init__(self, text: str, expand: Expand):
        super().__init__(text)
        self.expand = expand
        self.depth = 0

    def projection(self) -> Projection:
        """ProjectionTerm *(orOp ProjectionTerm), both '|' and ',' being or (clause 4.21)."""
        members: set[str] = set()
        attrs: dict[str, Projection | None] = {}
        while True:
            name, nested = self.term()
            if name in ENTITY_MEMBERS and nested is None:
                members.add(name)
            else:
                attrs[self.expand(name)] = nested
            if not self.peek() or self.peek() not in "|,":
                return Projection(frozenset(members), attrs)
            self.pos += 1

    def term(self) -> tuple[str, Projection | None]:
        """AttrName, optionally followed by {ProjectionTerm} for linked entities."""
        match = _ATTR.match(self.text, self.pos) if self.peek() else None
        if not match:
            raise self.error("expected an attribute name")
        self.pos = match.end()
        if self.peek() != "{":
            return match.group(), None
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise TooComplexQuery(f"projection: more than {MAX_DEPTH} nested braces")
        self.pos += 1
        nested = self.projection()
        if self.peek() != "}":
            raise self.error("missing '}'")
        self.pos += 1
        self.depth -= 1
        return match.group(), nested
