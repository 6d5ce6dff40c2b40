"""Replay trace1: per-visit labels (current rule), then visit-combining rules -> label pair diffs."""
import json, sys, itertools; sys.path.insert(0, '/work/main')
import numpy as np
from harness import rounds as R
tr = json.load(open(sys.argv[1]))
cfg = R.ScheduleConfig()
rounds = [[(t, min(r)) for t, r in net] for net in tr["rounds"]]
anchor_all = rounds[-1]
labels, used = {}, []
for group, s0, s1 in tr["segments"]:
    for i in group:
        minima = [(t, m) for t, m in rounds[i] if s0 <= t < s1]
        if len(minima) < 3: continue
        for k in range(1, len(minima) + 1):
            now = minima[k - 1][0]
            anchor = [a for a in anchor_all if s0 - 0.5 <= a[0] <= now + 0.3]
            v = R.verdict(minima[:k], cfg, anchor)
            if v.done: break
        labels.setdefault(i, []).append(v.ratio); used.append(k)

def combine(vs, start, tolv, maxv, minv):
    """label from visits starting at start: returns (label, visits used) or None."""
    got = []
    for j in range(start, len(vs)):
        got.append(vs[j])
        if len(got) < minv: continue
        lg = np.log(got)
        if len(got) >= 2 and (max(got) / min(got) - 1) <= tolv:
            return float(np.exp(lg.mean())), len(got)
        if len(got) >= maxv:
            return float(np.exp(np.median(lg))), len(got)
        if len(got) == 1 and minv == 1:
            return got[0], 1
    return None

def rule(tolv, maxv, minv):
    diffs, nv = [], []
    for vs in labels.values():
        labs, s = [], 0
        while True:
            c = combine(vs, s, tolv, maxv, minv)
            if c is None: break
            labs.append(c[0]); nv.append(c[1]); s += c[1]
        diffs += [abs(a / b - 1) for a, b in itertools.combinations(labs, 2)]
    return np.median(diffs), np.quantile(diffs, .9), np.mean(nv), len(diffs)

print(f"visits per network {np.mean([len(v) for v in labels.values()]):.1f}, rounds per visit {np.mean(used):.1f}")
for name, args in [("one visit", (0, 1, 1)), ("two, geomean", (1e9, 2, 2)), ("three, median", (1e9, 3, 3)),
                   ("2, 3rd if >3%", (0.03, 3, 2)), ("2, 3rd if >4%", (0.04, 3, 2)), ("2, 3rd if >2%", (0.02, 3, 2)),
                   ("2, up to 4 if >3%", (0.03, 4, 2))]:
    m, p, v, n = rule(*args)
    print(f"{name:22s} median {100*m:.2f}% p90 {100*p:.2f}%  visits/label {v:.2f}  n {n}")
