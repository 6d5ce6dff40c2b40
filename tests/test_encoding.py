"""The DAG encoder: graph sizes, features, weights, and genotype ↔ one-hot α agreement."""
import numpy as np
import pytest
import torch

from gnnlat.encoding import (FIXED, NODE_TYPES, NUM_FEATURES, NUMERIC_FEATURES, OP_NODE_TYPES, EncodingError,
                             encode_genotype, encode_genotypes, encode_weights, steps_for_weights,
                             weights_template)
from gnnlat.genotype import sample_genotypes
from gnnlat.network import EVAL_CONFIG, SEARCH_CONFIG, NetworkConfig
from gnnlat.operations import PRIMITIVES
from gnnlat.published import DARTS_V2, NASNET
from gnnlat.supernet import num_edges, one_hot_alpha

# Per cell: 2 preprocessing nodes, 4 add nodes, 1 concat node.
FRAME_NODES_PER_CELL = 7


def _type_counts(data) -> dict[str, float]:
    onehot = data.x[:, :len(NODE_TYPES)]
    return {t: float((onehot[:, i] * data.node_scale).sum()) for i, t in enumerate(NODE_TYPES)}


def test_genotype_graph_shapes():
    data = encode_genotype(DARTS_V2, SEARCH_CONFIG)
    nodes = 2 + SEARCH_CONFIG.layers * (FRAME_NODES_PER_CELL + 8)
    assert data.x.shape == (nodes, NUM_FEATURES)
    # Per cell: 8 ops × 2 edges + 4 concat edges, each stored in both directions.
    assert data.edge_index.shape == (2, SEARCH_CONFIG.layers * 20 * 2)
    assert data.edge_weight.shape == (data.edge_index.shape[1],)
    assert torch.all(data.edge_weight == 1) and torch.all(data.node_scale == 1)
    assert int(data.edge_index.max()) < nodes
    assert data.num_graphs == 1 and torch.all(data.batch == 0)


def test_genotype_graph_counts_ops_per_cell_type():
    counts = _type_counts(encode_genotype(DARTS_V2, SEARCH_CONFIG))
    # DARTS_V2: normal has 5 sep_conv_3x3, 2 skip, 1 dil_conv_3x3 (6 normal cells); reduce has
    # 5 max_pool and 3 skip (2 reduce cells).
    assert counts["sep_conv_3x3"] == 5 * 6
    assert counts["dil_conv_3x3"] == 6
    assert counts["max_pool_3x3"] == 5 * 2
    assert counts["skip_connect"] == 2 * 6 + 3 * 2
    assert counts["stem"] == counts["head"] == 1
    assert counts["preprocess_reduce"] == 2  # the cells right after each reduction


def test_merged_cells_stand_for_every_cell():
    merged = encode_genotype(DARTS_V2, EVAL_CONFIG)
    full = encode_genotype(DARTS_V2, EVAL_CONFIG, merge_cells=False)
    assert merged.num_nodes < full.num_nodes
    assert float(merged.node_scale.sum()) == full.num_nodes == 2 + 20 * (FRAME_NODES_PER_CELL + 8)
    # Same nodes, counted with multiplicity: the weighted feature sums agree.
    assert torch.allclose((merged.x * merged.node_scale[:, None]).sum(0), full.x.sum(0), atol=1e-4)


def test_features_follow_shapes():
    small = encode_genotype(DARTS_V2, SEARCH_CONFIG)
    big = encode_genotype(DARTS_V2, NetworkConfig(C=32, layers=8, resolution=32, batch=4))
    col = {name: len(NODE_TYPES) + i for i, name in enumerate(NUMERIC_FEATURES)}
    assert torch.allclose(big.x[:, col["log_batch"]], torch.full((big.num_nodes,), 0.5))
    assert torch.allclose(small.x[:, col["log_batch"]], torch.zeros(small.num_nodes))
    stem = small.x[:, NODE_TYPES.index("stem")] == 1
    assert torch.allclose(big.x[stem, col["log_c_out"]] - small.x[stem, col["log_c_out"]], torch.tensor(0.25))
    # Reduce-cell ops reading a cell input run with stride 2 and halve the resolution.
    strided = small.x[:, col["stride2"]] == 1
    assert strided.any()
    assert torch.allclose(small.x[strided, col["log_res_in"]] - small.x[strided, col["log_res_out"]],
                          torch.tensor(0.25))
    # Work of a sep_conv_3x3 in the first stage (32x32): 2 · pixels · (C · 9 + C · C) MACs, per image.
    def sep3_log_macs(data):
        rows = (data.x[:, NODE_TYPES.index("sep_conv_3x3")] == 1) & (data.x[:, col["log_res_in"]] == 5 / 4)
        return data.x[rows, col["log_macs"]]

    expected = [(small, 1 * 2 * 1024 * (16 * 9 + 16 * 16)), (big, 4 * 2 * 1024 * (32 * 9 + 32 * 32))]
    for data, macs in expected:
        assert torch.allclose(sep3_log_macs(data), torch.tensor(np.log2(1 + macs) / 4, dtype=torch.float32))
    skip = (small.x[:, NODE_TYPES.index("skip_connect")] == 1) & (small.x[:, col["stride2"]] == 0)
    assert torch.all(small.x[skip, col["log_macs"]] == 0)  # the identity does no work


