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
A string of more than ``INDEXED_TEXT_BYTES`` bytes of UTF-8 is kept as its longest prefix
that fits (``indexed_text``): PostgreSQL's B-tree refuses entries over 2,704 bytes.
Every query term on a bare attribute name then needs only the index: existence, ``==``
(values, lists, ranges) and the ordering operators on numbers, dates and times are exact
index lookups; ordering on strings and ``~=`` prefilter on the index and confirm on
``e.data`` (relationships do not take those operators); ``!=`` and ``!~=`` and every path
with sub-attributes or ``[...]`` keep to entities having the attribute and evaluate
``e.data``. Types, scopes and ``attrs`` are index lookups too, and OR of selections is a
UNION of pk sets, so the database starts from the index whatever the boolean structure.
A string operand of more than ``EXACT_TEXT_BYTES`` could equal the kept prefix of a longer
value, so its term is confirmed on ``e.data``; a shorter one compares with a kept prefix as
with the whole text (code point order is UTF-8 byte order, and the kept prefix is longer
than the operand), and ``~=`` takes every cut string as a candidate. Type IRIs, scopes and
entity ids are never cut (``hub.limits``), so their lookups and the joins of linked terms
stay exact.

PostgreSQL compares text under ``COLLATE "C"`` (code point order, as Python does): declare
``attr_index.str`` with that collation so the ``(tenant, name, str)`` index serves ranges.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from typing import Any

from smartseoul.hub.errors import NgsiError
from smartseoul.hub.expressions import And, Or
from smartseoul.hub.query import (
    ORDERING,
    RELATIONSHIPS,
    TARGET_MEMBERS,
    TEMPORAL_RE,
    TEMPORAL_SECONDS,
    Comparison,
    Exists,
    Linked,
    Range,
    Temporal,
    compile_pattern,
    target_scalars,
    value_kind,
)
from smartseoul.hub.selection import AnyType, ScopePattern
from smartseoul.hub.store.base import Entity, EntityQuery
from smartseoul.hub.store.dialects import (
    Dialect,
    PostgresDialect,
    Sql,
    SqliteDialect,
    coalesce,
    in_,
    join,
    sql,
    temporal_key_sql,
)

TYPE_ROW = "@type"
SCOPE_ROW = "@scope"
# attr_index keeps names as ids from the attr_names table (a few bytes in every index entry
# instead of a whole IRI); these two are fixed, every other id is given on first use.
NAME_IDS = {TYPE_ROW: 1, SCOPE_ROW: 2}
# With a tenant of at most 256 bytes and a name id, an entry stays inside PostgreSQL's 2,704.
INDEXED_TEXT_BYTES = 2000
EXACT_TEXT_BYTES = INDEXED_TEXT_BYTES - 4  # a cut prefix is longer (a character is 1-4 bytes)
SHORT_TEXT = INDEXED_TEXT_BYTES // 4  # characters that fit whatever they are: not encoded
DIALECTS = ("sqlite", "postgres")


def name_id(name: str) -> Sql:
    """SQL for the attr_names id of ``name`` (a constant the planner evaluates once)."""
    fixed = NAME_IDS.get(name)
    if fixed is not None:
        return sql(str(fixed))
    return sql("(SELECT id FROM attr_names WHERE iri = {})", name)


def index_rows(entity: Entity) -> list[tuple[str, float | None, str | None]]:
    """The ``(name, num, str)`` attr_index rows of a stored-form entity (module docstring)."""
    rows: list[tuple[str, float | None, str | None]] = [
        (TYPE_ROW, None, t) for t in entity.get("type", ())
    ]
    rows += [(SCOPE_ROW, None, s) for s in entity.get("scope", ())]
    for name, instances in entity.get("attrs", {}).items():
        rows += attribute_rows(name, instances)
    return rows


