"""Budget what-ifs: coverage against the number of cameras, and N cameras shared across gu."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from smartseoul.services.safety.errors import SafetyInputError
from smartseoul.services.safety.siting import CoverageProblem, solve_mclp

__all__ = [
    "CurvePoint",
    "allocate_cameras",
    "coverage_curve",
    "largest_remainder",
    "residual_demand",
]


@dataclass(frozen=True)
class CurvePoint:
    """Covered weight with ``p`` new cameras (``gap`` 0 when proven optimal)."""

    p: int
    objective: float
    coverage: float
    status: str
    gap: float
    seconds: float


def coverage_curve(
    problem: CoverageProblem,
    ps: Iterable[int],
    *,
    method: Literal["exact", "heuristic", "auto"] = "exact",
    time_limit: float | None = 60.0,
) -> list[CurvePoint]:
    """Solve the MCLP for each ``p``: the marginal value of each extra camera.

    The curve is concave in practice for the exact method (each camera adds less than
    the one before) and never decreases.
    """
    out = []
    for p in sorted(set(ps)):
        r = solve_mclp(problem, p, method=method, time_limit=time_limit)
        out.append(CurvePoint(p, r.objective, r.coverage, r.status, r.gap or 0.0, r.seconds))
    return out


def largest_remainder(n: int, shares: Mapping[str, float]) -> dict[str, int]:
    """Split ``n`` whole units in proportion to ``shares`` (Hamilton's method).

    Each area gets the floor of its quota; the units left go to the largest remainders
    (ties: the larger share, then the name). The result sums to ``n`` exactly.

    Examples
    --------
    >>> largest_remainder(10, {"a": 1, "b": 1, "c": 1})
    {'a': 4, 'b': 3, 'c': 3}
    """
    if n < 0:
        raise SafetyInputError(f"the number of cameras must be 0 or more, got {n}")
    total = sum(shares.values())
    if any(v < 0 or not math.isfinite(v) for v in shares.values()):
        raise SafetyInputError("shares must be finite and non-negative")
    if total <= 0:
        raise SafetyInputError("no area has any need: nothing to allocate by")
    quota = {k: n * v / total for k, v in shares.items()}
    out = {k: math.floor(q) for k, q in quota.items()}
    left = n - sum(out.values())
    for k in sorted(quota, key=lambda k: (-(quota[k] - out[k]), -shares[k], k))[:left]:
        out[k] += 1
    return out


def allocate_cameras(
    n: int, crimes: Mapping[str, float], existing: Mapping[str, float] | None = None
) -> dict[str, dict[str, float]]:
    """Share ``n`` new cameras across areas by need.

    Need is the shortfall against a crime-proportional share of all cameras, existing
    plus new: area ``a`` "should" have ``T c_a / C`` of the ``T = E + n`` cameras, where
    ``c_a`` are its crimes, ``C`` all crimes and ``E`` the existing cameras; its need is
    ``max(0, T c_a / C - e_a)``. The ``n`` cameras are split in proportion to need with
    :func:`largest_remainder`. Without existing cameras this is a plain crime-proportional
    split (crime count share equals crime rate per resident times population share).

    Returns ``{area: {"crimes", "existing", "target", "need", "allocated"}}``.

    Examples
    --------
    >>> plan = allocate_cameras(10, {"a": 60, "b": 40}, {"a": 10, "b": 20})
    >>> {k: v["allocated"] for k, v in plan.items()}
    {'a': 10, 'b': 0}
    """
    existing = existing or {}
    missing = [k for k in existing if k not in crimes]
    if missing:
        raise SafetyInputError(f"cameras given for areas without crime figures: {missing}")
    total_crimes = float(sum(crimes.values()))
    if total_crimes <= 0:
        raise SafetyInputError("no crimes in any area: nothing to allocate by")
    total = float(sum(existing.values())) + n
    target = {k: total * c / total_crimes for k, c in crimes.items()}
    need = {k: max(0.0, target[k] - existing.get(k, 0.0)) for k in crimes}
    allocated = largest_remainder(n, need) if n else dict.fromkeys(crimes, 0)
    return {
        k: {
            "crimes": float(crimes[k]),
            "existing": float(existing.get(k, 0.0)),
            "target": target[k],
            "need": need[k],
            "allocated": allocated[k],
        }
        for k in crimes
    }


def residual_demand(
    weights: np.ndarray, cameras: float, area_m2: float, radius: float
) -> np.ndarray:
    """Demand left uncovered by cameras known only as a count per area.

    With ``k`` cameras placed at random in an area ``A``, a point escapes each one's disc
    (``π r²``) independently, so it stays uncovered with probability
    ``(1 - π r² / A)^k``; the weights are scaled by that probability.

    Examples
    --------
    >>> residual_demand(np.array([100.0]), 10, 1e6, 100).round(1).tolist()
    [72.7]
    """
    if area_m2 <= 0:
        raise SafetyInputError("area must be positive")
    share = min(1.0, math.pi * radius**2 / area_m2)
    return np.asarray(weights, dtype=float) * (1 - share) ** cameras
