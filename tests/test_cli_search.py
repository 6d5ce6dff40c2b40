"""CLI tests for the predictor, search, retraining and sweep commands (tiny configs, real runs)."""
import json
import math

import pytest

from gnnlat.genotype import Genotype
from harness.store import ProfileStore
from tests.cli_helpers import FAST, ONE_PASS, TINY, assert_clean_failure, invoke, invoke_json
from tests.fake_cifar import write_cifar10

SMALL_NET = ["--epochs", "1", "--C", "4", "--layers", "3", "--batch-size", "32",
             "--deploy-C", "4", "--deploy-layers", "3", "--deploy-resolution", "8"]
SMALL_SEARCH = ["--dataset", "digits", *SMALL_NET]  # digits: the quickest data, where the data do not matter


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """A real profile of this machine (tiny networks, cpu backend) and a predictor trained on it."""
    d = tmp_path_factory.mktemp("local")
    db, model = d / "p.db", d / "p.pt"
    out = invoke_json("profile", "--n", "24", "--out", db, "--backend", "cpu", "--seed", "3", "--repeat-frac", "0",
                      "--C", "4", "--layers", "3", "--resolution", "8", *FAST, *ONE_PASS)
    assert out["samples"] == 24
    res = invoke_json("train-predictor", "--profile", db, "--out", model, "--epochs", "20", "--val-frac", "0.25")
    assert res["n_train"] + res["n_val"] == 24
    return db, model


def test_train_predictor_validate_predict(local, tmp_path, root):
    db, model = local
    report = invoke_json("validate", "--predictor", model, "--profile", db, "--max-mape", "100",
                         "--plot", tmp_path / "v.png")
    for part in ("gnn", "baseline"):
        assert set(report[part]) >= {"mape", "within_5", "within_10", "rmse_ms", "max_error", "kendall_tau",
                                     "spearman_rho"}
    assert 0 < report["n"] < 24 and "noise_floor" in report
    assert report["labels"] == "anchored"  # the profile anchors every batch; validate follows the predictor
    assert report["noise_floor"]["n"] == 0  # no architecture was timed twice
    as_min = invoke_json("validate", "--predictor", model, "--profile", db, "--max-mape", "100", "--labels", "min")
    assert as_min["labels"] == "min" and as_min["n"] == report["n"]
    assert (tmp_path / "v.png").stat().st_size > 1000
    strict = invoke("validate", "--predictor", model, "--profile", db, "--max-mape", "0.0000001")
    assert strict.exit_code == 1
    pred = invoke_json("predict", "--predictor", model, root / "gnnlat/shipped_data/examples" / "darts_v2.json", *TINY)
    assert pred["predicted_ms"] > 0


def test_learning_curve_cli(local):
    db, _ = local
    res = invoke_json("learning-curve", "--profile", db, "--sizes", "5,all", "--epochs", "5")
    assert res["labels"] == "anchored" and res["n_val"] == 5
    assert [r["n_train"] for r in res["rows"]] == [5, 19]
    for r in res["rows"]:
        assert r["n_val"] == res["n_val"]  # one held-out set for every training size
        for part in ("gnn", "baseline"):
            assert math.isfinite(r[part]["mape"]) and r[part]["within_5"] <= r[part]["within_10"]
    assert invoke_json("learning-curve", "--profile", db, "--sizes", "5", "--epochs", "5",
                       "--labels", "min")["labels"] == "min"
    assert_clean_failure(invoke("learning-curve", "--profile", db, "--fixed-only"), "no training records")


def test_predictor_bad_input(local, tmp_path):
    db, _ = local
    garbage = tmp_path / "g.pt"
    garbage.write_bytes(b"not a checkpoint")
    assert_clean_failure(invoke("predict", "--predictor", garbage, "gnnlat/shipped_data/examples/darts_v2.json"), "predictor")
    assert_clean_failure(invoke("predict", "--predictor", tmp_path / "none.pt", "gnnlat/shipped_data/examples/darts_v2.json"), "no such")
    assert_clean_failure(invoke("train-predictor", "--profile", tmp_path / "missing.db", "--out", tmp_path / "x.pt"),
                         "no such profile")
    empty = tmp_path / "empty.db"
    ProfileStore(empty).close()
    assert_clean_failure(invoke("train-predictor", "--profile", empty, "--out", tmp_path / "x.pt"), "no primary")
    plain = tmp_path / "plain.db"
    invoke_json("profile", "--n", "2", "--out", plain, "--backend", "cpu", "--no-anchor", *TINY, *FAST, *ONE_PASS)
    assert_clean_failure(invoke("train-predictor", "--profile", plain, "--out", tmp_path / "x.pt",
                                "--labels", "anchored"), "no anchored timing")


