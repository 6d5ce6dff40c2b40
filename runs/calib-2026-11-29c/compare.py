import json, sys
A = json.load(open(sys.argv[1])); B = json.load(open(sys.argv[2]))
def idx(rows): return {(r["source"], r["target"], r["n"], r["method"]): r for r in rows}
a, b = idx(A), idx(B)
pairs = []
for r in B:
    p = (r["source"], r["target"])
    if p not in pairs: pairs.append(p)
def minrho(d, s, t, n, m):
    x = d.get((s, t, n, m)); 
    return None if x is None else (x["fixed"]["spearman_rho"], x["configs"]["spearman_rho"])
def f(x): return "—" if x is None else f"{x[0]:.3f} / {x[1]:.3f}"
def c(d, s, t, n, m):
    x = d.get((s, t, n, m));
    return "—" if x is None else f'{x["configs"]["mape"]:.1%}, {x["configs"]["within_10"]:.0%}'
def fx(d, s, t, n, m):
    x = d.get((s, t, n, m));
    return "—" if x is None else f'{x["fixed"]["mape"]:.1%}'
print("| source → target | N=10 ρ fixed / configs: calibrated before | now | roofline alone before | now | N=50 held-out configs MAPE, ±10%: before | now | roofline alone now | N=50 fixed MAPE before / now |")
print("|---|---|---|---|---|---|---|---|---|")
cnt = {"rho_a":0,"rho_b":0,"n50_a":0,"n50_b":0}
for s, t in pairs:
    print(f"| {s} → {t} | {f(minrho(a,s,t,10,'calibrated'))} | {f(minrho(b,s,t,10,'calibrated'))} | {f(minrho(a,s,t,10,'roofline'))} | {f(minrho(b,s,t,10,'roofline'))} | {c(a,s,t,50,'calibrated')} | {c(b,s,t,50,'calibrated')} | {c(b,s,t,50,'roofline')} | {fx(a,s,t,50,'calibrated')} / {fx(b,s,t,50,'calibrated')} |")
    for k, d in (("a", a), ("b", b)):
        r = minrho(d, s, t, 10, "calibrated")
        if r and min(r) >= 0.95: cnt["rho_"+k] += 1
        x = d.get((s, t, 50, "calibrated"))
        if x and x["configs"]["mape"] <= 0.05 and x["configs"]["within_10"] >= 0.95: cnt["n50_"+k] += 1
print(cnt)
better = worse = same = 0
for key, rb in b.items():
    if key[3] != "calibrated" or key not in a: continue
    for part in ("fixed", "configs"):
        d = rb[part]["mape"] - a[key][part]["mape"]
        if d < -1e-9: better += 1
        elif d > 1e-9: worse += 1
        else: same += 1
print("calibrated MAPE cells now vs before: better", better, "worse", worse, "same", same)
