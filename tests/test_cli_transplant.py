"""CLI tests for moving to a new device: calibrate (real timings, tiny networks) and export."""
import random

import pytest
import torch

from gnnlat.checkpoint import load_predictor, matches_device
from gnnlat.export import export_difference, export_network
from gnnlat.genotype import random_genotype
from gnnlat.network import Network, NetworkConfig
from gnnlat.published import PUBLISHED
from harness.store import ProfileStore, fingerprint_id
from harness.timers import make_timer
from tests.cli_helpers import FAST, TINY, assert_clean_failure, invoke, invoke_json


def test_calibrate_end_to_end_and_resume(tmp_path):
    out, db = tmp_path / "c.pt", tmp_path / "c.db"
    args = ["calibrate", "--predictor", "cpu-reference", "--backend", "cpu", "--n", "4", "--out", out, *TINY, *FAST]
    report = invoke_json(*args)
    assert report["n"] == 4 and report["profile"] == str(db) and report["backend"] == "cpu"
    calibrated = load_predictor(out)
    assert calibrated.backend == "cpu" and calibrated.meta["calibration"]["n"] == 4
    assert matches_device(calibrated, fingerprint_id(make_timer("cpu").fingerprint()))
    with ProfileStore(db, create=False) as store:
        stored = store.count(kind="primary")
    assert stored == 4
    again = invoke_json(*args)  # resumes: the same four architectures, nothing timed twice
    with ProfileStore(db, create=False) as store:
        assert store.count(kind="primary") == stored
    assert again["n"] == 4
    predicted = invoke_json("predict", "--predictor", out, "darts_v2", *TINY)["predicted_ms"]
    assert predicted > 0
    res = invoke("validate", "--predictor", out, "--profile", db, "--all", "--no-speed-check")
    assert res.exit_code in (0, 1) and "samples (all)" in res.output


def test_calibrate_bad_input(tmp_path):
    out = tmp_path / "c.pt"
    assert_clean_failure(invoke("calibrate", "--n", "1", "--out", out, "--backend", "cpu"), "at least 2")
    assert_clean_failure(invoke("calibrate", "--backend", "tpu", "--out", out), "tpu")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a predictor")
    assert_clean_failure(invoke("calibrate", "--predictor", corrupt, "--out", out, "--backend", "cpu"), "corrupt")
    old = tmp_path / "old.pt"
    torch.save({"format": "gnnlat-predictor", "format_version": 1, "encoder_version": 1}, old)
    assert_clean_failure(invoke("calibrate", "--predictor", old, "--out", out, "--backend", "cpu"), "format 1")
    assert_clean_failure(invoke("calibrate", "--out", out, "--profile", out, "--backend", "cpu"), "different files")
    assert not out.exists()


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_matches_pytorch_on_published_and_random_cells(tmp_path, fmt):
    rng = random.Random(0)
    cells = [PUBLISHED["DARTS_V2"], PUBLISHED["NASNet"], random_genotype(rng), random_genotype(rng)]
    config = NetworkConfig(C=8, layers=5, resolution=16, batch=2)
    for i, genotype in enumerate(cells):
        network = Network(genotype, config)
        path = export_network(network, fmt, tmp_path / f"n{i}.{fmt}")
        assert export_difference(network, fmt, path) < 1e-4


def test_export_cli(tmp_path):
    out = tmp_path / "m.onnx"
    res = invoke_json("export", "darts_v1", "--out", out, *TINY)
    assert res["format"] == "onnx" and res["max_abs_diff"] < 1e-4 and out.stat().st_size > 0
    res = invoke_json("export", "darts_v2", "--format", "torchscript", "--out", tmp_path / "m.pt", *TINY)
    assert res["max_abs_diff"] < 1e-4
    assert_clean_failure(invoke("export", "no_such_cell", "--out", out), "no such genotype", "darts_v2")
    assert_clean_failure(invoke("export", "darts_v2", "--format", "tflite", "--out", out), "tflite")
    assert_clean_failure(invoke("export", "{\"normal\": 1}", "--out", out), "genotype")


def test_calibrate_refuses_a_memory_predictor(tmp_path):
    assert_clean_failure(invoke("calibrate", "--predictor", "memory-cpu-reference", "--out", tmp_path / "c.pt",
                                "--backend", "cpu"), "memory predictor")
