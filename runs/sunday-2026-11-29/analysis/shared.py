"""Pooled variance split of log pass ratios: pass noise (within a job) and a part shared by one job's passes."""
import sqlite3, json, sys, numpy as np
W, B = [], []
for db in sys.argv[1:]:
    c = sqlite3.connect(f'file:{db}?mode=ro', uri=True)
    by = {}
    for k, extra in c.execute("select arch_key, extra from samples order by id"):
        vs = [v['anchor_ratio'] for v in json.loads(extra)['agreement'].get('visits', [])]
        if len(vs) >= 2: by.setdefault(k, []).append(np.log(vs))
    for jobs in by.values():
        for y in jobs: W.append((np.var(y, ddof=1), len(y)))
        if len(jobs) > 1:
            a, b = jobs[:2]
            B.append(((a.mean() - b.mean()) ** 2, len(a), len(b)))
s2 = sum(v * (k - 1) for v, k in W) / sum(k - 1 for v, k in W)
d2 = np.mean([d for d, _, _ in B]); expect = np.mean([s2 / ka + s2 / kb for _, ka, kb in B])
shared = max(0.0, (d2 - expect) / 2)
print(f"pass sd {100*np.sqrt(s2):.2f}% (jobs {len(W)}); label-diff rms {100*np.sqrt(d2):.2f}% vs {100*np.sqrt(expect):.2f}% expected "
      f"from pass noise (pairs {len(B)}); shared sd per job {100*np.sqrt(shared):.2f}%")
