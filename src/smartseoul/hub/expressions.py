"""Boolean expressions shared by the NGSI-LD selection languages (clauses 4.9, 4.17, 4.19).

The query, entity type and scope languages combine their terms alike: ``;`` is AND, ``|``
is OR (``,`` too for types and scopes), AND binds tighter, parentheses group. ``And`` and
``Or`` nodes hold the terms each language defines; ``BooleanParser`` reads that grammar
and leaves the terms to a subclass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smartseoul.hub.errors import BadRequestData, TooComplexQuery

Expand = Callable[[str], str]  # a short name to its IRI with the request's @context (5.5.7)

MAX_DEPTH = 16  # nested parentheses before TooComplexQuery
MAX_TERMS = 128  # terms before TooComplexQuery


@dataclass(frozen=True, slots=True)
class And:
    """All items hold (``;``)."""

    items: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one item holds (``|``; also ``,`` in type and scope selections)."""

    items: tuple[Any, ...]


class TextReader:
    """A position in a query text, and errors that name the parameter and the position."""

    what = "q"  # the query parameter, for error details

    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def error(self, problem: str) -> BadRequestData:
        return BadRequestData(f"{self.what}: {problem} at position {self.pos} in {self.text!r}")

    def peek(self) -> str:
        """The next character after whitespace, or '' at the end."""
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1
        return self.text[self.pos : self.pos + 1]


class BooleanParser(TextReader, ABC):
    """Recursive descent over ``term (; term)* (| ...)*`` with parentheses; ``;`` binds tighter.

    Subclasses read one term at ``self.pos`` in ``term()``. Shared by the q, entity type and
    scope languages, which combine terms with the same operators (clauses 4.9, 4.17, 4.19).
    """

    or_chars = "|"

    def __init__(self, text: str):
        super().__init__(text)
        self.terms = 0

    def parse(self) -> Any:
        if not self.text or not self.text.strip():
            raise BadRequestData(f"{self.what}: empty expression")
        node = self._or(0)
        if self.peek():
            raise self.error(f"unexpected {self.peek()!r}")
        return node

    @abstractmethod
    def term(self) -> Any:
        """Read one term at ``self.pos`` and return its tree."""

    def _or(self, depth: int) -> Any:
        items = [self._and(depth)]
        while self.peek() and self.peek() in self.or_chars:
            self.pos += 1
            items.append(self._and(depth))
        return _combine(Or, items)

    def _and(self, depth: int) -> Any:
        items = [self._primary(depth)]
        while self.peek() == ";":
            self.pos += 1
            items.append(self._primary(depth))
        return _combine(And, items)

    def _primary(self, depth: int) -> Any:
        if self.peek() == "(":
            if depth >= MAX_DEPTH:
                raise TooComplexQuery(f"{self.what}: more than {MAX_DEPTH} nested parentheses")
            self.pos += 1
            node = self._or(depth + 1)
            if self.peek() != ")":
                raise self.error("missing ')'")
            self.pos += 1
            return node
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise TooComplexQuery(f"{self.what}: more than {MAX_TERMS} terms")
        if not self.peek():
            raise self.error("missing term")
        return self.term()


def _combine(kind: type[And] | type[Or], items: list[Any]) -> Any:
    if len(items) == 1:
        return items[0]
    flat: list[Any] = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return kind(tuple(flat))