def attribute_rows(
    name: str, instances: list[dict[str, Any]]
) -> list[tuple[str, float | None, str | None]]:
    """The attr_index rows of one attribute (all its instances)."""
    if len(instances) == 1:
        # The write path's common case, one Property with a scalar value: the same cell
        # target_scalars would give, without its generic walk.
        inst = instances[0]
        kind = inst.get("type")
        if kind == "Property":
            value = inst.get("value")
            if isinstance(value, int | float | str):
                cell = _cell(value)
                assert cell is not None
                return [(name, *cell)]
        elif kind == "Relationship":
            target = inst.get("object")
            if isinstance(target, str):
                return [(name, None, target if len(target) <= SHORT_TEXT else indexed_text(target))]
        elif kind == "GeoProperty":
            geometry = inst.get("value")
            if isinstance(geometry, dict) and "object" not in geometry and "@value" not in geometry:
                return [(name, None, None)]  # a geometry offers no scalar to q
    cells = dict.fromkeys(
        cell for inst in instances for cell in map(_cell, target_scalars(inst)) if cell
    )
    return [(name, *cell) for cell in cells] or [(name, None, None)]


def _cell(scalar: Any) -> tuple[float | None, str | None] | None:
    if isinstance(scalar, bool):
        return (1.0, "true") if scalar else (0.0, "false")
    if isinstance(scalar, int | float):
        return float(scalar), None
    if isinstance(scalar, str):
        return None, scalar if len(scalar) <= SHORT_TEXT else indexed_text(scalar)
    return None


def indexed_text(text: str) -> str:
    """``text`` as attr_index keeps it: whole, or its longest prefix of at most
    ``INDEXED_TEXT_BYTES`` bytes of UTF-8 (module docstring)."""
    raw = text.encode()
    if len(raw) <= INDEXED_TEXT_BYTES:
        return text
    return raw[:INDEXED_TEXT_BYTES].decode(errors="ignore")


def _cut_compare(value: Any) -> bool:
    """Whether a literal of a term (or one of its list or range) is a string that the index
    cannot compare exactly (module docstring)."""
    if isinstance(value, Range):
        items: Any = (value.low, value.high)
    else:
        items = value if isinstance(value, tuple) else (value,)
    return any(
        isinstance(v, str) and len(v) > EXACT_TEXT_BYTES // 4 and len(v.encode()) > EXACT_TEXT_BYTES
        for v in items
    )


def register_sqlite_functions(conn: sqlite3.Connection) -> None:
    """Give a SQLite connection the ``REGEXP`` operator that ``build_where`` relies on."""
    conn.create_function("regexp", 2, _regexp, deterministic=True)


def _regexp(pattern: str, value: Any) -> bool | None:
    if value is None or pattern is None:
        return None
    try:
        return compile_pattern(pattern).search(str(value))
    except NgsiError as exc:  # SQLite reports only "user-defined function raised exception"
        _function_errors.last = exc
        raise


_function_errors = threading.local()


def function_error() -> NgsiError | None:
    """The error the REGEXP function raised last on this thread (then forgotten), if any:
    e.g. TooComplexQuery for a pattern that ran out of time (``hub.query.Pattern``)."""
    exc: NgsiError | None = getattr(_function_errors, "last", None)
    _function_errors.last = None
    return exc


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
    compiler = _Compiler(SqliteDialect() if dialect == "sqlite" else PostgresDialect(), tenant)
    # On SQLite the tenant term must not pick the (tenant, id) index: the planner would read
    # every entity of the tenant and sort them, where a walk in pk order stops at the page.
    parts = [sql("+e.tenant = {}" if dialect == "sqlite" else "e.tenant = {}", tenant)]
    if query.ids is not None:
        parts.append(in_(sql("e.id"), query.ids) if query.ids else sql("1 = 0"))
    if query.id_pattern:
        compile_pattern(query.id_pattern, what="idPattern")
        parts.append(compiler.d.regex(sql("e.id"), query.id_pattern))
    if query.types is not None and not isinstance(query.types, AnyType):
        parts.append(compiler.types(query.types).where)
    if query.attrs:
        ids = sql("SELECT id FROM attr_names WHERE {}", in_(sql("iri"), query.attrs))
        parts.append(compiler.indexed(None, sql("name IN ({})", ids)).where)
    if query.q is not None:
        parts.append(compiler.q(query.q).where)
    if query.scope_q is not None:
        parts.append(compiler.scopes(query.scope_q).where)
    where = join(" AND ", parts)
    mark = placeholder or ("?" if dialect == "sqlite" else "%s")
    return where.text.replace("?", mark), list(where.params)


@dataclass(frozen=True, slots=True)
class _Found:
    """A compiled selection in two forms: ``pks`` selects the pk of the matching entities,
    ``where`` tests the row ``e``. ``indexed`` when ``pks`` reads attr_index alone."""

    pks: Sql
    where: Sql
    indexed: bool
    compound: bool = False  # pks is a UNION / INTERSECT (nested when it is a part of one)


