"""CLI tests for peak memory: profile --metric memory, info, train-predictor/validate/predict with
--metric memory, and a search with two cost terms (tiny configs, real runs)."""
import pytest

from tests.cli_helpers import assert_clean_failure, invoke, invoke_json

TINY = ["--C", "4", "--layers", "3", "--resolution", "8"]
SMALL_SEARCH = ["--dataset", "digits", "--epochs", "1", "--C", "4", "--layers", "3", "--batch-size", "32",
                "--deploy-C", "4", "--deploy-layers", "3", "--deploy-resolution", "8", "--no-speed-check"]


@pytest.fixture(scope="module")
def memory(tmp_path_factory):
    d = tmp_path_factory.mktemp("memory")
    db, model = d / "m.db", d / "m.pt"
    out = invoke_json("profile", "--metric", "memory", "--n", "30", "--out", db, "--backend", "cpu", *TINY)
    assert out["metrics"]["memory"]["samples"] == 30 and out["measured"] == 30
    res = invoke_json("train-predictor", "--profile", db, "--metric", "memory", "--out", model, "--epochs", "10",
                      "--val-frac", "0.25")
    assert res["metric"] == "memory" and res["unit"] == "MB" and res["n_train"] + res["n_val"] == 30
    return db, model


def test_info_and_validate_speak_megabytes(memory, root):
    db, model = memory
    info = invoke_json("info", db)
    assert info["schema_version"] == 2 and info["samples"] == 0 and info["metrics"]["memory"]["samples"] == 30
    report = invoke_json("validate", "--predictor", model, "--profile", db, "--max-mape", "100")
    assert report["metric"] == "memory" and report["unit"] == "MB" and set(report) >= {"gnn", "baseline"}
    assert report["gnn"]["mape"] < 1 and report["speed"] is None
    pred = invoke_json("predict", "--predictor", model, root / "gnnlat/shipped_data/examples/darts_v2.json", *TINY)
    assert pred["metric"] == "memory" and pred["unit"] == "MB" and pred["predicted_mb"] == pred["predicted"] > 0


def test_memory_profile_of_onnxruntime_is_a_clean_error(tmp_path):
    assert_clean_failure(invoke("profile", "--metric", "memory", "--n", "1", "--out", tmp_path / "x.db",
                                "--backend", "onnxruntime", *TINY), "ONNX Runtime")


def test_search_with_two_cost_terms_reports_each(memory, tmp_path):
    _, model = memory
    out = invoke_json("search", "--lam", "0.1", "--lam-memory", "0.1", "--memory-predictor", model,
                      "--backend", "cpu", "--out", tmp_path / "s", *SMALL_SEARCH)
    names = [c["name"] for c in out["costs"]]
    assert names == ["latency", "memory"]
    for c in out["costs"]:
        assert c["predicted"] > 0 and c["measured"] > 0 and c["ref"] > 0
    assert out["costs"][1]["unit"] == "MB" and out["costs"][1]["lam"] == 0.1


def test_memory_term_refuses_a_latency_predictor(tmp_path):
    assert_clean_failure(invoke("search", "--lam-memory", "0.1", "--memory-predictor", "cpu-reference",
                                "--out", tmp_path / "s", *SMALL_SEARCH), "not memory")
