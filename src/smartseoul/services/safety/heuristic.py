"""Greedy + swap local search for very large MCLP instances, and the LP bound that grades it.

Greedy adds the candidate covering the most still-uncovered weight, ``p`` times (a
``1 - 1/e`` approximation, Nemhauser et al. 1978). Swap search then exchanges one chosen
site for one unchosen site while that raises the covered weight, taking the best
exchange each round. The LP relaxation of the MCLP bounds every plan from above, so
``(bound - objective) / bound`` is a proven optimality gap.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

__all__ = ["greedy", "greedy_swap", "lp_bound"]


def greedy(cover: sparse.csr_matrix, w: np.ndarray, p: int) -> list[int]:
    """Greedy sites in the order chosen (stops early when nothing more can be covered).

    ``cover`` is demand × candidate (0/1), ``w`` the demand weights.
    """
    csc = cover.tocsc()
    csr = cover.tocsr()
    gain = np.asarray(csr.T @ w, dtype=float).ravel()
    covered = np.zeros(cover.shape[0], dtype=bool)
    chosen: list[int] = []
    for _ in range(min(p, cover.shape[1])):
        j = int(np.argmax(gain))
        if gain[j] <= 0:
            break
        chosen.append(j)
        rows = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
        fresh = rows[~covered[rows]]
        covered[fresh] = True
        gain -= np.asarray(csr[fresh].T @ w[fresh], dtype=float).ravel()
        gain[j] = -1.0  # never pick twice
    return chosen


def greedy_swap(
    cover: sparse.csr_matrix, w: np.ndarray, p: int, *, max_rounds: int = 10_000
) -> list[int]:
    """Greedy, then best-improvement swaps until no exchange of one site helps."""
    chosen = greedy(cover, w, p)
    m = cover.shape[1]
    if not chosen or len(chosen) == m:
        return chosen
    csr = cover.tocsr().astype(float)
    tol = 1e-12 * max(float(w.sum()), 1.0)
    for _ in range(max_rounds):
        picked = np.zeros(m)
        picked[chosen] = 1.0
        count = csr @ picked
        once = w * (count == 1)
        # gain of adding k, loss of dropping j, and what k re-covers of j's loss.
        gain = np.asarray(csr.T @ (w * (count == 0))).ravel()
        loss = np.asarray(csr[:, chosen].T @ once).ravel()
        both = (csr[:, chosen].T @ sparse.diags(once) @ csr).toarray()
        delta = gain[None, :] - loss[:, None] + both
        delta[:, chosen] = -np.inf
        a, k = np.unravel_index(int(np.argmax(delta)), delta.shape)
        if delta[a, k] <= tol:
            break
        chosen[int(a)] = int(k)
    return chosen


def lp_bound(cover: sparse.csr_matrix, w: np.ndarray, p: int) -> float:
    """The LP relaxation's optimum: no plan of ``p`` sites covers more (open demand only)."""
    from smartseoul.services.safety.siting import mclp_model

    if p == 0 or cover.shape[0] == 0:
        return 0.0
    h = mclp_model(cover, w, min(p, cover.shape[1]), integer=False, time_limit=None)
    h.run()
    return float(h.getInfo().objective_function_value)
