"""Training the GNN predictor and the op-count baseline on the same split.

Adam with a one-cycle learning rate on minibatches of architectures; the loss is on log-latency
(a relative error). The default loss is Huber (squared below ``HUBER_DELTA``, linear above):
interference on a shared machine only ever slows a timing down, so a few labels are inflated, and
a squared loss would let them pull the fit.
"""
from __future__ import annotations

import math
import random
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from tqdm import tqdm

from gnnlat.count_baseline import Baseline, baseline_for
from gnnlat.encoding import encode_genotypes
from gnnlat.metrics import regression_metrics
from gnnlat.predictor import LatencyPredictor, PredictorError
from gnnlat.record import Record
from gnnlat.split import SPLITS, split_records, training_set_meta

LOSSES = ("mse", "l1", "huber")
MIN_FEATURE_STD = 0.1
HUBER_DELTA = 0.05  # log-latency error (≈ 5 %) beyond which a sample counts as an outlier


@dataclass(frozen=True)
class PredictorConfig:
    """Model size and training schedule. ``split``: ``architecture`` holds out unique
    (genotype, config) pairs, ``config`` holds out whole network configs. ``max_train`` caps the
    training architectures (after the split). Small training sets get more epochs, so that every
    run takes at least ``min_steps`` optimiser steps (a learning curve compares like with like)."""

    hidden: int = 32
    layers: int = 1
    epochs: int = 150
    lr: float = 3e-3
    seed: int = 0
    val_frac: float = 0.2
    batch_size: int = 64
    weight_decay: float = 0.0
    split: str = "architecture"
    max_train: int | None = 1000
    merge_cells: bool = True
    min_steps: int = 600
    loss: str = "huber"

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.layers < 0 or self.epochs < 1 or self.batch_size < 1 or self.min_steps < 0:
            raise PredictorError("hidden, epochs and batch_size must be >= 1; layers and min_steps >= 0")
        if not (self.lr > 0 and self.weight_decay >= 0):
            raise PredictorError("lr must be > 0 and weight_decay >= 0")
        if not 0 <= self.val_frac < 1:
            raise PredictorError(f"val_frac must be within [0, 1), got {self.val_frac}")
        if self.loss not in LOSSES:
            raise PredictorError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.split not in SPLITS:
            raise PredictorError(f"split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if self.max_train is not None and self.max_train < 1:
            raise PredictorError(f"max_train must be >= 1, got {self.max_train}")

    @classmethod
    def from_dict(cls, data: dict) -> "PredictorConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def check_records(records: Sequence[Record]) -> None:
    if not records:
        raise PredictorError("no training records")
    backends = sorted({r.backend for r in records})
    if len(backends) > 1:
        raise PredictorError(f"records mix backends ({', '.join(backends)}); train one predictor per backend")
    labels = sorted({r.label for r in records})
    if len(labels) > 1:
        raise PredictorError(f"records mix latency labels ({', '.join(labels)}); choose one label kind")
    metrics = sorted({r.metric for r in records})
    if len(metrics) > 1:
        raise PredictorError(f"records mix metrics ({', '.join(metrics)}); train one predictor per metric")
    bad = [r.latency_ms for r in records if not (math.isfinite(r.latency_ms) and r.latency_ms > 0)]
    if bad:
        raise PredictorError(f"{len(bad)} record(s) have a {metrics[0]} that is not a positive number")


def collate_graphs(graphs: Sequence[Data]) -> Data:
    """Disjoint union of single-graph Data (a lean Batch.from_data_list for the training loop)."""
    sizes = torch.tensor([g.num_nodes for g in graphs])
    offsets = torch.cumsum(sizes, 0) - sizes
    data = Data(
        x=torch.cat([g.x for g in graphs]),
        edge_index=torch.cat([g.edge_index + o for g, o in zip(graphs, offsets.tolist())], dim=1),
        edge_weight=torch.cat([g.edge_weight for g in graphs]),
        node_scale=torch.cat([g.node_scale for g in graphs]),
        batch=torch.arange(len(graphs)).repeat_interleave(sizes),
        num_nodes=int(sizes.sum()))
    data.num_graphs = len(graphs)
    return data


@contextmanager
def one_thread() -> Iterator[None]:
    """Train on one intra-op thread, then restore the caller's count. The graphs are small, so a
    second thread gains little on a quiet machine, and on a busy one its spinning workers make a
    step 10-30 times slower (docs/results.md)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def _loss(error: Tensor, kind: str) -> Tensor:
    """Loss on log-latency errors (≈ relative errors)."""
    if kind == "l1":
        return error.abs().mean()
    if kind == "huber":
        return nn.functional.huber_loss(error, torch.zeros_like(error), delta=HUBER_DELTA)
    return (error ** 2).mean()


def fit_predictor(records: Sequence[Record], cfg: PredictorConfig, progress: bool = False) -> LatencyPredictor:
    """Train a predictor on all of ``records`` (no split): Adam with a one-cycle learning rate,
    ``cfg.loss`` on log-latency, minibatches of ``cfg.batch_size`` architectures."""
    check_records(records)
    graphs = [encode_genotypes([r.genotype], [r.config], cfg.merge_cells) for r in records]
    targets = torch.tensor([math.log(r.latency_ms) for r in records], dtype=torch.float32)
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
        torch.manual_seed(cfg.seed)
        predictor = LatencyPredictor(cfg.hidden, cfg.layers, cfg.merge_cells)
    _set_normalisation(predictor, graphs, targets)
    with one_thread():
        _optimise(predictor, graphs, targets, cfg, progress)
    predictor.eval()
    return predictor


def _set_normalisation(predictor: LatencyPredictor, graphs: Sequence[Data], targets: Tensor) -> None:
    log_scale = torch.tensor([math.log(float(g.node_scale.sum())) for g in graphs])
    predictor.log_offset.fill_(float(targets.mean() - log_scale.mean()))
    x = torch.cat([g.x for g in graphs])
    predictor.feature_mean.copy_(x.mean(0))
    # Features constant in training (e.g. batch at a fixed config) keep their scale: a floor,
    # not a division by ~0 that would blow up any other value met later.
    predictor.feature_std.copy_(x.std(0).clamp(min=MIN_FEATURE_STD))


def _optimise(predictor: LatencyPredictor, graphs: Sequence[Data], targets: Tensor, cfg: PredictorConfig,
              progress: bool) -> None:
    rng = random.Random(cfg.seed)
    opt = torch.optim.Adam(predictor.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(graphs) / cfg.batch_size)
    epochs = max(cfg.epochs, math.ceil(cfg.min_steps / steps_per_epoch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, epochs=epochs,
                                                steps_per_epoch=steps_per_epoch, pct_start=0.1)
    predictor.train()
    order = list(range(len(graphs)))
    for _ in tqdm(range(epochs), desc="train", disable=True if not progress else None, leave=False):
        rng.shuffle(order)
        for k in range(0, len(order), cfg.batch_size):
            idx = order[k:k + cfg.batch_size]
            error = predictor.log_latency(collate_graphs([graphs[i] for i in idx])) - targets[idx]
            loss = _loss(error, cfg.loss)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()


def score_both(predictor: LatencyPredictor, baseline: Baseline, records: Sequence[Record]) -> dict:
    genotypes, configs = [r.genotype for r in records], [r.config for r in records]
    true = np.array([r.latency_ms for r in records])
    return {"gnn": regression_metrics(predictor.predict(genotypes, configs), true),
            "baseline": regression_metrics(baseline.predict(genotypes, configs), true)}


def fit_baseline(records: Sequence[Record]) -> Baseline:
    """The baseline of the records' metric (``gnnlat.count_baseline.baseline_for``), fitted on them."""
    return baseline_for(records[0].metric).fit([r.genotype for r in records], [r.config for r in records],
                                               [r.latency_ms for r in records])


def train_predictor(records: Sequence[Record], cfg: PredictorConfig = PredictorConfig(),
                    progress: bool = False) -> tuple[LatencyPredictor, dict]:
    """Split, train the GNN and the op-count baseline on the training side, score both on the
    held-out side. Returns the predictor (metadata filled in) and the metrics dict."""
    check_records(records)
    train_idx, val_idx = split_records(records, cfg.val_frac, cfg.seed, cfg.split)
    if cfg.max_train is not None:
        train_idx = train_idx[:cfg.max_train]
    train = [records[i] for i in train_idx]
    val = [records[i] for i in val_idx]
    t0 = time.perf_counter()
    predictor = fit_predictor(train, cfg, progress)
    baseline = fit_baseline(train)
    metrics: dict[str, Any] = {"split": cfg.split, "n_train": len(train), "n_val": len(val),
                               "train_seconds": time.perf_counter() - t0,
                               "train": score_both(predictor, baseline, train)}
    if val:
        metrics["val"] = score_both(predictor, baseline, val)
    predictor.meta = {
        "backend": records[0].backend,
        "metric": records[0].metric,
        "labels": records[0].label,
        "fingerprints": {r.fingerprint_id: r.fingerprint for r in records},
        "train_config": asdict(cfg),
        "metrics": metrics,
        "baseline": baseline.to_dict(),
        **training_set_meta(train, cfg.split),
    }
    return predictor, metrics
