"""The Ray profiler's parts that need no Ray runtime: errors without Ray or with bad options, how a
node's cores are shared, the driver's plan (re-queued chunks, repeats), a timing worker run
in-process (triton through the host stand-in), and profiles holding several devices."""
import gc
import sys

import pytest

from gnnlat.network import NetworkConfig
from harness import timers
from harness.prepare import build_network
from harness.profile import ProfileConfig, anchor_job, architecture_stream, run_profile
from harness.ray_profile import RayOptions, _Plan
from harness.ray_worker import ProfileWorker, WorkerSetupError, WorkerSpec, worker_cores
from harness.rounds import ScheduleConfig
from harness.store import ProfileStore, arch_key
from harness.timers import CpuTimer, HostCuda, OnnxRuntimeTimer, TimerSettings
from tests.cli_helpers import assert_clean_failure, invoke, invoke_json

TINY = NetworkConfig(C=4, layers=3, resolution=8)
FAST = TimerSettings(rounds=2, round_ms=3.0, warmup_ms=1.0, max_retries=0)
QUICK = {"schedule": ScheduleConfig(window_s=0.01), "build_workers": 0, "config": TINY}


def _jobs(n: int, seed: int = 0) -> list[tuple[str, dict, str]]:
    stream = architecture_stream(ProfileConfig(n=n, out="x", seed=seed, config=TINY))
    return [(g.to_json(), c.to_dict(), "primary") for g, c in (next(stream) for _ in range(n))]


def test_without_ray_the_option_fails_in_one_line_with_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as where it is not installed
    for cmd in (["profile", "--n", "2", "--out", tmp_path / "p.db"], ["sweep", "--out", tmp_path / "s"]):
        assert_clean_failure(invoke(*cmd, "--ray"), "not installed", "pip install -e '.[ray]'")
    assert not (tmp_path / "p.db").exists()


def test_bad_ray_options_fail_in_one_line(tmp_path):
    db = tmp_path / "p.db"
    assert_clean_failure(invoke("profile", "--n", "2", "--out", db, "--ray", "local", "--workers-per-node", "0"),
                         "--workers-per-node must be at least 1")
    assert_clean_failure(invoke("profile", "--n", "2", "--out", db, "--ray", "local", "--metric", "memory"),
                         "--ray profiles latency")
    pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[ray]'")
    assert_clean_failure(invoke("profile", "--n", "2", "--out", db, "--ray", "not an address"), "bad --ray address")
    assert_clean_failure(invoke("profile", "--n", "2", "--out", db, "--ray", "127.0.0.1:1"), "no Ray cluster answers")
    with pytest.raises(ValueError, match="chunk"):
        RayOptions(chunk=0)


def test_timing_workers_share_a_node_in_equal_contiguous_core_sets():
    assert [worker_cores(i, 2, [0, 1, 2, 3], 1) for i in range(2)] == [[0, 1], [2, 3]]
    assert [worker_cores(i, 3, list(range(8)), 2) for i in range(3)] == [[0, 1], [2, 3], [4, 5]]
    with pytest.raises(WorkerSetupError, match="need 6 cores; this node has 4"):
        worker_cores(0, 3, [0, 1, 2, 3], 2)


def test_the_plan_requeues_a_lost_chunk_first_and_stops_at_n(tmp_path):
    cfg = ProfileConfig(n=5, out=str(tmp_path / "p.db"), config=TINY, repeat_frac=0.5, repeat_delay=1)
    plan = _Plan(cfg, "cpu")
    with ProfileStore(cfg.out) as store:
        plan.add_device(store, "dev")
    first = plan.chunk("dev", 3)
    assert [j[2] for j in first] == ["primary"] * 3 and len(plan.planned) == 3
    plan.lost(first, "dev")
    again = plan.chunk("dev", 2)
    assert again == first[:2] and plan.requeued_total == 3  # the lost ones first, in order
    assert [j[:2] for j in plan.chunk("dev", 10)] == [j[:2] for j in _jobs(5)[2:]]  # then on to n, no further
    assert plan.chunk("dev", 10) == []


