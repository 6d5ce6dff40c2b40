"""Baselines of a λ sweep: fixed cells retrained with the sweep's own protocol and seeds.

A searched cell's accuracy and latency mean something only next to cells that were not searched:
DARTS V2, the cells that do nothing or only pool (:mod:`gnnlat.reference_cells`), and random
cells of the same predicted latency as the search at λ = ``match_lam``. Ten random cells whose
predicted latency lies within 5% of that search's are retrained with the first seed; the one
with the best *validation* accuracy (test accuracy would select on the test set) is retrained
with every seed, as ``random_matched``.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from gnnlat.genotype import Genotype, random_genotype
from gnnlat.published import NAMED_CELLS
from gnnlat.sweep import SweepError, check_settings, over_seeds, train_settings
from gnnlat.train import TrainConfig, train_network

FIXED_BASELINES: tuple[str, ...] = ("DARTS_V2", "all_skip", "pools_only")
RANDOM_MATCHED = "random_matched"
PredictFn = Callable[[Sequence[Genotype]], np.ndarray]  # predicted latency (ms) of each genotype


@dataclass(frozen=True)
class BaselineConfig:
    """Which baselines a sweep retrains beside its searches."""

    fixed: tuple[str, ...] = FIXED_BASELINES
    match_lam: float = 0.2  # random cells are matched to this λ's predicted latency
    random_cells: int = 10
    tolerance: float = 0.05  # relative window around the matched latency
    random_seed: int = 0  # the random cells' stream
    max_draws: int = 5_000


def matched_latency(rows: Sequence[dict[str, Any]], lam: float) -> float | None:
    """Mean predicted latency of the sweep's runs at ``lam`` (None when ``lam`` was not swept)."""
    values = [r["predicted_ms"] for r in rows if r["lam"] == lam]
    return float(np.mean(values)) if values else None


def latency_matched_cells(predict: PredictFn, target_ms: float, cfg: BaselineConfig) -> list[Genotype]:
    """The first ``cfg.random_cells`` random genotypes of a seeded stream whose predicted latency
    lies within ``cfg.tolerance`` of ``target_ms``."""
    rng = random.Random(cfg.random_seed)
    candidates = [random_genotype(rng) for _ in range(cfg.max_draws)]
    close = np.abs(predict(candidates) / target_ms - 1) <= cfg.tolerance
    found = [g for g, ok in zip(candidates, close) if ok][:cfg.random_cells]
    if len(found) < cfg.random_cells:
        raise SweepError(f"only {len(found)} of {cfg.random_cells} random cells lie within {cfg.tolerance:.0%} of "
                         f"{target_ms:.4g} ms in {cfg.max_draws} draws")
    return found


def train_baseline(name: str, genotype: Genotype, seed: int, train: TrainConfig, predict: PredictFn,
                   out_dir: Path) -> dict[str, Any]:
    """Retrain one baseline cell with one seed (read back when already done); its row is shaped
    like a sweep run's, with ``baseline`` instead of ``lam``."""
    done = out_dir / f"baseline_{name}_seed{seed}" / "result.json"
    cfg = replace(train, seed=seed)
    settings = {"train": train_settings(cfg), "genotype": genotype.to_dict()}
    if done.is_file():
        row = json.loads(done.read_text())
        check_settings(row, settings, done)
        return row
    trained = train_network(genotype, cfg)
    row = {"baseline": name, "seed": seed, "genotype": genotype.to_dict(), "predicted_ms": float(predict([genotype])[0]),
           "test_acc": trained["test_acc"], "val_acc": trained["val_acc"], "params_m": trained["params_m"],
           "settings": settings}
    done.parent.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(row))
    return row


def run_baselines(sweep_rows: Sequence[dict[str, Any]], seeds: int, train: TrainConfig, predict: PredictFn,
                  out_dir: Path, cfg: BaselineConfig = BaselineConfig(),
                  progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Every baseline row: the fixed cells with every seed, then the latency-matched random cells
    (screened with seed 0, the best by validation accuracy retrained with every seed). Without
    runs at ``cfg.match_lam`` there is no random baseline. ``progress(done, total)`` counts the
    retrainings."""
    target = matched_latency(sweep_rows, cfg.match_lam)
    total = len(cfg.fixed) * seeds + (cfg.random_cells + seeds - 1 if target is not None else 0)
    done = 0

    def trained(name: str, genotype: Genotype, seed: int) -> dict[str, Any]:
        nonlocal done
        row = train_baseline(name, genotype, seed, train, predict, out_dir)
        done += 1
        if progress is not None:
            progress(done, total)
        return row

    rows = [trained(name, NAMED_CELLS[name], seed) for name in cfg.fixed for seed in range(seeds)]
    if target is None:
        return rows
    screened = [trained(f"random{k}", g, 0) for k, g in enumerate(latency_matched_cells(predict, target, cfg))]
    best = max(screened, key=lambda r: r["val_acc"])
    matched = [best] + [trained(best["baseline"], Genotype.from_dict(best["genotype"]), seed)
                        for seed in range(1, seeds)]
    rows += [{**r, "baseline": RANDOM_MATCHED, "screened_as": best["baseline"]} for r in matched]
    return rows + [{**r, "screening": True} for r in screened if r is not best]


def summarize_baselines(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds per baseline (screening rows left out)."""
    kept = [r for r in rows if not r.get("screening")]
    return [{"baseline": name, **over_seeds([r for r in kept if r["baseline"] == name])}
            for name in dict.fromkeys(r["baseline"] for r in kept)]


def trade_off_verdict(summary: Sequence[dict[str, Any]], baselines: Sequence[dict[str, Any]],
                      lam: float = 0.2) -> list[str]:
    """What the sweep shows at ``lam``: its latency and accuracy against λ = 0, and its accuracy
    against every baseline at equal or lower measured latency, with the seed spread (the larger
    of the two standard deviations) as the margin that counts."""
    at = next((s for s in summary if s["lam"] == lam), None)
    base = next((s for s in summary if s["lam"] == 0), None)
    if at is None:
        return []
    lines = []
    if base is not None:
        lines.append(f"λ={lam:g} vs λ=0: latency {at['measured_ms'] / base['measured_ms'] - 1:+.1%}, "
                     f"accuracy {100 * (at['test_acc'] - base['test_acc']):+.2f} points")
    for b in baselines:
        if b["measured_ms"] > at["measured_ms"]:
            continue
        gap, spread = 100 * (at["test_acc"] - b["test_acc"]), 100 * max(at["test_acc_std"], b["test_acc_std"])
        verdict = "beats it beyond the seed spread" if gap > spread else "does not beat it beyond the seed spread"
        lines.append(f"λ={lam:g} vs {b['baseline']} ({b['measured_ms']:.3f} ms ≤ {at['measured_ms']:.3f} ms): "
                     f"accuracy {gap:+.2f} points, spread {spread:.2f}: {verdict}")
    return lines
