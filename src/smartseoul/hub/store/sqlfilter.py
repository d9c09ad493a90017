"""Compile an ``EntityQuery`` into a SQL WHERE fragment for SQLite and PostgreSQL.

The fragment is a boolean expression over the ``entities`` table aliased ``e``. It selects
exactly the entities ``hub.query.matches_q`` and ``hub.selection`` accept (the differential
test in ``tests/hub/test_sqlfilter.py`` holds both backends to that). Geoqueries are not
compiled: the store prefilters with its geometry index and checks ``GeoQuery.matches``.

attr_index rows
---------------
``index_rows(entity)`` gives the ``(name, num, str)`` rows the store writes for an entity
(with its ``tenant`` and ``pk``), replacing them all whenever the entity changes:

* ``('@type', NULL, type IRI)`` per type and ``('@scope', NULL, scope)`` per scope;
* per attribute, one row per distinct scalar among ``hub.query.target_scalars`` of all its
  instances: a number ``(float, NULL)``, a string ``(NULL, text)`` (Property strings,
  Relationship objects, vocab IRIs, languageMap values, array and valueList items), a
  boolean ``(1.0, 'true')`` or ``(0.0, 'false')``; ``(NULL, NULL)`` once if there is none
  (e.g. a GeoProperty or a compound value), so that every attribute has a row.

So a number row has ``str IS NULL``, a string row ``num IS NULL``, a boolean row both set.
Every query term on a bare attribute name then needs only the index: existence, ``==``
(values, lists, ranges) and the ordering operators on numbers, dates and times are exact
index lookups; ordering on strings and ``~=`` prefilter on the index and confirm on
``e.data`` (relationships do not take those operators); ``!=`` and ``!~=`` and every path
with sub-attributes or ``[...]`` keep to entities having the attribute and evaluate
``e.data``. PostgreSQL compares text under ``COLLATE "C"`` (code point order, as Python
does): declare ``attr_index.str`` with that collation so the ``(tenant, name, str)`` index
serves ranges.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from smartseoul.hub.query import (
    ORDERING,
    RELATIONSHIPS,
    TARGET_MEMBERS,
    TEMPORAL_RE,
    TEMPORAL_SECONDS,
    And,
    Comparison,
    Exists,
    Or,
    Range,
    Temporal,
    compile_pattern,
    target_scalars,
    value_kind,
)
from smartseoul.hub.selection import AnyType, ScopePattern
from smartseoul.hub.store.base import Entity, EntityQuery

TYPE_ROW = "@type"
SCOPE_ROW = "@scope"
DIALECTS = ("sqlite", "postgres")


def index_rows(entity: Entity) -> list[tuple[str, float | None, str | None]]:
    """The ``(name, num, str)`` attr_index rows of a stored-form entity (module docstring)."""
    rows: list[tuple[str, float | None, str | None]] = [
        (TYPE_ROW, None, t) for t in entity.get("type", ())
    ]
    rows += [(SCOPE_ROW, None, s) for s in entity.get("scope", ())]
    for name, instances in entity.get("attrs", {}).items():
        cells = dict.fromkeys(
            cell for inst in instances for cell in map(_cell, target_scalars(inst)) if cell
        )
        rows += [(name, *cell) for cell in cells] or [(name, None, None)]
    return rows


def _cell(scalar: Any) -> tuple[float | None, str | None] | None:
    if isinstance(scalar, bool):
        return (1.0, "true") if scalar else (0.0, "false")
    if isinstance(scalar, int | float):
        return float(scalar), None
    return (None, scalar) if isinstance(scalar, str) else None


def register_sqlite_functions(conn: sqlite3.Connection) -> None:
    """Give a SQLite connection the ``REGEXP`` operator that ``build_where`` relies on."""
    conn.create_function("regexp", 2, _regexp, deterministic=True)


def _regexp(pattern: str, value: Any) -> bool | None:
    if value is None or pattern is None:
        return None
    return compile_pattern(pattern).search(str(value)) is not None


def build_where(
    query: EntityQuery, tenant: str, dialect: str, *, placeholder: str | None = None
) -> tuple[str, list[Any]]:
    """A WHERE expression over ``entities e`` selecting ``query``'s entities, and its parameters.

    Parameters
    ----------
    query
        Names are expanded IRIs; ``types``, ``q`` and ``scope_q`` are trees from
        ``hub.selection`` and ``hub.query``. ``geo``, ``limit`` and ``offset`` are ignored.
    tenant
        Only this tenant's entities (``''`` is the default tenant).
    dialect
        ``"sqlite"`` (``?`` placeholders, ``data`` is JSON text, needs
        ``register_sqlite_functions``) or ``"postgres"`` (``%s`` placeholders, ``data`` is JSONB).
    placeholder
        Another placeholder to write, e.g. ``"?"`` for a driver wrapper that rewrites them.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}; expected one of {DIALECTS}")
    compiler = _Compiler(_Sqlite() if dialect == "sqlite" else _Postgres(), tenant)
    parts = [sql("e.tenant = {}", tenant)]
    if query.ids is not None:
        parts.append(_in(sql("e.id"), query.ids) if query.ids else sql("1 = 0"))
    if query.id_pattern:
        compile_pattern(query.id_pattern, what="idPattern")
        parts.append(compiler.d.regex(sql("e.id"), query.id_pattern))
    if query.types is not None and not isinstance(query.types, AnyType):
        parts.append(compiler.types(query.types))
    if query.attrs:
        parts.append(compiler.index(None, _in(sql("name"), query.attrs)))
    if query.q is not None:
        parts.append(compiler.q(query.q))
    if query.scope_q is not None:
        parts.append(compiler.scopes(query.scope_q))
    where = _join(" AND ", parts)
    mark = placeholder or ("?" if dialect == "sqlite" else "%s")
    return where.text.replace("?", mark), list(where.params)


