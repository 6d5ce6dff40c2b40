"""Train/held-out splits by architecture or by whole network config, and a checkpoint's held-out set."""
from __future__ import annotations

import random
from typing import Sequence

from gnnlat.predictor import LatencyPredictor, PredictorError
from gnnlat.record import Record

SPLITS = ("architecture", "config")


def split_records(records: Sequence[Record], val_frac: float, seed: int, by: str = "architecture"
                  ) -> tuple[list[int], list[int]]:
    """Seeded (train, validation) indices. Records are grouped by architecture (genotype + config)
    or by config, and whole groups go to one side, so nothing is on both sides. The training
    indices come in a seeded random order, so any prefix (``max_train``, learning curves) is a
    random sample of the training side, not a few whole groups."""
    if by not in SPLITS:
        raise PredictorError(f"split must be one of {', '.join(SPLITS)}, got {by!r}")
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        groups.setdefault(r.key if by == "architecture" else r.config_key, []).append(i)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    n_val = int(round(val_frac * len(keys)))
    if val_frac > 0 and len(keys) > 1:
        n_val = min(max(n_val, 1), len(keys) - 1)
    train = [i for k in keys[n_val:] for i in groups[k]]
    val = [i for k in keys[:n_val] for i in groups[k]]
    random.Random(seed + 1).shuffle(train)
    return train, sorted(val)


def training_set_meta(train: Sequence[Record], split: str) -> dict:
    """What a checkpoint keeps to name its training side: the architectures, and for a
    held-out-configs split the configs too."""
    meta: dict = {"split": split, "train_keys": sorted({r.key for r in train})}
    if split == "config":
        meta["train_config_keys"] = sorted({r.config_key for r in train})
    return meta


def held_out_records(predictor: LatencyPredictor, records: Sequence[Record]) -> list[Record]:
    """Records on the held-out side of the split the predictor was trained with: architectures it
    never saw, or, for a ``config`` split, configs it never saw (a seen config with a new genotype
    is not held out then)."""
    meta = predictor.meta
    train_keys = set(meta.get("train_keys", []))
    if not train_keys:
        raise PredictorError("this predictor file records no training set; score every sample instead")
    if meta.get("split") == "config":
        seen = set(meta.get("train_config_keys", []))
        return [r for r in records if r.config_key not in seen]
    return [r for r in records if r.key not in train_keys]
