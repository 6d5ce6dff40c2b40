import sqlite3, json, sys, itertools, numpy as np
db = sys.argv[1]
c = sqlite3.connect(db)
rows = c.execute("select arch_key, kind, latency_ms, extra, id from samples order by id").fetchall()
by = {}
for k, kind, lat, extra, i in rows:
    e = json.loads(extra)
    vs = [v['anchor_ratio'] for v in e['agreement'].get('visits', [])] or [e['agreement']['anchor_ratio']]
    by.setdefault(k, []).append((kind, vs, e['agreement']['anchor_ratio'], lat / e['anchor_ms'], i))
within, merged, cross, first = [], [], [], []
for k, ts in by.items():
    for kind, vs, r, r2, i in ts:
        if len(vs) > 1: within.append(abs(vs[1] / vs[0] - 1))
    if len(ts) > 1:
        p, q = ts[0], ts[1]
        merged.append(abs(q[2] / p[2] - 1))
        first.append(abs(q[1][0] / p[1][0] - 1))
        cross += [abs(a / b - 1) for a in p[1] for b in q[1]]
f = lambda x: f"{100*np.median(x):.2f}% / {100*np.quantile(x,.9):.2f}% (n={len(x)})"
print("within a job, pass 1 vs 2:", f(within))
print("primary vs repeat, merged:", f(merged))
print("primary vs repeat, first passes:", f(first))
print("primary vs repeat, all pass pairs:", f(cross))
