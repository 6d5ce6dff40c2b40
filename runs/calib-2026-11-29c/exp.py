"""Calibration variants on a few pairs: python exp.py VARIANT N[,N] SEED"""
import sys, json, math, time, numpy as np, torch
sys.path.insert(0, "/work/main")
from pathlib import Path
from dataclasses import replace
from workflows.records import load_records
from gnnlat.checkpoint import load_predictor
from gnnlat.shipped import predictor_path
from gnnlat import calibration as cal
from gnnlat.transplant import TargetSplit, _scores, _predict, _held
from gnnlat.roofline import fit_costs, roofline_ms, network_work
from gnnlat.fit import collate_graphs
from gnnlat.encoding import encode_genotypes

variant, ns, seed = sys.argv[1], [int(x) for x in sys.argv[2].split(",")], int(sys.argv[3])
pairs = sys.argv[4].split(",") if len(sys.argv) > 4 else ["cpu1>ort1", "h200>ort1", "ort1>cpu1", "h200>cpu1"]
R = Path("/work/main")
DEV = {"ort1": ("profiles/onnxruntime-reference.db", "onnxruntime-reference"),
       "cpu1": ("profiles/cpu-reference.db", "cpu-reference"),
       "h200": ("profiles/triton-reference.db", "triton-reference")}
cache = {}
def dev(name):
    if name not in cache:
        db, p = DEV[name]
        cache[name] = (load_records(R / db), load_predictor(predictor_path(p)))
    return cache[name]

orig_calibrate = cal.calibrate_predictor
def residual_calibrate(base, records, cfg=cal.CalibrationConfig()):
    pred = orig_calibrate(base, records, cfg)
    beta = float(pred.roofline.blend)
    if beta <= 0 or beta >= 0.999:
        return pred
    graphs = [encode_genotypes([r.genotype], [r.config], base.merge_cells) for r in records]
    data = collate_graphs(graphs)
    y = torch.tensor([math.log(r.latency_ms) for r in records])
    logr = torch.log(pred.roofline.latency(data)).float()
    target = (y - beta * logr) / (1 - beta)
    tuned = cal._fine_tuned(base, data, target, cfg)
    with torch.no_grad():
        tuned.roofline.set(pred.roofline.costs.numpy(), beta)
    tuned.meta = pred.meta
    return tuned

cfg = cal.CalibrationConfig()
if variant == "residual":
    calibrate = residual_calibrate
elif variant.startswith("steps"):
    cfg = replace(cfg, steps=int(variant[5:])); calibrate = orig_calibrate
elif variant.startswith("lr"):
    cfg = replace(cfg, lr=float(variant[2:])); calibrate = orig_calibrate
else:
    calibrate = orig_calibrate
out = []
for pair in pairs:
    s, t = pair.split(">")
    base = dev(s)[1]; recs = dev(t)[0]
    split = TargetSplit.of(recs, seed)
    pool = split.pool_fixed + split.pool_vary
    fixed = [(r.genotype, r.config) for r in split.pool_fixed]; vary = [(r.genotype, r.config) for r in split.pool_vary]
    for n in ns:
        t0 = time.time()
        chosen = [pool[i] for i in cal.choose_cover(base, fixed, vary, n)]
        p = calibrate(base, chosen, replace(cfg, seed=seed))
        sc = {name: _scores(_predict(p), held) for name, held in _held(split)}
        row = {"pair": pair, "n": n, "beta": float(p.roofline.blend), **{f"{k}_{m}": round(v[m], 4) for k, v in sc.items() for m in ("mape", "within_10", "spearman_rho")}}
        print(json.dumps(row), round(time.time() - t0, 1), flush=True)
