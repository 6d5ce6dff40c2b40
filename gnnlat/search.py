"""Latency-aware DARTS search: the bilevel loop, λ targeting, skip cap, checkpoints.

The train split is halved (DARTS' ``train_portion``): one half trains the supernet weights w with
SGD, the other trains α with :class:`~gnnlat.architect.Architect` on

    L_α = CE_val + λ · LAT(softmax(α)) / LAT_ref.

LAT_ref is a fixed reference so that λ means the same on every device and network config. The
default (``lat_ref="cells"``) is the latency the cells of the uniform architecture (all α equal)
add on top of the part no α controls (stem, cell preprocessing, head):
LAT_ref = LAT(uniform) − LAT(all edges ``none``). Dividing by the whole LAT(uniform) instead
(``lat_ref="uniform"``) would tie λ's strength to the fixed part's share of the latency, which
differs between devices, configs and batch sizes. The
held-out val split (seen by neither half) gives the reported accuracy. Everything is driven by
:class:`SearchConfig`, so a CLI can sweep λ and seeds by building configs.

After every epoch ``out_dir/checkpoint.pt`` is replaced atomically (weights, α, both optimizers,
LR schedule, λ, LAT_ref, RNG states, history, config; plain tensors and containers so it loads
with ``weights_only=True``). Batch order is a pure function of (seed, epoch), so on CPU a resumed
search reproduces an uninterrupted one exactly.
"""
from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from gnnlat.architect import Architect, LatencyFn
from gnnlat.data import DatasetSplits, load_dataset
from gnnlat.genotype import Genotype
from gnnlat.network import NetworkConfig
from gnnlat.operations import PRIMITIVES
from gnnlat.supernet import Supernet, derive_cell, num_edges, one_hot_alpha

STEPS = 4  # intermediate nodes per cell: the latency predictor's interface is 14 edges × 8 ops
CHECKPOINT = "checkpoint.pt"
CHECKPOINT_VERSION = 1
LAT_REFS = ("cells", "uniform")
# Config fields that may change between an interrupted run and its resume (they don't alter numerics).
RESUME_FREE_FIELDS = frozenset({"out_dir", "data_dir", "device"})


class SearchError(ValueError):
    """Bad search config, or a checkpoint that is missing or does not match the config."""


