"""Gi* against a hand computation, the permutation test, FDR, kernel density and rates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shapely.geometry import box, mapping

from smartseoul.services.safety.errors import SafetyInputError
from smartseoul.services.safety.hotspots import (
    benjamini_hochberg,
    contiguity_weights,
    count_in_areas,
    distance_band_weights,
    getis_ord_gi_star,
    kernel_density,
    rates_per_1000,
)
from smartseoul.services.safety.inputs import Area


def test_gi_star_matches_a_hand_computation():
    """Five units on a line, neighbours within 1 (a chain), values x = 1, 2, 3, 4, 10.

    n = 5, x̄ = 20 / 5 = 4, Σx² = 1 + 4 + 9 + 16 + 100 = 130,
    S = sqrt(130 / 5 - 4²) = sqrt(10) = 3.16228.
    Gi* includes the unit itself, so unit 3 (x = 4) sums units 2, 3, 4:
        Σ w x = 3 + 4 + 10 = 17, W = 3, S1 = 3,
        numerator   = 17 - 4 * 3 = 5,
        denominator = S * sqrt((5 * 3 - 3²) / (5 - 1)) = 3.16228 * sqrt(1.5) = 3.87298,
        Gi*_3 = 5 / 3.87298 = 1.29099.
    Unit 4 (x = 10, one neighbour): Σ w x = 14, W = 2, S1 = 2,
        numerator = 14 - 8 = 6, denominator = S * sqrt((10 - 4) / 4) = 3.87298,
        Gi*_4 = 1.54919.
    Unit 0: Σ w x = 1 + 2 = 3, W = 2: (3 - 8) / 3.87298 = -1.29099.
    """
    weights = distance_band_weights(np.array([[0, 0], [1, 0], [2, 0], [3, 0], [4, 0]]), 1.0)
    result = getis_ord_gi_star(np.array([1.0, 2, 3, 4, 10]), weights, permutations=99)
    assert result.z[3] == pytest.approx(5 / math.sqrt(10 * 1.5))
    assert result.z[4] == pytest.approx(6 / math.sqrt(10 * 1.5))
    assert result.z[0] == pytest.approx(-5 / math.sqrt(10 * 1.5))
    assert result.z[3] == pytest.approx(1.29099, abs=1e-5)
    assert result.p_norm[3] == pytest.approx(
        2 * (1 - 0.5 * (1 + math.erf(1.29099 / math.sqrt(2)))), abs=1e-5
    )


def test_permutation_test_finds_a_planted_cluster_and_is_reproducible():
    rng = np.random.default_rng(7)
    side = 12
    gx, gy = np.meshgrid(np.arange(side), np.arange(side))
    xy = np.column_stack([gx.ravel(), gy.ravel()]).astype(float)
    x = rng.poisson(5, len(xy)).astype(float)
    hot = (xy[:, 0] < 3) & (xy[:, 1] < 3)
    x[hot] += 25
    weights = distance_band_weights(xy, 1.5)  # queen neighbours on the grid
    first = getis_ord_gi_star(x, weights, permutations=499, seed=1)
    again = getis_ord_gi_star(x, weights, permutations=499, seed=1)
    assert np.array_equal(first.p_sim, again.p_sim)
    assert (first.p_sim >= 1 / 500).all() and (first.p_sim <= 0.5 + 1e-12).all()
    flagged = np.array([k == "hot" for k in first.kind])
    assert flagged[hot].sum() >= 7  # most of the planted 3 × 3 block
    assert flagged[~hot & (xy[:, 0] > 5)].sum() == 0  # nothing far from it
    # FDR control: q-values adjust p_sim, and the flagged units are exactly q <= alpha.
    assert np.array_equal(first.q <= 0.05, np.array([k != "none" for k in first.kind]))


def test_benjamini_hochberg_by_hand():
    # m = 5: sorted p = .001 .008 .039 .041 .6; thresholds k/5 * .05 = .01 .02 .03 .04 .05.
    # The largest k with p_(k) <= threshold is k = 2, so exactly the two smallest are rejected.
    p = np.array([0.039, 0.001, 0.6, 0.008, 0.041])
    rejected, q = benjamini_hochberg(p, 0.05)
    assert rejected.tolist() == [False, True, False, True, False]
    # q_(k) = min over j >= k of p_(j) * m / j: .005 .02 .05125 .05125 .6
    assert q.tolist() == pytest.approx([0.05125, 0.005, 0.6, 0.02, 0.05125])
    with pytest.raises(SafetyInputError):
        benjamini_hochberg(p, 1.5)


def test_kernel_density_integrates_to_the_total_weight():
    xy = np.array([[0.0, 0.0], [300.0, 0.0], [5000.0, 5000.0]])
    surface = kernel_density(xy, np.array([1.0, 2.0, 3.0]), bandwidth=400, cell=20)
    cell_km2 = (20 / 1000) ** 2
    assert surface.values.sum() * cell_km2 == pytest.approx(6.0, rel=0.01)
    peak = np.unravel_index(np.argmax(surface.values), surface.values.shape)
    assert (
        np.linalg.norm(
            surface.centres()[np.ravel_multi_index(peak, surface.values.shape)] - [5000, 5000]
        )
        < 30
    )


def squares() -> list[Area]:
    # 3 × 1 strip of unit squares (degrees) and one far away.
    boxes = [box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1), box(10, 10, 11, 11)]
    return [Area(str(k), f"a{k}", mapping(b), b) for k, b in enumerate(boxes)]


def test_contiguity_counts_and_rates():
    w = contiguity_weights(squares()).toarray()
    assert w.tolist() == [[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    counts = count_in_areas(np.array([[0.5, 0.5], [1.0, 0.5], [10.5, 10.5]]), np.ones(3), squares())
    assert counts.tolist() == [2.0, 0.0, 0.0, 1.0]  # a border point counts once
    assert rates_per_1000({"a": 50}, {"a": 10_000}) == {"a": 5.0}
    with pytest.raises(SafetyInputError, match="no population for 'b'"):
        rates_per_1000({"b": 1}, {})


def test_gi_star_rejects_degenerate_input():
    w = distance_band_weights(np.array([[0, 0], [1, 0], [2, 0]]), 1.0)
    with pytest.raises(SafetyInputError, match="same value"):
        getis_ord_gi_star(np.ones(3), w)
    with pytest.raises(SafetyInputError, match="at least 3"):
        getis_ord_gi_star(np.ones(2), w[:2, :2])
