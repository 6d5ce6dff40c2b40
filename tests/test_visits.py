"""harness.visits: a network timed in passes far apart, its label the center of the passes."""
import math

import pytest

from gnnlat.network import NetworkConfig
from harness.profile import anchor_job
from harness.profile_stats import ProfileStats
from harness.rounds import Flight, ScheduleConfig, ScheduleError, Verdict
from harness.stream import Job, StreamTimer
from harness.timers import OnnxRuntimeTimer, TimerSettings
from harness.visits import PassCount, Revisits, Visits, center, merge_visits

TINY = NetworkConfig(C=4, layers=3, resolution=8)


def _pass(t0: float, minimum: float, ratio: float | None, agreed: bool = True) -> tuple:
    flight = Flight("job", lambda: [], rounds=[(t0, minimum), (t0 + 1, minimum * 1.01)],
                    runs=[[minimum, minimum * 1.2], [minimum * 1.01]])
    verdict = Verdict(True, agreed, minimum, 0.01, 2, [ratio or minimum], ratio)
    return flight, verdict, (minimum / ratio if ratio else minimum * 0.5)


def _visits(*passes: tuple) -> Visits:
    v = Visits("job", payload=None)
    for p in passes:
        v.add(*p)
    return v


def test_one_pass_is_its_own_timing():
    flight, verdict, anchor_ms = merge_visits(_visits(_pass(0, 2.0, 1.25)), agree_tol=0.03)
    assert verdict.ratio == 1.25 and anchor_ms == pytest.approx(1.6) and len(flight.rounds) == 2


def test_two_passes_take_the_geometric_mean_of_their_ratios_and_the_lowest_minimum():
    flight, verdict, anchor_ms = merge_visits(_visits(_pass(0, 2.0, 1.0), _pass(40, 2.3, 1.21)), agree_tol=0.15)
    assert verdict.ratio == pytest.approx(1.1)  # sqrt(1.0 * 1.21)
    assert verdict.label_ms == 2.0 and anchor_ms == pytest.approx(2.0 / 1.1)
    assert verdict.window_minima == [1.0, 1.21] and verdict.windows == 4
    assert [t for t, _ in flight.rounds] == [0, 1, 40, 41] and len(flight.runs) == 4
    assert verdict.spread == pytest.approx(0.1) and verdict.agreed


def test_the_center_is_the_median_of_pairwise_means():
    assert center([1.0]) == 1.0 and center([1.0, 2.0]) == 1.5  # two: their mean
    assert center([0.0, 0.0, 3.0]) == pytest.approx(0.75)  # means 0, 0, 3, 0, 1.5, 1.5: median 0.75
    assert center([0.0, 0.1, 0.2, 0.3]) == pytest.approx(0.15)  # symmetric: the mean
    assert center([0.0, 0.01, 0.02, 1.0, 0.015]) < 0.02  # one far outlier among five barely moves it


def test_passes_that_disagree_are_flagged_and_one_outlier_among_four_is_outvoted():
    _, two, _ = merge_visits(_visits(_pass(0, 2.0, 1.0), _pass(40, 2.3, 1.21)), agree_tol=0.03)
    assert not two.agreed  # each 10% from their center: more than 3%
    burst = _pass(40, 2.6, 1.3)
    _, three, _ = merge_visits(_visits(_pass(0, 2.0, 1.0), burst, _pass(80, 2.0, 1.01)), 0.03)
    assert not three.agreed  # one burst in three passes pulls the center: flagged, not passed as clean
    four = _visits(_pass(0, 2.0, 1.0), burst, _pass(80, 2.0, 1.01), _pass(120, 2.0, 1.02))
    _, verdict, _ = merge_visits(four, 0.03)
    assert verdict.agreed and verdict.ratio == pytest.approx(1.0175, abs=1e-3)  # three of four agree
    assert verdict.spread == pytest.approx(1.3 / verdict.ratio - 1)
    _, calm, _ = merge_visits(_visits(_pass(0, 2.0, 1.0, agreed=False), _pass(40, 2.0, 1.02)), 0.03)
    assert calm.agreed  # one pass agreed within itself, and both lie within 1% of their center
    _, neither, _ = merge_visits(_visits(_pass(0, 2.0, 1.0, False), _pass(40, 2.0, 1.02, False)), 0.03)
    assert not neither.agreed


