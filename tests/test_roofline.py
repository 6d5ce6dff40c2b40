"""The roofline term (gnnlat.roofline): work counted from the encoder, costs fitted, blend in a predictor."""
import numpy as np
import pytest
import torch

from gnnlat.encoding import encode_genotypes
from gnnlat.genotype import sample_genotypes
from gnnlat.network import SEARCH_CONFIG, NetworkConfig
from gnnlat.predictor import LatencyPredictor
from gnnlat.published import DARTS_V2, NASNET
from gnnlat.reference_cells import uniform_cell
from gnnlat.roofline import TERMS, Roofline, fit_costs, network_work, roofline_ms, work_of
from gnnlat.supernet import one_hot_alpha


def _work(genotypes, config=SEARCH_CONFIG, merge_cells=True) -> np.ndarray:
    return network_work(encode_genotypes(genotypes, [config] * len(genotypes), merge_cells)).numpy()


def test_kernels_count_what_eager_pytorch_launches():
    skips = uniform_cell(("skip_connect",) * 2, ("skip_connect",) * 2)
    seps = uniform_cell(("sep_conv_3x3",) * 2, ("sep_conv_3x3",) * 2)
    kernels = _work([skips, seps])[:, 0]
    # 8 layers: 6 normal cells of 8 ops, each a sep_conv (8 kernels) instead of an identity (0);
    # 2 reduction cells, where the 4 skips that read a cell input are FactorizedReduce (5 kernels).
    assert kernels[1] - kernels[0] == 6 * 8 * 8 + 2 * (8 * 8 - 4 * 5)


def test_work_grows_with_the_config_and_ignores_cell_merging():
    small, wide = _work([DARTS_V2])[0], _work([DARTS_V2], NetworkConfig(C=32, layers=8))[0]
    assert wide[0] == small[0] and wide[1] > 3 * small[1] and wide[4] > 1.9 * small[4]
    deep = NetworkConfig(C=16, layers=14)
    np.testing.assert_allclose(_work([DARTS_V2, NASNET], deep, True), _work([DARTS_V2, NASNET], deep, False),
                               rtol=1e-9)


def test_work_of_reads_each_genotype_at_its_own_config():
    wide = NetworkConfig(C=32, layers=8)
    work = work_of([DARTS_V2, NASNET], [SEARCH_CONFIG, wide])
    assert work.shape == (2, len(TERMS) - 1)
    np.testing.assert_allclose(work[0], _work([DARTS_V2])[0])
    np.testing.assert_allclose(work[1], _work([NASNET], wide)[0])


def test_fit_costs_recovers_the_costs_and_never_goes_negative():
    genotypes = sample_genotypes(3, 40)
    configs = [NetworkConfig(C=c, layers=8, resolution=r) for c, r in zip([8, 16, 24, 32] * 10, [16, 32] * 20)]
    work = work_of(genotypes, configs)
    truth = np.array([2e-3, 3e-8, 2e-7, 5e-8, 1e-7, 4e-7, 0.3])
    np.testing.assert_allclose(fit_costs(work, roofline_ms(work, truth)), truth, rtol=1e-6)
    # latencies that fall as kernels grow: least squares would give kernels a negative cost
    falling = 10.0 / work[:, 0]
    assert np.all(fit_costs(work, falling) >= 0)


def test_below_ten_samples_four_costs():
    """Fewer samples than SPLIT_COSTS_FROM fit one cost per unit of work and no surcharge on
    unblocked elements; from it (or asked to), all seven costs."""
    genotypes = sample_genotypes(4, 40)
    configs = [NetworkConfig(C=c, layers=8, resolution=r) for c, r in zip([8, 12, 24, 32] * 10, [16, 32] * 20)]
    work = work_of(genotypes, configs)
    tied = np.array([2e-3, 3e-8, 3e-8, 3e-8, 1e-7, 0.0, 0.3])
    few = fit_costs(work[:9], roofline_ms(work[:9], tied))
    assert few[1] == few[2] == few[3] and few[5] == 0
    np.testing.assert_allclose(few, tied, rtol=1e-6)
    split = np.array([2e-3, 3e-8, 4e-7, 1e-7, 1e-7, 3e-7, 0.3])
    unsplit = fit_costs(work[:9], roofline_ms(work[:9], split))
    assert len(set(unsplit[1:4])) == 1 and unsplit[5] == 0
    np.testing.assert_allclose(fit_costs(work[:9], roofline_ms(work[:9], split), split=True), split, rtol=1e-6)
    np.testing.assert_allclose(fit_costs(work[:10], roofline_ms(work[:10], split)), split, rtol=1e-6)


