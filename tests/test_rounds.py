"""The round scheduler's logic on a stand-in clock that injects bursts (no real timing)."""
import math

import pytest

from harness.rounds import (Flight, RoundScheduler, ScheduleConfig, ScheduleError, paired_ratios, verdict,
                            window_minima)

CFG = ScheduleConfig(slots=4, window_s=1.0, min_gap=2, agree_tol=0.03, min_rounds=4, max_windows=9,
                     anchor_every_s=0.0)


class BurstClock:
    """Simulated time: each round advances it by ``round_s``; a run inside a burst interval is
    ``slowdown`` times slower."""

    def __init__(self, bursts=(), slowdown=1.3, round_s=0.05):
        self.t, self.bursts, self.slowdown, self.round_s = 0.0, list(bursts), slowdown, round_s

    def __call__(self) -> float:
        return self.t

    def factor(self) -> float:
        return self.slowdown if any(a <= self.t < b for a, b in self.bursts) else 1.0

    def flight(self, job, true_ms: float, own_bursts=()) -> Flight:
        def time_round():
            mine = self.slowdown if any(a <= self.t < b for a, b in own_bursts) else 1.0
            runs = [true_ms * self.factor() * mine] * 3
            self.t += self.round_s
            return runs
        return Flight(job, time_round)


def run(clock, jobs, cfg=CFG, anchor_ms=None):
    pending = [clock.flight(name, ms) for name, ms in jobs]
    done = {}

    def refill(free, block):
        out, pending[:] = pending[:free], pending[free:]
        return out

    def finished(f, v, anchor):
        done[f.job] = (v, f, anchor)

    anchor = clock.flight("anchor", anchor_ms) if anchor_ms else None
    RoundScheduler(cfg, clock).run(refill, finished, anchor)
    return done


def test_quiet_machine_agrees_after_the_first_distant_window():
    done = run(BurstClock(), [(f"n{i}", 1.0 + i / 10) for i in range(6)])
    assert len(done) == 6
    for name, (v, f, _) in done.items():
        assert v.agreed and v.label_ms == pytest.approx(1.0 + int(name[1]) / 10)
        assert v.windows == CFG.min_gap + 1  # little effort on a quiet day
        t0, t1 = f.span
        assert t1 - t0 >= CFG.min_gap * CFG.window_s  # rounds spread over seconds, not one burst


def test_rounds_of_one_network_are_spread_between_the_others():
    clock = BurstClock()
    done = run(clock, [(f"n{i}", 1.0) for i in range(4)])
    starts = {name: [t for t, _ in f.rounds] for name, (_, f, _) in done.items()}
    for name, ts in starts.items():
        gaps = [b - a for a, b in zip(ts, ts[1:])]
        assert min(gaps) >= 3 * clock.round_s - 1e-9  # the three others ran in between


@pytest.mark.parametrize("burst", [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (0.5, 1.7)])
def test_a_burst_covering_a_whole_window_never_gives_a_wrong_clean_label(burst):
    done = run(BurstClock([burst], slowdown=1.3), [(f"n{i}", 2.0) for i in range(4)])
    for v, _, _ in done.values():
        assert v.agreed and v.label_ms == pytest.approx(2.0)  # the clean windows carry the label


def test_a_burst_over_the_first_two_windows_keeps_timing_then_agrees():
    done = run(BurstClock([(0.0, 1.98)], slowdown=1.3), [("a", 2.0)])
    v, f, _ = done["a"]
    assert v.agreed and v.label_ms == pytest.approx(2.0)
    assert v.windows == 5  # window 2 is confirmed by window 4: more effort on a busy day


def test_a_burst_longer_than_the_compared_windows_is_the_anchors_job():
    # The limit of the rule, stated: a burst spanning min_gap + 1 windows slows both compared
    # windows alike. The anchor, timed over the same span, is slowed alike too and records it.
    done = run(BurstClock([(0.0, 3.5)], slowdown=1.3), [("a", 2.0)], anchor_ms=1.0)
    v, f, anchor = done["a"]
    assert v.label_ms == pytest.approx(2.6) and anchor == pytest.approx(1.3)
    assert v.label_ms / anchor == pytest.approx(2.0)  # what anchored labels divide out


