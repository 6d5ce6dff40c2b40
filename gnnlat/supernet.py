"""The DARTS search supernet: MixedOp on every edge, α registered as parameters, derive()."""
from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from gnnlat.genotype import Genotype
from gnnlat.network import NetworkConfig, SEARCH_CONFIG, cell_plan
from gnnlat.operations import PRIMITIVES, FactorizedReduce, ReLUConvBN, build_op


def num_edges(steps: int) -> int:
    """Edges of a search cell: node i (0-based) has i + 2 incoming edges."""
    return sum(i + 2 for i in range(steps))


def edge_endpoints(steps: int) -> list[tuple[int, int]]:
    """(source, target) node index of each α row, in DARTS order."""
    return [(j, i + 2) for i in range(steps) for j in range(i + 2)]


class MixedOp(nn.Module):
    """Σ_o w_o · o(x) over all primitives (pooling followed by a non-affine BN, as in DARTS)."""

    def __init__(self, channels: int, stride: int):
        super().__init__()
        ops = []
        for name in PRIMITIVES:
            op = build_op(name, channels, stride, affine=False)
            if "pool" in name:
                op = nn.Sequential(op, nn.BatchNorm2d(channels, affine=False))
            ops.append(op)
        self.ops = nn.ModuleList(ops)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self.ops))


class SearchCell(nn.Module):
    def __init__(self, steps: int, multiplier: int, c_pp: int, c_p: int, c: int,
                 reduction: bool, reduction_prev: bool):
        super().__init__()
        self.reduction = reduction
        self.steps, self.multiplier = steps, multiplier
        self.preprocess0 = (FactorizedReduce(c_pp, c, affine=False) if reduction_prev
                            else ReLUConvBN(c_pp, c, 1, 1, 0, affine=False))
        self.preprocess1 = ReLUConvBN(c_p, c, 1, 1, 0, affine=False)
        self.edges = nn.ModuleList(
            MixedOp(c, 2 if reduction and src < 2 else 1) for src, _ in edge_endpoints(steps))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(self.steps):
            s = sum(self.edges[offset + j](h, weights[offset + j]) for j, h in enumerate(states))
            offset += len(states)
            states.append(s)
        return torch.cat(states[-self.multiplier:], dim=1)


class Supernet(nn.Module):
    """DARTS search network; ``alpha_normal`` / ``alpha_reduce`` are (edges × primitives) parameters."""

    def __init__(self, config: NetworkConfig = SEARCH_CONFIG, steps: int = 4, multiplier: int = 4,
                 alpha_init_std: float = 1e-3):
        super().__init__()
        self.config, self.steps, self.multiplier = config, steps, multiplier
        self.stem = nn.Sequential(
            nn.Conv2d(config.in_channels, 3 * config.C, 3, padding=1, bias=False),
            nn.BatchNorm2d(3 * config.C),
        )
        cells = []
        for p in cell_plan(config, multiplier, multiplier):
            cells.append(SearchCell(steps, multiplier, p.c_prev_prev, p.c_prev, p.channels,
                                    p.reduction, p.reduction_prev))
        self.cells = nn.ModuleList(cells)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(multiplier * cell_plan(config)[-1].channels, config.classes)
        shape = (num_edges(steps), len(PRIMITIVES))
        self.alpha_normal = nn.Parameter(alpha_init_std * torch.randn(shape))
        self.alpha_reduce = nn.Parameter(alpha_init_std * torch.randn(shape))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha_normal, self.alpha_reduce]

    def weight_parameters(self) -> Iterator[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return (p for p in self.parameters() if id(p) not in arch)

    def edge_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """softmax(α) per edge: the soft edge weights the latency predictor consumes too."""
        return F.softmax(self.alpha_normal, dim=-1), F.softmax(self.alpha_reduce, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w_normal, w_reduce = self.edge_weights()
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, w_reduce if cell.reduction else w_normal)
        return self.classifier(self.global_pooling(s1).flatten(1))

    def derive(self) -> Genotype:
        w_normal, w_reduce = self.edge_weights()
        return derive_genotype(w_normal.detach(), w_reduce.detach(), self.steps, self.multiplier)


def derive_cell(weights: torch.Tensor, steps: int) -> list[tuple[str, int]]:
    """DARTS rule: per node keep the 2 incoming edges whose strongest non-`none` weight is
    largest, each with its argmax non-`none` op."""
    none = PRIMITIVES.index("none")
    masked = weights.clone().float()
    masked[:, none] = float("-inf")
    pairs: list[tuple[str, int]] = []
    start = 0
    for i in range(steps):
        block = masked[start:start + i + 2]
        best_per_edge, best_op = block.max(dim=1)
        # Stable ordering: ties go to the lower input index.
        order = sorted(range(i + 2), key=lambda j: (-best_per_edge[j].item(), j))[:2]
        for j in sorted(order):
            pairs.append((PRIMITIVES[int(best_op[j])], j))
        start += i + 2
    return pairs


def derive_genotype(w_normal: torch.Tensor, w_reduce: torch.Tensor, steps: int = 4,
                    multiplier: int = 4) -> Genotype:
    concat = list(range(2 + steps - multiplier, steps + 2))
    return Genotype(normal=derive_cell(w_normal, steps), normal_concat=concat,
                    reduce=derive_cell(w_reduce, steps), reduce_concat=concat)


def one_hot_alpha(genotype: Genotype, reduction: bool, large: float = 30.0) -> torch.Tensor:
    """α whose softmax is (numerically) one-hot on the genotype's ops and on `none` elsewhere."""
    pairs, _ = genotype.cell(reduction)
    steps = len(pairs) // 2
    alpha = torch.full((num_edges(steps), len(PRIMITIVES)), -large)
    alpha[:, PRIMITIVES.index("none")] = large
    starts = [sum(k + 2 for k in range(i)) for i in range(steps)]
    for k, (op, inp) in enumerate(pairs):
        if op not in PRIMITIVES:
            raise ValueError(f"op {op!r} is not a search primitive; it has no α column")
        if k % 2 and pairs[k - 1][1] == inp:
            # One α row per edge: a second op on the same edge would overwrite the first.
            raise ValueError(f"node {k // 2 + 2} takes input {inp} twice; a supernet edge holds "
                             f"one op, so this genotype has no one-hot α")
        row = starts[k // 2] + inp
        alpha[row] = -large
        alpha[row, PRIMITIVES.index(op)] = large
    return alpha
