"""Op-count baseline: the lookup-table-sum latency model of FBNet / ProxylessNAS, fitted linearly.

Latency is modelled as a sum of per-op costs, one cost per (cell type, op), times how many cells
of that type the network has, plus a constant for everything else (stem, preprocessing, head):

.. math::
    \\hat t = b + \\sum_{o} a^{\\text{normal}}_o \\, n_\\text{normal} \\, k^{\\text{normal}}_o
              + \\sum_{o} a^{\\text{reduce}}_o \\, n_\\text{reduce} \\, k^{\\text{reduce}}_o,

where :math:`k_o` counts op :math:`o` in the cell and :math:`n` the cells of that type. The
coefficients are fitted by least squares (numpy) on *relative* residuals
:math:`(\\hat t - t) / t` (each row divided by its latency), since every score is relative: an
unweighted fit lets the slowest networks dominate (figures in docs/results.md). The model knows no
shapes, so it cannot carry over to another channel count, resolution or batch: that is the gap
the GNN closes.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from gnnlat.genotype import Genotype
from gnnlat.network import NetworkConfig, cell_plan
from gnnlat.operations import ALL_OPS

OPS: tuple[str, ...] = tuple(op for op in ALL_OPS if op != "none")
FEATURE_NAMES: tuple[str, ...] = (
    tuple(f"normal/{op}" for op in OPS) + tuple(f"reduce/{op}" for op in OPS) + ("intercept",))


def op_count_features(genotypes: Sequence[Genotype], configs: Sequence[NetworkConfig]) -> np.ndarray:
    """(n, len(FEATURE_NAMES)) design matrix: per-cell-type op counts × cells of that type, and 1."""
    if len(genotypes) != len(configs):
        raise ValueError(f"{len(genotypes)} genotypes but {len(configs)} configs")
    index = {op: i for i, op in enumerate(OPS)}
    rows = np.zeros((len(genotypes), len(FEATURE_NAMES)))
    rows[:, -1] = 1.0
    cells: dict[NetworkConfig, tuple[int, int]] = {}
    for r, (g, c) in enumerate(zip(genotypes, configs)):
        if c not in cells:
            n_reduce = sum(p.reduction for p in cell_plan(c))
            cells[c] = (c.layers - n_reduce, n_reduce)
        for block, (pairs, _), n_cells in ((0, g.cell(False), cells[c][0]), (1, g.cell(True), cells[c][1])):
            for op, _ in pairs:
                rows[r, block * len(OPS) + index[op]] += n_cells
    return rows


class LinearBaseline:
    """A linear model over a design matrix, fitted by least squares on relative residuals
    (:math:`\\min_a \\sum_i ((x_i a - t_i) / t_i)^2`), stored as ``{"kind", "features", "coef"}``.
    Subclasses name the ``KIND``, the ``FEATURES`` and build the rows (:meth:`features`)."""

    KIND: str = ""
    FEATURES: tuple[str, ...] = ()
    DESCRIPTION: str = ""  # in error messages: "not an op-count baseline"
    SCALE_COLUMNS: bool = False  # equalise column magnitudes before lstsq (counts that differ by 10^6)

    def __init__(self, coef: np.ndarray | None = None):
        self.coef = None if coef is None else np.asarray(coef, dtype=np.float64)

    def features(self, genotypes: Sequence[Genotype], configs: Sequence[NetworkConfig]) -> np.ndarray:
        raise NotImplementedError

    def fit(self, genotypes: Sequence[Genotype], configs: Sequence[NetworkConfig],
            values: Sequence[float]) -> "LinearBaseline":
        y = np.asarray(values, dtype=np.float64).reshape(-1)
        if y.size == 0 or y.size != len(genotypes):
            raise ValueError(f"need one value per genotype: {len(genotypes)} genotypes, {y.size} values")
        if not np.all(np.isfinite(y)) or np.any(y <= 0):
            raise ValueError("values must be finite and > 0")
        x = self.features(genotypes, configs)
        scale = np.abs(x).max(0) if self.SCALE_COLUMNS else np.ones(x.shape[1])
        scale[scale == 0] = 1.0
        # lstsq returns the minimum-norm solution, so features never seen in training get weight 0.
        self.coef = np.linalg.lstsq(x / scale / y[:, None], np.ones_like(y), rcond=None)[0] / scale
        return self

    def predict(self, genotypes: Sequence[Genotype], configs: Sequence[NetworkConfig]) -> np.ndarray:
        if self.coef is None:
            raise ValueError(f"{type(self).__name__} is not fitted; call fit() first")
        return self.features(genotypes, configs) @ self.coef

    def to_dict(self) -> dict[str, Any]:
        if self.coef is None:
            raise ValueError(f"{type(self).__name__} is not fitted; nothing to save")
        return {"kind": self.KIND, "features": list(self.FEATURES), "coef": self.coef.tolist()}

    @classmethod
    def from_dict(cls, data: Any) -> "LinearBaseline":
        if not isinstance(data, dict) or data.get("kind") != cls.KIND:
            raise ValueError(f"not {cls.DESCRIPTION} (expected kind {cls.KIND!r})")
        if list(data.get("features", [])) != list(cls.FEATURES):
            raise ValueError(f"{cls.DESCRIPTION} was saved with other features (another op set)")
        coef = np.asarray(data.get("coef"), dtype=np.float64)
        if coef.shape != (len(cls.FEATURES),) or not np.all(np.isfinite(coef)):
            raise ValueError(f"{cls.DESCRIPTION} needs {len(cls.FEATURES)} finite coefficients")
        return cls(coef)


class OpCountBaseline(LinearBaseline):
    """Least-squares linear model on op counts (see module docstring); predicts ms."""

    KIND = "op_count_linear"
    FEATURES = FEATURE_NAMES
    DESCRIPTION = "an op-count baseline"

    def features(self, genotypes: Sequence[Genotype], configs: Sequence[NetworkConfig]) -> np.ndarray:
        return op_count_features(genotypes, configs)
