import sqlite3, json, sys, numpy as np
rows_all = []
for db in sys.argv[1:]:
    c = sqlite3.connect(db)
    by = {}
    for k, kind, extra, t in c.execute("select arch_key, kind, extra, created_at from samples order by id"):
        e = json.loads(extra); vs = [v['anchor_ratio'] for v in e['agreement']['visits']]
        times = [t - e['span_s'], t]  # pass 1 ~ start of span, pass 2 ~ end
        by.setdefault(k, []).append(list(zip(times, vs)))
    for k, jobs in by.items():
        for j in jobs:
            rows_all.append(("within", abs(j[1][0] - j[0][0]), abs(j[1][1] / j[0][1] - 1)))
        if len(jobs) > 1:
            for a in jobs[0]:
                for b in jobs[1]:
                    rows_all.append(("cross", abs(b[0] - a[0]), abs(b[1] / a[1] - 1)))
bins = [0, 20, 40, 60, 90, 150, 300, 1e9]
for kind in ("within", "cross"):
    for lo, hi in zip(bins, bins[1:]):
        x = [d for k, g, d in rows_all if k == kind and lo <= g < hi]
        if len(x) >= 5:
            print(f"{kind:6s} gap {lo:>4}-{hi:<5} n={len(x):4d} median {100*np.median(x):.2f}% p90 {100*np.quantile(x,.9):.2f}%")
