import sys, numpy as np
sys.path.insert(0, "/work/main")
from pathlib import Path
from workflows.records import load_records
from gnnlat.transplant import TargetSplit
from gnnlat.encoding import encode_genotypes
from gnnlat.roofline import network_work, fit_costs, roofline_ms
from gnnlat.metrics import regression_metrics
def feats(rs, kind):
    out = []
    for r in rs:
        c = r.config
        f = [np.log2(c.batch), np.log2(c.C), np.log2(c.resolution), np.log2(c.layers)]
        if kind >= 1: f += [float(c.C % 16 == 0)]
        if kind >= 2: f += [np.log2(c.batch) * np.log2(c.C)]
        out.append(f)
    return np.array(out)
for db in sys.argv[1:]:
    recs = load_records(Path(db)); sp = TargetSplit.of(recs, 0)
    pool = sp.pool_fixed + sp.pool_vary; held = sp.held_configs
    W = lambda rs: network_work(encode_genotypes([r.genotype for r in rs], [r.config for r in rs])).numpy()
    Wp, Wh = W(pool), W(held)
    t = np.array([r.latency_ms for r in pool]); th = [r.latency_ms for r in held]
    c = fit_costs(Wp, t)
    rp = np.log(t) - np.log(roofline_ms(Wp, c)); ph = np.log(roofline_ms(Wh, c))
    m = regression_metrics(np.exp(ph), th); print(db, "roof", round(m["mape"], 4), round(m["within_10"], 3))
    for kind in (0, 1, 2):
        Fp, Fh = feats(pool, kind), feats(held, kind)
        A = np.column_stack([Fp, np.ones(len(Fp))]); w, *_ = np.linalg.lstsq(A, rp, rcond=None)
        m = regression_metrics(np.exp(ph + np.column_stack([Fh, np.ones(len(Fh))]) @ w), th)
        print("  corr", kind, round(m["mape"], 4), round(m["within_10"], 3), np.round(w, 3))
