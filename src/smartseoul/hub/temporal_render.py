"""Temporal representations of entities (clauses 4.5.6-4.5.9, 4.5.19, 6.3.10).

Turns the history rows a temporal query matched into the normalized, simplified
(``temporalValues``) or aggregated (``aggregatedValues``) shape. Pure. The
conventions (ordering, lastN, datasetIds, aggregation periods, Scope) are set
out in :mod:`smartseoul.hub.temporal`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from smartseoul.hub.entities import VALUE_KEY
from smartseoul.hub.errors import InvalidRequest
from smartseoul.hub.render import RenderOptions, pick_language, render_instance
from smartseoul.hub.store.base import HistoryRow, PeriodStats, TemporalEntityRow
from smartseoul.hub.temporal import (
    AGGREGATED_VALUES,
    NORMALIZED,
    POINTS,
    SCOPE,
    TEMPORAL_VALUES,
    WRAPPED,
    StoreAggregation,
    TemporalQuerySpec,
    Timed,
    last_n_of,
    series_key,
    stamp,
    timed_rows,
)
from smartseoul.hub.temporal_aggregate import aggregate

Compact = Callable[[str], str]
_URI_KINDS = frozenset({"Relationship", "ListRelationship", "VocabProperty"})  # table 4.5.19.1-3


def limit_instances(
    rows: Sequence[HistoryRow], spec: TemporalQuerySpec, limit: int
) -> tuple[list[HistoryRow], tuple[float, float] | None]:
    """Cut a response to at most ``limit`` instances per attribute and dataset (clause 6.3.10).

    Returns the rows kept and, when some were cut, the DateTime range of the
    response for the ``Content-Range`` header of a 206 answer: forwards (oldest
    first) without lastN, backwards (newest first) with a lastN over ``limit``.
    """
    timed = timed_rows(rows, spec)
    if spec.last_n is not None:
        timed = last_n_of(timed, spec.last_n)
    counts: dict[tuple[str, str, str], list[float]] = {}
    for t, row in timed:
        counts.setdefault(series_key(row), []).append(t)
    over = [times for times in counts.values() if len(times) > limit]
    if not over:
        return [row for _, row in timed], None
    if spec.last_n is None:
        cut = min(times[limit] for times in over)  # first instance left out
        kept = [(t, row) for t, row in timed if t < cut]
        start = (
            spec.time_at if spec.time_at is not None and spec.timerel != "before" else kept[0][0]
        )
        return [row for _, row in kept], (start, kept[-1][0])
    cut = max(times[-limit - 1] for times in over)  # newest instance left out
    kept = [(t, row) for t, row in timed if t > cut]
    start = kept[-1][0]
    if spec.timerel == "before" and spec.time_at is not None:
        start = spec.time_at
    elif spec.timerel == "between" and spec.end_time_at is not None:
        start = spec.end_time_at
    return [row for _, row in kept], (start, kept[0][0])


def content_range(span: tuple[float, float], spec: TemporalQuerySpec) -> str:
    """The ``Content-Range`` value of a partial temporal response (clause 6.3.10)."""
    size = "*" if spec.last_n is None else str(spec.last_n)
    return f"DateTime {_bound(span[0])}-{_bound(span[1])}/{size}"


def _bound(t: float) -> str:
    """A period bound or a Content-Range end as the spec's examples write them (C.5.14.3,
    6.3.10): whole seconds without a fraction (``2018-08-01T12:00:00Z``)."""
    text = stamp(t)
    return text[:-8] + "Z" if text.endswith(".000000Z") else text


def _plain(value: Any) -> Any:
    """An aggregated number as the spec's examples show it (C.5.14.3): 90, not 90.0."""
    if type(value) is float and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _scope_row(entity: TemporalEntityRow) -> HistoryRow:
    value: Any = entity.scopes[0] if len(entity.scopes) == 1 else list(entity.scopes)
    t = entity.modified_at or entity.created_at or 0.0
    return HistoryRow(
        entity.entity_id, SCOPE, "", "", None, t, {"type": "Property", "value": value}
    )


def _instance(row: HistoryRow, compact: Compact, spec: TemporalQuerySpec, lang: str | None) -> Any:
    out = render_instance(row.data, compact, RenderOptions(sys_attrs=spec.sys_attrs, lang=lang))
    if row.instance_id:
        out["instanceId"] = row.instance_id
    if spec.sys_attrs and row.deleted:
        out["deletedAt"] = row.data.get("deletedAt") or stamp(row.modified_at)
    return out


