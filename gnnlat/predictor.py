"""The compact GNN latency predictor: model, training, checkpoints, learning curve.

Model (graphs from :mod:`gnnlat.encoding`; :math:`w` = edge weights, :math:`s_i` = node scales):

.. math::
    h^0_i = \\mathrm{MLP}_\\text{in}\\big((x_i - \\mu) / \\sigma\\big), \\qquad
    h^{l+1}_i = h^l_i + \\mathrm{ReLU}\\big(W_1 h^l_i + W_2 \\textstyle\\sum_{j \\to i} w_{ji} h^l_j\\big)
    \\quad (\\text{GraphConv}),

.. math::
    \\log \\hat t = b + \\log \\sum_i s_i \\exp\\big(\\mathrm{MLP}_\\text{out}(h^L_i)\\big)
    \\quad (\\text{global\\_add\\_pool}),

with :math:`\\mu, \\sigma` the training set's feature statistics and :math:`b` its mean
log-latency minus its mean :math:`\\log \\sum_i s_i` (both stored in checkpoints).

Every node predicts its own (log) cost and the readout *adds the costs in ms*, as latency adds up
over the kernels a network runs; messages let a node's cost depend on its neighbours. Op nodes
are gated by their weight :math:`w` in both messages and readout, so a zero-weight candidate
contributes nothing and softmax(α) gives a differentiable expected-latency surrogate.

Size: 32 hidden units and one GraphConv layer (5.2k parameters) by default. Measured with 1,000
training architectures on the reference profiles (held-out MAPE for 0 / 1 / 2 layers): fixed
config 1.02 / 0.76 / 0.77 %, held-out configs 3.99 / 3.84 / 4.01 %; on the eager-torch profile,
whose repeat noise is 3.9 %, 4.44 / 4.68 / 4.90 % (op-count baseline 4.55 %): deeper message
passing starts to fit measurement noise. One layer keeps the context that matters (how many ops
read a state, what feeds an add node); forward + backward through the full α graph of the search
config (842 nodes) takes 1.7 ms (min; 2.2 ms median) on one core of a busy 2-core machine.

Why log-latency: the loss is a function of :math:`\\log \\hat t - \\log t \\approx` relative
error, which is what matters across networks whose latencies span two orders of magnitude
(0.15 ms to 18 ms across the reference profile's configs); an absolute loss would fit only the
big networks. The exp-sum readout keeps every prediction positive, and since a kernel's cost is
a power law in channels, resolution and batch, it is *linear* in the log-scaled node features,
so the model carries over to configs it never saw. The default loss is Huber on that error
(squared below 5 %, linear above): interference on a shared machine only ever slows a timing
down, so a few measurements are inflated by 10-20 %, and a squared loss lets them pull the fit
(on the reference profile Huber lowered held-out MAPE from 4.4 % to 4.0 % across configs and
from 0.81 % to 0.77 % at the fixed config).
"""
from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import GraphConv, global_add_pool
from torch_geometric.utils import scatter
from tqdm import tqdm

from gnnlat.baseline import OpCountBaseline
from gnnlat.encoding import (ENCODER_VERSION, NUM_FEATURES, GraphTemplate, encode_genotypes,
                             flat_weights, materialise, steps_for_weights, weights_template)
from gnnlat.genotype import Genotype
from gnnlat.metrics import regression_metrics
from gnnlat.network import NetworkConfig
from gnnlat.profiles import Record

FORMAT_NAME = "gnnlat-predictor"
SPLITS = ("architecture", "config")
LOSSES = ("mse", "l1", "huber")
MIN_FEATURE_STD = 0.1
HUBER_DELTA = 0.05  # log-latency error (≈ 5 %) beyond which a sample counts as an outlier


class PredictorError(ValueError):
    """A predictor file that cannot be used, or training input the predictor cannot learn from."""


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


# ---- the network ----------------------------------------------------------------------------


