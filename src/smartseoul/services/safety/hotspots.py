"""Where crime concentrates: kernel density, Getis-Ord Gi* with permutation inference, FDR.

Pure numpy/scipy/shapely: coordinates in metres (see :mod:`.inputs`), areas as shapely
polygons in lon/lat.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from scipy import sparse
from scipy.spatial import cKDTree
from scipy.stats import norm

from smartseoul.services.safety.errors import SafetyInputError
from smartseoul.services.safety.inputs import Area

__all__ = [
    "DensitySurface",
    "GiStar",
    "benjamini_hochberg",
    "contiguity_weights",
    "count_in_areas",
    "distance_band_weights",
    "getis_ord_gi_star",
    "kernel_density",
    "rates_per_1000",
]


@dataclass(frozen=True)
class DensitySurface:
    """Kernel density on a grid of square cells: ``values[row, col]`` per km².

    Cell ``(r, c)`` is centred at ``(x0 + (c + ½) cell, y0 + (r + ½) cell)`` metres.
    """

    x0: float
    y0: float
    cell: float
    bandwidth: float
    values: np.ndarray

    def centres(self) -> np.ndarray:
        rows, cols = self.values.shape
        gx, gy = np.meshgrid(self.x0 + (np.arange(cols) + 0.5) * self.cell,
                             self.y0 + (np.arange(rows) + 0.5) * self.cell)  # fmt: skip
        return np.column_stack([gx.ravel(), gy.ravel()])


def kernel_density(
    xy: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    bandwidth: float,
    cell: float,
    bounds: tuple[float, float, float, float] | None = None,
) -> DensitySurface:
    """Quartic (biweight) kernel density of weighted points, per km².

    ``K(d) = 3 / (π h²) (1 - d²/h²)²`` for ``d < h``, the kernel of most crime-mapping
    tools; it integrates to 1, so the surface integrates to the total weight.
    ``bounds`` (x_min, y_min, x_max, y_max) defaults to the points' box plus ``h``.

    Examples
    --------
    >>> s = kernel_density(np.array([[0.0, 0.0]]), bandwidth=1000, cell=100)
    >>> round(float(s.values.sum() * 0.01), 3)  # cells of 0.01 km² integrate to ~1 point
    1.0
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    w = np.ones(len(xy)) if weights is None else np.asarray(weights, dtype=float)
    if bandwidth <= 0 or cell <= 0:
        raise SafetyInputError("bandwidth and cell must be positive numbers of metres")
    if not len(xy):
        raise SafetyInputError("kernel density needs at least one point")
    if bounds is None:
        lo, hi = xy.min(axis=0) - bandwidth, xy.max(axis=0) + bandwidth
        bounds = (lo[0], lo[1], hi[0], hi[1])
    x0, y0, x1, y1 = bounds
    cols, rows = max(1, int(np.ceil((x1 - x0) / cell))), max(1, int(np.ceil((y1 - y0) / cell)))
    if rows * cols > 4_000_000:
        raise SafetyInputError(f"{rows} × {cols} cells is too fine a grid; use a larger cell")
    surface = DensitySurface(x0, y0, cell, bandwidth, np.zeros((rows, cols)))
    pairs = cKDTree(surface.centres()).sparse_distance_matrix(
        cKDTree(xy), bandwidth, output_type="ndarray"
    )  # structured (i, j, v) rows, pairs at distance 0 included
    u = (pairs["v"] / bandwidth) ** 2
    k = 3 / (np.pi * bandwidth**2) * (1 - u) ** 2 * 1e6
    dens = np.bincount(pairs["i"], weights=k * w[pairs["j"]], minlength=rows * cols)
    surface.values[:] = dens.reshape(rows, cols)
    return surface


