"""Latency-aware DARTS search: the bilevel loop.

The train split is halved (DARTS' ``train_portion``): one half trains the supernet weights w with
SGD, the other trains α with :class:`~gnnlat.architect.Architect` on

    L_α = CE_val + λ · LAT(softmax(α)) / LAT_ref [+ λ_mem · MEM(softmax(α)) / MEM_ref]

(LAT_ref, and MEM_ref formed the same way from a memory predictor: :mod:`gnnlat.lat_ref`; λ targeting: :mod:`gnnlat.lambda_control`; derivation with the
skip cap: :mod:`gnnlat.derive`). The held-out val split (seen by neither half) gives the reported
accuracy. A checkpoint is written after every epoch (:mod:`gnnlat.search_checkpoint`); batch
order is a pure function of (seed, epoch), so a resumed search on the same device reproduces an
uninterrupted one.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.data import TensorDataset

from gnnlat.architect import Architect, LatencyFn
from gnnlat.costs import CostFn, CostTerm
from gnnlat.data import DatasetSplits, epoch_batches, load_dataset, split_for_search
from gnnlat.derive import STEPS, derive_genotype_capped
from gnnlat.genotype import Genotype
from gnnlat.lambda_control import adapt_lambda
from gnnlat.lat_ref import genotype_latency, reference_latency
from gnnlat.search_checkpoint import CHECKPOINT, atomic_write_text, load_checkpoint, restore, save_checkpoint
from gnnlat.search_config import SearchConfig, SearchError
from gnnlat.steps import dataset_network_config, evaluate, resolve_device, seed_everything, sgd_step
from gnnlat.supernet import Supernet


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
    # One entry per further cost term: name, unit, lam (after the last epoch), ref, predicted.
    costs: list[dict[str, Any]] = field(default_factory=list)


def run_search(cfg: SearchConfig, latency_fn: LatencyFn, lat_ref: float | None = None, resume: bool = False,
               progress: Callable[[dict[str, Any]], None] | None = None,
               memory_fn: CostFn | None = None, memory_ref: float | None = None) -> SearchResult:
    """Run (or resume) a latency-aware DARTS search; checkpoints every epoch, writes the genotype.

    ``memory_fn`` (predicted peak memory in MB of the soft weights) is needed when ``cfg`` has a
    memory term (``lam_memory`` or ``target_mb``); ``memory_ref`` fixes MEM_ref (default: formed
    like LAT_ref). Epoch records then carry ``predicted_mb`` and ``memory_term`` too.

    ``progress`` receives one plain dict per finished epoch (after the checkpoint is written):
    epoch, ce, lat_term, soft_ms, predicted_ms, val_acc, lam, genotype (as dict), train_loss,
    train_acc, lr, time_s. An exception raised by ``progress`` stops the run; the checkpoint of that
    epoch is already on disk.
    """
    cfg.validate()
    if cfg.uses_memory and memory_fn is None:
        raise SearchError("a search with a memory term needs a memory predictor")
    device = resolve_device(cfg.device, SearchError)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed, device)
    splits = load_dataset(cfg.dataset, cfg.data_dir, cfg.seed)
    w_data, a_data = split_for_search(splits.train, cfg.train_portion, cfg.seed)
    model = Supernet(dataset_network_config(splits, cfg.C, cfg.layers, SearchError), steps=STEPS).to(device)
    w_opt = torch.optim.SGD(model.weight_parameters(), lr=cfg.lr, momentum=cfg.momentum,
                            weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, cfg.epochs, eta_min=cfg.lr_min)
    state = load_checkpoint(out / CHECKPOINT, cfg) if resume else None
    if state is None:
        lat_ref = reference_latency(latency_fn, cfg.lat_ref, device) if lat_ref is None else float(lat_ref)
        lam = min(cfg.lam_max, max(cfg.lam_min, cfg.lam)) if cfg.target_ms else cfg.lam
        start, history = 0, []
    else:
        if lat_ref is not None and not math.isclose(lat_ref, state["lat_ref"], rel_tol=1e-9):
            raise SearchError(f"lat_ref {lat_ref} differs from the checkpoint's {state['lat_ref']}")
        lat_ref, lam = state["lat_ref"], state["lam"]
        start, history = state["epoch"], state["history"]
    if not (math.isfinite(lat_ref) and lat_ref > 0):
        raise SearchError(f"reference latency must be a positive number, got {lat_ref}")
    costs = [_memory_term(cfg, memory_fn, memory_ref, device)] if cfg.uses_memory else []
    architect = Architect(model, latency_fn, lat_ref, lam, lr=cfg.arch_lr, weight_decay=cfg.arch_weight_decay,
                          costs=costs)
    if state is not None:
        restore(state, model, w_opt, sched, architect)

    for epoch in range(start, cfg.epochs):
        record = _run_epoch(cfg, device, epoch, model, architect, w_opt, sched, w_data, a_data, splits.val,
                            latency_fn)
        history.append(record)
        if cfg.target_ms:
            architect.lam = adapt_lambda(architect.lam, record["predicted_ms"], cfg.target_ms, cfg.lam_gain,
                                         cfg.lam_min, cfg.lam_max)
        for term in architect.costs:
            if term.target:
                term.lam = adapt_lambda(term.lam, record[f"predicted_{term.unit.lower()}"], term.target,
                                        cfg.lam_gain, cfg.lam_min, cfg.lam_max)
        sched.step()
        save_checkpoint(out / CHECKPOINT, cfg, epoch + 1, model, w_opt, sched, architect, history)
        if progress is not None:
            progress(dict(record))
    return _finish(cfg, device, model, architect, latency_fn, splits, history, out)


def _run_epoch(cfg: SearchConfig, device: torch.device, epoch: int, model: Supernet, architect: Architect, w_opt: torch.optim.SGD,
               sched: torch.optim.lr_scheduler.LRScheduler, w_data: TensorDataset, a_data: TensorDataset,
               val: TensorDataset, latency_fn: LatencyFn) -> dict[str, Any]:
    t0 = time.perf_counter()
    lr = sched.get_last_lr()[0]
    lam_used = architect.lam
    lams_used = {t.name: t.lam for t in architect.costs}
    stats = _bilevel_epoch(cfg, device, epoch, model, architect, w_opt, lr, w_data, a_data)
    genotype = derive_genotype_capped(*model.edge_weights(), cfg.skip_cap)
    soft_ms = architect.latency_ms()
    extra: dict[str, Any] = {}
    for term in architect.costs:
        soft = term.value(*model.edge_weights())
        extra[f"{term.name}_term"] = lams_used[term.name] * soft / term.ref
        extra[f"predicted_{term.unit.lower()}"] = genotype_latency(term.fn, genotype, device)
        extra[f"lam_{term.name}"] = lams_used[term.name]
    return {**extra,
        "epoch": epoch + 1,
        "ce": stats["ce"],
        "lat_term": lam_used * soft_ms / architect.lat_ref,
        "soft_ms": soft_ms,
        "predicted_ms": genotype_latency(latency_fn, genotype, device),
        "val_acc": evaluate(model, val, device),
        "lam": lam_used,
        "genotype": genotype.to_dict(),
        "train_loss": stats["train_loss"],
        "train_acc": stats["train_acc"],
        "lr": lr,
        "time_s": time.perf_counter() - t0,
    }


def _bilevel_epoch(cfg: SearchConfig, device: torch.device, epoch: int, model: Supernet, architect: Architect,
                   w_opt: torch.optim.SGD, lr: float, w_data: TensorDataset, a_data: TensorDataset
                   ) -> dict[str, float]:
    """One pass over the batches of this epoch (:func:`search_step` each)."""
    model.train()
    wx, wy = w_data.tensors
    ax, ay = a_data.tensors
    w_batches = epoch_batches(len(wy), cfg.batch_size, cfg.seed, epoch, 0)
    a_batches = epoch_batches(len(ay), cfg.batch_size, cfg.seed, epoch, 1)
    n = min(len(w_batches), len(a_batches), cfg.max_batches or len(w_batches))
    ce_sum = loss_sum = correct = seen = 0.0
    weights = list(model.weight_parameters())
    for i in range(n):
        xt, yt = wx[w_batches[i]].to(device), wy[w_batches[i]].to(device)
        xv, yv = ax[a_batches[i]].to(device), ay[a_batches[i]].to(device)
        ce, loss, right = search_step(model, architect, w_opt, weights, (xt, yt), (xv, yv), lr, cfg)
        ce_sum, loss_sum, correct, seen = ce_sum + ce, loss_sum + loss, correct + right, seen + len(yt)
    return {"ce": ce_sum / n, "train_loss": loss_sum / seen, "train_acc": correct / seen}


def search_step(model: Supernet, architect: Architect, w_opt: torch.optim.Optimizer, weights: list[torch.Tensor],
                train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor], lr: float,
                cfg: SearchConfig) -> tuple[float, float, float]:
    """One bilevel step in DARTS order: an α step on the α half's batch, then an SGD step on the
    weight half's batch. Returns (α-side CE, summed weight loss, correct predictions)."""
    ce = architect.step(*train, *val, order=cfg.order, eta=lr, w_optimizer=w_opt)["ce"]
    loss, correct = sgd_step(model, w_opt, weights, *train, cfg.grad_clip)
    return ce, loss, correct


