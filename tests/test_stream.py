"""harness.stream: the ballast of anchor sessions a streaming ONNX Runtime run opens first."""
import numpy as np

from gnnlat.network import NetworkConfig
from harness.profile import anchor_job
from harness.profile_stats import ProfileStats
from harness.rounds import ScheduleConfig
from harness.stream import StreamTimer, make_payload
from harness.timers import CpuTimer, OnnxRuntimeTimer, TimerSettings

TINY = NetworkConfig(C=4, layers=3, resolution=8)


def test_onnxruntime_runs_open_the_ballast_and_keep_every_fifth():
    timer, stats = OnnxRuntimeTimer(1), ProfileStats()
    payload = make_payload("onnxruntime", timer.opset, *anchor_job(TINY))
    kept = StreamTimer(timer, ScheduleConfig(ballast=10), stats, workers=0)._ballast(payload)
    assert len(kept) == 2 and stats.prep_s > 0
    out = kept[0]()  # a live session of the anchor network
    assert np.asarray(out[0]).shape == (TINY.batch, TINY.classes)
    assert StreamTimer(timer, ScheduleConfig(ballast=0), ProfileStats(), workers=0)._ballast(payload) == []


def test_eager_runs_open_no_ballast():
    timer = CpuTimer(1)
    payload = make_payload("cpu", 0, *anchor_job(TINY))
    assert StreamTimer(timer, ScheduleConfig(ballast=10), ProfileStats(), workers=0)._ballast(payload) == []


class _Node:
    pass


def test_the_collector_is_paused_while_networks_are_timed_and_collects_between_them():
    """Automatic collection would run inside timed runs; a stream collects after each stored network."""
    import gc
    import weakref

    from harness.stream import Job

    timer = CpuTimer(1, TimerSettings(rounds=2, round_ms=1.0, warmup_ms=1.0))
    schedule = ScheduleConfig(slots=2, window_s=0.01, min_rounds=2, max_windows=3)
    jobs = iter([Job(g, c, "primary") for g, c in [anchor_job(TINY)] * 3])
    seen = []

    def on_done(job, timing, verdict, extra) -> None:
        assert not gc.isenabled()
        if seen:
            assert seen[-1]() is None  # the cycle left by the network before was collected
        a, b = _Node(), _Node()
        a.other, b.other = b, a  # cyclic garbage, made while the stream runs
        seen.append(weakref.ref(a))

    StreamTimer(timer, schedule, ProfileStats(), workers=0).run(jobs, on_done)
    assert len(seen) == 3 and gc.isenabled()
