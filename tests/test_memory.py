"""Peak memory of one inference: the allocator account, its parts, repeatability, memory profiles."""
import random

import pytest
import torch
from torch import nn

from gnnlat.genotype import random_genotype
from gnnlat.network import Network, NetworkConfig
from harness.memory import allocation_peak, host_allocation_peak, host_peak_memory, tensor_bytes
from harness.metric_profile import MemoryMeter, MetricProfileError, run_metric_profile
from harness.profile import ProfileConfig
from harness.store import ProfileStore
from harness.timers import HostCuda, TritonTimer, make_timer

TINY = NetworkConfig(C=4, layers=3, resolution=8)


def test_allocation_peak_is_the_highest_running_sum():
    assert allocation_peak([]) == 0
    assert allocation_peak([100, 50, -100, 200, -50, -200]) == 250
    assert allocation_peak([-10, 5]) == 0


class TwoTemporaries(nn.Module):
    """x → a = x + 1 → b = a * 2 (a freed) → out = b - 1 (b freed): at most two tensors of x's size."""

    def forward(self, x):
        a = x + 1
        b = a * 2
        del a
        return b - 1


def test_host_peak_counts_live_tensors():
    x = torch.zeros(1000, dtype=torch.float32)  # 4,000 bytes

    def run():
        with torch.inference_mode():
            return TwoTemporaries()(x)

    peak = host_allocation_peak(run)
    assert 8000 <= peak < 8000 + 1024  # a and b live together; allocator rounding at most a little


def test_network_peak_has_its_parts_and_repeats_exactly():
    g = random_genotype(random.Random(3))
    first, again = host_peak_memory(Network(g, TINY)), host_peak_memory(Network(g, TINY))
    assert first == again  # a fresh build, the same bytes: no scheduler noise in this metric
    net = Network(g, TINY)
    assert first.weights_bytes == tensor_bytes(net) > 0
    assert first.input_bytes == net.example_input().numel() * 4
    assert first.activation_peak_bytes > first.input_bytes
    assert first.peak_bytes == first.weights_bytes + first.input_bytes + first.activation_peak_bytes
    d = first.to_dict()
    assert d["peak_memory_mb"] == pytest.approx(first.peak_bytes / 1e6) and d["memory_method"]


def test_bigger_networks_need_more_memory():
    g = random_genotype(random.Random(4))
    small = host_peak_memory(Network(g, TINY)).peak_bytes
    wide = host_peak_memory(Network(g, NetworkConfig(C=8, layers=3, resolution=8))).peak_bytes
    batch = host_peak_memory(Network(g, NetworkConfig(C=4, layers=3, resolution=8, batch=4))).peak_bytes
    assert wide > small and batch > small


def test_triton_timer_peak_goes_through_the_cuda_seam():
    g = random_genotype(random.Random(5))
    peak = TritonTimer(cuda=HostCuda()).peak_memory(Network(g, TINY))
    host = host_peak_memory(Network(g, TINY))
    assert peak.method == "cuda max_memory_allocated"
    assert peak.weights_bytes == host.weights_bytes and peak.peak_bytes >= host.weights_bytes + host.input_bytes


def test_memory_profile_resumes_and_repeats_agree(tmp_path):
    out = tmp_path / "m.db"
    cfg = ProfileConfig(n=6, out=str(out), config=TINY, repeat_frac=1.0)
    first = run_metric_profile(cfg, MemoryMeter(make_timer("cpu")))
    assert first["measured"] == 6 and first["metrics"]["memory"]["samples"] == 6
    again = run_metric_profile(ProfileConfig(n=30, out=str(out), config=TINY, repeat_frac=1.0), MemoryMeter(make_timer("cpu")))
    assert again["measured"] == 24  # the first six are skipped, not measured twice
    assert again["measured_repeats"] > 0 and again["live_noise_floor"]["max"] == 0.0
    with ProfileStore(out, create=False) as store:
        assert store.count() == 0  # no latency: the timing columns stay empty
        assert store.count(metric="memory") == 30 and store.noise_floor(metric="memory")["median"] == 0.0


def test_memory_profile_refuses_onnxruntime(tmp_path):
    with pytest.raises(MetricProfileError, match="ONNX Runtime"):
        run_metric_profile(ProfileConfig(n=1, out=str(tmp_path / "m.db"), config=TINY), MemoryMeter(make_timer("onnxruntime")))
    assert not (tmp_path / "m.db").exists()
