"""Visits: a network timed in separate passes far apart in time, its label the center of theirs.

On a shared machine one network's ratio to the anchor drifts by a few percent over tens of
seconds, and the rounds of one pass (a few seconds) all see the same drift: more rounds in a pass
do not remove it. Passes ``visit_gap_s`` apart see drifts that mostly no longer correlate, so the
center of ``K`` passes' ratios has about ``1/sqrt(K)`` of one pass's error; a part of the error
(~30% of one pass's, measured) is shared by one network's passes and stays (docs/results.md,
"Passes 30 s apart" and "Passes for the shared error"). Each pass opens the network afresh from
the payload the worker prepared once.
"""
from __future__ import annotations

import bisect
import itertools
import math
import time
from collections import deque
from dataclasses import dataclass, field
from statistics import median

from harness.rounds import Flight, ScheduleConfig, Verdict

GOLDEN = 0.618034  # steps of this (mod 1) spread job indices evenly over [0, 1)


@dataclass
class Visits:
    """One job's passes so far: what it needs to be timed again, and what each pass gave."""

    job: object
    payload: object
    index: int = 0  # the job's place in the run: it spreads extra passes and gaps over jobs
    done: list[tuple[Flight, Verdict, float | None]] = field(default_factory=list)  # flight, verdict, anchor ms
    due: float = 0.0  # the next pass may start at this clock time

    def add(self, flight: Flight, verdict: Verdict, anchor_ms: float | None) -> None:
        """Keep a pass's rounds, not its flight: that holds the open session (MBs) until the next pass."""
        self.done.append((Flight(self.job, _spent, flight.rounds, flight.runs), verdict, anchor_ms))


def _spent() -> list[float]:
    raise RuntimeError("a finished pass is not timed again; the next pass opens the network afresh")


def visit_value(v: Verdict) -> float:
    """What a pass measured: its ratio to the anchor, or its minimum (ms) without one."""
    return v.ratio if v.ratio else v.label_ms


def merge_visits(visits: Visits, agree_tol: float) -> tuple[Flight, Verdict, float | None]:
    """The passes as one timing: every round of every pass; with an anchor, the label's ratio is the
    :func:`center` of the passes' ratios (on logs: ratios multiply), without one the lowest minimum,
    as within a pass. Agreed when some pass agreed within itself and the passes lie within
    ``agree_tol`` of their center at the median; ``spread`` is the furthest pass's distance. One
    pass is returned as it is."""
    if len(visits.done) == 1:
        return visits.done[0]
    flights, verdicts, anchors = zip(*visits.done)
    merged = Flight(visits.job, _spent,
                    rounds=[r for f in flights for r in f.rounds], runs=[r for f in flights for r in f.runs])
    values = [visit_value(v) for v in verdicts]
    mid = math.exp(center([math.log(x) for x in values]))
    deviations = [abs(x / mid - 1) for x in values]
    spread = max(deviations)
    label = min(v.label_ms for v in verdicts)
    anchored = all(v.ratio for v in verdicts)
    agreed = any(v.agreed for v in verdicts) and median(deviations) <= agree_tol
    verdict = Verdict(True, agreed, label, spread, sum(v.windows for v in verdicts), values,
                      mid if anchored else None)
    if anchored:
        return merged, verdict, label / mid
    known = [a for a in anchors if a is not None]  # raw minima: the lowest, as within one pass
    return merged, verdict, (min(known) if known else None)


def center(xs: list[float]) -> float:
    """The Hodges-Lehmann estimate: the median of the means of every pair (each value with itself
    too). Pass errors are Gaussian to their 95th percentile (measured), where it is 95% as
    efficient as the mean, and the plain median of 3 or 5 passes barely beats that of 2 or 4; yet
    one pass hit by a burst among four or more is outvoted."""
    return float(median((a + b) / 2 for i, a in enumerate(xs) for b in xs[i:]))


