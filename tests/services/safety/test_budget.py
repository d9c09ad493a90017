"""Coverage curves and the allocation of cameras across gu."""

from __future__ import annotations

import numpy as np
import pytest

from smartseoul.services.safety.budget import allocate_cameras, coverage_curve, largest_remainder
from smartseoul.services.safety.errors import SafetyInputError
from smartseoul.services.safety.siting import CoverageProblem


def test_curve_never_decreases_and_ends_at_full_coverage():
    rng = np.random.default_rng(2)
    demand = rng.uniform(0, 1000, (60, 2))
    problem = CoverageProblem.build(demand, demand[:20], 200, weights=rng.integers(1, 9, 60))
    points = coverage_curve(problem, range(0, 21, 4))
    values = [p.objective for p in points]
    assert values == sorted(values) and values[0] == 0.0
    assert all(p.status == "optimal" and p.gap == 0 for p in points)
    marginal = np.diff(values)
    assert (marginal >= -1e-9).all()


def test_largest_remainder_sums_exactly():
    shares = {"a": 0.5, "b": 0.3, "c": 0.2, "d": 0.0}
    for n in range(0, 40):
        split = largest_remainder(n, shares)
        assert sum(split.values()) == n and split["d"] == 0
    # Quotas 7 × (1/3) = 2.33 each: the one left goes to the first by name on ties.
    assert largest_remainder(7, {"x": 1, "y": 1, "z": 1}) == {"x": 3, "y": 2, "z": 2}


def test_allocation_fills_the_shortfall_of_each_area():
    crimes = {"a": 500, "b": 300, "c": 200}
    existing = {"a": 10, "b": 60, "c": 10}
    plan = allocate_cameras(20, crimes, existing)
    # T = 80 + 20 = 100 cameras; targets 50, 30, 20; needs 40, 0, 10 -> 16, 0, 4.
    assert {k: v["allocated"] for k, v in plan.items()} == {"a": 16, "b": 0, "c": 4}
    assert plan["a"]["target"] == pytest.approx(50)
    assert sum(v["allocated"] for v in plan.values()) == 20
    with pytest.raises(SafetyInputError, match="without crime figures"):
        allocate_cameras(5, {"a": 1}, {"z": 3})
