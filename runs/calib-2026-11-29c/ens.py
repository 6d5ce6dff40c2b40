import sys, numpy as np
sys.path.insert(0, "/tmp/ana"); sys.argv = ["x", "base", "50", sys.argv[1]]
exec(open("/tmp/ana/exp.py").read().split("out = []")[0])
from gnnlat.metrics import regression_metrics
for target, sources in [("ort1", ["cpu1", "h200"]), ("cpu1", ["ort1", "h200"])]:
    recs = dev(target)[0]; split = TargetSplit.of(recs, seed)
    pool = split.pool_fixed + split.pool_vary
    fixed = [(r.genotype, r.config) for r in split.pool_fixed]; vary = [(r.genotype, r.config) for r in split.pool_vary]
    preds = {}
    for s in sources:
        base = dev(s)[1]
        chosen = [pool[i] for i in cal.choose_cover(base, fixed, vary, 50)]
        p = calibrate(base, chosen, replace(cfg, seed=seed))
        preds[s] = {name: p.predict([r.genotype for r in held], [r.config for r in held]) for name, held in _held(split)}
    for name, held in _held(split):
        y = [r.latency_ms for r in held]
        for s in sources:
            m = regression_metrics(preds[s][name], y); print(target, s, name, round(m["mape"], 4), round(m["within_10"], 3))
        e = np.exp(np.mean([np.log(preds[s][name]) for s in sources], 0))
        m = regression_metrics(e, y); print(target, "ensemble", name, round(m["mape"], 4), round(m["within_10"], 3), round(m["spearman_rho"], 4))
