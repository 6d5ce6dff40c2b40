"""How well a predictor moves to another device: calibration against its alternatives, per N.

For a target device's records, half of the fixed-config architectures and half of the varied
configs (whole configs) form the pool calibration may draw from; the other halves are held out.
For each N, :func:`gnnlat.calibration.choose_spread` picks N of the pool (as ``calibrate`` would
choose what to measure), and six predictors are scored on both held-out sets:

* ``calibrated``: the base fine-tuned on the N and blended with a roofline
  (:func:`gnnlat.calibration.calibrate_predictor`),
* ``fine_tune``: the same without the blend (``folds=0``),
* ``scratch``: a GNN trained from scratch on the same N,
* ``op_count``: the op-count baseline fitted on the same N,
* ``roofline``: the roofline (:mod:`gnnlat.roofline`) fitted on the same N,
* ``base``: the base predictor unadapted.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from gnnlat.calibration import CHOICES, CalibrationConfig, calibrate_predictor
from gnnlat.count_baseline import Baseline
from gnnlat.fit import PredictorConfig, fit_baseline, fit_predictor
from gnnlat.metrics import regression_metrics
from gnnlat.predictor import LatencyPredictor
from gnnlat.record import Record, split_fixed_vary
from gnnlat.roofline import fit_costs, roofline_ms, work_of

METHODS = ("calibrated", "fine_tune", "scratch", "op_count", "roofline", "base")
SCORES = ("mape", "within_10", "spearman_rho", "kendall_tau")


@dataclass(frozen=True)
class TargetSplit:
    """A target device's records: the calibration pool and the two held-out sets."""

    pool_fixed: list[Record]
    pool_vary: list[Record]
    held_fixed: list[Record]
    held_configs: list[Record]

    @classmethod
    def of(cls, records: Sequence[Record], seed: int = 0) -> "TargetSplit":
        fixed, vary = split_fixed_vary(records)
        rng = random.Random(seed)
        fixed = list(fixed)
        rng.shuffle(fixed)
        configs = sorted({r.config_key for r in vary})
        rng.shuffle(configs)
        pool_configs = set(configs[: len(configs) // 2])
        half = len(fixed) // 2
        return cls(fixed[:half], [r for r in vary if r.config_key in pool_configs], fixed[half:],
                   [r for r in vary if r.config_key not in pool_configs])


def _scores(predict, records: Sequence[Record]) -> dict:
    pred = np.maximum(predict(records), 1e-6)  # a linear baseline may predict <= 0; score, don't crash
    m = regression_metrics(pred, [r.latency_ms for r in records])
    return {k: m[k] for k in SCORES}


def _predict(model: LatencyPredictor | Baseline):
    """Records → predictions of a GNN or a linear baseline (both predict from genotypes and configs)."""
    return lambda rs: model.predict([r.genotype for r in rs], [r.config for r in rs])


def _work(records: Sequence[Record]) -> np.ndarray:
    return work_of([r.genotype for r in records], [r.config for r in records])


def _roofline(records: Sequence[Record]):
    """Records → predictions of the roofline fitted on ``records``."""
    costs = fit_costs(_work(records), [r.latency_ms for r in records])
    return lambda rs: roofline_ms(_work(rs), costs)


def transplant_rows(base: LatencyPredictor, split: TargetSplit, ns: Sequence[int], seed: int = 0,
                    scratch: PredictorConfig = PredictorConfig(min_steps=300),
                    calibration: CalibrationConfig = CalibrationConfig(), choice: str = "spread") -> list[dict]:
    """One row per (N, method): scores on the held-out fixed-config and held-out-config sets;
    ``choice`` names the :data:`gnnlat.calibration.CHOICES` entry that picks the N."""
    pool = split.pool_fixed + split.pool_vary
    fixed = [(r.genotype, r.config) for r in split.pool_fixed]
    vary = [(r.genotype, r.config) for r in split.pool_vary]
    base_row = {name: _scores(_predict(base), held) for name, held in _held(split)}
    rows = []
    for n in ns:
        cal = [pool[i] for i in CHOICES[choice](base, fixed, vary, n)]
        predictors = {"calibrated": _predict(calibrate_predictor(base, cal, replace(calibration, seed=seed))),
                      "fine_tune": _predict(calibrate_predictor(base, cal, replace(calibration, seed=seed, folds=0))),
                      "scratch": _predict(fit_predictor(cal, replace(scratch, seed=seed))),
                      "op_count": _predict(fit_baseline(cal)),
                      "roofline": _roofline(cal)}
        for method, predict in predictors.items():
            rows.append({"n": n, "method": method, **{name: _scores(predict, held) for name, held in _held(split)}})
        rows.append({"n": n, "method": "base", **base_row})
    return rows


def _held(split: TargetSplit) -> list[tuple[str, list[Record]]]:
    return [("fixed", split.held_fixed), ("configs", split.held_configs)]
