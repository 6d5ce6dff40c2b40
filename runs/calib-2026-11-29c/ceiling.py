import sys, numpy as np
sys.path.insert(0, '/work/main')
from workflows.records import load_records
from gnnlat.transplant import TargetSplit
from gnnlat.fit import fit_predictor, fit_baseline, PredictorConfig
from gnnlat.metrics import regression_metrics
for name, p in (('ort2','profiles/onnxruntime-2threads.db'), ('cpu1','profiles/cpu-reference.db'), ('ort1','profiles/onnxruntime-reference.db')):
    sp = TargetSplit.of(load_records('/work/main/'+p), 0)
    pool = sp.pool_fixed + sp.pool_vary
    g = fit_predictor(pool, PredictorConfig(max_train=None))
    b = fit_baseline(sp.pool_fixed)
    for label, m, held in (('gnn whole pool', g, sp.held_fixed), ('op-count on pool fixed', b, sp.held_fixed), ('gnn whole pool, configs', g, sp.held_configs)):
        r = regression_metrics(m.predict([x.genotype for x in held], [x.config for x in held]), [x.latency_ms for x in held])
        print(name, len(pool), label, f"rho {r['spearman_rho']:.3f} mape {r['mape']:.1%}", flush=True)
