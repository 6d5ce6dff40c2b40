"""Streaming timing on the CPU backends: networks prepared ahead by a worker process, timed in
rotation by :class:`harness.rounds.RoundScheduler`, each stored as soon as its windows agree.

Preparing a network (build it, export ONNX) costs more than timing it, so a worker process does it
while the networks in flight are timed; the main process only opens the ONNX Runtime session (or
unpacks the eager network) and times. The anchor is prepared once per run and stays in rotation,
so every sample records the anchor's minimum over its own span of seconds.
"""
from __future__ import annotations

import multiprocessing
import time
import uuid
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from harness.gc_pause import collect_between_batches
from harness.prepare import PackedNetwork, Spec, build_network, worker_init
from harness.profile_stats import ProfileStats
from harness.rounds import Flight, RoundScheduler, ScheduleConfig, Verdict
from harness.samples import to_sample
from harness.store import ProfileStore, Sample, arch_key
from gnnlat.export import onnx_bytes
from harness.timers import OnnxRuntimeTimer, Timer, Timing, optimized_model
from harness.visits import Revisits, merge_visits


@dataclass(frozen=True)
class Job:
    genotype_json: str
    config: dict
    kind: str  # primary | repeat


def make_payload(backend: str, opset: int, genotype_json: str, config: dict) -> object:
    """Worker task: what the main process needs to time a network without building it: the
    optimized ONNX Runtime model and the input (onnxruntime), or the packed network (cpu)."""
    net = build_network(genotype_json, config)
    if backend == "onnxruntime":
        return optimized_model(onnx_bytes(net, opset)), net.example_input().numpy()
    return PackedNetwork.pack(net)


def runner(timer: Timer, payload: object) -> Callable[[], object]:
    """One blocking inference from a payload of :func:`make_payload` (the session opens here)."""
    if isinstance(timer, OnnxRuntimeTimer):
        model, x = payload
        sess = timer.session_from_bytes(model)
        feed = {"input": np.asarray(x)}
        return lambda: sess.run(None, feed)
    return timer.prepare(payload.unpack())


class Preparer:
    """Prepares jobs in order: in ``workers`` spawned processes, or inline (``workers=0``) when a
    slot frees. A broken pool (a worker killed) falls back to inline preparation."""

    def __init__(self, timer: Timer, workers: int):
        self.timer, self.workers = timer, workers
        self.fell_back = False
        self._pool: ProcessPoolExecutor | None = None
        self._queue: deque[tuple[Job, Future | None]] = deque()

    def _args(self, job: Job) -> tuple:
        return self.timer.backend, getattr(self.timer, "opset", 0), job.genotype_json, job.config

    def submit(self, job: Job) -> None:
        if self.workers and not self.fell_back:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=worker_init)
            try:
                self._queue.append((job, self._pool.submit(make_payload, *self._args(job))))
                return
            except BrokenProcessPool:
                self.fell_back = True
        self._queue.append((job, None))

    def __len__(self) -> int:
        return len(self._queue)

    def take(self, block: bool) -> tuple[Job, object] | None:
        """The oldest job's payload if it is ready (or ``block``), else None."""
        if not self._queue:
            return None
        job, fut = self._queue[0]
        if fut is not None and not fut.done() and not block:
            return None
        self._queue.popleft()
        if fut is None:
            return job, make_payload(*self._args(job))
        try:
            return job, fut.result()
        except BrokenProcessPool:
            self.fell_back = True
            return job, make_payload(*self._args(job))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def round_reps(timer: Timer, fn: Callable[[], object]) -> int:
    """Timed runs per round: the timer's warm-up sizes them to ``round_ms`` of work."""
    return timer._reps_for(fn)