@dataclass
class SearchConfig:
    """Everything that defines a search run.

    The defaults are a proxy search on digits (8×8): a C=8, 5-cell supernet for 10 epochs takes
    about 4 minutes on one busy core and reaches ~97 % val accuracy. ``skip_cap`` caps skip_connect
    in the derived normal cell (see :func:`cap_skip_connect`; None disables it). With ``target_ms``
    set, λ starts at ``lam`` (clipped into [lam_min, lam_max]) and follows :func:`adapt_lambda`.
    """

    dataset: str = "digits"
    data_dir: str | None = None
    epochs: int = 10
    batch_size: int = 64
    C: int = 8
    layers: int = 5
    lam: float = 0.2
    target_ms: float | None = None
    lam_gain: float = 1.0  # exponent of the target-latency λ rule
    lam_min: float = 1e-3
    lam_max: float = 10.0
    order: int = 1
    seed: int = 0
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    # DARTS uses 3e-4 over ~20k α steps; the digits proxy makes ~90. At 3e-3 the α logits of an
    # edge end only 0.16 apart (softmax max 0.135 vs 0.125 uniform), so the derived cell is close to
    # random; 3e-2 spreads them 1-1.5 apart, about what a full DARTS search reaches.
    arch_lr: float = 3e-2
    arch_weight_decay: float = 1e-3
    skip_cap: int | None = 2
    lat_ref: str = "cells"  # reference latency: "cells" or "uniform" (see the module docstring)
    train_portion: float = 0.5
    max_batches: int | None = None  # per epoch; for quick tests
    device: str = "cpu"
    out_dir: str = "runs/search"

    def validate(self) -> None:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise SearchError(msg)

        for name in ("epochs", "batch_size", "C", "layers"):
            v = getattr(self, name)
            need(isinstance(v, int) and not isinstance(v, bool) and v >= 1,
                 f"{name} must be a positive integer, got {v!r}")
        need(self.order in (1, 2), f"order must be 1 or 2, got {self.order!r}")
        need(math.isfinite(self.lam) and self.lam >= 0, f"lam must be a finite number >= 0, got {self.lam!r}")
        need(self.target_ms is None or (math.isfinite(self.target_ms) and self.target_ms > 0),
             f"target_ms must be a positive number, got {self.target_ms!r}")
        need(0 < self.lam_min <= self.lam_max, f"need 0 < lam_min <= lam_max, got {self.lam_min}, {self.lam_max}")
        need(self.lam_gain > 0, f"lam_gain must be positive, got {self.lam_gain}")
        need(0 < self.train_portion < 1, f"train_portion must lie in (0, 1), got {self.train_portion}")
        need(self.skip_cap is None or self.skip_cap >= 0, f"skip_cap must be >= 0 or None, got {self.skip_cap}")
        need(self.lat_ref in LAT_REFS, f"lat_ref must be one of {', '.join(LAT_REFS)}, got {self.lat_ref!r}")
        need(self.max_batches is None or self.max_batches >= 1, f"max_batches must be >= 1, got {self.max_batches}")
        for name in ("lr", "arch_lr", "grad_clip"):
            need(getattr(self, name) > 0, f"{name} must be positive, got {getattr(self, name)}")
        need(0 <= self.lr_min <= self.lr, f"lr_min must lie in [0, lr], got {self.lr_min}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchResult:
    genotype: Genotype
    predicted_ms: float  # latency_fn of the derived genotype's one-hot α
    val_acc: float
    lam: float  # λ after the last epoch (differs from cfg.lam in target mode)
    lat_ref: float
    history: list[dict[str, Any]]
    out_dir: str
    alpha_normal: torch.Tensor = field(repr=False, default_factory=lambda: torch.empty(0))
    alpha_reduce: torch.Tensor = field(repr=False, default_factory=lambda: torch.empty(0))


# ---- derivation --------------------------------------------------------------------------
def cap_skip_connect(weights: torch.Tensor, cap: int | None, steps: int = STEPS) -> torch.Tensor:
    """Edge weights whose derived cell has at most ``cap`` skip_connect edges (P-DARTS-style cap).

    Among the skip edges the DARTS rule would keep, the ``cap`` with the largest skip weight stay;
    the others get their skip weight zeroed and the cell is derived again, so such an edge takes its
    next-best non-skip op (or loses its slot to a stronger edge). Repeat until the cap holds, since
    a re-derived node may pick up another skip edge.

    Why a cap and not a regulariser: the latency term itself rewards skip (it is the cheapest
    parametric-free op after `none`), so a skip penalty inside L_α would fight λ directly and blur
    the accuracy/latency trade-off being searched. The cap leaves the α dynamics alone and only
    stops the known DARTS failure (normal cells collapsing to parameter-free skips) at derivation.
    """
    w = weights.detach().clone()
    if cap is None:
        return w
    skip = PRIMITIVES.index("skip_connect")
    starts = [sum(k + 2 for k in range(i)) for i in range(steps)]
    for _ in range(num_edges(steps) + 1):
        pairs = derive_cell(w, steps)
        rows = [starts[k // 2] + inp for k, (op, inp) in enumerate(pairs) if op == "skip_connect"]
        if len(rows) <= cap:
            return w
        rows.sort(key=lambda r: (-float(w[r, skip]), r))
        for r in rows[cap:]:
            w[r, skip] = 0.0
    raise AssertionError("skip cap did not converge")  # each pass zeroes a positive weight


def derive_genotype_capped(w_normal: torch.Tensor, w_reduce: torch.Tensor, skip_cap: int | None,
                           steps: int = STEPS) -> Genotype:
    """DARTS derivation with the skip cap on the normal cell (reduce cells are left as derived)."""
    concat = list(range(2, steps + 2))
    normal = derive_cell(cap_skip_connect(w_normal, skip_cap, steps), steps)
    return Genotype(normal=normal, normal_concat=concat, reduce=derive_cell(w_reduce.detach(), steps),
                    reduce_concat=concat)


def genotype_latency(latency_fn: LatencyFn, genotype: Genotype, device: str | torch.device = "cpu") -> float:
    """Predicted latency of a discrete genotype: latency_fn on softmax of its one-hot α."""
    w_n = F.softmax(one_hot_alpha(genotype, reduction=False), dim=-1).to(device)
    w_r = F.softmax(one_hot_alpha(genotype, reduction=True), dim=-1).to(device)
    with torch.no_grad():
        return float(latency_fn(w_n, w_r))


def uniform_latency(latency_fn: LatencyFn, device: str | torch.device = "cpu") -> float:
    """LAT_ref: latency_fn of the uniform architecture (all α equal)."""
    w = torch.full((num_edges(STEPS), len(PRIMITIVES)), 1.0 / len(PRIMITIVES), device=device)
    with torch.no_grad():
        return float(latency_fn(w, w.clone()))


def reference_latency(latency_fn: LatencyFn, mode: str = "cells", device: str | torch.device = "cpu") -> float:
    """LAT_ref: ``uniform`` = LAT(uniform α); ``cells`` = LAT(uniform α) − LAT(every edge ``none``)."""
    if mode not in LAT_REFS:
        raise SearchError(f"lat_ref must be one of {', '.join(LAT_REFS)}, got {mode!r}")
    uniform = uniform_latency(latency_fn, device)
    if mode == "uniform":
        return uniform
    w = torch.zeros((num_edges(STEPS), len(PRIMITIVES)), device=device)
    w[:, PRIMITIVES.index("none")] = 1.0
    with torch.no_grad():
        fixed = float(latency_fn(w, w.clone()))
    if not uniform > fixed:
        raise SearchError(f"the predictor gives the cells no latency (uniform {uniform:.4g} ms, cells empty "
                          f"{fixed:.4g} ms); use lat_ref='uniform'")
    return uniform - fixed


# ---- λ targeting -------------------------------------------------------------------------
def adapt_lambda(lam: float, predicted_ms: float, target_ms: float, gain: float = 1.0,
                 lam_min: float = 1e-3, lam_max: float = 10.0) -> float:
    """Multiplicative λ controller for ``--target-ms``.

        λ ← clip(λ · clip((ms / target)^gain, 1/2, 2), lam_min, lam_max)

    where ms is the predicted latency of the genotype derived this epoch. Over budget (ms > target)
    raises λ, under budget lowers it, in proportion to the relative miss; the per-epoch factor is
    limited to [1/2, 2] so one noisy derivation cannot swing λ by orders of magnitude, and the
    bounds keep λ > 0 (a multiplicative rule could never leave 0).
    """
    factor = min(2.0, max(0.5, (predicted_ms / target_ms) ** gain))
    return min(lam_max, max(lam_min, lam * factor))


# ---- data --------------------------------------------------------------------------------
def split_for_search(train: TensorDataset, portion: float, seed: int) -> tuple[TensorDataset, TensorDataset]:
    """Seeded split of the train set into the weight half and the α half (DARTS train_portion)."""
    x, y = train.tensors
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    cut = int(round(portion * len(y)))
    if cut < 1 or cut >= len(y):
        raise SearchError(f"train split of {len(y)} examples is too small to halve for search")
    a, b = perm[:cut].sort().values, perm[cut:].sort().values
    return TensorDataset(x[a], y[a]), TensorDataset(x[b], y[b])


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, stream: int) -> list[torch.Tensor]:
    """Index batches of one epoch. The order depends only on (seed, epoch, stream), so a resumed
    run sees exactly the batches an uninterrupted one would."""
    g = torch.Generator().manual_seed(((seed * 1_000_003 + epoch) * 7 + stream) % (2**63))
    return list(torch.randperm(n, generator=g).split(batch_size))


# ---- the loop ----------------------------------------------------------------------------
def run_search(cfg: SearchConfig, latency_fn: LatencyFn, lat_ref: float | None = None, resume: bool = False,
               progress: Callable[[dict[str, Any]], None] | None = None) -> SearchResult:
    """Run (or resume) a latency-aware DARTS search; checkpoints every epoch, writes the genotype.

    ``progress`` receives one plain dict per finished epoch (after the checkpoint is written):
    epoch, ce, lat_term, soft_ms, predicted_ms, val_acc, lam, genotype (as dict), train_loss,
    train_acc, lr, time_s. An exception raised by ``progress`` stops the run; the checkpoint of that
    epoch is already on disk.
    """
    cfg.validate()
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _seed_everything(cfg.seed)
    splits = load_dataset(cfg.dataset, cfg.data_dir, cfg.seed)
    w_data, a_data = split_for_search(splits.train, cfg.train_portion, cfg.seed)
    model = Supernet(_network_config(cfg, splits), steps=STEPS).to(cfg.device)
    w_opt = torch.optim.SGD(model.weight_parameters(), lr=cfg.lr, momentum=cfg.momentum,
                            weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, cfg.epochs, eta_min=cfg.lr_min)
    state = _load_checkpoint(out / CHECKPOINT, cfg) if resume else None
    if state is None:
        lat_ref = reference_latency(latency_fn, cfg.lat_ref, cfg.device) if lat_ref is None else float(lat_ref)
        lam = min(cfg.lam_max, max(cfg.lam_min, cfg.lam)) if cfg.target_ms else cfg.lam
        start, history = 0, []
    else:
        if lat_ref is not None and not math.isclose(lat_ref, state["lat_ref"], rel_tol=1e-9):
            raise SearchError(f"lat_ref {lat_ref} differs from the checkpoint's {state['lat_ref']}")
        lat_ref, lam = state["lat_ref"], state["lam"]
        start, history = state["epoch"], state["history"]
    if not (math.isfinite(lat_ref) and lat_ref > 0):
        raise SearchError(f"reference latency must be a positive number, got {lat_ref}")
    architect = Architect(model, latency_fn, lat_ref, lam, lr=cfg.arch_lr, weight_decay=cfg.arch_weight_decay)
    if state is not None:
        _restore(state, model, w_opt, sched, architect)

    for epoch in range(start, cfg.epochs):
        record = _run_epoch(cfg, epoch, model, architect, w_opt, sched, w_data, a_data, splits.val, latency_fn)
        history.append(record)
        if cfg.target_ms:
            architect.lam = adapt_lambda(architect.lam, record["predicted_ms"], cfg.target_ms, cfg.lam_gain,
                                         cfg.lam_min, cfg.lam_max)
        sched.step()
        _save_checkpoint(out / CHECKPOINT, cfg, epoch + 1, model, w_opt, sched, architect, history)
        if progress is not None:
            progress(dict(record))
    return _finish(cfg, model, architect, latency_fn, splits, history, out)


def _run_epoch(cfg: SearchConfig, epoch: int, model: Supernet, architect: Architect, w_opt: torch.optim.SGD,
               sched: torch.optim.lr_scheduler.LRScheduler, w_data: TensorDataset, a_data: TensorDataset,
               val: TensorDataset, latency_fn: LatencyFn) -> dict[str, Any]:
    t0 = time.perf_counter()
    lr = sched.get_last_lr()[0]
    lam_used = architect.lam
    stats = _bilevel_epoch(cfg, epoch, model, architect, w_opt, lr, w_data, a_data)
    genotype = derive_genotype_capped(*model.edge_weights(), cfg.skip_cap)
    soft_ms = architect.latency_ms()
    return {
        "epoch": epoch + 1,
        "ce": stats["ce"],
        "lat_term": lam_used * soft_ms / architect.lat_ref,
        "soft_ms": soft_ms,
        "predicted_ms": genotype_latency(latency_fn, genotype, cfg.device),
        "val_acc": evaluate(model, val, cfg.device),
        "lam": lam_used,
        "genotype": genotype.to_dict(),
        "train_loss": stats["train_loss"],
        "train_acc": stats["train_acc"],
        "lr": lr,
        "time_s": time.perf_counter() - t0,
    }


def _bilevel_epoch(cfg: SearchConfig, epoch: int, model: Supernet, architect: Architect,
                   w_opt: torch.optim.SGD, lr: float, w_data: TensorDataset, a_data: TensorDataset
                   ) -> dict[str, float]:
    """One pass: per batch, an α step on the α half, then an SGD step on the weight half (DARTS order)."""
    model.train()
    wx, wy = w_data.tensors
    ax, ay = a_data.tensors
    w_batches = epoch_batches(len(wy), cfg.batch_size, cfg.seed, epoch, 0)
    a_batches = epoch_batches(len(ay), cfg.batch_size, cfg.seed, epoch, 1)
    n = min(len(w_batches), len(a_batches), cfg.max_batches or len(w_batches))
    ce_sum = loss_sum = correct = seen = 0.0
    weights = list(model.weight_parameters())
    for i in range(n):
        xt, yt = wx[w_batches[i]].to(cfg.device), wy[w_batches[i]].to(cfg.device)
        xv, yv = ax[a_batches[i]].to(cfg.device), ay[a_batches[i]].to(cfg.device)
        ce_sum += architect.step(xt, yt, xv, yv, order=cfg.order, eta=lr, w_optimizer=w_opt)["ce"]
        w_opt.zero_grad(set_to_none=True)
        logits = model(xt)
        loss = F.cross_entropy(logits, yt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(weights, cfg.grad_clip)
        w_opt.step()
        loss_sum += float(loss.detach()) * len(yt)
        correct += float((logits.argmax(1) == yt).sum())
        seen += len(yt)
    return {"ce": ce_sum / n, "train_loss": loss_sum / seen, "train_acc": correct / seen}


def evaluate(model: torch.nn.Module, data: TensorDataset, device: str | torch.device = "cpu",
             batch_size: int = 256) -> float:
    """Top-1 accuracy (fraction) in eval mode."""
    was_training = model.training
    model.eval()
    x, y = data.tensors
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch_size):
            logits = model(x[i:i + batch_size].to(device))
            correct += int((logits.argmax(1).cpu() == y[i:i + batch_size]).sum())
    model.train(was_training)
    return correct / max(1, len(y))


def _finish(cfg: SearchConfig, model: Supernet, architect: Architect, latency_fn: LatencyFn,
            splits: DatasetSplits, history: list[dict[str, Any]], out: Path) -> SearchResult:
    genotype = derive_genotype_capped(*model.edge_weights(), cfg.skip_cap)
    predicted = genotype_latency(latency_fn, genotype, cfg.device)
    val_acc = history[-1]["val_acc"] if history else evaluate(model, splits.val, cfg.device)
    result = SearchResult(genotype, predicted, val_acc, architect.lam, architect.lat_ref, history, str(out),
                          model.alpha_normal.detach().cpu().clone(), model.alpha_reduce.detach().cpu().clone())
    _atomic_write_text(out / "genotype.json", json.dumps(genotype.to_dict(), indent=1) + "\n")
    _atomic_write_text(out / "genotype.txt", genotype.to_darts() + "\n")
    summary = {"predicted_ms": predicted, "val_acc": val_acc, "lam": architect.lam, "lat_ref": architect.lat_ref,
               "genotype": genotype.to_dict(), "config": cfg.to_dict(), "history": history}
    _atomic_write_text(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    return result


def _network_config(cfg: SearchConfig, splits: DatasetSplits) -> NetworkConfig:
    try:
        return NetworkConfig(C=cfg.C, layers=cfg.layers, in_channels=splits.in_channels,
                             resolution=splits.resolution, batch=1, classes=splits.classes)
    except ValueError as exc:
        raise SearchError(f"bad supernet shape: {exc}") from None


# ---- checkpoints -------------------------------------------------------------------------
def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _rng_state() -> dict[str, Any]:
    """Python/numpy/torch RNG states as tensors and plain values (loadable with weights_only)."""
    version, py_state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": {"version": version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss": gauss},
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])