def test_search_json_end_to_end_and_resume(local, tmp_path):
    _, model = local
    out = tmp_path / "s"
    res = invoke_json("search", "--lam", "0.2", "--predictor", model, "--out", out, *SMALL_SEARCH)
    assert set(res) >= {"genotype", "predicted_ms", "measured_ms", "val_acc", "lam"}
    assert res["lam"] == 0.2
    assert json.loads((out / "genotype.json").read_text()) == res["genotype"]
    assert (out / "model.onnx").stat().st_size > 0  # the deployable network beside its genotype
    assert Genotype.from_darts(res["genotype_text"]) == Genotype.from_dict(res["genotype"])  # valid, both forms
    # predicted_ms is the predictor's latency of the recorded genotype at the deployment config ...
    predicted = invoke_json("predict", "--predictor", model, out / "genotype.json", *TINY)["predicted_ms"]
    assert res["predicted_ms"] == pytest.approx(predicted, rel=1e-4)
    # ... the reported error compares it with the measurement, and both are ms of the same network:
    # a predictor profiled on this machine at this config is within ±60 % here; 10x only catches a wrong
    # unit or config, never timing noise.
    assert res["relative_error"] == pytest.approx((res["predicted_ms"] - res["measured_ms"]) / res["measured_ms"])
    assert 0.1 < res["predicted_ms"] / res["measured_ms"] < 10
    # ... and at the predictor's speed (the ratio to the anchor timed with it, times the predictor's anchor).
    # That anchor was timed minutes earlier on a shared machine (2.5x apart once), so 10x as above.
    assert 0.1 < res["measured_anchored_ms"] / res["measured_ms"] < 10
    again = invoke_json("search", "--lam", "0.2", "--predictor", model, "--out", out, "--resume", *SMALL_SEARCH)
    assert again["genotype"] == res["genotype"]


def test_search_bad_input(local, tmp_path):
    _, model = local
    assert_clean_failure(invoke("search", "--dataset", "imagenet", "--predictor", model), "imagenet")
    assert_clean_failure(invoke("search", "--dataset", "cifar10", "--predictor", model, "--out", tmp_path / "o",
                                *SMALL_NET), "data")
    assert_clean_failure(invoke("search", "--dataset", "cifar10", "--data-dir", tmp_path / "nope",
                                "--predictor", model, *SMALL_NET), "cifar10 data directory does not exist")
    assert_clean_failure(invoke("search", "--resume", "--predictor", model, "--out", tmp_path / "fresh",
                                *SMALL_SEARCH), "checkpoint")
    assert_clean_failure(invoke("search", "--lam", "-1", "--predictor", model, "--out", tmp_path / "neg",
                                *SMALL_SEARCH), "lam")


def test_search_warns_for_a_predictor_of_another_device(local, tmp_path):
    db, _ = local
    other = tmp_path / "other.db"
    with ProfileStore(db, create=False) as src, ProfileStore(other) as dst:
        samples = src.samples()
        for s in samples:
            s.fingerprint = {**s.fingerprint, "device": "Some Other CPU", "cpu_model": "Some Other CPU"}
            s.id = None
        dst.add(samples)
    model = tmp_path / "other.pt"
    invoke_json("train-predictor", "--profile", other, "--out", model, "--epochs", "5")
    res = invoke("search", "--predictor", model, "--out", tmp_path / "s", *SMALL_SEARCH)
    assert res.exit_code == 0, res.output
    assert "warning" in res.stderr and "Some Other CPU" in res.stderr
    assert "python cli.py calibrate --predictor" in res.stderr  # and says how to adapt it
    out = invoke_json("search", "--predictor", model, "--out", tmp_path / "s2", *SMALL_SEARCH)
    assert out["device_match"] is False


