"""Would shorter passes do? Pass-to-pass differences of one job using the whole pass, or only its first windows."""
import sqlite3, json, sys, numpy as np
from statistics import median
for db in sys.argv[1:]:
    c = sqlite3.connect(f'file:{db}?mode=ro', uri=True)
    out = {"full": [], "w1": [], "w2": [], "w1-vs-rest": []}
    nw = []
    for (extra,) in c.execute("select extra from samples"):
        vs = json.loads(extra)['agreement'].get('visits', [])
        for v in vs: nw.append(len(v['window_minima']))
        for a, b in zip(vs, vs[1:]):
            out["full"].append(abs(b['anchor_ratio'] / a['anchor_ratio'] - 1))
            out["w1"].append(abs(b['window_minima'][0] / a['window_minima'][0] - 1))
            out["w2"].append(abs(median(b['window_minima'][:2]) / median(a['window_minima'][:2]) - 1))
        for v in vs:
            if len(v['window_minima']) > 2:
                out["w1-vs-rest"].append(abs(v['window_minima'][0] / median(v['window_minima'][2:]) - 1))
    print(db, f"windows/pass {np.mean(nw):.2f}", " | ".join(f"{k} {100*np.median(x):.2f}/{100*np.quantile(x,.9):.2f} n={len(x)}" for k, x in out.items()))