def test_windows_that_never_agree_are_bounded_and_flagged_noisy():
    # Bursts in every other window: the clean windows are adjacent to no other clean one... and
    # a slowdown that alternates keeps any two distant windows apart.
    bursts = [(w, w + 1.0) for w in range(0, 30, 2)]
    clock = BurstClock(bursts, slowdown=1.2)
    cfg = ScheduleConfig(slots=1, window_s=1.0, min_gap=3, agree_tol=0.03, min_rounds=4, max_windows=7,
                         anchor_every_s=0.0)
    done = run(clock, [("a", 1.0)], cfg)
    v, f, _ = done["a"]
    # Windows 0,2,4,6 are bursts; 1,3,5 clean: 1 and 5 are 4 apart and agree, so this one agrees ...
    assert v.agreed and v.label_ms == pytest.approx(1.0)
    # ... but a network whose minimum is never reproduced is bounded and flagged.
    slow = BurstClock([(0.0, 0.9)], slowdown=1 / 1.2)  # one window faster than all others (an outlier)
    v, f, _ = run(slow, [("b", 1.0)], cfg)["b"]
    assert not v.agreed and v.windows == cfg.max_windows and v.label_ms == pytest.approx(1 / 1.2)


def test_verdict_rule_details():
    rounds = [(0.0, 1.0), (0.5, 1.0), (1.2, 1.0), (1.9, 1.0)]  # windows 0 and 1 only: adjacent
    v = verdict(rounds, CFG)
    assert not v.done and not v.agreed and math.isinf(v.spread)
    v = verdict(rounds + [(2.1, 1.02)], CFG)  # window 2 confirms window 0 within 3%
    assert v.agreed and v.spread == pytest.approx(0.02) and v.window_minima == [1.0, 1.0, 1.02]
    assert not verdict([(0.0, 1.0), (2.5, 1.0)], CFG).agreed  # too few rounds
    assert window_minima([(5.0, 3.0), (5.5, 2.0), (6.2, 4.0)], 1.0) == {0: 2.0, 1: 4.0}
    two = ScheduleConfig(window_s=1.0, min_gap=2, confirmations=2, min_rounds=1)
    assert not verdict([(0.0, 1.0), (2.0, 1.0)], two).agreed  # a second confirmation is needed
    assert verdict([(0.0, 1.0), (2.0, 1.0), (4.0, 1.01)], two).agreed


def test_every_finished_network_gets_the_anchor_over_its_own_span():
    clock = BurstClock([(3.0, 10.0)], slowdown=1.5)
    done = run(clock, [(f"n{i}", 1.0) for i in range(8)], anchor_ms=2.0)
    assert len(done) == 8
    for v, f, anchor in done.values():
        expected = 3.0 if f.span[0] >= 3.0 else 2.0  # anchor slowed alike when the span was all burst
        assert anchor == pytest.approx(expected)


def test_schedule_validation():
    with pytest.raises(ScheduleError, match="slots"):
        ScheduleConfig(slots=0)
    with pytest.raises(ScheduleError, match="window_s"):
        ScheduleConfig(window_s=0)
    with pytest.raises(ScheduleError, match="max_windows"):
        ScheduleConfig(min_gap=3, confirmations=3, max_windows=5)
    with pytest.raises(ScheduleError, match="ballast"):
        ScheduleConfig(ballast=-1)


