"""Calibrated predictor only, split seeds given, N in {10, 50}: min rho at N=10, held-out-config MAPE/±10% at N=50."""
import json, sys, os
sys.path.insert(0, os.getcwd())
from dataclasses import replace
import numpy as np
from workflows.records import load_records
from gnnlat.transplant import TargetSplit, _scores, _predict
from gnnlat.calibration import CHOICES, CalibrationConfig, calibrate_predictor
from gnnlat.checkpoint import load_predictor
from gnnlat.shipped import predictor_path
from gnnlat.fit import fit_predictor, PredictorConfig
devs = {'ort1':('profiles/onnxruntime-reference.db','onnxruntime-reference'),
        'cpu1':('profiles/cpu-reference.db','cpu-reference'),
        'h200':('profiles/triton-reference.db','triton-reference'),
        'ort2':('profiles/onnxruntime-2threads.db',None)}
R = {k: load_records(p) for k,(p,_) in devs.items()}
B = {k: (load_predictor(predictor_path(s)) if s else fit_predictor(R[k], PredictorConfig(max_train=None))) for k,(p,s) in devs.items()}
out = []
for seed in [int(x) for x in sys.argv[2].split(',')]:
  for tgt in devs:
    sp = TargetSplit.of(R[tgt], seed); pool = sp.pool_fixed + sp.pool_vary
    for src in devs:
      if src == tgt: continue
      for n in [int(x) for x in sys.argv[3].split(",")]:
        idx = CHOICES['cover'](B[src], [(r.genotype, r.config) for r in sp.pool_fixed], [(r.genotype, r.config) for r in sp.pool_vary], n)
        cal = [pool[i] for i in idx]
        p = calibrate_predictor(B[src], cal, CalibrationConfig(seed=seed))
        row = {"seed": seed, "source": src, "target": tgt, "n": n, "beta": p.meta["calibration"]["blend"].get("beta"),
               "fixed": _scores(_predict(p), sp.held_fixed), "configs": _scores(_predict(p), sp.held_configs)}
        out.append(row)
        print(seed, src, tgt, n, f'beta {row["beta"]:.2f}', f'rho {row["fixed"]["spearman_rho"]:.3f}/{row["configs"]["spearman_rho"]:.3f}',
              f'cfg {row["configs"]["mape"]:.1%} {row["configs"]["within_10"]:.0%} fixed {row["fixed"]["mape"]:.1%}', flush=True)
json.dump(out, open(sys.argv[1], 'w'), indent=1)
