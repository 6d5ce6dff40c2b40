"""Calibration: a predictor for one device adapted to another from a few dozen measurements.

Which architectures to measure (:func:`choose_cover`, what ``calibrate`` uses): 30% at the fixed
config (at least 10, up to half), spread over the base predictor's predicted latency and over the
share of pool work, so a few samples still span fast and slow networks (a random few cluster in
the middle) and tell pools' cost from the rest's; the rest at varied configs chosen to cover the
config space. :func:`choose_spread` (half and half, both
spread over latency) is kept as the comparison; figures in docs/results.md.

How to adapt (:func:`calibrate_predictor`): every weight of the base predictor is fine-tuned on
the calibration samples, starting from the base with its offset :math:`b` first moved by the mean
log-ratio of measured to predicted latency (the device's overall speed):

.. math::
    b \\leftarrow b + \\frac{1}{N} \\sum_i \\big(\\log t_i - \\log \\hat t_i\\big), \\qquad
    \\min_\\theta \\frac{1}{N} \\sum_i \\big(\\log \\hat t_\\theta(x_i) - \\log t_i\\big)^2
    \\quad (\\text{Adam}, \\text{a fixed number of full-batch steps}).

The base already knows how cost grows with channels, resolution and batch; the few samples move
it to the new device's per-op costs. A log-affine rescaling of the base keeps its ranking, which
is wrong across backends (eager PyTorch is overhead-bound, ONNX Runtime compute-bound); tuning the
output head alone ranks worse than tuning everything (figures in docs/results.md).

The fine-tuned GNN is then blended in log space with a roofline fitted on the same samples
(non-negative costs per kernel, per unit of work of pools and of the rest, per element moved, per
element moved off whole SIMD blocks, and a fixed one; below 10 samples one cost per unit of work
and no surcharge; :mod:`gnnlat.roofline`):
:math:`\\log \\hat t = (1 - \\beta) \\log \\hat t_\\text{GNN} + \\beta \\log \\hat t_\\text{roof}`.
:math:`\\beta \\in [0, 1]` minimises the squared log error of the two models' out-of-fold
predictions (``folds``-fold cross-validation on the N; each fold fine-tunes and fits afresh).
Where the device's latency is kernel count and work (a GPU's CUDA graphs), β goes towards 1 and
ten samples rank as well as a thousand; on eager PyTorch the roofline's pool costs set the ranking
at the search config (figures in docs/results.md).
"""
from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch

from gnnlat.encoding import encode_genotypes
from gnnlat.fit import check_records, collate_graphs, fit_baseline, one_thread, score_both
from gnnlat.genotype import Genotype
from gnnlat.network import NetworkConfig
from gnnlat.predictor import LatencyPredictor, PredictorError
from gnnlat.record import Record
from gnnlat.roofline import SPLIT_COSTS_FROM, TERMS, fit_costs, network_work, roofline_ms, work_of
from gnnlat.split import training_set_meta

MIN_SAMPLES = 2
FIXED_SHARE = 0.3  # of the calibration samples, for choose_cover (docs/results.md)
MIN_FIXED = 10  # ... but up to half of them, at least this many
MIN_COVER = 10  # varied samples from which covering the configs beats spreading them
MIN_BLEND = 5  # samples from which cross-validation chooses the roofline blend (below: fine-tune only)


@dataclass(frozen=True)
class CalibrationConfig:
    """Fine-tuning schedule: ``steps`` full-batch Adam steps at learning rate ``lr``; ``folds``:
    cross-validation folds that choose the roofline blend (0: fine-tune only)."""

    steps: int = 300
    lr: float = 3e-3
    seed: int = 0
    folds: int = 5

    def __post_init__(self) -> None:
        if self.steps < 0 or not (math.isfinite(self.lr) and self.lr > 0):
            raise PredictorError("calibration needs steps >= 0 and a positive learning rate")
        if self.folds < 0 or self.folds == 1:
            raise PredictorError(f"calibration needs 0 or at least 2 folds, got {self.folds}")


