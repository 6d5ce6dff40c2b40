import sqlite3, json, sys, numpy as np
for db in sys.argv[1:]:
    c = sqlite3.connect(f'file:{db}?mode=ro', uri=True)
    by = {}
    for k, kind, extra, t in c.execute("select arch_key, kind, extra, created_at from samples order by id"):
        e = json.loads(extra); a = e['agreement']
        vs = [v['anchor_ratio'] for v in a.get('visits', [])] or [a['anchor_ratio']]
        by.setdefault(k, []).append((vs, a['anchor_ratio'], t))
    within, merged, cross, pred = [], [], [], []
    for k, jobs in by.items():
        for vs, r, t in jobs:
            within += [abs(b / a - 1) for a, b in zip(vs, vs[1:])]
        if len(jobs) > 1:
            (v1, r1, _), (v2, r2, _) = jobs[:2]
            merged.append(abs(r2 / r1 - 1))
            cross += [abs(b / a - 1) for a in v1 for b in v2]
            pred.append((len(v1), len(v2)))
    f = lambda x: f"{100*np.median(x):.2f}% / {100*np.quantile(x,.9):.2f}% (n={len(x)})"
    print(db)
    print("  consecutive passes, one job:", f(within))
    print("  passes of primary vs passes of repeat:", f(cross))
    print("  merged labels primary vs repeat:", f(merged), " mean passes", np.mean([a+b for a,b in pred])/2)
    # mean log-ratio per job vs. its passes: a per-job offset?
    offs = []
    for k, jobs in by.items():
        if len(jobs) > 1:
            m = [np.mean(np.log(vs)) for vs, _, _ in jobs[:2]]
            offs.append(m)
    offs = np.array(offs)
