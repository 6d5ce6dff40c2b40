"""Roofline term: latency as kernels launched, work done and bytes moved, with seven costs.

On a graph from :mod:`gnnlat.encoding` (:math:`s_i` = node scale, multiplicity × weight):

.. math::
    \\hat t_\\text{roof} = d + \\sum_i s_i \\, (a \\, k_i + b_{g(i)} \\, m_i + c \\, e_i + u \\, e_i [i \\notin B]),
    \\qquad a, b_g, c, u, d \\ge 0,

with :math:`k_i` the kernels node :math:`i` launches (:data:`KERNELS`, as eager PyTorch runs the
op), :math:`m_i` its multiply-accumulates (a pool's: its window's comparisons or additions) and
:math:`e_i` the elements it reads and writes. A unit of work costs :math:`b_g` by group: max
pools, average pools, and everything else. :math:`B` holds the nodes whose input and output
channels are whole SIMD blocks (multiples of :data:`BLOCK`); the others' elements pay a
surcharge :math:`u`. The costs are fitted by non-negative least squares on relative residuals
(scipy's ``nnls``), so a few samples cannot drive one negative.

Why: what differs most between devices is the balance of a fixed cost per kernel (eager PyTorch,
a CUDA graph of small kernels) against a cost per unit of work (a fusing runtime such as ONNX
Runtime). A handful of non-negative numbers capture that balance from ten samples; a fine-tuned
GNN needs more samples to move its per-op costs as far. Pools get their own cost per unit of work
because their kernels are not the convolutions' (vectorised libraries): fitted per op at the
search config, a 3×3 max pool costs as much as a separable 3×3 convolution with 5.5 times its
work on eager PyTorch, half as much on ONNX Runtime and a third on the H200. ONNX Runtime runs
blocked (NCHWc) kernels only on whole blocks of channels and reorders the layout around the rest:
fitted on its whole profile, an element moved by a node off the blocks costs five times one on
them, and without the surcharge the roofline misses networks of other widths by 22% instead of 7%
(docs/results.md). :mod:`gnnlat.calibration` blends the roofline with the GNN, in log space, with
a weight chosen by cross-validation:
:math:`\\log \\hat t = (1 - \\beta) \\log \\hat t_\\text{GNN} + \\beta \\log \\hat t_\\text{roof}`.
The term is a sum over weighted nodes, so it stays differentiable w.r.t. the search's α.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from scipy.optimize import nnls
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import scatter

from gnnlat.encoding import NODE_TYPES, NUMERIC_FEATURES, encode_genotypes
from gnnlat.genotype import Genotype
from gnnlat.network import NetworkConfig

# Kernels per node as eager PyTorch runs it: a separable conv is (ReLU, depthwise, pointwise, BN)
# twice, a dilated conv once, a stride-2 skip is FactorizedReduce (ReLU, two convs, cat, BN).
KERNELS: dict[str, int] = {
    "max_pool_3x3": 1, "avg_pool_3x3": 1, "skip_connect": 0, "sep_conv_3x3": 8, "sep_conv_5x5": 8,
    "dil_conv_3x3": 4, "dil_conv_5x5": 4, "sep_conv_7x7": 8, "conv_7x1_1x7": 4,
    "preprocess_conv": 3, "preprocess_reduce": 5, "add": 1, "concat": 1, "stem": 2, "head": 3}
STRIDED_SKIP_KERNELS = 5
TERMS = ("kernels", "macs", "max_pool_macs", "avg_pool_macs", "elements", "unblocked_elements", "intercept")
POOLS = ("max_pool_3x3", "avg_pool_3x3")  # in TERMS' order
BLOCK = 16  # channels per SIMD block of a blocked CPU kernel (16 floats: AVX-512)
SPLIT_COSTS_FROM = 10  # samples: fewer fit four costs (docs/results.md)

_TYPES = len(NODE_TYPES)
_COL = {name: _TYPES + i for i, name in enumerate(NUMERIC_FEATURES)}


def network_work(data: Data) -> Tensor:
    """The work terms of :data:`TERMS` (all but the intercept) of every graph in ``data``, shape
    (num_graphs, 6), in float64; differentiable w.r.t. the node scales. Read back from the
    encoder's features (which store :math:`\\log_2(\\cdot)/4` of MACs + 1 and of elements), so the
    encoder stays the one place that knows an op's shapes."""
    x = data.x.double()
    kernels = x[:, :_TYPES] @ torch.tensor([float(KERNELS[t]) for t in NODE_TYPES], dtype=x.dtype, device=x.device)
    kernels = kernels + STRIDED_SKIP_KERNELS * x[:, NODE_TYPES.index("skip_connect")] * x[:, _COL["stride2"]]
    macs = torch.exp2(4 * x[:, _COL["log_macs"]]) - 1
    pool_macs = [macs * x[:, NODE_TYPES.index(pool)] for pool in POOLS]
    elements = torch.exp2(4 * x[:, _COL["log_elements"]])
    blocked = x[:, _COL[f"c_in_div{BLOCK}"]] * x[:, _COL[f"c_out_div{BLOCK}"]]
    per_node = torch.stack([kernels, macs - sum(pool_macs), *pool_macs, elements, elements * (1 - blocked)], 1)
    per_node = per_node * data.node_scale.double().unsqueeze(1)
    return scatter(per_node, data.batch, dim=0, dim_size=data.num_graphs, reduce="sum")


