"""The triton backend for real, on CUDA: the commands of tests/test_triton_path.py without the host
stand-in, and a sanity check of do_bench's timings. Skipped without CUDA (tests/conftest.py);
benchmarks/gpu_session.sh runs them on a lent GPU."""
import gc
import math
import random

import pytest
import torch

from gnnlat.genotype import random_genotype
from gnnlat.network import SEARCH_CONFIG, Network, NetworkConfig
from gnnlat.published import DARTS_V2
from harness.prepare import PackedNetwork
from harness.store import ProfileStore
from harness.timers import CUDA, TritonTimer
from tests.cli_helpers import invoke_json

pytestmark = pytest.mark.gpu
SMALL = ["--C", "8", "--layers", "5", "--resolution", "16"]


def test_the_seam_reaches_the_gpu():
    assert CUDA.available()
    facts = CUDA.describe()
    assert facts["gpu"] and facts["cuda"] and len(facts["capability"]) == 2
    net = CUDA.to_device(Network(DARTS_V2, NetworkConfig(C=8, layers=5, resolution=16)).eval())
    x = CUDA.to_device(net.example_input())
    assert next(net.parameters()).is_cuda and x.is_cuda
    runs = CUDA.do_bench(lambda: net(x), 1.0, 5.0)
    CUDA.synchronize()
    assert runs and all(math.isfinite(t) and t > 0 for t in runs)


def test_a_packed_network_lands_on_the_gpu_in_one_copy_and_computes_the_same():
    net = Network(DARTS_V2, SEARCH_CONFIG).eval()
    back = PackedNetwork.pack(net).unpack(CUDA.to_device).eval()
    assert all(t.is_cuda for t in [*back.parameters(), *back.buffers()])
    assert CUDA.to_device(back) is back  # nothing left to move
    x = net.example_input()
    with torch.inference_mode():
        ref, got = net(x), back(CUDA.to_device(x)).cpu()
    torch.testing.assert_close(got, ref, rtol=1e-2, atol=1e-3)  # TF32 convolutions on the GPU
    run = TritonTimer().prepare(back)
    assert all(math.isfinite(t) and t > 0 for t in TritonTimer().clock(run, 1))


def test_a_prepared_network_outlives_every_other_reference_to_it():
    """The run's anchor is prepared once and its network dropped: the replay must keep it alive
    (a freed weight is released by the next capture's cache flush, then read by the replay)."""
    timer = TritonTimer()
    run = timer.prepare(Network(DARTS_V2, SEARCH_CONFIG))
    gc.collect()
    torch.cuda.empty_cache()
    others = [timer.prepare(Network(DARTS_V2, NetworkConfig(C=8, layers=5, resolution=16))) for _ in range(2)]
    for fn in (run, *others, run):
        assert all(math.isfinite(t) and t > 0 for t in timer.clock(fn, 1))
    CUDA.synchronize()


def test_a_cold_capture_of_new_shapes_works_and_times_as_a_warmed_one():
    """Only a timer's first capture warms up (TritonTimer.prepare): a later network whose shapes no
    capture has seen is captured cold, without failing, and its replay times as one captured
    after a warm-up."""
    timer = TritonTimer()
    timer.prepare(Network(DARTS_V2, SEARCH_CONFIG))  # the one warm-up
    net = Network(random_genotype(random.Random(7)), NetworkConfig(C=24, layers=6, resolution=40, batch=2))
    cold = timer.prepare(net)
    assert timer.cold_capture_failures == 0
    model, x = CUDA.to_device(net.eval()), CUDA.to_device(net.example_input())

    def run():
        with torch.inference_mode():
            return model(x)

    warm = CUDA.capture(run, CUDA.graph_site(), warm_up=True)  # a pool of its own
    minima = {"cold": [], "warm": []}
    for _ in range(3):
        for name, fn in (("cold", cold), ("warm", warm)):
            minima[name].append(min(CUDA.do_bench(fn, 1.0, 8.0)))
    a, b = min(minima["cold"]), min(minima["warm"])
    assert abs(a - b) / min(a, b) < 0.01, minima