class LatencyGNN(nn.Module):
    """Node MLP → residual GraphConv layers (edge-weighted sums) → per-node log cost."""

    def __init__(self, hidden: int, layers: int, in_features: int = NUM_FEATURES):
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.convs = nn.ModuleList(GraphConv(hidden, hidden, aggr="add") for _ in range(layers))
        self.cost = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: Tensor, data: Data) -> Tensor:
        """Log of the summed node costs per graph, shape (num_graphs,), before the offset;
        ``x``: the (normalised) node features of ``data``."""
        h = self.embed(x)
        for conv in self.convs:
            h = h + torch.relu(conv(h, data.edge_index, data.edge_weight))
        log_cost = self.cost(h).squeeze(-1)
        # Shift by the per-graph maximum before exp (a log-sum-exp), so no cost overflows float32;
        # the shift is a constant per graph and cancels in the log. Scales multiply (never log) so
        # a weight of exactly 0 stays harmless.
        shift = scatter(log_cost.detach(), data.batch, dim=0, dim_size=data.num_graphs, reduce="max")
        node_cost = data.node_scale * torch.exp(log_cost - shift[data.batch])
        total = global_add_pool(node_cost.unsqueeze(-1), data.batch, size=data.num_graphs).squeeze(-1)
        return torch.log(total) + shift


# ---- the predictor --------------------------------------------------------------------------


