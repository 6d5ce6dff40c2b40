import signal
import sqlite3
import time

import pytest

from harness.store import ProfileStore
from tests.cli_helpers import FAST, ONE_PASS, TINY, assert_clean_failure, invoke, invoke_json, spawn


def _count(path, kind="primary"):
    try:
        with ProfileStore(path, create=False) as s:
            return s.count(kind=kind)
    except Exception:
        return 0


def test_measure_json_keys(root):
    out = invoke_json("measure", root / "gnnlat/shipped_data/examples" / "darts_v2.json", "--backend", "onnxruntime", *TINY, *FAST)
    for key in ("latency_ms", "median_ms", "p90_ms", "cv", "backend"):
        assert key in out
    assert out["backend"] == "onnxruntime" and 0 < out["latency_ms"] <= out["median_ms"]
    # Timed with the anchor until windows seconds apart agreed; the JSON says how well.
    assert set(out["agreement"]) >= {"agreed", "spread", "windows", "window_minima"}
    assert out["agreement"]["windows"] >= 5 and out["span_s"] >= 4.0 and out["anchor_ms"] > 0
    # ... and at the shipped predictor's speed: the agreed ratio to the anchor times its reference.
    assert out["anchored_ms"] == pytest.approx(out["agreement"]["anchor_ratio"] * out["anchor_reference_ms"])
    assert out["anchor_reference"] == "predicted anchor"  # a tiny config: no profile anchor there
    # Peak memory from the eager PyTorch allocator (ONNX Runtime keeps no account); energy only from
    # a counter, else null with the reason (this machine has no powercap).
    assert out["peak_memory_mb"] > out["weights_mb"] > 0 and out["memory_backend"] == "cpu"
    if out["energy_mj"] is None:
        assert "not measurable here" in out["energy_unavailable"]
    else:
        assert out["energy_mj"] > 0 and out["energy_unavailable"] is None


def test_profile_then_info(tmp_path):
    db = tmp_path / "p.db"
    out = invoke_json("profile", "--n", "3", "--out", db, "--backend", "cpu", *TINY, *FAST, *ONE_PASS)
    assert out["samples"] == 3
    assert set(out["live_noise_floor"]) == {"n", "median", "p90"} and "noise_warning" in out
    info = invoke_json("info", db)
    assert info["samples"] == 3 and info["unique_architectures"] == 3
    assert set(info["noise_floor"]) >= {"n", "median", "p90"}
    text = invoke("info", db)
    assert text.exit_code == 0 and "noise floor" in text.output


def test_profile_bad_input(tmp_path):
    assert_clean_failure(invoke("profile", "--n", "0", "--out", tmp_path / "x.db", "--backend", "cpu"), "n must be at least 1")
    notdb = tmp_path / "notes.txt"
    notdb.write_text("my precious notes\n" * 100)
    assert_clean_failure(invoke("profile", "--n", "1", "--out", notdb, "--backend", "cpu", *TINY, *FAST),
                         "not a gnnlat profile")
    assert notdb.read_text() == "my precious notes\n" * 100  # nothing lost
    assert_clean_failure(invoke("profile", "--n", "1", "--out", tmp_path / "x.db", "--backend", "gpu"),
                         "invalid value for '--backend': 'gpu' is not one of")
    assert_clean_failure(invoke("profile", "--n", "1", "--out", tmp_path / "x.db", "--backend", "cpu",
                                "--rounds", "1"), "rounds")


def test_info_bad_input(tmp_path):
    assert_clean_failure(invoke("info", tmp_path / "missing.db"), "no such profile")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(bytes(range(256)) * 64)
    assert_clean_failure(invoke("info", garbage), "not a gnnlat profile")
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("create table t(x)")
    con.commit()
    con.close()
    assert_clean_failure(invoke("info", other), "not a gnnlat profile")


def test_measure_bad_input(root):
    assert_clean_failure(invoke("measure", "{not json", "--backend", "cpu"), "json")
    example = root / "gnnlat/shipped_data/examples" / "darts_v2.json"
    assert_clean_failure(invoke("measure", example, "--backend", "cpu", "--C", "-2"), "C")
    # a predictor that is not there is refused before anything is timed
    assert_clean_failure(invoke("measure", example, "--backend", "cpu", "--predictor", root / "no-such.pt"),
                         "no such predictor file")


