"""Resources as tables: a live hub view or an uploaded file, read as rows of columns.

:func:`open_table` turns a resource into a :class:`Table` whose rows come in pages of
tuples, so every consumer (downloads, the Seoul OpenAPI, CKAN's datastore_search, the
catalog page's preview) reads the same rows. History views stream from the store page by
page (:mod:`smartseoul.opendata.export`); latest views and files are small and held whole.
"""

from __future__ import annotations

import csv
import io
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from smartseoul.hub.entities import parse_time
from smartseoul.hub.errors import NgsiError
from smartseoul.hub.temporal_aggregate import parse_duration
from smartseoul.opendata.catalog import CatalogError, Dataset, LiveQuery, Resource
from smartseoul.opendata.export import PAGE, count_history, history_pages

KST = ZoneInfo("Asia/Seoul")
# Column -> the texts a cell may equal to be kept (CKAN filters: a value or a list of them).
Filters = dict[str, tuple[str, ...]]
Row = tuple[Any, ...]
_VALUE_KEYS = {"Property": "value", "GeoProperty": "value", "Relationship": "object",
               "LanguageProperty": "languageMap", "VocabProperty": "vocab",
               "JsonProperty": "json", "ListProperty": "valueList",
               "ListRelationship": "objectList"}  # fmt: skip
_INSTANCE_KEYS = ("observedAt", "unitCode", "datasetId", "type")


@dataclass
class Env:
    """What reading a resource needs: the store, the context resolver and the hub client."""

    store: Any
    resolver: Any
    client: Any


class Table(ABC):
    """Rows of ``columns``; ``geometry`` names the column holding GeoJSON, if any."""

    columns: list[str]
    geometry: str | None = None

    async def count(self) -> int:
        n = 0
        async for page in self.pages():
            n += len(page)
        return n

    @abstractmethod
    def pages(self, offset: int = 0, limit: int | None = None) -> AsyncIterator[list[Row]]:
        """Pages of rows from ``offset``, at most ``limit`` rows in all."""


class MemoryTable(Table):
    def __init__(self, columns: list[str], rows: list[Row], geometry: str | None = None):
        self.columns, self.rows, self.geometry = columns, rows, geometry

    async def count(self) -> int:
        return len(self.rows)

    async def pages(self, offset: int = 0, limit: int | None = None) -> AsyncIterator[list[Row]]:
        end = len(self.rows) if limit is None else offset + limit
        for start in range(offset, min(end, len(self.rows)), PAGE):
            yield self.rows[start : min(start + PAGE, end)]


class FilteredTable(Table):
    """Rows of ``inner`` that pass ``keep``: counting and skipping read the rows."""

    def __init__(self, inner: Table, keep: Callable[[Row], bool]):
        self.inner, self.keep = inner, keep
        self.columns, self.geometry = inner.columns, inner.geometry

    async def pages(self, offset: int = 0, limit: int | None = None) -> AsyncIterator[list[Row]]:
        left = limit
        async for page in self.inner.pages():
            kept = [row for row in page if self.keep(row)]
            if offset >= len(kept):
                offset -= len(kept)
                continue
            kept, offset = kept[offset:], 0
            if left is not None:
                kept = kept[:left]
                left -= len(kept)
            if kept:
                yield kept
            if left == 0:
                return


async def open_table(
    env: Env,
    dataset: Dataset,
    resource: Resource,
    *,
    filters: Mapping[str, str | Sequence[str]] | None = None,
    text: str = "",
) -> Table:
    """The rows of a resource, keeping those whose cells equal ``filters`` (a text, or any
    of several) and containing ``text``."""
    wanted = {k: (v,) if isinstance(v, str) else tuple(v) for k, v in (filters or {}).items()}
    if resource.kind == "file":
        from smartseoul.opendata.catalog import Catalog

        content, filename, media_type = await Catalog(env.store).get_file(resource.id)
        table: Table = file_table(content, filename)
    else:
        assert resource.query is not None
        table = await _live_table(env, resource.query, wanted)
    unknown = [name for name in wanted if name not in table.columns]
    if unknown:
        raise CatalogError(
            f"filters: unknown column {unknown[0]!r}; columns are {', '.join(table.columns)}",
            field="filters",
        )
    if wanted or text:
        positions = [(table.columns.index(k), v) for k, v in wanted.items()]
        needle = text.lower()

        def keep(row: Row) -> bool:
            if any(_text(row[i]) not in v for i, v in positions):
                return False
            return not needle or any(needle in _text(v).lower() for v in row)

        table = FilteredTable(table, keep)
    return table


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


