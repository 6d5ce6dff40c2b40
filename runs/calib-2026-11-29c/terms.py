import sys, numpy as np, torch
sys.path.insert(0, "/work/main")
from pathlib import Path
from workflows.records import load_records
from gnnlat.transplant import TargetSplit
from gnnlat.encoding import encode_genotypes, NODE_TYPES, NUMERIC_FEATURES
from gnnlat.roofline import network_work
from gnnlat.metrics import regression_metrics
from scipy.optimize import nnls
from torch_geometric.utils import scatter
T = len(NODE_TYPES); COL = {n: T + i for i, n in enumerate(NUMERIC_FEATURES)}

def extra(records, kind, thr):
    d = encode_genotypes([r.genotype for r in records], [r.config for r in records])
    x = d.x.double()
    el = torch.exp2(4 * x[:, COL["log_elements"]])
    batch = torch.exp2(4 * x[:, COL["log_batch"]])
    if kind == "cache":
        f = el * (el * 4 > thr)
    elif kind == "cache_per_item":
        f = el * (el / batch * 4 > thr)
    elif kind == "logbatch":
        f = el * torch.log2(batch)
    elif kind == "kbatch":
        from gnnlat.roofline import KERNELS
        k = x[:, :T] @ torch.tensor([float(KERNELS[t]) for t in NODE_TYPES], dtype=x.dtype)
        f = k * batch
    elif kind == "kbatch_unblocked":
        from gnnlat.roofline import KERNELS
        k = x[:, :T] @ torch.tensor([float(KERNELS[t]) for t in NODE_TYPES], dtype=x.dtype)
        f = k * batch * (1 - x[:, COL["c_in_div16"]] * x[:, COL["c_out_div16"]])
    elif kind == "kernels_unblocked":
        from gnnlat.roofline import KERNELS
        k = x[:, :T] @ torch.tensor([float(KERNELS[t]) for t in NODE_TYPES], dtype=x.dtype)
        f = k * (1 - x[:, COL["c_in_div16"]] * x[:, COL["c_out_div16"]])
    elif kind == "kbatch1":
        from gnnlat.roofline import KERNELS
        k = x[:, :T] @ torch.tensor([float(KERNELS[t]) for t in NODE_TYPES], dtype=x.dtype)
        f = k * (batch - 1)
    elif kind in ("dwgroups", "dwgroups_unblocked"):
        cin = torch.exp2(4 * x[:, COL["log_c_in"]])
        dw = sum(x[:, NODE_TYPES.index(o)] * m for o, m in [("sep_conv_3x3", 2), ("sep_conv_5x5", 2), ("dil_conv_3x3", 1), ("dil_conv_5x5", 1)])
        f = dw * cin * batch
        if kind == "dwgroups_unblocked":
            f = f * (1 - x[:, COL["c_in_div16"]] * x[:, COL["c_out_div16"]])
    elif kind == "excess":
        f = torch.clamp(el - thr / 4, min=0)
    f = f * d.node_scale.double()
    return scatter(f, d.batch, dim=0, dim_size=d.num_graphs, reduce="sum").numpy()

def fit(W, t):
    D = np.column_stack([W, np.ones(len(t))]); s = np.abs(D).max(0); s[s == 0] = 1
    c, _ = nnls(D / s / t[:, None], np.ones_like(t)); return c / s

def score(c, W, recs):
    p = np.column_stack([W, np.ones(len(W))]) @ c
    m = regression_metrics(np.maximum(p, 1e-6), [r.latency_ms for r in recs]); return m["mape"], m["within_10"]

for db in sys.argv[1:]:
    recs = load_records(Path(db)); sp = TargetSplit.of(recs, 0)
    pool = sp.pool_fixed + sp.pool_vary; held = sp.held_configs
    t = np.array([r.latency_ms for r in pool])
    Wp = network_work(encode_genotypes([r.genotype for r in pool], [r.config for r in pool])).numpy()
    Wh = network_work(encode_genotypes([r.genotype for r in held], [r.config for r in held])).numpy()
    c = fit(Wp, t); print(db, "base", score(c, Wh, held))
    for kind, thrs in [("kbatch_unblocked", [0]), ("kernels_unblocked", [0]), ("kbatch1", [0]), ("kbatch", [0]), ("dwgroups", [0]), ("dwgroups_unblocked", [0]), ("logbatch", [0]), ]:
        for thr in thrs:
            Ep, Eh = extra(pool, kind, thr), extra(held, kind, thr)
            c = fit(np.column_stack([Wp, Ep]), t)
            print(" ", kind, thr, [round(v, 4) for v in score(c, np.column_stack([Wh, Eh]), held)], "extra cost", c[-2])