class StreamTimer:
    """Times jobs from an iterator with the round scheduler and hands each finished one to
    ``on_done(job, Timing, verdict, extra)``; adds where the time went to ``stats``."""

    def __init__(self, timer: Timer, schedule: ScheduleConfig, stats: ProfileStats, workers: int,
                 preparer: Preparer | None = None):
        self.timer, self.schedule, self.stats = timer, schedule, stats
        # A caller's preparer outlives this run (its process is spawned once, not per run); ours closes with it.
        self._owns_preparer = preparer is None
        self.preparer = preparer if preparer is not None else Preparer(timer, workers)

    def _flight(self, job: object, payload: object, anchor: bool = False) -> Flight:
        """A network (or the anchor) ready for rotation; ``job`` travels as the flight's job."""
        t0 = time.perf_counter()
        fn = runner(self.timer, payload)
        t1 = time.perf_counter()
        reps = round_reps(self.timer, fn)
        self.stats.prep_s += t1 - t0
        self.stats.warmup_s += time.perf_counter() - t1
        return Flight(job, lambda: self._round(fn, reps, anchor))

    def _round(self, fn: Callable[[], object], reps: int, anchor: bool) -> list[float]:
        t0 = time.perf_counter()
        runs = self.timer.clock(fn, reps)
        wall, timed = time.perf_counter() - t0, sum(runs) / 1e3
        if anchor:
            self.stats.anchor_s += min(timed, wall)
        else:
            self.stats.timed_s += min(timed, wall)
        self.stats.warmup_s += max(wall - timed, 0.0)
        return runs

    def run(self, jobs: Iterator[Job | None], on_done: Callable[[Job, Timing, Verdict, dict], None],
            anchor: Spec | None = None) -> None:
        """Time ``jobs`` (and ``anchor``) to the end; everything, warm-ups included, with the timer's
        threads: eager PyTorch would otherwise run on the machine's default, every core."""
        with self.timer.pinned():
            self._run(jobs, on_done, anchor)

    def _run(self, jobs: Iterator[Job | None], on_done: Callable[[Job, Timing, Verdict, dict], None],
             anchor: Spec | None) -> None:
        t0 = time.perf_counter()
        anchor_flight, ballast = None, []
        if anchor:  # prepared once per run
            payload = make_payload(self.timer.backend, getattr(self.timer, "opset", 0), *anchor)
            self.stats.build_s += time.perf_counter() - t0
            anchor_flight = self._flight(None, payload, anchor=True)
            ballast = self._ballast(payload)
        anchor_key = arch_key(*anchor) if anchor else None
        lookahead = self.schedule.slots + max(self.preparer.workers, 1)

        revisits = Revisits(self.schedule)  # jobs between passes (harness.visits)

        def refill(free: int, block: bool) -> list[Flight]:
            t = time.perf_counter()
            out = revisits.due(free)
            while len(self.preparer) < lookahead:
                job = next(jobs, None)  # None: nothing now (or ever)
                if job is None:
                    break
                self.preparer.submit(job)
            while len(out) < free:
                got = self.preparer.take(block and not out)
                if got is None:
                    break
                out.append(revisits.start(*got))
            idle = 0.0
            if block and not out and (nxt := revisits.wait_next()):  # nothing else to time (idle: "other")
                out.append(nxt[0])
                idle = nxt[1]
            self.stats.build_s += time.perf_counter() - t - idle  # preparing (inline) or waiting for the worker
            return [self._flight(vs, vs.payload) for vs in out]  # counts as prep and warm-up

        def finished(f: Flight, v: Verdict, anchor_ms: float | None) -> None:
            visits = f.job
            if not revisits.passed(visits, f, v, anchor_ms):
                return
            f, v, anchor_ms = merge_visits(visits, self.schedule.agree_tol)
            extra = {"agreement": v.to_dict(), "span_s": f.span[1] - f.span[0]}
            if len(visits.done) > 1:
                extra["agreement"]["visits"] = [d[1].to_dict() for d in visits.done]
            if anchor_ms is not None:
                extra.update(anchor_ms=anchor_ms, anchor_key=anchor_key, batch=uuid.uuid4().hex[:12])
            on_done(visits.job, timing_of(f, v), v, extra)
            collect()  # between rounds: a collection inside a timed run would time the collector

        try:
            with collect_between_batches() as collect:
                RoundScheduler(self.schedule).run(refill, finished, anchor_flight)
        finally:
            self.stats.passes += revisits.passes
            self.stats.pass_noise = revisits.count.pass_noise()
            ballast.clear()
            if self._owns_preparer:
                self.preparer.close()

    def _ballast(self, anchor_payload: object) -> list[Callable[[], object]]:
        """ONNX Runtime sessions of the anchor, opened and run once before the first flight; every
        fifth is kept for the run (returned), the rest leave holes between them.

        Why: a session opened in memory that released sessions left behind runs slower than one
        opened in untouched memory, and the effect grows over a run's first few dozen networks, so
        a run's first flights read ~3% fast against the anchor (docs/results.md, "The first
        flights, found"). Opening the run in memory already laid out like that of a run in
        progress puts the first flights on the terms of the later ones."""
        if not isinstance(self.timer, OnnxRuntimeTimer) or not self.schedule.ballast:
            return []
        t0 = time.perf_counter()
        opened = [runner(self.timer, anchor_payload) for _ in range(self.schedule.ballast)]
        for fn in opened:
            fn()
        self.stats.prep_s += time.perf_counter() - t0
        return opened[::5]


