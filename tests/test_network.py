"""Discrete network: shapes, config validation, the cell plan, parameter and MAC counts, drop-path."""
import math
import random

import pytest
import torch
from torch import nn

from gnnlat.genotype import random_genotype
from gnnlat.network import (
    EVAL_CONFIG, SEARCH_CONFIG, Network, NetworkConfig, cell_plan, count_macs, count_parameters,
)
from gnnlat.published import AMOEBANET, DARTS_V1, DARTS_V2, NASNET

SMALL = NetworkConfig(C=8, layers=3, resolution=8, batch=2)


@pytest.mark.parametrize("C, layers, in_channels, resolution, batch, genotype", [
    (8, 3, 3, 8, 1, DARTS_V2),
    (8, 5, 1, 28, 3, DARTS_V1),
    (16, 3, 3, 32, 1, DARTS_V2),
    (16, 5, 3, 15, 3, NASNET),
    (36, 3, 1, 15, 1, AMOEBANET),
    (8, 8, 3, 32, 3, DARTS_V2),
    (16, 8, 1, 8, 1, None),
    (8, 5, 3, 9, 3, None),
])
def test_output_shape(C: int, layers: int, in_channels: int, resolution: int, batch: int, genotype) -> None:
    torch.manual_seed(0)
    if genotype is None:
        genotype = random_genotype(random.Random(C * layers + resolution))
    config = NetworkConfig(C=C, layers=layers, in_channels=in_channels, resolution=resolution, batch=batch,
                           classes=7)
    net = Network(genotype, config).eval()
    x = net.example_input()
    assert x.shape == (batch, in_channels, resolution, resolution)
    with torch.no_grad():
        y = net(x)
    assert y.shape == (batch, 7)
    assert torch.isfinite(y).all()


def test_default_configs() -> None:
    assert (SEARCH_CONFIG.C, SEARCH_CONFIG.layers, SEARCH_CONFIG.resolution, SEARCH_CONFIG.in_channels) == (16, 8, 32, 3)
    assert (EVAL_CONFIG.C, EVAL_CONFIG.layers, EVAL_CONFIG.resolution, EVAL_CONFIG.classes) == (36, 20, 32, 10)


# ---- config ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    (dict(C=0), r"C must be a positive integer"),
    (dict(C=-4), r"C must be a positive integer"),
    (dict(C=7), r"C must be even"),
    (dict(C=8.0), r"C must be a positive integer"),
    (dict(C=True), r"C must be a positive integer"),
    (dict(layers=2), r"layers must be at least 3"),
    (dict(layers=0), r"layers must be a positive integer"),
    (dict(layers=False), r"layers must be a positive integer"),
    (dict(batch=0), r"batch must be a positive integer"),
    (dict(classes=0), r"classes must be a positive integer"),
    (dict(in_channels=True), r"in_channels must be a positive integer"),
    (dict(resolution=3), r"resolution must be at least 4"),
    (dict(resolution="32"), r"resolution must be a positive integer"),
])
def test_config_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NetworkConfig(**kwargs)


def test_config_dict_round_trip_and_unknown_key() -> None:
    config = NetworkConfig(C=8, layers=5, in_channels=1, resolution=28, batch=4, classes=3)
    assert NetworkConfig.from_dict(config.to_dict()) == config
    assert NetworkConfig.from_dict({"C": 8}) == NetworkConfig(C=8)
    with pytest.raises(ValueError, match=r"unknown config key\(s\): channels"):
        NetworkConfig.from_dict({"C": 8, "channels": 3})
    with pytest.raises(ValueError, match=r"C must be even"):
        NetworkConfig.from_dict({"C": 9})
    with pytest.raises(ValueError, match=r"must be a mapping"):
        NetworkConfig.from_dict([("C", 8)])  # type: ignore[arg-type]


# ---- cell plan ------------------------------------------------------------------------------
@pytest.mark.parametrize("layers, resolution", [(3, 8), (5, 15), (8, 32), (20, 32), (9, 7)])
def test_cell_plan(layers: int, resolution: int) -> None:
    C = 8
    config = NetworkConfig(C=C, layers=layers, resolution=resolution)
    plans = cell_plan(config)
    r1, r2 = layers // 3, 2 * layers // 3
    assert config.reduction_layers() == (r1, r2)
    assert [p.index for p in plans] == list(range(layers))
    assert [i for i, p in enumerate(plans) if p.reduction] == [r1, r2]
    assert [i for i, p in enumerate(plans) if p.reduction_prev] == [r1 + 1, r2 + 1][: (layers > r2 + 1) + 1]
    half, quarter = math.ceil(resolution / 2), math.ceil(math.ceil(resolution / 2) / 2)
    for i, p in enumerate(plans):
        expected_c = C if i < r1 else 2 * C if i < r2 else 4 * C
        assert p.channels == expected_c
        expected_res = resolution if i <= r1 else half if i <= r2 else quarter
        assert p.resolution_in == expected_res
    assert (plans[0].c_prev_prev, plans[0].c_prev) == (3 * C, 3 * C)  # both inputs are the stem
    for prev, cur in zip(plans, plans[1:]):
        assert cur.c_prev == 4 * prev.channels  # 4 concatenated nodes
        assert cur.c_prev_prev == prev.c_prev


