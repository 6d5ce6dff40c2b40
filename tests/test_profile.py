import os
import random

import pytest
import torch

from gnnlat.network import NetworkConfig
from gnnlat.errors import GnnlatError
from gnnlat.published import DARTS_V2
from harness.prepare import NetworkBuilder, PackedNetwork, build_network, default_build_workers
from harness.profile import VARY_COST_LIMIT, ProfileConfig, architecture_stream, run_profile, vary_config
from harness.profile_stats import ProfileStats, timed_window_s
from harness.store import ProfileStore
from harness.rounds import ScheduleConfig
from harness.timers import CpuTimer, TimerSettings, summarize
from tests.cli_helpers import wait_until

TINY = NetworkConfig(C=4, layers=3, resolution=8)
FAST = TimerSettings(rounds=2, round_ms=3.0, warmup_ms=1.0, max_retries=0)
# Short windows and networks prepared inline: the scheduler's logic at test speed.
QUICK = {"schedule": ScheduleConfig(window_s=0.01, anchor_every_s=0.0), "build_workers": 0}


def _keys(path):
    with ProfileStore(path, create=False) as s:
        return [x.arch_key for x in s.samples()], s.count(kind="repeat")


def test_stream_is_a_pure_function_of_the_seed():
    a = architecture_stream(ProfileConfig(n=1, out="x", seed=3, vary_config=True))
    b = architecture_stream(ProfileConfig(n=1, out="x", seed=3, vary_config=True))
    c = architecture_stream(ProfileConfig(n=1, out="x", seed=4, vary_config=True))
    first = [next(a) for _ in range(10)]
    assert first == [next(b) for _ in range(10)]
    assert first != [next(c) for _ in range(10)]


def test_vary_config_stays_within_the_cost_limit_and_varies():
    rng = random.Random(0)
    base = NetworkConfig()
    limit = VARY_COST_LIMIT * base.C ** 2 * base.layers * base.resolution ** 2 * base.batch
    configs = [vary_config(rng, base) for _ in range(300)]
    assert all(c.C ** 2 * c.layers * c.resolution ** 2 * c.batch <= limit for c in configs)
    for key in ("C", "layers", "resolution", "batch"):
        assert len({getattr(c, key) for c in configs}) >= 3
    # A base smaller than the search config still gets the full ranges (no endless rejection).
    tiny = [vary_config(rng, NetworkConfig(C=4, layers=3, resolution=8, in_channels=1)) for _ in range(50)]
    assert all(c.in_channels == 1 for c in tiny) and len({c.C for c in tiny}) >= 3


def test_run_profile_fills_resumes_without_duplicates_and_repeats_later(tmp_path):
    out = str(tmp_path / "p.db")
    timer = CpuTimer(settings=FAST)
    cfg = ProfileConfig(**QUICK, n=6, out=out, config=TINY, repeat_frac=0.5, repeat_delay=2, batch_archs=2)
    stats = ProfileStats()
    summary = run_profile(cfg, timer, stats=stats)
    keys, repeats = _keys(out)
    assert summary["samples"] == 6 and len(keys) == len(set(keys)) == 6
    assert repeats >= 1  # re-timed once samples were old enough
    assert 0 < stats.untimed_frac <= stats.overhead_frac < 1 and stats.archs_per_hour > 0

    # Same command again: nothing to do. A larger n continues the same sequence.
    run_profile(cfg, timer)
    assert _keys(out)[0] == keys
    run_profile(ProfileConfig(**QUICK, n=9, out=out, config=TINY, repeat_frac=0.5, repeat_delay=2, batch_archs=2), timer)
    more, _ = _keys(out)
    assert more[:6] == keys and len(more) == len(set(more)) == 9

    # A fresh run with the same seed samples exactly the same architectures.
    fresh = str(tmp_path / "fresh.db")
    run_profile(ProfileConfig(**QUICK, n=9, out=fresh, config=TINY, repeat_frac=0.0, batch_archs=3), timer)
    assert sorted(_keys(fresh)[0]) == sorted(more)


