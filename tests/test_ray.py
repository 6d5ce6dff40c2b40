"""Profiling and sweeping on a real local Ray runtime (one per module, 2 CPUs): the same
architectures as a local run, a killed worker's chunk re-queued, a killed driver resumed, sweep
cells identical to the local ones. Skipped only where Ray is not installed."""
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from gnnlat.network import NetworkConfig
from gnnlat.search_config import SearchConfig
from gnnlat.shipped import predictor_path
from gnnlat.train import TrainConfig
from harness.profile import ProfileConfig, run_profile
from harness.ray_profile import RayOptions, run_ray_profile
from harness.rounds import ScheduleConfig
from harness.store import ProfileStore, ProfileStoreError, fingerprint_id
from harness.timers import CpuTimer, TimerSettings

ROOT = Path(__file__).resolve().parents[1]
TINY = NetworkConfig(C=4, layers=3, resolution=8)
FAST = TimerSettings(rounds=2, round_ms=3.0, warmup_ms=1.0, max_retries=0)
QUICK = {"schedule": ScheduleConfig(window_s=0.01), "build_workers": 0, "config": TINY}


@pytest.fixture(scope="module")
def ray():
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def _keys(path) -> list[str]:
    with ProfileStore(path, create=False) as s:
        return [x.arch_key for x in s.samples()]


def _stored_so_far(path) -> int:
    """Samples in a profile another process is writing; 0 until its schema exists (an empty file first)."""
    try:
        return len(_keys(path))
    except ProfileStoreError:
        return 0


def _local_keys(tmp_path, n: int, seed: int = 0) -> list[str]:
    out = tmp_path / f"local-{n}-{seed}.db"
    run_profile(ProfileConfig(**QUICK, n=n, out=str(out), seed=seed, repeat_frac=0.0), CpuTimer(settings=FAST))
    return sorted(_keys(out))


def _profile(out, n: int, seed: int = 0, progress=None, **opts) -> dict:
    cfg = ProfileConfig(**QUICK, n=n, out=str(out), seed=seed, repeat_frac=0.25, repeat_delay=2)
    return run_ray_profile(cfg, "cpu", 1, FAST, RayOptions(**{"chunk": 4, **opts}), progress)


def test_two_workers_profile_the_same_architectures_as_a_local_run(ray, tmp_path):
    out = tmp_path / "ray.db"
    seen = []
    summary = _profile(out, 10, workers_per_node=2, progress=seen.append)
    keys = _keys(out)
    assert summary["samples"] == len(keys) == len(set(keys)) == 10 and summary["repeats"] >= 1
    assert sorted(keys) == _local_keys(tmp_path, 10)
    workers = summary["workers"]
    a, b = (set(w["cores"]) for w in workers)
    assert a and b and not a & b and a | b <= os.sched_getaffinity(0)  # each pinned to cores of its own
    assert seen[-1].done == 10 and max(p.workers for p in seen) == 2
    with ProfileStore(out, create=False) as s:
        samples = s.samples(kind=None)
    node = ray.get_runtime_context().get_node_id()
    assert {x.extra["node_id"] for x in samples} == {node} and {x.extra["node_timers"] for x in samples} == {2}
    # Each sample keeps its node's device (the same machine as a local run here; the node id is in extra).
    assert {x.fingerprint_id for x in samples} == {fingerprint_id(CpuTimer().fingerprint())}
    # The same command again: nothing left to time.
    again = _profile(out, 10, workers_per_node=2)
    assert _keys(out) == keys and again["samples"] == 10


def test_a_killed_worker_has_its_chunk_requeued(ray, tmp_path):
    out = tmp_path / "killed.db"
    killed = []

    def kill_once(p) -> None:
        if p.done >= 4 and not killed:  # the worker's next chunk is in flight now
            name = next(n for n in ray.util.list_named_actors() if n.startswith("gnnlat-timer-"))
            ray.kill(ray.get_actor(name))
            killed.append(name)

    summary = _profile(out, 12, seed=1, progress=kill_once)
    keys = _keys(out)
    assert killed and summary["requeued"] >= 1 and summary["replaced"] == 1
    assert len(keys) == len(set(keys)) == summary["samples"] == 12
    assert sorted(keys) == _local_keys(tmp_path, 12, seed=1)


