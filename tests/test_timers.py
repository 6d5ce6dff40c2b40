import gc
import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from gnnlat.network import Network, NetworkConfig
from gnnlat.published import DARTS_V2
from gnnlat.errors import GnnlatError
from gnnlat.export import onnx_bytes
from harness.timers import (CpuTimer, HostCuda, OnnxRuntimeTimer, PhaseTimes, TimerConfigError, TimerError,
                            TimerSettings, TritonTimer, default_settings, make_timer, optimized_model, summarize)
from tests.conftest import ROOT

FAST = TimerSettings(rounds=3, round_ms=15.0, warmup_ms=5.0, max_retries=1)
SMALL = NetworkConfig(C=8, layers=3, resolution=8)
LARGE = NetworkConfig(C=32, layers=8, resolution=32)


def test_summarize_statistics_and_noise_flag():
    runs = [[2.0, 2.2, 2.1], [1.0, 1.5, 1.2], [1.02, 1.1, 1.3]]
    t = summarize(runs, reps=3, agree_tol=0.03)
    assert t.latency_ms == 1.0
    assert t.round_minima == [1.0, 1.02, 2.0]
    assert t.round_spread == pytest.approx(1.0)
    assert not t.noisy  # the two lowest rounds agree within 3%
    assert t.median_ms == pytest.approx(float(np.median([x for r in runs for x in r])))
    noisy = summarize([[1.0], [1.2], [1.3]], reps=1, agree_tol=0.03)
    assert noisy.noisy


@pytest.mark.parametrize("bad", [math.nan, math.inf, 0.0, -1.0])
def test_summarize_rejects_non_finite_or_non_positive(bad):
    with pytest.raises(TimerError):
        summarize([[1.0, bad], [1.0, 1.1]], reps=2, agree_tol=0.03)


def test_settings_validation():
    with pytest.raises(ValueError):
        TimerSettings(rounds=1)
    with pytest.raises(GnnlatError, match="rounds"):  # the CLI's one-line error
        TimerSettings(rounds=1)
    with pytest.raises(ValueError):
        TimerSettings(min_reps=5, max_reps=2)
    with pytest.raises(ValueError):
        TimerSettings(round_ms=0)


