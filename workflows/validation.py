"""Validation report: the GNN and the op-count baseline scored on the same held-out samples, next to
the profile's noise floor (which needs the store, hence this module sits above both packages)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from gnnlat.metrics import regression_metrics
from gnnlat.predictor import LatencyPredictor, PredictorError
from gnnlat.record import Record
from gnnlat.split import held_out_records
from gnnlat.plots import plot_predictions
from workflows.records import noise_floor


def validate_predictor(predictor: LatencyPredictor, records: Sequence[Record], profiles: Sequence[str],
                       held_out: bool = True, plot: str | None = None) -> dict[str, Any]:
    """Score on ``records`` (only the held-out side of the predictor's own split when
    ``held_out``); the noise floor is the best-supported one among ``profiles``."""
    records = held_out_records(predictor, records) if held_out else list(records)
    if not records:
        raise PredictorError("no samples to score: every sample of the profile was used in training")
    baseline = predictor.baseline
    if baseline is None:
        raise PredictorError("this predictor file carries no op-count baseline to compare with")
    genotypes, configs = [r.genotype for r in records], [r.config for r in records]
    true = np.array([r.latency_ms for r in records])
    gnn, base = predictor.predict(genotypes, configs), baseline.predict(genotypes, configs)
    labels = records[0].label
    floors = [noise_floor(p, backend=predictor.backend, labels=labels) for p in profiles]
    report = {"n": len(records), "backend": predictor.backend, "labels": labels, "gnn": regression_metrics(gnn, true),
              "baseline": regression_metrics(base, true), "noise_floor": max(floors, key=lambda f: f["n"])}
    if plot:
        plot_predictions(true, gnn, base, plot)
    return report
