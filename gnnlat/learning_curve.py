"""Learning curves: held-out error of the GNN and the baseline against training-set size."""
from __future__ import annotations

import time
from typing import Sequence

from gnnlat.fit import PredictorConfig, check_records, score_both, fit_baseline, fit_predictor
from gnnlat.predictor import PredictorError
from gnnlat.record import Record
from gnnlat.split import split_records


def learning_curve(records: Sequence[Record], sizes: Sequence[int], cfg: PredictorConfig = PredictorConfig(),
                   progress: bool = False) -> list[dict]:
    """GNN and op-count baseline validation metrics vs training-set size, on one fixed held-out set.

    Each row: ``{"size", "n_train", "n_val", "gnn": metrics, "baseline": metrics, "train_seconds"}``;
    the training sets are nested prefixes of one shuffled pool. A size beyond the pool is clamped
    (``n_train`` says how many were used); a size that clamps to a row already fitted is skipped.
    """
    check_records(records)
    train_idx, val_idx = split_records(records, cfg.val_frac, cfg.seed, cfg.split)
    if not val_idx:
        raise PredictorError("learning_curve needs a held-out set: val_frac must be > 0")
    val = [records[i] for i in val_idx]
    rows = []
    for size in sizes:
        if size < 1:
            raise PredictorError(f"training sizes must be >= 1, got {size}")
        train = [records[i] for i in train_idx[:size]]
        if any(r["n_train"] == len(train) for r in rows):
            continue
        t0 = time.perf_counter()
        predictor = fit_predictor(train, cfg, progress)
        scores = score_both(predictor, fit_baseline(train), val)
        rows.append({"size": int(size), "n_train": len(train), "n_val": len(val), **scores,
                     "train_seconds": time.perf_counter() - t0})
    return rows
