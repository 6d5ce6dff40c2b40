"""Record: one measured architecture as the predictor sees it (genotype, config, label of a metric).

Records are made from profile stores by ``workflows.records``; the predictor, the baseline and
the train/held-out split only ever see this plain form, so they never depend on the store.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from gnnlat.errors import GnnlatError
from gnnlat.genotype import Genotype
from gnnlat.identity import arch_key, config_key
from gnnlat.network import SEARCH_CONFIG, NetworkConfig

LABELS = ("auto", "min", "anchored")  # how a label is made from timings (workflows.records)
METRICS = ("latency", "memory", "energy")  # what a predictor predicts
UNITS = {"latency": "ms", "memory": "MB", "energy": "mJ"}


def check_metric(metric: str) -> str:
    """``metric`` if it is one of METRICS, else a GnnlatError naming them."""
    if metric not in METRICS:
        raise MetricError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    return metric


class MetricError(GnnlatError, ValueError):
    """An unknown metric name."""


@dataclass(frozen=True)
class Record:
    """One measured architecture: the unit the predictor trains and is scored on.

    ``latency_ms`` holds the label of the record's ``metric`` in that metric's unit (ms, MB or mJ,
    :data:`UNITS`); the field keeps its name from when latency was the only metric."""

    genotype: Genotype
    config: NetworkConfig
    latency_ms: float
    backend: str = "unknown"
    fingerprint_id: str = "unknown"
    fingerprint: dict = field(default_factory=dict, compare=False, hash=False)
    label: str = "min"  # min | anchored: which statistic of the timings latency_ms is; measured: other metrics
    metric: str = "latency"

    @property
    def key(self) -> str:
        """The architecture's identity (:func:`gnnlat.identity.arch_key`), as the store keys it."""
        return arch_key(self.genotype.to_json(), self.config.to_dict())

    @property
    def config_key(self) -> str:
        return config_key(self.config.to_dict())


def split_fixed_vary(records: Sequence[Record], config: NetworkConfig = SEARCH_CONFIG
                     ) -> tuple[list[Record], list[Record]]:
    """(records at ``config``, records at any other config): the fixed-config and the
    ``--vary-config`` parts of a reference profile."""
    fixed = [r for r in records if r.config == config]
    return fixed, [r for r in records if r.config != config]
