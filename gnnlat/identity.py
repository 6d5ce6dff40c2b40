"""The one identity of an architecture: a genotype at one network config.

The profile store keys its samples by it, records carry it, predictor checkpoints name their
training set with it. It is a hash of the canonical JSON forms, so it is stable across processes,
machines and dict orders.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """Stable JSON (sorted keys, no spaces, no NaN): the form every identity is a hash of."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def short_hash(text: str) -> str:
    """``sha256(text)[:16]``: 64 bits, collision-free at any profile size we will see."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def arch_key(genotype_json: str, config: dict) -> str:
    """Identifier of an architecture at one network config: ``sha256(genotype_json | config)[:16]``,
    with ``genotype_json`` as :meth:`Genotype.to_json` writes it and ``config`` as
    :meth:`NetworkConfig.to_dict` does."""
    return short_hash(genotype_json + "|" + canonical_json(config))


def config_key(config: dict) -> str:
    """Identifier of a network config alone (the unit of a held-out-configs split)."""
    return short_hash(canonical_json(config))
