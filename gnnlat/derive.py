"""Deriving a discrete genotype from the search's edge weights, with the skip-connect cap."""
from __future__ import annotations

import torch

from gnnlat.genotype import Genotype
from gnnlat.operations import PRIMITIVES
from gnnlat.supernet import derive_cell, num_edges

STEPS = 4  # intermediate nodes per cell: the latency predictor's interface is 14 edges × 8 ops


def cap_skip_connect(weights: torch.Tensor, cap: int | None, steps: int = STEPS) -> torch.Tensor:
    """Edge weights whose derived cell has at most ``cap`` skip_connect edges (P-DARTS-style cap).

    Among the skip edges the DARTS rule would keep, the ``cap`` with the largest skip weight stay;
    the others get their skip weight zeroed and the cell is derived again, so such an edge takes its
    next-best non-skip op (or loses its slot to a stronger edge). Repeat until the cap holds, since
    a re-derived node may pick up another skip edge.

    Why a cap and not a regulariser: the latency term itself rewards skip (it is the cheapest
    parametric-free op after `none`), so a skip penalty inside L_α would fight λ directly and blur
    the accuracy/latency trade-off being searched. The cap leaves the α dynamics alone and only
    stops the known DARTS failure (normal cells collapsing to parameter-free skips) at derivation.
    """
    w = weights.detach().clone()
    if cap is None:
        return w
    skip = PRIMITIVES.index("skip_connect")
    starts = [sum(k + 2 for k in range(i)) for i in range(steps)]
    for _ in range(num_edges(steps) + 1):
        pairs = derive_cell(w, steps)
        rows = [starts[k // 2] + inp for k, (op, inp) in enumerate(pairs) if op == "skip_connect"]
        if len(rows) <= cap:
            return w
        rows.sort(key=lambda r: (-float(w[r, skip]), r))
        for r in rows[cap:]:
            w[r, skip] = 0.0
    raise AssertionError("skip cap did not converge")  # each pass zeroes a positive weight


def derive_genotype_capped(w_normal: torch.Tensor, w_reduce: torch.Tensor, skip_cap: int | None,
                           steps: int = STEPS) -> Genotype:
    """DARTS derivation with the skip cap on the normal cell (reduce cells are left as derived)."""
    concat = list(range(2, steps + 2))
    normal = derive_cell(cap_skip_connect(w_normal, skip_cap, steps), steps)
    return Genotype(normal=normal, normal_concat=concat, reduce=derive_cell(w_reduce.detach(), steps),
                    reduce_concat=concat)