@dataclass
class PassCount:
    """How many passes a job gets: ``visits``, or with ``max_visits`` above it, as many as the run's
    own pass-to-pass noise asks for.

    Two labels of ``K`` passes each differ at the median by about ``d * sqrt(1/K + s^2)``, where
    ``d`` is the median difference between single passes and ``s`` (``visit_shared``) the share
    of a pass's error that one job's passes have in common; so ``K = 1 / ((visit_target/d)^2 -
    s^2)``, within [visits, max_visits]. ``d`` is measured over the run's last ``window`` jobs. A
    fractional ``K`` gives some jobs one pass more than others (in golden-ratio steps by job), so
    a quiet machine's 1.3 costs 1.3 passes, not 2. So that ``d`` stays measured, at least one job
    in ``probe_every`` gets two; until ``min_pairs`` differences are in, every job gets two."""

    schedule: ScheduleConfig
    window: int = 60
    min_pairs: int = 10
    probe_every: int = 4
    diffs: deque = field(init=False)

    def __post_init__(self) -> None:
        self.diffs = deque(maxlen=self.window)

    def record(self, visits: Visits) -> None:
        """Note the difference between a job's last two passes (call after each pass)."""
        if len(visits.done) >= 2:
            a, b = (visit_value(v) for _, v, _ in visits.done[-2:])
            self.diffs.append(abs(b / a - 1))

    def pass_noise(self) -> float | None:
        """``d``: the median difference between consecutive passes of one job (None: too few yet)."""
        return float(median(self.diffs)) if len(self.diffs) >= self.min_pairs else None

    def needed(self, visits: Visits) -> int:
        """Passes ``visits`` should have in all, by what the run has measured so far."""
        s = self.schedule
        most = max(s.max_visits, s.visits)
        if most == s.visits:
            return s.visits
        d = self.pass_noise()
        mean_k = 2.0 if d is None else max(self.passes_for(d), 1.0 + 1.0 / self.probe_every)
        if mean_k >= most:
            return most
        k = math.floor(mean_k) + ((GOLDEN * visits.index) % 1.0 < mean_k % 1.0)  # <= most: mean_k < most
        return max(k, s.visits)

    def passes_for(self, d: float) -> float:
        """Passes (a fraction) that bring two labels' expected median difference to the target."""
        s = self.schedule
        left = (s.visit_target / d) ** 2 - s.visit_shared ** 2 if d > 0 else math.inf
        return 1.0 / left if left > 0 else math.inf


@dataclass
class Revisits:
    """A run's jobs between passes, in the order they fall due, and how many passes each needs."""

    schedule: ScheduleConfig
    count: PassCount = field(init=False)
    waiting: deque = field(default_factory=deque)
    _indices: itertools.count = field(default_factory=itertools.count)
    passes: int = 0  # finished so far

    def __post_init__(self) -> None:
        self.count = PassCount(self.schedule)

    def start(self, job: object, payload: object) -> Visits:
        return Visits(job, payload, next(self._indices))

    def due(self, free: int) -> list[Visits]:
        """Up to ``free`` jobs whose next pass may start now."""
        out, now = [], time.perf_counter()
        while self.waiting and len(out) < free and self.waiting[0].due <= now:
            out.append(self.waiting.popleft())
        return out

    def wait_next(self) -> tuple[Visits, float] | None:
        """Sleep until the earliest waiting job is due: it, and the seconds slept (None: none waits)."""
        if not self.waiting:
            return None
        idle = max(self.waiting[0].due - time.perf_counter(), 0.0)
        time.sleep(idle)
        return self.waiting.popleft(), idle

    def passed(self, visits: Visits, flight: Flight, verdict: Verdict, anchor_ms: float | None) -> bool:
        """Note a finished pass; True when the job has all its passes, else it waits for the next."""
        visits.add(flight, verdict, anchor_ms)
        self.passes += 1
        self.count.record(visits)
        if len(visits.done) >= self.count.needed(visits):
            return True
        visits.due = time.perf_counter() + self.gap(visits)
        bisect.insort(self.waiting, visits, key=lambda v: v.due)
        return False

    def gap(self, visits: Visits) -> float:
        """Seconds until a job's next pass: ``visit_gap_s`` stretched by up to 2x, differently per job
        and pass (golden-ratio steps), so jobs that finished a pass together come back apart and do
        not share their neighbours in rotation again."""
        return self.schedule.visit_gap_s * (1.0 + (GOLDEN * (visits.index + len(visits.done))) % 1.0)
