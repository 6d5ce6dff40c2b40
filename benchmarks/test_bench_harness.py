"""The harness's per-architecture overhead: everything but the timed window.

Build the network, prepare the backend (ONNX export + session for onnxruntime), warm up, and store
the sample. The timed rounds themselves are excluded: they are the product, not overhead.
"""
import random

import pytest

from gnnlat.genotype import random_genotype
from gnnlat.network import Network, NetworkConfig
from harness.profile import to_sample
from harness.store import ProfileStore
from harness.timers import CpuTimer, OnnxRuntimeTimer, Timing


@pytest.mark.parametrize("timer_cls", [CpuTimer, OnnxRuntimeTimer], ids=["cpu", "onnxruntime"])
def test_bench_harness_overhead_per_architecture(benchmark, tmp_path, timer_cls):
    timer = timer_cls(threads=1)
    fp = timer.fingerprint()
    rng = random.Random(0)
    store = ProfileStore(tmp_path / "bench.db")
    fake = Timing(1.0, 1.0, 1.0, 0.0, 5, 10, 0.0, False, [1.0] * 5)  # bookkeeping only, not a result

    def overhead():
        g = random_genotype(rng)
        net = Network(g, NetworkConfig())
        fn = timer.prepare(net)
        timer._reps_for(fn)  # the warm-up the harness runs before timing
        store.add([to_sample(g.to_json(), net.config.to_dict(), fake, timer, fp, "primary")])

    benchmark.pedantic(overhead, rounds=5, iterations=1, warmup_rounds=1)
    store.close()
