import json, sys, glob, os
def load(p):
    try: return json.load(open(p))
    except Exception: return None
for d in sorted(glob.glob(sys.argv[1] if len(sys.argv) > 1 else "/tmp/exp/run*")):
    p3, p8, info, val = (load(os.path.join(d, f)) for f in ("p300.json", "p80.json", "info.json", "val.json"))
    st = open(os.path.join(d, "start")).read().strip() if os.path.exists(os.path.join(d, "start")) else "?"
    if not p3: print(d, "no p300"); continue
    row = [os.path.basename(d), st, f"{p3['archs_per_hour']:.0f}/h", f"untimed {p3['untimed_frac']:.1%} own {p3['overhead_frac']:.1%}",
           f"warmup {p3['time_per_arch_ms'].get('warmup', 0):.0f}ms"]
    if p8: row.append(f"80: {p8['archs_per_hour']:.0f}/h")
    if info:
        a, r = info.get("anchored_noise_floor") or {}, info.get("noise_floor") or {}
        row.append(f"floor anch {a.get('median', 0):.2%}/{a.get('p90', 0):.2%} n={a.get('n')} raw p90 {r.get('p90', 0):.1%} noisy {info.get('noisy')}")
    if val:
        g = val["gnn"]; b = val["baseline"]
        row.append(f"pred {g['mape']:.2%} {g['within_10']:.1%} tau {g['kendall_tau']:.3f} (base {b['mape']:.2%}) n={g['n']}")
    print(" | ".join(row))
