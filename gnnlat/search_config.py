"""SearchConfig: everything that defines a search run, and the search's error type."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gnnlat.errors import GnnlatError
from gnnlat.lat_ref import LAT_REFS
from gnnlat.steps import RunConfig, check_common


class SearchError(GnnlatError, ValueError):
    """Bad search config, or a checkpoint that is missing or does not match the config."""


@dataclass
class SearchConfig(RunConfig):
    """Everything that defines a search run (the shared fields: :class:`~gnnlat.steps.RunConfig`).

    The defaults are a proxy search on cluttered digits (16×16, :mod:`gnnlat.cluttered`): a C=8,
    5-cell supernet for 10 epochs, minutes on 2 cores. ``skip_cap`` caps skip_connect in the derived normal cell (see :func:`cap_skip_connect`; None disables it). With ``target_ms``
    set, λ starts at ``lam`` (clipped into [lam_min, lam_max]) and follows :func:`adapt_lambda`.
    """

    lam: float = 0.2
    target_ms: float | None = None
    lam_gain: float = 1.0  # exponent of the target-latency λ rule
    lam_min: float = 1e-3
    lam_max: float = 10.0
    order: int = 1
    # DARTS uses 3e-4 over ~20k α steps; the proxies make ~90-130, so α needs a larger rate to
    # leave uniform as far as a full DARTS search does (measurements in docs/results.md).
    arch_lr: float = 3e-2
    arch_weight_decay: float = 1e-3
    skip_cap: int | None = 2
    lat_ref: str = "cells"  # reference latency: "cells" or "uniform" (see the module docstring)
    # The peak-memory term λ_mem · MEM / MEM_ref (its reference formed like LAT_ref), and its target.
    lam_memory: float = 0.0
    target_mb: float | None = None
    train_portion: float = 0.5
    out_dir: str = "runs/search"

    def validate(self) -> None:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise SearchError(msg)

        check_common(self, SearchError)
        need(self.order in (1, 2), f"order must be 1 or 2, got {self.order!r}")
        need(math.isfinite(self.lam) and self.lam >= 0, f"lam must be a finite number >= 0, got {self.lam!r}")
        need(self.target_ms is None or (math.isfinite(self.target_ms) and self.target_ms > 0),
             f"target_ms must be a positive number, got {self.target_ms!r}")
        need(0 < self.lam_min <= self.lam_max, f"need 0 < lam_min <= lam_max, got {self.lam_min}, {self.lam_max}")
        need(self.lam_gain > 0, f"lam_gain must be positive, got {self.lam_gain}")
        need(0 < self.train_portion < 1, f"train_portion must lie in (0, 1), got {self.train_portion}")
        need(self.skip_cap is None or self.skip_cap >= 0, f"skip_cap must be >= 0 or None, got {self.skip_cap}")
        need(self.lat_ref in LAT_REFS, f"lat_ref must be one of {', '.join(LAT_REFS)}, got {self.lat_ref!r}")
        need(self.arch_lr > 0, f"arch_lr must be positive, got {self.arch_lr}")
        need(math.isfinite(self.lam_memory) and self.lam_memory >= 0,
             f"lam_memory must be a finite number >= 0, got {self.lam_memory!r}")
        need(self.target_mb is None or (math.isfinite(self.target_mb) and self.target_mb > 0),
             f"target_mb must be a positive number, got {self.target_mb!r}")

    @property
    def uses_memory(self) -> bool:
        """Whether the search has a memory term (a weight, or a target that adapts one)."""
        return self.lam_memory > 0 or self.target_mb is not None

    def to_dict(self) -> dict[str, Any]:
        """The fields; the memory ones only when a memory term is used, so checkpoints and sweep
        results of latency-only searches written before it existed still match."""
        out = super().to_dict()
        if not self.uses_memory:
            out.pop("lam_memory"), out.pop("target_mb")
        return out
