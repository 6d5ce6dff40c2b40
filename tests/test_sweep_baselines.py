import json
from dataclasses import replace

import numpy as np
import pytest

from gnnlat.published import DARTS_V2, NAMED_CELLS
from gnnlat.sweep import SweepError
from gnnlat.sweep_baselines import (RANDOM_MATCHED, BaselineConfig, latency_matched_cells, matched_latency,
                                    run_baselines, summarize_baselines, trade_off_verdict)
from gnnlat.train import TrainConfig

TRAIN = TrainConfig(dataset="digits", C=4, layers=3, batch_size=32, epochs=1, max_batches=2)
CONV_COST = {"sep_conv_3x3": 0.2, "sep_conv_5x5": 0.3, "dil_conv_3x3": 0.1, "dil_conv_5x5": 0.15}


def conv_cost(genotypes) -> np.ndarray:
    """A deterministic latency stand-in: a fixed cost per convolution of both cells."""
    return np.array([1.0 + sum(CONV_COST.get(op, 0.01) for op, _ in g.normal + g.reduce) for g in genotypes])


def test_matched_cells_lie_in_the_window_and_are_seeded():
    target = float(conv_cost([DARTS_V2])[0])
    cfg = BaselineConfig(random_cells=4, tolerance=0.05)
    cells = latency_matched_cells(conv_cost, target, cfg)
    assert len(cells) == 4 and len(set(map(str, cells))) == 4
    assert np.all(np.abs(conv_cost(cells) / target - 1) <= 0.05)
    assert latency_matched_cells(conv_cost, target, cfg) == cells
    assert latency_matched_cells(conv_cost, target, replace(cfg, random_seed=1)) != cells
    with pytest.raises(SweepError, match="only 0 of 4 random cells"):
        latency_matched_cells(conv_cost, 100.0, cfg)  # nothing that slow exists


def test_matched_latency_is_the_mean_prediction_at_that_lambda():
    rows = [{"lam": 0.2, "predicted_ms": 1.0}, {"lam": 0.2, "predicted_ms": 2.0}, {"lam": 0.0, "predicted_ms": 9.0}]
    assert matched_latency(rows, 0.2) == pytest.approx(1.5)
    assert matched_latency(rows, 0.5) is None


def test_baselines_retrain_every_seed_and_pick_the_random_cell_by_validation(tmp_path):
    sweep_rows = [{"lam": 0.2, "predicted_ms": float(conv_cost([DARTS_V2])[0])}]
    cfg = BaselineConfig(fixed=("all_skip", "DARTS_V2"), random_cells=3)
    seen = []
    rows = run_baselines(sweep_rows, 2, TRAIN, conv_cost, tmp_path, cfg, lambda d, t: seen.append((d, t)))
    assert seen == [(d, 2 * 2 + 3 + 1) for d in range(1, 9)]  # fixed × seeds, screening, the chosen one's other seed
    fixed = [(r["baseline"], r["seed"]) for r in rows if r["baseline"] in cfg.fixed]
    assert fixed == [("all_skip", 0), ("all_skip", 1), ("DARTS_V2", 0), ("DARTS_V2", 1)]
    assert rows[0]["genotype"] == NAMED_CELLS["all_skip"].to_dict()
    screened = [r for r in rows if r["baseline"].startswith("random") and r["baseline"] != RANDOM_MATCHED]
    chosen = [r for r in rows if r["baseline"] == RANDOM_MATCHED]
    assert len(screened) == 2 and [r["seed"] for r in chosen] == [0, 1]  # the chosen one is not listed twice
    best_val = max([chosen[0]["val_acc"]] + [r["val_acc"] for r in screened])
    assert chosen[0]["val_acc"] == best_val and chosen[0]["genotype"] == chosen[1]["genotype"]
    # Read back, not retrained; another protocol is refused instead of silently reused.
    assert run_baselines(sweep_rows, 2, TRAIN, conv_cost, tmp_path, cfg) == rows
    with pytest.raises(SweepError, match=r"other settings \(train\.epochs\)"):
        run_baselines(sweep_rows, 2, replace(TRAIN, epochs=2), conv_cost, tmp_path, cfg)
    summary = summarize_baselines([{**r, "measured_ms": 1.0 + r["seed"]} for r in rows])
    assert [s["baseline"] for s in summary] == ["all_skip", "DARTS_V2", RANDOM_MATCHED]
    assert all(s["seeds"] == 2 and s["measured_ms"] == pytest.approx(1.5) for s in summary)


def test_no_random_baseline_without_the_matched_lambda(tmp_path):
    rows = run_baselines([{"lam": 0.0, "predicted_ms": 1.0}], 1, TRAIN, conv_cost, tmp_path,
                         BaselineConfig(fixed=("pools_only",)))
    assert [r["baseline"] for r in rows] == ["pools_only"]
    assert json.loads((tmp_path / "baseline_pools_only_seed0" / "result.json").read_text())["seed"] == 0


def test_trade_off_verdict_compares_with_faster_baselines_only():
    summary = [{"lam": 0.0, "measured_ms": 1.0, "test_acc": 0.80, "test_acc_std": 0.01},
               {"lam": 0.2, "measured_ms": 0.75, "test_acc": 0.79, "test_acc_std": 0.01}]
    baselines = [{"baseline": "all_skip", "measured_ms": 0.5, "test_acc": 0.50, "test_acc_std": 0.005},
                 {"baseline": "pools_only", "measured_ms": 0.7, "test_acc": 0.785, "test_acc_std": 0.02},
                 {"baseline": "DARTS_V2", "measured_ms": 1.1, "test_acc": 0.81, "test_acc_std": 0.01}]
    lines = trade_off_verdict(summary, baselines)
    assert lines[0] == "λ=0.2 vs λ=0: latency -25.0%, accuracy -1.00 points"
    assert "all_skip" in lines[1] and lines[1].endswith("beats it beyond the seed spread")
    assert "pools_only" in lines[2] and lines[2].endswith("does not beat it beyond the seed spread")
    assert len(lines) == 3  # DARTS V2 is slower: not a like-for-like comparison
    assert trade_off_verdict(summary[:1], baselines) == []
