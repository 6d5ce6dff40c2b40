"""Markdown rows of the results table from each run's reports (ab.sh output directories)."""
import json, sys, os
for d in sys.argv[1:]:
    i, v = json.load(open(f'{d}/info.json')), json.load(open(f'{d}/val.json'))
    p, q = json.load(open(f'{d}/p300.json')), json.load(open(f'{d}/p80.json'))
    a, r, g, b = i['anchored_noise_floor'], i['noise_floor'], v['gnn'], v['baseline']
    rule = "new" if os.path.basename(d).startswith("new") else "old"
    met = lambda s, ok: f"**{s}**" if ok else s
    floor = met(f"{a['median']:.2%} / {a['p90']:.2%}", a['median'] <= 0.02 and a['p90'] <= 0.05)
    pred = met(f"{g['mape']:.2%}, {g['within_10']:.1%}", g['mape'] <= 0.03 and g['within_10'] >= 0.97)
    print(f"| {open(f'{d}/start').read().strip()[:5]} | {rule} | {p['archs_per_hour']:,.0f} / {q['archs_per_hour']:,.0f} / h | "
          f"{p['passes_per_arch']:.2f}, {p['pass_noise']:.1%} | {i['noisy']} | {r['median']:.2%} / {r['p90']:.2%} | {floor} | "
          f"{pred} ({b['mape']:.2%}) |")
