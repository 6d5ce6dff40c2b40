"""Would a drift estimate from the other networks in flight (ratio / predicted ratio, median over a
segment's neighbours) steady labels across visits? Replay on a recording; the 'prediction' is the
network's mean label over its other visits times a per-network error of sd sigma (a predictor)."""
import json, sys, itertools; sys.path.insert(0, '/work/main')
import numpy as np
from harness import rounds as R
tr = json.load(open(sys.argv[1]))
cfg = R.ScheduleConfig()
rounds = [[(t, min(r)) for t, r in net] for net in tr["rounds"]]
anchor_all = rounds[-1]
visits = []  # (segment index, network, label)
for si, (group, s0, s1) in enumerate(tr["segments"]):
    for i in group:
        minima = [(t, m) for t, m in rounds[i] if s0 <= t < s1]
        if len(minima) < 3: continue
        for k in range(1, len(minima) + 1):
            now = minima[k - 1][0]
            anchor = [a for a in anchor_all if s0 - 0.5 <= a[0] <= now + 0.3]
            v = R.verdict(minima[:k], cfg, anchor)
            if v.done: break
        visits.append((si, i, np.log(v.ratio)))
nets = sorted({i for _, i, _ in visits})
def pairdiff(lab):
    by = {}
    for (si, i, _), l in zip(visits, lab): by.setdefault(i, []).append(l)
    d = [abs(np.exp(a - b) - 1) for v in by.values() for a, b in itertools.combinations(v, 2)]
    return 100 * np.median(d), 100 * np.quantile(d, .9)
raw = np.array([l for _, _, l in visits])
print("as labelled: %.2f%% / %.2f%%" % pairdiff(raw))
rng = np.random.default_rng(0)
for sigma in (0.0, 0.01, 0.02, 0.03):
    err = {i: rng.normal(0, sigma) for i in nets}
    for width in (0, 1, 2, 4):  # segments either side
        corr = []
        for (si, i, l) in visits:
            devs = []
            for (sj, j, lj) in visits:
                if abs(sj - si) <= width and j != i:
                    others = [x for (sk, k, x) in visits if k == j and sk != sj]
                    devs.append(lj - (np.mean(others) + err[j]))
            corr.append(l - (np.median(devs) if devs else 0))
        print("sigma %.2f, +-%d segments: %.2f%% / %.2f%%" % (sigma, width, *pairdiff(np.array(corr))))