def distance_band_weights(xy: np.ndarray, threshold: float) -> sparse.csr_matrix:
    """Binary weights: 1 between distinct units within ``threshold`` metres."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    pairs = cKDTree(xy).query_pairs(threshold, output_type="ndarray")
    n = len(xy)
    ones = np.ones(2 * len(pairs))
    i = np.concatenate([pairs[:, 0], pairs[:, 1]])
    j = np.concatenate([pairs[:, 1], pairs[:, 0]])
    return sparse.csr_matrix((ones, (i, j)), shape=(n, n))


def contiguity_weights(areas: Sequence[Area], *, tolerance: float = 1e-4) -> sparse.csr_matrix:
    """Queen contiguity: 1 between areas sharing a border point.

    Simplified boundary files leave hairline gaps between neighbours, so areas closer than
    ``tolerance`` degrees (about 10 m) count as touching.
    """
    shapes = [a.shape for a in areas]
    tree = shapely.STRtree(shapes)
    left, right = tree.query(shapes, predicate="dwithin", distance=tolerance)
    keep = left != right
    n = len(shapes)
    return sparse.csr_matrix((np.ones(int(keep.sum())), (left[keep], right[keep])), shape=(n, n))


@dataclass(frozen=True)
class GiStar:
    """Getis-Ord Gi* per unit.

    ``z`` is the standardised statistic (normal under the null), ``p_norm`` its two-sided
    normal p-value, ``p_sim`` the pseudo p-value of the conditional permutation test
    (``(1 + #more extreme) / (1 + permutations)``, one tail: the observed side),
    ``q`` the Benjamini-Hochberg adjusted ``p_sim`` and ``kind`` "hot", "cold" or "none"
    at the chosen false-discovery rate.
    """

    z: np.ndarray
    p_norm: np.ndarray
    p_sim: np.ndarray
    q: np.ndarray
    kind: list[str]
    alpha: float
    permutations: int


def getis_ord_gi_star(
    x: np.ndarray,
    weights: sparse.spmatrix,
    *,
    permutations: int = 999,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> GiStar:
    """Getis-Ord Gi* (Getis and Ord 1992; Ord and Getis 1995) with each unit its own neighbour.

    With star weights ``w_ij`` (``w_ii = 1`` added to ``weights``), ``x̄`` and
    ``S = sqrt(Σx²/n - x̄²)`` over all n units::

        Gi* = (Σ_j w_ij x_j - x̄ W_i) / (S sqrt((n S1_i - W_i²) / (n - 1)))

    with ``W_i = Σ_j w_ij`` and ``S1_i = Σ_j w_ij²``. The conditional permutation test
    keeps ``x_i`` in place and draws its neighbours' values from the other ``n - 1``
    units. Units are flagged at false-discovery rate ``alpha`` (Benjamini-Hochberg on
    ``p_sim``).

    Examples
    --------
    >>> w = distance_band_weights(np.array([[0, 0], [1, 0], [2, 0], [3, 0], [4, 0]]), 1.0)
    >>> np.round(getis_ord_gi_star(np.array([1, 2, 3, 4, 10]), w).z, 3)
    array([-1.291, -1.549, -0.775,  1.291,  1.549])
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n < 3:
        raise SafetyInputError(f"Gi* needs at least 3 units, got {n}")
    if not np.isfinite(x).all():
        raise SafetyInputError("Gi* values must be finite numbers")
    w = sparse.csr_matrix(weights, dtype=float)
    if w.shape != (n, n):
        raise SafetyInputError(f"weights are {w.shape} for {n} units")
    w.setdiag(0)
    w.eliminate_zeros()
    star = w + sparse.identity(n, format="csr")
    mean = x.mean()
    s = np.sqrt((x**2).mean() - mean**2)
    if s == 0:
        raise SafetyInputError("Gi* is undefined when every unit has the same value")
    wi = np.asarray(star.sum(axis=1)).ravel()
    s1 = np.asarray(star.multiply(star).sum(axis=1)).ravel()
    scale = s * np.sqrt((n * s1 - wi**2) / (n - 1))
    lag = star @ x
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(scale > 0, (lag - mean * wi) / scale, 0.0)
    p_norm = 2 * norm.sf(np.abs(z))
    p_sim = _conditional_permutation(x, w, lag, permutations, seed)
    rejected, q = benjamini_hochberg(p_sim, alpha)
    kind = [
        "hot" if r and v > 0 else "cold" if r and v < 0 else "none"
        for r, v in zip(rejected, z, strict=True)
    ]
    return GiStar(z, p_norm, p_sim, q, kind, alpha, permutations)


def _conditional_permutation(
    x: np.ndarray, w: sparse.csr_matrix, lag: np.ndarray, permutations: int, seed: int | None
) -> np.ndarray:
    n = len(x)
    if permutations < 1:
        raise SafetyInputError("permutations must be at least 1")
    rng = np.random.default_rng(seed)
    k_max = int(np.diff(w.indptr).max(initial=0))
    # One draw of k_max distinct "other" units per permutation, shared by every unit as in
    # PySAL: index r >= i stands for unit r + 1, so unit i never draws itself.
    draws = np.argsort(rng.random((permutations, n - 1)), axis=1)[:, :k_max]
    p = np.empty(n)
    for i in range(n):
        start, end = w.indptr[i], w.indptr[i + 1]
        wij = w.data[start:end]
        idx = draws[:, : end - start]
        idx = idx + (idx >= i)
        sim = x[i] + x[idx] @ wij
        above = int((sim >= lag[i]).sum())
        larger = min(above, permutations - above)
        p[i] = (larger + 1) / (permutations + 1)
    return p


def benjamini_hochberg(p: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini-Hochberg step-up procedure: (rejected at FDR ``alpha``, adjusted q-values).

    Examples
    --------
    >>> rejected, q = benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.2]), 0.05)
    >>> rejected.tolist(), np.round(q, 3).tolist()
    ([True, False, False, False], [0.04, 0.053, 0.053, 0.2])
    """
    p = np.asarray(p, dtype=float)
    if not 0 < alpha < 1:
        raise SafetyInputError(f"the false-discovery rate must be in (0, 1), got {alpha}")
    m = len(p)
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    q = np.empty(m)
    q[order] = q_sorted
    return q <= alpha, q


def count_in_areas(lonlat: np.ndarray, weights: np.ndarray, areas: Sequence[Area]) -> np.ndarray:
    """Weighted count of points inside each area (a point on a shared border counts once)."""
    lonlat = np.asarray(lonlat, dtype=float).reshape(-1, 2)
    out = np.zeros(len(areas))
    free = np.ones(len(lonlat), dtype=bool)
    for k, area in enumerate(areas):
        inside = free & shapely.intersects_xy(area.shape, lonlat[:, 0], lonlat[:, 1])
        out[k] = weights[inside].sum()
        free &= ~inside
    return out


def rates_per_1000(
    counts: Mapping[str, float], population: Mapping[str, float]
) -> dict[str, float]:
    """Counts per 1,000 residents, per area.

    Examples
    --------
    >>> {k: round(v, 2) for k, v in rates_per_1000({"중구": 2_669}, {"중구": 133_240}).items()}
    {'중구': 20.03}
    """
    out = {}
    for area, count in counts.items():
        residents = population.get(area)
        if not residents or residents <= 0:
            raise SafetyInputError(f"no population for {area!r}: cannot compute its rate")
        out[area] = 1000.0 * count / residents
    return out