def _save_checkpoint(path: Path, cfg: SearchConfig, epoch: int, model: Supernet, w_opt: torch.optim.Optimizer,
                     sched: torch.optim.lr_scheduler.LRScheduler, architect: Architect,
                     history: list[dict[str, Any]]) -> None:
    state = {
        "version": CHECKPOINT_VERSION,
        "cfg": cfg.to_dict(),
        "epoch": epoch,
        "model": model.state_dict(),
        "w_optimizer": w_opt.state_dict(),
        "scheduler": sched.state_dict(),
        "architect": architect.state_dict(),
        "lam": architect.lam,
        "lat_ref": architect.lat_ref,
        "history": history,
        "rng": _rng_state(),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: Path, cfg: SearchConfig) -> dict[str, Any]:
    if not path.is_file():
        raise SearchError(f"cannot resume: no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or foreign files raise many types
        raise SearchError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise SearchError(f"{path} is not a gnnlat search checkpoint (version {CHECKPOINT_VERSION})")
    saved, now = state["cfg"], cfg.to_dict()
    diff = sorted(k for k in set(saved) | set(now) if k not in RESUME_FREE_FIELDS and saved.get(k) != now.get(k))
    if diff:
        details = ", ".join(f"{k}: checkpoint {saved.get(k)!r} vs now {now.get(k)!r}" for k in diff)
        raise SearchError(f"cannot resume: config differs from the checkpoint's ({details})")
    return state


def _restore(state: dict[str, Any], model: Supernet, w_opt: torch.optim.Optimizer,
             sched: torch.optim.lr_scheduler.LRScheduler, architect: Architect) -> None:
    model.load_state_dict(state["model"])
    w_opt.load_state_dict(state["w_optimizer"])
    sched.load_state_dict(state["scheduler"])
    architect.load_state_dict(state["architect"])
    _set_rng_state(state["rng"])


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


__all__ = [
    "SearchConfig", "SearchResult", "SearchError", "run_search", "reference_latency", "adapt_lambda",
    "cap_skip_connect",
    "derive_genotype_capped", "genotype_latency", "uniform_latency", "split_for_search", "evaluate",
]