class Sql:
    """SQL text with ``?`` placeholders and the parameters that fill them, in order."""

    __slots__ = ("text", "params")

    def __init__(self, text: str, params: Iterable[Any] = ()):
        self.text = text
        self.params = tuple(params)


def sql(template: str, *parts: Any) -> Sql:
    """Fill each ``{}`` with a part: ``Sql`` is inlined, anything else becomes a parameter."""
    pieces = template.split("{}")
    text, params = [pieces[0]], []
    for part, piece in zip(parts, pieces[1:], strict=True):
        if isinstance(part, Sql):
            text.append(part.text)
            params.extend(part.params)
        else:
            text.append("?")
            params.append(part)
        text.append(piece)
    return Sql("".join(text), params)


def _join(separator: str, parts: list[Sql]) -> Sql:
    if len(parts) == 1:
        return parts[0]
    return sql("(" + separator.join(["{}"] * len(parts)) + ")", *parts)


def _in(operand: Sql, values: Iterable[Any]) -> Sql:
    values = list(values)
    return sql(f"{{}} IN ({', '.join(['{}'] * len(values))})", operand, *values)


def _coalesce(parts: list[Sql]) -> Sql:
    return (
        parts[0] if len(parts) == 1 else sql(f"COALESCE({', '.join(['{}'] * len(parts))})", *parts)
    )


def _temporal_key(kind: str, text: Sql) -> Sql:
    """SQL for ``hub.query.temporal_key`` of a string known to be of that kind."""
    if kind == "Date":
        return text
    n = TEMPORAL_SECONDS[kind]
    fraction = f"substr(replace(substr({{}}, {n + 2}), 'Z', '') || '000000', 1, 6)"
    return sql(f"substr({{}}, 1, {n}) || {fraction}", text, text)


class _Dialect:
    """SQL spellings that differ between the backends (JSON access, regex, collation)."""

    def regex(self, text: Sql, pattern: str) -> Sql:
        return sql("{} REGEXP {}", text, pattern)

    def ordered(self, text: Sql) -> Sql:
        return text

    def number(self, value: Any) -> Sql:
        return sql("{}", value)


class _Sqlite(_Dialect):
    # A scalar is sc.t (json_each type: integer, real, text, true, false, ...) and sc.v.
    scalar = {
        "number": "CASE WHEN sc.t IN ('integer', 'real') THEN sc.v END",
        "str": "CASE WHEN sc.t = 'text' THEN sc.v END",
        "bool": "CASE sc.t WHEN 'true' THEN 1 WHEN 'false' THEN 0 END",
    }

    def instances(self, attr: str) -> Sql:
        return sql("json_each(e.data, {}) AS i", _json_path(("attrs", attr)))

    def at(self, path: tuple[str, ...]) -> Sql:
        return sql("(i.value -> {})", _json_path(path))

    def present(self, path: tuple[str, ...]) -> Sql:
        return sql("json_type(i.value, {}) IS NOT NULL", _json_path(path))

    def text_at(self, path: tuple[str, ...]) -> Sql:
        return sql("(i.value ->> {})", _json_path(path))

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


class _Postgres(_Dialect):
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


def _json_path(path: tuple[str, ...]) -> str:
    return "$" + "".join(f'."{name}"' for name in path)


