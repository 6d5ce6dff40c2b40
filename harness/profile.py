"""The sampling-and-timing loop that fills a profile store; resumable and safe to run twice at once.

Architecture i of a run is a pure function of (seed, i), so re-running the same command walks the
same sequence, skips what the store already holds for this device and backend, and stops once the
store has ``n`` primary samples. Each interleaved batch is written in one transaction: a SIGKILL
loses at most the batch in flight.

On the triton backend the networks of the next batch are built by worker processes while the
current batch is timed (:class:`harness.prepare.NetworkBuilder`); what is profiled does not depend
on it.
"""
from __future__ import annotations

import math
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterator

from gnnlat.errors import GnnlatError
from gnnlat.genotype import Genotype, random_genotype
from gnnlat.network import Network, NetworkConfig
from gnnlat.published import DARTS_V2
from harness.gc_pause import collect_between_batches
from harness.prepare import PREFETCH_BACKENDS, NetworkBuilder, Spec, build_network, default_build_workers
from harness.profile_stats import ProfileStats, timed_window_s
from harness.rounds import ScheduleConfig
from harness.samples import to_sample
from harness.store import ProfileStore, Sample, arch_key, fingerprint_id
from harness.stream import Job, StreamTimer, store_sample
from harness.timers import PhaseTimes, Timer

# --vary-config ranges: wide, but bounded so one architecture times well under a second.
VARY_C = (8, 12, 16, 20, 24, 32)
VARY_LAYERS = (5, 6, 8, 9, 11, 14)
VARY_RESOLUTION = (16, 24, 32, 40, 48)
VARY_BATCH = (1, 2, 4, 8)
VARY_COST_LIMIT = 8.0  # relative to the search config, in C² · layers · resolution² · batch

GPU_BATCH_ARCHS = 8  # architectures per interleaved batch on triton (4 on the CPU backends)


class ProfileConfigError(GnnlatError, ValueError):
    """A profiling request with bad options."""


@dataclass(kw_only=True)
class RunOptions:
    """What a profiling run and a re-timing run share: grouping, the anchor, network preparation,
    the round scheduler and the time limit."""

    batch_archs: int | None = None  # triton: networks timed together in rounds; None: default_batch_archs
    anchor: bool = True  # time the anchor network (DARTS V2 at the run's config) alongside (``anchor_job``)
    build_workers: int | None = None  # processes building networks ahead; None: default_build_workers
    time_limit_s: float | None = None  # stop after the batch that passes this many seconds
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)  # cpu backends: the round scheduler

    def check_options(self, error: type[Exception]) -> None:
        check_time_limit(self.time_limit_s, error)
        if self.batch_archs is not None and self.batch_archs < 1:
            raise error("batch_archs must be at least 1")
        if self.build_workers is not None and self.build_workers < 0:
            raise error(f"build_workers must be >= 0, got {self.build_workers}")


@dataclass
class ProfileConfig(RunOptions):
    n: int
    out: str
    seed: int = 0
    config: NetworkConfig = field(default_factory=NetworkConfig)
    vary_config: bool = False
    repeat_frac: float = 0.1
    repeat_delay: int = 20  # a repeat re-times a sample at least this many primaries later
    # Time these architectures (in order) instead of random ones: calibration chooses what it measures.
    architectures: tuple[tuple[Genotype, NetworkConfig], ...] | None = None

    def __post_init__(self) -> None:
        self.check_options(ProfileConfigError)
        if self.n < 1:
            raise ProfileConfigError(f"n must be at least 1, got {self.n}")
        if not 0 <= self.repeat_frac <= 1:
            raise ProfileConfigError(f"repeat_frac must be within [0, 1], got {self.repeat_frac}")


def _cost(c: NetworkConfig) -> int:
    return c.C ** 2 * c.layers * c.resolution ** 2 * c.batch


def vary_config(rng: random.Random, base: NetworkConfig) -> NetworkConfig:
    """A random config from the --vary-config ranges (same in_channels and classes as ``base``),
    costing at most VARY_COST_LIMIT times the larger of ``base`` and the DARTS search config."""
    limit = VARY_COST_LIMIT * max(_cost(base), _cost(NetworkConfig()))
    for _ in range(10_000):
        c = NetworkConfig(C=rng.choice(VARY_C), layers=rng.choice(VARY_LAYERS),
                          in_channels=base.in_channels, resolution=rng.choice(VARY_RESOLUTION),
                          batch=rng.choice(VARY_BATCH), classes=base.classes)
        if _cost(c) <= limit:
            return c
    raise ProfileConfigError("no vary-config sample fits the cost limit")  # unreachable with the ranges above


