"""The GNN latency predictor: consistency, gradients, checkpoints, training, and (when the
reference profile is present) accuracy and monotonicity on real measurements."""
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from gnnlat.genotype import sample_genotypes
from gnnlat.network import SEARCH_CONFIG, NetworkConfig, cell_plan
from gnnlat.operations import PRIMITIVES
from gnnlat.checkpoint import FORMAT_VERSION, load_predictor, matches_device, save_predictor
from gnnlat.fit import PredictorConfig, train_predictor
from gnnlat.learning_curve import learning_curve
from gnnlat.predictor import LatencyPredictor, PredictorError
from gnnlat.record import Record, split_fixed_vary
from gnnlat.split import split_records
from workflows.records import load_records
from gnnlat.published import DARTS_V2
from gnnlat.supernet import Supernet, num_edges, one_hot_alpha

REFERENCE = Path(__file__).resolve().parents[1] / "profiles" / "onnxruntime-reference.db"
SMALL = NetworkConfig(C=8, layers=5, resolution=16, batch=2)
FAST = PredictorConfig(hidden=16, layers=1, epochs=30, batch_size=32, lr=1e-2, min_steps=0)
OP_COST = {"max_pool_3x3": 1.0, "avg_pool_3x3": 1.0, "skip_connect": 0.2, "sep_conv_3x3": 4.0,
           "sep_conv_5x5": 6.0, "dil_conv_3x3": 2.0, "dil_conv_5x5": 3.0}


def synthetic_latency(genotype, config) -> float:
    """A made-up but shape-aware cost: per-op cost × channels × pixels × batch, summed over cells."""
    total = 0.5
    for plan in cell_plan(config):
        pairs, _ = genotype.cell(plan.reduction)
        work = plan.channels * plan.resolution_in ** 2 * config.batch / (16 * 32 * 32)
        total += sum(OP_COST[op] for op, _ in pairs) * work * 0.05
    return total


def synthetic_records(n, seed=0, configs=(SEARCH_CONFIG,)):
    rng = random.Random(seed)
    out = []
    for g in sample_genotypes(seed, n):
        c = rng.choice(configs)
        out.append(Record(g, c, synthetic_latency(g, c), "onnxruntime", "fp-test", {"device": "test"}))
    return out


@pytest.fixture(scope="module")
def trained_synthetic():
    return train_predictor(synthetic_records(120, configs=(SEARCH_CONFIG, SMALL)), FAST)


def _one_hot_weights(genotype):
    return (torch.softmax(one_hot_alpha(genotype, False), -1),
            torch.softmax(one_hot_alpha(genotype, True), -1))


# ---- consistency and gradients ---------------------------------------------------------------


@pytest.mark.parametrize("config", [SEARCH_CONFIG, SMALL])
def test_one_hot_alpha_predicts_the_genotype(config):
    torch.manual_seed(0)
    predictor = LatencyPredictor(hidden=32, layers=2).eval()
    genotypes = sample_genotypes(5, 6) + [DARTS_V2]
    hard = predictor.predict(genotypes, config)
    with torch.no_grad():
        soft = [predictor.predict_weights(*_one_hot_weights(g), config).item() for g in genotypes]
    np.testing.assert_allclose(soft, hard, rtol=1e-5)
    # ... and different genotypes really get different predictions.
    assert np.ptp(hard) > 0


def test_batched_prediction_matches_single(trained_synthetic):
    predictor, _ = trained_synthetic
    genotypes = sample_genotypes(9, 5)
    configs = [SEARCH_CONFIG, SMALL, SMALL, SEARCH_CONFIG, NetworkConfig(C=12, layers=6)]
    batched = predictor.predict(genotypes, configs)
    single = [predictor.predict([g], c)[0] for g, c in zip(genotypes, configs)]
    np.testing.assert_allclose(batched, single, rtol=1e-5)
    assert np.all(batched > 0)


def test_gradient_wrt_alpha_through_supernet(trained_synthetic):
    predictor, _ = trained_synthetic
    torch.manual_seed(0)
    supernet = Supernet(NetworkConfig(C=4, layers=3, resolution=8), alpha_init_std=1.0)
    latency = predictor.latency_fn(SEARCH_CONFIG)(*supernet.edge_weights())
    assert latency.dim() == 0 and latency.item() > 0
    latency.backward()
    for alpha in supernet.arch_parameters():
        assert alpha.grad is not None
        assert torch.isfinite(alpha.grad).all()
        assert alpha.grad.abs().max() > 0


