"""Architecture → torch-geometric graph: the one encoder behind genotypes and the search's α.

A network is encoded as the cells it is built from, each at the shapes it runs on
(``network.cell_plan``), plus a stem and a head node. Inside a cell every *operation* is a node:

* the two preprocessing ops that produce the cell inputs (1×1 ReLUConvBN or FactorizedReduce),
* one node per candidate op on an edge ``source → target`` (``sep_conv_3x3`` on 0 → 2, ...),
* one ``add`` node per intermediate state (the sum of its incoming ops),
* one ``concat`` node (the cell output).

Graph edges follow the data flow ``state → op → state → concat`` and are stored in both directions
so that every node sees its neighbourhood (e.g. how many ops consume the same state, which changes
what the runtime can share or fuse).

Weights. Every op node ``i`` carries a weight :math:`w_i` and every other node weight 1:

.. math::
    \\text{edge weight}(u, v) = w_{\\text{op}(u, v)}, \\qquad
    \\text{node scale}_i = m_i \\cdot w_i,

where :math:`m_i` is how many identical cells the node stands for (see *merging*). A discrete
genotype yields only its chosen ops with :math:`w = 1`; the search's α yields every non-``none``
primitive on every edge with :math:`w = \\mathrm{softmax}(\\alpha)`. The predictor multiplies every
message and every readout term by these weights, so a candidate with weight 0 contributes exactly
nothing and the one-hot α of a genotype gives the genotype's prediction. ``none`` has no node: it
costs nothing in a derived network.

Node features (``NUM_FEATURES`` columns): a one-hot node type, then stride-2 flag, kernel / 7,
dilation / 2, has-weights flag, and :math:`\\log_2(\\cdot) / 4` of input channels, output
channels, input resolution, output resolution, batch, the node's multiply-accumulates (+1) and
the elements it reads and writes, and whether the input / output channels are multiples of 8 and
16 (CPU runtimes switch to blocked SIMD kernels, e.g. ONNX Runtime's NCHWc layout on AVX-512, only
for such channel counts, so such widths run faster than a smooth fit predicts). Logarithms make the cost of a kernel, a power law such as
:math:`b \\cdot C^2 \\cdot H^2`, linear in the features, so one model covers a wide range of
network configs; the analytic MAC and memory counts give every op type the same handle on its
work, and the scale (1/4) keeps the slopes the model must learn near 1.

Merging. Cells whose shapes are identical (same type, channels, resolutions, preprocessing) have
identical subgraphs and, without cross-cell edges, identical embeddings. With ``merge_cells=True``
(the default) such a run of cells is encoded once with multiplicity :math:`m`, so the graph size
is bounded by the number of distinct cell shapes (at most 11) and not by the number of layers.
Cells then exchange no messages: a cell's latency depends on the shapes of its inputs (encoded
in its preprocessing nodes), not on the ops of the cell before it. ``merge_cells=False`` encodes
the whole network instead, every cell with edges from the two cells (or the stem) feeding it and
to the head. Merging keeps the accuracy and makes deep networks' graphs much smaller (figures in
docs/results.md). At 8 layers every cell has its own shape, so the two differ only by the
cross-cell edges.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import log2
from typing import Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from gnnlat.errors import GnnlatError
from gnnlat.genotype import Genotype
from gnnlat.network import NetworkConfig, cell_plan
from gnnlat.operations import ALL_OPS, OP_INFO, PRIMITIVES
from gnnlat.supernet import edge_endpoints, num_edges

ENCODER_VERSION = 1

OP_NODE_TYPES: tuple[str, ...] = tuple(op for op in ALL_OPS if op != "none")
NODE_TYPES: tuple[str, ...] = OP_NODE_TYPES + (
    "preprocess_conv", "preprocess_reduce", "add", "concat", "stem", "head")
NUMERIC_FEATURES: tuple[str, ...] = (
    "stride2", "kernel", "dilation", "parametric",
    "log_c_in", "log_c_out", "log_res_in", "log_res_out", "log_batch", "log_macs", "log_elements",
    "c_in_div8", "c_in_div16", "c_out_div8", "c_out_div16")
NUM_FEATURES = len(NODE_TYPES) + len(NUMERIC_FEATURES)
SEARCH_OPS: tuple[str, ...] = tuple(p for p in PRIMITIVES if p != "none")

_TYPE_INDEX = {t: i for i, t in enumerate(NODE_TYPES)}
FIXED = -1  # weight slot of a node or edge whose weight is 1


class EncodingError(GnnlatError, ValueError):
    """Weights or genotypes that the encoder cannot turn into a graph."""


@dataclass(frozen=True)
class CellOps:
    """The op nodes of one cell type for G graphs at once; arrays are (G, P).

    ``op`` indexes :data:`OP_NODE_TYPES`; ``slot`` indexes the flat weight vector
    ``[w_normal.flatten(), w_reduce.flatten()]`` or is :data:`FIXED` (weight 1, a genotype's ops).
    """

    src: np.ndarray
    dst: np.ndarray
    op: np.ndarray
    slot: np.ndarray
    steps: int
    concat: tuple[int, ...]


@dataclass
class GraphTemplate:
    """A batch of network graphs whose op-node weights are still to be filled in (:func:`materialise`)."""

    x: Tensor  # (N, NUM_FEATURES)
    edge_index: Tensor  # (2, E)
    node_slot: Tensor  # (N,) weight slot of op nodes, FIXED elsewhere
    edge_slot: Tensor  # (E,) weight slot of the op node an edge touches, FIXED if none
    multiplicity: Tensor  # (N,) identical cells a node stands for
    batch: Tensor  # (N,) graph of each node
    num_graphs: int

    def to(self, device: torch.device | str) -> "GraphTemplate":
        moved = (t.to(device) for t in (self.x, self.edge_index, self.node_slot, self.edge_slot,
                                         self.multiplicity, self.batch))
        return GraphTemplate(*moved, num_graphs=self.num_graphs)


# ---- cell op lists ------------------------------------------------------------------------


def _layout(genotype: Genotype) -> tuple:
    """Genotypes with the same layout (steps and concat per cell) share a graph frame."""
    return (len(genotype.normal) // 2, genotype.normal_concat, len(genotype.reduce) // 2,
            genotype.reduce_concat)


def genotype_cells(genotypes: Sequence[Genotype]) -> tuple[CellOps, CellOps]:
    """(normal, reduce) op lists of discrete genotypes of one layout: their chosen ops, weight 1."""
    if len({_layout(g) for g in genotypes}) != 1:
        raise EncodingError("genotype_cells needs genotypes with one layout (steps and concat)")
    type_index = {op: i for i, op in enumerate(OP_NODE_TYPES)}
    cells = []
    for reduction in (False, True):
        pairs = [g.cell(reduction)[0] for g in genotypes]
        ops = np.array([[type_index[op] for op, _ in p] for p in pairs], dtype=np.int64)
        src = np.array([[inp for _, inp in p] for p in pairs], dtype=np.int64)
        dst = np.broadcast_to(np.arange(src.shape[1]) // 2 + 2, src.shape)
        concat = genotypes[0].cell(reduction)[1]
        cells.append(CellOps(src, dst, ops, np.full_like(src, FIXED), src.shape[1] // 2, concat))
    return cells[0], cells[1]


def weight_cells(steps: int, multiplier: int | None = None) -> tuple[CellOps, CellOps]:
    """(normal, reduce) op lists of the search space (one graph): every non-``none`` primitive on
    every edge, slots into ``[w_normal.flatten(), w_reduce.flatten()]`` (rows: edges, cols: PRIMITIVES)."""
    multiplier = steps if multiplier is None else multiplier
    if not 1 <= multiplier <= steps:
        raise EncodingError(f"multiplier must be within 1..{steps}, got {multiplier}")
    concat = tuple(range(steps + 2 - multiplier, steps + 2))
    per_cell = num_edges(steps) * len(PRIMITIVES)
    cand = [(src, dst, op, row * len(PRIMITIVES) + PRIMITIVES.index(op))
            for row, (src, dst) in enumerate(edge_endpoints(steps)) for op in SEARCH_OPS]
    src, dst, ops, slot = (np.array([[c[k] for c in cand]]) for k in range(4))
    ops = np.vectorize(OP_NODE_TYPES.index)(ops).astype(np.int64)
    return (CellOps(src, dst, ops, slot, steps, concat),
            CellOps(src, dst, ops, slot + per_cell, steps, concat))


def steps_for_weights(w_normal: Tensor, w_reduce: Tensor) -> int:
    """Infer the cell's intermediate node count from α-shaped weights; raise for bad shapes."""
    for name, w in (("w_normal", w_normal), ("w_reduce", w_reduce)):
        if w.dim() != 2 or w.shape[1] != len(PRIMITIVES):
            raise EncodingError(f"{name} must have shape (edges, {len(PRIMITIVES)}), got {tuple(w.shape)}")
    if w_normal.shape != w_reduce.shape:
        raise EncodingError(f"w_normal {tuple(w_normal.shape)} and w_reduce {tuple(w_reduce.shape)} differ")
    for steps in range(1, 16):
        if num_edges(steps) == w_normal.shape[0]:
            return steps
    raise EncodingError(f"{w_normal.shape[0]} edges is not a DARTS cell (2, 5, 9, 14, ... edges)")


# ---- the op-independent part of a network graph --------------------------------------------


def _macs(kind: str, c_in: int, c_out: int, res_in: int, res_out: int, kernel: int, stride: int) -> int:
    """Multiply-accumulates (comparisons for pools, additions for adds) of one node, per image."""
    pixels = res_out * res_out
    if kind in ("sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7"):
        return 2 * pixels * (c_in * kernel * kernel + c_in * c_out)  # two depthwise + pointwise blocks
    if kind in ("dil_conv_3x3", "dil_conv_5x5"):
        return pixels * (c_in * kernel * kernel + c_in * c_out)
    if kind == "conv_7x1_1x7":
        return c_in * c_out * 7 * res_out * (res_in + res_out)
    if kind in ("max_pool_3x3", "avg_pool_3x3"):
        return pixels * c_out * kernel * kernel
    if kind == "skip_connect":
        return pixels * c_in * c_out if stride == 2 else 0  # FactorizedReduce, or the identity
    if kind in ("preprocess_conv", "preprocess_reduce", "stem"):
        return pixels * c_in * c_out * kernel * kernel
    if kind == "head":
        return c_in * res_in * res_in + c_in * c_out  # global pool + classifier
    return pixels * c_out  # add, concat: one pass over the output


def _features(kind: str, c_in: int, c_out: int, res_in: int, res_out: int, batch: int, stride: int = 1,
              kernel: int = 1, dilation: int = 1, parametric: bool = False) -> list[float]:
    """One node's feature row; sizes enter as log2(·) / 4 (see the module docstring)."""
    macs = batch * _macs(kind, c_in, c_out, res_in, res_out, kernel, stride)
    elements = batch * (c_in * res_in * res_in + c_out * res_out * res_out)
    row = [0.0] * NUM_FEATURES
    row[_TYPE_INDEX[kind]] = 1.0
    row[len(NODE_TYPES):] = [float(stride == 2), kernel / 7, dilation / 2, float(parametric)] + [
        log2(v) / 4 for v in (c_in, c_out, res_in, res_out, batch, 1 + macs, elements)] + [
        float(c % block == 0) for c in (c_in, c_out) for block in (8, 16)]
    return row


@dataclass(frozen=True)
class _CellShape:
    """Everything about a cell instance's shapes that its latency depends on."""

    reduction: bool
    reduction_prev: bool
    c_prev_prev: int
    c_prev: int
    channels: int
    res_in: int  # resolution of s1 (and of s0 unless reduction_prev)
    res_s0: int

    @property
    def res_out(self) -> int:
        return (self.res_in + 1) // 2 if self.reduction else self.res_in


@dataclass
class _CellFrame:
    reduction: bool
    states: np.ndarray  # node ids of states 0 .. steps + 1
    mult: float
    op_rows: np.ndarray  # (len(OP_NODE_TYPES), 2, F): features of an op reading a state / a cell input


class Frame:
    """A network graph without its op nodes: stem, head, and per cell the preprocessing, add and
    concat nodes, plus the feature rows every possible op node of each cell would get."""

    def __init__(self, config: NetworkConfig, normal: tuple[int, tuple[int, ...]],
                 reduce: tuple[int, tuple[int, ...]], merge_cells: bool = True):
        """``normal`` / ``reduce``: (steps, concat) of the cell types."""
        self.rows: list[list[float]] = []
        self.mult: list[float] = []
        self.edges: list[tuple[int, int]] = []
        self.cells: list[_CellFrame] = []
        self.batch = config.batch
        plans = cell_plan(config, len(normal[1]), len(reduce[1]))
        shapes, out_res = [], [config.resolution, config.resolution]
        for p in plans:
            shapes.append(_CellShape(p.reduction, p.reduction_prev, p.c_prev_prev, p.c_prev, p.channels,
                                     p.resolution_in, out_res[-2]))
            out_res.append(shapes[-1].res_out)
        c = config.C
        stem = self._node(_features("stem", config.in_channels, 3 * c, config.resolution,
                                    config.resolution, config.batch, kernel=3, parametric=True), 1.0)
        last = shapes[-1]
        c_last = last.channels * len((reduce if last.reduction else normal)[1])
        head = self._node(_features("head", c_last, config.classes, last.res_out, 1, config.batch,
                                    parametric=True), 1.0)
        if merge_cells:
            counts: dict[_CellShape, int] = {}
            for s in shapes:
                counts[s] = counts.get(s, 0) + 1
            for s, m in counts.items():
                self._cell(s, reduce if s.reduction else normal, float(m))
            return
        outputs = [stem, stem]
        for s in shapes:
            frame = self._cell(s, reduce if s.reduction else normal, 1.0)
            self.edges += [(outputs[-2], int(frame.states[0])), (outputs[-1], int(frame.states[1]))]
            outputs.append(len(self.rows) - 1)  # the cell's concat node
        self.edges.append((outputs[-1], head))

    def _node(self, row: list[float], mult: float) -> int:
        self.rows.append(row)
        self.mult.append(mult)
        return len(self.rows) - 1

    def _cell(self, s: _CellShape, layout: tuple[int, tuple[int, ...]], mult: float) -> _CellFrame:
        steps, concat = layout
        c, r, b = s.channels, s.res_in, self.batch
        pre0 = (_features("preprocess_reduce", s.c_prev_prev, c, s.res_s0, r, b, stride=2, parametric=True)
                if s.reduction_prev else _features("preprocess_conv", s.c_prev_prev, c, r, r, b, parametric=True))
        states = [self._node(pre0, mult),
                  self._node(_features("preprocess_conv", s.c_prev, c, r, r, b, parametric=True), mult)]
        states += [self._node(_features("add", c, c, s.res_out, s.res_out, b), mult) for _ in range(steps)]
        concat_node = self._node(_features("concat", c, c * len(concat), s.res_out, s.res_out, b), mult)
        self.edges += [(states[k], concat_node) for k in concat]
        op_rows = np.zeros((len(OP_NODE_TYPES), 2, NUM_FEATURES), dtype=np.float32)
        for i, op in enumerate(OP_NODE_TYPES):
            info = OP_INFO[op]
            for from_input in (0, 1):
                stride = 2 if s.reduction and from_input else 1
                res_in = r if from_input else s.res_out
                op_rows[i, from_input] = _features(op, c, c, res_in, (res_in + stride - 1) // stride, b,
                                                   stride, info.kernel, info.dilation, info.parametric)
        frame = _CellFrame(s.reduction, np.array(states), mult, op_rows)
        self.cells.append(frame)
        return frame

    def build(self, normal: CellOps, reduce: CellOps) -> GraphTemplate:
        """The G graphs of these op lists (G = rows of the op arrays), as one disjoint batch."""
        g = normal.src.shape[0]
        n_fixed = len(self.rows)
        x, slot, mult = [np.broadcast_to(np.asarray(self.rows, np.float32), (g, n_fixed, NUM_FEATURES))], \
            [np.full((g, n_fixed), FIXED)], [np.broadcast_to(np.asarray(self.mult, np.float32), (g, n_fixed))]
        fixed = np.asarray(self.edges, dtype=np.int64).reshape(-1, 2).T
        src = [np.broadcast_to(fixed[0], (g, fixed.shape[1]))]
        dst = [np.broadcast_to(fixed[1], (g, fixed.shape[1]))]
        eslot = [np.full((g, fixed.shape[1]), FIXED)]
        offset = n_fixed
        for cell in self.cells:
            ops = reduce if cell.reduction else normal
            p = ops.src.shape[1]
            ids = np.broadcast_to(offset + np.arange(p), (g, p))
            x.append(cell.op_rows[ops.op, (ops.src < 2).astype(np.int64)])
            slot.append(ops.slot)
            mult.append(np.full((g, p), cell.mult, np.float32))
            src += [cell.states[ops.src], ids]  # state → op, op → state
            dst += [ids, cell.states[ops.dst]]
            eslot += [ops.slot, ops.slot]
            offset += p
        return _assemble(x, slot, mult, src, dst, eslot, offset)


def _assemble(x, slot, mult, src, dst, eslot, nodes_per_graph: int) -> GraphTemplate:
    """Concatenate per-part (G, ...) arrays into one batch; edges are stored both ways."""
    x, slot, mult = (np.concatenate(a, axis=1) for a in (x, slot, mult))
    src, dst, eslot = (np.concatenate(a, axis=1) for a in (src, dst, eslot))
    g = x.shape[0]
    shift = (np.arange(g) * nodes_per_graph)[:, None]
    src, dst = (src + shift).reshape(-1), (dst + shift).reshape(-1)
    eslot = eslot.reshape(-1)
    return GraphTemplate(
        x=torch.from_numpy(np.ascontiguousarray(x.reshape(-1, NUM_FEATURES))),
        edge_index=torch.from_numpy(np.stack([np.concatenate([src, dst]), np.concatenate([dst, src])])),
        node_slot=torch.from_numpy(slot.reshape(-1).astype(np.int64)),
        edge_slot=torch.from_numpy(np.concatenate([eslot, eslot]).astype(np.int64)),
        multiplicity=torch.from_numpy(np.ascontiguousarray(mult.reshape(-1))),
        batch=torch.arange(g).repeat_interleave(nodes_per_graph),
        num_graphs=g)


# ---- public encoders ------------------------------------------------------------------------


def materialise(template: GraphTemplate, weights: Tensor | None = None) -> Data:
    """Fill a template's op-node weights from the flat ``weights`` (``None``: all weights 1).

    Returns ``Data(x, edge_index, edge_weight, node_scale, batch)`` with ``num_graphs`` set;
    differentiable w.r.t. ``weights``.
    """
    if weights is None:
        node_w = torch.ones_like(template.multiplicity)
        edge_w = torch.ones(template.edge_slot.shape[0], device=template.x.device)
    else:
        padded = torch.cat([weights.new_ones(1), weights.reshape(-1)])
        node_w = padded[template.node_slot + 1]
        edge_w = padded[template.edge_slot + 1]
    data = Data(x=template.x, edge_index=template.edge_index, edge_weight=edge_w,
                node_scale=template.multiplicity * node_w, batch=template.batch,
                num_nodes=template.x.shape[0])
    data.num_graphs = template.num_graphs
    return data


def encode_genotypes(genotypes: Sequence[Genotype], configs: Sequence[NetworkConfig],
                     merge_cells: bool = True) -> Data:
    """Discrete networks as one disjoint-union batch (graph i = genotypes[i] at configs[i]):
    only each genotype's ops, with weight 1."""
    if len(genotypes) != len(configs):
        raise EncodingError(f"{len(genotypes)} genotypes but {len(configs)} configs")
    if not genotypes:
        raise EncodingError("nothing to encode: no genotypes given")
    groups: dict[tuple, list[int]] = {}
    for i, (g, c) in enumerate(zip(genotypes, configs)):
        groups.setdefault((c, _layout(g)), []).append(i)
    parts, order = [], []
    for (config, (steps_n, concat_n, steps_r, concat_r)), idx in groups.items():
        frame = Frame(config, (steps_n, concat_n), (steps_r, concat_r), merge_cells)
        parts.append(frame.build(*genotype_cells([genotypes[i] for i in idx])))
        order += idx
    return materialise(_renumber(_concat(parts), order))


def encode_genotype(genotype: Genotype, config: NetworkConfig, merge_cells: bool = True) -> Data:
    """The graph of one discrete network."""
    return encode_genotypes([genotype], [config], merge_cells)


def weights_template(steps: int, config: NetworkConfig, multiplier: int | None = None,
                     merge_cells: bool = True) -> GraphTemplate:
    """The search-space graph of ``config``: every candidate op, weights filled in later."""
    normal, reduce = weight_cells(steps, multiplier)
    frame = Frame(config, (steps, normal.concat), (steps, reduce.concat), merge_cells)
    return frame.build(normal, reduce)


def flat_weights(w_normal: Tensor, w_reduce: Tensor) -> Tensor:
    """The weight vector the templates' slots index into."""
    return torch.cat([w_normal.reshape(-1), w_reduce.reshape(-1)])


def encode_weights(w_normal: Tensor, w_reduce: Tensor, config: NetworkConfig,
                   multiplier: int | None = None, merge_cells: bool = True) -> Data:
    """The graph of the search's soft architecture: ``w = softmax(α)`` rows per edge
    (``Supernet.edge_weights()``). One-hot weights give the genotype's graph values."""
    steps = steps_for_weights(w_normal, w_reduce)
    template = weights_template(steps, config, multiplier, merge_cells).to(w_normal.device)
    return materialise(template, flat_weights(w_normal, w_reduce))


# ---- batching helpers ---------------------------------------------------------------------


def _concat(parts: list[GraphTemplate]) -> GraphTemplate:
    if len(parts) == 1:
        return parts[0]
    node_offsets = np.cumsum([0] + [p.x.shape[0] for p in parts[:-1]])
    graph_offsets = np.cumsum([0] + [p.num_graphs for p in parts[:-1]])
    return GraphTemplate(
        x=torch.cat([p.x for p in parts]),
        edge_index=torch.cat([p.edge_index + int(o) for p, o in zip(parts, node_offsets)], dim=1),
        node_slot=torch.cat([p.node_slot for p in parts]),
        edge_slot=torch.cat([p.edge_slot for p in parts]),
        multiplicity=torch.cat([p.multiplicity for p in parts]),
        batch=torch.cat([p.batch + int(o) for p, o in zip(parts, graph_offsets)]),
        num_graphs=sum(p.num_graphs for p in parts))


def _renumber(t: GraphTemplate, order: Sequence[int]) -> GraphTemplate:
    """Graph j of the batch becomes graph ``order[j]``, so pooled outputs follow the callers' order
    even though graphs were built grouped by config. Pooling only looks at ``batch``."""
    if list(order) == list(range(len(order))):
        return t
    batch = torch.as_tensor(list(order), dtype=torch.long)[t.batch]
    return GraphTemplate(t.x, t.edge_index, t.node_slot, t.edge_slot, t.multiplicity, batch, t.num_graphs)
