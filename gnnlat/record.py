"""Record: one measured architecture as the predictor sees it (genotype, config, latency label).

Records are made from profile stores by ``workflows.records``; the predictor, the baseline and
the train/held-out split only ever see this plain form, so they never depend on the store.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from gnnlat.genotype import Genotype
from gnnlat.identity import arch_key, config_key
from gnnlat.network import SEARCH_CONFIG, NetworkConfig

LABELS = ("auto", "min", "anchored")  # how a label is made from timings (workflows.records)


@dataclass(frozen=True)
class Record:
    """One measured architecture: the unit the predictor trains and is scored on."""

    genotype: Genotype
    config: NetworkConfig
    latency_ms: float
    backend: str = "unknown"
    fingerprint_id: str = "unknown"
    fingerprint: dict = field(default_factory=dict, compare=False, hash=False)
    label: str = "min"  # min | anchored: which statistic of the timings latency_ms is

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
