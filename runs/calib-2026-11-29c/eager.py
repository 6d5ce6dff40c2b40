import sys, time, gc, numpy as np, torch
sys.path.insert(0, "/work/main")
from gnnlat.genotype import sample_genotypes
from gnnlat.network import Network, SEARCH_CONFIG
torch.set_num_threads(1)
g = sample_genotypes(1, 3)
nets = [Network(x, SEARCH_CONFIG).eval() for x in g]
x = torch.randn(1, 3, 32, 32)
gc.disable()
with torch.inference_mode():
    for net in nets:
        for _ in range(20): net(x)
    for rnd in range(3):
        for i, net in enumerate(nets):
            t = []
            for _ in range(100):
                t0 = time.perf_counter(); net(x); t.append((time.perf_counter() - t0) * 1e3)
            t = np.array(t)
            print(rnd, i, "min %.2f p10 %.2f med %.2f p90 %.2f max %.2f" % (t.min(), *np.percentile(t, [10, 50, 90]), t.max()))
