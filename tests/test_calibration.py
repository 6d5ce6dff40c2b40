"""Calibration (gnnlat.calibration) on real profiles: a predictor of one device adapted to another."""
import random

import numpy as np
import pytest

from gnnlat.calibration import CalibrationConfig, calibrate_predictor, choose_cover, choose_spread
from gnnlat.checkpoint import load_predictor, matches_device, save_predictor
from gnnlat.metrics import regression_metrics
from gnnlat.predictor import PredictorError
from gnnlat.record import split_fixed_vary
from gnnlat.roofline import TERMS, fit_costs, roofline_ms, work_of
from gnnlat.shipped import shipped_predictor
from tests.conftest import ROOT
from workflows.records import load_records


@pytest.fixture(scope="module")
def eager_to_ort():
    """The shipped eager-PyTorch predictor, and ONNX Runtime records of the same machine kind: two
    devices whose latencies rank differently (overhead-bound against compute-bound)."""
    base = load_predictor(shipped_predictor("cpu-reference"))
    fixed, vary = split_fixed_vary(load_records(ROOT / "profiles" / "onnxruntime-reference.db"))
    rng = random.Random(0)
    return base, rng.sample(fixed, 160), rng.sample(vary, 160)


def _mape(predictor, records) -> float:
    pred = predictor.predict([r.genotype for r in records], [r.config for r in records])
    return regression_metrics(pred, [r.latency_ms for r in records])["mape"]


def test_calibration_beats_the_unadapted_base_and_names_the_target(eager_to_ort, tmp_path):
    base, fixed, vary = eager_to_ort
    cal = fixed[:10] + vary[:10]
    held_out = fixed[10:] + vary[10:]
    calibrated = calibrate_predictor(base, cal, CalibrationConfig(steps=150))
    before, after = _mape(base, held_out), _mape(calibrated, held_out)
    assert after < 0.5 * before, (before, after)
    # the file round-trips, carries the target device's fingerprint and names its base
    save_predictor(calibrated, tmp_path / "c.pt")
    again = load_predictor(tmp_path / "c.pt")
    assert again.backend == "onnxruntime" and base.backend == "cpu"
    assert matches_device(again, cal[0].fingerprint_id) and not matches_device(base, cal[0].fingerprint_id)
    assert again.meta["calibration"]["n"] == 20 and again.meta["calibration"]["base_backend"] == "cpu"
    assert set(again.meta["train_keys"]) == {r.key for r in cal}
    np.testing.assert_allclose(again.predict([r.genotype for r in held_out[:5]], [r.config for r in held_out[:5]]),
                               calibrated.predict([r.genotype for r in held_out[:5]], [r.config for r in held_out[:5]]),
                               rtol=1e-6)


def test_calibration_is_deterministic_and_leaves_the_base_alone(eager_to_ort):
    base, fixed, vary = eager_to_ort
    cal = fixed[:4] + vary[:4]
    before = base.predict([r.genotype for r in cal], [r.config for r in cal])
    a = calibrate_predictor(base, cal, CalibrationConfig(steps=20))
    b = calibrate_predictor(base, cal, CalibrationConfig(steps=20))
    np.testing.assert_array_equal(a.predict([r.genotype for r in cal], [r.config for r in cal]),
                                  b.predict([r.genotype for r in cal], [r.config for r in cal]))
    np.testing.assert_array_equal(base.predict([r.genotype for r in cal], [r.config for r in cal]), before)


def test_choose_spread_takes_half_fixed_and_spans_the_predicted_range(eager_to_ort):
    base, fixed, vary = eager_to_ort
    f = [(r.genotype, r.config) for r in fixed]
    v = [(r.genotype, r.config) for r in vary]
    picked = choose_spread(base, f, v, 10)
    assert len(set(picked)) == 10
    assert sum(i < len(f) for i in picked) == 5
    predicted = base.predict([g for g, _ in f], [c for _, c in f])
    chosen = predicted[[i for i in picked if i < len(f)]]
    assert chosen.min() == predicted.min() and chosen.max() == predicted.max()
    assert choose_spread(base, f, [], 6) == choose_spread(base, f, [], 6)  # all fixed when nothing varies
    assert all(i < len(f) for i in choose_spread(base, f, [], 6))