def test_anchored_windows_agree_through_a_change_of_mood():
    # The machine turns 1.5x slower for good after 1.5 s: raw minima of distant windows never
    # agree again, their ratios to the anchor (slowed alike) do.
    mood = [(1.5, 1e9)]
    v, f, anchor = run(BurstClock(mood, slowdown=1.5), [("a", 2.0)], anchor_ms=1.0)["a"]
    assert v.agreed and v.ratio == pytest.approx(2.0) and v.label_ms / anchor == pytest.approx(2.0)
    raw = ScheduleConfig(**{**CFG.__dict__, "anchored": False})
    v, f, _ = run(BurstClock(mood, slowdown=1.5), [("a", 2.0)], raw, anchor_ms=1.0)["a"]
    assert not v.agreed and v.windows == raw.max_windows  # bounded, and flagged rather than trusted


def _run_with_anchor(clock, flight, anchor, cfg=CFG):
    done, pending = {}, [flight]

    def refill(free, block):
        out, pending[:] = pending[:free], pending[free:]
        return out

    RoundScheduler(cfg, clock).run(refill, lambda f, v, a: done.update(a=(v, a)), anchor)
    return done["a"]


def test_a_burst_on_the_anchor_alone_does_not_lower_the_ratio():
    # Ratios can be wrong both ways (a slow anchor makes a network look fast): the label's ratio is
    # the median over rounds, confirmed by early and late rounds apart in time, not the lowest one.
    clock = BurstClock(slowdown=1.3)
    v, anchor_ms = _run_with_anchor(clock, clock.flight("a", 2.0), clock.flight("anchor", 1.0, own_bursts=[(1.0, 2.0)]))
    assert v.agreed and v.ratio == pytest.approx(2.0)
    assert 2.0 / anchor_ms == pytest.approx(2.0)


@pytest.mark.parametrize("burst", [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (0.5, 1.7)])
def test_a_burst_on_the_network_alone_never_gives_a_wrong_clean_ratio(burst):
    clock = BurstClock(slowdown=1.3)
    v, _ = _run_with_anchor(clock, clock.flight("a", 2.0, own_bursts=[burst]), clock.flight("anchor", 1.0))
    assert not v.agreed or v.ratio == pytest.approx(2.0)
    assert v.ratio == pytest.approx(2.0)  # the burst holds fewer than half of the rounds


def test_a_busy_stretch_that_slows_networks_unevenly_is_flagged_not_passed_as_clean():
    # Busy from 0.7 s to 4 s: the anchor runs 1.5x slower, this network 2.25x (another op mix), so
    # ratios in the busy stretch are off by 1.5x. Early and late rounds never agree in the bound.
    clock = BurstClock([(0.7, 4.0)], slowdown=1.5)
    v, _ = _run_with_anchor(clock, clock.flight("a", 2.0, own_bursts=[(0.7, 4.0)]), clock.flight("anchor", 1.0))
    assert not v.agreed and v.windows == CFG.max_windows


def test_paired_ratios_take_the_anchor_round_nearest_in_time():
    anchor = [(0.0, 1.0), (1.0, 2.0), (2.0, 4.0)]
    rounds = [(0.4, 3.0), (0.6, 3.0), (2.5, 8.0), (-1.0, 1.0)]
    assert paired_ratios(rounds, anchor) == [3.0, 1.5, 2.0, 1.0]


def test_anchored_verdict_compares_early_and_late_rounds_apart_in_time():
    # CFG: window 1 s, min_gap 2, so the early and late rounds lie 1 s or more either side of the middle.
    anchor = [(t / 10, 1.0) for t in range(60)]
    close = [(t / 10, 2.0) for t in range(0, 21)]  # 2.0 s: one round only 1 s before the middle
    v = verdict(close, CFG, anchor)
    assert not v.agreed and math.isinf(v.spread) and v.ratio == pytest.approx(2.0)
    apart = close + [(2.1, 2.02), (2.2, 2.04)]  # early 0.0–0.1 s, late 2.1–2.2 s: medians 2.0 and 2.03
    v = verdict(apart, CFG, anchor)
    assert v.agreed and v.spread == pytest.approx(0.015) and v.ratio == pytest.approx(2.0)
    drifted = close + [(2.1, 2.2), (2.2, 2.2)]  # the late rounds 10% off the median
    assert not verdict(drifted, CFG, anchor).agreed