class LatencyPredictor(nn.Module):
    """Predicts a network's latency (ms) from a genotype or from the search's soft weights.

    ``meta`` carries what a checkpoint must keep besides the weights: backend, device
    fingerprints, training config, metrics and the op-count baseline fitted on the same split.
    """

    FORMAT_VERSION: int = 1

    def __init__(self, hidden: int = 32, layers: int = 1, merge_cells: bool = True,
                 meta: dict | None = None):
        super().__init__()
        self.gnn = LatencyGNN(hidden, layers)
        self.hidden, self.layers, self.merge_cells = hidden, layers, merge_cells
        # b of the module docstring: mean training log-latency minus mean log total node scale,
        # so an untrained model already predicts the right magnitude.
        self.register_buffer("log_offset", torch.zeros(()))
        # Node features are standardised with training-set statistics (centred inputs train faster).
        self.register_buffer("feature_mean", torch.zeros(NUM_FEATURES))
        self.register_buffer("feature_std", torch.ones(NUM_FEATURES))
        self.meta: dict = dict(meta or {})
        self._templates: dict[tuple, GraphTemplate] = {}

    # ---- prediction -------------------------------------------------------------------------

    def log_latency(self, data: Data) -> Tensor:
        """Predicted log-latency (log ms) of each graph in ``data``."""
        x = (data.x - self.feature_mean) / self.feature_std
        return self.gnn(x, data) + self.log_offset

    def predict(self, genotypes: Sequence[Genotype],
                configs: Sequence[NetworkConfig] | NetworkConfig, chunk: int = 2048) -> np.ndarray:
        """Latency in ms of each genotype at its config (one config: all at that config)."""
        genotypes = list(genotypes)
        if isinstance(configs, NetworkConfig):
            configs = [configs] * len(genotypes)
        configs = list(configs)
        if len(configs) != len(genotypes):
            raise PredictorError(f"{len(genotypes)} genotypes but {len(configs)} configs")
        device = self.log_offset.device
        out = []
        with torch.no_grad():
            for i in range(0, len(genotypes), chunk):
                data = encode_genotypes(genotypes[i:i + chunk], configs[i:i + chunk], self.merge_cells)
                out.append(torch.exp(self.log_latency(data.to(device))).double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def predict_weights(self, w_normal: Tensor, w_reduce: Tensor, config: NetworkConfig,
                        multiplier: int | None = None) -> Tensor:
        """Latency (ms, 0-dim) of the soft architecture ``w = softmax(α)`` (rows: edges, columns:
        PRIMITIVES); differentiable w.r.t. the weights. ``multiplier``: cell outputs concatenated
        (default: all intermediate nodes, as in DARTS)."""
        steps = steps_for_weights(w_normal, w_reduce)
        key = (steps, multiplier, config, w_normal.device)
        if key not in self._templates:
            template = weights_template(steps, config, multiplier, self.merge_cells)
            self._templates[key] = template.to(w_normal.device)
        data = materialise(self._templates[key], flat_weights(w_normal, w_reduce))
        return torch.exp(self.log_latency(data))[0]

    def latency_fn(self, config: NetworkConfig, multiplier: int | None = None
                   ) -> Callable[[Tensor, Tensor], Tensor]:
        """``f(w_normal, w_reduce) -> ms`` with the network config bound, for the search loop."""
        def latency(w_normal: Tensor, w_reduce: Tensor) -> Tensor:
            return self.predict_weights(w_normal, w_reduce, config, multiplier)
        return latency

    # ---- metadata ---------------------------------------------------------------------------

    @property
    def fingerprints(self) -> dict[str, dict]:
        return dict(self.meta.get("fingerprints", {}))

    @property
    def backend(self) -> str | None:
        return self.meta.get("backend")

    @property
    def labels(self) -> str:
        """The latency labels it trained on (``gnnlat.profiles.load_records``); older files: min."""
        return str(self.meta.get("labels", "min"))

    @property
    def baseline(self) -> OpCountBaseline | None:
        data = self.meta.get("baseline")
        return OpCountBaseline.from_dict(data) if data else None

    # ---- checkpoints ------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Weights + format/encoder versions + normalisation + metadata (as JSON text, so the
        file loads with ``weights_only=True``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({
            "format": FORMAT_NAME,
            "format_version": self.FORMAT_VERSION,
            "encoder_version": ENCODER_VERSION,
            "model": {"hidden": self.hidden, "layers": self.layers, "merge_cells": self.merge_cells},
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
            "meta_json": json.dumps(self.meta, sort_keys=True, default=_json_default),
        }, path)

    @classmethod
    def load(cls, path: str | Path, expect_fingerprint: str | None = None) -> "LatencyPredictor":
        """Load a checkpoint; PredictorError for a missing, foreign, corrupt, other-version or
        other-device file."""
        ckpt = _read_checkpoint(Path(path))
        version = ckpt.get("format_version")
        if version != cls.FORMAT_VERSION or ckpt.get("encoder_version") != ENCODER_VERSION:
            raise PredictorError(
                f"{path} is predictor format {version} (encoder {ckpt.get('encoder_version')}); this gnnlat "
                f"reads format {cls.FORMAT_VERSION} (encoder {ENCODER_VERSION}): retrain the predictor")
        try:
            model = ckpt["model"]
            meta = json.loads(ckpt["meta_json"])
            predictor = cls(int(model["hidden"]), int(model["layers"]), bool(model["merge_cells"]), meta)
            predictor.load_state_dict(ckpt["state_dict"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise PredictorError(f"{path} is a corrupt predictor file ({type(exc).__name__}: {exc})") from None
        if expect_fingerprint is not None and expect_fingerprint not in predictor.fingerprints:
            known = ", ".join(sorted(predictor.fingerprints)) or "none recorded"
            raise PredictorError(f"{path} was trained on device fingerprint(s) {known}, not "
                                 f"{expect_fingerprint}: profile this device and train a predictor for it")
        predictor.eval()
        return predictor


def _read_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise PredictorError(f"no such predictor file: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign/corrupt files (pickle, zip, EOF)
        raise PredictorError(f"{path} is not a gnnlat predictor file or is corrupt "
                             f"({type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT_NAME:
        raise PredictorError(f"{path} is not a gnnlat predictor file")
    return ckpt


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in predictor metadata")


# ---- data split -----------------------------------------------------------------------------


def split_records(records: Sequence[Record], val_frac: float, seed: int, by: str = "architecture"
                  ) -> tuple[list[int], list[int]]:
    """Seeded (train, validation) indices. Records are grouped by architecture (genotype + config)
    or by config, and whole groups go to one side, so nothing is on both sides. The training
    indices come in a seeded random order, so any prefix (``max_train``, learning curves) is a
    random sample of the training side, not a few whole groups."""
    if by not in SPLITS:
        raise PredictorError(f"split must be one of {', '.join(SPLITS)}, got {by!r}")
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        groups.setdefault(r.arch_key if by == "architecture" else r.config_key, []).append(i)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    n_val = int(round(val_frac * len(keys)))
    if val_frac > 0 and len(keys) > 1:
        n_val = min(max(n_val, 1), len(keys) - 1)
    train = [i for k in keys[n_val:] for i in groups[k]]
    val = [i for k in keys[:n_val] for i in groups[k]]
    random.Random(seed + 1).shuffle(train)
    return train, sorted(val)


# ---- training -------------------------------------------------------------------------------


def _check_records(records: Sequence[Record]) -> None:
    if not records:
        raise PredictorError("no training records")
    backends = sorted({r.backend for r in records})
    if len(backends) > 1:
        raise PredictorError(f"records mix backends ({', '.join(backends)}); train one predictor per backend")
    labels = sorted({r.label for r in records})
    if len(labels) > 1:
        raise PredictorError(f"records mix latency labels ({', '.join(labels)}); choose one with --labels")
    bad = [r.latency_ms for r in records if not (math.isfinite(r.latency_ms) and r.latency_ms > 0)]
    if bad:
        raise PredictorError(f"{len(bad)} record(s) have a latency that is not a positive number")


def _collate(graphs: Sequence[Data]) -> Data:
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
    _check_records(records)
    graphs = [encode_genotypes([r.genotype], [r.config], cfg.merge_cells) for r in records]
    targets = torch.tensor([math.log(r.latency_ms) for r in records], dtype=torch.float32)
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
        torch.manual_seed(cfg.seed)
        predictor = LatencyPredictor(cfg.hidden, cfg.layers, cfg.merge_cells)
    _set_normalisation(predictor, graphs, targets)
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
            error = predictor.log_latency(_collate([graphs[i] for i in idx])) - targets[idx]
            loss = _loss(error, cfg.loss)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()


def _evaluate(predictor: LatencyPredictor, baseline: OpCountBaseline, records: Sequence[Record]) -> dict:
    genotypes, configs = [r.genotype for r in records], [r.config for r in records]
    true = np.array([r.latency_ms for r in records])
    return {"gnn": regression_metrics(predictor.predict(genotypes, configs), true),
            "baseline": regression_metrics(baseline.predict(genotypes, configs), true)}


def _fit_baseline(records: Sequence[Record]) -> OpCountBaseline:
    return OpCountBaseline().fit([r.genotype for r in records], [r.config for r in records],
                                 [r.latency_ms for r in records])


def train_predictor(records: Sequence[Record], cfg: PredictorConfig = PredictorConfig(),
                    progress: bool = False) -> tuple[LatencyPredictor, dict]:
    """Split, train the GNN and the op-count baseline on the training side, score both on the
    held-out side. Returns the predictor (metadata filled in) and the metrics dict."""
    _check_records(records)
    train_idx, val_idx = split_records(records, cfg.val_frac, cfg.seed, cfg.split)
    if cfg.max_train is not None:
        train_idx = train_idx[:cfg.max_train]
    train = [records[i] for i in train_idx]
    val = [records[i] for i in val_idx]
    t0 = time.perf_counter()
    predictor = fit_predictor(train, cfg, progress)
    baseline = _fit_baseline(train)
    metrics: dict[str, Any] = {"split": cfg.split, "n_train": len(train), "n_val": len(val),
                               "train_seconds": time.perf_counter() - t0,
                               "train": _evaluate(predictor, baseline, train)}
    if val:
        metrics["val"] = _evaluate(predictor, baseline, val)
    predictor.meta = {
        "backend": records[0].backend,
        "labels": records[0].label,
        "fingerprints": {r.fingerprint_id: r.fingerprint for r in records},
        "train_config": asdict(cfg),
        "metrics": metrics,
        "baseline": baseline.to_dict(),
        "train_keys": [r.record_key for r in train],
    }
    return predictor, metrics


def learning_curve(records: Sequence[Record], sizes: Sequence[int], cfg: PredictorConfig = PredictorConfig(),
                   progress: bool = False) -> list[dict]:
    """GNN and op-count baseline validation metrics vs training-set size, on one fixed held-out set.

    Each row: ``{"size", "n_train", "n_val", "gnn": metrics, "baseline": metrics, "train_seconds"}``;
    the training sets are nested prefixes of one shuffled pool. A size beyond the pool is clamped
    (``n_train`` says how many were used); a size that clamps to a row already fitted is skipped.
    """
    _check_records(records)
    train_idx, val_idx = split_records(records, cfg.val_frac, cfg.seed, cfg.split)
    if not val_idx:
        raise PredictorError("learning_curve needs a held-out set: val_frac must be > 0")
    val = [records[i] for i in val_idx]
    rows = []
    for size in sizes:
        if size < 1:
            raise PredictorError(f"training sizes must be >= 1, got {size}")
        train = [records[i] for i in train_idx[:size]]
        if any(r["n_train"] == len(train) for r in rows):
            continue
        t0 = time.perf_counter()
        predictor = fit_predictor(train, cfg, progress)
        scores = _evaluate(predictor, _fit_baseline(train), val)
        rows.append({"size": int(size), "n_train": len(train), "n_val": len(val), **scores,
                     "train_seconds": time.perf_counter() - t0})
    return rows
