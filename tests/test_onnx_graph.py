"""gnnlat.onnx_graph: the written graph computes what the PyTorch network computes."""
from __future__ import annotations

import random

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from gnnlat.export import onnx_bytes, traced_onnx_bytes
from gnnlat.genotype import Genotype, random_genotype
from gnnlat.network import Network, NetworkConfig
from gnnlat.operations import FactorizedReduce
from gnnlat.onnx_graph import OnnxGraphError, network_onnx_model
from gnnlat.published import NAMED_CELLS

ALL_OPS_CELL = Genotype(  # every op a derived cell may hold, strided and not, in both cell types
    normal=[("dil_conv_3x3", 0), ("max_pool_3x3", 1), ("avg_pool_3x3", 0), ("skip_connect", 1),
            ("sep_conv_7x7", 2), ("conv_7x1_1x7", 0), ("dil_conv_5x5", 3), ("sep_conv_3x3", 1)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("sep_conv_3x3", 0), ("skip_connect", 1), ("avg_pool_3x3", 0), ("conv_7x1_1x7", 1),
            ("dil_conv_3x3", 2), ("sep_conv_5x5", 0), ("max_pool_3x3", 1), ("sep_conv_7x7", 4)],
    reduce_concat=[2, 3, 4, 5],
)


def _trained_looking(net: Network, seed: int) -> Network:
    """Non-trivial BatchNorm statistics and affine terms, so folding them is actually checked."""
    gen = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=gen) * 2 - 1)
            m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=gen) - 0.5)
    return net.eval()


def _onnx_output(data: bytes, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x.numpy()})[0]


CASES = [
    (NAMED_CELLS["DARTS_V2"], NetworkConfig(C=8, layers=5, resolution=16, batch=2)),
    (NAMED_CELLS["DARTS_V1"], NetworkConfig(C=8, layers=5, resolution=15)),  # odd sizes: the padded branch
    (NAMED_CELLS["all_skip"], NetworkConfig(C=6, layers=3, resolution=9, batch=3)),
    (ALL_OPS_CELL, NetworkConfig(C=8, layers=6, resolution=13, in_channels=1, classes=7)),
] + [(random_genotype(random.Random(k)), NetworkConfig(C=8, layers=4, resolution=11 + k)) for k in range(3)]


@pytest.mark.parametrize("genotype,config", CASES)
def test_written_graph_matches_pytorch(genotype: Genotype, config: NetworkConfig):
    net = _trained_looking(Network(genotype, config), seed=config.resolution)
    x = torch.randn(config.batch, config.in_channels, config.resolution, config.resolution,
                    generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = net(x).numpy()
    got = _onnx_output(onnx_bytes(net), x)
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) < 1e-4


def test_written_graph_is_valid_onnx_with_static_shapes():
    net = Network(NAMED_CELLS["DARTS_V2"], NetworkConfig(C=8, layers=5, resolution=15))
    model = network_onnx_model(net, 17)
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["logits"]
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    out = inferred.graph.output[0].type.tensor_type.shape
    assert [d.dim_value for d in out.dim] == [1, 10]


def test_written_and_traced_graphs_agree():
    """The traced exporter labelled the earlier profiles; both graphs must compute the same thing."""
    net = _trained_looking(Network(NAMED_CELLS["DARTS_V2"], NetworkConfig(C=8, layers=5, resolution=15)), 3)
    x = net.example_input()
    assert np.max(np.abs(_onnx_output(onnx_bytes(net), x) - _onnx_output(traced_onnx_bytes(net), x))) < 1e-4


def test_batchnorm_after_conv_is_folded():
    """Only FactorizedReduce's BatchNorm (after a Concat, not a conv) stays a node."""
    net = Network(NAMED_CELLS["DARTS_V2"], NetworkConfig(C=8, layers=5, resolution=16))
    ops = [n.op_type for n in network_onnx_model(net, 17).graph.node]
    reduces = sum(isinstance(m, FactorizedReduce) for m in net.modules())
    assert reduces > 0 and ops.count("BatchNormalization") == reduces


def test_unknown_module_is_refused():
    net = Network(NAMED_CELLS["DARTS_V2"], NetworkConfig(C=8, layers=3, resolution=8))
    net.cells[0].ops[0] = nn.GELU()
    with pytest.raises(OnnxGraphError, match="GELU"):
        network_onnx_model(net, 17)