def _point(
    row: HistoryRow, t: float, spec: TemporalQuerySpec, compact: Compact, lang: str | None
) -> tuple[str, list[Any]]:
    """(attribute type, [data point, time]) of one instance (clause 4.5.9)."""
    kind = row.data.get("type", "Property")
    member = VALUE_KEY.get(kind, "value")
    data = row.data.get(member)
    if kind == "LanguageProperty" and lang is not None:
        kind, member, data = "Property", "value", pick_language(data or {}, lang)[0]
    elif member == "vocab":
        data = [compact(v) for v in data] if isinstance(data, list) else compact(str(data))
    elif member == "objectList" and isinstance(data, list):
        data = [item.get("object") if isinstance(item, Mapping) else item for item in data]
    if member in WRAPPED:
        data = {member: data}
    when = row.data.get(spec.timeproperty)
    return kind, [data, when if isinstance(when, str) else stamp(t)]


def _simplified(
    dataset_id: str, timed: Timed, spec: TemporalQuerySpec, compact: Compact, lang: str | None
) -> dict[str, Any]:
    points = [_point(row, t, spec, compact, lang) for t, row in timed]
    kind = points[-1][0]
    obj: dict[str, Any] = {"type": kind}
    if dataset_id:
        obj["datasetId"] = dataset_id
    obj[POINTS[VALUE_KEY.get(kind, "value")]] = [point for _, point in points]
    return obj


def _aggregated_value(row: HistoryRow) -> Any:
    value = row.data.get(VALUE_KEY.get(row.data.get("type", "Property"), "value"))
    if row.data.get("type") == "ListRelationship" and isinstance(value, list):
        return [item.get("object") if isinstance(item, Mapping) else item for item in value]
    return value


def _window(timed: Timed, spec: TemporalQuerySpec) -> tuple[float | None, float | None]:
    if spec.timerel in ("after", "between"):
        start = spec.time_at
    else:
        start = next((t for t, row in timed if not row.deleted), None)
    if spec.timerel == "between":
        return start, spec.end_time_at
    return start, spec.time_at if spec.timerel == "before" else None


def _aggregated(
    dataset_id: str,
    timed: Timed,
    spec: TemporalQuerySpec,
    window: tuple[float | None, float | None],
    strict_term: str | None,
) -> dict[str, Any] | None:
    live = [(t, row) for t, row in timed if not row.deleted]
    if not live:
        return None
    kind = live[-1][1].data.get("type", "Property")
    result = aggregate(
        [(t, _aggregated_value(row)) for t, row in live],
        spec.aggr_methods,
        period=spec.aggr_period,
        start=window[0],
        end=window[1],
        relationship=kind in _URI_KINDS,
    )
    missing = [m for m in spec.aggr_methods if m not in result]
    if strict_term is not None and missing:
        raise InvalidRequest(
            f"aggrMethods: {', '.join(missing)} cannot aggregate attribute {strict_term} ({kind})"
        )
    if not result:
        return None
    obj: dict[str, Any] = {"type": kind}
    if dataset_id:
        obj["datasetId"] = dataset_id
    for method, series in result.items():
        obj[method] = [[_plain(value), _bound(lo), _bound(hi)] for value, lo, hi in series]
    return obj


def _period_value(method: str, p: PeriodStats) -> float | int:
    """One method over one period from the store's sums (numbers only, table 4.5.19.1-1)."""
    if method == "totalCount":
        return p.count
    if method == "distinctCount":
        return p.distinct
    if method == "sum":
        return p.sum
    if method == "sumsq":
        return p.sumsq
    if method == "min":
        return p.min
    if method == "max":
        return p.max
    mean = p.sum / p.count
    if method == "avg":
        return mean
    return math.sqrt(max(p.sumsq / p.count - mean * mean, 0.0))  # stddev, population


