"""Discrete DARTS network built from a genotype and a network config."""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, fields
from typing import Any, Iterator

import torch
from torch import nn

from gnnlat.errors import GnnlatError
from gnnlat.genotype import Genotype
from gnnlat.operations import FactorizedReduce, ReLUConvBN, build_op


class ConfigError(GnnlatError, ValueError):
    """A network config that cannot be built."""


@dataclass(frozen=True)
class NetworkConfig:
    """Everything besides the genotype that fixes a network's shape (and latency)."""

    C: int = 16
    layers: int = 8
    in_channels: int = 3
    resolution: int = 32
    batch: int = 1
    classes: int = 10

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"config {f.name} must be a positive integer, got {v!r}")
        if self.layers < 3:
            raise ConfigError(f"config layers must be at least 3 (two reductions), got {self.layers}")
        if self.C % 2:
            raise ConfigError(f"config C must be even (FactorizedReduce halves it), got {self.C}")
        if self.resolution < 4:
            raise ConfigError(f"config resolution must be at least 4, got {self.resolution}")

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NetworkConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"a network config must be a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown config key(s): {', '.join(sorted(unknown))}")
        return cls(**data)

    def reduction_layers(self) -> tuple[int, int]:
        return self.layers // 3, 2 * self.layers // 3


SEARCH_CONFIG = NetworkConfig()  # DARTS search proxy: C=16, 8 cells, 32x32, batch 1
EVAL_CONFIG = NetworkConfig(C=36, layers=20)  # DARTS CIFAR-10 evaluation network


@dataclass(frozen=True)
class CellPlan:
    """Shapes of one cell in a network (what a latency model needs besides the ops)."""

    index: int
    reduction: bool
    reduction_prev: bool
    c_prev_prev: int
    c_prev: int
    channels: int  # C of the cell's ops
    resolution_in: int  # spatial size of the cell inputs (s1)


def cell_plan(config: NetworkConfig, multiplier_normal: int = 4, multiplier_reduce: int = 4) -> list[CellPlan]:
    """Per-cell channel and resolution plan, mirroring DARTS' network constructor."""
    c_curr = config.C
    c_pp, c_p = 3 * c_curr, 3 * c_curr
    res = config.resolution
    reductions = config.reduction_layers()
    plans, reduction_prev = [], False
    for i in range(config.layers):
        reduction = i in reductions
        if reduction:
            c_curr *= 2
        plans.append(CellPlan(i, reduction, reduction_prev, c_pp, c_p, c_curr, res))
        mult = multiplier_reduce if reduction else multiplier_normal
        c_pp, c_p = c_p, mult * c_curr
        if reduction:
            res = (res + 1) // 2
        reduction_prev = reduction
    return plans


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    keep = 1.0 - drop_prob
    mask = torch.empty(x.size(0), 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


class Cell(nn.Module):
    """A discrete cell: each intermediate node sums its two op outputs."""

    def __init__(self, genotype: Genotype, plan: CellPlan):
        super().__init__()
        pairs, concat = genotype.cell(plan.reduction)
        c = plan.channels
        self.reduction = plan.reduction
        self.preprocess0 = (FactorizedReduce(plan.c_prev_prev, c) if plan.reduction_prev
                            else ReLUConvBN(plan.c_prev_prev, c, 1, 1, 0))
        self.preprocess1 = ReLUConvBN(plan.c_prev, c, 1, 1, 0)
        self.inputs = [inp for _, inp in pairs]
        self.concat = list(concat)
        self.ops = nn.ModuleList(
            build_op(op, c, 2 if plan.reduction and inp < 2 else 1) for op, inp in pairs)
        self.identity = [op == "skip_connect" and not (plan.reduction and inp < 2) for op, inp in pairs]

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for k in range(0, len(self.ops), 2):
            total = None
            for j in (k, k + 1):
                h = self.ops[j](states[self.inputs[j]])
                if self.training and drop_prob > 0 and not self.identity[j]:
                    h = drop_path(h, drop_prob)
                total = h if total is None else total + h
            states.append(total)
        return torch.cat([states[i] for i in self.concat], dim=1)


class Network(nn.Module):
    """Stem (3x3 conv to 3C + BN) → cells → global average pool → linear classifier."""

    def __init__(self, genotype: Genotype, config: NetworkConfig = SEARCH_CONFIG):
        super().__init__()
        self.genotype = genotype
        self.config = config
        self.drop_path_prob = 0.0
        self.stem = nn.Sequential(
            nn.Conv2d(config.in_channels, 3 * config.C, 3, padding=1, bias=False),
            nn.BatchNorm2d(3 * config.C),
        )
        plans = cell_plan(config, len(genotype.normal_concat), len(genotype.reduce_concat))
        self.cells = nn.ModuleList(Cell(genotype, p) for p in plans)
        last = plans[-1]
        c_out = len(genotype.cell(last.reduction)[1]) * last.channels
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_out, config.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
        return self.classifier(self.global_pooling(s1).flatten(1))

    def example_input(self) -> torch.Tensor:
        c = self.config
        return torch.randn(c.batch, c.in_channels, c.resolution, c.resolution)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters; DARTS' accounting (classifier in, auxiliary head out)."""
    return sum(p.numel() for name, p in model.named_parameters() if "auxiliary" not in name)


def count_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of convolutions and linear layers for one forward of ``x``."""
    total = 0

    def conv_hook(m: nn.Conv2d, _inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        kh, kw = m.kernel_size
        total += out.numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m: nn.Linear, _inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() * m.in_features

    handles = []
    for m in _modules(model):
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return total


def _modules(model: nn.Module) -> Iterator[nn.Module]:
    return (m for name, m in model.named_modules() if "auxiliary" not in name)


def describe_network(genotype: Genotype, config: NetworkConfig) -> dict[str, Any]:
    """Parameters, MACs per image and per-cell-type op counts of the discrete network."""
    net = Network(genotype, config)
    params = count_parameters(net)
    macs = count_macs(net, net.example_input()[:1])
    counts = {kind: dict(Counter(op for op, _ in getattr(genotype, kind))) for kind in ("normal", "reduce")}
    return {"genotype": genotype.to_dict(), "config": config.to_dict(), "params": params,
            "params_m": params / 1e6, "macs_m": macs / 1e6, "op_counts": counts}