def test_predict_rejects_mismatched_inputs(trained_synthetic):
    predictor, _ = trained_synthetic
    with pytest.raises(PredictorError, match="configs"):
        predictor.predict(sample_genotypes(0, 3), [SEARCH_CONFIG])


# ---- checkpoints ------------------------------------------------------------------------------


def test_checkpoint_round_trip(trained_synthetic, tmp_path):
    predictor, metrics = trained_synthetic
    path = tmp_path / "p.pt"
    save_predictor(predictor, path)
    loaded = load_predictor(path)
    assert matches_device(loaded, "fp-test")
    genotypes = sample_genotypes(2, 8)
    np.testing.assert_allclose(loaded.predict(genotypes, SMALL), predictor.predict(genotypes, SMALL), rtol=1e-6)
    assert loaded.backend == "onnxruntime" and loaded.labels == "min"
    assert loaded.fingerprints == {"fp-test": {"device": "test"}}
    assert loaded.meta["metrics"]["n_train"] == metrics["n_train"]
    assert PredictorConfig.from_dict(loaded.meta["train_config"]) == FAST
    np.testing.assert_allclose(loaded.baseline.predict(genotypes, [SMALL] * 8),
                               predictor.baseline.predict(genotypes, [SMALL] * 8))


def test_checkpoint_device_match_is_by_fingerprint(trained_synthetic, tmp_path):
    predictor, _ = trained_synthetic
    save_predictor(predictor, tmp_path / "p.pt")
    assert not matches_device(load_predictor(tmp_path / "p.pt"), "another-device")


def test_checkpoint_rejects_other_version(trained_synthetic, tmp_path):
    predictor, _ = trained_synthetic
    path = tmp_path / "p.pt"
    save_predictor(predictor, path)
    ckpt = torch.load(path, weights_only=True)
    ckpt["format_version"] = FORMAT_VERSION + 1
    torch.save(ckpt, path)
    with pytest.raises(PredictorError, match="format"):
        load_predictor(path)


def test_checkpoint_reads_format_3_without_a_roofline(trained_synthetic, tmp_path):
    """Files from before the roofline blend (the shipped predictors among them) load with β = 0;
    a blend saved in the current format comes back."""
    predictor, _ = trained_synthetic
    path = tmp_path / "p.pt"
    save_predictor(predictor, path)
    ckpt = torch.load(path, weights_only=True)
    ckpt["format_version"] = 3
    ckpt["state_dict"] = {k: v for k, v in ckpt["state_dict"].items() if not k.startswith("roofline.")}
    torch.save(ckpt, path)
    old = load_predictor(path)
    assert float(old.roofline.blend) == 0
    old.roofline.set(np.array([1e-2, 0.0, 3e-8, 1e-8, 1e-7, 2e-7, 0.5]), 0.4)
    save_predictor(old, path)
    again = load_predictor(path)
    assert float(again.roofline.blend) == pytest.approx(0.4) and float(again.roofline.costs[6]) == 0.5


@pytest.mark.parametrize("version, old_costs", [
    (4, [1e-3, 2e-8, 1e-7, 0.05]), (5, [1e-3, 2e-8, 2e-8, 2e-8, 1e-7, 0.05])])
def test_checkpoint_reads_an_older_roofline_as_the_same_predictions(trained_synthetic, tmp_path, version, old_costs):
    """Format 4 had one cost per unit of work; it becomes the cost of every group (pools and the
    rest). Neither 4 nor 5 had the unblocked surcharge; it is 0. So a calibrated file from before
    predicts what it did. A malformed roofline is refused."""
    predictor, _ = trained_synthetic
    predictor.roofline.set(np.array([1e-3, 2e-8, 2e-8, 2e-8, 1e-7, 0.0, 0.05]), 0.5)
    path = tmp_path / "p.pt"
    save_predictor(predictor, path)
    ckpt = torch.load(path, weights_only=True)
    ckpt["format_version"] = version
    ckpt["state_dict"]["roofline.costs"] = torch.tensor(old_costs, dtype=torch.float64)
    torch.save(ckpt, path)
    genotypes = sample_genotypes(3, 4)
    np.testing.assert_allclose(load_predictor(path).predict(genotypes, [SMALL] * 4),
                               predictor.predict(genotypes, [SMALL] * 4), rtol=1e-6)
    ckpt["state_dict"]["roofline.costs"] = torch.zeros(7, dtype=torch.float64)
    torch.save(ckpt, path)
    with pytest.raises(PredictorError, match=f"corrupt.*{len(old_costs)} costs"):
        load_predictor(path)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_checkpoint_rejects_garbage(tmp_path, content):
    path = tmp_path / "garbage.pt"
    path.write_bytes(content)
    with pytest.raises(PredictorError, match="not a gnnlat predictor"):
        load_predictor(path)


