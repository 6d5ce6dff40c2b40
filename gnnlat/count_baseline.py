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

from gnnlat.baseline import OpCountBaseline
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


class CountBaseline:
    """Least-squares linear model on parameter and activation counts (module docstring); predicts MB."""

    def __init__(self, coef: np.ndarray | None = None):
        self.coef = None if coef is None else np.asarray(coef, dtype=np.float64)

    def fit(self, genotypes: Sequence[Genotype], configs: Sequence[NetworkConfig],
            values: Sequence[float]) -> "CountBaseline":
        y = np.asarray(values, dtype=np.float64).reshape(-1)
        if y.size == 0 or y.size != len(genotypes) or not np.all(np.isfinite(y)) or np.any(y <= 0):
            raise ValueError("need one finite positive value per genotype")
        x = count_features(genotypes, configs)
        scale = np.abs(x).max(0)  # columns differ by 10^6; scaled so lstsq's cut-off treats them alike
        self.coef = np.linalg.lstsq(x / scale / y[:, None], np.ones_like(y), rcond=None)[0] / scale
        return self

    def predict(self, genotypes: Sequence[Genotype], configs: Sequence[NetworkConfig]) -> np.ndarray:
        if self.coef is None:
            raise ValueError("CountBaseline is not fitted; call fit() first")
        return count_features(genotypes, configs) @ self.coef

    def to_dict(self) -> dict[str, Any]:
        if self.coef is None:
            raise ValueError("CountBaseline is not fitted; nothing to save")
        return {"kind": "count_linear", "features": list(FEATURES), "coef": self.coef.tolist()}

    @classmethod
    def from_dict(cls, data: Any) -> "CountBaseline":
        if not isinstance(data, dict) or data.get("kind") != "count_linear" or list(data.get("features", [])) != list(FEATURES):
            raise ValueError("not a parameter/activation-count baseline")
        coef = np.asarray(data.get("coef"), dtype=np.float64)
        if coef.shape != (len(FEATURES),) or not np.all(np.isfinite(coef)):
            raise ValueError(f"count baseline needs {len(FEATURES)} finite coefficients")
        return cls(coef)


Baseline = OpCountBaseline | CountBaseline


def baseline_for(metric: str) -> Baseline:
    """An unfitted baseline of the kind a metric is compared with: op counts for latency and
    energy (a sum over the kernels run), parameter/activation counts for peak memory."""
    return CountBaseline() if metric == "memory" else OpCountBaseline()


def load_baseline(data: Any) -> Baseline:
    """A stored baseline of either kind (``to_dict`` form); ValueError for anything else."""
    if isinstance(data, dict) and data.get("kind") == "count_linear":
        return CountBaseline.from_dict(data)
    return OpCountBaseline.from_dict(data)
