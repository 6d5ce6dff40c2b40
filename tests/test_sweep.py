from dataclasses import replace

import pytest
import torch

from gnnlat.genotype import Genotype
from gnnlat.operations import PRIMITIVES
from gnnlat.search_config import SearchConfig
from gnnlat.sweep import SweepError, pareto_front, remeasure_together, run_one, summarize_sweep
from gnnlat.train import TrainConfig

COST = torch.tensor([{"none": 0.0, "skip_connect": 0.1}.get(p, 1.0) for p in PRIMITIVES])


def cost_latency(w_normal: torch.Tensor, w_reduce: torch.Tensor) -> torch.Tensor:
    return 1.0 + (w_normal * COST).sum() + 0.5 * (w_reduce * COST).sum()


def measure_by_params(g: Genotype) -> float:
    # A deterministic stand-in for the harness: counts the non-skip ops of the normal cell.
    return 1.0 + sum(op != "skip_connect" for op, _ in g.normal) / 10


SEARCH = SearchConfig(dataset="digits", C=4, layers=3, batch_size=16, epochs=1, max_batches=2)
TRAIN = TrainConfig(dataset="digits", C=4, layers=3, batch_size=16, epochs=1, max_batches=2)


def test_run_one_reuses_only_matching_finished_runs(tmp_path):
    row = run_one(0.5, 0, SEARCH, TRAIN, cost_latency, 2.0, measure_by_params, tmp_path)
    assert row["lam"] == 0.5 and row["measured_ms"] == measure_by_params(Genotype.from_dict(row["genotype"]))
    assert row["settings"]["search"]["arch_lr"] == SEARCH.arch_lr and 0 <= row["test_acc"] <= 1
    assert run_one(0.5, 0, SEARCH, TRAIN, cost_latency, 2.0, measure_by_params, tmp_path) == row
    with pytest.raises(SweepError, match="search.epochs"):
        run_one(0.5, 0, replace(SEARCH, epochs=2), TRAIN, cost_latency, 2.0, measure_by_params, tmp_path)
    with pytest.raises(SweepError, match="train.lr"):
        run_one(0.5, 0, SEARCH, replace(TRAIN, lr=0.1), cost_latency, 2.0, measure_by_params, tmp_path)
    with pytest.raises(SweepError, match="LAT_ref"):
        run_one(0.5, 0, SEARCH, TRAIN, cost_latency, 3.0, measure_by_params, tmp_path)


def test_lambda_zero_runs_ignore_lat_ref(tmp_path):
    row = run_one(0.0, 1, SEARCH, TRAIN, cost_latency, 2.0, measure_by_params, tmp_path)
    other = replace(SEARCH, lat_ref="uniform")
    assert run_one(0.0, 1, other, TRAIN, cost_latency, 5.0, measure_by_params, tmp_path) == row


def test_remeasure_together_keeps_the_per_run_latency():
    g = Genotype.from_dict({"normal": [["skip_connect", 0], ["sep_conv_3x3", 1]] * 4, "normal_concat": [2, 3, 4, 5],
                            "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1]] * 4, "reduce_concat": [2, 3, 4, 5]})
    rows = [{"lam": 0.0, "genotype": g.to_dict(), "measured_ms": 1.5}]
    seen = []
    out = remeasure_together(rows, lambda gs: seen.append(gs) or [1.2] * len(gs))
    assert seen == [[g]] and out[0]["measured_ms"] == 1.2 and out[0]["measured_ms_run"] == 1.5
    again = remeasure_together(out, lambda gs: [1.1])  # the first run-time latency stays
    assert again[0]["measured_ms_run"] == 1.5 and again[0]["measured_ms"] == 1.1


def test_summary_and_pareto_front():
    rows = [{"lam": lam, "seed": s, "measured_ms": ms, "predicted_ms": ms, "test_acc": acc}
            for lam, s, ms, acc in [(0, 0, 2.0, 0.99), (0, 1, 2.2, 0.97), (1, 0, 1.0, 0.96), (1, 1, 1.2, 0.96)]]
    summary = summarize_sweep(rows)
    assert [s["lam"] for s in summary] == [0, 1]
    assert summary[0]["measured_ms"] == pytest.approx(2.1) and summary[0]["test_acc"] == pytest.approx(0.98)
    assert summary[1]["measured_ms_std"] == pytest.approx(0.1) and summary[1]["seeds"] == 2
    dominated = {"lam": 2, "measured_ms": 1.5, "test_acc": 0.95}
    assert [p["lam"] for p in pareto_front([*summary, dominated])] == [1, 0]
