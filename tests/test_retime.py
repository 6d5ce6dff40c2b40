import math
import statistics

import pytest

from gnnlat.network import NetworkConfig
from workflows.records import ProfileError, load_records, noise_floor
from gnnlat.published import DARTS_V2
from harness.profile import ProfileConfig, run_profile
from harness.retime import RetimeConfig, RetimeError, retime_targets, run_retime
from harness.store import ProfileStore, arch_key, fingerprint_id
from harness.rounds import ScheduleConfig
from harness.timers import CpuTimer, TimerSettings

TINY = NetworkConfig(C=4, layers=3, resolution=8)
OTHER = NetworkConfig(C=6, layers=3, resolution=8)
FAST = TimerSettings(rounds=2, round_ms=3.0, warmup_ms=1.0, max_retries=0)
# Short windows and networks prepared inline: the scheduler's logic at test speed.
QUICK = {"schedule": ScheduleConfig(window_s=0.01, anchor_every_s=0.0), "build_workers": 0}


@pytest.fixture()
def profiled(tmp_path):
    """A store with 4 primaries at TINY and 2 at OTHER, no repeats."""
    out = str(tmp_path / "p.db")
    timer = CpuTimer(settings=FAST)
    run_profile(ProfileConfig(**QUICK, n=4, out=out, config=TINY, repeat_frac=0.0, batch_archs=2), timer)
    run_profile(ProfileConfig(**QUICK, n=6, out=out, config=OTHER, seed=1, repeat_frac=0.0, batch_archs=2), timer)
    return out, timer


def _repeats(path, timer):
    with ProfileStore(path, create=False) as s:
        return s.repeat_counts(timer.backend, fingerprint_id(timer.fingerprint()))


def test_retime_fills_every_primary_once_and_resumes_with_nothing_left(profiled):
    path, timer = profiled
    summary = run_retime(RetimeConfig(**QUICK, path=path, config=TINY, batch_archs=3), timer)
    assert summary["retimed"] == summary["selected"] == 6
    assert sorted(_repeats(path, timer).values()) == [1] * 6
    assert summary["noise_floor"]["n"] == 6
    again = run_retime(RetimeConfig(**QUICK, path=path, config=TINY), timer)  # resumed: nothing to do
    assert again["retimed"] == 0 and sorted(_repeats(path, timer).values()) == [1] * 6
    more = run_retime(RetimeConfig(**QUICK, path=path, times=3, config=TINY), timer)
    assert more["retimed"] == 12 and sorted(_repeats(path, timer).values()) == [3] * 6


def test_retime_parts_select_by_config(profiled):
    path, timer = profiled
    assert run_retime(RetimeConfig(**QUICK, path=path, part="vary", config=TINY), timer)["retimed"] == 2
    with ProfileStore(path, create=False) as s:
        fp = fingerprint_id(timer.fingerprint())
        vary_keys = {x.arch_key for x in s.samples() if x.config["C"] == OTHER.C}
        assert set(s.repeat_counts(timer.backend, fp)) == vary_keys
        # Pass order: everything short of k repeats comes before anything short of k + 1.
        todo, selected = retime_targets(s, timer.backend, fp, RetimeConfig(**QUICK, path=path, times=2, config=TINY))
    assert selected == 6 and len(todo) == 4 + 6
    assert {x.arch_key for x in todo[:4]}.isdisjoint(vary_keys)
    assert run_retime(RetimeConfig(**QUICK, path=path, part="fixed", config=TINY), timer)["retimed"] == 4


def test_records_take_the_minimum_over_all_timings(profiled):
    path, timer = profiled
    run_retime(RetimeConfig(**QUICK, path=path, times=2, config=TINY), timer)
    with ProfileStore(path, create=False) as s:
        every = s.samples(kind=None)
    fastest = {}
    for x in every:
        fastest[x.arch_key] = min(fastest.get(x.arch_key, float("inf")), x.latency_ms)
    primary = {x.arch_key: x.latency_ms for x in every if x.kind == "primary"}
    records = {r.key: r.latency_ms for r in load_records(path, labels="min")}
    alone = {r.key: r.latency_ms for r in load_records(path, use_repeats=False, labels="min")}
    assert records == fastest
    assert alone == primary
    assert all(records[k] <= alone[k] for k in records)


