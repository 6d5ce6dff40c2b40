"""ONNX written straight from a discrete network's modules, without tracing it.

``torch.onnx.export`` traces the network and runs its graph passes: about 0.75 s per network on
this project's 2-core machines, more than timing the network costs, so it bounded the harness's
throughput. The network is built from a dozen module types (:mod:`gnnlat.operations`,
:mod:`gnnlat.network`), so the graph can be written node by node instead, in milliseconds. Like
the exporter in eval mode, a BatchNorm that directly follows a convolution is folded into it:

.. math::
    W' = W \\cdot \\frac{\\gamma}{\\sqrt{\\sigma^2 + \\epsilon}}, \\qquad
    b' = \\beta + (b - \\mu) \\frac{\\gamma}{\\sqrt{\\sigma^2 + \\epsilon}}

Any other module type raises :class:`OnnxGraphError`: a new op must be taught here, never
silently traced differently. Input ``input``, output ``logits``; shapes are static (batch fixed).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from gnnlat.errors import GnnlatError
from gnnlat.network import Cell, Network
from gnnlat.operations import DilConv, FactorizedReduce, ReLUConvBN, SepConv

IR_VERSION = 8  # what ONNX Runtime 1.x reads for opset 17


class OnnxGraphError(GnnlatError, ValueError):
    """A module this writer does not know."""


class GraphWriter:
    """Collects nodes and initializers; every method takes tensor names and returns the output's."""

    def __init__(self, resolution: int):
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        # Each tensor's spatial size (FactorizedReduce pads odd sizes): tracked, so no forward pass is needed.
        self.sizes: dict[str, tuple[int, int]] = {"input": (resolution, resolution)}
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def node(self, op: str, inputs: list[str], size: tuple[int, int] | None = None, **attrs) -> str:
        """One node; its output keeps the first input's spatial size unless ``size`` is given."""
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        self.sizes[out] = size or self.sizes[inputs[0]]
        return out

    def constant(self, array: np.ndarray, hint: str) -> str:
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def conv(self, x: str, conv: nn.Conv2d, bn: nn.BatchNorm2d | None = None) -> str:
        weight = conv.weight.detach().numpy().astype(np.float32)
        bias = conv.bias.detach().numpy() if conv.bias is not None else np.zeros(weight.shape[0], np.float32)
        if bn is not None:
            scale, shift = _bn_affine(bn)
            weight = weight * scale[:, None, None, None]
            bias = bias * scale + shift
        ph, pw = conv.padding
        size = tuple(_out_size(n, k, s, p, d) for n, k, s, p, d in zip(
            self.sizes[x], conv.kernel_size, conv.stride, conv.padding, conv.dilation))
        inputs = [x, self.constant(weight, "weight"), self.constant(bias, "bias")]
        return self.node("Conv", inputs, size, kernel_shape=list(conv.kernel_size), strides=list(conv.stride),
                         pads=[ph, pw, ph, pw], dilations=list(conv.dilation), group=conv.groups)

    def batch_norm(self, x: str, bn: nn.BatchNorm2d) -> str:
        scale, shift = _bn_affine(bn)
        ones, zeros = np.ones_like(scale), np.zeros_like(scale)
        inputs = [x, self.constant(scale, "bn_scale"), self.constant(shift, "bn_shift"),
                  self.constant(zeros, "bn_mean"), self.constant(ones, "bn_var")]
        return self.node("BatchNormalization", inputs, epsilon=0.0)

    def shifted(self, x: str) -> str:
        """``x[:, :, 1:, 1:]``."""
        big = np.iinfo(np.int64).max
        size = tuple(n - 1 for n in self.sizes[x])
        return self.node("Slice", [x, self.constant(np.array([1, 1], np.int64), "starts"),
                                   self.constant(np.array([big, big], np.int64), "ends"),
                                   self.constant(np.array([2, 3], np.int64), "axes")], size)


