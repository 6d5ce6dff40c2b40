import sqlite3, json, sys, numpy as np
rows_all = []
for db in sys.argv[1:]:
    c = sqlite3.connect(f'file:{db}?mode=ro', uri=True)
    by = {}
    for k, kind, extra, t in c.execute("select arch_key, kind, extra, created_at from samples order by id"):
        e = json.loads(extra); vs = [v['anchor_ratio'] for v in e['agreement'].get('visits', [])]
        if len(vs) < 2: 
            by.setdefault(k, []).append(None); continue
        span = e['span_s']; K = len(vs)
        times = [t - span + span * i / (K - 1) for i in range(K)]  # passes spread evenly over the span (approx.)
        by.setdefault(k, []).append(list(zip(times, vs)))
    for k, jobs in by.items():
        for j in jobs:
            if j: rows_all += [("within", abs(b[0] - a[0]), abs(b[1] / a[1] - 1)) for a, b in zip(j, j[1:])]
            if j: rows_all += [("within-far", abs(b[0] - a[0]), abs(b[1] / a[1] - 1)) for a, b in zip(j, j[2:])]
        if len(jobs) > 1 and jobs[0] and jobs[1]:
            rows_all += [("cross", abs(b[0] - a[0]), abs(b[1] / a[1] - 1)) for a in jobs[0] for b in jobs[1]]
bins = [0, 25, 40, 60, 90, 150, 300, 1e9]
for kind in ("within", "within-far", "cross"):
    for lo, hi in zip(bins, bins[1:]):
        x = [d for k, g, d in rows_all if k == kind and lo <= g < hi]
        if len(x) >= 8:
            print(f"{kind:10s} gap {lo:>4}-{hi:<6} n={len(x):4d} median {100*np.median(x):.2f}% p90 {100*np.quantile(x,.9):.2f}%")
