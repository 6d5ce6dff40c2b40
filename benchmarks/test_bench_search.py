"""One search step (α step + weight step) on the embedded default, with and without the latency term."""
import pytest
import torch
import torch.nn.functional as F

from gnnlat.architect import Architect
from gnnlat.data import load_dataset
from gnnlat.network import SEARCH_CONFIG, NetworkConfig
from gnnlat.search import SearchConfig
from gnnlat.supernet import Supernet
from benchmarks.shipped import reference_predictor


def _no_latency(w_normal, w_reduce):
    return torch.zeros(())


@pytest.mark.parametrize("with_latency", [False, True], ids=["plain", "latency"])
def test_bench_search_step(benchmark, with_latency):
    cfg = SearchConfig()
    torch.manual_seed(0)
    splits = load_dataset(cfg.dataset)
    model = Supernet(NetworkConfig(C=cfg.C, layers=cfg.layers, in_channels=splits.in_channels,
                                   resolution=splits.resolution, classes=splits.classes))
    w_opt = torch.optim.SGD(model.weight_parameters(), lr=cfg.lr, momentum=cfg.momentum,
                            weight_decay=cfg.weight_decay)
    latency = reference_predictor().latency_fn(SEARCH_CONFIG) if with_latency else _no_latency
    architect = Architect(model, latency, lat_ref=1.0, lam=0.2 if with_latency else 0.0, lr=cfg.arch_lr)
    x, y = splits.train.tensors[0][:cfg.batch_size], splits.train.tensors[1][:cfg.batch_size]
    xv, yv = splits.train.tensors[0][-cfg.batch_size:], splits.train.tensors[1][-cfg.batch_size:]

    def step():
        architect.step(x, y, xv, yv)
        w_opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.weight_parameters(), cfg.grad_clip)
        w_opt.step()
        return loss.item()

    loss = benchmark.pedantic(step, rounds=5, iterations=1, warmup_rounds=1)
    assert loss > 0
