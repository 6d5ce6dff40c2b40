"""Eager run-to-run spread on this VM: 8 random fixed-config networks, rounds of 3 runs in rotation
(as the scheduler does), 60 rounds each. Then how well 'min over k runs' agrees between disjoint
sets of rounds."""
import sys, time, gc, json, numpy as np, torch
sys.path.insert(0, "/work/main")
from gnnlat.genotype import sample_genotypes
from gnnlat.network import Network, SEARCH_CONFIG
from harness.timers import make_timer
torch.set_num_threads(1)
backend = sys.argv[3] if len(sys.argv) > 3 else 'cpu'
K = 3 if backend == 'cpu' else 16
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 1
spin = (sys.argv[5] != 'nospin') if len(sys.argv) > 5 else True
from harness.timers import OnnxRuntimeTimer
import onnxruntime as ort
GLOBAL = len(sys.argv) > 5 and sys.argv[5] == 'global'
if GLOBAL:
    ort.set_global_thread_pool_sizes(threads, 1)
    import harness.timers as HT
    _so = HT.session_options
    def so(threads, spinning=True):
        o = _so(threads, spinning); o.use_per_session_threads = False; return o
    HT.session_options = so
timer = OnnxRuntimeTimer(threads, spinning=spin) if backend == 'onnxruntime' else make_timer(backend, threads)
nets = [timer.prepare(Network(g, SEARCH_CONFIG)) for g in sample_genotypes(int(sys.argv[1]), 8)]
gc.disable()
runs = [[] for _ in nets]
if True:
    for net in nets:
        for _ in range(5): net()
    for rnd in range(60):
        for i, net in enumerate(nets):
            r = []
            for _ in range(K):
                t0 = time.perf_counter(); net(); r.append((time.perf_counter() - t0) * 1e3)
            runs[i].append(r)
R = np.array(runs)  # (8, 60, 3)
json.dump(R.tolist(), open(sys.argv[2], "w"))
flat = R.reshape(8, -1)
m = flat.min(1, keepdims=True)
print("run / network's min: p10 %.3f median %.3f p90 %.3f" % tuple(np.percentile(flat / m, [10, 50, 90])))
rng = np.random.default_rng(0)
for rounds in (1, 3, 4, 9, 20, 30):
    d = []
    for i in range(8):
        for _ in range(200):
            idx = rng.permutation(60)
            a, b = R[i, idx[:rounds]].min(), R[i, idx[rounds:2 * rounds]].min()
            d.append(abs(a / b - 1))
    print("min over %2d rounds (%3d runs): pair diff median %.2f%% p90 %.2f%%" % (rounds, K * rounds, 100 * np.median(d), 100 * np.percentile(d, 90)))
