import json
from dataclasses import replace

import pytest
import torch

from gnnlat.genotype import load_genotype
from gnnlat.network import NetworkConfig
from gnnlat.operations import PRIMITIVES
from gnnlat.derive import cap_skip_connect, derive_genotype_capped
from gnnlat.lambda_control import adapt_lambda
from gnnlat.lat_ref import LatRefError, genotype_latency, reference_latency, uniform_latency
from gnnlat.search import run_search
from gnnlat.search_config import SearchConfig, SearchError
from gnnlat.supernet import Supernet, derive_cell

OP_COST_MS = {"none": 0.0, "max_pool_3x3": 0.3, "avg_pool_3x3": 0.3, "skip_connect": 0.1,
              "sep_conv_3x3": 2.0, "sep_conv_5x5": 3.0, "dil_conv_3x3": 1.5, "dil_conv_5x5": 2.2}
COST = torch.tensor([OP_COST_MS[p] for p in PRIMITIVES])
SKIP = PRIMITIVES.index("skip_connect")


def cost_latency(w_normal: torch.Tensor, w_reduce: torch.Tensor) -> torch.Tensor:
    """A real differentiable latency model: Σ w · per-op cost, reduce cell at half weight."""
    return 1.0 + (w_normal * COST).sum() + 0.5 * (w_reduce * COST).sum()


def tiny(tmp_path, name: str = "run", **kw) -> SearchConfig:
    base = dict(dataset="digits", C=4, layers=3, batch_size=16, epochs=1, max_batches=2, out_dir=str(tmp_path / name))
    base.update(kw)
    return SearchConfig(**base)


def expected_cost(alpha_normal: torch.Tensor, alpha_reduce: torch.Tensor) -> float:
    return float((alpha_normal.softmax(-1) * COST).sum() + (alpha_reduce.softmax(-1) * COST).sum())


def initial_supernet(seed: int = 0) -> Supernet:
    torch.manual_seed(seed)  # run_search seeds, then builds the supernet first thing
    return Supernet(NetworkConfig(C=4, layers=3, in_channels=1, resolution=8, classes=10))


# ---- the loop ----------------------------------------------------------------------------
def test_bilevel_epoch_updates_weights_and_alpha_and_writes_outputs(tmp_path):
    cfg = tiny(tmp_path)
    seen = []
    result = run_search(cfg, cost_latency, progress=seen.append)
    init = initial_supernet().state_dict()
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 1
    for key in ("alpha_normal", "alpha_reduce", "stem.0.weight", "classifier.weight"):
        assert not torch.equal(state["model"][key], init[key]), key
    assert torch.equal(result.alpha_normal, state["model"]["alpha_normal"])
    # Default LAT_ref: what the uniform cells add over the α-free part (cost_latency's 1.0 ms).
    assert result.lat_ref == pytest.approx(uniform_latency(cost_latency) - 1.0)
    assert result.predicted_ms == pytest.approx(genotype_latency(cost_latency, result.genotype))
    assert [r["epoch"] for r in seen] == [1] and seen == result.history
    rec = seen[0]
    assert {"ce", "lat_term", "predicted_ms", "val_acc", "lam", "genotype"} <= set(rec)
    assert rec["ce"] > 0 and 0 <= rec["val_acc"] <= 1 and rec["lam"] == cfg.lam
    assert load_genotype(str(tmp_path / "run" / "genotype.json")) == result.genotype
    assert load_genotype(str(tmp_path / "run" / "genotype.txt")) == result.genotype
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["predicted_ms"] == pytest.approx(result.predicted_ms)


def test_latency_weight_moves_alpha_toward_cheap_ops(tmp_path):
    start = initial_supernet()
    cost0 = expected_cost(start.alpha_normal.detach(), start.alpha_reduce.detach())
    costs = {}
    for lam in (0.0, 2.0):
        r = run_search(tiny(tmp_path, f"lam{lam}", lam=lam, arch_lr=3e-3, max_batches=3), cost_latency)
        costs[lam] = expected_cost(r.alpha_normal, r.alpha_reduce)
    assert costs[2.0] < costs[0.0]
    assert costs[2.0] < cost0


def test_second_order_search_changes_alpha(tmp_path):
    r = run_search(tiny(tmp_path, order=2, max_batches=1), cost_latency)
    assert not torch.equal(r.alpha_normal, initial_supernet().alpha_normal.detach())
    assert torch.isfinite(r.alpha_normal).all() and torch.isfinite(r.alpha_reduce).all()


class Interrupt(Exception):
    pass


def test_resume_matches_uninterrupted_run(tmp_path):
    # target_ms far below anything reachable: λ must grow every epoch (and be restored on resume).
    cfg_a = tiny(tmp_path, "a", epochs=3, target_ms=1e-3)
    full = run_search(cfg_a, cost_latency)

    cfg_b = replace(cfg_a, out_dir=str(tmp_path / "b"))

    def stop_after_first(record):
        if record["epoch"] == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_search(cfg_b, cost_latency, progress=stop_after_first)
    assert torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["epoch"] == 1
    resumed = run_search(cfg_b, cost_latency, resume=True)

    assert resumed.genotype == full.genotype
    assert torch.equal(resumed.alpha_normal, full.alpha_normal)
    assert torch.equal(resumed.alpha_reduce, full.alpha_reduce)
    assert resumed.lam == full.lam and resumed.lat_ref == full.lat_ref
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert [h["ce"] for h in resumed.history] == [h["ce"] for h in full.history]
    lams = [h["lam"] for h in full.history] + [full.lam]
    assert all(b > a for a, b in zip(lams, lams[1:]))  # over budget: λ rises

    with pytest.raises(SearchError, match="lam"):
        run_search(replace(cfg_b, lam=0.5), cost_latency, resume=True)