def timing_of(f: Flight, v: Verdict) -> Timing:
    """The stored statistics of a finished flight: the label is the minimum over all its rounds,
    ``noisy`` says its windows never agreed."""
    runs = np.array([t for r in f.runs for t in r], dtype=float)
    minima = sorted(ms for _, ms in f.rounds)
    return Timing(latency_ms=float(v.label_ms), median_ms=float(np.median(runs)),
                  p90_ms=float(np.quantile(runs, 0.9)), cv=float(runs.std() / runs.mean()),
                  rounds=len(f.runs), reps=min(len(r) for r in f.runs),
                  round_spread=float((minima[-1] - minima[0]) / minima[0]), noisy=not v.agreed,
                  round_minima=minima, timed_ms=float(runs.sum()))


def relative_diffs(repeats: list[tuple[float, float]]) -> dict:
    """``{"n", "median", "p90"}`` of |repeat − primary| / primary over (repeat, primary) pairs."""
    diffs = [abs(r - p) / p for r, p in repeats]
    if not diffs:
        return {"n": 0, "median": None, "p90": None}
    return {"n": len(diffs), "median": float(np.median(diffs)), "p90": float(np.percentile(diffs, 90))}


def store_sample(store: ProfileStore, timer: Timer, fp: dict, job: Job, timing: Timing, extra: dict) -> Sample:
    sample = to_sample(job.genotype_json, job.config, timing, timer, fp, job.kind, extra)
    store.add([sample])
    return sample


def time_interleaved(timer: Timer, specs: list[Spec], schedule: ScheduleConfig, anchor: Spec | None = None,
                     stats: ProfileStats | None = None) -> list[tuple[Timing, Verdict, dict]]:
    """Time a few networks (and the anchor) together until each one's windows agree: what a single
    measurement gets instead of one burst-prone timing. Prepared inline: there are few of them."""
    stats = stats if stats is not None else ProfileStats()
    out: dict[int, tuple[Timing, Verdict, dict]] = {}
    jobs = iter([Job(g, c, f"measure-{i}") for i, (g, c) in enumerate(specs)])

    def on_done(job: Job, timing: Timing, verdict: Verdict, extra: dict) -> None:
        out[int(job.kind.split("-")[1])] = (timing, verdict, extra)

    sched = ScheduleConfig(**{**schedule.__dict__, "slots": max(len(specs), 1)})
    StreamTimer(timer, sched, stats, workers=0).run(jobs, on_done, anchor)
    return [out[i] for i in range(len(specs))]