def architecture_stream(cfg: ProfileConfig) -> Iterator[tuple[Genotype, NetworkConfig]]:
    """Architecture i of the run: random for (seed, i), or ``cfg.architectures[i]`` (then repeated, so
    the loop's "next untaken one" always ends; ``n`` counts what the store holds besides)."""
    if cfg.architectures is not None:
        while True:
            yield from cfg.architectures
    rng = random.Random(cfg.seed)
    while True:
        genotype = random_genotype(rng)
        config = vary_config(rng, cfg.config) if cfg.vary_config else cfg.config
        yield genotype, config




def anchor_job(config: NetworkConfig) -> tuple[str, dict]:
    """The anchor: DARTS V2 at ``config``, timed alongside every batch when anchoring is on.

    On a shared machine most of the eager-cpu noise is drift that slows all networks of a batch
    alike. The anchor's timing in each batch measures that drift, so each sample's ``extra`` keeps
    it (``anchor_ms``) and ``workflows.records.load_records`` can divide it out.
    """
    return DARTS_V2.to_json(), config.to_dict()


@dataclass(frozen=True)
class Anchor:
    """The anchor network of a run, prepared once: on a GPU its CUDA graph stays for every batch's
    rounds, where building and capturing it again per batch cost as much as one more network."""

    key: str  # arch_key of its spec, kept in every sample's extra
    run: Callable[[], object]  # from timer.prepare

    @classmethod
    def prepare(cls, timer: Timer, spec: Spec | None, stats: ProfileStats) -> "Anchor | None":
        """``spec``'s network prepared on ``timer`` (None without an anchor); the time counts as prep."""
        if spec is None:
            return None
        t0 = time.perf_counter()
        with timer.pinned():
            run = timer.prepare(build_network(*spec))
        stats.prep_s += time.perf_counter() - t0
        return cls(arch_key(*spec), run)


def default_batch_archs(backend: str) -> int:
    """Architectures per interleaved batch. Every batch also times the anchor; on a GPU, where
    drift is slow, a batch twice as large halves the anchor's share of the time."""
    return GPU_BATCH_ARCHS if backend in PREFETCH_BACKENDS else 4


# ---- timing batches into the store --------------------------------------------------------------


def time_into_store(store: ProfileStore, timer: Timer, fp: dict, jobs: list[tuple[str, dict, str]],
                    stats: ProfileStats, anchor: Anchor | None = None,
                    networks: Callable[[], list[Network]] | None = None) -> list[Sample]:
    """Time ``(genotype_json, config, kind)`` jobs together in interleaved rounds and store them as
    one transaction (a kill loses at most this batch); adds the batch to ``stats`` (not its wall
    time: the caller's loop measures that) and returns the samples stored.

    With an ``anchor`` it is timed in the same rounds; every stored sample then records the
    anchor's latency, its key and a batch id in ``extra``. ``networks`` yields the built networks
    of the jobs (e.g. prefetched by a :class:`NetworkBuilder`); by default they are built here,
    right before they are timed.
    """
    samples = time_batch(timer, fp, jobs, stats, anchor, networks)
    t1 = time.perf_counter()
    store.add(samples)
    stats.store_s += time.perf_counter() - t1
    return samples


def time_batch(timer: Timer, fp: dict, jobs: list[tuple[str, dict, str]], stats: ProfileStats,
               anchor: Anchor | None = None, networks: Callable[[], list[Network]] | None = None,
               extra: dict | None = None) -> list[Sample]:
    """:func:`time_into_store` without the store: the batch's samples (each with ``extra`` too), for
    a caller that stores them elsewhere (a Ray timing worker hands them to its driver)."""
    t0 = time.perf_counter()
    nets = networks() if networks else [build_network(g, c) for g, c, _ in jobs]
    stats.build_s += time.perf_counter() - t0
    phases = PhaseTimes()
    timings = timer.time_many(nets, phases, [anchor.run] if anchor else [])
    del nets
    extra = dict(extra or {})
    if anchor:
        extra.update(anchor_ms=timings[-1].latency_ms, anchor_key=anchor.key, batch=uuid.uuid4().hex[:12])
    samples = [to_sample(g, c, t, timer, fp, kind, extra) for (g, c, kind), t in zip(jobs, timings)]
    stats.timed += len(jobs)
    stats.timed_s += timed_window_s(timings[:len(jobs)])
    stats.anchor_s += timed_window_s(timings[len(jobs):])
    stats.prep_s += phases.prep_s
    stats.warmup_s += phases.warmup_s
    return samples


