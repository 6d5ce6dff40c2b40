"""Median |difference| (and p90) of two labels, each merged from K Gaussian passes with a shared part (0.3 of a pass) and bursts; by estimator."""
import numpy as np
rng = np.random.default_rng(1)
def hl(y):
    K = y.shape[1]; i, j = np.triu_indices(K)
    return np.median((y[:, i] + y[:, j]) / 2, axis=1)
def drop1(y):
    m = np.median(y, axis=1, keepdims=True); far = np.argmax(np.abs(y - m), axis=1)
    mask = np.ones_like(y, bool); mask[np.arange(len(y)), far] = y.shape[1] < 3
    return (y * mask).sum(1) / mask.sum(1)
E = dict(median=lambda y: np.median(y, 1), mean=lambda y: y.mean(1), hl=hl, drop1=drop1)
def floor(K, sigma, tau, f, contam, n=40000):
    r = np.random.default_rng(K)
    out=[]
    for _ in range(2):
        e = r.normal(0, sigma, (n, K)) + r.normal(0, tau, (n, 1)) + (r.random((n, K)) < contam) * 0.2
        out.append(f(e))
    d = np.abs(out[0]-out[1]); return 100*np.median(d), 100*np.quantile(d, .9)
for contam in (0.0, 0.01, 0.03):
  for K in (2,3,4,5,6,8):
    print(contam, K, "  ".join("%s %.2f/%.2f" % (h, *floor(K, .033, .01, f, contam)) for h, f in E.items()))