class _Compiler:
    """Compiles selections so that the database can start from attr_index.

    A term on the index is ``e.pk IN (SELECT pk FROM attr_index ...)``; AND keeps such
    semi-joins side by side, and OR becomes one ``e.pk IN (... UNION ...)`` rather than an
    OR of predicates, which would make PostgreSQL scan every entity.
    """

    def __init__(self, dialect: Dialect, tenant: str):
        self.d = dialect
        self.tenant = tenant

    def index(self, name: str | None, condition: Sql | None = None) -> Sql:
        """The pks of entities with an attr_index row named ``name`` meeting ``condition``."""
        where = [sql("tenant = {}", self.tenant)]
        where += [sql("name = {}", name_id(name))] if name is not None else []
        where += [condition] if condition is not None else []
        return sql("SELECT pk FROM attr_index WHERE {}", join(" AND ", where))

    def indexed(self, name: str | None, condition: Sql | None = None) -> _Found:
        pks = self.index(name, condition)
        return _Found(pks, sql("e.pk IN ({})", pks), indexed=True)

    def scanned(self, where: Sql) -> _Found:
        pks = sql("SELECT e.pk FROM entities AS e WHERE e.tenant = {} AND {}", self.tenant, where)
        return _Found(pks, where, indexed=False)

    def combine(self, any_of: bool, items: list[_Found]) -> _Found:
        """OR (``any_of``) or AND of compiled selections."""
        # SQLite cannot parenthesise the parts of a compound SELECT: a compound part is
        # nested in a subquery, a simple SELECT goes in as it is (every level of nesting
        # counts against SQLite's parser stack).
        parts = [
            sql("SELECT pk FROM ({}) AS u", item.pks) if item.compound else item.pks
            for item in items
        ]
        indexed = all(item.indexed for item in items)
        if any_of:
            pks = sql(" UNION ".join(["{}"] * len(parts)), *parts)
            return _Found(pks, sql("e.pk IN ({})", pks), indexed, compound=True)
        where = join(" AND ", [item.where for item in items])
        if not indexed:
            return self.scanned(where)
        pks = sql(" INTERSECT ".join(["{}"] * len(parts)), *parts)
        return _Found(pks, where, indexed, compound=True)

    def probed(self, name: str, condition: Sql) -> _Found:
        """Like ``indexed``, but tests each entity row with a correlated probe of attr_index.

        SQLite builds the whole pk list of an ``IN (subquery)`` before it returns the first
        row, so a filter that most entities pass (an entity type) would cost a pass over the
        index per page; a probe per row lets ``ORDER BY pk LIMIT n`` stop after n rows.
        """
        found = self.indexed(name, condition)
        if not isinstance(self.d, SqliteDialect):
            return found
        probe = sql(
            "EXISTS (SELECT 1 FROM attr_index AS t WHERE t.pk = e.pk AND t.name = {} AND {})",
            name_id(name),
            condition,
        )
        return _Found(found.pks, probe, indexed=True)

    def types(self, node: Any) -> _Found:
        if isinstance(node, str):
            return self.probed(TYPE_ROW, sql("str = {}", node))
        if isinstance(node, Or) and all(isinstance(item, str) for item in node.items):
            return self.probed(TYPE_ROW, in_(sql("str"), node.items))
        return self.combine(isinstance(node, Or), list(map(self.types, node.items)))

    def scopes(self, node: Any) -> _Found:
        if isinstance(node, And | Or):
            return self.combine(isinstance(node, Or), list(map(self.scopes, node.items)))
        assert isinstance(node, ScopePattern)
        if not node.levels:  # /#
            return self.indexed(SCOPE_ROW)
        if "+" in node.levels:
            return self.indexed(SCOPE_ROW, self.d.regex(sql("str"), node.sql_regex))
        if not node.subtree:
            return self.indexed(SCOPE_ROW, sql("str = {}", node.text))
        # the scope itself or any below it: text in [scope + '/', scope + '0')
        column = self.d.ordered(sql("str"))
        below = sql("{} >= {} AND {} < {}", column, node.text + "/", column, node.text + "0")
        return self.indexed(SCOPE_ROW, sql("(str = {} OR ({}))", node.text, below))

    def q(self, node: Any) -> _Found:
        if isinstance(node, And | Or):
            return self.combine(isinstance(node, Or), list(map(self.q, node.items)))
        if isinstance(node, Linked):
            return self.linked(node)
        return self.term(node)

    def linked(self, node: Linked) -> _Found:
        """Entities whose Relationship ``node.rel`` targets (its object is in the index as
        ``str``) a stored entity, of a hinted type if any, on which ``node.term`` holds."""
        inner = self.q(node.term)
        if node.types:
            hint = node.types[0] if len(node.types) == 1 else Or(node.types)
            inner = self.combine(False, [inner, self.types(hint)])
        # A join rather than "str IN (SELECT id ...)": one subquery level less, which keeps
        # nested terms within SQLite's parser stack.
        pks = sql(
            "SELECT r.pk FROM attr_index AS r JOIN entities AS x ON x.tenant = r.tenant "
            "AND x.id = r.str WHERE r.tenant = {} AND r.name = {} AND x.pk IN ({})",
            self.tenant,
            name_id(node.rel),
            inner.pks,
        )
        return _Found(pks, sql("e.pk IN ({})", pks), indexed=True)

    def term(self, term: Exists | Comparison) -> _Found:
        """Index lookups where they are exact (module docstring), JSON on e.data otherwise."""
        path = term.path
        if isinstance(term, Exists) and path.is_top:
            return self.indexed(path.attr)
        if not path.is_top or not isinstance(term, Comparison):
            return self.confirmed(self.index(path.attr), term)
        op, value, rows = term.op, term.value, _IndexRow(self.d)
        if op != "~=" and _cut_compare(value):
            return self.confirmed(self.index(path.attr), term)
        if op == "==":
            found = self.indexed(path.attr, _equal(rows, value))
            if not term.vocab:
                return found
            candidates = self.index(path.attr, in_(sql("str"), term.vocab))
            vocab = self.scanned(
                sql("(e.pk IN ({}) AND {})", candidates, self.d.vocab_in(path.attr, term.vocab))
            )
            return self.combine(True, [found, vocab])
        if op in ORDERING:
            if isinstance(value, Temporal) or not isinstance(value, str):
                # exact: relationship objects are URIs, never numbers, dates or times
                return self.indexed(path.attr, _compare(rows, op, value))
            return self.confirmed(self.index(path.attr, _compare(rows, op, value)), term)
        if op == "~=":
            pattern = sql(
                f"{self.d.bare('num')} IS NULL AND ({{}} OR {{}} > {EXACT_TEXT_BYTES})",
                self.d.regex(sql("str"), value),
                self.d.byte_length(sql("str")),
            )
            return self.confirmed(self.index(path.attr, pattern), term)
        return self.confirmed(self.index(path.attr), term)

    def confirmed(self, candidates: Sql, term: Exists | Comparison) -> _Found:
        """Entities among the index candidates on which the term holds in e.data."""
        return self.scanned(sql("(e.pk IN ({}) AND {})", candidates, self.json(term)))

    def json(self, term: Exists | Comparison) -> Sql:
        """EXISTS an instance of the attribute in e.data on which ``term`` holds.

        A derived table ``n`` has a row per instance having the path's element, with its
        target value ``tv``, the languageMap ``lm`` whose values are targets too, and the
        attribute type ``kind`` (the choices of ``hub.query._target``).
        """
        d, path = self.d, term.path
        sub, keys, attribute = path.sub, path.keys, path.member is None
        where: list[Sql] = []
        languages = None
        if not attribute:
            columns = [sql("{} AS tv", d.at(sub))]
        else:
            seeds: tuple[str, ...] = TARGET_MEMBERS
            if keys is not None:
                seeds = ("value", "json", "languageMap") if len(keys) == 1 else ("value", "json")
            value = coalesce([d.at((*sub, seed, *(keys or ()))) for seed in seeds])
            columns = [sql("{} AS tv", value), sql("{} AS kind", d.text_at((*sub, "type")))]
            if keys is None or keys == ("*",):
                columns.append(sql("{} AS lm", d.at((*sub, "languageMap"))))
                languages = sql("n.lm")
            if keys is not None:  # the compound path must resolve (clause 4.9)
                resolves = "n.tv IS NOT NULL" + (" OR n.lm IS NOT NULL" if languages else "")
                where.append(sql(f"({resolves})"))
        rows = sql(
            f"SELECT {', '.join(['{}'] * len(columns))} FROM {{}}", *columns, d.instances(path.attr)
        )
        instances = sql("{} WHERE {}", rows, d.present(sub)) if sub else rows
        scalars = d.scalars(sql("n.tv"), languages)

        def some(condition: Sql) -> Sql:
            return sql("EXISTS (SELECT 1 FROM {} WHERE {})", scalars, condition)

        string = sql(d.scalar["str"])
        # A VocabProperty has no languageMap: its IRIs are read without that branch, one
        # subquery level less (SQLite's parser stack bounds how deep a q can nest).
        vocab_scalars = d.scalars(sql("n.tv"), None)

        def some_iri(iris: tuple[str, ...]) -> Sql:
            return sql("EXISTS (SELECT 1 FROM {} WHERE {})", vocab_scalars, in_(string, iris))

        if isinstance(term, Comparison) and term.op in ("==", "!="):
            equal = some(_equal(_JsonScalar(d), term.value))
            if term.vocab and attribute:
                in_vocab = some_iri(term.vocab)
                equal = sql("({} OR (n.kind = 'VocabProperty' AND {}))", equal, in_vocab)
            where.append(equal if term.op == "==" else sql("NOT {}", equal))
        elif isinstance(term, Comparison):
            if attribute:
                where.append(sql(f"COALESCE(n.kind, '') NOT IN {RELATIONSHIPS!r}"))
            if term.op in ORDERING:
                where.append(some(_compare(_JsonScalar(d), term.op, term.value)))
            elif term.op == "~=":
                where.append(some(d.regex(string, term.value)))
            else:  # !~=: some string, none matching
                matching = some(d.regex(string, term.value))
                where.append(sql("{} AND NOT {}", some(sql("{} IS NOT NULL", string)), matching))
        condition = join(" AND ", where) if where else sql("1 = 1")
        return sql("EXISTS (SELECT 1 FROM ({}) AS n WHERE {})", instances, condition)


