"""λ targeting: adapt the latency weight so the search lands on a predicted latency."""
from __future__ import annotations


def adapt_lambda(lam: float, predicted_ms: float, target_ms: float, gain: float = 1.0,
                 lam_min: float = 1e-3, lam_max: float = 10.0) -> float:
    """Multiplicative λ controller for ``--target-ms``.

        λ ← clip(λ · clip((ms / target)^gain, 1/2, 2), lam_min, lam_max)

    where ms is the predicted latency of the genotype derived this epoch. Over budget (ms > target)
    raises λ, under budget lowers it, in proportion to the relative miss; the per-epoch factor is
    limited to [1/2, 2] so one noisy derivation cannot swing λ by orders of magnitude, and the
    bounds keep λ > 0 (a multiplicative rule could never leave 0).
    """
    factor = min(2.0, max(0.5, (predicted_ms / target_ms) ** gain))
    return min(lam_max, max(lam_min, lam * factor))