def test_profile_survives_kill_9_and_resumes_without_duplicates(tmp_path):
    db = tmp_path / "k.db"
    args = ["profile", "--n", "40", "--out", db, "--backend", "cpu", "--repeat-frac", "0", *TINY, *FAST, *ONE_PASS]
    proc = spawn(*args)
    deadline = time.time() + 120
    while _count(db) < 8 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = _count(db)
    assert 8 <= killed_at < 40
    # Each network is its own transaction: what was stored is whole, what was in flight is lost.
    resumed = invoke_json("profile", "--n", str(max(12, killed_at + 4)), "--out", db,
                          "--backend", "cpu", "--repeat-frac", "0", *TINY, *FAST, *ONE_PASS)
    with ProfileStore(db, create=False) as s:
        keys = [x.arch_key for x in s.samples()]
    assert len(keys) == len(set(keys)) == resumed["samples"] == max(12, killed_at + 4)


def test_time_limit_stops_between_batches_and_the_run_resumes(tmp_path):
    db = tmp_path / "t.db"
    args = ["--out", db, "--backend", "cpu", "--repeat-frac", "0", *TINY, *FAST, *ONE_PASS]
    first = invoke_json("profile", "--n", "40", "--time-limit", "0.001", *args)
    # One network at least, then no new one starts; those in flight finish (up to the slots).
    assert first["time_limit_reached"] and 1 <= first["samples"] <= 9
    assert set(first["time_per_arch_ms"]) >= {"build", "warmup", "timed", "store", "total"}
    done = invoke_json("profile", "--n", "8", *args)
    assert not done["time_limit_reached"] and done["samples"] == 8
    again = invoke_json("retime", "--profile", db, "--time-limit", "0.001", "--backend", "cpu", *TINY, *FAST,
                        *ONE_PASS)
    assert again["time_limit_reached"] and again["retimed"] == again["repeats"] >= 1
    assert_clean_failure(invoke("profile", "--n", "8", "--time-limit", "-1", *args), "time limit must be a positive")
    assert_clean_failure(invoke("profile", "--n", "8", "--workers", "-1", *args), "build_workers must be >= 0")
    assert invoke_json("info", db)["samples"] == 8  # refused runs lose nothing


def test_two_profilers_write_the_same_file(tmp_path):
    db = tmp_path / "c.db"
    common = ["--n", "10", "--out", db, "--backend", "cpu", "--repeat-frac", "0", *TINY, *FAST, *ONE_PASS]
    procs = [spawn("profile", "--seed", str(seed), *common) for seed in (1, 2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    with ProfileStore(db, create=False) as s:
        keys = [x.arch_key for x in s.samples()]
    assert len(keys) == len(set(keys)) >= 10


def test_retime_cli_resumes_and_fails_cleanly(tmp_path):
    db = tmp_path / "r.db"
    invoke_json("profile", "--n", "4", "--out", db, "--backend", "cpu", "--repeat-frac", "0", *TINY, *FAST,
                *ONE_PASS)
    first = invoke_json("retime", "--profile", db, "--backend", "cpu", *TINY, *FAST, *ONE_PASS)
    assert first["retimed"] == 4 and first["repeats"] == 4 and first["noise_floor"]["n"] == 4
    assert first["anchored_noise_floor"]["n"] == 4
    assert invoke_json("retime", "--profile", db, "--backend", "cpu", *TINY, *FAST, *ONE_PASS)["retimed"] == 0
    assert invoke_json("info", db)["anchored_noise_floor"]["n"] == 4  # both timings of each had an anchor
    assert_clean_failure(invoke("retime", "--profile", tmp_path / "missing.db", "--backend", "cpu"), "missing.db")
    assert_clean_failure(invoke("retime", "--profile", db, "--backend", "cpu", "--times", "0"), "times must be at least 1")
    assert_clean_failure(invoke("retime", "--profile", db, "--backend", "cpu", "--threads", "2"), "no primaries")
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 10)
    assert_clean_failure(invoke("retime", "--profile", tmp_path / "junk.db", "--backend", "cpu"),
                         "junk.db is not a gnnlat profile")


def test_visits_take_a_count_or_auto_and_refuse_anything_else(tmp_path):
    db = tmp_path / "v.db"
    for bad in ("0", "-2", "many", "1.5"):
        assert_clean_failure(invoke("profile", "--n", "1", "--out", db, "--backend", "cpu", "--visits", bad),
                             "--visits", "'auto'")
    assert_clean_failure(invoke("profile", "--n", "1", "--out", db, "--visits", "2", "--ray", "local"),
                         "--ray times each network in one pass")
    assert not db.exists()  # refused before anything was written
