"""Parameter/activation-count baseline for peak memory, and the one place a stored baseline is read.

Peak memory of an inference is, to first order, the weights plus the activations live at the
worst moment. The baseline counts both from the network's shapes and fits their byte costs
linearly (least squares on relative residuals, as the op-count baseline does):

.. math::
    \\hat m = b + a_p \\, P + a_a \\, A_\\text{max},

with :math:`P` the parameters and buffers (BN statistics) of the discrete network and
:math:`A_\\text{max}` the largest cell's activation elements: its two inputs, four node outputs
and concatenated output, :math:`\\text{batch} \\cdot \\text{res}^2 \\cdot C_\\text{cell} \\cdot
(\\ldots)`. It knows which cell is largest but not the order ops run in or what an op's
temporaries are: that is what the GNN has to learn.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from gnnlat.baseline import LinearBaseline, OpCountBaseline
from gnnlat.genotype import Genotype
from gnnlat.network import Network, NetworkConfig, cell_plan

FEATURES = ("parameters", "max_cell_activations", "intercept")


def network_counts(genotype: Genotype, config: NetworkConfig) -> tuple[int, int]:
    """(parameter and buffer elements, the largest cell's activation elements) of the network."""
    net = Network(genotype, config)
    tensors = sum(t.numel() for t in list(net.parameters()) + list(net.buffers()) if t.is_floating_point())
    largest = 0
    for p in cell_plan(config):
        res_out = (p.resolution_in + 1) // 2 if p.reduction else p.resolution_in
        res_pp = p.resolution_in * 2 if p.reduction_prev else p.resolution_in
        inputs = p.c_prev_prev * res_pp ** 2 + p.c_prev * p.resolution_in ** 2
        nodes = 4 * p.channels * res_out ** 2
        largest = max(largest, config.batch * (inputs + 2 * nodes))  # nodes, and their concatenation
    return tensors, largest


def count_features(genotypes: Sequence[Genotype], configs: Sequence[NetworkConfig]) -> np.ndarray:
    if len(genotypes) != len(configs):
        raise ValueError(f"{len(genotypes)} genotypes but {len(configs)} configs")
    rows = np.ones((len(genotypes), len(FEATURES)))
    for i, (g, c) in enumerate(zip(genotypes, configs)):
        rows[i, :2] = network_counts(g, c)
    return rows


class CountBaseline(LinearBaseline):
    """Least-squares linear model on parameter and activation counts (module docstring); predicts MB."""

    KIND = "count_linear"
    FEATURES = FEATURES
    DESCRIPTION = "a parameter/activation-count baseline"
    SCALE_COLUMNS = True  # parameters and activations differ by 10^6

    def features(self, genotypes: Sequence[Genotype], configs: Sequence[NetworkConfig]) -> np.ndarray:
        return count_features(genotypes, configs)


Baseline = LinearBaseline


def baseline_for(metric: str) -> Baseline:
    """An unfitted baseline of the kind a metric is compared with: op counts for latency and
    energy (a sum over the kernels run), parameter/activation counts for peak memory."""
    return CountBaseline() if metric == "memory" else OpCountBaseline()


def load_baseline(data: Any) -> Baseline:
    """A stored baseline of either kind (``to_dict`` form); ValueError for anything else."""
    if isinstance(data, dict) and data.get("kind") == CountBaseline.KIND:
        return CountBaseline.from_dict(data)
    return OpCountBaseline.from_dict(data)