@dataclass
class _Primaries:
    """This device's primaries: their keys, and the samples in insertion order (repeat candidates).

    Read in full once, then extended with what this run stores; read again only when the store's
    count says another writer added some. Re-reading every sample once per batch made a run O(n²).
    """

    keys: set[str]
    samples: list[Sample]

    @classmethod
    def read(cls, store: ProfileStore, backend: str, fp_id: str) -> "_Primaries":
        samples = store.samples(backend, fp_id)
        return cls({s.arch_key for s in samples}, samples)

    def extend(self, stored: list[Sample], store: ProfileStore, backend: str, fp_id: str) -> "_Primaries":
        for s in stored:
            if s.kind == "primary" and s.arch_key not in self.keys:
                self.keys.add(s.arch_key)
                self.samples.append(s)
        # Keys stored are unique per (backend, device) and ours are all in the store, so equal
        # counts mean equal sets.
        if store.count(backend, fp_id) != len(self.keys):
            return _Primaries.read(store, backend, fp_id)
        return self


def run_profile(cfg: ProfileConfig, timer: Timer, progress: Callable[[int, int], None] | None = None,
                stats: ProfileStats | None = None) -> dict:
    """Fill ``cfg.out`` up to ``cfg.n`` primary samples for this timer's device; returns a summary.

    One batch ahead is always planned (and, with builder processes, being built) while the current
    one is timed; repeats are picked right before their batch is timed, from what is stored then,
    so the profile's content is the same with any number of builders.
    """
    stats = stats or ProfileStats()
    if timer.backend not in PREFETCH_BACKENDS:
        return _run_streaming(cfg, timer, progress, stats)
    workers = cfg.build_workers if cfg.build_workers is not None else default_build_workers(timer.backend, timer.threads)
    size = cfg.batch_archs or default_batch_archs(timer.backend)
    fp = timer.fingerprint()
    fp_id = fingerprint_id(fp)
    rng = random.Random(f"repeats-{cfg.seed}")
    t_start = time.perf_counter()
    with ProfileStore(cfg.out) as store, NetworkBuilder(workers, timer.to_device) as builder, \
            collect_between_batches() as collect:
        done = _Primaries.read(store, timer.backend, fp_id)
        stream = architecture_stream(cfg)
        if progress:
            progress(len(done.keys), cfg.n)

        def repeats(primaries: list[Sample], planned: int) -> list[Sample]:
            t0 = time.perf_counter()
            chosen = _pick_repeats(store, timer.backend, fp_id, primaries, cfg, rng, planned)
            stats.store_s += time.perf_counter() - t0
            return chosen

        plan = _Plan.next(stream, done.keys, set(), size, cfg.n, builder, repeats(done.samples, 0))
        anchor = Anchor.prepare(timer, anchor_job(cfg.config) if cfg.anchor and plan.batch else None, stats)
        while plan.batch:
            # The next batch's repeats are picked now, with it, so the builders make their networks
            # ahead too: picked at timing time, one cost a build the timing process waited for.
            ahead = _Plan.next(stream, done.keys, plan.keys(), size, cfg.n, builder,
                               repeats(done.samples, len(plan.repeats)))
            stored = time_into_store(store, timer, fp, plan.jobs(), stats, anchor, plan.pending)
            _count_repeats(stats, plan.repeats, stored)
            t0 = time.perf_counter()
            # The store also holds what another process may have added to the same file.
            done = done.extend(stored, store, timer.backend, fp_id)
            stats.store_s += time.perf_counter() - t0
            if progress:
                progress(len(done.keys), cfg.n)
            collect()
            if out_of_time(t_start, cfg.time_limit_s):
                break
            plan = ahead.still_due(done.keys, cfg.n) or _Plan.next(stream, done.keys, set(), size, cfg.n, builder, [])
        summary = store.summary()
    stats.wall_s += time.perf_counter() - t_start
    stats.unpack_s += builder.unpack_s
    summary.update(**stats.report(), fingerprint_id=fp_id, batch_archs=size, build_workers=workers,
                   build_fell_back=builder.fell_back, cold_capture_failures=timer.cold_capture_failures,
                   time_limit_reached=out_of_time(t_start, cfg.time_limit_s))
    return summary