# --- uploaded files -----------------------------------------------------------------


class UnreadableFile(CatalogError):
    """An uploaded file whose bytes are not the table its name says (CSV, JSON, XLSX)."""

    def __init__(self, message: str):
        super().__init__(message, field="file")


def file_table(content: bytes, filename: str) -> Table:
    """CSV (UTF-8 with or without BOM, or CP949), JSON (a list of objects) or XLSX.

    Rows are fitted to the header row: cells beyond it are dropped and missing ones are
    empty, so that every row has one value per column. A file that cannot be read as its
    kind is an UnreadableFile.
    """
    kind = filename.rsplit(".", 1)[-1].lower()
    if kind not in ("csv", "json", "xlsx"):
        raise CatalogError(f"{filename}: only CSV, JSON and XLSX files can be read as a table")
    try:
        return _read_file(content, kind, filename)
    except UnreadableFile:
        raise
    except Exception as exc:  # whatever the parsers raise on bytes that are not their kind
        raise UnreadableFile(
            f"{filename}: cannot be read as {kind.upper()} ({type(exc).__name__}: {exc})"
        ) from None


def _read_file(content: bytes, kind: str, filename: str) -> Table:
    if kind == "csv":
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = content.decode("cp949")
        reader = csv.reader(io.StringIO(text))
        header = next(reader, [])
        rows = [_fit([_number(v) for v in row], len(header), "") for row in reader if row]
        return MemoryTable(header, rows)
    if kind == "json":
        data = orjson.loads(content)
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise UnreadableFile(f"{filename}: a JSON file resource must be a list of objects")
        columns = list(dict.fromkeys(k for r in data for k in r))
        return MemoryTable(columns, [tuple(r.get(c) for c in columns) for r in data])
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    header = [str(c) for c in rows[0]] if rows else []
    return MemoryTable(header, [_fit(list(r), len(header), None) for r in rows[1:]])


def _fit(cells: list[Any], width: int, empty: Any) -> Row:
    """``cells`` cut or padded with ``empty`` to ``width``."""
    if len(cells) < width:
        cells += [empty] * (width - len(cells))
    return tuple(cells[:width])


def _number(text: str) -> Any:
    """CSV cells that are plain numbers become numbers (as the Seoul OpenAPI gives them)."""
    if text and (text[0].isdigit() or text[0] == "-"):
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return text
    return text


# --- live views ---------------------------------------------------------------------


def _value(inst: dict[str, Any]) -> Any:
    value = inst.get(_VALUE_KEYS.get(inst.get("type", "Property"), "value"))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _first(entity: dict[str, Any], attr: str) -> dict[str, Any] | None:
    found = entity.get(attr)
    if isinstance(found, list):
        found = found[0] if found else None
    return found if isinstance(found, dict) else None


class TimeFormat:
    """Epoch seconds or ISO text -> output text; each distinct instant is formatted once."""

    def __init__(self, pattern: str):
        self.pattern = pattern
        self.cache: dict[float, str] = {}

    def __call__(self, t: float | None) -> str | None:
        if t is None:
            return None
        out = self.cache.get(t)
        if out is None:
            moment = datetime.fromtimestamp(t, UTC)
            if self.pattern:
                out = moment.astimezone(KST).strftime(self.pattern)
            else:
                out = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
            if len(self.cache) > 100_000:
                self.cache.clear()
            self.cache[t] = out
        return out

    def text(self, iso: str | None) -> str | None:
        return self(parse_time(iso).timestamp()) if iso else None


def static_getter(source: str, fmt: TimeFormat) -> Callable[[dict[str, Any]], Any]:
    """A function reading one column from a normalized entity."""
    if source in ("id", "type"):
        return lambda e: e.get(source)
    if source == "observedAt":

        def latest_time(e: dict[str, Any]) -> Any:
            times = [str(i["observedAt"]) for k in e if (i := _first(e, k)) and i.get("observedAt")]
            return fmt.text(max(times)) if times else None

        return latest_time
    attr, _, key = source.partition(".")
    if not key:
        return lambda e: _value(i) if (i := _first(e, attr)) else None
    if key == "observedAt":
        return lambda e: fmt.text(i.get("observedAt")) if (i := _first(e, attr)) else None
    if key in _INSTANCE_KEYS:
        return lambda e: i.get(key) if (i := _first(e, attr)) else None

    def member(e: dict[str, Any]) -> Any:
        inst = _first(e, attr)
        value = _value(inst) if inst else None
        return value.get(key) if isinstance(value, dict) else None

    return member