def _store_aggregated(
    agg: StoreAggregation, spec: TemporalQuerySpec, compact: Compact
) -> dict[str, Any]:
    """The aggregated attributes from the store's sums, shaped as ``_aggregated`` shapes
    them: the same periods (from the window start, clipped to its end), attributes and
    datasets in order of their first instance, the default dataset first."""
    by_series: dict[tuple[str, str], list[PeriodStats]] = {}
    for p in agg.periods:
        by_series.setdefault((p.attr, p.dataset_id), []).append(p)
    period = spec.aggr_period
    seconds = None if period is None or period.is_zero else period.seconds
    start = agg.start or 0.0
    objects: dict[str, list[dict[str, Any]]] = {}
    for s in sorted(agg.series, key=lambda s: (s.first, s.dataset_id != "")):
        obj: dict[str, Any] = {"type": s.kind}
        if s.dataset_id:
            obj["datasetId"] = s.dataset_id
        parts = by_series.get((s.attr, s.dataset_id), [])
        bounds = []
        for p in parts:
            if seconds is None:
                lo, hi = start, s.last if agg.end is None else agg.end
            else:
                lo, hi = start + p.period * seconds, start + (p.period + 1) * seconds
                if agg.end is not None:
                    hi = min(hi, agg.end)
            bounds.append((_bound(lo), _bound(hi)))
        for method in spec.aggr_methods:
            obj[method] = [
                [_plain(_period_value(method, p)), lo, hi]
                for p, (lo, hi) in zip(parts, bounds, strict=True)
            ]
        objects.setdefault(s.attr, []).append(obj)
    out: dict[str, Any] = {}
    for attr, found in objects.items():
        found.sort(key=lambda obj: "datasetId" in obj)  # stable: the default dataset first
        out[compact(attr)] = _one_or_many(found)
    return out


def _by(timed: Timed, key: Callable[[HistoryRow], str]) -> dict[str, Timed]:
    groups: dict[str, Timed] = {}
    for pair in timed:
        groups.setdefault(key(pair[1]), []).append(pair)
    return groups


def _datasets(series: Timed) -> dict[str, Timed]:
    """The series per datasetId: the default instances first, then in order of appearance."""
    groups = _by(series, lambda row: row.dataset_id)
    return {"": groups.pop("")} | groups if "" in groups else groups


def _one_or_many(objects: list[dict[str, Any]]) -> dict[str, Any] | list[dict[str, Any]]:
    return objects[0] if len(objects) == 1 else objects


def render_temporal_entity(
    entity: TemporalEntityRow,
    rows: Sequence[HistoryRow],
    *,
    compact: Compact,
    spec: TemporalQuerySpec,
    lang: str | None = None,
    requested_attrs: Collection[str] = (),
    aggregated: StoreAggregation | None = None,
) -> dict[str, Any]:
    """The temporal representation of one entity (clauses 4.5.6, 4.5.9, 4.5.19).

    ``rows`` are the entity's history rows the store matched. ``spec.mode``
    picks the normalized, simplified (temporalValues) or aggregated shape;
    ``spec.sys_attrs`` adds createdAt, modifiedAt and deletedAt. ``compact``
    maps an expanded IRI to its term. With ``lang`` LanguageProperties become
    Properties in the best language (clause 4.15). In the aggregated shape an
    attribute of ``requested_attrs`` (expanded names the request named) that a
    method cannot aggregate raises InvalidRequest (clause 5.7.4.4); other
    attributes just leave that method out. ``aggregated`` holds the store's sums in
    place of ``rows`` (all values numbers, see ``Store.aggregate_history``).
    """
    types = [compact(t) for t in entity.types]
    out: dict[str, Any] = {"id": entity.entity_id, "type": types[0] if len(types) == 1 else types}
    if spec.sys_attrs:
        for key, t in (
            ("createdAt", entity.created_at),
            ("modifiedAt", entity.modified_at),
            ("deletedAt", entity.deleted_at),
        ):
            if t is not None:
                out[key] = stamp(t)
    if aggregated is not None:
        out.update(_store_aggregated(aggregated, spec, compact))
        return out
    if entity.scopes and spec.mode != AGGREGATED_VALUES and not any(r.attr == SCOPE for r in rows):
        rows = [_scope_row(entity), *rows]
    timed = timed_rows(rows, spec)
    if spec.last_n is not None:
        timed = last_n_of(timed, spec.last_n)
    window = _window(timed, spec)
    for attr, series in _by(timed, lambda row: row.attr).items():
        term = compact(attr)
        if spec.mode == NORMALIZED:
            out[term] = [_instance(row, compact, spec, lang) for _, row in series]
        elif spec.mode == TEMPORAL_VALUES:
            datasets = _datasets(series)
            out[term] = _one_or_many(
                [_simplified(ds, part, spec, compact, lang) for ds, part in datasets.items()]
            )
        else:
            strict = term if attr in requested_attrs else None
            objects = [
                obj
                for ds, part in _datasets(series).items()
                if (obj := _aggregated(ds, part, spec, window, strict)) is not None
            ]
            if objects:
                out[term] = _one_or_many(objects)
    return out