class _Compiler:
    def __init__(self, dialect: _Sqlite | _Postgres, tenant: str):
        self.d = dialect
        self.tenant = tenant

    def index(self, name: str | None, condition: Sql | None = None) -> Sql:
        """``e.pk IN`` the entities with an attr_index row named ``name`` meeting ``condition``."""
        where = [sql("tenant = {}", self.tenant)]
        where += [sql("name = {}", name)] if name is not None else []
        where += [condition] if condition is not None else []
        return sql("e.pk IN (SELECT pk FROM attr_index WHERE {})", _join(" AND ", where))

    def types(self, node: Any) -> Sql:
        if isinstance(node, str):
            return self.index(TYPE_ROW, sql("str = {}", node))
        if isinstance(node, Or) and all(isinstance(item, str) for item in node.items):
            return self.index(TYPE_ROW, _in(sql("str"), node.items))
        return _join(
            " AND " if isinstance(node, And) else " OR ", list(map(self.types, node.items))
        )

    def scopes(self, node: Any) -> Sql:
        if isinstance(node, And | Or):
            separator = " AND " if isinstance(node, And) else " OR "
            return _join(separator, list(map(self.scopes, node.items)))
        assert isinstance(node, ScopePattern)
        if not node.levels:  # /#
            return self.index(SCOPE_ROW)
        if "+" in node.levels:
            return self.index(SCOPE_ROW, self.d.regex(sql("str"), node.sql_regex))
        if not node.subtree:
            return self.index(SCOPE_ROW, sql("str = {}", node.text))
        # the scope itself or any below it: text in [scope + '/', scope + '0')
        column = self.d.ordered(sql("str"))
        below = sql("{} >= {} AND {} < {}", column, node.text + "/", column, node.text + "0")
        return self.index(SCOPE_ROW, sql("(str = {} OR ({}))", node.text, below))

    def q(self, node: Any) -> Sql:
        if isinstance(node, And | Or):
            separator = " AND " if isinstance(node, And) else " OR "
            return _join(separator, list(map(self.q, node.items)))
        return self.term(node)

    def term(self, term: Exists | Comparison) -> Sql:
        """Index lookups where they are exact (module docstring), JSON on e.data otherwise."""
        path, having = term.path, self.index(term.path.attr)
        if not path.is_top:
            return sql("({} AND {})", having, self.json(term))
        if isinstance(term, Exists):
            return having
        op, value = term.op, term.value
        rows = _IndexRow(self.d)
        if op == "==":
            found = self.index(path.attr, _equal(rows, value))
            if not term.vocab:
                return found
            vocab = self.index(path.attr, _in(sql("str"), term.vocab))
            return sql("({} OR ({} AND {}))", found, vocab, self.json(term, vocab_only=True))
        if op in ORDERING:
            found = self.index(path.attr, _compare(rows, op, value))
            if isinstance(value, Temporal) or not isinstance(value, str):
                return found  # relationship objects are URIs: never numbers, dates or times
            return sql("({} AND {})", found, self.json(term))
        if op == "~=":
            pattern = sql("num IS NULL AND {}", self.d.regex(sql("str"), value))
            return sql("({} AND {})", self.index(path.attr, pattern), self.json(term))
        return sql("({} AND {})", having, self.json(term))

    def json(self, term: Exists | Comparison, *, vocab_only: bool = False) -> Sql:
        """EXISTS an instance of the attribute in e.data on which ``term`` holds.

        A derived table ``n`` has a row per instance having the path's element, with its
        target value ``tv``, the languageMap ``lm`` whose values are targets too, and the
        attribute type ``kind`` (the choices of ``hub.query._target``).
        """
        d, path = self.d, term.path
        sub, keys = path.sub, path.keys
        where: list[Sql] = []
        kind = languages = None
        if path.member:
            columns = [sql("{} AS tv", d.at(sub))]
        else:
            seeds: tuple[str, ...] = TARGET_MEMBERS
            if keys is not None:
                seeds = ("value", "json", "languageMap") if len(keys) == 1 else ("value", "json")
            value = _coalesce([d.at((*sub, seed, *(keys or ()))) for seed in seeds])
            columns = [sql("{} AS tv", value), sql("{} AS kind", d.text_at((*sub, "type")))]
            kind = sql("n.kind")
            if keys is None or keys == ("*",):
                columns.append(sql("{} AS lm", d.at((*sub, "languageMap"))))
                languages = sql("n.lm")
            if keys is not None:  # the compound path must resolve (clause 4.9)
                where.append(
                    sql("(n.tv IS NOT NULL" + (" OR n.lm IS NOT NULL)" if languages else ")"))
                )
        instances = sql(
            "SELECT " + ", ".join(["{}"] * len(columns)) + " FROM {}" + (" WHERE {}" if sub else ""),
            *columns, d.instances(path.attr), *([d.present(sub)] if sub else []),
        )  # fmt: skip
        scalars = d.scalars(sql("n.tv"), languages)

        def some(condition: Sql) -> Sql:
            return sql("EXISTS (SELECT 1 FROM {} WHERE {})", scalars, condition)

        string = sql(d.scalar["str"])
        if vocab_only:
            where.append(sql("n.kind = 'VocabProperty' AND {}", some(_in(string, term.vocab))))
        elif isinstance(term, Comparison) and term.op in ("==", "!="):
            equal = some(_equal(_JsonScalar(d), term.value))
            if term.vocab and kind is not None:
                in_vocab = some(_in(string, term.vocab))
                equal = sql("({} OR (n.kind = 'VocabProperty' AND {}))", equal, in_vocab)
            where.append(equal if term.op == "==" else sql("NOT {}", equal))
        elif isinstance(term, Comparison):
            if kind is not None:
                where.append(sql(f"COALESCE(n.kind, '') NOT IN {RELATIONSHIPS!r}"))
            if term.op in ORDERING:
                where.append(some(_compare(_JsonScalar(d), term.op, term.value)))
            elif term.op == "~=":
                where.append(some(d.regex(string, term.value)))
            else:  # !~=: some string, none matching
                matching = some(d.regex(string, term.value))
                where.append(sql("{} AND NOT {}", some(sql("{} IS NOT NULL", string)), matching))
        condition = _join(" AND ", where) if where else sql("1 = 1")
        return sql("EXISTS (SELECT 1 FROM ({}) AS n WHERE {})", instances, condition)