DRIVER = """
import sys
sys.path.insert(0, {root!r})
from harness.profile import ProfileConfig
from harness.ray_profile import RayOptions, run_ray_profile
from harness.rounds import ScheduleConfig
from harness.timers import TimerSettings
from gnnlat.network import NetworkConfig
cfg = ProfileConfig(n=40, out={out!r}, seed=2, config=NetworkConfig(C=4, layers=3, resolution=8), repeat_frac=0.0,
                    schedule=ScheduleConfig(window_s=0.01), build_workers=0)
run_ray_profile(cfg, "cpu", 1, TimerSettings(rounds=2, round_ms=3.0, warmup_ms=1.0, max_retries=0),
                RayOptions(address={address!r}, chunk=2))
"""


def test_a_killed_driver_resumes_without_duplicates_or_gaps(ray, tmp_path):
    out = tmp_path / "driver.db"
    address = ray.get_runtime_context().gcs_address
    proc = subprocess.Popen([sys.executable, "-c", DRIVER.format(root=str(ROOT), out=str(out), address=address)],
                            cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS="1"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and _stored_so_far(out) < 4:
        time.sleep(0.2)
    assert proc.poll() is None, proc.stderr.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = len(_keys(out))
    assert 4 <= killed_at < 40
    n = killed_at + 4
    cfg = ProfileConfig(**QUICK, n=n, out=str(out), seed=2, repeat_frac=0.0)
    summary = run_ray_profile(cfg, "cpu", 1, FAST, RayOptions(chunk=2, start_timeout_s=120))
    keys = _keys(out)
    assert len(keys) == len(set(keys)) == summary["samples"] == n
    assert sorted(keys) == _local_keys(tmp_path, n, seed=2)  # the first n of the seed's sequence: no gaps


def test_sweep_cells_on_ray_equal_the_local_ones(ray, tmp_path):
    from gnnlat.checkpoint import load_predictor
    from gnnlat.lat_ref import reference_latency
    from gnnlat.sweep import cell_dir
    from workflows.ray_sweep import run_cells_on_ray
    from workflows.measure import MeasureConfig
    from workflows.sweep import SweepCell, SweepConfig

    predictor = load_predictor(predictor_path("onnxruntime-reference"))
    search = SearchConfig(dataset="digits", C=4, layers=3, batch_size=16, epochs=1, max_batches=2)
    train = TrainConfig(dataset="digits", C=4, layers=3, batch_size=16, epochs=1, max_batches=2)
    quick = MeasureConfig(ScheduleConfig(window_s=0.01, min_rounds=2), anchor=False)  # latency is not compared
    cfg = SweepConfig(lams=[0.5], seeds=1, search=search, train=train, deploy=TINY, backend="cpu",
                      out_dir=str(tmp_path / "local"), measure=quick)
    lat_ref = reference_latency(predictor.latency_fn(TINY), search.lat_ref)
    jobs = [(0.5, 0)]  # λ > 0: LAT_ref and the predictor reach the task too
    local = [SweepCell(cfg, predictor, None, lat_ref)(lam, seed) for lam, seed in jobs]
    remote_cell = SweepCell(replace(cfg, out_dir=str(tmp_path / "ray")), predictor, None, lat_ref)
    done = []
    run_dir = lambda lam, seed: cell_dir(tmp_path / "ray", lam, seed, search)  # noqa: E731
    rows = run_cells_on_ray("auto", remote_cell, jobs, run_dir, lambda d, t: done.append(d))
    same = ("genotype", "predicted_ms", "search_val_acc", "test_acc", "params_m", "lat_ref_ms", "settings")
    assert [{k: r[k] for k in same} for r in rows] == [{k: r[k] for k in same} for r in local]
    assert all((tmp_path / "ray" / f"lam{lam:g}_seed{seed}" / "result.json").is_file() for lam, seed in jobs)
    assert run_cells_on_ray("auto", remote_cell, jobs, run_dir) == rows  # resumed: every cell read back, no task
