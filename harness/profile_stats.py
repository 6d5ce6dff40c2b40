"""Throughput bookkeeping of a timing run: where its wall time went and its live noise floor.

Its own module so that both timing loops, the batched one (:mod:`harness.profile`) and the
streaming one (:mod:`harness.stream`), fill it without importing each other.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from harness.store import Sample
from harness.timers import Timing


@dataclass
class ProfileStats:
    """Throughput bookkeeping: how much wall time went into the timed windows, and where the rest
    went (all in seconds, summed over the run)."""

    timed: int = 0
    wall_s: float = 0.0  # the whole loop, bookkeeping between batches included
    timed_s: float = 0.0  # timed runs of the profiled architectures (the anchor's are not)
    build_s: float = 0.0  # building networks, or waiting for and unpacking prefetched ones
    unpack_s: float = 0.0  # of build_s: unpacking prefetched networks in the timing process
    prep_s: float = 0.0  # timer.prepare: eval mode, move to the device, ONNX bytes and session
    warmup_s: float = 0.0  # untimed runs: calibration, warm-up, do_bench's own estimate runs
    anchor_s: float = 0.0  # timed runs of the anchor network
    store_s: float = 0.0  # writing each batch and the store queries between batches
    passes: int = 0  # separate passes the architectures were timed in (harness.visits): timed or more
    pass_noise: float | None = None  # median difference between one architecture's consecutive passes
    repeat_pairs: list[tuple[float, float]] = field(default_factory=list)  # (repeat, primary) ms, this run
    anchored_pairs: list[tuple[float, float]] = field(default_factory=list)  # the same, over their anchors

    def add_repeat(self, repeat: Sample, primary: Sample) -> None:
        self.repeat_pairs.append((repeat.latency_ms, primary.latency_ms))
        ra, pa = repeat.extra.get("anchor_ms"), primary.extra.get("anchor_ms")
        if ra and pa:
            self.anchored_pairs.append((repeat.latency_ms / ra, primary.latency_ms / pa))

    def live_noise(self) -> dict:
        """The noise floor the labels see: anchored when this run's repeats have anchors."""
        return self.noise(anchored=bool(self.anchored_pairs))

    def noise(self, anchored: bool = False) -> dict:
        """This run's live noise floor: median and p90 of |repeat − primary| / primary, with n
        (``anchored``: of their ratios to the anchor timed alongside)."""
        pairs = self.anchored_pairs if anchored else self.repeat_pairs
        diffs = [abs(r - p) / p for r, p in pairs]
        if not diffs:
            return {"n": 0, "median": None, "p90": None}
        return {"n": len(diffs), "median": float(np.median(diffs)), "p90": float(np.percentile(diffs, 90))}

    @property
    def overhead_frac(self) -> float:
        """Share of wall time outside the architectures' own timed runs."""
        return 1.0 - self.timed_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def untimed_frac(self) -> float:
        """Share of wall time outside every timed window, the anchor's rounds counted as timed."""
        return 1.0 - (self.timed_s + self.anchor_s) / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def archs_per_hour(self) -> float:
        return 3600.0 * self.timed / self.wall_s if self.wall_s > 0 else 0.0

    def per_arch_ms(self) -> dict[str, float]:
        """Wall time per timed architecture by phase (ms); ``other`` is what no phase accounts for."""
        parts = {"build": self.build_s - self.unpack_s, "unpack": self.unpack_s, "prep": self.prep_s,
                 "warmup": self.warmup_s, "timed": self.timed_s, "anchor": self.anchor_s, "store": self.store_s}
        parts["other"] = max(self.wall_s - sum(parts.values()), 0.0)
        parts["total"] = self.wall_s
        return {k: 1e3 * v / self.timed if self.timed else 0.0 for k, v in parts.items()}

    def report(self) -> dict:
        """The throughput fields a run's summary carries."""
        return {"archs_per_hour": self.archs_per_hour, "overhead_frac": self.overhead_frac,
                "untimed_frac": self.untimed_frac, "time_per_arch_ms": self.per_arch_ms(),
                "live_noise_floor": self.live_noise(), "live_noise_floor_raw": self.noise(),
                "live_noise_floor_anchored": self.noise(anchored=True),
                "passes_per_arch": self.passes / self.timed if self.timed and self.passes else None,
                "pass_noise": self.pass_noise}


def timed_window_s(timings: list[Timing]) -> float:
    """Seconds spent inside timed runs: the sum of every run of every round (retries included)."""
    return sum(t.timed_ms for t in timings) / 1e3
