"""MCLP and LSCP against exhaustive search; the heuristic's bound; errors that name the cause."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from smartseoul.services.safety.errors import GeometryError, InfeasibleError, SafetyInputError
from smartseoul.services.safety.siting import CoverageProblem, solve_lscp, solve_mclp


def random_problem(seed: int, *, demand=25, candidates=9, existing=2, radius=220.0):
    rng = np.random.default_rng(seed)
    return CoverageProblem.build(
        rng.uniform(0, 1000, (demand, 2)),
        rng.uniform(0, 1000, (candidates, 2)),
        radius,
        weights=rng.integers(1, 20, demand).astype(float),
        existing_xy=rng.uniform(0, 1000, (existing, 2)) if existing else None,
    )


def best_by_enumeration(problem: CoverageProblem, p: int) -> float:
    m = len(problem.candidate_ids)
    return max(
        float(problem.weights[problem.covered(list(s))].sum())
        for s in itertools.combinations(range(m), min(p, m))
    )


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("p", [1, 2, 4])
def test_mclp_matches_exhaustive_search(seed, p):
    problem = random_problem(seed)
    result = solve_mclp(problem, p)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(best_by_enumeration(problem, p))
    assert len(result.sites) <= p
    # The explanation: greedy-ordered additions sum to what the new sites add.
    added = sum(s.new_weight for s in result.sites)
    assert added == pytest.approx(result.objective - result.existing_weight)
    assert [s.new_weight for s in result.sites] == sorted(
        (s.new_weight for s in result.sites), reverse=True
    )


@pytest.mark.parametrize("seed", range(6))
def test_existing_cameras_are_fixed_and_precounted(seed):
    problem = random_problem(seed, existing=3)
    assert problem.existing.any()
    result = solve_mclp(problem, 2)
    covered = problem.covered(result.site_indices)
    assert covered[problem.existing].all()  # existing coverage is never lost
    assert result.objective == pytest.approx(float(problem.weights[covered].sum()))
    assert result.existing_weight == pytest.approx(float(problem.weights[problem.existing].sum()))
    # A site that only re-covers existing demand adds nothing.
    for site in result.sites:
        rows = problem.cover[:, site.index].nonzero()[0]
        fresh = rows[~problem.existing[rows]]
        assert site.new_weight <= problem.weights[fresh].sum() + 1e-9


def test_existing_camera_on_the_only_demand_leaves_nothing_to_do():
    problem = CoverageProblem.build([[0, 0]], [[10, 0], [500, 0]], 50, existing_xy=[[5, 0]])
    result = solve_mclp(problem, 1)
    assert result.objective == 1.0 and result.coverage == 1.0
    assert result.existing_weight == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_lscp_matches_exhaustive_search(seed):
    problem = random_problem(seed, demand=15, candidates=10, existing=0, radius=600.0)
    try:
        result = solve_lscp(problem)
    except InfeasibleError:
        pytest.skip("this random instance has uncoverable demand")
    everything = float(problem.weights.sum())
    smallest = next(
        k
        for k in range(11)
        if any(problem.covered(list(s)).all() for s in itertools.combinations(range(10), k))
    )
    assert len(result.sites) == smallest
    assert result.objective == pytest.approx(everything) and result.coverage == 1.0


@pytest.mark.parametrize("seed", range(6))
def test_heuristic_gap_is_proven(seed):
    problem = random_problem(seed, demand=200, candidates=40, existing=3, radius=150.0)
    exact = solve_mclp(problem, 6)
    greedy = solve_mclp(problem, 6, method="heuristic")
    assert greedy.status == "heuristic" and greedy.solver == "greedy+swap"
    assert greedy.bound is not None and greedy.gap is not None
    assert greedy.gap >= 0
    assert greedy.bound >= exact.objective - 1e-9 >= greedy.objective - 1e-9
    assert greedy.gap == pytest.approx((greedy.bound - greedy.objective) / greedy.bound)


def test_time_limit_reports_the_gap():
    # A tiny time limit on a larger instance: either proven optimal or a bounded gap.
    problem = random_problem(3, demand=3000, candidates=600, existing=0, radius=60.0)
    result = solve_mclp(problem, 40, method="auto", time_limit=0.01)
    if result.status != "optimal":
        assert result.bound is not None and result.bound >= result.objective
        assert 0 <= (result.gap or 0) < 1


def test_infeasible_lscp_names_the_uncovered_demand():
    demand = [[0, 0], [100, 0], [5000, 5000]]
    problem = CoverageProblem.build(demand, [[0, 10], [100, 10]], 50, demand_ids=["a", "b", "far"])
    with pytest.raises(InfeasibleError, match="far") as caught:
        solve_lscp(problem)
    assert caught.value.demand_ids == ["far"]
    assert "50 m" in str(caught.value)


def test_bad_geometry_and_parameters_name_the_cause():
    with pytest.raises(GeometryError, match=r"demand point 1: coordinates \[nan, 0.0\]"):
        CoverageProblem.build([[0, 0], [float("nan"), 0]], [[0, 0]], 10)
    with pytest.raises(GeometryError, match="candidates: coordinates must be"):
        CoverageProblem.build([[0, 0]], [1, 2, 3], 10)
    with pytest.raises(SafetyInputError, match="radius"):
        CoverageProblem.build([[0, 0]], [[0, 0]], 0)
    with pytest.raises(SafetyInputError, match="0 or more"):
        solve_mclp(CoverageProblem.build([[0, 0]], [[0, 0]], 1), -1)
