import sys, numpy as np, torch
sys.path.insert(0, '/work/main')
from workflows.records import load_records
from gnnlat.transplant import TargetSplit
from gnnlat.calibration import CHOICES
from gnnlat.checkpoint import load_predictor
from gnnlat.shipped import predictor_path
from gnnlat.encoding import encode_genotypes, NODE_TYPES
from gnnlat.roofline import network_work, fit_costs, _TYPES, _COL
from gnnlat.fit import fit_predictor, PredictorConfig
from scipy.optimize import nnls
from scipy.stats import spearmanr
from gnnlat.network import SEARCH_CONFIG
from torch_geometric.utils import scatter

def work_ext(recs):
    d = encode_genotypes([r.genotype for r in recs],[r.config for r in recs])
    w = network_work(d).numpy()
    return {'roof4': np.column_stack([w[:,0], w[:,1:4].sum(1), w[:,4]]), 'roof6': w}

def fit(w, t):
    design = np.column_stack([w, np.ones(len(t))]); s = np.abs(design).max(0); s[s==0]=1
    c,_ = nnls(design/s/t[:,None], np.ones_like(t)); return c/s
def pred(w,c): return np.column_stack([w,np.ones(len(w))])@c

devs = {'ort1':('profiles/onnxruntime-reference.db','onnxruntime-reference'),
        'cpu1':('profiles/cpu-reference.db','cpu-reference'),
        'h200':('profiles/triton-reference.db','triton-reference'),
        'ort2':('profiles/onnxruntime-2threads.db',None)}
R = {k: load_records('/work/main/'+p) for k,(p,_) in devs.items()}
B = {}
for k,(p,s) in devs.items():
    B[k] = load_predictor(predictor_path(s)) if s else fit_predictor(R[k], PredictorConfig(max_train=None))
N = int(sys.argv[1]) if len(sys.argv)>1 else 10
for tgt in devs:
  for seed in (0,1,2):
    sp = TargetSplit.of(R[tgt], seed)
    pool = sp.pool_fixed+sp.pool_vary
    hf = work_ext(sp.held_fixed); hc = work_ext(sp.held_configs)
    yf = np.array([r.latency_ms for r in sp.held_fixed]); yc = np.array([r.latency_ms for r in sp.held_configs])
    for src in devs:
        if src==tgt: continue
        idx = CHOICES['cover'](B[src], [(r.genotype,r.config) for r in sp.pool_fixed],[(r.genotype,r.config) for r in sp.pool_vary], N)
        cal = [pool[i] for i in idx]; wc = work_ext(cal); y = np.array([r.latency_ms for r in cal])
        out=[]
        cv={}
        for v in ('roof4','roof6'):
            e=[]
            for i in [j for j in range(len(y)) if cal[j].config == SEARCH_CONFIG]:
                m=np.arange(len(y))!=i
                c=fit(wc[v][m],y[m]); e.append(abs(pred(wc[v][i:i+1],c)[0]/y[i]-1))
            cv[v]=np.mean(e)
        pick=min(cv,key=cv.get)
        out.append(f"pick {pick} cv4 {cv['roof4']:.1%} cv6 {cv['roof6']:.1%}")
        for v in ('roof4','roof6'):
            c = fit(wc[v], y)
            pf, pc = pred(hf[v],c), pred(hc[v],c)
            out.append(f"{v} {spearmanr(pf,yf)[0]:.3f}/{spearmanr(pc,yc)[0]:.3f} {np.mean(abs(pc/yc-1)):.1%}")
        print(f"{src}->{tgt} s{seed}", ' | '.join(out), flush=True)