def test_search_and_train_on_the_default_cluttered_task(local, tmp_path):
    _, model = local
    res = invoke_json("search", "--predictor", model, "--out", tmp_path / "s", *SMALL_NET)
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["config"]["dataset"] == "cluttered" and 0 <= res["val_acc"] <= 1
    # Reference and published cells are accepted by name, so anyone can retrain the baselines.
    trained = invoke_json("train", "all_skip", "--epochs", "1", "--C", "4", "--layers", "3", "--deploy-C", "4",
                          "--deploy-layers", "3", "--deploy-resolution", "8")
    assert 0 <= trained["test_acc"] <= 1 and trained["params_m"] > 0
    assert_clean_failure(invoke("train", "all_skipp", "--epochs", "1"), "all_skip", "pools_only")


def test_search_and_train_on_cifar10_format(local, tmp_path):
    _, model = local
    data = write_cifar10(tmp_path / "cifar-10-batches-py", per_batch=40)
    res = invoke_json("search", "--dataset", "cifar10", "--data-dir", tmp_path, "--predictor", model,
                      "--out", tmp_path / "s", *SMALL_NET)
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["config"]["dataset"] == "cifar10" and summary["val_acc"] == res["val_acc"]
    genotype = tmp_path / "s" / "genotype.json"
    assert json.loads(genotype.read_text()) == res["genotype"]
    trained = invoke_json("train", genotype, "--dataset", "cifar10", "--data-dir", data, "--epochs", "1",
                          "--C", "4", "--layers", "3", "--deploy-C", "4", "--deploy-layers", "3",
                          "--deploy-resolution", "8")
    assert set(trained) >= {"test_acc", "params_m", "measured_ms"}
    assert 0 <= trained["test_acc"] <= 1
    # The retrained network is the 3-channel cifar10 one (a digits network has a 1-channel stem).
    rgb, grey = (invoke_json("describe", genotype, "--C", "4", "--layers", "3", "--in-channels", str(c))["params_m"]
                 for c in (3, 1))
    assert trained["params_m"] == pytest.approx(rgb) and rgb != pytest.approx(grey)


def test_train_bad_input(tmp_path):
    assert_clean_failure(invoke("train", "{bad", "--epochs", "1"), "json")
    assert_clean_failure(invoke("train", "gnnlat/shipped_data/examples/darts_v2.json", "--dataset", "cifar10",
                                "--data-dir", tmp_path / "missing", "--epochs", "1"),
                         "cifar10 data directory does not exist")


def test_sweep_table_plot_and_resume(local, tmp_path):
    _, model = local
    args = ["sweep", "--lam", "0,0.2", "--seeds", "1", "--predictor", model, "--epochs", "1", "--train-epochs", "1",
            "--dataset", "digits", "--random-cells", "2",
            "--C", "4", "--layers", "3", "--out", tmp_path / "sw", "--deploy-C", "4", "--deploy-layers", "3", "--deploy-resolution", "8"]
    res = invoke_json(*args, "--plot", tmp_path / "p.png")
    assert [s["lam"] for s in res["summary"]] == [0.0, 0.2]
    # The baselines: the fixed cells and the best of 2 random cells matched to λ=0.2's predicted latency.
    assert [b["baseline"] for b in res["baseline_summary"]] == ["DARTS_V2", "all_skip", "pools_only", "random_matched"]
    screened = [b for b in res["baselines"] if b["baseline"].startswith("random")]
    assert len(screened) == 2 and all(b["measured_ms"] > 0 for b in res["baselines"])
    target = res["runs"][1]["predicted_ms"]
    assert all(abs(b["predicted_ms"] / target - 1) <= 0.05 for b in screened)
    assert (tmp_path / "p.png").stat().st_size > 1000
    again = invoke_json(*args)  # every cell finished: read back, not recomputed (but re-timed together)
    drop = lambda rows: [{k: v for k, v in r.items() if k != "measured_ms"} for r in rows]  # noqa: E731
    assert drop(again["runs"]) == drop(res["runs"]) and drop(again["baselines"]) == drop(res["baselines"])
    # The table is built from the latencies re-timed together (one seed per λ: the run's own value).
    assert [s["measured_ms"] for s in again["summary"]] == pytest.approx([r["measured_ms"] for r in again["runs"]])
    assert res["lat_ref"] == "cells" and res["lat_ref_ms"] == pytest.approx(res["runs"][1]["lat_ref_ms"])
    # λ > 0 runs searched with another LAT_ref are not silently reused.
    assert_clean_failure(invoke(*args, "--lat-ref", "uniform"), "LAT_ref")
    assert_clean_failure(invoke("sweep", "--lam", "a,b", "--predictor", model), "--lam")
