"""The op-count linear baseline: features, exact fit of a linear target, serialisation."""
import numpy as np
import pytest

from gnnlat.baseline import FEATURE_NAMES, OPS, OpCountBaseline, op_count_features
from gnnlat.genotype import sample_genotypes
from gnnlat.network import EVAL_CONFIG, SEARCH_CONFIG, NetworkConfig
from gnnlat.published import DARTS_V2, NASNET

CONFIGS = [SEARCH_CONFIG, EVAL_CONFIG, NetworkConfig(C=8, layers=5)]


def test_features_count_ops_times_cells():
    x = op_count_features([DARTS_V2], [SEARCH_CONFIG])[0]
    feature = dict(zip(FEATURE_NAMES, x))
    # 6 normal and 2 reduce cells in the 8-layer network.
    assert feature["normal/sep_conv_3x3"] == 5 * 6
    assert feature["normal/skip_connect"] == 2 * 6
    assert feature["reduce/max_pool_3x3"] == 5 * 2
    assert feature["reduce/skip_connect"] == 3 * 2
    assert feature["intercept"] == 1
    assert x[:-1].sum() == 8 * 6 + 8 * 2
    # Ops outside the search primitives (NASNet's sep_conv_7x7) have their own columns.
    assert dict(zip(FEATURE_NAMES, op_count_features([NASNET], [EVAL_CONFIG])[0]))["reduce/sep_conv_7x7"] == 2 * 2


def test_fits_an_exactly_linear_target():
    rng = np.random.default_rng(0)
    coef = rng.uniform(0.01, 0.5, size=len(FEATURE_NAMES))
    coef[[i for i, n in enumerate(FEATURE_NAMES) if n.endswith(("sep_conv_7x7", "conv_7x1_1x7"))]] = 0
    genotypes = sample_genotypes(0, 80)
    configs = [CONFIGS[i % 3] for i in range(80)]
    y = op_count_features(genotypes, configs) @ coef
    model = OpCountBaseline().fit(genotypes, configs, y)
    # Every cell has 8 ops and every network 2 reduce cells, so the reduce counts sum to a
    # constant (collinear with the intercept): the coefficients are not unique, the fit is.
    np.testing.assert_allclose(model.predict(genotypes, configs), y, rtol=1e-8)
    test_g, test_c = sample_genotypes(1, 10), [EVAL_CONFIG] * 10
    np.testing.assert_allclose(model.predict(test_g, test_c), op_count_features(test_g, test_c) @ coef, rtol=1e-8)


def test_round_trip_and_bad_dicts():
    genotypes = sample_genotypes(2, 40)
    y = np.linspace(1, 2, 40)
    model = OpCountBaseline().fit(genotypes, [SEARCH_CONFIG] * 40, y)
    again = OpCountBaseline.from_dict(model.to_dict())
    np.testing.assert_array_equal(again.predict(genotypes, [SEARCH_CONFIG] * 40),
                                  model.predict(genotypes, [SEARCH_CONFIG] * 40))
    with pytest.raises(ValueError, match="not an op-count baseline"):
        OpCountBaseline.from_dict({"kind": "other"})
    bad = model.to_dict()
    bad["coef"] = bad["coef"][:-1]
    with pytest.raises(ValueError, match="coefficients"):
        OpCountBaseline.from_dict(bad)
    bad = model.to_dict()
    bad["features"] = list(OPS)
    with pytest.raises(ValueError, match="other features"):
        OpCountBaseline.from_dict(bad)


def test_unfitted_and_mismatched_inputs_raise():
    with pytest.raises(ValueError, match="not fitted"):
        OpCountBaseline().predict([DARTS_V2], [SEARCH_CONFIG])
    with pytest.raises(ValueError, match="one value per genotype"):
        OpCountBaseline().fit([DARTS_V2], [SEARCH_CONFIG], [1.0, 2.0])
    with pytest.raises(ValueError, match="> 0"):
        OpCountBaseline().fit([DARTS_V2], [SEARCH_CONFIG], [0.0])
    with pytest.raises(ValueError, match="configs"):
        op_count_features([DARTS_V2], [])
