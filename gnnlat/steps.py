"""What the search and the retraining loops share: config checks, seeding, the device, the
network config a dataset implies, one SGD weight step, and evaluation."""
from __future__ import annotations

import math
import os
import random
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from gnnlat.data import DEFAULT_DATASET, DatasetSplits
from gnnlat.network import NetworkConfig

DEVICES = ("auto", "cpu", "cuda")


@dataclass
class RunConfig:
    """What a search (:class:`~gnnlat.search_config.SearchConfig`) and a retraining
    (:class:`~gnnlat.train.TrainConfig`) share: data, network size, the SGD weight optimiser, the
    device. Defaults are the search's; DARTS' own values except the smaller proxy network."""

    # data and schedule
    dataset: str = DEFAULT_DATASET
    data_dir: str | None = None
    epochs: int = 10
    batch_size: int = 64
    max_batches: int | None = None  # per epoch; for quick tests
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda (auto: CUDA when available)
    # network size (the proxy; DARTS searches C=16, 8 cells)
    C: int = 8
    layers: int = 5
    # SGD on the weights, cosine-annealed from lr to lr_min
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_common(cfg: RunConfig, error: type[Exception]) -> None:
    """Checks of the :class:`RunConfig` fields: sizes, learning rates, clipping, device."""
    for name in ("epochs", "batch_size", "C", "layers"):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise error(f"{name} must be a positive integer, got {v!r}")
    if not (math.isfinite(cfg.lr) and cfg.lr > 0):
        raise error(f"lr must be a positive number, got {cfg.lr}")
    if not 0 <= cfg.lr_min <= cfg.lr:
        raise error(f"lr_min must lie in [0, lr], got {cfg.lr_min}")
    if not cfg.grad_clip > 0:
        raise error(f"grad_clip must be positive, got {cfg.grad_clip}")
    if cfg.max_batches is not None and cfg.max_batches < 1:
        raise error(f"max_batches must be >= 1, got {cfg.max_batches}")
    if cfg.device not in DEVICES:
        raise error(f"device must be one of {', '.join(DEVICES)}, got {cfg.device!r}")


def resolve_device(device: str, error: type[Exception]) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is an ``error``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise error("device cuda was asked for, but torch sees no CUDA GPU here (torch "
                    f"{torch.__version__}); use device cpu or auto")
    return torch.device(device)


def seed_everything(seed: int, device: torch.device = torch.device("cpu")) -> None:
    """Seed Python, numpy and torch (every CUDA device too). On CUDA also ask for deterministic
    kernels: cuDNN's autotuner and some of its algorithms differ from run to run, and a resumed
    search must derive the genotype an uninterrupted one derives. This sets process-wide torch
    flags; ops with no deterministic CUDA kernel warn instead of failing."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS reads it at its first call
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)


def dataset_network_config(splits: DatasetSplits, C: int, layers: int, error: type[Exception]) -> NetworkConfig:
    """The network a dataset implies: its channels, resolution and classes at width C and depth layers."""
    try:
        return NetworkConfig(C=C, layers=layers, in_channels=splits.in_channels, resolution=splits.resolution,
                             batch=1, classes=splits.classes)
    except ValueError as exc:
        raise error(f"bad network shape: {exc}") from None


def sgd_step(model: torch.nn.Module, opt: torch.optim.Optimizer, params: list[torch.Tensor], x: torch.Tensor,
             y: torch.Tensor, grad_clip: float) -> tuple[float, float]:
    """One clipped SGD step on the weights; returns (summed loss, correct predictions) of the batch."""
    opt.zero_grad(set_to_none=True)
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, grad_clip)
    opt.step()
    return float(loss.detach()) * len(y), float((logits.argmax(1) == y).sum())


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
