"""Median |difference| of two labels merged (median) from K Gaussian passes with a shared part 0.3 of a pass, against d * sqrt(1/K + 0.09)."""
import numpy as np
rng = np.random.default_rng(0)
def floor(K, sigma, tau, n=20000):
    out=[]
    for _ in range(2):
        e = rng.normal(0, sigma, (n, K)); b = rng.normal(0, tau, (n, 1))
        out.append(np.median(e + b, axis=1))
    return np.median(np.abs(out[0]-out[1]))
for sigma in (0.019, 0.033):
    d = np.median(np.abs(rng.normal(0,sigma,100000)-rng.normal(0,sigma,100000)))
    for K in (1,2,3,4,5,6):
        f = floor(K, sigma, 0.3*sigma); pred = d*np.sqrt(1/K+0.09); print(f"sigma {sigma} d {d:.4f} K {K} floor {f:.4f} rule {pred:.4f}")