def test_cell_plan_multipliers() -> None:
    plans = cell_plan(NetworkConfig(C=8, layers=3), multiplier_normal=5, multiplier_reduce=3)
    assert [p.c_prev for p in plans] == [24, 5 * 8, 3 * 16]


@pytest.mark.parametrize("genotype, resolution", [(DARTS_V2, 15), (NASNET, 8), (AMOEBANET, 9)])
def test_network_follows_cell_plan(genotype, resolution: int) -> None:
    # The plan is what the latency model sees; it must describe the network that actually runs.
    config = NetworkConfig(C=8, layers=5, resolution=resolution)
    net = Network(genotype, config).eval()
    plans = cell_plan(config, len(genotype.normal_concat), len(genotype.reduce_concat))
    seen: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    hooks = [cell.register_forward_hook(lambda m, inp, out: seen.append((tuple(inp[1].shape), tuple(out.shape))))
             for cell in net.cells]
    with torch.no_grad():
        net(net.example_input())
    for h in hooks:
        h.remove()
    for p, (in_shape, out_shape) in zip(plans, seen, strict=True):
        assert in_shape[1:] == (p.c_prev, p.resolution_in, p.resolution_in)
        concat = genotype.reduce_concat if p.reduction else genotype.normal_concat
        out_res = math.ceil(p.resolution_in / 2) if p.reduction else p.resolution_in
        assert out_shape[1:] == (len(concat) * p.channels, out_res, out_res)


# ---- counts ---------------------------------------------------------------------------------
def test_darts_v2_eval_network_has_3_3m_parameters() -> None:
    net = Network(DARTS_V2, EVAL_CONFIG)
    n = count_parameters(net)
    assert round(n / 1e6, 1) == 3.3  # DARTS paper, Table 1
    assert n == 3_349_342  # the DARTS code's count (auxiliary head excluded)


def test_count_parameters_skips_auxiliary_head() -> None:
    net = Network(DARTS_V2, SMALL)
    base = count_parameters(net)
    assert base == sum(p.numel() for p in net.parameters())
    net.auxiliary = nn.Linear(10, 10)
    assert count_parameters(net) == base


def test_count_macs_exact_for_conv_and_linear() -> None:
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
    assert count_macs(conv, torch.zeros(1, 3, 5, 5)) == 5 * 5 * 4 * 3 * 9
    depthwise = nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4, bias=False)
    assert count_macs(depthwise, torch.zeros(1, 4, 6, 6)) == 3 * 3 * 4 * 1 * 9
    assert count_macs(nn.Linear(10, 5), torch.zeros(2, 10)) == 2 * 5 * 10


def test_count_macs_grows_with_width_and_resolution() -> None:
    def macs(C: int, resolution: int) -> int:
        config = NetworkConfig(C=C, layers=3, resolution=resolution)
        net = Network(DARTS_V2, config)
        return count_macs(net, net.example_input())

    base = macs(8, 8)
    assert base > 0
    assert macs(16, 8) > base
    assert macs(8, 16) > base
    assert macs(8, 16) > 3 * base  # convs dominate: ~4x the pixels


def test_count_macs_restores_training_mode_and_leaves_no_hooks() -> None:
    net = Network(DARTS_V2, SMALL).train()
    first = count_macs(net, net.example_input())
    assert net.training
    assert all(not m._forward_hooks for m in net.modules())
    assert count_macs(net, net.example_input()) == first


# ---- drop path ------------------------------------------------------------------------------
def _forward_seeded(net: Network, x: torch.Tensor, seeds: tuple[int, ...]) -> list[torch.Tensor]:
    with torch.no_grad():
        return [torch.manual_seed(s) and net(x) for s in seeds]


def test_drop_path_only_in_training() -> None:
    torch.manual_seed(0)
    net = Network(DARTS_V2, SMALL)
    net.drop_path_prob = 0.5
    x = torch.randn(4, 3, 8, 8)

    a, b = _forward_seeded(net.eval(), x, (1, 2))
    assert torch.equal(a, b)

    c, d, c_again = _forward_seeded(net.train(), x, (1, 2, 1))
    assert not torch.allclose(c, d)  # different masks
    assert torch.allclose(c, c_again)  # same seed, same masks
    net.drop_path_prob = 0.0
    e, f = _forward_seeded(net, x, (1, 2))
    assert torch.allclose(e, f)  # no drop path: train mode is deterministic too
