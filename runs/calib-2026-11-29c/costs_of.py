import sys, os, numpy as np
sys.path.insert(0, os.getcwd())
from workflows.records import load_records
from gnnlat.transplant import TargetSplit, _work
from gnnlat.calibration import CHOICES
from gnnlat.checkpoint import load_predictor
from gnnlat.shipped import predictor_path
from gnnlat.roofline import fit_costs, TERMS
from gnnlat.network import SEARCH_CONFIG
src, tgt, seed, n = sys.argv[1:5]
P = {'ort1':'profiles/onnxruntime-reference.db','cpu1':'profiles/cpu-reference.db','h200':'profiles/triton-reference.db'}
S = {'ort1':'onnxruntime-reference','cpu1':'cpu-reference','h200':'triton-reference'}
sp = TargetSplit.of(load_records(P[tgt]), int(seed)); pool = sp.pool_fixed + sp.pool_vary
base = load_predictor(predictor_path(S[src]))
idx = CHOICES['cover'](base, [(r.genotype, r.config) for r in sp.pool_fixed], [(r.genotype, r.config) for r in sp.pool_vary], int(n))
cal = [pool[i] for i in idx]
w = _work(cal); y = np.array([r.latency_ms for r in cal])
c = fit_costs(w, y)
print(dict(zip(TERMS, c)))
full = _work(sp.pool_fixed + sp.pool_vary); yf = np.array([r.latency_ms for r in sp.pool_fixed + sp.pool_vary])
print('full pool', dict(zip(TERMS, fit_costs(full, yf))))
for r, row, t in zip(cal, w, y): print(r.config == SEARCH_CONFIG, (r.config.C, r.config.layers, r.config.resolution, r.config.batch), np.round(row/ w.max(0),3), round(t,3))
