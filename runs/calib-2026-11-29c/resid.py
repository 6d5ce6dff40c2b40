import sys, numpy as np
sys.path.insert(0, "/work/main")
from workflows.records import load_records
from gnnlat.record import split_fixed_vary
from gnnlat.encoding import encode_genotypes
from gnnlat.roofline import network_work, fit_costs, roofline_ms
from pathlib import Path
db = sys.argv[1]
recs = load_records(Path(db))
fixed, vary = split_fixed_vary(recs)
allr = list(fixed) + list(vary)
W = network_work(encode_genotypes([r.genotype for r in allr], [r.config for r in allr])).numpy()
t = np.array([r.latency_ms for r in allr])
costs = fit_costs(W, t)
print("costs", costs)
res = np.log(roofline_ms(W, costs) / t)
nv = len(fixed)
import collections
for key in ["C", "layers", "resolution", "batch"]:
    g = collections.defaultdict(list)
    for r, e in zip(allr[nv:], res[nv:]):
        g[getattr(r.config, key)].append(e)
    print(key, {k: (round(float(np.mean(v)), 3), len(v)) for k, v in sorted(g.items())})
# per-config means
g = collections.defaultdict(list)
for r, e in zip(allr[nv:], res[nv:]):
    g[r.config_key].append(e)
m = {k: np.mean(v) for k, v in g.items()}
print("configs", len(m), "sd between", np.std(list(m.values())), "within", np.mean([np.std(v) for v in g.values() if len(v) > 2]))
worst = sorted(m.items(), key=lambda kv: kv[1])
for k, v in worst[:8] + worst[-8:]:
    print(round(v, 3), k, len(g[k]))
cfg = {r.config_key: r.config for r in allr[nv:]}
for k, v in worst[:12] + worst[-6:]:
    print(round(v, 3), cfg[k])
g2 = collections.defaultdict(list)
for r, e in zip(allr[nv:], res[nv:]):
    g2[(r.config.C, r.config.batch)].append(e)
for k in sorted(g2): print(k, round(float(np.mean(g2[k])),3), len(g2[k]))
g3 = collections.defaultdict(list)
for r, e in zip(allr[nv:], res[nv:]):
    g3[(r.config.C, r.config.resolution)].append(e)
for k in sorted(g3): print(k, round(float(np.mean(g3[k])),3), len(g3[k]))