def _out_size(n: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """Spatial output size of a convolution or pooling window (floor mode)."""
    return (n + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def _bn_affine(bn: nn.BatchNorm2d) -> tuple[np.ndarray, np.ndarray]:
    """Eval-mode BatchNorm as ``y = scale * x + shift`` per channel."""
    var = bn.running_var.detach().numpy().astype(np.float64)
    mean = bn.running_mean.detach().numpy().astype(np.float64)
    gamma = bn.weight.detach().numpy().astype(np.float64) if bn.affine else np.ones_like(var)
    beta = bn.bias.detach().numpy().astype(np.float64) if bn.affine else np.zeros_like(var)
    scale = gamma / np.sqrt(var + bn.eps)
    return scale.astype(np.float32), (beta - mean * scale).astype(np.float32)


def _sequential(w: GraphWriter, x: str, seq: nn.Sequential) -> str:
    mods = list(seq)
    i = 0
    while i < len(mods):
        m = mods[i]
        nxt = mods[i + 1] if i + 1 < len(mods) else None
        if isinstance(m, nn.Conv2d) and isinstance(nxt, nn.BatchNorm2d):
            x, i = w.conv(x, m, nxt), i + 2
        else:
            x, i = emit(w, x, m), i + 1
    return x


def _pool(w: GraphWriter, x: str, pool: nn.MaxPool2d | nn.AvgPool2d) -> str:
    k, s, p = (pool.kernel_size, pool.stride, pool.padding)
    attrs = dict(kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p])
    size = tuple(_out_size(n, k, s, p, 1) for n in w.sizes[x])
    if isinstance(pool, nn.MaxPool2d):
        return w.node("MaxPool", [x], size, **attrs)
    return w.node("AveragePool", [x], size, count_include_pad=int(pool.count_include_pad), **attrs)


def _factorized_reduce(w: GraphWriter, x: str, fr: FactorizedReduce) -> str:
    h, wd = w.sizes[x]
    x = w.node("Relu", [x])
    shifted = w.shifted(x)
    if h % 2 or wd % 2:
        pads = np.array([0, 0, 0, 0, 0, 0, h % 2, wd % 2], np.int64)
        shifted = w.node("Pad", [shifted, w.constant(pads, "pads")], (h, wd))
    both = w.node("Concat", [w.conv(x, fr.conv_1), w.conv(shifted, fr.conv_2)], axis=1)
    return w.batch_norm(both, fr.bn)


def _cell(w: GraphWriter, s0: str, s1: str, cell: Cell) -> str:
    states = [emit(w, s0, cell.preprocess0), emit(w, s1, cell.preprocess1)]
    for k in range(0, len(cell.ops), 2):
        a, b = (emit(w, states[cell.inputs[j]], cell.ops[j]) for j in (k, k + 1))
        states.append(w.node("Add", [a, b]))
    return w.node("Concat", [states[i] for i in cell.concat], axis=1)


EMITTERS: dict[type, Callable[[GraphWriter, str, nn.Module], str]] = {
    nn.Sequential: _sequential,
    nn.ReLU: lambda w, x, m: w.node("Relu", [x]),
    nn.Conv2d: lambda w, x, m: w.conv(x, m),
    nn.BatchNorm2d: lambda w, x, m: w.batch_norm(x, m),
    nn.MaxPool2d: _pool,
    nn.AvgPool2d: _pool,
    nn.Identity: lambda w, x, m: x,
    FactorizedReduce: _factorized_reduce,
    ReLUConvBN: lambda w, x, m: _sequential(w, x, m.op),
    DilConv: lambda w, x, m: _sequential(w, x, m.op),
    SepConv: lambda w, x, m: _sequential(w, x, m.op),
}


def emit(w: GraphWriter, x: str, module: nn.Module) -> str:
    """The nodes of ``module`` applied to tensor ``x``; returns the output tensor's name."""
    emitter = EMITTERS.get(type(module))
    if emitter is None:
        raise OnnxGraphError(f"no ONNX writer for module {type(module).__name__}; add one to gnnlat.onnx_graph")
    return emitter(w, x, module)


def network_onnx_model(network: Network, opset: int) -> onnx.ModelProto:
    """The eval-mode ``network`` as an ONNX model (BatchNorm folded into the preceding conv)."""
    network = network.eval()
    w = GraphWriter(network.config.resolution)
    s0 = s1 = _sequential(w, "input", network.stem)
    for cell in network.cells:
        s0, s1 = s1, _cell(w, s0, s1, cell)
    pooled = w.node("Flatten", [w.node("GlobalAveragePool", [s1], (1, 1))], axis=1)
    fc = network.classifier
    logits = w.node("Gemm", [pooled, w.constant(fc.weight.detach().numpy(), "fc_weight"),
                             w.constant(fc.bias.detach().numpy(), "fc_bias")], transB=1)
    w.nodes.append(helper.make_node("Identity", [logits], ["logits"]))
    c = network.config
    shape = [c.batch, c.in_channels, c.resolution, c.resolution]
    graph = helper.make_graph(
        w.nodes, "gnnlat_network",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [c.batch, c.classes])],
        w.initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=IR_VERSION,
                             producer_name="gnnlat")
