"""Search supernet: shapes, α as parameters and their gradients, the DARTS derivation rule."""
import random

import pytest
import torch
import torch.nn.functional as F

from gnnlat.genotype import Genotype, random_genotype, sample_genotypes
from gnnlat.network import NetworkConfig
from gnnlat.operations import PRIMITIVES
from gnnlat.supernet import (
    Supernet, derive_cell, derive_genotype, edge_endpoints, num_edges, one_hot_alpha,
)

SMALL = NetworkConfig(C=4, layers=3, resolution=8, batch=2, classes=5)
OPS = {name: i for i, name in enumerate(PRIMITIVES)}


@pytest.fixture(scope="module")
def net() -> Supernet:
    torch.manual_seed(0)
    return Supernet(SMALL)


def test_edges() -> None:
    assert [num_edges(s) for s in (1, 2, 3, 4, 5)] == [2, 5, 9, 14, 20]
    ends = edge_endpoints(4)
    assert len(ends) == 14
    assert ends[:5] == [(0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]
    assert ends[-1] == (4, 5)
    assert all(src < dst for src, dst in ends)


def test_forward_shape(net: Supernet) -> None:
    y = net(torch.randn(2, 3, 8, 8))
    assert y.shape == (2, 5)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("steps, multiplier, resolution", [(2, 2, 8), (3, 2, 9)])
def test_forward_shape_other_cells(steps: int, multiplier: int, resolution: int) -> None:
    torch.manual_seed(0)
    config = NetworkConfig(C=4, layers=4, resolution=resolution, in_channels=1, classes=3)
    net = Supernet(config, steps=steps, multiplier=multiplier)
    assert net.alpha_normal.shape == (num_edges(steps), len(PRIMITIVES))
    assert net(torch.randn(3, 1, resolution, resolution)).shape == (3, 3)
    g = net.derive()
    assert g.steps == steps
    assert g.normal_concat == tuple(range(2 + steps - multiplier, 2 + steps))


def test_backward_reaches_alphas_and_weights() -> None:
    torch.manual_seed(0)
    net = Supernet(SMALL)
    x, target = torch.randn(2, 3, 8, 8), torch.tensor([1, 3])
    F.cross_entropy(net(x), target).backward()
    for alpha in net.arch_parameters():
        assert alpha.grad is not None
        assert torch.isfinite(alpha.grad).all()
        assert alpha.grad.abs().sum() > 0
        assert (alpha.grad.abs().sum(dim=1) > 0).all()  # every edge gets a signal
    weights = list(net.weight_parameters())
    assert weights
    for p in weights:
        assert p.grad is not None and torch.isfinite(p.grad).all()
    assert sum(p.grad.abs().sum() for p in weights) > 0


def test_arch_and_weight_parameters_partition(net: Supernet) -> None:
    arch = {id(p) for p in net.arch_parameters()}
    weights = [id(p) for p in net.weight_parameters()]
    assert len(arch) == 2
    assert arch.isdisjoint(weights)
    assert arch | set(weights) == {id(p) for p in net.parameters()}
    assert len(weights) == len(set(weights))


def test_alphas_are_registered_parameters(net: Supernet) -> None:
    names = dict(net.named_parameters())
    assert names["alpha_normal"] is net.alpha_normal
    assert names["alpha_reduce"] is net.alpha_reduce
    assert isinstance(net.alpha_normal, torch.nn.Parameter) and net.alpha_normal.requires_grad
    state = net.state_dict()
    assert torch.equal(state["alpha_normal"], net.alpha_normal.detach())
    assert torch.equal(state["alpha_reduce"], net.alpha_reduce.detach())
    assert net.alpha_normal.shape == net.alpha_reduce.shape == (14, len(PRIMITIVES))
    assert not torch.equal(net.alpha_normal, net.alpha_reduce)  # independently initialised


def test_state_dict_round_trip_carries_alphas() -> None:
    torch.manual_seed(0)
    a = Supernet(SMALL)
    with torch.no_grad():
        a.alpha_normal.copy_(one_hot_alpha(random_genotype(random.Random(1)), False))
    torch.manual_seed(1)
    b = Supernet(SMALL)
    b.load_state_dict(a.state_dict())
    assert b.derive() == a.derive()


def test_edge_weights_are_row_softmax(net: Supernet) -> None:
    w_normal, w_reduce = net.edge_weights()
    assert torch.allclose(w_normal.sum(dim=1), torch.ones(14))
    assert torch.allclose(w_reduce, F.softmax(net.alpha_reduce, dim=-1))
    assert w_normal.requires_grad  # the latency loss backpropagates through these


# ---- derivation ------------------------------------------------------------------------------
def row(**weights: float) -> list[float]:
    """A softmax row: the named ops get their weight, the rest share what is left evenly."""
    rest = (1.0 - sum(weights.values())) / (len(PRIMITIVES) - len(weights))
    return [weights.get(name, rest) for name in PRIMITIVES]


# steps = 3: node 2 has edges from 0, 1; node 3 from 0, 1, 2; node 4 from 0, 1, 2, 3.
HAND_WEIGHTS = [
    row(none=0.6, max_pool_3x3=0.3),  # 0 -> 2: none is largest but ignored -> max_pool
    row(dil_conv_5x5=0.5),  # 1 -> 2
    row(none=0.9, skip_connect=0.06),  # 0 -> 3: strongest non-none is only 0.06 -> dropped
    row(sep_conv_5x5=0.4),  # 1 -> 3
    row(avg_pool_3x3=0.3),  # 2 -> 3
    row(sep_conv_3x3=0.35),  # 0 -> 4: kept (0.35)
    row(),  # 1 -> 4: uniform: largest non-none *sum* (7/8) but max only 1/8 -> dropped
    row(dil_conv_3x3=0.2),  # 2 -> 4: dropped (0.2 < 0.25)
    row(none=0.7, max_pool_3x3=0.25),  # 3 -> 4: kept (0.25)
]
HAND_CELL = [("max_pool_3x3", 0), ("dil_conv_5x5", 1),
             ("sep_conv_5x5", 1), ("avg_pool_3x3", 2),
             ("sep_conv_3x3", 0), ("max_pool_3x3", 3)]


def test_derive_cell_hand_weights() -> None:
    weights = torch.tensor(HAND_WEIGHTS)
    assert torch.allclose(weights.sum(dim=1), torch.ones(len(HAND_WEIGHTS)))
    assert derive_cell(weights, steps=3) == HAND_CELL


def test_derive_on_hand_set_alpha() -> None:
    torch.manual_seed(0)
    net = Supernet(SMALL, steps=3, multiplier=3)
    reduce = random_genotype(random.Random(5), steps=3)
    with torch.no_grad():
        net.alpha_normal.copy_(torch.tensor(HAND_WEIGHTS).log())  # softmax(log w) == w
        net.alpha_reduce.copy_(one_hot_alpha(reduce, reduction=True))
    g = net.derive()
    assert g.normal == tuple(HAND_CELL)
    assert g.reduce == reduce.reduce
    assert g.normal_concat == g.reduce_concat == (2, 3, 4)


def test_derive_ties_prefer_lower_input_and_sort_inputs() -> None:
    weights = torch.full((5, len(PRIMITIVES)), 1.0 / len(PRIMITIVES))
    weights[4, OPS["skip_connect"]] = 0.9  # 2 -> 3 strongest; 0 -> 3 and 1 -> 3 tie, 0 wins
    cell = derive_cell(weights, steps=2)
    assert [inp for _, inp in cell] == [0, 1, 0, 2]
    assert cell[3] == ("skip_connect", 2)


def test_derive_never_returns_none_even_if_none_dominates() -> None:
    alpha = torch.zeros(14, len(PRIMITIVES))
    alpha[:, OPS["none"]] = 50.0
    alpha[:, OPS["dil_conv_3x3"]] = 1.0
    g = derive_genotype(F.softmax(alpha, -1), F.softmax(alpha, -1))
    assert {op for op, _ in g.normal + g.reduce} == {"dil_conv_3x3"}


def test_derive_of_one_hot_alpha_is_identity() -> None:
    for g in sample_genotypes(seed=0, n=30):
        w_normal = F.softmax(one_hot_alpha(g, reduction=False), dim=-1)
        w_reduce = F.softmax(one_hot_alpha(g, reduction=True), dim=-1)
        assert derive_genotype(w_normal, w_reduce) == g


def test_one_hot_alpha_rows() -> None:
    g = random_genotype(random.Random(2))
    alpha = one_hot_alpha(g, reduction=False)
    assert alpha.shape == (14, len(PRIMITIVES))
    w = F.softmax(alpha, dim=-1)
    chosen = {(dst, src): op for dst, pairs in enumerate(zip(g.normal[::2], g.normal[1::2]), start=2)
              for op, src in pairs}
    for r, (src, dst) in enumerate(edge_endpoints(4)):
        expected = chosen.get((dst, src), "none")
        assert int(w[r].argmax()) == OPS[expected]
        assert w[r].max() > 0.999


def test_one_hot_alpha_rejects_repeated_input() -> None:
    g = Genotype(normal=[("sep_conv_3x3", 0), ("skip_connect", 0)], normal_concat=[2],
                 reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1)], reduce_concat=[2])
    with pytest.raises(ValueError, match=r"node 2 takes input 0 twice"):
        one_hot_alpha(g, reduction=False)
    one_hot_alpha(g, reduction=True)  # the reduce cell is fine


def test_one_hot_alpha_rejects_non_search_op() -> None:
    g = Genotype(normal=[("sep_conv_7x7", 0), ("skip_connect", 1)], normal_concat=[2],
                 reduce=[("conv_7x1_1x7", 0), ("max_pool_3x3", 1)], reduce_concat=[2])
    with pytest.raises(ValueError, match=r"'sep_conv_7x7' is not a search primitive"):
        one_hot_alpha(g, reduction=False)
    with pytest.raises(ValueError, match=r"'conv_7x1_1x7' is not a search primitive"):
        one_hot_alpha(g, reduction=True)
