"""The triton backend end to end on a machine without a GPU: the CUDA seam (``harness.timers.CUDA``)
is swapped for :class:`HostCuda`, which times the networks for real on the CPU with do_bench's
algorithm, and every CUDA entry point is booby-trapped so a call that bypasses the seam fails.

The commands run in-process through click's CliRunner, exactly as a user would type them.
"""
import functools
import math

import pytest
import torch

import harness.profile
import harness.timers
from gnnlat.network import NetworkConfig
from gnnlat.published import DARTS_V2
from harness.prepare import NetworkBuilder
from harness.profile import ProfileConfig, run_profile
from harness.profile_stats import ProfileStats
from harness.store import ProfileStore
from harness.timers import HostCuda, TimerSettings, TritonTimer
from tests.cli_helpers import FAST, TINY, invoke, invoke_json, wait_until

SMALL = NetworkConfig(C=4, layers=3, resolution=8)
QUICK = TimerSettings(rounds=2, round_ms=2.0, warmup_ms=0.5, max_retries=0)


def _no_cuda(*args, **kwargs):
    raise AssertionError("a CUDA call bypassed the harness.timers.CUDA seam")


@pytest.fixture
def host_gpu(monkeypatch):
    """The triton path on the host: the seam says CUDA is there, nothing else may touch CUDA."""
    monkeypatch.setattr(harness.timers, "CUDA", HostCuda())
    for name in ("synchronize", "get_device_name", "get_device_capability", "current_device", "init"):
        monkeypatch.setattr(torch.cuda, name, _no_cuda)
    monkeypatch.setattr(torch.Tensor, "cuda", _no_cuda)
    monkeypatch.setattr(torch.nn.Module, "cuda", _no_cuda)
    try:
        import triton.testing
    except ImportError:
        pass
    else:
        monkeypatch.setattr(triton.testing, "do_bench", _no_cuda)


@pytest.fixture
def genotype_file(tmp_path):
    path = tmp_path / "darts_v2.json"
    path.write_text(DARTS_V2.to_json())
    return path


@pytest.fixture
def workers_up_first(monkeypatch):
    """Builders hand batches to their workers only once all are up (``NetworkBuilder.ready``); wait
    for them, so which batches a short run's workers build does not depend on how fast they start."""
    up = NetworkBuilder.ready
    monkeypatch.setattr(NetworkBuilder, "ready", lambda self: wait_until(lambda: up(self)))


def _samples(path):
    with ProfileStore(path, create=False) as s:
        return s.samples(kind=None)


