"""Profiling peak memory: the same architecture stream as a latency profile, one measurement each.

Peak memory (``harness.memory``) is a property of the network and the allocator, not of the
machine's load, so it needs no rounds, anchor or windows: each architecture is built and measured
once, ``repeat_frac`` of them again from a fresh build later in the run (the noise floor, expected
to be 0). The architecture sequence is the latency profile's for the same seed and options
(``harness.profile.architecture_stream``), so a memory run on a latency profile fills in the
memory of the architectures it holds, and resumes like it: a re-run skips what is stored.
"""
from __future__ import annotations

import random
import time
from typing import Callable

from gnnlat.errors import GnnlatError
import numpy as np

from harness.prepare import build_network
from harness.profile import ProfileConfig, architecture_stream, out_of_time
from harness.store import ProfileStore, Sample, fingerprint_id, untimed
from harness.timers import Timer

MEMORY_BACKENDS = ("cpu", "triton")  # where an allocator account of one inference exists
WRITE_EVERY = 16  # samples per transaction


class MemoryProfileError(GnnlatError, ValueError):
    """Peak memory asked of a backend that cannot report it."""


def check_memory_backend(backend: str) -> None:
    if backend not in MEMORY_BACKENDS:
        raise MemoryProfileError(
            f"peak memory is measured on the cpu (eager PyTorch allocator) or triton (CUDA) backend, not "
            f"{backend}: ONNX Runtime's Python API exposes no allocation account")


def memory_sample(genotype_json: str, config: dict, timer: Timer, fp: dict, kind: str = "primary") -> Sample:
    """One measured peak memory as an untimed sample (its parts in ``extra``)."""
    peak = timer.peak_memory(build_network(genotype_json, config))
    parts = {k: v for k, v in peak.to_dict().items() if k != "peak_memory_mb"}
    return Sample(genotype_json=genotype_json, config=config, backend=timer.backend, fingerprint=fp, kind=kind,
                  extra=parts, peak_memory_mb=peak.peak_memory_mb, **untimed())


def run_memory_profile(cfg: ProfileConfig, timer: Timer,
                       progress: Callable[[int, int], None] | None = None) -> dict:
    """Measure peak memory until ``cfg.out`` holds ``cfg.n`` primaries with it on this device and
    backend; returns the run's summary (stored, repeats, this run's noise floor, ms per architecture,
    and the store's summary)."""
    check_memory_backend(timer.backend)
    fp = timer.fingerprint()
    rng = random.Random(f"memory-repeats-{cfg.seed}")
    t_start, stored, repeats, pending = time.perf_counter(), 0, 0, []
    diffs: list[float] = []
    mine: list[Sample] = []
    with ProfileStore(cfg.out) as store:
        fp_id = fingerprint_id(fp)
        done = store.primary_keys(timer.backend, fp_id, metric="memory")
        have = len(done)
        stream = architecture_stream(cfg)
        stopped_early = False
        while have + stored < cfg.n:
            if out_of_time(t_start, cfg.time_limit_s):
                stopped_early = True
                break
            genotype, config = next(stream)
            spec = (genotype.to_json(), config.to_dict())
            sample = memory_sample(*spec, timer, fp)
            if sample.arch_key in done:
                continue
            done.add(sample.arch_key)
            pending.append(sample)
            mine.append(sample)
            stored += 1
            if len(mine) > 20 and rng.random() < cfg.repeat_frac:
                old = mine[rng.randrange(len(mine) - 20)]
                again = memory_sample(old.genotype_json, old.config, timer, fp, kind="repeat")
                diffs.append(abs(again.peak_memory_mb - old.peak_memory_mb) / old.peak_memory_mb)
                pending.append(again)
                repeats += 1
            if len(pending) >= WRITE_EVERY:
                store.add_metric(pending, "memory")
                pending = []
            if progress:
                progress(have + stored, cfg.n)
        if pending:
            store.add_metric(pending, "memory")
        summary = store.summary()
    wall = time.perf_counter() - t_start
    return {**summary, "measured": stored, "measured_repeats": repeats, "time_limit_reached": stopped_early,
            "live_noise_floor": _floor(diffs), "ms_per_arch": 1e3 * wall / max(stored + repeats, 1),
            "fingerprint_id": fp_id}


def _floor(diffs: list[float]) -> dict:
    if not diffs:
        return {"n": 0, "median": None, "p90": None}
    return {"n": len(diffs), "median": float(np.median(diffs)), "p90": float(np.percentile(diffs, 90)),
            "max": float(max(diffs))}
