"""Predictor files: save and load with format, encoder and device checks.

A file is a plain dict of tensors and JSON text, so it loads with ``weights_only=True`` and never
runs code. It records the format and encoder versions (an older file is refused, not misread) and
the device fingerprints of its training samples, which :func:`matches_device` compares with this
machine's: the one rule for "was this predictor made for this device".
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gnnlat.encoding import ENCODER_VERSION
from gnnlat.predictor import LatencyPredictor, PredictorError

FORMAT_NAME = "gnnlat-predictor"
# 2: training set named by gnnlat.identity.arch_key, and the split it was trained with.
# 3: the metric it predicts (meta "metric": latency, memory, energy); format 2 files predict latency.
# A format-2 reader refuses format 3, so an older gnnlat never reads a memory predictor as latency.
# 4: a roofline term and its blend weight (gnnlat.roofline); older files blend none in.
# 5: the roofline's pools have their own costs per unit of work; a format-4 file's one cost per
#    unit of work is read as the same cost for all three groups (the same predictions).
# 6: the roofline has a surcharge per element moved by ops whose channels are not whole SIMD blocks;
#    older files have none (cost 0: the same predictions).
FORMAT_VERSION = 6
READABLE_FORMATS = (2, 3, 4, 5, 6)


def save_predictor(predictor: LatencyPredictor, path: str | Path) -> None:
    """Weights + format/encoder versions + normalisation + metadata (as JSON text)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "encoder_version": ENCODER_VERSION,
        "model": {"hidden": predictor.hidden, "layers": predictor.layers, "merge_cells": predictor.merge_cells},
        "state_dict": {k: v.detach().cpu() for k, v in predictor.state_dict().items()},
        "meta_json": json.dumps(predictor.meta, sort_keys=True, default=_json_default),
    }, path)


def load_predictor(path: str | Path) -> LatencyPredictor:
    """Load a predictor file (onto the CPU); PredictorError for a missing, foreign, corrupt or
    other-version file."""
    ckpt = _read_checkpoint(Path(path))
    version = ckpt.get("format_version")
    if version not in READABLE_FORMATS or ckpt.get("encoder_version") != ENCODER_VERSION:
        raise PredictorError(
            f"{path} is predictor format {version} (encoder {ckpt.get('encoder_version')}); this gnnlat "
            f"reads format {FORMAT_VERSION} (encoder {ENCODER_VERSION}): retrain the predictor")
    try:
        model = ckpt["model"]
        meta = json.loads(ckpt["meta_json"])
        if version < 3:
            meta.setdefault("metric", "latency")
        predictor = LatencyPredictor(int(model["hidden"]), int(model["layers"]), bool(model["merge_cells"]), meta)
        state = dict(ckpt["state_dict"])
        if version < 4:
            state.update({k: v for k, v in predictor.state_dict().items() if k.startswith("roofline.")})
        elif version < FORMAT_VERSION:
            state["roofline.costs"] = older_roofline(state["roofline.costs"], version)
        predictor.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise PredictorError(f"{path} is a corrupt predictor file ({type(exc).__name__}: {exc})") from None
    predictor.eval()
    return predictor


def older_roofline(costs: torch.Tensor, version: int) -> torch.Tensor:
    """A format-4 roofline's (kernels, MACs, elements, intercept) or a format-5 one's (kernels, MACs,
    max-pool MACs, average-pool MACs, elements, intercept) costs as the seven of
    :data:`gnnlat.roofline.TERMS`, predicting what they did."""
    expected = {4: 4, 5: 6}[version]
    if costs.shape != (expected,):
        raise ValueError(f"a format-{version} roofline has {expected} costs, got shape {tuple(costs.shape)}")
    if version == 4:
        kernels, macs, elements, intercept = costs
        costs = torch.stack([kernels, macs, macs, macs, elements, intercept])
    return torch.cat([costs[:5], torch.zeros(1, dtype=costs.dtype), costs[5:]])


def matches_device(predictor: LatencyPredictor, fingerprint_id: str) -> bool:
    """Whether the predictor was trained on samples from the device with this fingerprint id
    (``harness.store.fingerprint_id``: CPU or GPU model, software versions, threads, backend)."""
    return fingerprint_id in predictor.fingerprints


def _read_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise PredictorError(f"no such predictor file: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign/corrupt files (pickle, zip, EOF)
        raise PredictorError(f"{path} is not a gnnlat predictor file or is corrupt "
                             f"({type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT_NAME:
        raise PredictorError(f"{path} is not a gnnlat predictor file")
    return ckpt


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in predictor metadata")