def test_profile_config_validation():
    with pytest.raises(ValueError, match="n must be at least 1"):
        ProfileConfig(n=0, out="x")
    with pytest.raises(GnnlatError, match="n must be at least 1"):  # the CLI's one-line error
        ProfileConfig(n=0, out="x")
    with pytest.raises(ValueError, match="build_workers"):
        ProfileConfig(n=1, out="x", build_workers=-1)
    with pytest.raises(ValueError, match="repeat_frac"):
        ProfileConfig(n=1, out="x", repeat_frac=2)


def test_timed_window_is_the_sum_of_every_timed_run():
    a = summarize([[1.0, 2.0], [1.5, 1.1]], reps=2, agree_tol=0.5)
    b = summarize([[3.0], [3.0], [4.0]], reps=1, agree_tol=0.5)
    assert timed_window_s([a, b]) == pytest.approx((5.6 + 10.0) / 1e3)


def test_stats_split_the_wall_time_per_architecture(tmp_path):
    stats = ProfileStats()
    summary = run_profile(ProfileConfig(**QUICK, n=4, out=str(tmp_path / "p.db"), config=TINY, repeat_frac=0.0),
                          CpuTimer(settings=FAST), stats=stats)
    per = summary["time_per_arch_ms"]
    assert per == stats.per_arch_ms() and summary["build_workers"] == 0  # prepared inline (QUICK)
    assert all(v >= 0 for v in per.values()) and per["timed"] > 0 and per["anchor"] > 0 and per["build"] > 0
    assert sum(v for k, v in per.items() if k != "total") == pytest.approx(per["total"])
    assert per["total"] == pytest.approx(1e3 * stats.wall_s / 4)


def test_picking_repeats_does_not_reread_the_profile_every_batch(tmp_path, monkeypatch):
    reads = []
    real = ProfileStore.samples
    monkeypatch.setattr(ProfileStore, "samples", lambda self, *a, **k: reads.append(a) or real(self, *a, **k))
    cfg = ProfileConfig(**QUICK, n=12, out=str(tmp_path / "p.db"), config=TINY, repeat_frac=0.5, repeat_delay=2,
                        batch_archs=2, anchor=False)
    summary = run_profile(cfg, CpuTimer(settings=FAST))
    assert summary["repeats"] >= 3
    assert len(reads) == 1  # once at the start; the run keeps its own list after that


def test_default_build_workers():
    # One preparing worker on the cpu backends when there is a core for it; several on triton.
    assert default_build_workers("cpu") == default_build_workers("onnxruntime") <= 1
    assert default_build_workers("onnxruntime", threads=os.cpu_count() or 1) == 0  # timing takes every core
    assert default_build_workers("triton") >= 1


def test_packed_network_unpacks_to_the_same_network():
    torch.manual_seed(0)
    net = build_network(DARTS_V2.to_json(), NetworkConfig(C=8, layers=5, resolution=16, batch=2).to_dict())
    packed = PackedNetwork.pack(net)
    back = packed.unpack()
    assert type(back) is type(net) and back.config == net.config and back.genotype == net.genotype
    assert [n for n, _ in back.named_parameters()] == [n for n, _ in net.named_parameters()]
    assert all(isinstance(p, torch.nn.Parameter) and p.requires_grad for p in back.parameters())
    for (name, a), (_, b) in zip(net.state_dict().items(), back.state_dict().items()):
        assert a.dtype == b.dtype and torch.equal(a, b), name
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(back.eval()(x), net.eval()(x))


