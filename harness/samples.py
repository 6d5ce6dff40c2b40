"""A finished timing as the sample a profile store keeps.

Its own module so that every timing loop (batched, streaming, a Ray worker) stores the same fields
without importing another loop.
"""
from __future__ import annotations

from harness.store import Sample
from harness.timers import Timer, Timing

_SAMPLE_STATS = ("latency_ms", "median_ms", "p90_ms", "cv", "rounds", "reps", "round_spread", "noisy")


def to_sample(genotype_json: str, config: dict, timing: Timing, timer: Timer, fp: dict, kind: str,
              extra: dict | None = None) -> Sample:
    stats = {k: getattr(timing, k) for k in _SAMPLE_STATS}
    extra = {"round_minima": timing.round_minima, **timer.sample_facts(), **(extra or {})}
    return Sample(genotype_json=genotype_json, config=config, backend=timer.backend, **stats,
                  fingerprint=fp, kind=kind, extra=extra)
