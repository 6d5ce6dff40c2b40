"""Measured latency of genotypes with the harness: what a search, a retraining or a sweep reports.

On the CPU backends a measurement holds on a busy machine: the networks are timed together with
the anchor in short rotating rounds until the minima of time windows seconds apart agree
(``harness.rounds``), and the result says how well they agreed. On triton, CUDA-event timings
drift far less and the interleaved batch of the timer is kept.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from gnnlat.genotype import Genotype
from gnnlat.network import Network, NetworkConfig
from harness.prepare import PREFETCH_BACKENDS
from harness.profile import anchor_job
from harness.rounds import ScheduleConfig
from harness.stream import time_interleaved
from harness.energy import POWERCAP_ROOT, EnergyUnavailable, energy_counter, energy_per_run_mj
from harness.timers import Timer, TimerSettings, make_timer, resolve_backend


@dataclass(frozen=True)
class MeasureConfig:
    """How hard one measurement works: with the anchor, three groups of rounds 2 s apart whose median
    ratios to the anchor lie within 3% of the overall median (without it, three one-second windows
    two apart, within 3%); bounded at 15 windows."""

    # No ballast: a measurement times its few networks as a fresh process (a deployment) would; with
    # it they read 4-6% above an independent timer's fresh sessions (docs/results.md, "The ballast").
    schedule: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(
        window_s=1.0, min_gap=2, confirmations=2, min_rounds=8, max_windows=15, ballast=0))
    anchor: bool = True


def measure_together(genotypes: list[Genotype], config: NetworkConfig, backend: str = "auto", threads: int = 1,
                     settings: TimerSettings | None = None, batch: int = 8,
                     measure: MeasureConfig = MeasureConfig()) -> list[dict]:
    """Time several genotypes in shared rounds (``batch`` networks at a time), so a comparison
    between them is not skewed by the machine being slower for some of them. Each result holds the
    sample's statistics (ms), the backend, the device fingerprint and, on the CPU backends, the
    agreement of its windows and the anchor's latency over the same seconds."""
    timer = make_timer(backend, threads, settings)
    out: list[dict] = []
    for start in range(0, len(genotypes), batch):
        out += _measure_batch(timer, genotypes[start:start + batch], config, measure)
    return out


def _measure_batch(timer: Timer, genotypes: list[Genotype], config: NetworkConfig, measure: MeasureConfig) -> list[dict]:
    fp = timer.fingerprint()
    if timer.backend in PREFETCH_BACKENDS:
        nets = [Network(g, config) for g in genotypes]
        return [{**t.to_dict(), "backend": timer.backend, "fingerprint": fp} for t in timer.time_many(nets)]
    specs = [(g.to_json(), config.to_dict()) for g in genotypes]
    anchor = anchor_job(config) if measure.anchor else None
    results = time_interleaved(timer, specs, measure.schedule, anchor)
    return [{**t.to_dict(), "backend": timer.backend, "fingerprint": fp, "agreement": v.to_dict(),
             "span_s": extra["span_s"], "anchor_ms": extra.get("anchor_ms")} for t, v, extra in results]


def measure_latency(genotype: Genotype, config: NetworkConfig, backend: str = "auto", threads: int = 1,
                    settings: TimerSettings | None = None, measure: MeasureConfig = MeasureConfig()) -> dict:
    """Time ``genotype`` at ``config`` with the harness (see :func:`measure_together`)."""
    return measure_together([genotype], config, backend, threads, settings, measure=measure)[0]


def memory_backend(backend: str) -> str:
    """The backend whose allocator gives peak memory for a timing backend: CUDA for triton, else
    eager PyTorch on the CPU (ONNX Runtime exposes no allocation account, ``harness.memory``)."""
    return "triton" if resolve_backend(backend) == "triton" else "cpu"


def measure_peak_memory(genotype: Genotype, config: NetworkConfig, backend: str = "auto", threads: int = 1) -> dict:
    """Peak memory of one inference (``harness.memory``): ``peak_memory_mb``, its parts and
    ``memory_backend``, the allocator that was asked."""
    mem = memory_backend(backend)
    peak = make_timer(mem, threads).peak_memory(Network(genotype, config))
    return {**peak.to_dict(), "memory_backend": mem}


def measure_energy(genotype: Genotype, config: NetworkConfig, backend: str = "auto", threads: int = 1,
                   powercap_root=POWERCAP_ROOT) -> dict:
    """Energy of one inference from the device's counter (``harness.energy``): ``energy_mj`` and
    ``energy_source``, or ``energy_mj`` None with ``energy_unavailable``, the reason. Never a guess."""
    backend = resolve_backend(backend)
    try:
        counter = energy_counter(backend, powercap_root)
    except EnergyUnavailable as exc:
        return {"energy_mj": None, "energy_unavailable": exc.reason}
    timer = make_timer(backend, threads)
    with timer.pinned():
        fn = timer.prepare(Network(genotype, config))
        mj = energy_per_run_mj(fn, counter, sync=timer.synchronize)
    return {"energy_mj": mj, "energy_source": counter.source, "energy_unavailable": None}
