"""Re-time the architectures a profile store already holds; resumable like the profiling loop.

A profile's latency is a minimum over interleaved rounds, so interference can only make it too
slow. On a shared machine a burst that outlasts all rounds of one measurement still inflates it;
timing the same architecture again later, in another burst pattern, gives the labels of
``workflows.records.load_records`` more to work with: the minimum over all timings, or, with the
anchor timed in every batch (the default), the median of the drift-corrected timings. Each
re-timing is stored as a *repeat* sample, so it also adds to the profile's noise-floor estimate.

The work list is "primaries of this device and backend with fewer than ``times`` repeats", read
from the store on every start: a killed run resumes where it stopped and never re-times twice.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from gnnlat.errors import GnnlatError
from gnnlat.network import NetworkConfig
from harness.gc_pause import collect_between_batches
from harness.prepare import PREFETCH_BACKENDS, NetworkBuilder, default_build_workers
from harness.profile import Anchor, RunOptions, anchor_job, default_batch_archs, out_of_time, time_into_store
from harness.profile_stats import ProfileStats
from harness.store import ProfileStore, Sample, fingerprint_id
from harness.timers import Timer

PARTS = ("all", "fixed", "vary")


class RetimeError(GnnlatError, ValueError):
    """A re-timing request that cannot be served (no primaries of this device, bad options)."""


@dataclass
class RetimeConfig(RunOptions):
    path: str
    times: int = 1  # repeats every selected primary should have once the run ends
    part: str = "all"  # all | fixed (at ``config``) | vary (any other config)
    config: NetworkConfig = field(default_factory=NetworkConfig)

    def __post_init__(self) -> None:
        self.check_options(RetimeError)
        if self.times < 1:
            raise RetimeError(f"times must be at least 1, got {self.times}")
        if self.part not in PARTS:
            raise RetimeError(f"part must be one of {', '.join(PARTS)}, got {self.part!r}")


def _in_part(s: Sample, cfg: RetimeConfig) -> bool:
    if cfg.part == "all":
        return True
    fixed = NetworkConfig.from_dict(s.config) == cfg.config
    return fixed if cfg.part == "fixed" else not fixed


def retime_targets(store: ProfileStore, backend: str, fp_id: str, cfg: RetimeConfig) -> tuple[list[Sample], int]:
    """(the re-timings still due, pass by pass in insertion order; number of primaries selected)."""
    selected = [s for s in store.samples(backend, fp_id) if _in_part(s, cfg)]
    counts = store.repeat_counts(backend, fp_id)
    # Pass k re-times whatever has at most k repeats: everything once before anything twice.
    todo = [s for k in range(cfg.times) for s in selected if counts.get(s.arch_key, 0) <= k]
    return todo, len(selected)


def run_retime(cfg: RetimeConfig, timer: Timer, progress: Callable[[int, int], None] | None = None,
               stats: ProfileStats | None = None) -> dict:
    """Add repeats until every selected primary of this timer's device has ``cfg.times``.

    The work list is known up front, so with builder processes (triton) the next batch's networks
    are built while the current one is timed."""
    stats = stats or ProfileStats()
    workers = cfg.build_workers if cfg.build_workers is not None else default_build_workers(timer.backend, timer.threads)
    size = cfg.batch_archs or default_batch_archs(timer.backend)
    fp = timer.fingerprint()
    fp_id = fingerprint_id(fp)
    anchor = anchor_job(cfg.config) if cfg.anchor else None
    t_start = time.perf_counter()
    with ProfileStore(cfg.path, create=False) as store, NetworkBuilder(workers, timer.to_device) as builder:
        todo, selected = retime_targets(store, timer.backend, fp_id, cfg)
        if selected == 0:
            where = "" if cfg.part == "all" else f" in the {cfg.part} part"
            raise RetimeError(f"{cfg.path} has no primaries{where} for {timer.backend} on this device "
                              f"(fingerprint {fp_id}); re-timing needs the device that profiled it")
        if progress:
            progress(0, len(todo))
        if timer.backend not in PREFETCH_BACKENDS:
            _stream_retime(store, timer, fp, todo, cfg, stats, anchor, workers, progress, t_start)
            todo = []
        batches = [todo[i:i + size] for i in range(0, len(todo), size)]
        specs = [[(s.genotype_json, s.config) for s in b] for b in batches]
        pending = builder.submit(specs[0]) if batches else None
        prepared = Anchor.prepare(timer, anchor if batches else None, stats)
        with collect_between_batches() as collect:  # the streaming path above pauses it itself
            for k, batch in enumerate(batches):
                if k and out_of_time(t_start, cfg.time_limit_s):  # every run times one batch at least
                    break
                networks, pending = pending, builder.submit(specs[k + 1]) if k + 1 < len(batches) else None
                time_into_store(store, timer, fp, [(s.genotype_json, s.config, "repeat") for s in batch], stats,
                                prepared, networks)
                if progress:
                    progress(k * size + len(batch), len(todo))
                collect()
        summary = store.summary()
    stats.wall_s += time.perf_counter() - t_start
    summary.update(retimed=stats.timed, selected=selected, **stats.report(), fingerprint_id=fp_id,
                   batch_archs=size, build_workers=workers, build_fell_back=builder.fell_back,
                   time_limit_reached=out_of_time(t_start, cfg.time_limit_s))
    return summary


def _stream_retime(store: ProfileStore, timer: Timer, fp: dict, todo: list[Sample], cfg: RetimeConfig,
                   stats: ProfileStats, anchor, workers: int, progress, t_start: float) -> None:
    """The CPU backends: re-timings stream through the round scheduler, each stored once its
    windows agree; the time limit stops new ones from starting."""
    from harness.stream import Job, StreamTimer, store_sample

    primary = {s.arch_key: s for s in todo}

    def jobs():
        for s in todo:
            if stats.timed and out_of_time(t_start, cfg.time_limit_s):
                return
            yield Job(s.genotype_json, s.config, "repeat")

    def on_done(job, timing, verdict, extra) -> None:
        t0 = time.perf_counter()
        sample = store_sample(store, timer, fp, job, timing, extra)
        stats.add_repeat(sample, primary[sample.arch_key])
        stats.timed += 1
        stats.store_s += time.perf_counter() - t0
        if progress:
            progress(stats.timed, len(todo))

    StreamTimer(timer, cfg.schedule, stats, workers).run(jobs(), on_done, anchor)
