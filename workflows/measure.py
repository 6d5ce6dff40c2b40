"""Measured latency of genotypes with the harness: what a search, a retraining or a sweep reports."""
from __future__ import annotations

from gnnlat.genotype import Genotype
from gnnlat.network import Network, NetworkConfig
from harness.timers import TimerSettings, make_timer


def measure_together(genotypes: list[Genotype], config: NetworkConfig, backend: str = "auto", threads: int = 1,
                     settings: TimerSettings | None = None, batch: int = 8) -> list[dict]:
    """Time several genotypes in shared interleaved rounds (``batch`` networks at a time), so a
    comparison between them is not skewed by the machine being slower for some of them. Each
    result holds the sample's statistics (ms), the backend and the device fingerprint."""
    timer = make_timer(backend, threads, settings)
    fp = timer.fingerprint()
    out: list[dict] = []
    for start in range(0, len(genotypes), batch):
        nets = [Network(g, config) for g in genotypes[start:start + batch]]
        out += [{**t.to_dict(), "backend": timer.backend, "fingerprint": fp} for t in timer.time_many(nets)]
    return out


def measure_latency(genotype: Genotype, config: NetworkConfig, backend: str = "auto", threads: int = 1,
                    settings: TimerSettings | None = None) -> dict:
    """Time ``genotype`` at ``config`` with the harness (see :func:`measure_together`)."""
    return measure_together([genotype], config, backend, threads, settings)[0]
