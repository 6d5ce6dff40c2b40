import sys, os, numpy as np
sys.path.insert(0, os.getcwd())
from workflows.records import load_records
from gnnlat.transplant import TargetSplit, _work
from gnnlat.calibration import CHOICES
from gnnlat.checkpoint import load_predictor
from gnnlat.shipped import predictor_path
from gnnlat.fit import fit_predictor, PredictorConfig
from scipy.optimize import nnls
from scipy.stats import spearmanr
devs = {'ort1':('profiles/onnxruntime-reference.db','onnxruntime-reference'),'cpu1':('profiles/cpu-reference.db','cpu-reference'),
        'h200':('profiles/triton-reference.db','triton-reference'),'ort2':('profiles/onnxruntime-2threads.db',None)}
R = {k: load_records(p) for k,(p,_) in devs.items()}
B = {k: (load_predictor(predictor_path(s)) if s else fit_predictor(R[k], PredictorConfig(max_train=None))) for k,(p,s) in devs.items()}
LAMS = [0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 'roof4']
def fit(w, t, lam):
    if lam == 'roof4':
        w = np.column_stack([w[:,0], w[:,1:4].sum(1), w[:,4], np.zeros(len(w)), np.zeros(len(w))])
        lam = 0.0
    d = np.column_stack([w, np.ones(len(t))]); s = np.abs(d).max(0); s[s==0]=1
    A = d/s/t[:,None]; b = np.ones_like(t)
    pen = np.zeros((2, A.shape[1])); pen[0,2] = pen[1,3] = np.sqrt(lam)
    c,_ = nnls(np.vstack([A, pen]), np.concatenate([b, np.zeros(2)]))
    c = c/s
    if d.shape[1] == 6 and w[:,3].sum()==0 and w[:,4].sum()==0: pass
    return c
def pred(w, c, lam):
    if lam == 'roof4': w = np.column_stack([w[:,0], w[:,1:4].sum(1), w[:,4], np.zeros(len(w)), np.zeros(len(w))])
    return np.column_stack([w, np.ones(len(w))]) @ c
N = int(sys.argv[1])
res = {l: [] for l in LAMS}
for tgt in devs:
  for seed in (0,1,2):
    sp = TargetSplit.of(R[tgt], seed); pool = sp.pool_fixed+sp.pool_vary
    hf, hc = _work(sp.held_fixed), _work(sp.held_configs)
    yf = np.array([r.latency_ms for r in sp.held_fixed]); yc = np.array([r.latency_ms for r in sp.held_configs])
    for src in devs:
      if src==tgt: continue
      idx = CHOICES['cover'](B[src], [(r.genotype,r.config) for r in sp.pool_fixed],[(r.genotype,r.config) for r in sp.pool_vary], N)
      cal = [pool[i] for i in idx]; wc = _work(cal); y = np.array([r.latency_ms for r in cal])
      line = []
      for l in LAMS:
        c = fit(wc, y, l); rf = spearmanr(pred(hf,c,l), yf)[0]; rc = spearmanr(pred(hc,c,l), yc)[0]; m = np.mean(abs(pred(hc,c,l)/yc-1))
        res[l].append((tgt, rf, rc, m)); line.append(f"{l}:{rf:.2f}/{m:.1%}")
      print(f"{src}->{tgt} s{seed}", ' '.join(line), flush=True)
for l in LAMS:
    for tg in devs:
        r = [x for x in res[l] if x[0]==tg]
        print(l, tg, 'min fixed rho', round(min(x[1] for x in r),3), 'mean', round(np.mean([x[1] for x in r]),3), 'mean cfg mape', f"{np.mean([x[3] for x in r]):.1%}")
