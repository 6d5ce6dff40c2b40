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
from harness.store import ProfileStore, ProfileStoreError
from workflows.records import ProfileError, noise_floor


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
    floors = [_floor(p, predictor.backend, labels, predictor.metric) for p in profiles]
    report = {"n": len(records), "backend": predictor.backend, "metric": predictor.metric, "unit": predictor.unit,
              "labels": labels, "gnn": regression_metrics(gnn, true),
              "baseline": regression_metrics(base, true), "noise_floor": max(floors, key=lambda f: f["n"])}
    if plot:
        plot_predictions(true, gnn, base, plot)
    return report


def _floor(path: str, backend: str | None, labels: str, metric: str) -> dict:
    """The repeat difference of a profile for the predictor's metric (latency: with its labels)."""
    if metric == "latency":
        return noise_floor(path, backend=backend, labels=labels)
    try:
        with ProfileStore(path, create=False) as store:
            return store.noise_floor(backend=backend, metric=metric)
    except ProfileStoreError as exc:
        raise ProfileError(str(exc)) from None
