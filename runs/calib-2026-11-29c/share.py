import sys, json, numpy as np
sys.path.insert(0, '/work/main')
import gnnlat.calibration as C
from workflows.records import load_records
from gnnlat.transplant import TargetSplit, _scores, _predict
from gnnlat.checkpoint import load_predictor
from gnnlat.shipped import predictor_path
from gnnlat.fit import fit_predictor, PredictorConfig
devs = {'ort1':('profiles/onnxruntime-reference.db','onnxruntime-reference'),'cpu1':('profiles/cpu-reference.db','cpu-reference'),
        'h200':('profiles/triton-reference.db','triton-reference'),'ort2':('profiles/onnxruntime-2threads.db',None)}
R = {k: load_records('/work/main/'+p) for k,(p,_) in devs.items()}
B = {k: (load_predictor(predictor_path(s)) if s else fit_predictor(R[k], PredictorConfig(max_train=None))) for k,(p,s) in devs.items()}
share = float(sys.argv[1])
C.FIXED_SHARE = share
out = []
for seed in (0, 1, 2):
  for tgt in ('cpu1', 'ort1'):
    sp = TargetSplit.of(R[tgt], seed); pool = sp.pool_fixed + sp.pool_vary
    for src in devs:
      if src == tgt: continue
      idx = C.choose_cover(B[src], [(r.genotype, r.config) for r in sp.pool_fixed], [(r.genotype, r.config) for r in sp.pool_vary], 50)
      p = C.calibrate_predictor(B[src], [pool[i] for i in idx], C.CalibrationConfig(seed=seed))
      f, c = _scores(_predict(p), sp.held_fixed), _scores(_predict(p), sp.held_configs)
      out.append((seed, src, tgt, f['mape'], c['mape'], c['within_10']))
      print(share, seed, src, tgt, f"fixed {f['mape']:.1%} cfg {c['mape']:.1%} {c['within_10']:.0%}", flush=True)
json.dump(out, open(f'/tmp/ana/share{share}.json','w'))
