"""Regression metrics for latency predictions: relative errors and rank agreement.

With predictions :math:`\\hat t_i` and measurements :math:`t_i > 0`, the relative error is
:math:`e_i = |\\hat t_i - t_i| / t_i`. Relative errors (not absolute ones) are what matter across
networks whose latencies span two orders of magnitude; rank correlations are what a search
ranking architectures by latency relies on.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats

# Rounding slack so an error of exactly 10 % (1.1 vs 1.0 in floats) counts as within 10 %.
_TOL = 1e-12


def relative_errors(pred: Sequence[float] | np.ndarray, true: Sequence[float] | np.ndarray) -> np.ndarray:
    """:math:`|\\hat t - t| / t` element-wise; raises ValueError for bad input."""
    p = np.asarray(pred, dtype=np.float64).reshape(-1)
    t = np.asarray(true, dtype=np.float64).reshape(-1)
    if p.shape != t.shape:
        raise ValueError(f"pred and true differ in length: {p.size} vs {t.size}")
    if p.size == 0:
        raise ValueError("no samples to score")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(t))):
        raise ValueError("pred and true must be finite")
    if np.any(t <= 0):
        raise ValueError("true latencies must be > 0")
    return np.abs(p - t) / t


def regression_metrics(pred: Sequence[float] | np.ndarray, true: Sequence[float] | np.ndarray) -> dict:
    """Scores of predictions against measured latencies (ms). Every error figure is a fraction:

    * ``mape``: mean relative error (0.02 = 2 %); ``max_error``: the largest relative error,
    * ``within_5`` / ``within_10``: fraction of samples with relative error ≤ 5 % / ≤ 10 %,
    * ``rmse_ms``: root mean squared error in ms,
    * ``kendall_tau`` (τ-b) and ``spearman_rho``: rank agreement (NaN for fewer than 2 samples
      or constant input),
    * ``n``: number of samples.
    """
    err = relative_errors(pred, true)
    p = np.asarray(pred, dtype=np.float64).reshape(-1)
    t = np.asarray(true, dtype=np.float64).reshape(-1)
    tau = rho = float("nan")
    if p.size >= 2 and np.ptp(p) > 0 and np.ptp(t) > 0:
        tau = float(stats.kendalltau(p, t).statistic)
        rho = float(stats.spearmanr(p, t).statistic)
    return {
        "n": int(p.size),
        "mape": float(err.mean()),
        "within_5": float(np.mean(err <= 0.05 + _TOL)),
        "within_10": float(np.mean(err <= 0.10 + _TOL)),
        "rmse_ms": float(np.sqrt(np.mean((p - t) ** 2))),
        "max_error": float(err.max()),
        "kendall_tau": tau,
        "spearman_rho": rho,
    }
