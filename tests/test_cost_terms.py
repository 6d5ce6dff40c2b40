"""Metrics beyond latency end to end: memory records and predictors (files record their metric),
and a search with two cost terms."""
import random

import pytest
import torch

from gnnlat.checkpoint import load_predictor, save_predictor
from gnnlat.count_baseline import CountBaseline, load_baseline
from gnnlat.fit import PredictorConfig, train_predictor
from gnnlat.genotype import random_genotype
from gnnlat.network import NetworkConfig
from gnnlat.operations import PRIMITIVES
from gnnlat.search import run_search
from gnnlat.search_config import SearchConfig, SearchError
from gnnlat.shipped import predictor_path
from harness.metric_profile import MemoryMeter, run_metric_profile
from harness.profile import ProfileConfig
from harness.timers import make_timer
from workflows.records import load_metric_records, load_profiles

TINY = NetworkConfig(C=4, layers=3, resolution=8)

# Per-op cost tables: latency favours pooling over convolutions, "memory" the reverse, so the two
# terms pull α different ways and each one's effect can be seen on its own.
LAT = {"none": 0.0, "max_pool_3x3": 0.3, "avg_pool_3x3": 0.3, "skip_connect": 0.1,
       "sep_conv_3x3": 2.0, "sep_conv_5x5": 3.0, "dil_conv_3x3": 1.5, "dil_conv_5x5": 2.2}
MEM = {"none": 0.0, "max_pool_3x3": 3.0, "avg_pool_3x3": 3.0, "skip_connect": 0.1,
       "sep_conv_3x3": 0.5, "sep_conv_5x5": 0.6, "dil_conv_3x3": 0.4, "dil_conv_5x5": 0.5}
LAT_COST = torch.tensor([LAT[p] for p in PRIMITIVES])
MEM_COST = torch.tensor([MEM[p] for p in PRIMITIVES])


def table_cost(cost: torch.Tensor):
    def fn(w_normal, w_reduce):
        return 1.0 + (w_normal * cost).sum() + 0.5 * (w_reduce * cost).sum()
    return fn


def expected(alpha_normal: torch.Tensor, cost: torch.Tensor) -> float:
    return float((alpha_normal.softmax(-1) * cost).sum())


@pytest.fixture(scope="module")
def memory_profile(tmp_path_factory):
    path = tmp_path_factory.mktemp("mem") / "m.db"
    cfg = ProfileConfig(n=40, out=str(path), config=TINY, repeat_frac=0.0)
    run_metric_profile(cfg, MemoryMeter(make_timer("cpu")))
    return path


def test_memory_records_and_predictor_round_trip(memory_profile, tmp_path):
    records = load_metric_records(memory_profile, "memory")
    assert len(records) == 40 and {r.metric for r in records} == {"memory"} and records[0].label == "measured"
    assert all(0.01 < r.latency_ms < 10 for r in records)  # MB of a tiny network
    with pytest.raises(Exception, match="no primary samples"):
        load_profiles([memory_profile], metric="latency")  # no timings in a memory-only profile
    predictor, metrics = train_predictor(records, PredictorConfig(epochs=5, min_steps=0, hidden=8))
    assert predictor.metric == "memory" and predictor.unit == "MB"
    assert isinstance(predictor.baseline, CountBaseline)
    assert set(metrics["val"]) == {"gnn", "baseline"}
    save_predictor(predictor, tmp_path / "m.pt")
    loaded = load_predictor(tmp_path / "m.pt")
    assert loaded.metric == "memory" and loaded.unit == "MB"
    assert loaded.baseline.to_dict() == predictor.baseline.to_dict()
    g = [r.genotype for r in records[:3]]
    assert loaded.predict(g, TINY) == pytest.approx(predictor.predict(g, TINY))


def test_old_predictor_files_predict_latency():
    old = load_predictor(predictor_path("cpu-reference"))  # format 2, from before other metrics
    assert old.metric == "latency" and old.unit == "ms"


def test_count_baseline_round_trip_and_fit():
    rng = random.Random(0)
    genotypes = [random_genotype(rng) for _ in range(6)]
    configs = [TINY, NetworkConfig(C=8, layers=3, resolution=8)] * 3
    base = CountBaseline()
    from gnnlat.count_baseline import count_features

    x = count_features(genotypes, configs)
    truth = 0.5 + x[:, 0] * 4e-6 + x[:, 1] * 8e-6  # bytes → MB of float32 weights and activations
    base.fit(genotypes, configs, truth)
    assert base.predict(genotypes, configs) == pytest.approx(truth, rel=1e-6)
    assert load_baseline(base.to_dict()).coef == pytest.approx(base.coef)


def tiny_search(tmp_path, name, **kw) -> SearchConfig:
    return SearchConfig(dataset="digits", C=4, layers=3, batch_size=16, epochs=2, max_batches=3, out_dir=str(tmp_path / name), **kw)


def test_memory_term_alone_moves_alpha_toward_cheap_memory_ops(tmp_path):
    lat, mem = table_cost(LAT_COST), table_cost(MEM_COST)
    plain = run_search(tiny_search(tmp_path, "plain", lam=0.0), lat)
    with_mem = run_search(tiny_search(tmp_path, "mem", lam=0.0, lam_memory=1.0), lat, memory_fn=mem)
    assert expected(with_mem.alpha_normal, MEM_COST) < expected(plain.alpha_normal, MEM_COST)
    assert expected(with_mem.alpha_reduce, MEM_COST) < expected(plain.alpha_reduce, MEM_COST)
    pools = [PRIMITIVES.index("max_pool_3x3"), PRIMITIVES.index("avg_pool_3x3")]
    assert with_mem.alpha_normal[:, pools].mean() < plain.alpha_normal[:, pools].mean() - 0.05  # memory-heavy ops lose
    [term] = with_mem.costs
    assert term["name"] == "memory" and term["unit"] == "MB" and term["lam"] == 1.0 and term["ref"] > 0
    assert term["predicted"] > 0 and plain.costs == []
    rec = with_mem.history[-1]
    assert {"memory_term", "predicted_mb", "lam_memory"} <= set(rec)


def test_memory_term_needs_a_memory_function_and_resumes(tmp_path):
    lat, mem = table_cost(LAT_COST), table_cost(MEM_COST)
    with pytest.raises(SearchError, match="memory predictor"):
        run_search(tiny_search(tmp_path, "x", lam_memory=0.1), lat)
    with pytest.raises(SearchError, match="lam_memory"):
        tiny_search(tmp_path, "y", lam_memory=-1.0).validate()
    cfg = tiny_search(tmp_path, "r", lam=0.1, lam_memory=0.5, target_mb=2.0)
    full = run_search(cfg, lat, memory_fn=mem)
    # target mode adapted λ_mem; a resumed run from the checkpoint ends on the same genotype and λ_mem
    again = run_search(cfg, lat, memory_fn=mem, resume=True)
    assert again.genotype == full.genotype and again.costs == full.costs
    assert full.costs[0]["lam"] != 0.5


def test_latency_only_config_dict_is_unchanged():
    # checkpoints and sweep results of latency-only searches from before the memory term still match
    assert "lam_memory" not in SearchConfig().to_dict() and "target_mb" not in SearchConfig().to_dict()
    assert SearchConfig(lam_memory=0.1).to_dict()["lam_memory"] == 0.1
