"""Round scheduling: many networks in flight, short rounds in rotation, a label only once separate
time windows agree.

Interference on a shared machine comes in bursts longer than one network's few rounds and shorter
than a few seconds. A timing whose rounds all fall inside one burst is too slow and still looks
clean (its rounds agree with each other). So each network's rounds are spread over seconds by
rotating through many networks at once, its rounds are grouped into time windows of ``window_s``,
and its label is accepted only when the window holding its minimum is confirmed by another window
at least ``min_gap`` windows away (never an adjacent one, which a single burst could share).
Interference only ever slows a run, so a burst over one window raises that window's minimum; it
cannot lower another's. A network whose windows never agree within ``max_windows`` is finished
anyway and flagged noisy: the effort is bounded and adapts to the machine, little when it is quiet.

With an anchor in rotation (the default) the rule reads ratios instead: each round's minimum over
that of the anchor round nearest in time, whose median is the label's ratio, accepted once the
early and the late rounds (``min_gap`` windows apart) agree on it. A slower machine slows the
anchor too, so the ratio holds through a change of mood that raw minima never agree across.
Per-round pairing and the plain median were chosen on recorded traces of every round, over a
window-minimum rule that first waited for quiet windows (figures in docs/results.md).

The scheduler knows nothing of networks or stores: it rotates :class:`Flight` objects through a
``time_round`` callable and asks for more with ``refill``; the clock is injectable, so tests can
drive it with bursts of their own making.
"""
from __future__ import annotations

import bisect
import math
import time
from dataclasses import dataclass, field
from statistics import median
from typing import Callable, Sequence

from gnnlat.errors import GnnlatError


class ScheduleError(GnnlatError, ValueError):
    """Bad round-scheduling settings."""


@dataclass(frozen=True)
class ScheduleConfig:
    slots: int = 8  # networks in flight besides the anchor: they set how far apart one's rounds are
    window_s: float = 0.6  # a network's rounds are grouped into time windows this long
    min_gap: int = 2  # compared windows are at least this many windows apart (never adjacent)
    confirmations: int = 1  # distant windows that must agree with the best one
    agree_tol: float = 0.03  # ... within this relative difference
    min_rounds: int = 4
    max_windows: int = 9  # a network spanning this many windows without agreement is flagged noisy
    anchor_every_s: float = 0.0  # the anchor's rounds: at most this often (0: every rotation)
    anchored: bool = True  # with an anchor, rounds agree on their ratio to it (drift divided out)
    ballast: int = 40  # ONNX Runtime: sessions of the anchor opened before the first flight (harness.stream)
    visits: int = 1  # separate passes per network, their ratios' center the label (harness.visits) ...
    max_visits: int = 0  # ... up to this many, as the run's pass-to-pass noise asks (0: exactly visits)
    visit_target: float = 0.016  # ... to bring the labels' expected median difference to this
    visit_shared: float = 0.3  # ... given this share of a pass's error in common to one network's passes
    visit_gap_s: float = 30.0  # each pass starts 1-2 times this long after the previous one ended (staggered)

    def __post_init__(self) -> None:
        if self.slots < 1 or self.min_gap < 1 or self.confirmations < 1 or self.min_rounds < 1:
            raise ScheduleError("schedule needs slots, min_gap, confirmations and min_rounds >= 1")
        if self.ballast < 0:
            raise ScheduleError("schedule needs ballast >= 0")
        if self.visits < 1 or 0 < self.max_visits < self.visits or not self.visit_gap_s >= 0:
            raise ScheduleError("schedule needs visits >= 1, max_visits 0 or >= visits, and visit_gap_s >= 0")
        if not (self.visit_target > 0 and 0 <= self.visit_shared < 1):
            raise ScheduleError("schedule needs visit_target > 0 and 0 <= visit_shared < 1")
        if not (self.window_s > 0 and self.agree_tol > 0 and self.anchor_every_s >= 0):
            raise ScheduleError("schedule needs window_s > 0, agree_tol > 0 and anchor_every_s >= 0")
        if self.max_windows < self.min_gap * self.confirmations + 1:
            raise ScheduleError("max_windows must leave room for the confirming windows")