@dataclass(frozen=True, slots=True)
class _JsonScalar:
    """Typed views of a JSON scalar ``sc`` of a target value (NULL when of another type)."""

    d: Dialect

    def operand(self, kind: str) -> tuple[Sql, Sql | None]:
        return sql(self.d.scalar[kind]), None

    def param(self, kind: str, value: Any) -> Sql:
        return self.d.number(value) if kind == "number" else sql("{}", value)


@dataclass(frozen=True, slots=True)
class _IndexRow:
    """Typed views of an attr_index row: the type is told by which of num and str are NULL."""

    d: Dialect

    def operand(self, kind: str) -> tuple[Sql, Sql | None]:
        # The guard tests the other column, which must not pick the index (see SqliteDialect.bare).
        if kind == "number":
            return sql("num"), sql(f"{self.d.bare('str')} IS NULL")
        if kind == "bool":
            return sql("num"), sql(f"{self.d.bare('str')} IS NOT NULL")
        return sql("str"), sql(f"{self.d.bare('num')} IS NULL")

    def param(self, kind: str, value: Any) -> Sql:
        return sql("{}", value if kind == "str" else float(value))


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
            found = in_(operand, [rows.param(kind, v) for v in same])
            alternatives.append(sql("({} AND {})", found, guard) if guard else found)
    return join(" OR ", alternatives)


def _compare(rows: _JsonScalar | _IndexRow, op: str, value: Any) -> Sql:
    """``scalar op value`` for =, <, <=, >, >= with the data-type rules of hub.query."""
    if isinstance(value, Temporal):
        return _compare_temporal(rows, op, value)
    kind = value_kind(value)
    if kind is None:
        raise TypeError(f"not a query literal: {value!r}")
    operand, guard = rows.operand(kind)
    if kind == "str" and op != "=":
        operand = rows.d.ordered(operand)
    found = sql(f"{{}} {op} {{}}", operand, rows.param(kind, value))
    return sql("({} AND {})", found, guard) if guard else found


def _compare_temporal(rows: _JsonScalar | _IndexRow, op: str, value: Temporal) -> Sql:
    d = rows.d
    operand, guard = rows.operand("str")
    anchored = r"\A" + TEMPORAL_RE[value.kind] + r"\Z"
    key = sql(
        "CASE WHEN {} THEN {} END",
        d.regex(operand, anchored),
        temporal_key_sql(value.kind, operand),
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
    return join(" AND ", parts)