async def _live_table(env: Env, query: LiveQuery, filters: Filters) -> Table:
    from smartseoul.hub.client import HubError

    try:
        entities = await env.client.query(
            type=query.type, q=query.q, context=query.context, tenant=query.tenant, limit=10**9
        )
    except (NgsiError, HubError) as exc:
        raise ViewError(f"the hub refused the view's query: {exc}") from exc
    fmt = TimeFormat(query.time_format)
    if query.mode == "latest":
        return _latest_table(query, entities, fmt, filters)
    return await _history_table(env, query, entities, fmt, filters)


class ViewError(RuntimeError):
    """A live view that cannot be read (the hub refused its query)."""


def _latest_table(
    query: LiveQuery, entities: list[dict[str, Any]], fmt: TimeFormat, filters: Filters
) -> Table:
    if query.columns:
        columns = dict(query.columns)
    else:
        attrs = query.attrs or sorted(
            {k for e in entities for k in e if k not in ("id", "type", "@context")}
        )
        if query.geometry not in attrs and any(query.geometry in e for e in entities):
            attrs = [*attrs, query.geometry]
        columns = {"id": "id", **{a: a for a in attrs}}
    getters = [static_getter(src, fmt) for src in columns.values()]
    rows = [tuple(get(e) for get in getters) for e in entities]
    names = list(columns)
    geometry = next((n for n, s in columns.items() if s == query.geometry), None)
    return MemoryTable(names, rows, geometry)


def period(query: LiveQuery) -> tuple[float, float]:
    """``[start, end)`` of a history view in epoch seconds."""
    end = parse_time(query.until, field="until").timestamp() if query.until else time.time()
    if query.start:
        return parse_time(query.start, field="start").timestamp(), end
    return parse_duration(query.period, param="period").shift(end, -1), end


async def _history_table(
    env: Env,
    query: LiveQuery,
    entities: list[dict[str, Any]],
    fmt: TimeFormat,
    filters: Filters,
) -> Table:
    if not query.attrs:
        raise CatalogError("a history view needs `attrs`: the attributes whose history to serve")
    ctx = await env.resolver.resolve(query.context)
    iris = {a: ctx.expand(a) for a in query.attrs}
    start, end = period(query)
    long = query.layout == "long"
    if query.columns:
        columns = dict(query.columns)
    elif long:
        columns = {c: c for c in ("id", "attribute", "observedAt", "value", "unitCode")}
    else:
        columns = {"id": "id", "observedAt": "observedAt", **{a: a for a in query.attrs}}
    dynamic = {"observedAt", "attribute", "value", "unitCode"} if long else {"observedAt"}
    dynamic |= set() if long else set(query.attrs) | {f"{a}.unitCode" for a in query.attrs}
    static = {n: static_getter(s, fmt) for n, s in columns.items() if s not in dynamic}
    # Filters on entity columns pick the entities before any history is read.
    for name, wanted in filters.items():
        if name in static:
            entities = [e for e in entities if _text(static[name](e)) in wanted]
    return HistoryTable(env, query.tenant, entities, iris, columns, static, fmt, start, end, long)