def test_checkpoint_rejects_foreign_torch_file_and_missing_file(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(PredictorError, match="not a gnnlat predictor"):
        load_predictor(tmp_path / "other.pt")
    with pytest.raises(PredictorError, match="no such predictor"):
        load_predictor(tmp_path / "missing.pt")


def test_checkpoint_rejects_damaged_weights(trained_synthetic, tmp_path):
    predictor, _ = trained_synthetic
    path = tmp_path / "p.pt"
    save_predictor(predictor, path)
    ckpt = torch.load(path, weights_only=True)
    ckpt["state_dict"].pop(next(iter(ckpt["state_dict"])))
    torch.save(ckpt, path)
    with pytest.raises(PredictorError, match="corrupt"):
        load_predictor(path)


# ---- splits and training -----------------------------------------------------------------------


def test_split_keeps_architectures_and_configs_on_one_side():
    records = synthetic_records(60, configs=(SEARCH_CONFIG, SMALL, NetworkConfig(C=12, layers=6)))
    records += records[:10]  # the same architectures measured again (e.g. another fingerprint)
    train, val = split_records(records, 0.25, seed=0)
    assert not {records[i].key for i in train} & {records[i].key for i in val}
    assert sorted(train + val) == list(range(len(records)))
    assert split_records(records, 0.25, seed=0) == (train, val)
    train, val = split_records(records, 0.34, seed=1, by="config")
    assert not {records[i].config for i in train} & {records[i].config for i in val}
    assert val and train


def test_training_learns_a_synthetic_target(trained_synthetic):
    _, metrics = trained_synthetic
    assert metrics["n_train"] + metrics["n_val"] == 120
    assert set(metrics["val"]) == {"gnn", "baseline"}
    # The target spans 1-8 ms over two configs; a constant predictor is off by ~60 %.
    assert metrics["val"]["gnn"]["mape"] < 0.2


def test_training_rejects_bad_records():
    with pytest.raises(PredictorError, match="no training records"):
        train_predictor([], FAST)
    mixed = synthetic_records(4)
    mixed[0] = Record(mixed[0].genotype, mixed[0].config, 1.0, "cpu", "fp-test")
    with pytest.raises(PredictorError, match="backends"):
        train_predictor(mixed, FAST)
    mixed = synthetic_records(4)
    r = mixed[0]
    mixed[0] = Record(r.genotype, r.config, r.latency_ms, r.backend, r.fingerprint_id, label="anchored")
    with pytest.raises(PredictorError, match="latency labels"):
        train_predictor(mixed, FAST)
    with pytest.raises(PredictorError, match="val_frac"):
        PredictorConfig(val_frac=1.0)


def test_learning_curve_rows():
    records = synthetic_records(50)
    rows = learning_curve(records, [10, 1000, 10 ** 9], PredictorConfig(hidden=8, layers=0, epochs=2, min_steps=0))
    assert [r["size"] for r in rows] == [10, 1000]
    assert rows[0]["n_train"] == 10 and rows[1]["n_train"] == 40  # clamped to the training pool, once
    assert rows[0]["n_val"] == rows[1]["n_val"] == 10
    assert all(np.isfinite(r["gnn"]["mape"]) for r in rows)
    # The synthetic target is a sum of per-op costs, i.e. linear in the baseline's op-count features:
    # 40 architectures pin it down exactly; 10 (fewer than its free coefficients) cannot.
    assert rows[1]["baseline"]["mape"] < 1e-9
    assert rows[0]["baseline"]["mape"] > 1e-2


# ---- the shipped reference profile -------------------------------------------------------------

REFERENCE_CFG = PredictorConfig(hidden=32, layers=1, epochs=60, batch_size=64, lr=5e-3, val_frac=0.25,
                                min_steps=0)
# On the reference backend a stride-2 skip_connect (FactorizedReduce: two 1x1 convs, a slice, a
# concat and a BN) costs the same as a stride-2 sep_conv_5x5 on 16x16 inputs: a least-squares fit of
# the profile puts the difference at 0.6 ± 0.45 µs per reduce cell (0.05 % of the network). So on
# reduce-cell input edges "never lower" can only hold to within the model's accuracy on such
# near-ties: the check allows 0.5 % (half the CI model's validation MAPE, below the profile's
# median repeat noise of ~0.8 %) and demands a strict increase on normal-cell edges, where
# sep_conv_5x5 costs ~23 µs more than the identity per cell.
MONOTONE_TOL = 5e-3


@pytest.fixture(scope="module")
def reference_predictor():
    if not REFERENCE.is_file():
        pytest.skip(f"reference profile {REFERENCE} is absent (create it with the profile command)")
    fixed, _ = split_fixed_vary(load_records(REFERENCE, backend="onnxruntime"))
    if len(fixed) < 400:
        pytest.skip(f"reference profile holds only {len(fixed)} fixed-config samples (need 400)")
    return train_predictor(fixed[:400], REFERENCE_CFG)


@pytest.mark.slow
def test_reference_profile_training_reaches_10_percent(reference_predictor):
    _, metrics = reference_predictor
    assert metrics["n_val"] == 100
    assert metrics["val"]["gnn"]["mape"] < 0.10


@pytest.mark.slow
def test_moving_weight_to_sep_conv_5x5_never_lowers_latency(reference_predictor):
    predictor, _ = reference_predictor
    skip, sep5 = PRIMITIVES.index("skip_connect"), PRIMITIVES.index("sep_conv_5x5")
    torch.manual_seed(0)
    rows = num_edges(4)
    bases = [torch.full((rows, len(PRIMITIVES)), 1 / len(PRIMITIVES)),
             torch.softmax(torch.randn(rows, len(PRIMITIVES)), -1),
             *_one_hot_weights(DARTS_V2)]
    with torch.no_grad():
        for base in bases:
            for reduce_cell in (False, True):
                for edge in range(rows):
                    moved = base.clone()
                    moved[edge, sep5] += moved[edge, skip]
                    moved[edge, skip] = 0
                    pair = lambda w: (base, w) if reduce_cell else (w, base)  # noqa: E731
                    before = predictor.predict_weights(*pair(base), SEARCH_CONFIG)
                    after = predictor.predict_weights(*pair(moved), SEARCH_CONFIG)
                    assert after >= before * (1 - MONOTONE_TOL), (reduce_cell, edge)
                    if not reduce_cell and base[edge, skip] > 0.05:
                        assert after > before, edge


# ---- profile records ----------------------------------------------------------------------------


def _store_sample(genotype, config, latency, kind="primary", backend="onnxruntime"):
    from harness.store import Sample

    return Sample(genotype_json=genotype.to_json(), config=config.to_dict(), backend=backend,
                  latency_ms=latency, median_ms=latency, p90_ms=latency, cv=0.01, rounds=3, reps=5,
                  round_spread=0.01, noisy=False, fingerprint={"device": "test-cpu"}, kind=kind)


def test_load_records_reads_primaries_only(tmp_path):
    from harness.store import ProfileStore

    path = tmp_path / "p.db"
    genotypes = sample_genotypes(4, 3)
    with ProfileStore(path) as store:
        store.add([_store_sample(g, SEARCH_CONFIG, 1.0 + i) for i, g in enumerate(genotypes)]
                  + [_store_sample(genotypes[0], SEARCH_CONFIG, 9.0, kind="repeat"),
                     _store_sample(genotypes[1], SMALL, 0.5, backend="cpu")])
    records = load_records(path, backend="onnxruntime")
    assert [r.latency_ms for r in records] == [1.0, 2.0, 3.0]
    assert [r.genotype for r in records] == genotypes
    assert all(r.config == SEARCH_CONFIG and r.fingerprint == {"device": "test-cpu"} for r in records)
    fixed, vary = split_fixed_vary(load_records(path))
    assert len(fixed) == 3 and [r.config for r in vary] == [SMALL]


def test_load_records_errors(tmp_path):
    from workflows.records import ProfileError
    from harness.store import ProfileStore

    with pytest.raises(ProfileError, match="no such profile"):
        load_records(tmp_path / "missing.db")
    (tmp_path / "junk.db").write_bytes(b"junk" * 100)
    with pytest.raises(ProfileError, match="not a gnnlat profile"):
        load_records(tmp_path / "junk.db")
    ProfileStore(tmp_path / "empty.db").close()
    with pytest.raises(ProfileError, match="no primary samples"):
        load_records(tmp_path / "empty.db", backend="cpu")


def test_threads_come_from_the_training_devices():
    from gnnlat.predictor import LatencyPredictor

    two = {"a": {"threads": 2}, "b": {"threads": 2}}
    assert LatencyPredictor(meta={"fingerprints": two}).threads == 2
    assert LatencyPredictor(meta={"fingerprints": {**two, "c": {"threads": 1}}}).threads == 1  # mixed
    assert LatencyPredictor().threads == 1
