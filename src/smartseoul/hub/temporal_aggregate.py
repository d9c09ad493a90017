"""Aggregation of attribute instances over time periods (clause 4.5.19).

Plain functions over ``(time, value)`` points; :mod:`smartseoul.hub.temporal`
turns history rows into points and the results into the aggregated temporal
representation.

Decisions where the specification leaves room
---------------------------------------------
* **Periods** start at ``start`` and follow each other without gaps; a period
  holds the points with ``lo <= t < hi``. Only periods holding at least one
  point are returned, as in the example of clause C.5.14.
* **Durations** (``P[n]Y[n]M[n]DT[n]H[n]M[n]S`` or ``P[n]W``) are split into
  calendar months (years count 12) and exact seconds (a day is 86 400 s: times
  are UTC, which has no daylight saving). Months are calendar-aware: the k-th
  boundary is ``start`` plus ``k`` times the months, with the day clamped to the
  end of the month (Jan 31 + P1M = Feb 28/29), plus ``k`` times the seconds.
  Fractions are accepted on weeks, days, hours, minutes and seconds only.
* **stddev** is the population standard deviation (divides by n), so a period
  with one value has a deviation of 0.
* Value types follow tables 4.5.19.1-1 to -3: booleans count as 1/0; arrays
  contribute their size to avg/min/max/sum; strings order lexicographically for
  min/max; ``DateTime``/``Date``/``Time`` typed values order chronologically for
  min/max and ``Time`` values also average. A method that does not apply to
  any value of a period yields no entry for that period.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, datetime
from typing import Any

import orjson

from smartseoul.hub.errors import BadRequestData

_DURATION = re.compile(
    r"P(?!$)(?:(?P<weeks>\d+(?:[.,]\d+)?)W|"
    r"(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<days>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+(?:[.,]\d+)?)H)?(?:(?P<minutes>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?)"
)
_SECONDS = {"weeks": 604800.0, "days": 86400.0, "hours": 3600.0, "minutes": 60.0, "seconds": 1.0}
# The first and last UTC second a datetime holds (years 1 to 9999).
FIRST_EPOCH = datetime.min.replace(tzinfo=UTC).timestamp()
LAST_EPOCH = datetime.max.replace(tzinfo=UTC, microsecond=0).timestamp()


@dataclass(frozen=True, slots=True)
class Duration:
    """An ISO 8601 duration: whole calendar months plus exact seconds."""

    months: int = 0
    seconds: float = 0.0

    @property
    def is_zero(self) -> bool:
        """A zero duration means "one period spanning the whole time range" (clause 4.5.19.1)."""
        return self.months == 0 and self.seconds == 0

    def shift(self, t: float, k: int) -> float:
        """``t`` moved forward by ``k`` times this duration (epoch seconds, UTC); infinity
        past the year 9999, which no stored time reaches."""
        if self.months:
            d = datetime.fromtimestamp(t, UTC)
            year, month0 = divmod(d.month - 1 + k * self.months, 12)
            year += d.year
            if year > MAXYEAR:
                return math.inf
            day = min(d.day, calendar.monthrange(year, month0 + 1)[1])
            t = d.replace(year=year, month=month0 + 1, day=day).timestamp()
        return t + k * self.seconds


def parse_duration(text: str, *, param: str = "aggrPeriodDuration") -> Duration:
    """Parse an ISO 8601 duration as clause 4.5.19.1 restricts it.

    Examples
    --------
    >>> parse_duration("PT4M")
    Duration(months=0, seconds=240.0)
    >>> parse_duration("P1Y2M3D")
    Duration(months=14, seconds=259200.0)
    >>> parse_duration("P0D").is_zero
    True
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise BadRequestData(
            f"{param}: {text!r} is not an ISO 8601 duration such as PT1H, P1D, P1M or P1W"
        )
    parts = match.groupdict()
    months = 12 * int(parts["years"] or 0) + int(parts["months"] or 0)
    seconds = sum(
        float(parts[name].replace(",", ".")) * factor
        for name, factor in _SECONDS.items()
        if parts[name]
    )
    return Duration(months, seconds)


