"""Benchmark of the safe-city siting solvers (services/safety).

Run from the repository root with the project's virtualenv (spopt only for figure 2)::

    .venv/bin/pip install spopt          # PySAL's spatial optimisation, for the comparison
    .venv/bin/python bench/safety.py
    .venv/bin/python bench/safety.py --quick --json var/bench-safety.json

Figures, each next to a baseline measured in the same run:

1. MCLP on small random instances: objective vs exhaustive search over every p-subset.
2. MCLP vs spopt's MCLP (PuLP + CBC) on the same instances: same objective, solve-time ratio.
3. A 5,000-demand x 1,000-candidate instance: seconds to proven optimality with HiGHS, and
   the greedy + swap heuristic's objective, seconds and gap to the LP bound.
4. The worked Seoul example of docs/safety.md (when ../shared/data/safety exists).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from smartseoul.services.safety.siting import CoverageProblem, solve_mclp

SAFETY_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "safety"


def random_instance(
    seed: int, n: int, m: int, radius: float, *, side: float = 1000.0, clusters: int = 0
):
    rng = np.random.default_rng(seed)
    if clusters:
        centres = rng.uniform(0, side, (clusters, 2))
        demand = centres[rng.integers(0, clusters, n)] + rng.normal(0, side / 25, (n, 2))
    else:
        demand = rng.uniform(0, side, (n, 2))
    candidates = rng.uniform(0, side, (m, 2))
    weights = np.round(rng.lognormal(2, 1, n), 3)
    return demand, candidates, weights, radius


def exhaustive(problem: CoverageProblem, p: int) -> float:
    m = len(problem.candidate_ids)
    return max(float(problem.weights[problem.covered(list(s))].sum())
               for s in itertools.combinations(range(m), p))  # fmt: skip


def spopt_mclp(demand, candidates, weights, radius, p) -> tuple[float, float]:
    import pulp
    from scipy.spatial.distance import cdist
    from spopt.locate import MCLP

    cost = cdist(demand, candidates)
    start = time.perf_counter()
    model = MCLP.from_cost_matrix(cost, weights, radius, p_facilities=p)
    model.solve(pulp.PULP_CBC_CMD(msg=False))
    seconds = time.perf_counter() - start
    return float(pulp.value(model.problem.objective)), seconds


def figure_small(quick: bool) -> dict:
    seeds = range(5 if quick else 20)
    rows = []
    for seed in seeds:
        d, c, w, r = random_instance(seed, 60, 12, 180.0)
        problem = CoverageProblem.build(d, c, r, weights=w)
        for p in (2, 4):
            start = time.perf_counter()
            ours = solve_mclp(problem, p)
            ours_s = time.perf_counter() - start
            rows.append({"seed": seed, "p": p, "ours": ours.objective, "exhaustive": exhaustive(problem, p),
                         "ours_s": ours_s})  # fmt: skip
    agree = sum(abs(r["ours"] - r["exhaustive"]) <= 1e-6 * max(1, r["exhaustive"]) for r in rows)
    print(f"1. MCLP vs exhaustive search: {agree}/{len(rows)} instances with the same objective "
          f"(60 demand, 12 candidates, p = 2 and 4)")  # fmt: skip
    return {"instances": len(rows), "same_objective": agree}


def figure_spopt(quick: bool) -> dict:
    try:
        import spopt  # noqa: F401
    except ImportError:
        print("2. spopt comparison skipped: spopt is not installed (.venv/bin/pip install spopt)")
        return {"skipped": "spopt not installed"}
    out = {}
    for label, n, m, radius, p, seeds in [
        ("small", 60, 12, 180.0, 3, 10),
        ("medium", 2000, 300, 60.0, 20, 3),
    ]:
        if quick:
            seeds = min(seeds, 3)
        same, ours_t, theirs_t = 0, 0.0, 0.0
        for seed in range(seeds):
            d, c, w, r = random_instance(seed, n, m, radius)
            start = time.perf_counter()
            ours = solve_mclp(CoverageProblem.build(d, c, r, weights=w), p)
            ours_t += time.perf_counter() - start
            theirs, seconds = spopt_mclp(d, c, w, r, p)
            theirs_t += seconds
            same += abs(ours.objective - theirs) <= 1e-6 * max(1.0, theirs)
        ratio = theirs_t / ours_t
        print(f"2. vs spopt MCLP ({label}: {n} demand x {m} candidates, p = {p}, {seeds} seeds): "
              f"same objective {same}/{seeds}; ours {ours_t / seeds:.3f} s, spopt {theirs_t / seeds:.3f} s "
              f"per instance (spopt/ours = {ratio:.1f}x; both times include building the model)")  # fmt: skip
        out[label] = {"same": same, "seeds": seeds, "ours_s": ours_t / seeds,
                      "spopt_s": theirs_t / seeds, "ratio": ratio}  # fmt: skip
    return out


def figure_large(quick: bool) -> dict:
    out = {}
    cases = [(100, 1500.0, 0), (100, 800.0, 40)] if not quick else [(100, 800.0, 40)]
    for p, radius, clusters in cases:
        d, c, w, r = random_instance(42, 5000, 1000, radius, side=20_000.0, clusters=clusters)
        start = time.perf_counter()
        problem = CoverageProblem.build(d, c, r, weights=w)
        groups = problem.groups()[0].shape[0]
        build_s = time.perf_counter() - start
        exact = solve_mclp(problem, p, time_limit=60.0)
        heur = solve_mclp(problem, p, method="heuristic")
        kind = f"{clusters} clusters" if clusters else "uniform"
        print(f"3. 5,000 demand x 1,000 candidates ({kind}, radius {radius:g} m, p = {p}, "
              f"{problem.cover.nnz} coverage pairs, {groups} merged demand rows): build {build_s:.2f} s; "
              f"HiGHS {exact.status} in {exact.seconds:.2f} s, objective {exact.objective:.3f}"
              + (f", gap {100 * exact.gap:.3f}%" if exact.gap else "")
              + f"; greedy+swap {heur.objective:.3f} in {heur.seconds:.2f} s, gap to LP bound "
              f"{100 * (heur.gap or 0):.3f}% (true gap to the optimum "
              f"{100 * (exact.objective - heur.objective) / exact.objective:.3f}%)")  # fmt: skip
        out[kind] = {"status": exact.status, "seconds": exact.seconds, "objective": exact.objective,
                     "heuristic": heur.objective, "heuristic_s": heur.seconds, "lp_gap": heur.gap,
                     "build_s": build_s}  # fmt: skip
    return out


def figure_seoul() -> dict:
    if not (SAFETY_DATA / "district-stats").is_dir():
        print(f"4. Seoul example skipped: {SAFETY_DATA} not found")
        return {"skipped": "no data"}
    from smartseoul.services.safety.seoul import gu_siting_problem, seoul_districts

    seoul = seoul_districts(SAFETY_DATA)
    found = seoul.hotspots()
    print(f"4. Seoul: {sum(seoul.crimes.values()):.0f} crimes (2016), "
          f"{sum(seoul.population.values())} residents, {sum(seoul.cameras.values())} cameras")  # fmt: skip
    for k in np.argsort(-np.asarray(list(found.rates.values()))):
        a = found.areas[k]
        print(f"   {a.name}\t{found.counts[k]:6.0f}\t{found.rates[a.name]:6.2f}/1000\t"
              f"z {found.gi.z[k]:6.2f}\tp {found.gi.p_sim[k]:.3f}\tq {found.gi.q[k]:.3f}\t{found.gi.kind[k]}")  # fmt: skip
    allocation = seoul.allocation(1000)
    shares = {k: v["allocated"] for k, v in allocation.items() if v["allocated"]}
    print(f"   1,000 new cameras by need: {dict(sorted(shares.items(), key=lambda kv: -kv[1]))}")
    gu = max(shares, key=lambda k: shares[k])
    problem, info = gu_siting_problem(seoul, gu)
    print(f"   {gu}: {info['cells']} cells of 100 m ({info['area_km2']:.2f} km2), {info['crimes']:.0f} crimes, "
          f"{info['cameras']} cameras; share of crime weight left uncovered by them "
          f"{100 * info['uncovered_share']:.1f}%")  # fmt: skip
    curve = []
    for p in (0, 50, 100, shares[gu], 300):
        r = solve_mclp(problem, p)
        curve.append({"p": p, "objective": r.objective, "coverage": r.coverage, "status": r.status,
                      "seconds": r.seconds})  # fmt: skip
        print(f"   p = {p:3d}: covers {r.objective:8.2f} of {r.total_weight:.2f} residual crime weight "
              f"({100 * r.coverage:5.2f}%), {r.status} in {r.seconds:.2f} s")  # fmt: skip
    return {"allocation": shares, "gu": gu, "info": info, "curve": curve}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer seeds and cases")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")  # fmt: skip
    figures = {"small": figure_small(args.quick), "spopt": figure_spopt(args.quick),
               "large": figure_large(args.quick), "seoul": figure_seoul()}  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=1, default=str))


if __name__ == "__main__":
    main()