def test_a_timer_captures_again_after_all_its_graphs_are_gone():
    """A run without an anchor frees every graph of a batch before the next batch's captures, which
    go into the same memory pool (``GraphSite``)."""
    timer = TritonTimer()
    for _ in range(3):
        run = timer.prepare(Network(DARTS_V2, NetworkConfig(C=8, layers=5, resolution=16)))
        assert all(math.isfinite(t) and t > 0 for t in timer.clock(run, 1))
        del run
        gc.collect()
    CUDA.synchronize()


def test_do_bench_timing_of_a_network_is_sane():
    timer = TritonTimer()
    nets = [Network(DARTS_V2, SEARCH_CONFIG), Network(DARTS_V2, NetworkConfig(C=32, layers=14, resolution=48, batch=8))]
    small, large = timer.time_many(nets)
    for t in (small, large):
        assert math.isfinite(t.latency_ms) and 0 < t.latency_ms <= t.median_ms <= t.p90_ms
        assert t.reps >= 1 and t.rounds >= TritonTimer.default_settings.rounds
        assert t.timed_ms >= t.reps * t.rounds * t.latency_ms
        # A dedicated GPU: the round minima agree far better than a shared CPU's would.
        lo, second = t.round_minima[:2]
        assert (second - lo) / lo < 0.10 and t.round_spread < 0.5, t.round_minima
    assert large.latency_ms > small.latency_ms


def test_commands_on_cuda(tmp_path):
    db = tmp_path / "gpu.db"
    # Twelve: a second batch, built by the workers and timed beside the anchor captured for the first.
    out = invoke_json("profile", "--n", "12", "--out", db, "--backend", "triton", *SMALL)
    assert out["samples"] == 12 and out["build_workers"] >= 1 and out["archs_per_hour"] > 0
    assert out["time_per_arch_ms"]["timed"] > 0
    with ProfileStore(db, create=False) as s:
        every = s.samples(kind=None)
    assert {x.backend for x in every} == {"triton"} and all(x.reps >= 1 for x in every)
    assert all(x.fingerprint["backend"] == "triton" and x.fingerprint["gpu"] for x in every)

    retimed = invoke_json("retime", "--profile", db, "--backend", "triton", *SMALL)
    assert retimed["retimed"] == 12 and retimed["noise_floor"]["n"] == 12
    assert retimed["noise_floor"]["median"] < 0.2  # loose: 12 pairs; the session's profile tells the truth

    info = invoke_json("info", db)
    assert info["backends"] == {"triton": 12} and info["repeats"] == 12
    assert info["devices"][0]["device"] == CUDA.describe()["gpu"]

    genotype = tmp_path / "g.json"
    genotype.write_text(DARTS_V2.to_json())
    measured = invoke_json("measure", genotype, "--backend", "triton", *SMALL)
    assert measured["backend"] == "triton" and measured["reps"] >= 1 and measured["latency_ms"] > 0
    auto = invoke_json("measure", genotype, "--backend", "auto", *SMALL)
    assert auto["backend"] == "triton"

    trained = invoke_json("train-predictor", "--profile", db, "--out", tmp_path / "m.pt", "--epochs", "2")
    assert trained["n_train"] >= 1 and trained["records"] == 12


def test_cuda_peak_memory_counts_weights_and_activations():
    from harness.memory import host_peak_memory

    small, large = (TritonTimer().peak_memory(Network(DARTS_V2, c)) for c in
                    (SEARCH_CONFIG, NetworkConfig(C=32, layers=14, resolution=48, batch=8)))
    host = host_peak_memory(Network(DARTS_V2, SEARCH_CONFIG))
    assert small.method == "cuda max_memory_allocated" and small.weights_bytes == host.weights_bytes
    assert small.peak_bytes >= small.weights_bytes + small.input_bytes and large.peak_bytes > small.peak_bytes
    again = TritonTimer().peak_memory(Network(DARTS_V2, SEARCH_CONFIG))
    assert abs(again.peak_bytes - small.peak_bytes) / small.peak_bytes < 0.01


def test_gpu_energy_is_measured_or_said_unavailable():
    from workflows.measure import measure_energy

    out = measure_energy(DARTS_V2, SEARCH_CONFIG, "triton")
    if out["energy_mj"] is None:
        assert "not measurable here" in out["energy_unavailable"]
    else:
        assert out["energy_mj"] > 0 and out["energy_source"] == "nvml"
