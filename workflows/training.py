"""Training a predictor on profile stores: their records, and each device's anchor reference,
which later speed checks (``workflows.devices.check_speed``) compare this machine with."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from gnnlat.fit import PredictorConfig, train_predictor
from gnnlat.predictor import LatencyPredictor
from gnnlat.record import Record
from workflows.devices import anchor_reference
from workflows.records import load_profiles, one_device


def train_on_profiles(paths: Sequence[str | Path], cfg: PredictorConfig, backend: str | None = None,
                      labels: str = "auto", progress: bool = False, metric: str = "latency",
                      device: str | None = None) -> tuple[LatencyPredictor, dict, list[Record]]:
    """(predictor, metrics, records): ``gnnlat.fit.train_predictor`` on the profiles' records of
    ``metric`` of one device (``device`` picks it when they hold several, ``one_device``), with the
    anchor references in a latency predictor's meta (``anchor_refs``)."""
    records = one_device(load_profiles(paths, backend, labels, metric), device)
    predictor, metrics = train_predictor(records, cfg, progress=progress)
    if metric == "latency":
        fp_id = records[0].fingerprint_id
        predictor.meta["anchor_refs"] = {k: v for k, v in anchor_reference(paths, backend).items() if k == fp_id}
    return predictor, metrics, records
