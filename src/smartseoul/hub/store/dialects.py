"""How SQLite and PostgreSQL spell the SQL that ``sqlfilter`` composes.

``Sql`` carries text with ``?`` placeholders and its parameters, and ``sql`` composes them
so parameters stay in order. A ``Dialect`` spells JSON access to the attribute instances of
``e.data`` (JSON text with ``json_each`` on SQLite, JSONB on PostgreSQL), regular
expressions and collation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from smartseoul.hub.query import TEMPORAL_SECONDS


@dataclass(frozen=True, slots=True)
class Sql:
    """SQL text with ``?`` placeholders and the parameters that fill them, in order."""

    text: str
    params: tuple[Any, ...] = ()


def sql(template: str, *parts: Any) -> Sql:
    """Fill each ``{}`` with a part: ``Sql`` is inlined, anything else becomes a parameter."""
    pieces = template.split("{}")
    text, params = [pieces[0]], list[Any]()
    for part, piece in zip(parts, pieces[1:], strict=True):
        if isinstance(part, Sql):
            text.append(part.text)
            params.extend(part.params)
        else:
            text.append("?")
            params.append(part)
        text.append(piece)
    return Sql("".join(text), tuple(params))


def join(separator: str, parts: list[Sql]) -> Sql:
    if len(parts) == 1:
        return parts[0]
    return sql("(" + separator.join(["{}"] * len(parts)) + ")", *parts)


def in_(operand: Sql, values: Iterable[Any]) -> Sql:
    values = list(values)
    return sql(f"{{}} IN ({', '.join(['{}'] * len(values))})", operand, *values)


def coalesce(parts: list[Sql]) -> Sql:
    return (
        parts[0] if len(parts) == 1 else sql(f"COALESCE({', '.join(['{}'] * len(parts))})", *parts)
    )


def temporal_key_sql(kind: str, text: Sql) -> Sql:
    """SQL for ``hub.query.temporal_key`` of a string known to be of that kind."""
    if kind == "Date":
        return text
    n = TEMPORAL_SECONDS[kind]
    fraction = f"substr(replace(substr({{}}, {n + 2}), 'Z', '') || '000000', 1, 6)"
    return sql(f"substr({{}}, 1, {n}) || {fraction}", text, text)


class Dialect(ABC):
    """SQL spellings that differ between the backends (JSON access, regex, collation).

    JSON access works inside ``EXISTS (SELECT ... FROM <instances>)``: ``i`` is an instance
    of the attribute and ``at``/``present``/``text_at`` look at paths below it; ``scalars``
    is a FROM item ``sc`` over the scalars of a target value, read through ``scalar``.
    """

    scalar: dict[str, str]  # number, str, bool: SQL for the scalar as that type, else NULL

    def regex(self, text: Sql, pattern: str) -> Sql:
        return sql("{} REGEXP {}", text, pattern)

    def ordered(self, text: Sql) -> Sql:
        return text

    def byte_length(self, text: Sql) -> Sql:
        return sql("length(CAST({} AS BLOB))", text)

    def number(self, value: Any) -> Sql:
        return sql("{}", value)

    def bare(self, column: str) -> str:
        return column

    @abstractmethod
    def instances(self, attr: str) -> Sql:
        """FROM item ``i``: the instances of attribute ``attr`` of the entity ``e``."""

    @abstractmethod
    def at(self, path: tuple[str, ...]) -> Sql:
        """The JSON value at ``path`` below the instance, NULL if absent."""

    @abstractmethod
    def present(self, path: tuple[str, ...]) -> Sql:
        """True when ``path`` below the instance exists (a JSON null counts)."""

    @abstractmethod
    def text_at(self, path: tuple[str, ...]) -> Sql:
        """The text of the string at ``path`` below the instance."""

    @abstractmethod
    def scalars(self, value: Sql, languages: Sql | None) -> Sql:
        """FROM item ``sc``: the items of ``value`` (itself unless an array), unwrapping
        ``{"@value": v}`` and ``{"object": uri}``, plus every value of ``languages``."""

    @abstractmethod
    def vocab_in(self, attr: str, iris: tuple[str, ...]) -> Sql:
        """True when the entity ``e`` has a VocabProperty instance of ``attr`` whose
        ``vocab`` (an IRI or an array of them) holds one of ``iris``. One subquery level,
        where the general path of ``sqlfilter`` takes five (SQLite's parser stack is short)."""


class SqliteDialect(Dialect):
    # A scalar is sc.t (json_each type: integer, real, text, true, false, ...) and sc.v.
    scalar = {
        "number": "CASE WHEN sc.t IN ('integer', 'real') THEN sc.v END",
        "str": "CASE WHEN sc.t = 'text' THEN sc.v END",
        "bool": "CASE sc.t WHEN 'true' THEN 1 WHEN 'false' THEN 0 END",
    }

    def bare(self, column: str) -> str:
        # Unary + keeps SQLite from taking "num IS NULL" as an equality for the (tenant,
        # name, num) index, which would scan every string row instead of the str range.
        return "+" + column

    def instances(self, attr: str) -> Sql:
        return sql("json_each(e.data, {}) AS i", json_path(("attrs", attr)))

    def at(self, path: tuple[str, ...]) -> Sql:
        return sql("(i.value -> {})", json_path(path))

    def present(self, path: tuple[str, ...]) -> Sql:
        return sql("json_type(i.value, {}) IS NOT NULL", json_path(path))

    def text_at(self, path: tuple[str, ...]) -> Sql:
        return sql("(i.value ->> {})", json_path(path))

    def scalars(self, value: Sql, languages: Sql | None) -> Sql:
        rows = sql(
            "SELECT a.type, a.value, a.atom FROM json_each(CASE WHEN json_type({}) = 'array' "
            "THEN {} ELSE json_array(json({})) END) AS a",
            value, value, value,
        )  # fmt: skip
        if languages is not None:
            rows = sql(
                "{} UNION ALL SELECT c.type, c.value, c.atom FROM json_each({}) AS b, "
                "json_each(CASE WHEN b.type = 'array' THEN b.value ELSE json_array(b.value) END)"
                " AS c WHERE json_type({}) = 'object'",
                rows, languages, languages,
            )  # fmt: skip
        return sql(
            "(SELECT CASE WHEN x.type = 'object' THEN COALESCE(json_type(x.value, '$.\"@value\"'),"
            " json_type(x.value, '$.object')) ELSE x.type END AS t, CASE WHEN x.type = 'object'"
            " THEN COALESCE(x.value -> '$.\"@value\"', x.value -> '$.object') ->> '$'"
            " ELSE x.atom END AS v FROM ({}) AS x) AS sc",
            rows,
        )


    def vocab_in(self, attr: str, iris: tuple[str, ...]) -> Sql:
        # json_each over a string gives the string itself as its one row.
        return sql(
            "EXISTS (SELECT 1 FROM json_each(e.data, {}) AS i, json_each(i.value, '$.vocab') "
            "AS v WHERE i.value ->> '$.type' = 'VocabProperty' AND v.type = 'text' AND {})",
            json_path(("attrs", attr)),
            in_(sql("v.value"), iris),
        )


class PostgresDialect(Dialect):
    # A scalar is the JSONB value sc.s.
    scalar = {
        "number": "CASE WHEN jsonb_typeof(sc.s) = 'number' THEN (sc.s)::numeric END",
        "str": "CASE WHEN jsonb_typeof(sc.s) = 'string' THEN sc.s #>> ARRAY[]::text[] END",
        "bool": "CASE WHEN jsonb_typeof(sc.s) = 'boolean' THEN (sc.s)::boolean END",
    }

    def regex(self, text: Sql, pattern: str) -> Sql:
        return sql("{} ~ {}", text, pattern)

    def ordered(self, text: Sql) -> Sql:
        return sql('({}) COLLATE "C"', text)

    def byte_length(self, text: Sql) -> Sql:
        return sql("octet_length({})", text)

    def number(self, value: Any) -> Sql:
        return sql("{}::numeric", value)

    def instances(self, attr: str) -> Sql:
        return sql("jsonb_array_elements(e.data -> 'attrs' -> {}::text) AS i(j)", attr)

    def at(self, path: tuple[str, ...]) -> Sql:
        return sql("(i.j" + " -> {}::text" * len(path) + ")", *path)

    def present(self, path: tuple[str, ...]) -> Sql:
        return sql("{} IS NOT NULL", self.at(path))

    def text_at(self, path: tuple[str, ...]) -> Sql:
        return sql("({} ->> {}::text)", self.at(path[:-1]), path[-1])

    def scalars(self, value: Sql, languages: Sql | None) -> Sql:
        rows = sql(
            "SELECT a.x FROM jsonb_array_elements(CASE WHEN jsonb_typeof({}) = 'array' "
            "THEN {} ELSE jsonb_build_array({}) END) AS a(x)",
            value, value, value,
        )  # fmt: skip
        if languages is not None:
            rows = sql(
                "{} UNION ALL SELECT c.x FROM jsonb_each(CASE WHEN jsonb_typeof({}) = 'object' "
                "THEN {} END) AS b(k, v) CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN "
                "jsonb_typeof(b.v) = 'array' THEN b.v ELSE jsonb_build_array(b.v) END) AS c(x)",
                rows, languages, languages,
            )  # fmt: skip
        return sql(
            "(SELECT CASE WHEN jsonb_typeof(u.x) = 'object' THEN COALESCE(u.x -> '@value', "
            "u.x -> 'object') ELSE u.x END AS s FROM ({}) AS u) AS sc",
            rows,
        )

    def vocab_in(self, attr: str, iris: tuple[str, ...]) -> Sql:
        return sql(
            "EXISTS (SELECT 1 FROM jsonb_array_elements(e.data -> 'attrs' -> {}::text) AS i(j) "
            "CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(i.j -> 'vocab') = "
            "'array' THEN i.j -> 'vocab' ELSE jsonb_build_array(i.j -> 'vocab') END) AS v(x) "
            "WHERE i.j ->> 'type' = 'VocabProperty' AND jsonb_typeof(v.x) = 'string' AND {})",
            attr,
            in_(sql("v.x #>> ARRAY[]::text[]"), iris),
        )


def json_path(path: tuple[str, ...]) -> str:
    return "$" + "".join(f'."{name}"' for name in path)
