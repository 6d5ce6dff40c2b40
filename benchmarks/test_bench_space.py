"""Search-space benchmarks: sampling, validation, network construction."""
import random

from gnnlat.genotype import Genotype, random_genotype
from gnnlat.network import Network, NetworkConfig
from gnnlat.published import DARTS_V2
from gnnlat.supernet import Supernet


def test_bench_sample_genotype(benchmark):
    rng = random.Random(0)
    g = benchmark(random_genotype, rng)
    assert len(g.normal) == 8


def test_bench_validate_json_round_trip(benchmark):
    text = DARTS_V2.to_json()
    g = benchmark(Genotype.from_json, text)
    assert g == DARTS_V2


def test_bench_build_search_network(benchmark):
    net = benchmark(Network, DARTS_V2, NetworkConfig())
    assert len(net.cells) == 8


def test_bench_build_supernet(benchmark):
    net = benchmark.pedantic(Supernet, args=(NetworkConfig(C=8, layers=5, in_channels=1, resolution=8),),
                             rounds=3, iterations=1)
    assert net.alpha_normal.shape == (14, 8)
