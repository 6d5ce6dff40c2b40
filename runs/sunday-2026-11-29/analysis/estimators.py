"""Merged-label estimators on stored passes: primary vs repeat difference under each."""
import sqlite3, json, sys, numpy as np
from statistics import median

def est_median(v): return float(np.exp(np.median(np.log(v))))
def est_mean(v): return float(np.exp(np.mean(np.log(v))))
def est_trim(v):
    l = np.sort(np.log(v))
    return float(np.exp(np.mean(l[1:-1]) if len(l) >= 4 else np.mean(l)))
def est_hl(v):
    l = np.log(v); w = [(a + b) / 2 for i, a in enumerate(l) for b in l[i:]]
    return float(np.exp(np.median(w)))
def est_min(v): return float(min(v))
EST = dict(median=est_median, mean=est_mean, trimmed=est_trim, hodges_lehmann=est_hl, lowest=est_min)

for db in sys.argv[1:]:
    c = sqlite3.connect(f'file:{db}?mode=ro', uri=True)
    by = {}
    for k, extra in c.execute("select arch_key, extra from samples order by id"):
        a = json.loads(extra)['agreement']
        vs = [v['anchor_ratio'] for v in a.get('visits', [])] or [a['anchor_ratio']]
        by.setdefault(k, []).append(vs)
    pairs = [jobs[:2] for jobs in by.values() if len(jobs) > 1]
    out = []
    for name, f in EST.items():
        d = [abs(f(b) / f(a) - 1) for a, b in pairs]
        out.append(f"{name} {100*np.median(d):.2f}/{100*np.quantile(d,.9):.2f}")
    print(db.split('/')[-2], f"n={len(pairs)}", " | ".join(out))
