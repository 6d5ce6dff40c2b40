"""The compact GNN latency predictor: the model, and prediction from genotypes or soft weights.

Model (graphs from :mod:`gnnlat.encoding`; :math:`w` = edge weights, :math:`s_i` = node scales):

.. math::
    h^0_i = \\mathrm{MLP}_\\text{in}\\big((x_i - \\mu) / \\sigma\\big), \\qquad
    h^{l+1}_i = h^l_i + \\mathrm{ReLU}\\big(W_1 h^l_i + W_2 \\textstyle\\sum_{j \\to i} w_{ji} h^l_j\\big)
    \\quad (\\text{GraphConv}),

.. math::
    \\log \\hat t = b + \\log \\sum_i s_i \\exp\\big(\\mathrm{MLP}_\\text{out}(h^L_i)\\big)
    \\quad (\\text{global\\_add\\_pool}),

with :math:`\\mu, \\sigma` the training set's feature statistics and :math:`b` its mean
log-latency minus its mean :math:`\\log \\sum_i s_i` (both stored in checkpoints).
A calibrated predictor may blend this with a roofline term in log space
(:mod:`gnnlat.roofline`, weight :math:`\\beta`; 0 for every trained predictor).

Every node predicts its own (log) cost and the readout *adds the costs in ms*, as latency adds up
over the kernels a network runs; messages let a node's cost depend on its neighbours. Op nodes
are gated by their weight :math:`w` in both messages and readout, so a zero-weight candidate
contributes nothing and softmax(α) gives a differentiable expected-latency surrogate.

Size: 32 hidden units and one GraphConv layer by default. One layer keeps the context that matters
(how many ops read a state, what feeds an add node); deeper message passing starts to fit
measurement noise (figures in docs/results.md).

Why log-latency: a loss on :math:`\\log \\hat t - \\log t` is a loss on relative error, which is
what matters across networks whose latencies span two orders of magnitude; an absolute loss would
fit only the big networks. The exp-sum readout keeps every prediction positive, and since a
kernel's cost is a power law in channels, resolution and batch, it is *linear* in the log-scaled
node features, so the model carries over to configs it never saw.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import GraphConv, global_add_pool
from torch_geometric.utils import scatter

from gnnlat.count_baseline import Baseline, load_baseline
from gnnlat.encoding import (NUM_FEATURES, GraphTemplate, encode_genotypes, flat_weights, materialise,
                             steps_for_weights, weights_template)
from gnnlat.errors import GnnlatError
from gnnlat.genotype import Genotype
from gnnlat.network import NetworkConfig
from gnnlat.record import UNITS
from gnnlat.roofline import Roofline


class PredictorError(GnnlatError, ValueError):
    """A predictor file that cannot be used, or training input the predictor cannot learn from."""


class LatencyGNN(nn.Module):
    """Node MLP → residual GraphConv layers (edge-weighted sums) → per-node log cost."""

    def __init__(self, hidden: int, layers: int, in_features: int = NUM_FEATURES):
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.convs = nn.ModuleList(GraphConv(hidden, hidden, aggr="add") for _ in range(layers))
        self.cost = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: Tensor, data: Data) -> Tensor:
        """Log of the summed node costs per graph, shape (num_graphs,), before the offset;
        ``x``: the (normalised) node features of ``data``."""
        h = self.embed(x)
        for conv in self.convs:
            h = h + torch.relu(conv(h, data.edge_index, data.edge_weight))
        log_cost = self.cost(h).squeeze(-1)
        # Shift by the per-graph maximum before exp (a log-sum-exp), so no cost overflows float32;
        # the shift is a constant per graph and cancels in the log. Scales multiply (never log) so
        # a weight of exactly 0 stays harmless.
        shift = scatter(log_cost.detach(), data.batch, dim=0, dim_size=data.num_graphs, reduce="max")
        node_cost = data.node_scale * torch.exp(log_cost - shift[data.batch])
        total = global_add_pool(node_cost.unsqueeze(-1), data.batch, size=data.num_graphs).squeeze(-1)
        return torch.log(total) + shift


class LatencyPredictor(nn.Module):
    """Predicts a network's latency (ms) from a genotype or from the search's soft weights.

    ``meta`` carries what a checkpoint (:mod:`gnnlat.checkpoint`) keeps besides the weights:
    backend, device fingerprints, labels, training config and split, metrics and the op-count
    baseline fitted on the same split.
    """

    def __init__(self, hidden: int = 32, layers: int = 1, merge_cells: bool = True,
                 meta: dict | None = None):
        super().__init__()
        self.gnn = LatencyGNN(hidden, layers)
        self.hidden, self.layers, self.merge_cells = hidden, layers, merge_cells
        # b of the module docstring: mean training log-latency minus mean log total node scale,
        # so an untrained model already predicts the right magnitude.
        self.register_buffer("log_offset", torch.zeros(()))
        # Node features are standardised with training-set statistics (centred inputs train faster).
        self.register_buffer("feature_mean", torch.zeros(NUM_FEATURES))
        self.register_buffer("feature_std", torch.ones(NUM_FEATURES))
        # A calibrated predictor may blend in a roofline term (gnnlat.roofline); others have β = 0.
        self.roofline = Roofline()
        self.meta: dict = dict(meta or {})
        self._templates: dict[tuple, GraphTemplate] = {}

    # ---- prediction -------------------------------------------------------------------------

    def log_latency(self, data: Data) -> Tensor:
        """Predicted log-latency (log ms) of each graph in ``data``."""
        x = (data.x - self.feature_mean) / self.feature_std
        return self.roofline.mix(self.gnn(x, data) + self.log_offset, data)

    def predict(self, genotypes: Sequence[Genotype],
                configs: Sequence[NetworkConfig] | NetworkConfig, chunk: int = 2048) -> np.ndarray:
        """Latency in ms of each genotype at its config (one config: all at that config)."""
        genotypes = list(genotypes)
        if isinstance(configs, NetworkConfig):
            configs = [configs] * len(genotypes)
        configs = list(configs)
        if len(configs) != len(genotypes):
            raise PredictorError(f"{len(genotypes)} genotypes but {len(configs)} configs")
        device = self.log_offset.device
        out = []
        with torch.no_grad():
            for i in range(0, len(genotypes), chunk):
                data = encode_genotypes(genotypes[i:i + chunk], configs[i:i + chunk], self.merge_cells)
                out.append(torch.exp(self.log_latency(data.to(device))).double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def predict_weights(self, w_normal: Tensor, w_reduce: Tensor, config: NetworkConfig,
                        multiplier: int | None = None) -> Tensor:
        """Latency (ms, 0-dim) of the soft architecture ``w = softmax(α)`` (rows: edges, columns:
        PRIMITIVES); differentiable w.r.t. the weights. ``multiplier``: cell outputs concatenated
        (default: all intermediate nodes, as in DARTS). The weights may live on another device
        than the predictor (α on a GPU, the small predictor on the CPU): they are moved to it and
        the latency comes back on theirs, gradients included."""
        steps = steps_for_weights(w_normal, w_reduce)
        device = self.log_offset.device
        key = (steps, multiplier, config, device)
        if key not in self._templates:
            template = weights_template(steps, config, multiplier, self.merge_cells)
            self._templates[key] = template.to(device)
        data = materialise(self._templates[key], flat_weights(w_normal.to(device), w_reduce.to(device)))
        return torch.exp(self.log_latency(data))[0].to(w_normal.device)

    def latency_fn(self, config: NetworkConfig, multiplier: int | None = None
                   ) -> Callable[[Tensor, Tensor], Tensor]:
        """``f(w_normal, w_reduce) -> ms`` with the network config bound, for the search loop."""
        def latency(w_normal: Tensor, w_reduce: Tensor) -> Tensor:
            return self.predict_weights(w_normal, w_reduce, config, multiplier)
        return latency

    # ---- metadata ---------------------------------------------------------------------------

    @property
    def fingerprints(self) -> dict[str, dict]:
        return dict(self.meta.get("fingerprints", {}))

    @property
    def backend(self) -> str | None:
        return self.meta.get("backend")

    @property
    def threads(self) -> int:
        """The intra-op threads its devices were timed with (part of the device: 1 when unrecorded
        or mixed), so a check or a measurement on this machine times the same device."""
        counts = {fp.get("threads") for fp in self.fingerprints.values()}
        value = counts.pop() if len(counts) == 1 else None
        return value if isinstance(value, int) and value >= 1 else 1

    @property
    def labels(self) -> str:
        """The latency labels it trained on (``workflows.records.load_records``); older files: min."""
        return str(self.meta.get("labels", "min"))

    @property
    def metric(self) -> str:
        """What it predicts: latency (ms; files from before other metrics), memory (MB) or energy (mJ).
        Every method that says ms returns this metric's unit."""
        return str(self.meta.get("metric", "latency"))

    @property
    def unit(self) -> str:
        return UNITS.get(self.metric, "?")

    @property
    def baseline(self) -> Baseline | None:
        data = self.meta.get("baseline")
        return load_baseline(data) if data else None