def test_without_an_anchor_the_label_is_the_lowest_minimum():
    _, verdict, anchor_ms = merge_visits(_visits(_pass(0, 2.0, None), _pass(40, 2.2, None)), agree_tol=0.1)
    assert verdict.ratio is None and verdict.label_ms == 2.0 and anchor_ms == 1.0
    assert verdict.spread == pytest.approx(math.sqrt(2.2 / 2.0) - 1)


def test_a_finished_pass_keeps_its_rounds_but_not_its_session():
    v = _visits(_pass(0, 2.0, 1.0))
    with pytest.raises(RuntimeError, match="afresh"):
        v.done[0][0].time_round()


def test_schedule_rejects_no_visits_and_a_negative_gap():
    with pytest.raises(ScheduleError):
        ScheduleConfig(visits=0)
    with pytest.raises(ScheduleError):
        ScheduleConfig(visit_gap_s=-1.0)


def test_a_stream_times_every_network_in_separate_passes_a_gap_apart():
    """Real ONNX Runtime sessions, tiny networks: each job is stored once, after two passes whose
    rounds lie at least the gap apart, with both passes in its agreement record."""
    timer = OnnxRuntimeTimer(1, TimerSettings(rounds=2, round_ms=1.0, warmup_ms=1.0))
    gap = 0.3
    schedule = ScheduleConfig(slots=2, window_s=0.01, min_rounds=2, max_windows=3, ballast=0, visits=2,
                              visit_gap_s=gap)
    spec = anchor_job(TINY)
    jobs = iter([Job(*spec, f"primary-{i}") for i in range(3)])
    done = []

    def on_done(job, timing, verdict, extra) -> None:
        done.append((job.kind, timing, verdict, extra))

    StreamTimer(timer, schedule, ProfileStats(), workers=0).run(jobs, on_done, anchor=spec)
    assert sorted(k for k, *_ in done) == ["primary-0", "primary-1", "primary-2"]
    for _, timing, verdict, extra in done:
        passes = extra["agreement"]["visits"]
        assert len(passes) == 2 and verdict.window_minima == [p["anchor_ratio"] for p in passes]
        assert verdict.ratio == pytest.approx(math.sqrt(passes[0]["anchor_ratio"] * passes[1]["anchor_ratio"]))
        assert extra["anchor_ms"] == pytest.approx(timing.latency_ms / verdict.ratio)
        assert extra["span_s"] >= gap and timing.rounds >= 4


def _count_after(diff: float, n: int, **schedule) -> PassCount:
    count = PassCount(ScheduleConfig(**schedule))
    for _ in range(n):
        count.record(_visits(_pass(0, 2.0, 1.0), _pass(40, 2.0, 1.0 + diff)))
    return count


def test_fixed_visits_ignore_the_noise():
    count = _count_after(0.10, 20, visits=3)
    assert count.needed(Visits("job", None, 1)) == 3


def _mean_passes(count: PassCount, jobs: int = 1000) -> float:
    return sum(count.needed(Visits("job", None, i)) for i in range(jobs)) / jobs


