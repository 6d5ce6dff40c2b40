import json, sys, os
for d in sys.argv[1:]:
    try:
        i=json.load(open(f'{d}/info.json')); v=json.load(open(f'{d}/val.json')); p=json.load(open(f'{d}/p300.json')); q=json.load(open(f'{d}/p80.json'))
    except Exception as e:
        print(d, 'incomplete'); continue
    a=i['anchored_noise_floor']; r=i['noise_floor']; g=v['gnn']; b=v['baseline']
    st=open(f'{d}/start').read().strip()
    print(f"{os.path.basename(d):8s} {st} rate {p['archs_per_hour']:.0f}/{q['archs_per_hour']:.0f} untimed {p['untimed_frac']:.1%} ovh {p['overhead_frac']:.1%} noisy {i['noisy']} "
          f"raw {r['median']:.2%}/{r['p90']:.2%} anch {a['median']:.2%}/{a['p90']:.2%} n{a['n']} | gnn {g['mape']:.2%} {g['within_10']:.1%} tau {g['kendall_tau']:.3f} | base {b['mape']:.2%} {b['within_10']:.1%}")
