"""Rank agreement between two scorings of the same architectures.

Both functions take scores where lower is better or both higher-is-better alike: only the
orders are compared. Ties count as ties (Kendall's tau-b, Spearman's rho on mid-ranks). A
constant scoring orders nothing and agrees with nothing: 0.0, not NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

__all__ = ["kendall_tau", "spearman_rho"]

Scores = Sequence[float] | np.ndarray


def _pair(a: Scores, b: Scores) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(
            f"two scorings of the same architectures needed; shapes {x.shape}, {y.shape}"
        )
    if len(x) < 2:
        raise ValueError("at least 2 architectures are needed to compare orders")
    return x, y


def kendall_tau(a: Scores, b: Scores) -> float:
    """Kendall's tau-b of ``a`` against ``b`` (1: the same order, -1: reversed)."""
    x, y = _pair(a, b)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(stats.kendalltau(x, y).statistic)


def spearman_rho(a: Scores, b: Scores) -> float:
    """Spearman's rank correlation of ``a`` against ``b``."""
    x, y = _pair(a, b)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(stats.spearmanr(x, y).statistic)
