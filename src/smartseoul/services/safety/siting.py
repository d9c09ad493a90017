"""Camera siting: the Maximal Covering and Location Set Covering problems, solved exactly.

A demand point is *covered* when a camera stands within ``radius`` metres. Existing
cameras are fixed: the demand they cover is counted once and leaves the model. Demand
points covered by the same set of candidates are merged (their weights added), which
keeps the model small without changing its optimum.

MCLP (Church and ReVelle 1974): choose at most ``p`` candidates to maximise the covered
weight ``Σ w_i z_i`` subject to ``z_i ≤ Σ_{j covers i} y_j``, ``Σ y_j ≤ p``, ``y`` binary,
``0 ≤ z ≤ 1`` (``z`` is integral at an optimum once ``y`` is). LSCP (Toregas et al. 1971):
the fewest candidates covering every demand point. Both go to HiGHS (highspy) with a zero
relative gap, so ``status == "optimal"`` means proven optimal.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from smartseoul.services.safety.errors import GeometryError, InfeasibleError, SafetyInputError

__all__ = [
    "CoverageProblem",
    "SiteExplanation",
    "SitingResult",
    "explain_sites",
    "solve_lscp",
    "solve_mclp",
]

Status = Literal["optimal", "time_limit", "heuristic"]


@dataclass
class CoverageProblem:
    """Demand, candidates and who covers whom, with existing cameras already counted.

    Attributes
    ----------
    cover
        Boolean CSR matrix, demand × candidate: candidate ``j`` is within ``radius`` of
        demand ``i``.
    existing
        Demand points already covered by an existing camera.
    """

    demand_ids: list[str]
    weights: np.ndarray
    candidate_ids: list[str]
    cover: sparse.csr_matrix
    existing: np.ndarray
    radius: float
    _groups: tuple[sparse.csr_matrix, np.ndarray, np.ndarray] | None = field(
        default=None, repr=False
    )

    @classmethod
    def build(
        cls,
        demand_xy: np.ndarray,
        candidate_xy: np.ndarray,
        radius: float,
        *,
        weights: np.ndarray | None = None,
        existing_xy: np.ndarray | None = None,
        demand_ids: list[str] | None = None,
        candidate_ids: list[str] | None = None,
    ) -> CoverageProblem:
        """Build the coverage matrix with KD-trees (coordinates in metres)."""
        demand_xy = _xy(demand_xy, "demand")
        candidate_xy = _xy(candidate_xy, "candidates")
        if not np.isfinite(radius) or radius <= 0:
            raise SafetyInputError(f"radius must be a positive number of metres, got {radius}")
        n, m = len(demand_xy), len(candidate_xy)
        if n == 0 or m == 0:
            raise SafetyInputError(f"need demand and candidates, got {n} demand and {m} candidates")
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
        if w.shape != (n,) or (w < 0).any() or not np.isfinite(w).all():
            raise SafetyInputError("demand weights must be one finite non-negative number a point")
        lists = cKDTree(candidate_xy).query_ball_point(demand_xy, radius, return_sorted=True)
        lengths = np.fromiter((len(c) for c in lists), dtype=np.int64, count=n)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        indices = np.fromiter((j for c in lists for j in c), dtype=np.int32, count=int(indptr[-1]))
        cover = sparse.csr_matrix(
            (np.ones(len(indices), dtype=bool), indices, indptr), shape=(n, m)
        )
        existing = np.zeros(n, dtype=bool)
        if existing_xy is not None and len(existing_xy):
            dist, _ = cKDTree(_xy(existing_xy, "existing cameras")).query(demand_xy, k=1)
            existing = dist <= radius
        return cls(
            demand_ids=demand_ids or [str(i) for i in range(n)],
            weights=w,
            candidate_ids=candidate_ids or [str(j) for j in range(m)],
            cover=cover,
            existing=existing,
            radius=float(radius),
        )

    @property
    def total_weight(self) -> float:
        return float(self.weights.sum())

    @property
    def existing_weight(self) -> float:
        return float(self.weights[self.existing].sum())

    def groups(self) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
        """Open demand merged by identical candidate sets: (cover, weights, group of each point).

        Open demand is neither covered by an existing camera nor out of every candidate's
        reach. ``group[i]`` is ``-1`` for other points.
        """
        if self._groups is None:
            open_rows = np.flatnonzero(~self.existing & (np.diff(self.cover.indptr) > 0))
            keys: dict[bytes, int] = {}
            group = np.full(len(self.demand_ids), -1, dtype=np.int64)
            first: list[int] = []
            for i in open_rows:
                row = self.cover.indices[self.cover.indptr[i] : self.cover.indptr[i + 1]]
                g = keys.setdefault(row.tobytes(), len(first))
                if g == len(first):
                    first.append(int(i))
                group[i] = g
            w = np.bincount(group[open_rows], weights=self.weights[open_rows], minlength=len(first))
            cover = self.cover[np.array(first, dtype=np.int64)] if first else self.cover[:0]
            self._groups = (sparse.csr_matrix(cover, dtype=np.float64), w, group)
        return self._groups

    def covered(self, sites: list[int] | np.ndarray) -> np.ndarray:
        """Demand covered by the existing cameras or any of ``sites``."""
        chosen = np.zeros(len(self.candidate_ids))
        chosen[np.asarray(sites, dtype=np.int64)] = 1
        return self.existing | (self.cover @ chosen > 0)


def _xy(values: Any, what: str) -> np.ndarray:
    xy = np.asarray(values, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise GeometryError(f"{what}: coordinates must be (n, 2) x, y pairs, got shape {xy.shape}")
    bad = np.flatnonzero(~np.isfinite(xy).all(axis=1))
    if bad.size:
        raise GeometryError(
            f"{what} point {int(bad[0])}: coordinates {xy[bad[0]].tolist()} are not finite"
        )
    return xy


@dataclass(frozen=True)
class SiteExplanation:
    """What one chosen site adds, in the order sites are explained.

    ``new_weight``/``new_points``: demand first covered by this site when sites are added
    greedily (largest addition first) on top of the existing cameras; the additions sum
    to the plan's new coverage. ``unique_weight``: demand no other camera covers (lost if
    this site were dropped).
    """

    index: int
    id: str
    new_weight: float
    new_points: int
    unique_weight: float


@dataclass
class SitingResult:
    """A plan: chosen candidates (in explanation order), coverage and how it was proven."""

    model: Literal["mclp", "lscp"]
    sites: list[SiteExplanation]
    objective: float
    coverage: float
    existing_weight: float
    total_weight: float
    solver: str
    status: Status
    seconds: float
    bound: float | None = None
    gap: float | None = None

    @property
    def site_indices(self) -> list[int]:
        return [s.index for s in self.sites]


def explain_sites(problem: CoverageProblem, sites: list[int] | np.ndarray) -> list[SiteExplanation]:
    """Order the sites greedily and attribute to each the demand it newly covers."""
    remaining = [int(j) for j in sites]
    cover = problem.cover.tocsc()
    w = problem.weights
    covered = problem.existing.copy()
    counts = problem.cover[:, remaining].sum(axis=1).A1 if remaining else np.zeros(len(w))
    counts = counts + problem.existing
    out: list[SiteExplanation] = []
    while remaining:
        rows = [cover.indices[cover.indptr[j] : cover.indptr[j + 1]] for j in remaining]
        fresh = [r[~covered[r]] for r in rows]
        gains = [float(w[f].sum()) for f in fresh]
        k = max(range(len(remaining)), key=lambda i: (gains[i], -remaining[i]))
        j, r = remaining.pop(k), rows[k]
        covered[fresh[k]] = True
        out.append(SiteExplanation(j, problem.candidate_ids[j], gains[k], len(fresh[k]),
                                   float(w[r[counts[r] == 1]].sum())))  # fmt: skip
    return out


_BANNER = threading.Lock()
_banner_shown = False


def new_highs(*, time_limit: float | None = None) -> Any:
    """A silent HiGHS instance (its one-time banner would corrupt ``--json`` output)."""
    import highspy

    global _banner_shown
    with _BANNER:
        if _banner_shown:
            h = highspy.Highs()
        else:
            sys.stdout.flush()
            saved = os.dup(1)
            try:
                os.dup2(2, 1)  # the banner goes to stderr
                h = highspy.Highs()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
            _banner_shown = True
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("threads", 1)
    if time_limit:
        h.setOptionValue("time_limit", float(time_limit))
    return h


def mclp_model(
    cover: sparse.csr_matrix, w: np.ndarray, p: int, *, integer: bool, time_limit: float | None
) -> Any:
    """HiGHS model of the MCLP on merged demand: columns ``y`` (candidates) then ``z`` (groups)."""
    import highspy

    n, m = cover.shape
    h = new_highs(time_limit=time_limit)
    inf = highspy.kHighsInf
    h.addVars(m + n, np.zeros(m + n), np.ones(m + n))
    h.changeColsCost(m + n, np.arange(m + n, dtype=np.int32), np.concatenate([np.zeros(m), w]))
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    if integer and m:
        h.changeColsIntegrality(m, np.arange(m, dtype=np.int32),
                                np.full(m, highspy.HighsVarType.kInteger))  # fmt: skip
    # z_g - sum_j a_gj y_j <= 0 for each group; sum_j y_j <= p.
    rows = sparse.hstack([-cover, sparse.identity(n, format="csr")], format="csr")
    h.addRows(n, np.full(n, -inf), np.zeros(n), rows.nnz, rows.indptr[:-1].astype(np.int32),
              rows.indices.astype(np.int32), rows.data.astype(float))  # fmt: skip
    h.addRow(-inf, float(p), m, np.arange(m, dtype=np.int32), np.ones(m))
    return h


def solve_mclp(
    problem: CoverageProblem,
    p: int,
    *,
    method: Literal["exact", "heuristic", "auto"] = "exact",
    time_limit: float | None = 60.0,
) -> SitingResult:
    """Choose at most ``p`` new sites covering the most demand weight.

    ``exact`` solves the MILP with HiGHS; when the time limit stops it, the result carries
    the incumbent, HiGHS's bound and the gap. ``heuristic`` runs greedy + swap local
    search and reports its gap to the LP relaxation. ``auto`` is ``exact``, falling back to
    the better of the incumbent and the heuristic if the time limit is reached.

    Examples
    --------
    >>> import numpy as np
    >>> demand = np.array([[0, 0], [100, 0], [1000, 0]])
    >>> problem = CoverageProblem.build(demand, demand, 150, weights=np.array([1, 1, 5]))
    >>> result = solve_mclp(problem, 1)
    >>> result.objective, [s.id for s in result.sites], result.status
    (5.0, ['2'], 'optimal')
    """
    from smartseoul.services.safety.heuristic import greedy_swap, lp_bound

    if p < 0:
        raise SafetyInputError(f"the number of new cameras must be 0 or more, got {p}")
    start = time.perf_counter()
    cover, w, _ = problem.groups()
    base = problem.existing_weight
    if method == "heuristic":
        sites = greedy_swap(cover, w, p)
        bound = base + lp_bound(cover, w, p)
        return _result(problem, "mclp", sites, "greedy+swap", "heuristic", start, bound)
    if p == 0 or cover.shape[0] == 0:
        return _result(problem, "mclp", [], "highs", "optimal", start, base)
    h = mclp_model(cover, w, min(p, cover.shape[1]), integer=True, time_limit=time_limit)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    values = np.asarray(h.getSolution().col_value)
    sites = [int(j) for j in np.flatnonzero(values[: cover.shape[1]] > 0.5)] if len(values) else []
    if status == "Optimal":
        return _result(problem, "mclp", sites, "highs", "optimal", start, None)
    if status != "Time limit reached":
        raise SafetyInputError(f"HiGHS could not solve the MCLP: {status}")
    dual = float(info.mip_dual_bound)
    # Stopped before the root LP: no MIP bound yet, so bound by the LP relaxation.
    bound = base + (dual if np.isfinite(dual) else lp_bound(cover, w, p))
    result = _result(problem, "mclp", sites, "highs", "time_limit", start, bound)
    if method == "auto":
        greedy = _result(problem, "mclp", greedy_swap(cover, w, p), "greedy+swap", "time_limit",
                         start, bound)  # fmt: skip
        if greedy.objective > result.objective:
            result = greedy
    return result


def solve_lscp(problem: CoverageProblem, *, time_limit: float | None = 60.0) -> SitingResult:
    """The fewest new sites so that every demand point is covered.

    Raises
    ------
    InfeasibleError
        Some demand point has no existing camera and no candidate within the radius; the
        error names those points.
    """
    start = time.perf_counter()
    reach = np.diff(problem.cover.indptr) > 0
    lost = np.flatnonzero(~problem.existing & ~reach)
    if lost.size:
        ids = [problem.demand_ids[i] for i in lost]
        shown = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
        raise InfeasibleError(
            f"LSCP infeasible: {len(ids)} demand point(s) have no candidate site or existing "
            f"camera within {problem.radius:g} m: {shown}",
            ids,
        )
    import highspy

    cover, _, _ = problem.groups()
    n, m = cover.shape
    if n == 0:
        return _result(problem, "lscp", [], "highs", "optimal", start, None)
    h = new_highs(time_limit=time_limit)
    h.addVars(m, np.zeros(m), np.ones(m))
    h.changeColsCost(m, np.arange(m, dtype=np.int32), np.ones(m))
    h.changeColsIntegrality(
        m, np.arange(m, dtype=np.int32), np.full(m, highspy.HighsVarType.kInteger)
    )
    h.addRows(n, np.ones(n), np.full(n, highspy.kHighsInf), cover.nnz,
              cover.indptr[:-1].astype(np.int32), cover.indices.astype(np.int32),
              cover.data.astype(float))  # fmt: skip
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    if status not in ("Optimal", "Time limit reached"):
        raise SafetyInputError(f"HiGHS could not solve the LSCP: {status}")
    values = np.asarray(h.getSolution().col_value)
    if status != "Optimal" and (len(values) < m or (cover @ (values > 0.5) < 1).any()):
        raise SafetyInputError(f"LSCP: no covering plan found within the {time_limit} s limit")
    sites = [int(j) for j in np.flatnonzero(values > 0.5)]
    bound = None if status == "Optimal" else float(h.getInfo().mip_dual_bound)
    result = _result(problem, "lscp", sites, "highs",
                     "optimal" if status == "Optimal" else "time_limit", start, None)  # fmt: skip
    if bound is not None:  # for the LSCP the bound is a lower bound on the number of sites
        result.bound, result.gap = bound, (len(sites) - bound) / max(len(sites), 1)
    return result


def _result(
    problem: CoverageProblem,
    model: Literal["mclp", "lscp"],
    sites: list[int],
    solver: str,
    status: Status,
    start: float,
    bound: float | None,
) -> SitingResult:
    covered = problem.covered(sites)
    objective = float(problem.weights[covered].sum())
    total = problem.total_weight
    result = SitingResult(
        model=model,
        sites=explain_sites(problem, sites),
        objective=objective,
        coverage=objective / total if total > 0 else 1.0,
        existing_weight=problem.existing_weight,
        total_weight=total,
        solver=solver,
        status=status,
        seconds=time.perf_counter() - start,
    )
    if bound is not None and model == "mclp":
        result.bound = max(bound, objective)
        result.gap = (result.bound - objective) / result.bound if result.bound > 0 else 0.0
    return result