def _count_repeats(stats: ProfileStats, primaries: list[Sample], stored: list[Sample]) -> None:
    """Pair each stored repeat with the primary it re-times: the run's live noise floor."""
    by_key = {s.arch_key: s for s in primaries}
    for s in stored:
        if s.kind == "repeat" and s.arch_key in by_key:
            stats.add_repeat(s, by_key[s.arch_key])


def _run_streaming(cfg: ProfileConfig, timer: Timer, progress: Callable[[int, int], None] | None,
                   stats: ProfileStats) -> dict:
    """The CPU backends' loop: networks stream through the round scheduler (``harness.rounds``),
    repeats are interleaved with the primaries from early on (a live noise floor), and every
    network is stored on its own once its windows agree (a kill loses only those in flight)."""
    workers = cfg.build_workers if cfg.build_workers is not None else default_build_workers(timer.backend, timer.threads)
    fp = timer.fingerprint()
    fp_id = fingerprint_id(fp)
    anchor = anchor_job(cfg.config) if cfg.anchor else None
    t_start = time.perf_counter()
    with ProfileStore(cfg.out) as store:
        state = _StreamState(_Primaries.read(store, timer.backend, fp_id), store.count(timer.backend, fp_id, "repeat"))
        if progress:
            progress(len(state.done.keys), cfg.n)

        def on_done(job, timing, verdict, extra) -> None:
            t0 = time.perf_counter()
            sample = store_sample(store, timer, fp, job, timing, extra)
            state.stored(sample, store, timer.backend, fp_id, stats)
            stats.timed += 1
            stats.store_s += time.perf_counter() - t0
            if progress:
                progress(len(state.done.keys), cfg.n)

        jobs = (Job(*job) if job else None for job in state.jobs(cfg, t_start))
        StreamTimer(timer, cfg.schedule, stats, workers).run(jobs, on_done, anchor)
        summary = store.summary()
    stats.wall_s += time.perf_counter() - t_start
    summary.update(**stats.report(), fingerprint_id=fp_id, slots=cfg.schedule.slots, build_workers=workers,
                   build_fell_back=False, time_limit_reached=out_of_time(t_start, cfg.time_limit_s))
    return summary


@dataclass
class _StreamState:
    """What the streaming profile loop knows: the stored primaries, the repeats, what is in flight."""

    done: _Primaries
    repeats: int  # stored or in flight
    planned: set[str] = field(default_factory=set)

    def stored(self, sample: Sample, store: ProfileStore, backend: str, fp_id: str, stats: ProfileStats) -> None:
        key = sample.arch_key
        if sample.kind == "repeat":
            primary = next((s for s in reversed(self.done.samples) if s.arch_key == key), None)
            if primary:
                stats.add_repeat(sample, primary)
            return
        self.planned.discard(key)
        self.done = self.done.extend([sample], store, backend, fp_id)

    def jobs(self, cfg: ProfileConfig, t_start: float) -> Iterator[tuple[str, dict, str] | None]:
        """New primaries until the profile is due to hold ``n``, with a repeat of an older sample
        whenever the repeats fall behind ``repeat_frac``; ends early at the time limit. Yields None
        for "nothing now, ask again" while the last networks are in flight and repeats may follow."""
        rng = random.Random(f"repeats-{cfg.seed}")
        stream = architecture_stream(cfg)
        yielded = False  # every run times one architecture at least
        while not (yielded and out_of_time(t_start, cfg.time_limit_s)):
            repeat = self._repeat(cfg, rng)
            if repeat:
                yield repeat
            if len(self.done.keys | self.planned) < cfg.n:
                for g, c in _next_batch(stream, lambda k: k in self.done.keys or k in self.planned, 1, 1):
                    self.planned.add(arch_key(g.to_json(), c.to_dict()))
                    yielded = True
                    yield g.to_json(), c.to_dict(), "primary"
            elif self.planned:
                yield None
            elif not repeat:
                return

    def _repeat(self, cfg: ProfileConfig, rng: random.Random) -> tuple[str, dict, str] | None:
        """A repeat of a sample ``repeat_delay`` primaries old, when the repeats are behind."""
        old = self.done.samples[: max(len(self.done.samples) - cfg.repeat_delay, 0)]
        due = cfg.repeat_frac * max(len(self.done.samples), min(len(self.done.keys | self.planned), cfg.n))
        if not old or self.repeats >= due:
            return None
        self.repeats += 1
        s = rng.choice(old)
        return s.genotype_json, s.config, "repeat"


