"""Calibration onto a 2-thread ONNX Runtime target: python ort2target.py DB SEED"""
import sys, json, time
sys.argv = [sys.argv[0], "base", "10,50", sys.argv[2], "x"] + [sys.argv[1]]
exec(open("/tmp/ana/exp.py").read().split("out = []")[0])
from gnnlat.fit import PredictorConfig, fit_predictor
db = sys.argv[5]
recs = load_records(Path(db))
split = TargetSplit.of(recs, seed)
pool = split.pool_fixed + split.pool_vary
print("pool", len(split.pool_fixed), len(split.pool_vary), "held", len(split.held_fixed), len(split.held_configs))
whole = fit_predictor(pool, PredictorConfig(max_train=None, seed=seed))
print("cap (GNN on the whole pool)", json.dumps({name: {k: round(v, 4) for k, v in _scores(_predict(whole), held).items()} for name, held in _held(split)}))
fixed = [(r.genotype, r.config) for r in split.pool_fixed]; vary = [(r.genotype, r.config) for r in split.pool_vary]
for s in ("ort1", "cpu1", "h200"):
    base = dev(s)[1]
    for n in ns:
        chosen = [pool[i] for i in cal.choose_cover(base, fixed, vary, n)]
        p = calibrate(base, chosen, replace(cfg, seed=seed))
        sc = {name: _scores(_predict(p), held) for name, held in _held(split)}
        print(json.dumps({"pair": f"{s}>ort2", "n": n, **{f"{k}_{m}": round(v[m], 4) for k, v in sc.items() for m in ("mape", "within_10", "spearman_rho")}}), flush=True)