def work_of(genotypes: Sequence[Genotype], configs: Sequence[NetworkConfig]) -> np.ndarray:
    """:func:`network_work` of each genotype at its config, as a numpy array (n, 6)."""
    return network_work(encode_genotypes(list(genotypes), list(configs))).numpy()


def fit_costs(work: np.ndarray, latency: Sequence[float], split: bool | None = None) -> np.ndarray:
    """The costs of :data:`TERMS` from ``work`` (n, 6) and latencies (n,):
    :math:`\\min \\sum_j ((\\hat t_j - t_j) / t_j)^2` subject to every cost ≥ 0. Unless
    ``split`` (default: from :data:`SPLIT_COSTS_FROM` samples on), pool work costs what the rest's
    does and unblocked elements pay no surcharge: four costs, not seven, for a handful of samples."""
    t = np.asarray(latency, dtype=np.float64)
    work = np.asarray(work, dtype=np.float64)
    if split is None:
        split = len(t) >= SPLIT_COSTS_FROM
    macs = [TERMS.index(name) for name in ("macs", "max_pool_macs", "avg_pool_macs")]
    if split:
        columns, design = list(range(len(TERMS) - 1)), work
    else:
        columns = [TERMS.index("kernels"), macs[0], TERMS.index("elements")]
        design = np.column_stack([work[:, columns[0]], work[:, macs].sum(1), work[:, columns[2]]])
    design = np.column_stack([design, np.ones(len(t))])
    scale = np.abs(design).max(0)
    scale[scale == 0] = 1.0  # a term no sample has (no MACs at all) keeps cost 0
    fitted, _ = nnls(design / scale / t[:, None], np.ones_like(t))
    costs = np.zeros(len(TERMS))
    costs[columns + [TERMS.index("intercept")]] = fitted / scale
    if not split:
        costs[macs[1:]] = costs[macs[0]]
    return costs


def roofline_ms(work: np.ndarray | Tensor, costs: np.ndarray | Tensor) -> np.ndarray | Tensor:
    """:math:`\\hat t_\\text{roof}` from ``network_work`` rows and the costs of :data:`TERMS`: numpy arrays,
    or tensors (differentiable in ``work``)."""
    return work @ costs[:-1] + costs[-1]


class Roofline(nn.Module):
    """The roofline term of a predictor and its blend weight β (buffers: saved with the weights).
    β = 0, the default, leaves the GNN's prediction as it is."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("costs", torch.zeros(len(TERMS), dtype=torch.float64))
        self.register_buffer("blend", torch.zeros((), dtype=torch.float64))

    def set(self, costs: np.ndarray | Sequence[float], blend: float) -> None:
        if not (0.0 <= blend <= 1.0) or not np.all(np.isfinite(costs)) or np.any(np.asarray(costs) < 0):
            raise ValueError(f"roofline needs costs >= 0 and a blend in [0, 1], got {costs}, {blend}")
        self.costs.copy_(torch.as_tensor(costs, dtype=torch.float64))
        self.blend.fill_(float(blend))

    def latency(self, data: Data) -> Tensor:
        """:math:`\\hat t_\\text{roof}` of every graph (float64)."""
        return roofline_ms(network_work(data), self.costs)

    def mix(self, log_gnn: Tensor, data: Data) -> Tensor:
        """The blended log-latency; ``log_gnn`` itself when β = 0."""
        if not bool(self.blend > 0):
            return log_gnn
        log_roof = torch.log(self.latency(data).clamp_min(1e-12)).to(log_gnn.dtype)
        beta = self.blend.to(log_gnn.dtype)
        return (1 - beta) * log_gnn + beta * log_roof
