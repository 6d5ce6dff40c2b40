import sys, time, gc, resource, numpy as np, torch
sys.path.insert(0, "/work/main")
from gnnlat.genotype import sample_genotypes
from gnnlat.network import Network, SEARCH_CONFIG
torch.set_num_threads(1)
net = Network(sample_genotypes(1, 3)[0], SEARCH_CONFIG).eval()
x = torch.randn(1, 3, 32, 32)
gc.disable()
with torch.inference_mode():
    for _ in range(20): net(x)
    for rnd in range(4):
        f0 = resource.getrusage(resource.RUSAGE_SELF); t = []; c0 = time.process_time()
        w0 = time.perf_counter()
        for _ in range(100):
            t0 = time.perf_counter(); net(x); t.append((time.perf_counter() - t0) * 1e3)
        f1 = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.perf_counter() - w0; cpu = time.process_time() - c0
        t = np.array(t)
        print("min %.2f med %.2f p90 %.2f | minflt/run %.1f majflt %d | cpu/wall %.3f | nvcsw %d nivcsw %d" % (t.min(), np.median(t), np.percentile(t, 90), (f1.ru_minflt - f0.ru_minflt) / 100, f1.ru_majflt - f0.ru_majflt, cpu / wall, f1.ru_nvcsw - f0.ru_nvcsw, f1.ru_nivcsw - f0.ru_nivcsw))
