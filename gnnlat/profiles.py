"""Training records from profile stores (``harness.store``): the predictor's view of a profile.

This is the only module of ``gnnlat`` that touches ``harness.store``; it turns stored samples into
plain :class:`Record` objects (genotype, network config, latency) and validates them on the way.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from gnnlat.genotype import Genotype, GenotypeError
from gnnlat.network import NetworkConfig, SEARCH_CONFIG


class ProfileError(ValueError):
    """A profile that cannot be read, or holds no usable training records."""


@dataclass(frozen=True)
class Record:
    """One measured architecture: the unit the predictor trains and is scored on."""

    genotype: Genotype
    config: NetworkConfig
    latency_ms: float
    backend: str = "unknown"
    fingerprint_id: str = "unknown"
    fingerprint: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def arch_key(self) -> str:
        """Same genotype at the same config ⇒ same key (the unit of the train/validation split)."""
        return self.genotype.to_json() + "|" + json.dumps(self.config.to_dict(), sort_keys=True)

    @property
    def record_key(self) -> str:
        """Short stable id of (genotype, config): what a checkpoint stores to name its training set."""
        return hashlib.sha256(self.arch_key.encode()).hexdigest()[:16]

    @property
    def config_key(self) -> str:
        return json.dumps(self.config.to_dict(), sort_keys=True)


def load_records(path: str | Path, backend: str | None = None, fingerprint_id: str | None = None,
                 include_noisy: bool = True, use_repeats: bool = True) -> list[Record]:
    """One record per primary sample of a profile store.

    An architecture's latency is the minimum over all its timings on that device and backend, the
    primary and any repeats (``harness.retime``): the same statistic the harness takes over
    interleaved rounds, with more rounds. ``use_repeats=False`` keeps the primary's alone.
    Raises ProfileError for a missing/unreadable profile or one without matching samples.
    """
    # Imported here so the predictor stays usable (loading, predicting) without the harness.
    from harness.store import ProfileStore, ProfileStoreError

    try:
        with ProfileStore(path, create=False) as store:
            samples = store.samples(backend=backend, fingerprint_id=fingerprint_id, kind="primary")
            repeats = (store.samples(backend=backend, fingerprint_id=fingerprint_id, kind="repeat")
                       if use_repeats else [])
    except ProfileStoreError as exc:
        raise ProfileError(str(exc)) from None
    fastest: dict[tuple, float] = {}
    for r in repeats:
        key = (r.arch_key, r.backend, r.fingerprint_id)
        fastest[key] = min(fastest.get(key, math.inf), float(r.latency_ms))
    records = []
    for s in samples:
        if s.noisy and not include_noisy:
            continue
        latency = min(float(s.latency_ms), fastest.get((s.arch_key, s.backend, s.fingerprint_id), math.inf))
        try:
            genotype = Genotype.from_json(s.genotype_json)
            config = NetworkConfig.from_dict(s.config)
        except (GenotypeError, ValueError, TypeError) as exc:
            raise ProfileError(f"{path}: sample {s.id} is not a valid architecture: {exc}") from None
        records.append(Record(genotype, config, latency, s.backend, s.fingerprint_id,
                              dict(s.fingerprint)))
    if not records:
        filters = ", ".join(f"{k}={v}" for k, v in (("backend", backend), ("fingerprint", fingerprint_id))
                            if v is not None)
        raise ProfileError(f"{path} has no primary samples" + (f" for {filters}" if filters else ""))
    return records


def noise_floor(path: str | Path, backend: str | None = None, fingerprint_id: str | None = None) -> dict:
    """Repeat-vs-primary relative latency difference of a profile: ``{"n", "median", "p90"}``."""
    from harness.store import ProfileStore, ProfileStoreError

    try:
        with ProfileStore(path, create=False) as store:
            return store.noise_floor(backend=backend, fingerprint_id=fingerprint_id)
    except ProfileStoreError as exc:
        raise ProfileError(str(exc)) from None


def split_fixed_vary(records: Sequence[Record], config: NetworkConfig = SEARCH_CONFIG
                     ) -> tuple[list[Record], list[Record]]:
    """(records at ``config``, records at any other config): the fixed-config and the
    ``--vary-config`` parts of a reference profile."""
    fixed = [r for r in records if r.config == config]
    return fixed, [r for r in records if r.config != config]