def test_blend_weight_zero_is_the_gnn_and_one_is_the_roofline():
    torch.manual_seed(0)
    predictor = LatencyPredictor().eval()
    data = encode_genotypes([DARTS_V2, NASNET], [SEARCH_CONFIG] * 2)
    gnn = predictor.log_latency(data).detach()
    costs = np.array([1e-2, 1e-8, 2e-8, 0.0, 0.0, 1e-7, 0.1])
    predictor.roofline.set(costs, 1.0)
    roof = roofline_ms(network_work(data).numpy(), costs)
    np.testing.assert_allclose(predictor.log_latency(data).detach().numpy(), np.log(roof), rtol=1e-5)
    predictor.roofline.set(costs, 0.25)
    np.testing.assert_allclose(predictor.log_latency(data).detach().numpy(),
                               0.75 * gnn.numpy() + 0.25 * np.log(roof), rtol=1e-5)
    with pytest.raises(ValueError, match="blend in"):
        Roofline().set(costs, 1.5)
    with pytest.raises(ValueError, match="costs >= 0"):
        Roofline().set(-costs, 0.5)
    assert len(TERMS) == 7


def test_pools_work_is_counted_apart_from_the_rest():
    """Swapping a cell's max pools for average pools moves their work from one term to the other
    and leaves kernels, other work and elements as they were; convolutions add none to either."""
    maxes = uniform_cell(("max_pool_3x3",) * 2, ("max_pool_3x3",) * 2)
    avgs = uniform_cell(("avg_pool_3x3",) * 2, ("avg_pool_3x3",) * 2)
    seps = uniform_cell(("sep_conv_3x3",) * 2, ("sep_conv_3x3",) * 2)
    w_max, w_avg, w_sep = _work([maxes, avgs, seps])
    assert w_max[2] > 0 and w_max[3] == 0 and w_avg[2] == 0 and w_avg[3] == pytest.approx(w_max[2])
    np.testing.assert_allclose(w_max[[0, 1, 4]], w_avg[[0, 1, 4]])
    assert w_sep[2] == w_sep[3] == 0 and w_sep[1] > w_max[1] + w_max[2]


def test_elements_off_whole_simd_blocks_are_counted_apart():
    """At C = 32 every node but the stem (3 input channels) has whole blocks of 16 channels; at
    C = 12 the first stage's nodes (12 channels) and the stem's have not: their elements are the
    surcharged ones, a share of all elements moved."""
    wide, narrow = _work([DARTS_V2], NetworkConfig(C=32))[0], _work([DARTS_V2], NetworkConfig(C=12))[0]
    stem = network_work(encode_genotypes([DARTS_V2], [NetworkConfig(C=32)], False)).numpy()[0]
    assert 0 < wide[5] < 0.05 * wide[4] and stem[5] == pytest.approx(wide[5])
    assert 0.3 * narrow[4] < narrow[5] < narrow[4]


def test_blended_prediction_stays_differentiable_in_the_weights():
    torch.manual_seed(0)
    predictor = LatencyPredictor().eval()
    predictor.roofline.set(np.array([1e-2, 1e-8, 3e-8, 2e-8, 1e-7, 2e-7, 0.1]), 0.5)
    one_hot = [torch.softmax(one_hot_alpha(DARTS_V2, r), -1) for r in (False, True)]
    soft = predictor.predict_weights(*one_hot, SEARCH_CONFIG)
    np.testing.assert_allclose(soft.item(), predictor.predict([DARTS_V2], SEARCH_CONFIG)[0], rtol=1e-4)
    alpha = torch.zeros(14, 8, requires_grad=True)
    predictor.predict_weights(torch.softmax(alpha, -1), torch.softmax(torch.zeros(14, 8), -1), SEARCH_CONFIG).backward()
    assert alpha.grad is not None and alpha.grad.abs().sum() > 0
