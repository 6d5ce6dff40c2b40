"""λ sweep: search, retrain and measure for every (λ, seed); the accuracy/latency trade-off."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from gnnlat.errors import GnnlatError
from gnnlat.architect import LatencyFn
from gnnlat.costs import CostFn
from gnnlat.genotype import Genotype
from gnnlat.search import run_search
from gnnlat.search_config import SearchConfig
from gnnlat.train import TrainConfig, train_network

MeasureFn = Callable[[Genotype], float]  # measured latency (ms) of a derived genotype
MeasureManyFn = Callable[[list[Genotype]], list[float]]  # the same, for several in shared rounds


class SweepError(GnnlatError, ValueError):
    """A sweep directory whose finished runs do not match the requested sweep."""


def run_one(lam: float, seed: int, search: SearchConfig, train: TrainConfig, latency_fn: LatencyFn,
            lat_ref: float | None, measure: MeasureFn, out_dir: Path, memory_fn: CostFn | None = None
            ) -> dict[str, Any]:
    """One (λ, seed) cell of the sweep; finished cells are read back, interrupted ones resume.
    With a memory term (``search.lam_memory``; ``memory_fn`` predicts MB) the cell's directory
    names λ_mem too, and the row carries ``lam_memory`` and ``predicted_mb``."""
    run_dir = cell_dir(out_dir, lam, seed, search)
    done = run_dir / "result.json"
    cfg = replace(search, lam=lam, seed=seed, out_dir=str(run_dir))
    settings = _settings(cfg, replace(train, seed=seed))
    if done.is_file():
        row = json.loads(done.read_text())
        _check_cached(row, settings, lat_ref, done)
        return row
    resume = (run_dir / "checkpoint.pt").is_file()
    result = run_search(cfg, latency_fn, lat_ref=lat_ref, resume=resume, memory_fn=memory_fn)
    trained = train_network(result.genotype, replace(train, seed=seed))
    row = {"lam": lam, "seed": seed, "genotype": result.genotype.to_dict(), "predicted_ms": result.predicted_ms,
           "measured_ms": measure(result.genotype), "search_val_acc": result.val_acc,
           "test_acc": trained["test_acc"], "params_m": trained["params_m"], "lat_ref_ms": result.lat_ref,
           "settings": settings}
    for term in result.costs:
        row[f"lam_{term['name']}"], row[f"predicted_{term['unit'].lower()}"] = term["lam"], term["predicted"]
    done.write_text(json.dumps(row))
    return row


def cell_dir(out_dir: Path, lam: float, seed: int, search: SearchConfig) -> Path:
    """The directory of one (λ, seed) cell (its λ_mem too, with a memory term): ``result.json`` there
    marks it finished, for any runner (a Ray driver reads and writes it too)."""
    mem = f"_mem{search.lam_memory:g}" if search.uses_memory else ""
    return out_dir / f"lam{lam:g}{mem}_seed{seed}"


def _settings(search: SearchConfig, train: TrainConfig) -> dict[str, Any]:
    """What decides a run's outcome (paths and the device do not; λ = 0 ignores LAT_ref)."""
    drop = {"out_dir", "data_dir", "device"} | ({"lat_ref"} if search.lam == 0 else set())
    return {"search": {k: v for k, v in search.to_dict().items() if k not in drop}, "train": train_settings(train)}


def train_settings(train: TrainConfig) -> dict[str, Any]:
    """What decides a retraining's outcome (the data's path and the device do not)."""
    return {k: v for k, v in asdict(train).items() if k not in {"data_dir", "device"}}


def check_settings(row: dict[str, Any], settings: dict[str, Any], path: Path) -> None:
    """A finished run is reused only for the same settings (a dict of dicts); otherwise say which
    entries differ."""
    cached = row.get("settings") or {}
    if cached != settings:
        diff = [f"{part}.{k}" for part, now in settings.items() for k in sorted(set(now) | set(cached.get(part, {})))
                if cached.get(part, {}).get(k) != now.get(k)]
        raise SweepError(f"{path} was run with other settings ({', '.join(diff)}); choose another output directory")


def _check_cached(row: dict[str, Any], settings: dict[str, Any], lat_ref: float | None, path: Path) -> None:
    """A finished run is reused only for the same settings and, for λ > 0, the same LAT_ref value."""
    check_settings(row, settings, path)
    if settings["search"]["lam"] == 0 or lat_ref is None:
        return
    ref = row.get("lat_ref_ms")
    if ref is None or not math.isclose(ref, lat_ref, rel_tol=1e-6):
        raise SweepError(f"{path} was searched with LAT_ref {ref} ms, this sweep uses {lat_ref:.6g} ms "
                         f"(another predictor?); choose another output directory")


def remeasure_together(rows: list[dict[str, Any]], measure_many: MeasureManyFn) -> list[dict[str, Any]]:
    """Re-time every run's genotype in shared interleaved rounds, so latencies compared across λ
    come from one machine state; the latency taken right after each run (baselines have none) is
    kept as ``measured_ms_run``."""
    measured = measure_many([Genotype.from_dict(r["genotype"]) for r in rows])
    out = []
    for r, m in zip(rows, measured):
        row = {**r, "measured_ms": m}
        if "measured_ms" in r:
            row["measured_ms_run"] = r.get("measured_ms_run", r["measured_ms"])
        out.append(row)
    return out


def summarize_sweep(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds, per λ."""
    out = []
    for lam in sorted({r["lam"] for r in rows}):
        rs = [r for r in rows if r["lam"] == lam]
        entry = {"lam": lam, **over_seeds(rs)}
        if all(r.get("peak_memory_mb") is not None for r in rs):
            mem = np.array([r["peak_memory_mb"] for r in rs])
            entry.update(peak_memory_mb=float(mem.mean()), peak_memory_mb_std=float(mem.std()))
        out.append(entry)
    return out


def over_seeds(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The seeds of one group of runs, their measured latency and test accuracy (mean and standard
    deviation) and their mean predicted latency."""
    lat = np.array([r["measured_ms"] for r in rows])
    acc = np.array([r["test_acc"] for r in rows])
    return {"seeds": len(rows), "measured_ms": float(lat.mean()), "measured_ms_std": float(lat.std()),
            "predicted_ms": float(np.mean([r["predicted_ms"] for r in rows])),
            "test_acc": float(acc.mean()), "test_acc_std": float(acc.std())}


def pareto_front(points: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Points not dominated in (lower latency, higher accuracy), sorted by latency."""
    pts = sorted(points, key=lambda p: (p["measured_ms"], -p["test_acc"]))
    front, best = [], -1.0
    for p in pts:
        if p["test_acc"] > best:
            front.append(p)
            best = p["test_acc"]
    return front
