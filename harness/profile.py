"""The sampling-and-timing loop that fills a profile store; resumable and safe to run twice at once.

Architecture i of a run is a pure function of (seed, i), so re-running the same command walks the
same sequence, skips what the store already holds for this device and backend, and stops once the
store has ``n`` primary samples. Each interleaved batch is written in one transaction: a SIGKILL
loses at most the batch in flight.
"""
from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterator

from gnnlat.genotype import Genotype, random_genotype
from gnnlat.network import Network, NetworkConfig
from gnnlat.published import DARTS_V2
from harness.store import ProfileStore, Sample, arch_key, fingerprint_id
from harness.timers import Timer, Timing

# --vary-config ranges: wide, but bounded so one architecture times well under a second.
VARY_C = (8, 12, 16, 20, 24, 32)
VARY_LAYERS = (5, 6, 8, 9, 11, 14)
VARY_RESOLUTION = (16, 24, 32, 40, 48)
VARY_BATCH = (1, 2, 4, 8)
VARY_COST_LIMIT = 8.0  # relative to the search config, in C² · layers · resolution² · batch


@dataclass
class ProfileConfig:
    n: int
    out: str
    seed: int = 0
    config: NetworkConfig = field(default_factory=NetworkConfig)
    vary_config: bool = False
    repeat_frac: float = 0.05
    batch_archs: int = 4  # networks timed together in interleaved rounds
    repeat_delay: int = 50  # a repeat re-times a sample at least this many primaries later
    anchor: bool = True  # time the anchor network in every batch (see ``anchor_job``)

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"--n must be at least 1, got {self.n}")
        if not 0 <= self.repeat_frac <= 1:
            raise ValueError(f"--repeat-frac must be within [0, 1], got {self.repeat_frac}")
        if self.batch_archs < 1:
            raise ValueError("batch_archs must be at least 1")


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
    raise ValueError("no --vary-config sample fits the cost limit")  # unreachable with the ranges above


def architecture_stream(cfg: ProfileConfig) -> Iterator[tuple[Genotype, NetworkConfig]]:
    rng = random.Random(cfg.seed)
    while True:
        genotype = random_genotype(rng)
        config = vary_config(rng, cfg.config) if cfg.vary_config else cfg.config
        yield genotype, config


@dataclass
class ProfileStats:
    """Throughput bookkeeping: how much wall time went into the timed windows."""

    timed: int = 0
    wall_s: float = 0.0
    timed_s: float = 0.0

    @property
    def overhead_frac(self) -> float:
        return 1.0 - self.timed_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def archs_per_hour(self) -> float:
        return 3600.0 * self.timed / self.wall_s if self.wall_s > 0 else 0.0


def anchor_job(config: NetworkConfig) -> tuple[str, dict]:
    """The anchor: DARTS V2 at ``config``, timed alongside every batch when anchoring is on.

    On a shared machine most of the eager-cpu noise is drift that slows all networks of a batch
    alike. The anchor's timing in each batch measures that drift, so each sample's ``extra`` keeps
    it (``anchor_ms``) and ``gnnlat.profiles.load_records`` can divide it out.
    """
    return DARTS_V2.to_json(), config.to_dict()


def to_sample(genotype_json: str, config: dict, timing: Timing, timer: Timer, fp: dict, kind: str,
              extra: dict | None = None) -> Sample:
    stats = {k: v for k, v in timing.to_dict().items() if k != "round_minima"}
    return Sample(genotype_json=genotype_json, config=config, backend=timer.backend, **stats,
                  fingerprint=fp, kind=kind, extra={"round_minima": timing.round_minima, **(extra or {})})


def timed_window_s(timings: list[Timing]) -> float:
    # Sum of the per-round timed runs: latency x reps x rounds is a close lower bound; the median
    # x runs is the better estimate of the time actually spent inside the timed calls.
    return sum(t.median_ms * max(t.reps, 1) * t.rounds for t in timings) / 1e3