def test_target_ms_lowers_lambda_under_budget(tmp_path):
    cfg = tiny(tmp_path, epochs=2, max_batches=1, target_ms=1e6, lam=0.5)
    r = run_search(cfg, cost_latency)
    assert r.history[0]["lam"] == 0.5
    assert r.history[1]["lam"] < 0.5 and r.lam < r.history[1]["lam"]
    assert r.lam >= cfg.lam_min


def test_resume_without_checkpoint(tmp_path):
    with pytest.raises(SearchError, match="no checkpoint"):
        run_search(tiny(tmp_path, "empty"), cost_latency, resume=True)


def test_resume_rejects_foreign_checkpoint(tmp_path):
    (tmp_path / "x").mkdir()
    torch.save({"something": 1}, tmp_path / "x" / "checkpoint.pt")
    with pytest.raises(SearchError, match="not a gnnlat search checkpoint"):
        run_search(tiny(tmp_path, "x"), cost_latency, resume=True)


@pytest.mark.parametrize("kw, match", [
    ({"order": 3}, "order"), ({"epochs": 0}, "epochs"), ({"lam": -1.0}, "lam"),
    ({"target_ms": 0.0}, "target_ms"), ({"C": 5}, "even"), ({"train_portion": 1.0}, "train_portion"),
    ({"dataset": "mnist"}, "unknown dataset"),
])
def test_bad_config(tmp_path, kw, match):
    with pytest.raises(ValueError, match=match):
        run_search(tiny(tmp_path, **kw), cost_latency)


# ---- λ rule ------------------------------------------------------------------------------
def test_adapt_lambda_direction_and_bounds():
    assert adapt_lambda(0.2, predicted_ms=12.0, target_ms=10.0) == pytest.approx(0.24)
    assert adapt_lambda(0.2, predicted_ms=8.0, target_ms=10.0) == pytest.approx(0.16)
    assert adapt_lambda(0.2, predicted_ms=10.0, target_ms=10.0) == pytest.approx(0.2)
    assert adapt_lambda(0.2, predicted_ms=100.0, target_ms=10.0) == pytest.approx(0.4)  # factor ≤ 2
    assert adapt_lambda(0.2, predicted_ms=1.0, target_ms=10.0) == pytest.approx(0.1)  # factor ≥ 1/2
    assert adapt_lambda(8.0, 100.0, 10.0, lam_max=10.0) == 10.0
    assert adapt_lambda(1e-3, 1.0, 10.0, lam_min=1e-3) == 1e-3


# ---- skip cap ----------------------------------------------------------------------------
def skip_heavy_weights(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    alpha = 0.1 * torch.randn(14, len(PRIMITIVES), generator=g)
    alpha[:, SKIP] += 5.0 + torch.rand(14, generator=g)  # skip dominates every edge
    return alpha.softmax(-1)


def count_skips(pairs) -> int:
    return sum(op == "skip_connect" for op, _ in pairs)


@pytest.mark.parametrize("cap", [0, 1, 2, 3])
def test_skip_cap_limits_derived_skips(cap):
    w = skip_heavy_weights()
    assert count_skips(derive_cell(w, 4)) == 8  # uncapped DARTS collapses to all-skip
    pairs = derive_cell(cap_skip_connect(w, cap), 4)
    assert count_skips(pairs) == cap  # exactly cap here: every kept edge's best op is skip


def test_skip_cap_keeps_the_strongest_skips():
    w = skip_heavy_weights(seed=1)
    uncapped = derive_cell(w, 4)
    starts = [0, 2, 5, 9]
    rows = [starts[k // 2] + inp for k, (_, inp) in enumerate(uncapped)]
    strongest = sorted(rows, key=lambda r: -float(w[r, SKIP]))[:2]
    capped = cap_skip_connect(w, 2)
    for r in strongest:
        assert capped[r, SKIP] == w[r, SKIP]
    assert torch.equal(cap_skip_connect(w, None), w)
    assert torch.equal(cap_skip_connect(w, 8), w)


def test_capped_genotype_caps_normal_only():
    w = skip_heavy_weights()
    g = derive_genotype_capped(w, w, skip_cap=2)
    assert count_skips(g.normal) == 2
    assert count_skips(g.reduce) == 8  # reduce cells are derived as-is


# ---- LAT_ref ------------------------------------------------------------------------------
def test_reference_latency_modes():
    uniform = uniform_latency(cost_latency)
    assert reference_latency(cost_latency, "uniform") == pytest.approx(uniform)
    # Every edge on `none` leaves only the fixed 1.0 ms: the cells' share is the rest.
    assert reference_latency(cost_latency, "cells") == pytest.approx(uniform - 1.0)
    with pytest.raises(LatRefError, match="lat_ref must be one of"):
        reference_latency(cost_latency, "median")
    with pytest.raises(SearchError, match="lat_ref must be one of"):
        SearchConfig(lat_ref="bogus").validate()


def test_reference_latency_rejects_a_predictor_that_gives_cells_no_latency():
    def flat(w_normal, w_reduce):
        return torch.tensor(2.0) + 0 * w_normal.sum()

    with pytest.raises(LatRefError, match="no latency"):
        reference_latency(flat, "cells")
    assert reference_latency(flat, "uniform") == pytest.approx(2.0)
