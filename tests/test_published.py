"""Published cells: transcribed as released, valid, buildable, and consistent with the examples."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gnnlat.genotype import Genotype, load_genotype
from gnnlat.network import Network, NetworkConfig
from gnnlat.operations import PRIMITIVES
from gnnlat.published import AMOEBANET, DARTS_V1, DARTS_V2, NASNET, PUBLISHED
from gnnlat.supernet import derive_genotype, one_hot_alpha


def test_registry() -> None:
    assert set(PUBLISHED) == {"DARTS_V1", "DARTS_V2", "DARTS", "NASNet", "AmoebaNet"}
    assert PUBLISHED["DARTS"] is DARTS_V2  # "DARTS" means the second-order cell, as in the DARTS repo
    assert all(isinstance(g, Genotype) for g in PUBLISHED.values())


@pytest.mark.parametrize("name, steps, normal_concat, reduce_concat", [
    ("DARTS_V1", 4, (2, 3, 4, 5), (2, 3, 4, 5)),
    ("DARTS_V2", 4, (2, 3, 4, 5), (2, 3, 4, 5)),
    ("NASNet", 5, (2, 3, 4, 5, 6), (4, 5, 6)),
    ("AmoebaNet", 5, (4, 5, 6), (3, 4, 6)),
])
def test_shapes_of_published_cells(name: str, steps: int, normal_concat: tuple, reduce_concat: tuple) -> None:
    g = PUBLISHED[name]
    assert g.steps == steps and len(g.reduce) == 2 * steps
    assert g.normal_concat == normal_concat and g.reduce_concat == reduce_concat


def test_darts_cells_use_only_search_primitives() -> None:
    for g in (DARTS_V1, DARTS_V2):
        assert {op for op, _ in g.normal + g.reduce} <= set(PRIMITIVES) - {"none"}
    # NASNet and AmoebaNet need the evaluation-only ops.
    assert "sep_conv_7x7" in {op for op, _ in NASNET.reduce}
    assert "conv_7x1_1x7" in {op for op, _ in AMOEBANET.reduce}


def test_darts_v2_transcription() -> None:
    # Spot checks against the released DARTS (2nd order) cell.
    assert DARTS_V2.normal[-1] == ("dil_conv_3x3", 2)
    assert [op for op, _ in DARTS_V2.normal].count("sep_conv_3x3") == 5
    assert {op for op, _ in DARTS_V2.reduce} == {"max_pool_3x3", "skip_connect"}
    assert DARTS_V1.reduce[-1] == ("avg_pool_3x3", 0)
    assert AMOEBANET.reduce[-1] == ("sep_conv_3x3", 5)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_networks_run(name: str) -> None:
    torch.manual_seed(0)
    config = NetworkConfig(C=8, layers=5, resolution=9, batch=2)
    net = Network(PUBLISHED[name], config).eval()
    with torch.no_grad():
        y = net(net.example_input())
    assert y.shape == (2, 10) and torch.isfinite(y).all()


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_round_trips(name: str) -> None:
    g = PUBLISHED[name]
    assert Genotype.from_json(g.to_json()) == g
    assert Genotype.from_darts(g.to_darts()) == g
    assert load_genotype(g.to_darts()) == g


def test_examples_match_darts_v2(root: Path) -> None:
    for suffix in ("json", "txt"):
        assert load_genotype(str(root / "gnnlat/shipped_data/examples" / f"darts_v2.{suffix}")) == DARTS_V2


def by_node(pairs: tuple) -> list[list]:
    return [sorted(pairs[k:k + 2], key=lambda p: p[1]) for k in range(0, len(pairs), 2)]


@pytest.mark.parametrize("g", [DARTS_V1, DARTS_V2], ids=["DARTS_V1", "DARTS_V2"])
def test_darts_cells_are_derivable_from_alpha(g: Genotype) -> None:
    # These cells came out of a supernet: their one-hot α derives back to them. derive() lists a
    # node's two inputs in index order, DARTS in strength order, so compare per node.
    w_normal = F.softmax(one_hot_alpha(g, reduction=False), dim=-1)
    w_reduce = F.softmax(one_hot_alpha(g, reduction=True), dim=-1)
    derived = derive_genotype(w_normal, w_reduce)
    assert by_node(derived.normal) == by_node(g.normal)
    assert by_node(derived.reduce) == by_node(g.reduce)
    assert derived.normal_concat == g.normal_concat


def test_nasnet_has_no_one_hot_alpha() -> None:
    # Its normal cell feeds node 5 from input 0 twice; a supernet has one edge per pair.
    with pytest.raises(ValueError, match=r"takes input 0 twice"):
        one_hot_alpha(NASNET, reduction=False)
