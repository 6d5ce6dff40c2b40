"""The harness's cost outside the timed windows, and a whole small profiling run.

* preparing one architecture per backend, split as the streaming loop splits it: the worker's part
  (build, and the ONNX export for onnxruntime) and the main process's part (open the session or
  unpack the network, size the rounds), plus storing the sample;
* a small profiling run through the round scheduler, end to end (timed windows included: what a
  user waits for).
"""
import random

import pytest

from gnnlat.genotype import random_genotype
from gnnlat.network import NetworkConfig
from harness.profile import ProfileConfig, run_profile
from harness.profile_stats import ProfileStats
from harness.samples import to_sample
from harness.rounds import ScheduleConfig
from harness.store import ProfileStore
from harness.stream import make_payload, round_reps, runner
from harness.timers import CpuTimer, OnnxRuntimeTimer, Timing

TIMERS = [CpuTimer, OnnxRuntimeTimer]
IDS = ["cpu", "onnxruntime"]


@pytest.mark.parametrize("timer_cls", TIMERS, ids=IDS)
def test_bench_prepare_one_architecture_worker_part(benchmark, timer_cls):
    timer = timer_cls(threads=1)
    rng = random.Random(0)
    opset = getattr(timer, "opset", 0)

    def worker_part():
        return make_payload(timer.backend, opset, random_genotype(rng).to_json(), NetworkConfig().to_dict())

    benchmark.pedantic(worker_part, rounds=5, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("timer_cls", TIMERS, ids=IDS)
def test_bench_prepare_one_architecture_main_part(benchmark, tmp_path, timer_cls):
    timer = timer_cls(threads=1)
    fp = timer.fingerprint()
    rng = random.Random(0)
    opset = getattr(timer, "opset", 0)
    payloads = [(g, make_payload(timer.backend, opset, g.to_json(), NetworkConfig().to_dict()))
                for g in (random_genotype(rng) for _ in range(6))]
    store = ProfileStore(tmp_path / "bench.db")
    fake = Timing(1.0, 1.0, 1.0, 0.0, 5, 10, 0.0, False, [1.0] * 5)  # bookkeeping only, not a result

    def main_part():
        g, payload = payloads.pop()
        round_reps(timer, runner(timer, payload))
        store.add([to_sample(g.to_json(), NetworkConfig().to_dict(), fake, timer, fp, "primary")])

    benchmark.pedantic(main_part, rounds=5, iterations=1, warmup_rounds=1)
    store.close()


@pytest.mark.parametrize("timer_cls", TIMERS, ids=IDS)
def test_bench_small_profiling_batch(benchmark, tmp_path, timer_cls):
    """Eight architectures at the search config through the scheduler (networks prepared inline,
    so the figure does not include a worker's start-up)."""
    timer = timer_cls(threads=1)
    runs = iter(range(100))

    def profile_batch():
        stats = ProfileStats()
        run_profile(ProfileConfig(n=8, out=str(tmp_path / f"b{next(runs)}.db"), repeat_frac=0.0, build_workers=0,
                                  schedule=ScheduleConfig(window_s=0.3)), timer, stats=stats)
        return stats

    stats = benchmark.pedantic(profile_batch, rounds=2, iterations=1)
    assert stats.timed == 8
