"""Profiling a metric that needs no rounds: peak memory or energy per inference, one measurement
per architecture.

The architecture sequence is the latency profile's for the same seed and options
(``harness.profile.architecture_stream``), so such a run on a latency profile fills in the metric
of the architectures it holds, and resumes like it: a re-run skips what is stored. ``repeat_frac``
of the architectures are measured again from a fresh build later in the run: the metric's noise
floor (0 for peak memory, which is a property of the network and the allocator).

* **memory** (:class:`MemoryMeter`): ``harness.memory``'s peak of one inference.
* **energy** (:class:`EnergyMeter`): the device's cumulative energy counter (``harness.energy``:
  NVML on a GPU, RAPL on a CPU) read around back-to-back runs of the prepared network (on triton
  its CUDA graph) for ``window_s``, divided by the runs. Never estimated: a machine without a
  readable counter gets the reason, and a counter that does not advance is an error.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from gnnlat.errors import GnnlatError
from harness.energy import EnergyUnavailable, MIN_WINDOW_S, NvmlCounter, RaplCounter, energy_per_run_mj
from harness.prepare import build_network
from harness.profile import ProfileConfig, architecture_stream, out_of_time
from harness.store import ProfileStore, Sample, arch_key, fingerprint_id, untimed
from harness.timers import Timer

MEMORY_BACKENDS = ("cpu", "triton")  # where an allocator account of one inference exists
WRITE_EVERY = 16  # samples per transaction


class MetricProfileError(GnnlatError, ValueError):
    """A metric asked of a backend that cannot report it, or a measurement that makes no sense."""


def check_memory_backend(backend: str) -> None:
    if backend not in MEMORY_BACKENDS:
        raise MetricProfileError(
            f"peak memory is measured on the cpu (eager PyTorch allocator) or triton (CUDA) backend, not "
            f"{backend}: ONNX Runtime's Python API exposes no allocation account")


class MemoryMeter:
    """Peak memory of one inference (``Timer.peak_memory``); its parts go to ``extra``."""

    metric = "memory"

    def __init__(self, timer: Timer):
        check_memory_backend(timer.backend)
        self.timer = timer

    def measure(self, genotype_json: str, config: dict, fp: dict, kind: str = "primary") -> Sample:
        peak = self.timer.peak_memory(build_network(genotype_json, config))
        parts = {k: v for k, v in peak.to_dict().items() if k != "peak_memory_mb"}
        return Sample(genotype_json=genotype_json, config=config, backend=self.timer.backend, fingerprint=fp,
                      kind=kind, extra=parts, peak_memory_mb=peak.peak_memory_mb, **untimed())


class EnergyMeter:
    """Energy of one inference (mJ) from ``counter``, over ``window_s`` of back-to-back runs of the
    network as the timer prepares it (its CUDA graph on triton)."""

    metric = "energy"

    def __init__(self, timer: Timer, counter: RaplCounter | NvmlCounter, window_s: float = MIN_WINDOW_S):
        if not (math.isfinite(window_s) and window_s > 0):
            raise MetricProfileError(f"the energy window must be a positive number of seconds, got {window_s}")
        self.timer, self.counter, self.window_s = timer, counter, window_s

    def measure(self, genotype_json: str, config: dict, fp: dict, kind: str = "primary") -> Sample:
        with self.timer.pinned():
            fn = self.timer.prepare(build_network(genotype_json, config))
            mj = energy_per_run_mj(fn, self.counter, self.window_s, self.timer.synchronize)
        if not (math.isfinite(mj) and mj > 0):
            raise EnergyUnavailable(f"energy is not measurable here: the {self.counter.source} counter did not "
                                    f"advance over {self.window_s:g} s of inferences")
        extra = {"energy_source": self.counter.source, "energy_window_s": self.window_s}
        return Sample(genotype_json=genotype_json, config=config, backend=self.timer.backend, fingerprint=fp,
                      kind=kind, extra=extra, energy_mj=mj, **untimed())


Meter = MemoryMeter | EnergyMeter


def run_metric_profile(cfg: ProfileConfig, meter: Meter, progress: Callable[[int, int], None] | None = None) -> dict:
    """Measure ``meter.metric`` until ``cfg.out`` holds ``cfg.n`` primaries with it on this device and
    backend; returns the run's summary (stored, repeats, this run's noise floor, ms per architecture,
    and the store's summary)."""
    timer = meter.timer
    fp = timer.fingerprint()
    rng = random.Random(f"{meter.metric}-repeats-{cfg.seed}")
    run = _Run(time.perf_counter())
    with ProfileStore(cfg.out) as store:
        fp_id = fingerprint_id(fp)
        done = store.primary_keys(timer.backend, fp_id, metric=meter.metric)
        have = len(done)
        stream = architecture_stream(cfg)
        while have + run.stored < cfg.n:
            if out_of_time(run.t_start, cfg.time_limit_s):
                run.stopped_early = True
                break
            genotype, config = next(stream)
            spec = (genotype.to_json(), config.to_dict())
            key = arch_key(*spec)
            if key in done:
                continue
            done.add(key)
            run.add(meter.measure(*spec, fp))
            if len(run.mine) > 20 and rng.random() < cfg.repeat_frac:
                old = run.mine[rng.randrange(len(run.mine) - 20)]
                run.add_repeat(meter.measure(old.genotype_json, old.config, fp, kind="repeat"), old, meter.metric)
            if len(run.pending) >= WRITE_EVERY:
                run.flush(store, meter.metric)
            if progress:
                progress(have + run.stored, cfg.n)
        run.flush(store, meter.metric)
        summary = store.summary()
    wall = time.perf_counter() - run.t_start
    return {**summary, "metric": meter.metric, "measured": run.stored, "measured_repeats": len(run.diffs),
            "time_limit_reached": run.stopped_early, "live_noise_floor": _floor(run.diffs),
            "ms_per_arch": 1e3 * wall / max(run.stored + len(run.diffs), 1), "fingerprint_id": fp_id}


@dataclass
class _Run:
    """What one metric profiling run has measured, and what it has yet to write."""

    t_start: float
    stored: int = 0
    stopped_early: bool = False
    pending: list[Sample] = field(default_factory=list)  # measured, not yet written
    mine: list[Sample] = field(default_factory=list)  # this run's primaries (repeat candidates)
    diffs: list[float] = field(default_factory=list)  # this run's repeat differences

    def add(self, sample: Sample) -> None:
        self.pending.append(sample)
        self.mine.append(sample)
        self.stored += 1

    def add_repeat(self, again: Sample, old: Sample, metric: str) -> None:
        self.diffs.append(abs(again.value(metric) - old.value(metric)) / old.value(metric))
        self.pending.append(again)

    def flush(self, store: ProfileStore, metric: str) -> None:
        if self.pending:
            store.add_metric(self.pending, metric)
            self.pending = []


def _floor(diffs: list[float]) -> dict:
    if not diffs:
        return {"n": 0, "median": None, "p90": None}
    return {"n": len(diffs), "median": float(np.median(diffs)), "p90": float(np.percentile(diffs, 90)),
            "max": float(max(diffs))}