# --- value typing -----------------------------------------------------------

_TEMPORAL_TYPES = ("DateTime", "Date", "Time")


def _temporal_type(value: dict[str, Any]) -> str | None:
    """``"DateTime"``, ``"Date"`` or ``"Time"`` for a typed value ``{"@type", "@value"}``."""
    kind = value.get("@type")
    if not isinstance(kind, str) or not isinstance(value.get("@value"), str):
        return None
    short = kind.rsplit("/", 1)[-1].rsplit("#", 1)[-1].rsplit(":", 1)[-1]
    return short if short in _TEMPORAL_TYPES else None


def _time_of_day(text: str) -> float:
    h, m, s = text.rstrip("Z").split(":")
    return int(h) * 3600 + int(m) * 60 + float(s.replace(",", "."))


def _chrono_key(value: dict[str, Any], kind: str) -> Any:
    text: str = value["@value"]
    if kind == "DateTime":
        return datetime.fromisoformat(text.replace(",", ".")).timestamp()
    if kind == "Time":
        return _time_of_day(text)
    return text  # Date: YYYY-MM-DD orders lexicographically


def _numbers(values: Sequence[Any], *, arrays: bool) -> list[float]:
    """Numeric projection: numbers, booleans as 1/0 and (optionally) array sizes."""
    out: list[float] = []
    for v in values:
        t = type(v)
        if t is int or t is float:
            out.append(v)
        elif t is bool:
            out.append(1 if v else 0)
        elif arrays and t is list:
            out.append(len(v))
    return out


def _times_of_day(values: Sequence[Any]) -> tuple[list[float], dict[str, Any] | None]:
    secs: list[float] = []
    sample = None
    for v in values:
        if type(v) is dict and _temporal_type(v) == "Time":
            secs.append(_time_of_day(v["@value"]))
            sample = v
    return secs, sample


def _format_time_of_day(seconds: float, like: dict[str, Any]) -> dict[str, Any]:
    whole = int(seconds)
    micro = round((seconds - whole) * 1e6)
    text = f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"
    if micro:
        text += f".{micro:06d}"
    return {"@type": like["@type"], "@value": text + ("Z" if like["@value"].endswith("Z") else "")}


# --- methods ------------------------------------------------------------------

_NA = object()  # the method does not apply to any value of the period


def _total_count(values: Sequence[Any]) -> Any:
    return len(values)


def _distinct_key(v: Any) -> Any:
    if type(v) is bool:
        return ("bool", v)
    if isinstance(v, str | int | float) or v is None:
        return v
    return orjson.dumps(v, option=orjson.OPT_SORT_KEYS)


_PLAIN = frozenset({int, float, str})


def _distinct_count(values: Sequence[Any]) -> Any:
    if {type(v) for v in values} <= _PLAIN:  # hashable, and no bool to confuse with 1/0
        return len(set(values))
    return len({_distinct_key(v) for v in values})


def _sum(values: Sequence[Any]) -> Any:
    nums = _numbers(values, arrays=True)
    return sum(nums) if nums else _NA


def _avg(values: Sequence[Any]) -> Any:
    nums = _numbers(values, arrays=True)
    if nums:
        return sum(nums) / len(nums)
    secs, sample = _times_of_day(values)
    if sample is None:
        return _NA
    return _format_time_of_day(sum(secs) / len(secs), sample)


def _sumsq(values: Sequence[Any]) -> Any:
    nums = _numbers(values, arrays=False)
    return sum(x * x for x in nums) if nums else _NA


def _stddev(values: Sequence[Any]) -> Any:
    nums = _numbers(values, arrays=False)
    if not nums:
        return _NA
    mean = sum(nums) / len(nums)
    return math.sqrt(sum((x - mean) ** 2 for x in nums) / len(nums))


def _extreme(values: Sequence[Any], pick: Callable[..., Any]) -> Any:
    """min or max: numbers/booleans first, then typed times, array sizes, strings."""
    numeric = [v for v in values if type(v) in (int, float, bool)]
    if numeric:
        return pick(numeric)
    timed = [(v, kind) for v in values if type(v) is dict and (kind := _temporal_type(v))]
    if timed:
        return pick(timed, key=lambda vk: _chrono_key(*vk))[0]
    sizes = [len(v) for v in values if type(v) is list]
    if sizes:
        return pick(sizes)
    strings = [v for v in values if type(v) is str]
    return pick(strings) if strings else _NA