def test_weights_graph_has_every_candidate():
    w = torch.full((num_edges(4), len(PRIMITIVES)), 1 / len(PRIMITIVES))
    data = encode_weights(w, w, SEARCH_CONFIG)
    candidates = num_edges(4) * (len(PRIMITIVES) - 1)  # `none` has no node
    assert data.num_nodes == 2 + SEARCH_CONFIG.layers * (FRAME_NODES_PER_CELL + candidates)
    op_nodes = data.x[:, :len(OP_NODE_TYPES)].sum(1) == 1
    assert torch.allclose(data.node_scale[op_nodes], torch.tensor(1 / len(PRIMITIVES)))
    assert torch.all(data.node_scale[~op_nodes] == 1)


def _weighted_rows(data) -> np.ndarray:
    """Rows of nodes with non-negligible weight, with their scale, in a canonical order."""
    keep = data.node_scale > 1e-6
    rows = torch.cat([data.x[keep], data.node_scale[keep, None]], dim=1).detach().numpy()
    return rows[np.lexsort(rows.T[::-1])]


@pytest.mark.parametrize("config", [SEARCH_CONFIG, NetworkConfig(C=8, layers=5, resolution=16, batch=2)])
def test_one_hot_weights_give_the_genotype_graph(config):
    for genotype in sample_genotypes(3, 4) + [DARTS_V2]:
        w_n = torch.softmax(one_hot_alpha(genotype, False), -1)
        w_r = torch.softmax(one_hot_alpha(genotype, True), -1)
        soft = encode_weights(w_n, w_r, config)
        hard = encode_genotype(genotype, config)
        np.testing.assert_allclose(_weighted_rows(soft), _weighted_rows(hard), atol=1e-6)


def test_weights_are_differentiable():
    alpha = torch.randn(num_edges(4), len(PRIMITIVES), requires_grad=True)
    w = torch.softmax(alpha, -1)
    data = encode_weights(w, w.detach(), SEARCH_CONFIG)
    (data.node_scale.sum() + data.edge_weight.sum()).backward()
    assert alpha.grad is not None and torch.isfinite(alpha.grad).all()
    # Gradient flows into every non-`none` column; `none` has no node, so its column only gets
    # the softmax coupling.
    assert alpha.grad.abs().sum() > 0


def test_template_slots_index_the_weight_vector():
    t = weights_template(4, SEARCH_CONFIG)
    ops = t.node_slot != FIXED
    per_cell = num_edges(4) * len(PRIMITIVES)
    assert int(t.node_slot.max()) < 2 * per_cell
    none_cols = t.node_slot[ops] % len(PRIMITIVES) == PRIMITIVES.index("none")
    assert not none_cols.any()
    # Every edge touching an op node carries that node's slot.
    src, dst = t.edge_index
    touched = torch.where(t.node_slot[src] != FIXED, t.node_slot[src], t.node_slot[dst])
    assert torch.equal(touched, t.edge_slot)


def test_batch_keeps_caller_order_across_configs():
    genotypes = sample_genotypes(1, 5) + [NASNET]
    configs = [SEARCH_CONFIG, NetworkConfig(C=8, layers=5), SEARCH_CONFIG, EVAL_CONFIG,
               NetworkConfig(C=8, layers=5), SEARCH_CONFIG]
    batch = encode_genotypes(genotypes, configs)
    assert batch.num_graphs == len(genotypes)
    for i, (g, c) in enumerate(zip(genotypes, configs)):
        single = encode_genotype(g, c)
        mine = batch.batch == i
        assert int(mine.sum()) == single.num_nodes
        assert torch.allclose(batch.x[mine].sum(0), single.x.sum(0), atol=1e-4)


def test_bad_input_raises():
    with pytest.raises(EncodingError, match="shape"):
        steps_for_weights(torch.zeros(14, 7), torch.zeros(14, 7))
    with pytest.raises(EncodingError, match="not a DARTS cell"):
        steps_for_weights(torch.zeros(13, 8), torch.zeros(13, 8))
    with pytest.raises(EncodingError, match="differ"):
        steps_for_weights(torch.zeros(14, 8), torch.zeros(9, 8))
    with pytest.raises(EncodingError, match="configs"):
        encode_genotypes([DARTS_V2], [])
    with pytest.raises(EncodingError, match="no genotypes"):
        encode_genotypes([], [])