def choose_spread(predictor: LatencyPredictor, fixed: Sequence[tuple[Genotype, NetworkConfig]],
                  varied: Sequence[tuple[Genotype, NetworkConfig]], n: int) -> list[int]:
    """Indices into ``list(fixed) + list(varied)`` of ``n`` architectures to measure: ``n // 2``
    from ``fixed`` and the rest from ``varied`` (all from one side when the other is empty), each
    taken at evenly spaced quantiles of the predictor's latency over its side."""
    n_fixed = _fixed_count(fixed, varied, n, n // 2)
    return _spread(predictor, fixed, n_fixed) + [len(fixed) + i for i in _spread(predictor, varied, n - n_fixed)]


def choose_cover(predictor: LatencyPredictor, fixed: Sequence[tuple[Genotype, NetworkConfig]],
                 varied: Sequence[tuple[Genotype, NetworkConfig]], n: int) -> list[int]:
    """``FIXED_SHARE`` of ``n`` from ``fixed`` and the rest from ``varied``, each side chosen to
    *cover* what the calibration must tell apart: greedy farthest-point (k-centre) selection in a
    unit cube, starting from its largest corner. At the fixed config the cube's axes are the
    predicted log-latency and the shares of max-pool and average-pool work; at varied configs, log
    C, log layers, log resolution, log batch and the predicted log-latency.

    Why: on configs a predictor has not seen, its error is mostly one offset per config (how cost
    scales with channels, depth, resolution and batch), and a spread over latency alone can leave a
    whole corner (for example every C = 32 config) unmeasured. At the fixed config, samples spread
    over latency alone have pool shares alike, so the roofline cannot tell a pool's cost from the
    rest's, which is what sets eager PyTorch's ranking. Below ``SPLIT_COSTS_FROM`` samples the
    roofline has no pool cost of its own, and the fixed-config samples are spread over latency
    alone; below ``MIN_COVER`` varied samples the config k-centres would be corners only, which
    interpolate worse than a spread over latency."""
    n_fixed = _fixed_count(fixed, varied, n, max(round(FIXED_SHARE * n), min(n // 2, MIN_FIXED)))
    chosen_varied = (_k_centres(_config_points(predictor, varied), n - n_fixed) if n - n_fixed >= MIN_COVER
                     else _spread(predictor, varied, n - n_fixed))
    chosen_fixed = (_k_centres(_pool_points(predictor, fixed), n_fixed) if n >= SPLIT_COSTS_FROM
                    else _spread(predictor, fixed, n_fixed))
    return chosen_fixed + [len(fixed) + i for i in chosen_varied]


def _fixed_count(fixed: Sequence, varied: Sequence, n: int, wanted: int) -> int:
    if n < MIN_SAMPLES:
        raise PredictorError(f"calibration needs at least {MIN_SAMPLES} samples, got {n}")
    n_fixed = 0 if not fixed else (wanted if varied else n)
    if n_fixed > len(fixed) or n - n_fixed > len(varied):
        raise PredictorError(f"{len(fixed)} + {len(varied)} candidates cannot give {n} calibration samples")
    return n_fixed


def _spread(predictor: LatencyPredictor, candidates: Sequence[tuple[Genotype, NetworkConfig]], k: int) -> list[int]:
    if k == 0:
        return []
    latency = predictor.predict([g for g, _ in candidates], [c for _, c in candidates])
    order = np.argsort(latency, kind="stable")
    positions = np.linspace(0, len(order) - 1, k).round().astype(int)
    return [int(order[p]) for p in positions]


def _config_points(predictor: LatencyPredictor, candidates: Sequence[tuple[Genotype, NetworkConfig]]) -> np.ndarray:
    latency = predictor.predict([g for g, _ in candidates], [c for _, c in candidates])
    return np.log([[c.C, c.layers, c.resolution, c.batch, t] for (_, c), t in zip(candidates, latency)])


def _pool_points(predictor: LatencyPredictor, candidates: Sequence[tuple[Genotype, NetworkConfig]]) -> np.ndarray:
    genotypes, configs = [g for g, _ in candidates], [c for _, c in candidates]
    work = work_of(genotypes, configs)
    max_pool, avg_pool = work[:, TERMS.index("max_pool_macs")], work[:, TERMS.index("avg_pool_macs")]
    total = work[:, TERMS.index("macs")] + max_pool + avg_pool
    return np.column_stack([np.log(predictor.predict(genotypes, configs)), max_pool / total, avg_pool / total])


def _k_centres(points: np.ndarray, k: int) -> list[int]:
    if k == 0:
        return []
    points = (points - points.min(0)) / np.maximum(np.ptp(points, axis=0), 1e-12)
    chosen = [int(np.argmax(points.sum(1)))]
    distance = np.linalg.norm(points - points[chosen[0]], axis=1)
    while len(chosen) < k:
        chosen.append(int(np.argmax(distance)))
        distance = np.minimum(distance, np.linalg.norm(points - points[chosen[-1]], axis=1))
    return chosen


CHOICES = {"spread": choose_spread, "cover": choose_cover}


def calibrate_predictor(base: LatencyPredictor, records: Sequence[Record],
                        cfg: CalibrationConfig = CalibrationConfig()) -> LatencyPredictor:
    """A new predictor for the records' device: ``base`` fine-tuned on ``records`` and blended with
    a roofline fitted on them (module docstring). Its metadata names the target device (so device
    checks match it), the base it came from, the blend and an op-count baseline fitted on the
    same samples."""
    check_records(records)
    if len(records) < MIN_SAMPLES:
        raise PredictorError(f"calibration needs at least {MIN_SAMPLES} samples, got {len(records)}")
    if records[0].metric != base.metric:
        raise PredictorError(f"a {base.metric} predictor cannot be calibrated on {records[0].metric} samples")
    graphs = [encode_genotypes([r.genotype], [r.config], base.merge_cells) for r in records]
    data = collate_graphs(graphs)
    target = torch.tensor([math.log(r.latency_ms) for r in records])
    predictor = _fine_tuned(base, data, target, cfg)
    blend = {"beta": 0.0}
    if cfg.folds and len(records) >= MIN_BLEND:
        work = network_work(data).numpy()
        split = len(records) >= SPLIT_COSTS_FROM  # the folds fit what the whole set will
        blend = _cross_validated_blend(base, graphs, work, target, cfg, split)
        with torch.no_grad():
            predictor.roofline.set(fit_costs(work, [r.latency_ms for r in records], split), blend["beta"])
    predictor.meta = _calibrated_meta(base, records, predictor, cfg, blend)
    return predictor


def _fine_tuned(base: LatencyPredictor, data, target: torch.Tensor, cfg: CalibrationConfig) -> LatencyPredictor:
    """A copy of ``base`` without its roofline blend (a calibrated base's is for another device),
    its offset moved to the samples' mean and every weight fine-tuned."""
    predictor = copy.deepcopy(base).cpu()
    with torch.no_grad():
        predictor.roofline.set([0.0] * len(TERMS), 0.0)
        predictor.log_offset += (target - predictor.log_latency(data)).mean()
    with torch.random.fork_rng(devices=[]), one_thread():
        torch.manual_seed(cfg.seed)
        _fine_tune(predictor, data, target, cfg)
    predictor.eval()
    return predictor


def _cross_validated_blend(base: LatencyPredictor, graphs: Sequence, work: np.ndarray, target: torch.Tensor,
                           cfg: CalibrationConfig, split: bool) -> dict:
    """β from out-of-fold predictions: each fold's GNN is fine-tuned and its roofline fitted on the
    other folds (``work``: :func:`gnnlat.roofline.network_work` of ``graphs``). Closed form: β
    minimises :math:`\\sum_j (\\log t_j - (1-β) g_j - β r_j)^2`."""
    n = len(target)
    fold = np.random.default_rng(cfg.seed).permutation(np.arange(n) % min(cfg.folds, n))
    gnn, roof = np.zeros(n), np.zeros(n)
    for k in np.unique(fold):
        train, test = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        tuned = _fine_tuned(base, collate_graphs([graphs[i] for i in train]), target[train], cfg)
        with torch.no_grad():
            gnn[test] = tuned.log_latency(collate_graphs([graphs[i] for i in test])).numpy()
        costs = fit_costs(work[train], target[train].exp().numpy(), split)
        roof[test] = np.log(np.maximum(roofline_ms(work[test], costs), 1e-12))
    y, diff = target.numpy(), roof - gnn
    beta = float(np.clip(np.dot(y - gnn, diff) / max(float(np.dot(diff, diff)), 1e-12), 0.0, 1.0))

    def mape(pred: np.ndarray) -> float:
        return float(np.mean(np.abs(np.exp(pred - y) - 1)))
    cv_mape = {"gnn": mape(gnn), "roofline": mape(roof), "blend": mape(gnn + beta * diff)}
    return {"beta": beta, "folds": int(fold.max()) + 1, "cv_mape": cv_mape}


def _fine_tune(predictor: LatencyPredictor, data, target: torch.Tensor, cfg: CalibrationConfig) -> None:
    opt = torch.optim.Adam(predictor.parameters(), lr=cfg.lr)
    predictor.train()
    for _ in range(cfg.steps):
        loss = ((predictor.log_latency(data) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def _calibrated_meta(base: LatencyPredictor, records: Sequence[Record], predictor: LatencyPredictor,
                     cfg: CalibrationConfig, blend: dict) -> dict:
    baseline = fit_baseline(records)
    metrics = {"split": "architecture", "n_train": len(records), "n_val": 0,
               "train": score_both(predictor, baseline, records)}
    return {
        **{k: v for k, v in base.meta.items() if k in ("train_config",)},
        "backend": records[0].backend,
        "metric": base.metric,
        "labels": records[0].label,
        "fingerprints": {r.fingerprint_id: r.fingerprint for r in records},
        "metrics": metrics,
        "baseline": baseline.to_dict(),
        "calibration": {"base_backend": base.backend, "base_fingerprints": sorted(base.fingerprints),
                        "base_devices": sorted({str(fp.get("device", "?")) for fp in base.fingerprints.values()}),
                        "n": len(records), "method": "fine-tune + roofline blend", "blend": blend,
                        "config": asdict(cfg)},
        **training_set_meta(records, "architecture"),
    }
