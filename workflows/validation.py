"""Validation report: the GNN and the op-count baseline scored on the same held-out samples, next to
the profile's noise floor (which needs the store, hence this module sits above both packages)."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from gnnlat.metrics import regression_metrics
from gnnlat.predictor import LatencyPredictor, PredictorError
from gnnlat.record import Record
from gnnlat.split import held_out_records
from gnnlat.plots import plot_predictions
from harness.store import ProfileStore, ProfileStoreError
from workflows.devices import anchor_reference
from workflows.records import ProfileError, noise_floor


def validate_predictor(predictor: LatencyPredictor, records: Sequence[Record], profiles: Sequence[str],
                       held_out: bool = True, plot: str | None = None) -> dict[str, Any]:
    """Score on ``records`` (only the held-out side of the predictor's own split when
    ``held_out``), anchored labels in the predictor's units (:func:`to_predictor_speed`); the
    noise floor is the best-supported one among ``profiles``."""
    records = held_out_records(predictor, records) if held_out else list(records)
    records, factors = to_predictor_speed(predictor, records, profiles)
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
              "baseline": regression_metrics(base, true), "noise_floor": max(floors, key=lambda f: f["n"]),
              "anchor_rescale": factors}
    if plot:
        plot_predictions(true, gnn, base, plot)
    return report


def to_predictor_speed(predictor: LatencyPredictor, records: Sequence[Record],
                       profiles: Sequence[str]) -> tuple[list[Record], dict[str, float]]:
    """Anchored labels read in the predictor's units: each device's labels times
    :math:`t^\\text{pred}_\\text{anchor} / t^\\text{prof}_\\text{anchor}`, the anchor's reference
    latency in the predictor's profile over the one in these profiles (search config, same device).

    Why: an anchored label is a latency at its profile's typical speed. The same machine kind runs
    10% slower or faster on another day (docs/results.md), so a predictor calibrated on one day and
    scored on a profile of another would otherwise be scored on the machine's mood. Devices without
    both references, and ``min`` labels, are left as they are. Returns (records, factor per device)."""
    refs = predictor.meta.get("anchor_refs")
    if not isinstance(refs, dict) or not records or records[0].label != "anchored":
        return list(records), {}
    here = anchor_reference(profiles, predictor.backend)
    factors = {fp: float(refs[fp]["anchor_ms"]) / ref["anchor_ms"] for fp, ref in here.items()
               if fp in refs and refs[fp].get("anchor_key") == ref["anchor_key"]}
    scaled = [replace(r, latency_ms=r.latency_ms * factors[r.fingerprint_id]) if r.fingerprint_id in factors else r
              for r in records]
    return scaled, factors


def _floor(path: str, backend: str | None, labels: str, metric: str) -> dict:
    """The repeat difference of a profile for the predictor's metric (latency: with its labels)."""
    if metric == "latency":
        return noise_floor(path, backend=backend, labels=labels)
    try:
        with ProfileStore(path, create=False) as store:
            return store.noise_floor(backend=backend, metric=metric)
    except ProfileStoreError as exc:
        raise ProfileError(str(exc)) from None