class HistoryTable(Table):
    """History rows, streamed: one per instance (long) or per entity and instant (wide).

    In the wide layout an attribute with several instances at one instant (e.g. a reading
    stored both as history and as the current value) gives its last one.
    """

    def __init__(
        self,
        env: Env,
        tenant: str,
        entities: list[dict[str, Any]],
        iris: dict[str, str],
        columns: dict[str, str],
        static: dict[str, Callable[[dict[str, Any]], Any]],
        fmt: TimeFormat,
        start: float,
        end: float,
        long: bool,
    ):
        self.env, self.tenant, self.entities, self.iris = env, tenant, entities, iris
        self.columns, self.sources = list(columns), list(columns.values())
        self.static, self.fmt, self.start, self.end, self.long = static, fmt, start, end, long
        self._counts: dict[tuple[str, str], int] | None = None

    async def _instance_counts(self) -> dict[tuple[str, str], int]:
        if self._counts is None:
            self._counts = await count_history(
                self.env.store, self.tenant, [e["id"] for e in self.entities],
                list(self.iris.values()), start=self.start, end=self.end,
            )  # fmt: skip
        return self._counts

    async def count(self) -> int:
        if self.long:
            return sum((await self._instance_counts()).values())
        return await super().count()

    def _template(self, entity: dict[str, Any]) -> list[Any]:
        return [
            self.static[n](entity) if n in self.static else None for n in self.columns
        ]

    async def pages(self, offset: int = 0, limit: int | None = None) -> AsyncIterator[list[Row]]:
        source = self._long_pages(offset) if self.long else self._wide_pages(offset)
        left = limit
        async for page in source:
            if left is not None:
                page = page[:left]
                left -= len(page)
            if page:
                yield page
            if left == 0:
                return

    async def _long_pages(self, offset: int) -> AsyncIterator[list[Row]]:
        # Counting reads every instance once more: only worth it to skip to an offset.
        counts = await self._instance_counts() if offset else None
        fmt = self.fmt
        pos = {s: i for i, s in enumerate(self.sources)}
        t_at, v_at, u_at, a_at = (pos.get(k) for k in ("observedAt", "value", "unitCode", "attribute"))
        for entity in self.entities:
            template = self._template(entity)
            for term, iri in self.iris.items():
                if counts is not None:
                    n = counts.get((entity["id"], iri), 0)
                    if offset >= n:
                        offset -= n
                        continue
                if a_at is not None:
                    template[a_at] = term
                pages = history_pages(self.env.store, self.tenant, entity["id"], iri,
                                      start=self.start, end=self.end, offset=offset)  # fmt: skip
                offset = 0
                async for chunk in pages:
                    rows = []
                    for t, value, unit in chunk:
                        row = template.copy()
                        if t_at is not None:
                            row[t_at] = fmt(t)
                        if v_at is not None:
                            row[v_at] = int(value) if type(value) is float and value.is_integer() else value
                        if u_at is not None:
                            row[u_at] = unit
                        rows.append(tuple(row))
                    yield rows

    async def _wide_pages(self, offset: int) -> AsyncIterator[list[Row]]:
        value_at = {s: i for i, s in enumerate(self.sources) if s in self.iris}
        unit_at = {s.split(".")[0]: i for i, s in enumerate(self.sources)
                   if s.endswith(".unitCode") and s.split(".")[0] in self.iris}  # fmt: skip
        time_at = self.sources.index("observedAt") if "observedAt" in self.sources else None
        for entity in self.entities:
            template = self._template(entity)
            streams = {
                term: _flatten(history_pages(self.env.store, self.tenant, entity["id"], iri,
                                             start=self.start, end=self.end))
                for term, iri in self.iris.items()
            }  # fmt: skip
            heads: dict[str, tuple[float, Any, Any]] = {}
            for term, stream in streams.items():
                head = await anext(stream, None)
                if head is not None:
                    heads[term] = head
            rows: list[Row] = []
            while heads:
                t = min(h[0] for h in heads.values())
                row = template.copy()
                if time_at is not None:
                    row[time_at] = self.fmt(t)
                for term in [k for k, h in heads.items() if h[0] == t]:
                    _, value, unit = heads[term]
                    if term in value_at:
                        row[value_at[term]] = int(value) if type(value) is float and value.is_integer() else value
                    if term in unit_at:
                        row[unit_at[term]] = unit
                    head = await anext(streams[term], None)
                    while head is not None and head[0] == t:  # one value per instant: the last
                        if term in value_at:
                            row[value_at[term]] = _plain(head[1])
                        head = await anext(streams[term], None)
                    if head is None:
                        del heads[term]
                    else:
                        heads[term] = head
                if offset:
                    offset -= 1
                    continue
                rows.append(tuple(row))
                if len(rows) >= PAGE:
                    yield rows
                    rows = []
            if rows:
                yield rows


def _plain(value: Any) -> Any:
    return int(value) if type(value) is float and value.is_integer() else value


async def _flatten(pages: AsyncIterator[list[tuple[float, Any, Any]]]) -> AsyncIterator[tuple[float, Any, Any]]:
    async for page in pages:
        for item in page:
            yield item