def test_choose_cover_reaches_every_corner_of_the_varied_configs(eager_to_ort):
    base, fixed, vary = eager_to_ort
    f = [(r.genotype, r.config) for r in fixed]
    v = [(r.genotype, r.config) for r in vary]
    picked = choose_cover(base, f, v, 50)
    assert len(set(picked)) == 50 and sum(i < len(f) for i in picked) == 15  # 30% fixed from N = 50
    assert sum(i < len(f) for i in choose_cover(base, f, v, 20)) == 10  # but up to half, at least 10
    ten, spread = choose_cover(base, f, v, 10), choose_spread(base, f, v, 10)
    assert [i for i in ten if i >= len(f)] == [i for i in spread if i >= len(f)]  # too few to cover the configs
    chosen = [v[i - len(f)][1] for i in picked if i >= len(f)]
    for field in ("C", "layers", "resolution", "batch"):  # each dimension's extremes are measured
        values = [getattr(c, field) for _, c in v]
        assert {min(values), max(values)} <= {getattr(c, field) for c in chosen}, field
    assert choose_cover(base, f, v, 50) == picked
    with pytest.raises(PredictorError, match="at least 2"):
        choose_cover(base, f, v, 1)


def test_choose_cover_spreads_the_fixed_config_over_pool_work(eager_to_ort):
    """The fixed-config samples span the pools' share of the work (both kinds), not only latency:
    from them the roofline prices a pool apart from a convolution."""
    base, fixed, vary = eager_to_ort
    f = [(r.genotype, r.config) for r in fixed]
    work = _work(fixed)
    pools = work[:, [TERMS.index("max_pool_macs"), TERMS.index("avg_pool_macs")]]
    share = pools / (work[:, TERMS.index("macs")] + pools.sum(1))[:, None]
    for n in (10, 50):
        cover = [i for i in choose_cover(base, f, [(r.genotype, r.config) for r in vary], n) if i < len(f)]
        spread = choose_spread(base, f, [], len(cover))  # over latency alone
        assert np.all(np.ptp(share[cover], axis=0) > 0.9 * np.ptp(share, axis=0)), n
        assert np.ptp(share[spread], axis=0).sum() < 0.8 * np.ptp(share, axis=0).sum(), n


def test_calibration_bad_input(eager_to_ort):
    base, fixed, vary = eager_to_ort
    with pytest.raises(PredictorError, match="at least 2"):
        calibrate_predictor(base, fixed[:1])
    with pytest.raises(PredictorError, match="at least 2"):
        choose_spread(base, [(r.genotype, r.config) for r in fixed], [], 1)
    with pytest.raises(PredictorError, match="cannot give"):
        choose_spread(base, [(fixed[0].genotype, fixed[0].config)], [], 3)
    with pytest.raises(PredictorError, match="no training records"):
        calibrate_predictor(base, [])
    with pytest.raises(PredictorError, match="learning rate"):
        CalibrationConfig(lr=float("nan"))


def test_transplant_rows_score_every_method_on_both_held_out_sets(eager_to_ort):
    from gnnlat.transplant import METHODS, TargetSplit, transplant_rows

    base, fixed, vary = eager_to_ort
    split = TargetSplit.of(fixed + vary, seed=0)
    assert not {r.key for r in split.pool_fixed + split.pool_vary} & {r.key for r in split.held_fixed + split.held_configs}
    assert not {r.config_key for r in split.pool_vary} & {r.config_key for r in split.held_configs}
    rows = transplant_rows(base, split, [6])
    assert [r["method"] for r in rows] == list(METHODS)
    by = {r["method"]: r for r in rows}
    assert by["calibrated"]["fixed"]["mape"] < by["base"]["fixed"]["mape"]
    assert by["calibrated"]["configs"]["mape"] < by["base"]["configs"]["mape"]


def _calibration_set(base_name: str, profile: str, n: int):
    """(base, the target's split, the n samples calibrate would measure) on a shipped profile."""
    from gnnlat.transplant import TargetSplit

    base = load_predictor(shipped_predictor(base_name))
    split = TargetSplit.of(load_records(ROOT / "profiles" / profile), seed=0)
    pick = choose_cover(base, [(r.genotype, r.config) for r in split.pool_fixed],
                        [(r.genotype, r.config) for r in split.pool_vary], n)
    return base, split, [(split.pool_fixed + split.pool_vary)[i] for i in pick]


def _work(records) -> np.ndarray:
    return work_of([r.genotype for r in records], [r.config for r in records])


