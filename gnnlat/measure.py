"""The one place where gnnlat calls into the harness: measuring a derived network's latency."""
from __future__ import annotations

from gnnlat.genotype import Genotype
from gnnlat.network import Network, NetworkConfig


def measure_latency(genotype: Genotype, config: NetworkConfig, backend: str = "auto", threads: int = 1,
                    settings=None) -> dict:
    """Time ``genotype`` at ``config`` with the harness; returns the sample's statistics (ms),
    the backend and the device fingerprint."""
    from harness.timers import make_timer

    timer = make_timer(backend, threads, settings)
    timing = timer.time_one(Network(genotype, config)).to_dict()
    return {**timing, "backend": timer.backend, "fingerprint": timer.fingerprint()}
