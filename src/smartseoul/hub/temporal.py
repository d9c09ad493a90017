"""Temporal evolution of entities: temporal queries and temporal provision.

Clauses 4.11 and 5.2.21 (temporal query), 6.3.12 (``format`` / ``options``),
5.6.11-5.6.14 (temporal provision) and the instance selection of 5.7.3-5.7.4.
The representations of clauses 4.5.6-4.5.9 and 4.5.19 are built by
``hub.temporal_render`` (aggregation maths in ``hub.temporal_aggregate``). Pure:
plain inputs and outputs; ``hub.api.temporal`` adapts them to HTTP and the store
does the I/O.

Conventions
-----------
* Inside, times are epoch seconds (float, UTC). Times this module computes are
  written like every hub timestamp (``hub.entities.format_time``: microseconds,
  ``Z``); times an instance carries (``observedAt``...) are shown as stored.
* Instances are ordered by ascending ``timeproperty`` (``observedAt`` unless the
  query says otherwise); an instance without it is placed by its ``modifiedAt``.
* ``lastN`` keeps the latest n instances per attribute and per datasetId, shown
  in ascending order (clauses 5.7.3.4 and 5.2.21 select by descending time but
  prescribe no output order). The aggregated representation aggregates those n.
* The simplified (``temporalValues``) and aggregated representations give one
  object per datasetId: a single object when the attribute has one dataset, an
  array of objects otherwise: the default instances first (no ``datasetId``),
  then each dataset with its ``datasetId``.
* Aggregation periods start at ``timeAt`` for ``after``/``between`` and at the
  entity's earliest instance otherwise; the whole-range period ends at
  ``endTimeAt`` (between), ``timeAt`` (before) or the last instance.
* The Scope is a temporal Property (clause 4.5.6) kept in history under
  :data:`SCOPE`; an entity whose scope has no history shows its current scope
  as one instance stamped with the entity's modifiedAt.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smartseoul.hub.entities import (
    ENTITY_MEMBERS,
    NGSI,
    VALUE_KEY,
    check_entity_id,
    check_name,
    check_scopes,
    expand_types,
    format_time,
    is_uri,
    normalize_instance,
    parse_time,
)
from smartseoul.hub.errors import BadRequestData
from smartseoul.hub.store.base import (
    HistoryQuery,
    HistoryRow,
    PeriodStats,
    SeriesStats,
    TemporalEntityRow,
)
from smartseoul.hub.store.indexing import scalar_of
from smartseoul.hub.temporal_aggregate import (
    AGGREGATION_METHODS,
    FIRST_EPOCH,
    LAST_EPOCH,
    Duration,
    parse_duration,
)

NORMALIZED = "normalized"
TEMPORAL_VALUES = "temporalValues"
AGGREGATED_VALUES = "aggregatedValues"
TIMERELS = ("before", "after", "between")
TIME_PROPERTIES = ("observedAt", "createdAt", "modifiedAt", "deletedAt")
SCOPE = NGSI + "scope"

# format/options keywords (clause 6.3.12); keyValues and simplified name the
# simplified temporal representation of clause 4.5.9.
_FORMATS = {
    NORMALIZED: NORMALIZED,
    TEMPORAL_VALUES: TEMPORAL_VALUES,
    AGGREGATED_VALUES: AGGREGATED_VALUES,
    "keyValues": TEMPORAL_VALUES,
    "simplified": TEMPORAL_VALUES,
}
_OPTIONS = (*_FORMATS, "sysAttrs")
# Value member -> the member listing data points in the simplified representation.
POINTS = {
    "value": "values",
    "object": "objects",
    "objectList": "objectLists",
    "languageMap": "languageMaps",
    "vocab": "vocabs",
    "json": "jsons",
    "valueList": "valueLists",
}
WRAPPED = frozenset({"languageMap", "vocab", "json"})  # points shown as {member: data}

Timed = list[tuple[float, HistoryRow]]


def stamp(t: float) -> str:
    """Epoch seconds as a hub DateTime string.

    >>> stamp(1533124800.0)
    '2018-08-01T12:00:00.000000Z'
    """
    return _stamp(t)


# Aggregated answers format the same period bounds for every method: format each once.
@functools.lru_cache(maxsize=65536)
def _stamp(t: float) -> str:
    # Clamped to the years 1 to 9999: an observedAt of 0001-01-01T00:00:00+14:00 lies
    # before the first UTC instant a datetime holds, and a long aggregation period can end
    # after the last.
    return format_time(datetime.fromtimestamp(min(max(t, FIRST_EPOCH), LAST_EPOCH), UTC))


def _epoch(text: Any, param: str) -> float:
    return parse_time(text, field=param).timestamp()


def instance_time(row: HistoryRow, timeproperty: str = "observedAt") -> float | None:
    """The value of ``timeproperty`` for one history row, or None when it has none."""
    if timeproperty == "observedAt":
        return row.observed_at
    if timeproperty == "modifiedAt":
        return row.modified_at
    if timeproperty == "deletedAt" and not row.deleted:
        return None
    text = row.data.get(timeproperty)
    return _epoch(text, timeproperty) if text else row.modified_at


# --- temporal query -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TemporalQuerySpec:
    """A temporal query (clause 5.2.21) with the representation asked for."""

    timerel: str | None = None
    time_at: float | None = None
    end_time_at: float | None = None
    timeproperty: str = "observedAt"
    last_n: int | None = None
    mode: str = NORMALIZED
    aggr_methods: tuple[str, ...] = ()
    aggr_period: Duration | None = None  # None or zero: one period over the whole range
    sys_attrs: bool = False
    dataset_ids: frozenset[str] | None = None  # "" is the default instance ("@none")

    def history_query(
        self, entity_ids: Sequence[str], attrs: Sequence[str] | None = None
    ) -> HistoryQuery:
        """The store query for these entities (attribute names expanded)."""
        return HistoryQuery(
            entity_ids=entity_ids,
            attrs=attrs,
            timerel=self.timerel,
            time_at=self.time_at,
            end_time_at=self.end_time_at,
            timeproperty=self.timeproperty,
            last_n=self.last_n,
            include_deleted=True,  # deleted instances are part of the evolution (4.5.7)
        )


@dataclass(slots=True)
class StoreAggregation:
    """Per-period sums of an entity's live numeric series computed by the store
    (``Store.aggregate_history``), and the window ``[start, end]`` they cover."""

    series: list[SeriesStats]
    periods: list[PeriodStats]
    start: float | None
    end: float | None


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _mode(params: Mapping[str, str]) -> tuple[str, bool]:
    options = _split(params.get("options"))
    for option in options:
        if option not in _OPTIONS:
            raise BadRequestData(f"options: unknown value {option!r}; valid: {', '.join(_OPTIONS)}")
    chosen = {_FORMATS[o] for o in options if o in _FORMATS} - {NORMALIZED}
    if len(chosen) > 1:
        raise BadRequestData("options: temporalValues and aggregatedValues exclude each other")
    mode = chosen.pop() if chosen else NORMALIZED
    fmt = params.get("format")
    if fmt:  # format takes precedence over options (clause 6.3.12)
        if fmt not in _FORMATS:
            raise BadRequestData(f"format: unknown value {fmt!r}; valid: {', '.join(_FORMATS)}")
        mode = _FORMATS[fmt]
    return mode, "sysAttrs" in options


def _last_n(text: str | None) -> int | None:
    if not text:
        return None
    value = int(text) if text.isdigit() else 0
    if value < 1:
        raise BadRequestData(f"lastN: {text!r} is not a positive integer")
    return value


def _aggregation(params: Mapping[str, str]) -> tuple[tuple[str, ...], Duration | None]:
    methods = tuple(dict.fromkeys(_split(params.get("aggrMethods"))))
    if not methods:
        raise BadRequestData("aggrMethods: required with the aggregatedValues representation")
    for name in methods:
        if name not in AGGREGATION_METHODS:
            raise BadRequestData(
                f"aggrMethods: unknown method {name!r}; valid: {', '.join(AGGREGATION_METHODS)}"
            )
    duration = params.get("aggrPeriodDuration")
    return methods, parse_duration(duration) if duration else None


def parse_temporal_query(
    params: Mapping[str, str], *, require_timerel: bool = False
) -> TemporalQuerySpec:
    """Read and validate the temporal parameters of a request (clauses 4.11, 5.2.21, 6.3.12).

    ``params`` are URL parameters: ``timerel``, ``timeAt``, ``endTimeAt``,
    ``timeproperty``, ``lastN``, ``format``, ``options``, ``aggrMethods``,
    ``aggrPeriodDuration`` and ``datasetId``; other names are ignored.
    ``require_timerel`` makes the temporal query mandatory (clause 5.7.4.4).
    Errors are BadRequestData naming the parameter.

    Examples
    --------
    >>> spec = parse_temporal_query({"timerel": "after", "timeAt": "2018-08-01T12:00:00Z"})
    >>> spec.timerel, spec.time_at, spec.mode
    ('after', 1533124800.0, 'normalized')
    """
    timerel = params.get("timerel") or None
    time_at = end_time_at = None
    if timerel is None:
        if params.get("timeAt"):
            raise BadRequestData("timerel: required when timeAt is given")
        if require_timerel:
            raise BadRequestData("timerel: a temporal query (timerel and timeAt) is required")
    else:
        if timerel not in TIMERELS:
            raise BadRequestData(f"timerel: {timerel!r} is not one of {', '.join(TIMERELS)}")
        if not params.get("timeAt"):
            raise BadRequestData(f"timeAt: required with timerel={timerel}")
        time_at = _epoch(params["timeAt"], "timeAt")
        if timerel == "between":
            if not params.get("endTimeAt"):
                raise BadRequestData("endTimeAt: required with timerel=between")
            end_time_at = _epoch(params["endTimeAt"], "endTimeAt")
            if end_time_at <= time_at:
                raise BadRequestData("endTimeAt: must be later than timeAt")
    timeproperty = params.get("timeproperty") or "observedAt"
    if timeproperty not in TIME_PROPERTIES:
        raise BadRequestData(
            f"timeproperty: {timeproperty!r} is not one of {', '.join(TIME_PROPERTIES)}"
        )
    mode, sys_attrs = _mode(params)
    methods, period = _aggregation(params) if mode == AGGREGATED_VALUES else ((), None)
    dataset_ids = _split(params.get("datasetId"))
    for dataset_id in dataset_ids:
        # Tables 6.18.3.2-1 and 6.19.3.1-1: valid URIs, or "@none" for the default instances.
        if dataset_id != "@none" and not is_uri(dataset_id):
            raise BadRequestData(f"datasetId: {dataset_id!r} is neither a URI nor @none")
    return TemporalQuerySpec(
        timerel=timerel,
        time_at=time_at,
        end_time_at=end_time_at,
        timeproperty=timeproperty,
        last_n=_last_n(params.get("lastN")),
        mode=mode,
        aggr_methods=methods,
        aggr_period=period,
        sys_attrs=sys_attrs,
        dataset_ids=frozenset("" if d == "@none" else d for d in dataset_ids)
        if dataset_ids
        else None,
    )


def temporal_params_from_query(query: Mapping[str, Any]) -> dict[str, str]:
    """URL-style parameters from the ``temporalQ``, ``aggrParams`` and ``datasetId``
    members of a Query body (clause 5.2.23), for :func:`parse_temporal_query`."""
    params: dict[str, str] = {}
    for member, names in (
        ("temporalQ", ("timerel", "timeAt", "endTimeAt", "timeproperty", "lastN")),
        ("aggrParams", ("aggrMethods", "aggrPeriodDuration")),
    ):
        part = query.get(member)
        if part is None:
            continue
        if not isinstance(part, Mapping):
            raise BadRequestData(f"{member}: must be a JSON object")
        for name in names:
            value = part.get(name)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                value = ",".join(value)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise BadRequestData(f"{member}.{name}: {value!r} has the wrong type")
            params[name] = str(value)
    dataset_ids = query.get("datasetId")
    if dataset_ids is not None:
        dataset_ids = [dataset_ids] if isinstance(dataset_ids, str) else dataset_ids
        if not isinstance(dataset_ids, list) or not all(isinstance(d, str) for d in dataset_ids):
            raise BadRequestData("datasetId: must be an array of URIs")
        params["datasetId"] = ",".join(dataset_ids)
    return params


# --- provision ------------------------------------------------------------------------


@dataclass(slots=True)
class TemporalFragment:
    """A validated EntityTemporal body (clause 5.2.20): names expanded, instances in stored form."""

    entity_id: str | None
    types: list[str]
    scopes: list[str] | None
    attrs: dict[str, list[dict[str, Any]]]


def _raw_instances(name: str, raw: Any) -> list[Any]:
    """The instances of one attribute of a temporal body: an array, one object, or the
    simplified form ``{"type": ..., "values": [[value, observedAt], ...]}`` (4.5.9)."""
    if isinstance(raw, Mapping):
        for member, points_key in POINTS.items():
            points = raw.get(points_key)
            if points is None:
                continue
            if (
                not isinstance(points, list)
                or not points
                or not all(isinstance(p, list) and len(p) == 2 for p in points)
            ):
                raise BadRequestData(
                    f"{name}.{points_key}: must be an array of [value, time] pairs"
                )
            kind = raw.get("type") or next(k for k, v in VALUE_KEY.items() if v == member)
            return [
                {
                    "type": kind,
                    member: data[member]
                    if member in WRAPPED and isinstance(data, Mapping) and member in data
                    else data,
                    "observedAt": t,
                }
                for data, t in points
            ]
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(item, Mapping) for item in raw):
        return raw
    raise BadRequestData(f"{name}: a temporal attribute is an array of attribute instances")


def parse_temporal_fragment(
    body: Any, expand: Callable[[str], str], *, now: str, require_id: bool = True
) -> TemporalFragment:
    """Validate an EntityTemporal body or fragment (clauses 5.6.11, 5.6.12, 5.6.14).

    Every instance is checked and normalized with the rules of entity writes
    (``hub.entities``); several instances may share a datasetId. A Scope given
    as a temporal Property becomes instances of :data:`SCOPE`.
    """
    if not isinstance(body, Mapping):
        raise BadRequestData("The temporal entity must be a JSON object")
    entity_id = None
    if require_id or "id" in body:
        if "id" not in body:
            raise BadRequestData("The temporal entity has no id")
        entity_id = check_entity_id(body["id"])
    if require_id and "type" not in body:
        raise BadRequestData("The temporal entity has no type")
    types = expand_types(body["type"], expand) if "type" in body else []
    attrs: dict[str, list[dict[str, Any]]] = {}
    scopes = None
    raw_scope = body.get("scope")
    if isinstance(raw_scope, str) or (
        isinstance(raw_scope, list) and all(isinstance(s, str) for s in raw_scope)
    ):
        scopes = check_scopes(raw_scope)
    elif raw_scope is not None:
        scope_items = _raw_instances("scope", raw_scope)
        attrs[SCOPE] = [normalize_instance(SCOPE, x, expand, now=now) for x in scope_items]
        scopes = check_scopes(attrs[SCOPE][-1]["value"])
    for name, raw in body.items():
        if name in ENTITY_MEMBERS:
            continue
        check_name(name)
        iri = expand(name)
        items = _raw_instances(name, raw)
        attrs[iri] = [normalize_instance(iri, x, expand, now=now) for x in items]
    return TemporalFragment(entity_id, types, scopes, attrs)


def merge_temporal_entity(
    existing: TemporalEntityRow | None, fragment: TemporalFragment, entity_id: str, now: float
) -> TemporalEntityRow:
    """The temporal entity after a provision: new types added (clauses 5.6.11, 5.6.12)."""
    if existing is None:
        return TemporalEntityRow(entity_id, list(fragment.types), fragment.scopes or [], now, now)
    types = existing.types + [t for t in fragment.types if t not in existing.types]
    scopes = existing.scopes if fragment.scopes is None else fragment.scopes
    return TemporalEntityRow(entity_id, types, scopes, existing.created_at, now)


def replace_history_instance(
    row: HistoryRow, instance: dict[str, Any], *, now: float
) -> HistoryRow:
    """The row after "Modify Attribute instance" (clause 5.6.14): the new instance
    keeps the row's instanceId, datasetId and createdAt; modifiedAt becomes ``now``."""
    data = {k: v for k, v in instance.items() if k != "datasetId"}
    data["createdAt"] = row.data.get("createdAt", stamp(now))
    data["modifiedAt"] = stamp(now)
    if row.dataset_id:
        data["datasetId"] = row.dataset_id
    observed = data.get("observedAt")
    return HistoryRow(
        entity_id=row.entity_id,
        attr=row.attr,
        instance_id=row.instance_id,
        dataset_id=row.dataset_id,
        observed_at=_epoch(observed, "observedAt") if observed else None,
        modified_at=now,
        data=data,
        num=scalar_of(data)[0],
    )


# --- selection ------------------------------------------------------------------------


def timed_rows(rows: Sequence[HistoryRow], spec: TemporalQuerySpec) -> Timed:
    """Rows of the asked datasets with their sort time, ascending."""
    timed = []
    for row in rows:
        if spec.dataset_ids is not None and row.dataset_id not in spec.dataset_ids:
            continue
        t = instance_time(row, spec.timeproperty)
        timed.append((row.modified_at if t is None else t, row))
    timed.sort(key=lambda pair: pair[0])
    return timed


def series_key(row: HistoryRow) -> tuple[str, str, str]:
    return row.entity_id, row.attr, row.dataset_id


def last_n_of(timed: Timed, n: int) -> Timed:
    seen: dict[tuple[str, str, str], int] = {}
    kept = []
    for pair in reversed(timed):
        key = series_key(pair[1])
        seen[key] = seen.get(key, 0) + 1
        if seen[key] <= n:
            kept.append(pair)
    kept.reverse()
    return kept
