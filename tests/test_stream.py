"""harness.stream: the ballast of anchor sessions a streaming ONNX Runtime run opens first."""
import numpy as np

from gnnlat.network import NetworkConfig
from harness.profile import anchor_job
from harness.profile_stats import ProfileStats
from harness.rounds import ScheduleConfig
from harness.stream import StreamTimer, make_payload
from harness.timers import CpuTimer, OnnxRuntimeTimer

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