def _min(values: Sequence[Any]) -> Any:
    return _extreme(values, min)


def _max(values: Sequence[Any]) -> Any:
    return _extreme(values, max)


AGGREGATION_METHODS: dict[str, Callable[[Sequence[Any]], Any]] = {
    "totalCount": _total_count,
    "distinctCount": _distinct_count,
    "sum": _sum,
    "avg": _avg,
    "min": _min,
    "max": _max,
    "stddev": _stddev,
    "sumsq": _sumsq,
}
"""The aggrMethods of clause 4.5.19.1, by name."""

RELATIONSHIP_METHODS = frozenset({"totalCount", "distinctCount"})
"""The only methods that apply to Relationships and other URI values (table 4.5.19.1-3)."""


def _flatten(values: Sequence[Any]) -> list[Any]:
    flat: list[Any] = []
    for v in values:
        if type(v) is list:
            flat.extend(v)
        else:
            flat.append(v)
    return flat


# --- periods ------------------------------------------------------------------

Bucket = tuple[float, float, list[Any]]


def periods(
    points: Sequence[tuple[float, Any]],
    period: Duration | None,
    *,
    start: float | None = None,
    end: float | None = None,
) -> list[Bucket]:
    """Group points (sorted by time) into non-empty periods ``(lo, hi, values)``.

    With no period (or a zero one) there is one period ``[start, end]``; ``end``
    defaults to the time of the last point. Period ends are clipped to ``end``.

    Examples
    --------
    >>> periods([(0, "a"), (5, "b"), (65, "c")], Duration(seconds=60))
    [(0.0, 60.0, ['a', 'b']), (60.0, 120.0, ['c'])]
    """
    if not points:
        return []
    first = points[0][0] if start is None else start
    if period is None or period.is_zero:
        last = points[-1][0] if end is None else end
        return [(float(first), float(last), [v for _, v in points])]
    out: list[Bucket] = []
    k, lo, hi = -1, 0.0, -math.inf
    for t, v in points:
        if t >= hi or t < lo:
            if period.months:
                k = max(k, 0)
                while period.shift(first, k + 1) <= t:
                    k += 1
            else:
                k = math.floor((t - first) / period.seconds)
            lo, hi = period.shift(first, k), period.shift(first, k + 1)
            out.append((float(lo), float(hi if end is None else min(hi, end)), []))
        out[-1][2].append(v)
    return out


def aggregate(
    points: Sequence[tuple[float, Any]],
    methods: Sequence[str],
    *,
    period: Duration | None = None,
    start: float | None = None,
    end: float | None = None,
    relationship: bool = False,
) -> dict[str, list[tuple[Any, float, float]]]:
    """Apply each aggregation method to the values of each period.

    ``points`` are ``(epoch seconds, value)`` pairs sorted by time. With
    ``relationship`` the values are Relationship objects (URIs or lists of
    URIs): only counts apply and distinctCount counts distinct targets. A method
    that applies to no value at all is left out of the result.

    Examples
    --------
    >>> pts = [(0, 120), (300, 80), (400, 100)]
    >>> aggregate(pts, ["max", "avg"], period=Duration(seconds=240))
    {'max': [(120, 0.0, 240.0), (100, 240.0, 480.0)], 'avg': [(120.0, 0.0, 240.0), (90.0, 240.0, 480.0)]}
    """
    buckets = periods(points, period, start=start, end=end)
    result: dict[str, list[tuple[Any, float, float]]] = {}
    for name in methods:
        if relationship and name not in RELATIONSHIP_METHODS:
            continue
        method = AGGREGATION_METHODS[name]
        series = []
        for lo, hi, values in buckets:
            value = method(_flatten(values) if relationship and name == "distinctCount" else values)
            if value is not _NA:
                series.append((value, lo, hi))
        if series:
            result[name] = series
    return result
