"""Predictor benchmarks: encoding, batched inference, and the gradient the search needs."""
import random

import torch

from gnnlat.encoding import encode_genotypes
from gnnlat.genotype import random_genotype
from gnnlat.network import SEARCH_CONFIG
from gnnlat.supernet import Supernet
from gnnlat.network import NetworkConfig
from benchmarks.shipped import reference_predictor


def test_bench_encode_genotype(benchmark):
    g = random_genotype(random.Random(0))
    data = benchmark(encode_genotypes, [g], [SEARCH_CONFIG], True)
    assert data.num_nodes > 0


def test_bench_predict_1024_architectures(benchmark):
    predictor = reference_predictor()
    rng = random.Random(0)
    genotypes = [random_genotype(rng) for _ in range(1024)]
    out = benchmark.pedantic(predictor.predict, args=(genotypes, SEARCH_CONFIG), rounds=3, iterations=1)
    assert out.shape == (1024,) and (out > 0).all()


def test_bench_forward_backward_wrt_alpha(benchmark):
    predictor = reference_predictor()
    model = Supernet(NetworkConfig(C=4, layers=3, in_channels=1, resolution=8))
    latency = predictor.latency_fn(SEARCH_CONFIG)

    def step():
        model.zero_grad()
        ms = latency(*model.edge_weights())
        ms.backward()
        return ms

    ms = benchmark(step)
    assert ms > 0 and torch.isfinite(model.alpha_normal.grad).all()
