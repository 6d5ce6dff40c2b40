"""Cost terms of the α loss beyond cross entropy: latency, and further costs such as peak memory.

Each term is ``λ_k · COST_k(softmax(α)) / REF_k`` with its own differentiable predictor and its
own reference, fixed before the search (``gnnlat.lat_ref.reference_latency`` works for any cost:
the cost the cells add, or the uniform architecture's), so each λ_k means the same on any device
or config and the weights of different units can be set side by side.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

CostFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""cost_fn(w_normal, w_reduce) -> predicted cost (0-dim), differentiable in both weights."""


@dataclass
class CostTerm:
    """One extra cost of the α loss. ``lam`` is mutable (a target mode adapts it); ``ref`` is fixed."""

    name: str  # "memory", ...
    unit: str  # "MB", ...
    fn: CostFn
    ref: float
    lam: float
    target: float | None = None  # adapt λ each epoch so the derived network lands on this cost

    def __post_init__(self) -> None:
        if not (math.isfinite(self.ref) and self.ref > 0):
            raise ValueError(f"reference {self.name} must be a positive number, got {self.ref}")

    def value(self, w_normal: torch.Tensor, w_reduce: torch.Tensor) -> float:
        with torch.no_grad():
            return float(self.fn(w_normal, w_reduce))

    def state(self) -> dict:
        return {"lam": self.lam, "ref": self.ref}