def _spec(backend: str, **kw) -> WorkerSpec:
    return WorkerSpec(backend=backend, settings=FAST, schedule=ScheduleConfig(window_s=0.01),
                      anchor=anchor_job(TINY), build_workers=0, **kw)


def test_a_worker_times_in_process_on_its_cores_and_tags_samples_with_its_node():
    worker = ProfileWorker(_spec("cpu", node_workers=1))
    try:
        result = worker.time_jobs(_jobs(3))
    finally:
        worker.close()
    assert sorted(s.arch_key for s in result.samples) == sorted(arch_key(g, c) for g, c, _ in _jobs(3))
    assert all(s.extra["node_id"] == "local" and s.extra["anchor_ms"] > 0 for s in result.samples)
    assert result.stats.timed == 3 and result.stats.wall_s > 0 and worker.describe()["fingerprint"]["backend"] == "cpu"


def test_a_triton_worker_times_batches_through_the_cuda_seam(monkeypatch):
    monkeypatch.setattr(timers, "CUDA", HostCuda())
    worker = ProfileWorker(_spec("triton"))
    try:
        result = worker.time_jobs(_jobs(3))
    finally:
        worker.close()
    assert len(result.samples) == 3 and {s.backend for s in result.samples} == {"triton"}
    assert worker.fp["gpu"] == "host stand-in" and all(s.extra["node_id"] == "local" for s in result.samples)


def test_a_triton_worker_submits_each_batch_while_the_one_before_is_timed(monkeypatch):
    import harness.ray_worker as ray_worker
    from harness.prepare import NetworkBuilder

    monkeypatch.setattr(timers, "CUDA", HostCuda())
    monkeypatch.setattr(ray_worker, "default_batch_archs", lambda backend: 1)
    events = []
    submit, time_batch = NetworkBuilder.submit, ray_worker.time_batch
    monkeypatch.setattr(NetworkBuilder, "submit", lambda self, specs: events.append("submit") or submit(self, specs))

    def timed(*args, **kwargs):
        events.append("time")
        assert not gc.isenabled()  # the collector waits for the batch's end
        return time_batch(*args, **kwargs)

    monkeypatch.setattr(ray_worker, "time_batch", timed)
    worker = ProfileWorker(_spec("triton"))
    try:
        result = worker.time_jobs(_jobs(3))
    finally:
        worker.close()
    assert len(result.samples) == 3 and gc.isenabled()
    assert events == ["submit", "submit", "time", "submit", "time", "time"]


def test_onnxruntime_spinning_off_is_part_of_the_device():
    on, off = OnnxRuntimeTimer(threads=2), OnnxRuntimeTimer(threads=2, spinning=False)
    assert "spinning" not in on.fingerprint() and off.fingerprint()["spinning"] is False
    off.prepare(build_network(*anchor_job(TINY)))()  # a session with spinning off runs


def test_a_profile_of_two_devices_info_counts_each_and_training_must_pick_one(tmp_path):
    db = tmp_path / "two.db"
    run_profile(ProfileConfig(**QUICK, n=6, out=str(db), repeat_frac=0.0), CpuTimer(settings=FAST))
    with ProfileStore(db) as store:
        other = store.samples()[:4]
        for s in other:
            s.fingerprint = {**s.fingerprint, "device": "Other CPU", "cpu_model": "Other CPU"}
            s.id = None
        store.add(other)
    devices = invoke_json("info", db)["devices"]
    assert sorted(d["samples"] for d in devices) == [4, 6] and "Other CPU" in {d["device"] for d in devices}
    out = tmp_path / "m.pt"
    assert_clean_failure(invoke("train-predictor", "--profile", db, "--out", out, "--epochs", "2"),
                         "mix 2 devices", "--device")
    assert_clean_failure(invoke("train-predictor", "--profile", db, "--out", out, "--device", "nope"),
                         "matches 0 of the devices")
    other_id = next(d["fingerprint_id"] for d in devices if d["samples"] == 4)
    trained = invoke_json("train-predictor", "--profile", db, "--out", out, "--epochs", "2", "--val-frac", "0.25",
                          "--device", other_id[:6])
    assert trained["records"] == 4