def test_make_timer_rejects_unknown_backend_and_threads():
    with pytest.raises(ValueError, match="unknown backend"):
        make_timer("tpu")
    with pytest.raises(ValueError, match="threads"):
        make_timer("cpu", threads=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_triton_without_cuda_is_a_clear_error():
    with pytest.raises(TimerError, match="CUDA"):
        make_timer("triton")
    assert make_timer("auto").backend == "onnxruntime"


@pytest.mark.parametrize("timer_cls", [CpuTimer, OnnxRuntimeTimer])
def test_cpu_backends_order_a_larger_network_above_a_smaller_one(timer_cls):
    torch.manual_seed(0)
    timer = timer_cls(threads=1, settings=FAST)
    small, large = timer.time_many([Network(DARTS_V2, SMALL), Network(DARTS_V2, LARGE)])
    for t in (small, large):
        assert t.latency_ms > 0 and t.latency_ms <= t.median_ms <= t.p90_ms
        assert t.rounds >= FAST.rounds and len(t.round_minima) == t.rounds
    # ~40x the MACs: any sane timer orders them, even on a noisy machine.
    assert large.latency_ms > 3 * small.latency_ms


def test_fingerprint_records_backend_threads_and_versions():
    fp = OnnxRuntimeTimer(threads=1).fingerprint()
    assert fp["backend"] == "onnxruntime" and fp["threads"] == 1
    assert fp["torch"] == torch.__version__ and fp["onnxruntime"] and fp["opset"] == 17
    assert fp["device"]
    assert CpuTimer(threads=2).fingerprint()["threads"] == 2


def test_onnx_export_matches_pytorch_outputs():
    import onnxruntime as ort

    torch.manual_seed(0)
    net = Network(DARTS_V2, NetworkConfig(C=8, layers=5, resolution=16, batch=2)).eval()
    x = torch.randn(2, 3, 16, 16)
    sess = ort.InferenceSession(onnx_bytes(net), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        want = net(x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_a_session_on_the_offline_optimized_model_computes_what_pytorch_does():
    """The worker's optimized ORT-format model is what the timing session loads; it must be the
    same function, and a plain ONNX model must not pass for one."""
    torch.manual_seed(0)
    net = Network(DARTS_V2, NetworkConfig(C=8, layers=5, resolution=16, batch=2)).eval()
    model = optimized_model(onnx_bytes(net))
    assert model[4:8] == b"ORTM"  # the ORT format's flatbuffer identifier
    x = torch.randn(2, 3, 16, 16)
    got = OnnxRuntimeTimer().session_from_bytes(model).run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, net(x).numpy(), rtol=1e-4, atol=1e-4)
    with pytest.raises(Exception, match="ORT model verification failed"):
        OnnxRuntimeTimer().session_from_bytes(onnx_bytes(net))


def test_multithreaded_onnxruntime_sessions_share_one_pool_in_a_process_of_their_own():
    """With several threads and spinning on, every timing session of a process runs on one shared
    pool (the device says so); the sessions still compute the network, and a second thread count
    or an unshared session in that process is a clear error. In a child process: the pool is for
    the life of the process."""
    code = textwrap.dedent("""
        import json, numpy as np, torch
        from gnnlat.network import Network, NetworkConfig
        from gnnlat.published import DARTS_V2
        from harness.timers import OnnxRuntimeTimer, TimerError
        torch.manual_seed(0)
        net = Network(DARTS_V2, NetworkConfig(C=8, layers=5, resolution=16)).eval()
        timer, x = OnnxRuntimeTimer(threads=2), torch.randn(1, 3, 16, 16)
        got = timer.session(net).run(None, {"input": x.numpy()})[0]
        with torch.no_grad():
            diff = float(np.abs(got - net(x).numpy()).max())
        errors = []
        for other in (OnnxRuntimeTimer(threads=3), OnnxRuntimeTimer(threads=1)):
            try:
                other.prepare(net)
            except TimerError as exc:
                errors.append(str(exc))
        print(json.dumps({"fp": timer.fingerprint().get("thread_pool"), "diff": diff, "errors": errors}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["fp"] == "shared" and result["diff"] < 1e-4
    assert len(result["errors"]) == 2 and "in a process of its own" in result["errors"][0]
    assert "thread_pool" not in OnnxRuntimeTimer(threads=1).fingerprint()
    assert "thread_pool" not in OnnxRuntimeTimer(threads=2, spinning=False).fingerprint()


class _RecordingHost(HostCuda):
    """The host stand-in, remembering how many timed runs each do_bench call returned."""

    def __init__(self):
        self.lengths: list[int] = []

    def do_bench(self, fn, warmup_ms, rep_ms):
        runs = super().do_bench(fn, warmup_ms, rep_ms)
        self.lengths.append(len(runs))
        return runs


def test_triton_timer_records_do_bench_runs_as_reps():
    cuda = _RecordingHost()
    settings = TimerSettings(rounds=3, round_ms=4.0, warmup_ms=1.0, max_retries=0)
    timer = TritonTimer(settings=settings, cuda=cuda)
    phases = PhaseTimes()
    small, large = timer.time_many([Network(DARTS_V2, SMALL), Network(DARTS_V2, LARGE)], phases)
    # Rounds interleave the two networks: calls alternate between them, the order rotating.
    assert len(cuda.lengths) == 6
    for t in (small, large):
        assert t.rounds == 3 and t.reps >= 1 and t.reps in cuda.lengths
        assert 0 < t.latency_ms <= t.median_ms and t.timed_ms >= t.reps * t.rounds * t.latency_ms
    assert large.latency_ms > 3 * small.latency_ms
    assert phases.timed_s == pytest.approx((small.timed_ms + large.timed_ms) / 1e3, rel=0.05)
    assert phases.warmup_s > 0 and phases.prep_s > 0  # do_bench's own untimed runs count as warm-up


def test_triton_fingerprint_reads_the_gpu_through_the_seam():
    fp = TritonTimer(cuda=HostCuda()).fingerprint()
    assert fp["backend"] == "triton" and fp["gpu"] == fp["device"] == "host stand-in"
    assert {"triton", "cuda", "capability"} <= set(fp)


def test_triton_defaults_are_sized_for_a_gpu():
    gpu, cpu = TritonTimer.default_settings, TimerSettings()
    assert gpu.rounds <= 3 and gpu.round_ms <= 10 and gpu.warmup_ms <= 5
    assert gpu.rounds * gpu.round_ms < cpu.rounds * cpu.round_ms


@pytest.mark.gpu
def test_triton_backend_times_on_cuda():
    timer = TritonTimer(settings=TimerSettings(rounds=3, round_ms=10, warmup_ms=5))
    small, large = timer.time_many([Network(DARTS_V2, SMALL), Network(DARTS_V2, NetworkConfig(C=48, layers=14, resolution=64, batch=32))])
    assert 0 < small.latency_ms < large.latency_ms
    assert small.latency_ms <= small.median_ms
    assert small.reps >= 1 and large.reps >= 1 and small.timed_ms > 0
    fp = timer.fingerprint()
    assert fp["backend"] == "triton" and fp["gpu"] and fp["triton"]


def test_a_graph_stand_in_fails_like_a_gpu_once_its_network_is_freed():
    from harness.timers import GraphReplay, HostGraph

    calls = []

    def network():  # a fresh closure, as TritonTimer.prepare makes: only the replay refers to it
        return lambda: calls.append(1)

    cuda = HostCuda()
    held = cuda.capture(network(), cuda.graph_site())
    gc.collect()
    held()
    assert calls == [1]  # the replay holds what it replays
    bare = GraphReplay(HostGraph(network()), source=print)  # a replay that let its network go
    with pytest.raises(RuntimeError, match="illegal address"):
        bare()


def test_each_backend_times_with_its_own_defaults_unless_told():
    ort, cpu = default_settings("onnxruntime"), default_settings("cpu")
    assert ort.warmup_ms < cpu.warmup_ms  # the worker hands over an optimized session
    assert make_timer("onnxruntime").settings == ort and make_timer("cpu").settings == cpu
    assert make_timer("onnxruntime", settings=cpu).settings == cpu
    with pytest.raises(TimerConfigError, match="unknown backend"):
        default_settings("tpu")