def test_blend_leans_on_the_roofline_where_kernels_and_work_decide_latency():
    """The H200's CUDA-graph latencies follow kernel count and work: from ten samples the
    cross-validated blend gives the roofline most of the weight and ranks held-out networks better
    than the fine-tuned GNN alone (figures in docs/results.md)."""
    base, split, cal = _calibration_set("onnxruntime-reference", "triton-reference.db", 10)
    blended = calibrate_predictor(base, cal)
    tuned = calibrate_predictor(base, cal, CalibrationConfig(folds=0))
    blend = blended.meta["calibration"]["blend"]
    assert blend["beta"] > 0.5 and blend["folds"] == 5 and blend["cv_mape"]["blend"] <= blend["cv_mape"]["gnn"]
    assert tuned.meta["calibration"]["blend"] == {"beta": 0.0} and float(tuned.roofline.blend) == 0
    held = split.held_fixed[:200]

    def rho(p):
        return regression_metrics(p.predict([r.genotype for r in held], [r.config for r in held]),
                                  [r.latency_ms for r in held])["spearman_rho"]
    assert rho(blended) > rho(tuned) + 0.02, (rho(blended), rho(tuned))


def test_eager_pytorch_pools_are_priced_apart_from_ten_samples():
    """On eager PyTorch a 3x3 max pool costs about what a separable conv does, with a fifth of its
    work: from ten samples (five at the search config, spread over pool work) the roofline prices
    pools apart, which ranks held-out networks at the search config far better than one cost per
    unit of work (figures in docs/results.md)."""
    base, split, cal = _calibration_set("onnxruntime-reference", "cpu-reference.db", 10)
    held = split.held_fixed[:200]
    pools = [TERMS.index("max_pool_macs"), TERMS.index("avg_pool_macs")]

    def blind(records):  # a roofline that prices pool work as any other
        w = _work(records)
        w[:, TERMS.index("macs")] += w[:, pools].sum(1)
        w[:, pools] = 0
        return w
    y, truth = [r.latency_ms for r in cal], [r.latency_ms for r in held]
    apart, tied = fit_costs(_work(cal), y), fit_costs(blind(cal), y)
    cost = dict(zip(TERMS, apart))
    assert cost["max_pool_macs"] > 5 * cost["macs"]
    rho_apart = regression_metrics(roofline_ms(_work(held), apart), truth)["spearman_rho"]
    rho_tied = regression_metrics(roofline_ms(blind(held), tied), truth)["spearman_rho"]
    assert rho_apart > 0.95 and rho_apart > rho_tied + 0.2, (rho_apart, rho_tied)
    calibrated = calibrate_predictor(base, cal, CalibrationConfig(steps=150))
    assert calibrated.meta["calibration"]["blend"]["beta"] > 0
    assert float(calibrated.roofline.costs[2]) > 5 * float(calibrated.roofline.costs[1])


def test_too_few_samples_or_no_folds_blend_nothing(eager_to_ort):
    base, fixed, vary = eager_to_ort
    few = calibrate_predictor(base, fixed[:2] + vary[:2], CalibrationConfig(steps=5))
    assert few.meta["calibration"]["blend"] == {"beta": 0.0} and float(few.roofline.blend) == 0
    with pytest.raises(PredictorError, match="folds"):
        CalibrationConfig(folds=1)


def test_onnx_runtime_elements_off_whole_simd_blocks_pay_a_surcharge():
    """ONNX Runtime runs blocked kernels on whole blocks of 16 channels only: from the samples of a
    calibration, the roofline prices elements moved off the blocks several times higher, and so
    follows held-out widths far better than one cost per element (figures in docs/results.md)."""
    _, split, cal = _calibration_set("cpu-reference", "onnxruntime-reference.db", 50)
    held = split.held_configs[:300]
    y, truth = [r.latency_ms for r in cal], [r.latency_ms for r in held]
    blind = _work(cal)
    blind[:, TERMS.index("unblocked_elements")] = 0  # a roofline that cannot see the blocks
    surcharged, flat = fit_costs(_work(cal), y), fit_costs(blind, y)
    cost = dict(zip(TERMS, surcharged))
    assert cost["unblocked_elements"] > 2 * cost["elements"]
    mape_surcharged = regression_metrics(roofline_ms(_work(held), surcharged), truth)["mape"]
    mape_flat = regression_metrics(roofline_ms(_work(held), flat), truth)["mape"]
    assert mape_surcharged < 0.7 * mape_flat, (mape_surcharged, mape_flat)