def test_profile_retime_info_measure_train_on_the_triton_path(host_gpu, workers_up_first, monkeypatch, tmp_path,
                                                              genotype_file):
    db = tmp_path / "triton.db"
    # The CLI has no --repeat-delay; 50 primaries before the first repeat would take minutes on
    # the host, so the profile command gets a ProfileConfig that repeats after 1, in batches of 2.
    monkeypatch.setattr(harness.profile, "ProfileConfig",
                        functools.partial(ProfileConfig, repeat_delay=1, batch_archs=2))
    out = invoke_json("profile", "--n", "6", "--out", db, "--backend", "triton", "--repeat-frac", "0.5",
                      "--seed", "3", *TINY, *FAST)
    assert out["samples"] == 6 and out["repeats"] >= 1
    assert out["build_workers"] >= 1 and not out["build_fell_back"]  # next batch built by workers
    assert out["archs_per_hour"] > 0 and 0 < out["overhead_frac"] < 1
    per_arch = out["time_per_arch_ms"]
    assert set(per_arch) == {"build", "unpack", "prep", "warmup", "timed", "anchor", "store", "other", "total"}
    assert per_arch["unpack"] > 0  # the batches came from the workers
    # every repeat of this fresh profile is paired with its primary: the run's live noise floor
    assert out["live_noise_floor_raw"]["n"] == out["live_noise_floor_anchored"]["n"] == out["repeats"]
    assert per_arch["timed"] > 0 and per_arch["anchor"] > 0 and per_arch["warmup"] > 0
    assert sum(v for k, v in per_arch.items() if k != "total") == pytest.approx(per_arch["total"], rel=1e-6)

    every = _samples(db)
    assert {s.backend for s in every} == {"triton"}
    assert all(s.reps >= 1 and s.rounds >= 2 and s.latency_ms > 0 for s in every)
    assert all(s.latency_ms <= s.median_ms for s in every)
    assert all(s.fingerprint["backend"] == "triton" and s.fingerprint["device"] == "host stand-in" for s in every)
    assert all(s.extra["anchor_ms"] > 0 and len(s.extra["round_minima"]) == s.rounds for s in every)
    repeats = [s for s in every if s.kind == "repeat"]
    assert repeats and {s.arch_key for s in repeats} <= {s.arch_key for s in every if s.kind == "primary"}

    retimed = invoke_json("retime", "--profile", db, "--backend", "triton", *TINY, *FAST)
    # --times 1: only the primaries the profile did not re-time already.
    assert retimed["selected"] == 6 and retimed["retimed"] == 6 - len({s.arch_key for s in repeats})
    assert retimed["noise_floor"]["n"] >= 6 and retimed["time_per_arch_ms"]["timed"] > 0
    assert retimed["batch_archs"] == harness.profile.GPU_BATCH_ARCHS  # triton's default batch
    assert invoke_json("retime", "--profile", db, "--backend", "triton", *TINY, *FAST)["retimed"] == 0

    info = invoke_json("info", db)
    assert info["samples"] == 6 and info["backends"] == {"triton": 6}
    assert [d["device"] for d in info["devices"]] == ["host stand-in"]
    assert info["noise_floor"]["n"] == info["repeats"] >= 6
    assert info["anchored_noise_floor"]["n"] >= 6
    assert 0 <= info["noise_floor"]["median"] < 10  # real, noisy host timings: only sane, not small

    measured = invoke_json("measure", genotype_file, "--backend", "triton", *TINY, *FAST)
    assert measured["backend"] == "triton" and measured["fingerprint"]["backend"] == "triton"
    assert measured["reps"] >= 1 and math.isfinite(measured["latency_ms"]) and measured["latency_ms"] > 0

    model = tmp_path / "model.pt"
    trained = invoke_json("train-predictor", "--profile", db, "--out", model, "--epochs", "2")
    assert trained["n_train"] >= 1 and trained["records"] == 6 and model.exists()


def test_repeats_are_built_ahead_with_their_batch(host_gpu, monkeypatch, tmp_path):
    calls = []
    real = NetworkBuilder.submit
    monkeypatch.setattr(NetworkBuilder, "submit", lambda self, specs: calls.append(list(specs)) or real(self, specs))
    cfg = ProfileConfig(n=8, out=str(tmp_path / "p.db"), config=SMALL, repeat_frac=0.5, repeat_delay=1,
                        batch_archs=2, build_workers=0)
    summary = run_profile(cfg, TritonTimer(settings=QUICK))
    repeats = [s for s in _samples(tmp_path / "p.db") if s.kind == "repeat"]
    assert repeats and summary["live_noise_floor"]["n"] == len(repeats)
    # A repeat's network is asked for with its batch's primaries, one batch ahead: never alone,
    # right before its timing, when the timing process would wait for it to be built.
    assert len(calls) == 4 and all(len(specs) > 1 for specs in calls)
    assert sum(len(specs) for specs in calls) == 8 + len(repeats)


def test_auto_resolves_to_triton_and_its_settings_when_the_seam_has_cuda(host_gpu, genotype_file):
    out = invoke_json("measure", genotype_file, "--backend", "auto", *TINY)
    assert out["backend"] == "triton" and out["fingerprint"]["device"] == "host stand-in"
    gpu = TritonTimer.default_settings  # triton's own defaults, not the CPU backends'
    assert gpu.rounds < TimerSettings().rounds
    assert gpu.rounds <= out["rounds"] <= gpu.rounds * (1 + gpu.max_retries)
    assert harness.timers.resolve_backend("auto") == "triton"