def test_auto_passes_follow_the_runs_pass_to_pass_noise():
    auto = dict(visits=1, max_visits=6, visit_target=0.02, visit_shared=0.0)
    assert _count_after(0.03, 5, **auto).needed(Visits("job", None, 1)) == 2  # too few pairs yet: two
    noisy = _count_after(0.03, 20, **auto)
    assert noisy.pass_noise() == pytest.approx(0.03)
    assert noisy.passes_for(0.03) == pytest.approx(2.25)  # (3% / 2%)^2
    assert {noisy.needed(Visits("job", None, i)) for i in range(100)} == {2, 3}
    assert _mean_passes(noisy) == pytest.approx(2.25, abs=0.01)  # a quarter of the jobs get a third
    assert _count_after(0.10, 20, **auto).needed(Visits("job", None, 1)) == 6  # capped at max_visits
    quiet = _count_after(0.01, 20, **auto)
    assert {quiet.needed(Visits("job", None, i)) for i in range(100)} == {1, 2}
    assert _mean_passes(quiet) == pytest.approx(1.25, abs=0.01)  # one job in four keeps the noise measured


def test_the_shared_error_asks_for_more_passes_on_a_busy_machine_only():
    count = _count_after(0.03, 20, visits=1, max_visits=8, visit_target=0.016, visit_shared=0.3)
    assert count.passes_for(0.03) == pytest.approx(1 / ((0.016 / 0.03) ** 2 - 0.09))  # 5.1, not 2.8 without it
    assert count.passes_for(0.016) == pytest.approx(1 / 0.91)  # quiet: barely more than one
    assert count.passes_for(0.06) == math.inf  # a floor the passes cannot reach: as many as allowed
    assert count.needed(Visits("job", None, 1)) in (5, 6)
    assert _count_after(0.06, 20, visits=1, max_visits=8).needed(Visits("job", None, 1)) == 8
    with pytest.raises(ScheduleError):
        ScheduleConfig(visit_shared=1.0)


def test_the_noise_estimate_forgets_the_start_of_a_long_run():
    count = _count_after(0.10, 60, visits=1, max_visits=6)
    for _ in range(60):
        count.record(_visits(_pass(0, 2.0, 1.0), _pass(40, 2.0, 1.005)))
    assert count.pass_noise() == pytest.approx(0.005)


def test_a_profile_in_passes_stores_each_network_once_with_its_passes_and_reports_them(tmp_path):
    """run_profile with two passes a short gap apart: primaries and repeats are merged timings, the
    anchored labels load, and the summary gives the passes per architecture and their noise."""
    from harness.profile import ProfileConfig, run_profile
    from harness.store import ProfileStore
    from workflows.records import load_records

    out = tmp_path / "p.db"
    schedule = ScheduleConfig(window_s=0.01, visits=2, visit_gap_s=0.2, ballast=0)
    cfg = ProfileConfig(n=6, out=str(out), config=TINY, repeat_frac=0.5, repeat_delay=2, schedule=schedule,
                        build_workers=0)
    summary = run_profile(cfg, OnnxRuntimeTimer(1, TimerSettings(rounds=2, round_ms=1.0, warmup_ms=1.0)))
    with ProfileStore(out, create=False) as store:
        samples = store.samples(kind="primary") + store.samples(kind="repeat")
    assert summary["samples"] == 6 and summary["repeats"] >= 1 and len(samples) == 6 + summary["repeats"]
    assert all(len(s.extra["agreement"]["visits"]) == 2 for s in samples)
    assert summary["passes_per_arch"] == 2.0 and summary["pass_noise"] is None  # fewer than 10 pairs
    assert len(load_records(out)) == 6 and all(r.label == "anchored" for r in load_records(out))


def test_jobs_that_finish_a_pass_together_come_back_apart():
    revisits = Revisits(ScheduleConfig(visits=3, visit_gap_s=30.0))
    jobs = [revisits.start(f"job-{i}", None) for i in range(8)]
    for v in jobs:
        assert not revisits.passed(v, *_pass(0, 2.0, 1.0))
    gaps = [revisits.gap(v) for v in jobs]
    assert all(30.0 <= g < 60.0 for g in gaps) and len({round(g, 3) for g in gaps}) == 8
    spread = sorted(gaps)
    assert max(b - a for a, b in zip(spread, spread[1:])) < 10.0  # spread over the range, not bunched
    assert [v.due for v in revisits.waiting] == sorted(v.due for v in jobs)  # kept in the order they fall due
