import sys, os, numpy as np, torch
sys.path.insert(0, '/work/main')
from workflows.records import load_records
from gnnlat.transplant import TargetSplit
from gnnlat.calibration import CHOICES
from gnnlat.checkpoint import load_predictor
from gnnlat.shipped import predictor_path
from gnnlat.encoding import encode_genotypes, NODE_TYPES
from gnnlat.roofline import network_work, _COL
from scipy.optimize import nnls
from scipy.stats import spearmanr
from torch_geometric.utils import scatter
def work(recs):
    d = encode_genotypes([r.genotype for r in recs],[r.config for r in recs])
    w = network_work(d).numpy()
    x = d.x.double(); sc = d.node_scale.double()
    e = lambda c: torch.exp2(4*x[:,_COL[c]])
    k = torch.round(x[:,_COL['kernel']]*7)
    sep = sum(x[:,NODE_TYPES.index(t)] for t in ('sep_conv_3x3','sep_conv_5x5','sep_conv_7x7'))
    dil = sum(x[:,NODE_TYPES.index(t)] for t in ('dil_conv_3x3','dil_conv_5x5'))
    dw = (2*sep+dil)*e('log_batch')*e('log_res_out')**2*e('log_c_in')*k*k
    dwg = scatter((dw*sc).unsqueeze(1), d.batch, dim=0, dim_size=d.num_graphs, reduce='sum').numpy()[:,0]
    return {'roof6': w, 'roof7': np.column_stack([w[:,0], w[:,1]-dwg, dwg, w[:,2:]])}
def fit(w, t):
    d = np.column_stack([w, np.ones(len(t))]); s = np.abs(d).max(0); s[s==0]=1
    c,_ = nnls(d/s/t[:,None], np.ones_like(t)); return c/s
pred = lambda w, c: np.column_stack([w, np.ones(len(w))]) @ c
devs = {'ort1':('profiles/onnxruntime-reference.db','onnxruntime-reference'),'cpu1':('profiles/cpu-reference.db','cpu-reference'),'h200':('profiles/triton-reference.db','triton-reference')}
R = {k: load_records('/work/main/'+p) for k,(p,_) in devs.items()}
B = {k: load_predictor(predictor_path(s)) for k,(p,s) in devs.items()}
N = int(sys.argv[1])
for tgt in devs:
  for seed in (0,1,2):
    sp = TargetSplit.of(R[tgt], seed); pool = sp.pool_fixed+sp.pool_vary
    hf, hc = work(sp.held_fixed), work(sp.held_configs)
    yf = np.array([r.latency_ms for r in sp.held_fixed]); yc = np.array([r.latency_ms for r in sp.held_configs])
    for src in devs:
      if src==tgt: continue
      idx = CHOICES['cover'](B[src], [(r.genotype,r.config) for r in sp.pool_fixed],[(r.genotype,r.config) for r in sp.pool_vary], N)
      cal = [pool[i] for i in idx]; wc = work(cal); y = np.array([r.latency_ms for r in cal])
      out = []
      for v in ('roof6','roof7'):
        c = fit(wc[v], y); pc = pred(hc[v], c)
        out.append(f"{v} {spearmanr(pred(hf[v],c),yf)[0]:.3f}/{spearmanr(pc,yc)[0]:.3f} {np.mean(abs(pc/yc-1)):.1%} {np.mean(abs(pc/yc-1)<=0.1):.0%}")
      print(f"{src}->{tgt} s{seed}", ' | '.join(out), flush=True)