@dataclass
class Verdict:
    """Where a network's timing stands. ``label_ms``: the minimum over all rounds; ``spread``: how
    far the confirming window's minimum lies above it, or with an anchor the furthest group's
    median ratio from the overall one (inf while none is far enough away)."""

    done: bool
    agreed: bool
    label_ms: float
    spread: float
    windows: int  # time windows its rounds span so far
    window_minima: list[float]  # per window: the minimum (ms), or the median of its ratios to the anchor
    ratio: float | None = None  # with an anchor: the median ratio of its rounds to the anchor's

    def to_dict(self) -> dict:
        return {"agreed": self.agreed, "spread": self.spread if math.isfinite(self.spread) else None,
                "windows": self.windows, "window_minima": self.window_minima, "anchor_ratio": self.ratio}


def window_minima(rounds: Sequence[tuple[float, float]], window_s: float) -> dict[int, float]:
    """Round minima ``(start time s, min ms)`` grouped by time window since the first round."""
    t0 = rounds[0][0]
    out: dict[int, float] = {}
    for t, ms in rounds:
        w = int((t - t0) // window_s)
        out[w] = min(out.get(w, math.inf), ms)
    return out


def paired_ratios(rounds: Sequence[tuple[float, float]], anchor: Sequence[tuple[float, float]]) -> list[float]:
    """Each round's minimum over the minimum of the anchor round that started nearest to it in time.

    A machine that runs slower for a while slows the network and the anchor alike, so the ratio
    holds where raw minima drift apart; pairing each round with its nearest anchor round (not one
    window's minima) keeps the two under the same conditions, a rotation apart at most."""
    out = []
    for t, ms in rounds:  # the anchor's rounds are in time order: a search, not a copy per call
        i = bisect.bisect_left(anchor, t, key=lambda a: a[0])
        j = min((k for k in (i - 1, i) if 0 <= k < len(anchor)), key=lambda k: abs(anchor[k][0] - t))
        out.append(ms / anchor[j][1])
    return out


def verdict(rounds: Sequence[tuple[float, float]], cfg: ScheduleConfig,
            anchor: Sequence[tuple[float, float]] | None = None) -> Verdict:
    """The agreement rule. Without an anchor: the best window must be confirmed by
    ``confirmations`` windows, each at least ``min_gap`` windows from it and from each other, all
    within ``agree_tol`` of it. With an ``anchor``'s rounds: :func:`_anchored_verdict`."""
    if not rounds:
        return Verdict(False, False, math.inf, math.inf, 0, [])
    span = int((rounds[-1][0] - rounds[0][0]) // cfg.window_s) + 1
    label = min(ms for _, ms in rounds)
    if anchor:
        return _anchored_verdict(rounds, anchor, cfg, span, label)
    wins = window_minima(rounds, cfg.window_s)
    best_w = min(wins, key=wins.__getitem__)
    best = wins[best_w]
    chosen = [best_w]
    for w in sorted(wins, key=wins.__getitem__):
        if len(chosen) > cfg.confirmations:
            break
        if all(abs(w - c) >= cfg.min_gap for c in chosen):
            chosen.append(w)
    spread = (wins[chosen[-1]] - best) / best if len(chosen) > cfg.confirmations else math.inf
    agreed = spread <= cfg.agree_tol and len(rounds) >= cfg.min_rounds
    done = agreed or span >= cfg.max_windows
    return Verdict(done, agreed, label, spread, span, [wins[w] for w in sorted(wins)])


def _anchored_verdict(rounds: Sequence[tuple[float, float]], anchor: Sequence[tuple[float, float]],
                      cfg: ScheduleConfig, span: int, label: float) -> Verdict:
    """Agreement on ratios to the anchor (:func:`paired_ratios`). A burst on the network raises a
    ratio, one on the anchor lowers it, so the label's ratio is the *median* over all rounds. The
    span is cut into ``confirmations + 1`` groups of rounds (early and late, for one), each
    ``min_gap`` windows from the next; the ratio holds once every group's median lies within
    ``agree_tol`` of it. A burst over one group, or over the rounds between groups, moves a group
    or the median and is timed through or flagged. Each group needs two rounds, and
    ``min_rounds`` in all. ``window_minima`` reports the median ratio per window."""
    ratios = paired_ratios(rounds, anchor)
    m = float(median(ratios))
    times = [t for t, _ in rounds]
    gap, c = cfg.min_gap * cfg.window_s, cfg.confirmations
    length = (times[-1] - times[0] - c * gap) / (c + 1)  # of each group
    groups = [[r for t, r in zip(times, ratios) if -1e-9 <= t - times[0] - j * (length + gap) <= length + 1e-9]
              for j in range(c + 1)] if length >= 0 else []
    spread = math.inf
    if groups and all(len(g) >= 2 for g in groups):
        spread = max(abs(float(median(g)) / m - 1) for g in groups)
    agreed = spread <= cfg.agree_tol and len(rounds) >= cfg.min_rounds
    per_window: dict[int, list[float]] = {}
    for t, r in zip(times, ratios):
        per_window.setdefault(int((t - times[0]) // cfg.window_s), []).append(r)
    return Verdict(agreed or span >= cfg.max_windows, agreed, label, spread, span,
                   [float(median(per_window[w])) for w in sorted(per_window)], m)


@dataclass
class Flight:
    """One network in rotation: the caller's ``job``, the callable that times one round of it
    (returns every run's ms), and its rounds so far."""

    job: object
    time_round: Callable[[], list[float]]
    rounds: list[tuple[float, float]] = field(default_factory=list)  # (start s, round min ms)
    runs: list[list[float]] = field(default_factory=list)

    def record(self, t: float, runs: list[float]) -> None:
        self.rounds.append((t, min(runs)))
        self.runs.append(runs)

    @property
    def span(self) -> tuple[float, float]:
        return self.rounds[0][0], self.rounds[-1][0]


def min_between(flight: Flight, t0: float, t1: float) -> float | None:
    """The lowest round minimum of ``flight`` started within [t0, t1]; when none did, that of its
    round nearest to the interval (None when it has no rounds)."""
    inside = [ms for t, ms in flight.rounds if t0 <= t <= t1]
    if inside:
        return min(inside)
    mid = (t0 + t1) / 2
    return min(flight.rounds, key=lambda r: abs(r[0] - mid))[1] if flight.rounds else None


Refill = Callable[[int, bool], list[Flight]]  # (free slots, must return one unless exhausted)
Finished = Callable[[Flight, Verdict, "float | None"], None]  # flight, its verdict, anchor ms over its span


class RoundScheduler:
    """Rotates flights (and an optional anchor that stays in rotation for the whole run) through
    short rounds; a flight leaves when its verdict is done and ``finished`` hears of it, with the
    anchor's minimum over the flight's span. Free slots are refilled between rotations."""

    def __init__(self, cfg: ScheduleConfig, clock: Callable[[], float] = time.perf_counter):
        self.cfg, self.clock = cfg, clock
        self.rotations = 0

    def run(self, refill: Refill, finished: Finished, anchor: Flight | None = None) -> None:
        flights = refill(self.cfg.slots, True)
        while flights:
            order = flights + ([anchor] if anchor and self._anchor_due(anchor, flights) else [])
            k = self.rotations % len(order)  # no network always runs right after a particular other
            for f in order[k:] + order[:k]:
                f.record(self.clock(), f.time_round())
            self.rotations += 1
            still = []
            use_anchor = anchor is not None and self.cfg.anchored
            for f in flights:
                v = verdict(f.rounds, self.cfg, anchor.rounds if use_anchor else None)
                if v.done:
                    finished(f, v, self._anchor_ms(f, v, anchor))
                else:
                    still.append(f)
            flights = still + refill(self.cfg.slots - len(still), not still)

    def _anchor_ms(self, f: Flight, v: Verdict, anchor: Flight | None) -> float | None:
        """The anchor figure a finished flight keeps: with anchored agreement, the anchor latency
        that makes ``label / anchor`` the agreed ratio; else the anchor's minimum over its span."""
        if anchor is None:
            return None
        if v.ratio:
            return v.label_ms / v.ratio
        return min_between(anchor, *f.span)

    def _anchor_due(self, anchor: Flight, flights: list[Flight]) -> bool:
        """Time the anchor in this rotation? When its last round is ``anchor_every_s`` old, or a
        flight has no anchor round within its span yet (so every sample gets an anchor figure)."""
        if not anchor.rounds:
            return True
        last = anchor.rounds[-1][0]
        return self.clock() - last >= self.cfg.anchor_every_s or any(
            f.rounds and f.rounds[0][0] > last for f in flights)
