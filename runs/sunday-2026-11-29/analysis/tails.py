"""How heavy are the tails of pass ratios about their job's center? Quantiles of |log residual| in units of its median."""
import sqlite3, json, sys, numpy as np
res = []
for db in sys.argv[1:]:
    c = sqlite3.connect(f'file:{db}?mode=ro', uri=True)
    for (extra,) in c.execute("select extra from samples"):
        y = np.log([v['anchor_ratio'] for v in json.loads(extra)['agreement'].get('visits', [])])
        if len(y) >= 4:  # leave-one-out residual: a pass against the mean of the others
            res += [abs(y[i] - np.delete(y, i).mean()) for i in range(len(y))]
res = np.array(res); m = np.median(res)
g = np.abs(np.random.default_rng(0).normal(size=200000)); gm = np.median(g)
for q in (0.75, 0.9, 0.95, 0.99):
    print(f"q{q}: passes {np.quantile(res, q)/m:.2f}  gaussian {np.quantile(g, q)/gm:.2f}")
print("n", len(res))
