"""One search step (α step + weight step, the library's own) on the embedded default, with and
without the latency term."""
import pytest
import torch

from gnnlat.architect import Architect
from gnnlat.data import load_dataset
from gnnlat.network import SEARCH_CONFIG
from gnnlat.search import search_step
from gnnlat.search_config import SearchConfig, SearchError
from gnnlat.steps import dataset_network_config
from gnnlat.supernet import Supernet
from benchmarks.shipped import reference_predictor


def _no_latency(w_normal, w_reduce):
    return torch.zeros(())


@pytest.mark.parametrize("with_latency", [False, True], ids=["plain", "latency"])
def test_bench_search_step(benchmark, with_latency):
    cfg = SearchConfig(device="cpu")
    torch.manual_seed(0)
    splits = load_dataset(cfg.dataset)
    model = Supernet(dataset_network_config(splits, cfg.C, cfg.layers, SearchError))
    w_opt = torch.optim.SGD(model.weight_parameters(), lr=cfg.lr, momentum=cfg.momentum,
                            weight_decay=cfg.weight_decay)
    latency = reference_predictor().latency_fn(SEARCH_CONFIG) if with_latency else _no_latency
    architect = Architect(model, latency, lat_ref=1.0, lam=0.2 if with_latency else 0.0, lr=cfg.arch_lr)
    x, y = splits.train.tensors[0][:cfg.batch_size], splits.train.tensors[1][:cfg.batch_size]
    xv, yv = splits.train.tensors[0][-cfg.batch_size:], splits.train.tensors[1][-cfg.batch_size:]
    weights = list(model.weight_parameters())

    def step():
        return search_step(model, architect, w_opt, weights, (x, y), (xv, yv), cfg.lr, cfg)

    ce, loss, correct = benchmark.pedantic(step, rounds=5, iterations=1, warmup_rounds=1)
    assert ce > 0 and loss > 0 and 0 <= correct <= cfg.batch_size