def test_retime_errors(tmp_path, profiled):
    path, timer = profiled
    with pytest.raises(RetimeError, match="times must be at least 1"):
        RetimeConfig(**QUICK, path=path, times=0)
    with pytest.raises(RetimeError, match="part must be one of"):
        RetimeConfig(**QUICK, path=path, part="some")
    # Only the device that profiled the file can re-time it.
    with pytest.raises(RetimeError, match="no primaries"):
        run_retime(RetimeConfig(**QUICK, path=path), CpuTimer(threads=2, settings=FAST))


def test_every_timing_carries_its_batch_anchor(profiled):
    path, timer = profiled
    run_retime(RetimeConfig(**QUICK, path=path, config=TINY, batch_archs=3), timer)
    with ProfileStore(path, create=False) as s:
        every = s.samples(kind=None)
    assert len(every) == 12
    batches = {}
    for x in every:
        # The anchor runs at the config the run was given: OTHER for the second profiling run.
        at = OTHER if x.kind == "primary" and x.config["C"] == OTHER.C else TINY
        assert x.extra["anchor_key"] == arch_key(DARTS_V2.to_json(), at.to_dict())
        assert x.extra["anchor_ms"] > 0
        batches.setdefault(x.extra["batch"], set()).add(x.extra["anchor_ms"])
    # The cpu backends stream: each sample has the anchor's minimum over its own span, its own batch.
    assert len(batches) == 12 and all(len(v) == 1 for v in batches.values())


def test_anchored_labels_divide_out_each_batch_drift(profiled):
    path, timer = profiled
    run_retime(RetimeConfig(**QUICK, path=path, times=2, config=TINY), timer)
    with ProfileStore(path, create=False) as s:
        every = s.samples(kind=None)
    anchors = {}  # anchor key -> batch -> anchor ms; each anchor has its own reference
    for x in every:
        anchors.setdefault(x.extra["anchor_key"], {})[x.extra["batch"]] = x.extra["anchor_ms"]
    assert len(anchors) == 2
    ref = {k: statistics.median(v.values()) for k, v in anchors.items()}
    expected = {}
    for x in every:
        expected.setdefault(x.arch_key, []).append(x.latency_ms * ref[x.extra["anchor_key"]] / x.extra["anchor_ms"])
    records = load_records(path)  # auto: every architecture has anchored timings
    assert {r.label for r in records} == {"anchored"}
    for r in records:
        key = arch_key(r.genotype.to_json(), r.config.to_dict())
        assert math.isclose(r.latency_ms, statistics.median(expected[key]), rel_tol=1e-12)
    floor = noise_floor(path, labels="anchored")
    assert floor["n"] == 12 and 0 <= floor["median"] <= floor["p90"]


def test_auto_labels_fall_back_to_min_unless_every_architecture_is_anchored(tmp_path):
    out = str(tmp_path / "p.db")
    timer = CpuTimer(settings=FAST)
    run_profile(ProfileConfig(**QUICK, n=2, out=out, config=TINY, repeat_frac=0.0, anchor=False), timer)
    assert {r.label for r in load_records(out)} == {"min"}
    with pytest.raises(ProfileError, match="no anchored timing"):
        load_records(out, labels="anchored")
    run_retime(RetimeConfig(**QUICK, path=out, config=TINY, anchor=False), timer)
    with ProfileStore(out, create=False) as s:
        assert not any("anchor_ms" in x.extra for x in s.samples(kind=None))
    run_profile(ProfileConfig(**QUICK, n=3, out=out, config=TINY, repeat_frac=0.0), timer)  # one anchored
    assert {r.label for r in load_records(out)} == {"min"}
    run_retime(RetimeConfig(**QUICK, path=out, times=2, config=TINY), timer)  # now all have one
    assert {r.label for r in load_records(out)} == {"anchored"}
    with pytest.raises(ProfileError, match="labels must be one of"):
        load_records(out, labels="mean")


@pytest.mark.parametrize("bad", [-1.0, 0, "fast", True, None])
def test_bad_anchor_data_is_a_clean_error(tmp_path, bad):
    out = str(tmp_path / "p.db")
    timer = CpuTimer(settings=FAST)
    run_profile(ProfileConfig(**QUICK, n=2, out=out, config=TINY, repeat_frac=0.0), timer)
    with ProfileStore(out) as s:
        x = s.samples()[0]
        x.kind, x.id, x.extra = "repeat", None, {**x.extra, "anchor_ms": bad}
        s.add([x])
    with pytest.raises(ProfileError, match="invalid anchor latency"):
        load_records(out)