def _finish(cfg: SearchConfig, device: torch.device, model: Supernet, architect: Architect, latency_fn: LatencyFn,
            splits: DatasetSplits, history: list[dict[str, Any]], out: Path) -> SearchResult:
    genotype = derive_genotype_capped(*model.edge_weights(), cfg.skip_cap)
    predicted = genotype_latency(latency_fn, genotype, device)
    val_acc = history[-1]["val_acc"] if history else evaluate(model, splits.val, device)
    costs = [{"name": t.name, "unit": t.unit, "lam": t.lam, "ref": t.ref,
              "predicted": genotype_latency(t.fn, genotype, device)} for t in architect.costs]
    result = SearchResult(genotype, predicted, val_acc, architect.lam, architect.lat_ref, history, str(out),
                          model.alpha_normal.detach().cpu().clone(), model.alpha_reduce.detach().cpu().clone(),
                          costs)
    atomic_write_text(out / "genotype.json", json.dumps(genotype.to_dict(), indent=1) + "\n")
    atomic_write_text(out / "genotype.txt", genotype.to_darts() + "\n")
    summary = {"predicted_ms": predicted, "val_acc": val_acc, "lam": architect.lam, "lat_ref": architect.lat_ref,
               "genotype": genotype.to_dict(), "config": cfg.to_dict(), "history": history,
               **({"costs": costs} if costs else {})}
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    return result


def _memory_term(cfg: SearchConfig, memory_fn: CostFn, memory_ref: float | None, device: torch.device) -> CostTerm:
    """The memory cost term: MEM_ref formed like LAT_ref unless given; λ starts at ``lam_memory``
    (clipped into [lam_min, lam_max] when a target adapts it)."""
    ref = reference_latency(memory_fn, cfg.lat_ref, device) if memory_ref is None else float(memory_ref)
    lam = min(cfg.lam_max, max(cfg.lam_min, cfg.lam_memory)) if cfg.target_mb else cfg.lam_memory
    try:
        return CostTerm("memory", "MB", memory_fn, ref, lam, cfg.target_mb)
    except ValueError as exc:
        raise SearchError(str(exc)) from None