def time_into_store(store: ProfileStore, timer: Timer, fp: dict, jobs: list[tuple[str, dict, str]],
                    stats: ProfileStats, anchor: tuple[str, dict] | None = None) -> None:
    """Time ``(genotype_json, config, kind)`` jobs together in interleaved rounds and store them as
    one transaction (a kill loses at most this batch); adds the batch to ``stats``.

    With an ``anchor`` (genotype_json, config) it is timed in the same rounds; every stored sample
    then records the anchor's latency, its key and a batch id in ``extra``.
    """
    t0 = time.perf_counter()
    specs = [(g, c) for g, c, _ in jobs] + ([anchor] if anchor else [])
    nets = [Network(Genotype.from_json(g), NetworkConfig.from_dict(c)) for g, c in specs]
    timings = timer.time_many(nets)
    extra = {}
    if anchor:
        extra = {"anchor_ms": timings[-1].latency_ms, "anchor_key": arch_key(*anchor),
                 "batch": uuid.uuid4().hex[:12]}
    store.add([to_sample(g, c, t, timer, fp, kind, extra) for (g, c, kind), t in zip(jobs, timings)])
    stats.timed += len(jobs)
    stats.wall_s += time.perf_counter() - t0
    stats.timed_s += timed_window_s(timings[:len(jobs)])


def run_profile(cfg: ProfileConfig, timer: Timer, progress: Callable[[int, int], None] | None = None,
                stats: ProfileStats | None = None) -> dict:
    """Fill ``cfg.out`` up to ``cfg.n`` primary samples for this timer's device; returns a summary."""
    stats = stats or ProfileStats()
    fp = timer.fingerprint()
    rng = random.Random(f"repeats-{cfg.seed}")
    with ProfileStore(cfg.out) as store:
        fp_id = fingerprint_id(fp)
        done = store.primary_keys(timer.backend, fp_id)
        stream = architecture_stream(cfg)
        if progress:
            progress(len(done), cfg.n)
        while len(done) < cfg.n:
            batch = _next_batch(stream, done, cfg.batch_archs, cfg.n - len(done))
            repeats = _pick_repeats(store, timer.backend, fp_id, cfg, rng)
            time_into_store(store, timer, fp, [(g.to_json(), c.to_dict(), "primary") for g, c in batch]
                            + [(s.genotype_json, s.config, "repeat") for s in repeats], stats,
                            anchor_job(cfg.config) if cfg.anchor else None)
            # The store also holds what another process may have added to the same file.
            done |= store.primary_keys(timer.backend, fp_id)
            if progress:
                progress(len(done), cfg.n)
        summary = store.summary()
    summary.update(archs_per_hour=stats.archs_per_hour, overhead_frac=stats.overhead_frac,
                   fingerprint_id=fp_id)
    return summary


def _next_batch(stream, done: set[str], size: int, remaining: int) -> list[tuple[Genotype, NetworkConfig]]:
    batch: list[tuple[Genotype, NetworkConfig]] = []
    while len(batch) < min(size, remaining):
        g, c = next(stream)
        if arch_key(g.to_json(), c.to_dict()) not in done and all((g, c) != b for b in batch):
            batch.append((g, c))
    return batch


def _pick_repeats(store: ProfileStore, backend: str, fp_id: str, cfg: ProfileConfig,
                  rng: random.Random) -> list[Sample]:
    """At most one repeat per batch, once the repeats fall behind ``repeat_frac`` of the primaries,
    chosen among samples at least ``repeat_delay`` primaries old (not right away)."""
    primaries = store.count(backend, fp_id)
    if cfg.repeat_frac <= 0 or primaries <= cfg.repeat_delay:
        return []
    if store.count(backend, fp_id, kind="repeat") >= cfg.repeat_frac * primaries:
        return []
    old = store.samples(backend, fp_id)[: primaries - cfg.repeat_delay]
    return [rng.choice(old)]
