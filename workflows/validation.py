"""Validation report: the GNN and the op-count baseline scored on the same held-out samples, next to
the profile's noise floor (which needs the store, hence this module sits above both packages)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from gnnlat.metrics import regression_metrics
from gnnlat.predictor import LatencyPredictor, PredictorError
from gnnlat.record import Record
from gnnlat.split import held_out_records
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


def plot_predictions(true: np.ndarray, gnn: np.ndarray, baseline: np.ndarray, path: str) -> None:
    """Predicted vs measured on log axes, with the ±10% band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(true, baseline, s=6, alpha=0.35, color="tab:gray", label="op-count baseline")
    ax.scatter(true, gnn, s=6, alpha=0.6, color="tab:blue", label="GNN")
    lo, hi = float(min(true.min(), gnn.min())) * 0.9, float(max(true.max(), gnn.max())) * 1.1
    xs = np.array([lo, hi])
    ax.plot(xs, xs, "k-", lw=0.8)
    ax.fill_between(xs, xs * 0.9, xs * 1.1, color="k", alpha=0.08, label="±10%")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("measured latency (ms)")
    ax.set_ylabel("predicted latency (ms)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
