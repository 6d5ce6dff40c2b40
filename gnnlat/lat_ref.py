"""LAT_ref, the latency the search divides by, and the predicted latency of discrete genotypes.

LAT_ref is a fixed reference so that λ means the same on every device and network config. The
default (``cells``) is the latency the cells of the uniform architecture (all α equal) add on top
of the part no α controls (stem, cell preprocessing, head): LAT(uniform) − LAT(all edges
``none``). Dividing by the whole LAT(uniform) instead (``uniform``) would tie λ's strength to the
fixed part's share of the latency, which differs between devices, configs and batch sizes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from gnnlat.architect import LatencyFn
from gnnlat.derive import STEPS
from gnnlat.errors import GnnlatError
from gnnlat.genotype import Genotype
from gnnlat.operations import PRIMITIVES
from gnnlat.supernet import num_edges, one_hot_alpha

LAT_REFS = ("cells", "uniform")


class LatRefError(GnnlatError, ValueError):
    """A reference latency that cannot be formed from this predictor."""


def genotype_latency(latency_fn: LatencyFn, genotype: Genotype, device: str | torch.device = "cpu") -> float:
    """Predicted latency of a discrete genotype: latency_fn on softmax of its one-hot α."""
    w_n = F.softmax(one_hot_alpha(genotype, reduction=False), dim=-1).to(device)
    w_r = F.softmax(one_hot_alpha(genotype, reduction=True), dim=-1).to(device)
    with torch.no_grad():
        return float(latency_fn(w_n, w_r))


def uniform_latency(latency_fn: LatencyFn, device: str | torch.device = "cpu") -> float:
    """LAT_ref: latency_fn of the uniform architecture (all α equal)."""
    w = torch.full((num_edges(STEPS), len(PRIMITIVES)), 1.0 / len(PRIMITIVES), device=device)
    with torch.no_grad():
        return float(latency_fn(w, w.clone()))


def reference_latency(latency_fn: LatencyFn, mode: str = "cells", device: str | torch.device = "cpu") -> float:
    """LAT_ref: ``uniform`` = LAT(uniform α); ``cells`` = LAT(uniform α) − LAT(every edge ``none``)."""
    if mode not in LAT_REFS:
        raise LatRefError(f"lat_ref must be one of {', '.join(LAT_REFS)}, got {mode!r}")
    uniform = uniform_latency(latency_fn, device)
    if mode == "uniform":
        return uniform
    w = torch.zeros((num_edges(STEPS), len(PRIMITIVES)), device=device)
    w[:, PRIMITIVES.index("none")] = 1.0
    with torch.no_grad():
        fixed = float(latency_fn(w, w.clone()))
    if not uniform > fixed:
        raise LatRefError(f"the predictor gives the cells no latency (uniform {uniform:.4g} ms, cells empty "
                          f"{fixed:.4g} ms); use lat_ref='uniform'")
    return uniform - fixed