def check_time_limit(limit_s: float | None, error: type[Exception]) -> None:
    if limit_s is not None and not (math.isfinite(limit_s) and limit_s > 0):
        raise error(f"time limit must be a positive number of seconds, got {limit_s}")


def out_of_time(t_start: float, limit_s: float | None) -> bool:
    """Whether a run started at ``t_start`` (perf_counter) has used up its time limit, if any. A
    limit ends a run cleanly between batches (after one batch at least), with its summary, unlike
    a kill."""
    return limit_s is not None and time.perf_counter() - t_start >= limit_s


@dataclass
class _Plan:
    """A batch of new architectures and repeats chosen ahead of its timing, and its networks in
    the making."""

    batch: list[tuple[Genotype, NetworkConfig]]
    repeats: list[Sample]  # stored samples to time again with the batch
    pending: Callable[[], list[Network]] | None  # the batch's networks, then the repeats'

    @classmethod
    def next(cls, stream: Iterator[tuple[Genotype, NetworkConfig]], done: set[str], planned: set[str], size: int,
             n: int, builder: NetworkBuilder, repeats: list[Sample]) -> "_Plan":
        batch = _next_batch(stream, lambda key: key in done or key in planned, size, n - len(done) - len(planned))
        repeats = repeats if batch else []
        specs = [(g.to_json(), c.to_dict()) for g, c in batch] + [(s.genotype_json, s.config) for s in repeats]
        return cls(batch, repeats, builder.submit(specs) if batch else None)

    def jobs(self) -> list[tuple[str, dict, str]]:
        return ([(g.to_json(), c.to_dict(), "primary") for g, c in self.batch]
                + [(s.genotype_json, s.config, "repeat") for s in self.repeats])

    def keys(self) -> set[str]:
        return {arch_key(g.to_json(), c.to_dict()) for g, c in self.batch}

    def still_due(self, done: set[str], n: int) -> "_Plan | None":
        """This plan minus what another writer stored meanwhile (None when nothing is left)."""
        room = max(n - len(done), 0)
        keep = [i for i, (g, c) in enumerate(self.batch) if arch_key(g.to_json(), c.to_dict()) not in done][:room]
        if not keep:
            return None
        if len(keep) == len(self.batch):
            return self
        pending, size = self.pending, len(self.batch)

        def kept() -> list[Network]:
            nets = pending()
            return [nets[i] for i in keep] + nets[size:]

        return _Plan([self.batch[i] for i in keep], self.repeats, kept)


def _next_batch(stream: Iterator[tuple[Genotype, NetworkConfig]], taken: Callable[[str], bool], size: int,
                remaining: int) -> list[tuple[Genotype, NetworkConfig]]:
    """The next ``min(size, remaining)`` architectures of ``stream`` whose key is not ``taken``."""
    batch: list[tuple[Genotype, NetworkConfig]] = []
    while len(batch) < min(size, remaining):
        g, c = next(stream)
        if not taken(arch_key(g.to_json(), c.to_dict())) and all((g, c) != b for b in batch):
            batch.append((g, c))
    return batch


def _pick_repeats(store: ProfileStore, backend: str, fp_id: str, primaries: list[Sample], cfg: ProfileConfig,
                  rng: random.Random, planned: int = 0) -> list[Sample]:
    """At most one repeat per batch, once the repeats (stored, and ``planned`` not yet stored) fall
    behind ``repeat_frac`` of the primaries, chosen among samples at least ``repeat_delay``
    primaries old (not right away). ``primaries`` is this device's in insertion order (kept by the
    caller, so no batch reads them all)."""
    if cfg.repeat_frac <= 0 or len(primaries) <= cfg.repeat_delay:
        return []
    if store.count(backend, fp_id, kind="repeat") + planned >= cfg.repeat_frac * len(primaries):
        return []
    return [rng.choice(primaries[: len(primaries) - cfg.repeat_delay])]
