"""Retrain a discrete genotype from scratch (DARTS evaluation protocol, minus the auxiliary head).

SGD with momentum and cosine-annealed learning rate, gradient clipping, and drop-path whose
probability grows linearly over the epochs (p_e = p · e / E, as in DARTS). For cifar10 the train
batches get the standard augmentation (4-pixel padded random crop + horizontal flip); digits are
not flip-invariant, so they are trained unaugmented. The network trains on the train split only;
val is reported for monitoring and test once at the end.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

from gnnlat.data import load_dataset
from gnnlat.errors import GnnlatError
from gnnlat.genotype import Genotype
from gnnlat.network import Network, count_parameters
from gnnlat.steps import RunConfig, check_common, dataset_network_config, evaluate, resolve_device, seed_everything, sgd_step


class TrainError(GnnlatError, ValueError):
    """A retraining config that cannot be run."""


@dataclass
class TrainConfig(RunConfig):
    """Retraining settings (the shared fields: :class:`~gnnlat.steps.RunConfig`); the defaults
    train for a few minutes on the cluttered proxy, one core."""

    epochs: int = 15
    lr: float = 0.05
    lr_min: float = 0.0
    drop_path_prob: float = 0.1
    augment: bool | None = None  # None: on for cifar10, off for the digit tasks (not flip-invariant)

    def validate(self) -> None:
        check_common(self, TrainError)
        if not 0 <= self.drop_path_prob < 1:
            raise TrainError(f"drop_path_prob must lie in [0, 1), got {self.drop_path_prob}")


def train_network(genotype: Genotype, cfg: TrainConfig,
                  progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train ``genotype`` from scratch; returns test_acc and val_acc (fractions), params_m,
    epochs and train_time_s. ``progress`` gets one dict per epoch (epoch, lr, train_loss,
    train_acc, val_acc, drop_path_prob)."""
    cfg.validate()
    device = resolve_device(cfg.device, TrainError)
    seed_everything(cfg.seed, device)  # also drives drop-path masks
    splits = load_dataset(cfg.dataset, cfg.data_dir, cfg.seed)
    model = Network(genotype, dataset_network_config(splits, cfg.C, cfg.layers, TrainError)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs, eta_min=cfg.lr_min)
    augment = cfg.dataset == "cifar10" if cfg.augment is None else cfg.augment
    generator = torch.Generator().manual_seed(cfg.seed)
    t0 = time.perf_counter()
    val_acc = 0.0
    for epoch in range(cfg.epochs):
        model.drop_path_prob = cfg.drop_path_prob * epoch / cfg.epochs
        lr = sched.get_last_lr()[0]
        stats = _train_epoch(model, opt, splits.train.tensors, cfg, device, generator, augment)
        sched.step()
        val_acc = evaluate(model, splits.val, device)
        if progress is not None:
            progress({"epoch": epoch + 1, "lr": lr, "val_acc": val_acc,
                      "drop_path_prob": model.drop_path_prob, **stats})
    train_time = time.perf_counter() - t0
    return {
        "test_acc": evaluate(model, splits.test, device),
        "val_acc": val_acc,
        "params_m": count_parameters(model) / 1e6,
        "epochs": cfg.epochs,
        "train_time_s": train_time,
    }


def _train_epoch(model: Network, opt: torch.optim.Optimizer, data: tuple[torch.Tensor, torch.Tensor],
                 cfg: TrainConfig, device: torch.device, generator: torch.Generator, augment: bool
                 ) -> dict[str, float]:
    model.train()
    x, y = data
    params = list(model.parameters())
    batches = torch.randperm(len(y), generator=generator).split(cfg.batch_size)
    loss_sum = correct = seen = 0.0
    for idx in batches[:cfg.max_batches]:
        xb, yb = x[idx], y[idx]
        if augment:
            xb = crop_flip(xb, generator)
        loss, right = sgd_step(model, opt, params, xb.to(device), yb.to(device), cfg.grad_clip)
        loss_sum, correct, seen = loss_sum + loss, correct + right, seen + len(yb)
    return {"train_loss": loss_sum / seen, "train_acc": correct / seen}


def crop_flip(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Per-image random crop of the zero-padded batch (zero = the mean colour, the data being
    normalised) and random horizontal flip."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    cols = torch.arange(w).expand(n, w)
    cols = torch.where(flip[:, None], cols.flip(1), cols) + dx[:, None]
    rows = torch.arange(h)[None, :] + dy[:, None]
    batch = torch.arange(n)[:, None, None]
    # Advanced indexing puts the indexed dims first: (n, h, w, c) → back to NCHW.
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()