def test_packed_network_unpacks_onto_a_device_in_one_copy():
    net = build_network(DARTS_V2.to_json(), NetworkConfig(C=8, layers=5, resolution=16).to_dict())
    moved = []

    def to_device(buf: torch.Tensor) -> torch.Tensor:
        moved.append(buf)
        return buf.clone()  # a new home: the network's tensors must live in what comes back

    back = PackedNetwork.pack(net).unpack(to_device)
    assert len(moved) == 1 and moved[0].dtype == torch.uint8
    home = moved[0].untyped_storage().data_ptr()
    storages = {t.untyped_storage().data_ptr() for t in [*back.parameters(), *back.buffers()]}
    assert len(storages) == 1 and home not in storages  # every tensor a view of the moved copy
    for (name, a), (_, b) in zip(net.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), name


def test_builder_inline_builds_lazily_in_order():
    other = NetworkConfig(C=6, layers=3, resolution=8)
    specs = [(DARTS_V2.to_json(), TINY.to_dict()), (DARTS_V2.to_json(), other.to_dict())]
    with NetworkBuilder(workers=0) as builder:
        nets = builder.submit(specs)()
    assert [n.config.C for n in nets] == [4, 6]


def test_builder_builds_inline_until_its_workers_are_up():
    specs = [(DARTS_V2.to_json(), TINY.to_dict())]
    with NetworkBuilder(workers=1) as builder:
        assert not builder.ready()
        builder.submit(specs)()
        assert builder.unpack_s == 0  # built here: nothing came from a worker to unpack
        wait_until(builder.ready)
        assert [n.config.C for n in builder.submit(specs)()] == [4] and builder.unpack_s > 0


def test_a_broken_builder_pool_falls_back_to_building_inline():
    specs = [(DARTS_V2.to_json(), TINY.to_dict())]
    with NetworkBuilder(workers=1) as builder:
        assert [n.config.C for n in builder.submit(specs)()] == [4]  # inline, while the worker starts
        wait_until(builder.ready)
        assert [n.config.C for n in builder.submit(specs)()] == [4]  # by the worker
        assert builder.unpack_s > 0
        assert not builder.fell_back
        for process in list(builder._pool._processes.values()):  # a worker dies (OOM killer, say)
            process.kill()
            process.join()
        nets = builder.submit(specs)()
        assert [n.config.C for n in nets] == [4] and builder.fell_back
        assert [n.config.C for n in builder.submit(specs)()] == [4]


def test_onnxruntime_samples_record_the_written_graph(tmp_path):
    """The preparing worker writes ONNX with gnnlat.onnx_graph; each sample says so (earlier
    profiles timed the traced graph and lack the key)."""
    from harness.timers import OnnxRuntimeTimer

    out = tmp_path / "ort.db"
    cfg = ProfileConfig(n=2, out=str(out), config=TINY, repeat_frac=0.0, **{**QUICK, "build_workers": 1})
    run_profile(cfg, OnnxRuntimeTimer(1, FAST))
    with ProfileStore(out, create=False) as store:
        samples = list(store.samples())
    assert len(samples) == 2 and all(s.extra["onnx_graph"] == "written" for s in samples)


class _ThreadNotingTimer(CpuTimer):
    """A real eager timer that notes torch's intra-op thread count at every timed round."""

    def __init__(self, threads: int, settings: TimerSettings):
        super().__init__(threads, settings)
        self.seen: set[int] = set()

    def clock(self, fn, reps):
        self.seen.add(torch.get_num_threads())
        return super().clock(fn, reps)


def test_eager_rounds_run_on_the_timers_threads_not_the_machines_default(tmp_path):
    """A 1-thread eager profile timed with torch's default of every core until the streaming loop
    pinned the threads (its fingerprint said 1)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        timer = _ThreadNotingTimer(1, FAST)
        run_profile(ProfileConfig(n=2, out=str(tmp_path / "p.db"), config=TINY, repeat_frac=0.0, **QUICK), timer)
        assert torch.get_num_threads() == 2  # restored after the run
    finally:
        torch.set_num_threads(saved)
    assert timer.seen == {1}