def test_without_cuda_the_triton_path_fails_cleanly(monkeypatch, tmp_path):
    class NoGpu(HostCuda):
        def available(self) -> bool:
            return False

    monkeypatch.setattr(harness.timers, "CUDA", NoGpu())
    res = invoke("profile", "--n", "1", "--out", tmp_path / "x.db", "--backend", "triton", *TINY)
    assert res.exit_code == 1 and "needs a CUDA GPU" in res.output and "Traceback" not in res.output
    assert harness.timers.resolve_backend("auto") == "onnxruntime"


def test_profile_content_does_not_depend_on_the_builder_processes(host_gpu, tmp_path):
    """Architectures, kinds and order are a function of the seed alone, prefetched or not."""
    content = {}
    for workers in (0, 2):
        out = tmp_path / f"w{workers}.db"
        stats = ProfileStats()
        cfg = ProfileConfig(n=7, out=str(out), config=SMALL, seed=5, repeat_frac=0.5, repeat_delay=2,
                            batch_archs=2, build_workers=workers)
        summary = run_profile(cfg, TritonTimer(settings=QUICK), stats=stats)
        assert summary["build_workers"] == workers and stats.timed == summary["samples"] + summary["repeats"]
        content[workers] = [(s.arch_key, s.kind) for s in _samples(out)]
    assert content[0] == content[2]
    assert len({k for k, kind in content[0] if kind == "primary"}) == 7
    assert any(kind == "repeat" for _, kind in content[0])


class CountingHostCuda(HostCuda):
    """The host stand-in, counting the networks captured and the tensors moved to the "device"."""

    def __init__(self):
        self.captured, self.moved, self.warm_ups = 0, [], 0

    def capture(self, fn, site, warm_up=True):
        self.captured += 1
        self.warm_ups += warm_up
        return super().capture(fn, site, warm_up)

    def to_device(self, x):
        self.moved.append(x)
        return x


def test_the_anchor_is_prepared_once_and_prefetched_networks_move_in_one_copy(host_gpu, workers_up_first, monkeypatch,
                                                                              tmp_path):
    cuda = CountingHostCuda()
    monkeypatch.setattr(harness.timers, "CUDA", cuda)
    out = tmp_path / "t.db"
    cfg = ProfileConfig(n=6, out=str(out), config=SMALL, seed=2, repeat_frac=0.0, batch_archs=2, build_workers=1)
    summary = run_profile(cfg, TritonTimer(settings=QUICK))
    every = _samples(out)
    assert summary["samples"] == len(every) == 6
    # Six networks and one anchor captured; the anchor's runner served all three batches. Only the
    # first capture (the anchor's) warms up, and no capture without it failed.
    assert cuda.captured == 7 and cuda.warm_ups == 1 and summary["cold_capture_failures"] == 0
    assert len({s.extra["batch"] for s in every}) == 3 and len({s.extra["anchor_key"] for s in every}) == 1
    # The anchor is built inline (moved by prepare); the workers' six networks arrive packed, and
    # each moves as one uint8 buffer.
    buffers = [x for x in cuda.moved if isinstance(x, torch.Tensor) and x.dtype == torch.uint8 and x.dim() == 1]
    assert len(buffers) == 6


class ColdFailingHostCuda(CountingHostCuda):
    """A device on which a capture without warm-up fails, as a GPU does when capture meets lazy set-up."""

    def capture(self, fn, site, warm_up=True):
        if not warm_up:
            self.captured += 1
            raise RuntimeError("CUDA error: operation not permitted when stream is capturing")
        return super().capture(fn, site, warm_up)


def test_a_failed_cold_capture_is_redone_with_a_warm_up_and_counted(host_gpu, monkeypatch, tmp_path):
    cuda = ColdFailingHostCuda()
    monkeypatch.setattr(harness.timers, "CUDA", cuda)
    out = tmp_path / "t.db"
    cfg = ProfileConfig(n=4, out=str(out), config=SMALL, seed=3, repeat_frac=0.0, batch_archs=2, build_workers=0)
    summary = run_profile(cfg, TritonTimer(settings=QUICK))
    assert summary["samples"] == 4 and summary["cold_capture_failures"] == 4
    assert cuda.warm_ups == 5  # the anchor, then each network again after its failed cold capture
