"""The DARTS primitives: the one place that knows every operation.

Each op maps (C, stride, affine) to a module whose output has C channels and
spatial size ``ceil(H / stride)``. ``OP_INFO`` holds the cost-relevant facts the
latency encoder needs (kernel size, dilation, whether the op has weights).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

# Search primitives, in the order DARTS uses (α columns follow this order).
PRIMITIVES: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
# Extra ops of the DARTS evaluation code, so published cells (NASNet, AmoebaNet) can be built.
EXTRA_OPS: tuple[str, ...] = ("sep_conv_7x7", "conv_7x1_1x7")
ALL_OPS: tuple[str, ...] = PRIMITIVES + EXTRA_OPS


@dataclass(frozen=True)
class OpInfo:
    """Cost-relevant description of an op (used as predictor features)."""

    family: str  # none | pool_max | pool_avg | skip | sep_conv | dil_conv | conv_fact
    kernel: int
    dilation: int
    parametric: bool


OP_INFO: dict[str, OpInfo] = {
    "none": OpInfo("none", 0, 1, False),
    "max_pool_3x3": OpInfo("pool_max", 3, 1, False),
    "avg_pool_3x3": OpInfo("pool_avg", 3, 1, False),
    "skip_connect": OpInfo("skip", 1, 1, False),
    "sep_conv_3x3": OpInfo("sep_conv", 3, 1, True),
    "sep_conv_5x5": OpInfo("sep_conv", 5, 1, True),
    "sep_conv_7x7": OpInfo("sep_conv", 7, 1, True),
    "dil_conv_3x3": OpInfo("dil_conv", 3, 2, True),
    "dil_conv_5x5": OpInfo("dil_conv", 5, 2, True),
    "conv_7x1_1x7": OpInfo("conv_fact", 7, 1, True),
}


class ReLUConvBN(nn.Module):
    """ReLU → Conv(k) → BN; used for cell preprocessing (1x1)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class DilConv(nn.Module):
    """ReLU → depthwise k×k (dilated) → pointwise 1×1 → BN."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int,
                 affine: bool = True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding, dilation=dilation,
                      groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """Two DilConv blocks (dilation 1); only the first carries the stride."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True):
        super().__init__()
        self.op = nn.Sequential(
            DilConv(c_in, c_in, kernel, stride, padding, 1, affine),
            DilConv(c_in, c_out, kernel, 1, padding, 1, affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Zero(nn.Module):
    """The `none` op: zeros with the output shape (strided when needed)."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halves the resolution with two offset 1×1 stride-2 convs, concatenated, then BN."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True):
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even channel count, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        # The offset branch needs an even size; pad odd inputs so both branches agree.
        shifted = x[:, :, 1:, 1:]
        h, w = x.shape[-2], x.shape[-1]
        if h % 2 or w % 2:
            shifted = nn.functional.pad(shifted, (0, w % 2, 0, h % 2))
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


def _pool(kind: str, stride: int) -> nn.Module:
    if kind == "max":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)


def _conv_7x1_1x7(c: int, stride: int, affine: bool) -> nn.Module:
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(c, c, (1, 7), stride=(1, stride), padding=(0, 3), bias=False),
        nn.Conv2d(c, c, (7, 1), stride=(stride, 1), padding=(3, 0), bias=False),
        nn.BatchNorm2d(c, affine=affine),
    )


OpBuilder = Callable[[int, int, bool], nn.Module]

OPS: dict[str, OpBuilder] = {
    "none": lambda c, stride, affine: Zero(stride),
    "max_pool_3x3": lambda c, stride, affine: _pool("max", stride),
    "avg_pool_3x3": lambda c, stride, affine: _pool("avg", stride),
    "skip_connect": lambda c, stride, affine: (
        nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine)),
    "sep_conv_3x3": lambda c, stride, affine: SepConv(c, c, 3, stride, 1, affine),
    "sep_conv_5x5": lambda c, stride, affine: SepConv(c, c, 5, stride, 2, affine),
    "sep_conv_7x7": lambda c, stride, affine: SepConv(c, c, 7, stride, 3, affine),
    "dil_conv_3x3": lambda c, stride, affine: DilConv(c, c, 3, stride, 2, 2, affine),
    "dil_conv_5x5": lambda c, stride, affine: DilConv(c, c, 5, stride, 4, 2, affine),
    "conv_7x1_1x7": _conv_7x1_1x7,
}


def build_op(name: str, channels: int, stride: int, affine: bool = True) -> nn.Module:
    """Build op ``name``; raises ValueError for an unknown name or stride."""
    if name not in OPS:
        raise ValueError(f"unknown operation {name!r}; known: {', '.join(ALL_OPS)}")
    # bool and float compare equal to 1/2, so check the type too.
    if isinstance(stride, bool) or not isinstance(stride, int) or stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride!r}")
    return OPS[name](channels, stride, affine)
