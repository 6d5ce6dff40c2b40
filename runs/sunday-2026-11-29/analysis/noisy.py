import sqlite3, json, sys, math, statistics as st
for db in sys.argv[1:]:
    c = sqlite3.connect(f'file:{db}?mode=ro', uri=True)
    n = old = new = 0
    for (extra,) in c.execute("select extra from samples where kind='primary'"):
        a = json.loads(extra)['agreement']; vs = a.get('visits')
        n += 1
        if not vs:
            old += not a['agreed']; new += not a['agreed']; continue
        vals = [v['anchor_ratio'] for v in vs]
        center = math.exp(st.median(math.log(x) for x in vals)); dev = [abs(x / center - 1) for x in vals]
        anyag = any(v['agreed'] for v in vs)
        old += not (anyag and max(dev) <= 0.03); new += not (anyag and st.median(dev) <= 0.03)
    print(db, "primaries", n, "flagged: all passes within 3%", old, "| median pass within 3%", new)
