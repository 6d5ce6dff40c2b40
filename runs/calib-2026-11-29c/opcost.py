import sys, numpy as np
sys.path.insert(0, '/work/main')
from workflows.records import load_records
from gnnlat.record import split_fixed_vary
from gnnlat.baseline import op_count_features, FEATURE_NAMES
from scipy.stats import spearmanr
devs = {'ort1':'profiles/onnxruntime-reference.db','cpu1':'profiles/cpu-reference.db','h200':'profiles/triton-reference.db','ort2':'profiles/onnxruntime-2threads.db'}
coefs = {}
for name, p in devs.items():
    recs = load_records('/work/main/'+p)
    fixed, vary = split_fixed_vary(recs)
    X = op_count_features([r.genotype for r in fixed],[r.config for r in fixed])
    y = np.array([r.latency_ms for r in fixed])
    n = len(y); h = n//2
    c = np.linalg.lstsq(X[:h]/y[:h,None], np.ones(h), rcond=None)[0]
    pred = X[h:]@c
    print(name, n, 'median', np.median(y).round(3), 'spread p10/p90', np.quantile(y,[.1,.9]).round(3), 'holdout rho', round(spearmanr(pred,y[h:])[0],3), 'mape', round(np.mean(abs(pred/y[h:]-1)),4))
    c = np.linalg.lstsq(X/y[:,None], np.ones(n), rcond=None)[0]
    coefs[name] = c
print('feature', *devs)
for i,f in enumerate(FEATURE_NAMES):
    print(f"{f:28s}", *[f"{coefs[d][i]:8.4f}" for d in devs])