class _JsonScalar:
    """Typed views of a JSON scalar ``sc`` of a target value (NULL when of another type)."""

    def __init__(self, dialect: _Sqlite | _Postgres):
        self.d = dialect

    def operand(self, kind: str) -> tuple[Sql, Sql | None]:
        return sql(self.d.scalar[kind]), None

    def param(self, kind: str, value: Any) -> Sql:
        return self.d.number(value) if kind == "number" else sql("{}", value)


class _IndexRow:
    """Typed views of an attr_index row: the type is told by which of num and str are NULL."""

    def __init__(self, dialect: _Sqlite | _Postgres):
        self.d = dialect

    def operand(self, kind: str) -> tuple[Sql, Sql | None]:
        if kind == "number":
            return sql("num"), sql("str IS NULL")
        if kind == "bool":
            return sql("num"), sql("str IS NOT NULL")
        return sql("str"), sql("num IS NULL")

    def param(self, kind: str, value: Any) -> Sql:
        return sql("{}", float(value))


def _equal(rows: _JsonScalar | _IndexRow, value: tuple[Any, ...] | Range) -> Sql:
    """The scalar equals one of the values, or lies in the range."""
    if isinstance(value, Range):
        low, high = _compare(rows, ">=", value.low), _compare(rows, "<=", value.high)
        return sql("({} AND {})", low, high)
    alternatives = [_compare(rows, "=", v) for v in value if isinstance(v, Temporal | bool)]
    for kind in ("number", "str"):
        same = [v for v in value if value_kind(v) == kind]
        if same:
            operand, guard = rows.operand(kind)
            found = _in(operand, [rows.param(kind, v) if kind == "number" else v for v in same])
            alternatives.append(sql("({} AND {})", found, guard) if guard else found)
    return _join(" OR ", alternatives)


def _compare(rows: _JsonScalar | _IndexRow, op: str, value: Any) -> Sql:
    """``scalar op value`` for =, <, <=, >, >= with the data-type rules of hub.query."""
    if isinstance(value, Temporal):
        return _compare_temporal(rows, op, value)
    kind = value_kind(value)
    operand, guard = rows.operand(kind)
    if kind == "str" and op != "=":
        operand = rows.d.ordered(operand)
    param = rows.param(kind, value) if kind != "str" else value
    found = sql(f"{{}} {op} {{}}", operand, param)
    return sql("({} AND {})", found, guard) if guard else found


def _compare_temporal(rows: _JsonScalar | _IndexRow, op: str, value: Temporal) -> Sql:
    d = rows.d
    operand, guard = rows.operand("str")
    anchored = r"\A" + TEMPORAL_RE[value.kind] + r"\Z"
    key = sql(
        "CASE WHEN {} THEN {} END", d.regex(operand, anchored), _temporal_key(value.kind, operand)
    )
    parts = [sql(f"{{}} {op} {{}}", d.ordered(key), value.key)]
    if isinstance(rows, _IndexRow):
        # A range on the raw text that the (tenant, name, str) index serves: the key and
        # the text share their whole-seconds prefix (see hub.query.temporal_key).
        prefix = value.key[: TEMPORAL_SECONDS.get(value.kind, len(value.key))]
        column = d.ordered(sql("str"))
        if op in (">", ">=", "="):
            parts.append(sql("{} >= {}", column, prefix))
        if op in ("<", "<=", "="):
            parts.append(sql("{} < {}", column, prefix + "~"))
    parts += [guard] if guard else []
    return _join(" AND ", parts)
