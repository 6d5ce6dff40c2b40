"""The α update of latency-aware DARTS.

The architecture loss on a validation batch is

    L_α = CE(f(x_val; w, α), y_val) + λ · LAT(softmax(α)) / LAT_ref + Σ_k λ_k · COST_k(softmax(α)) / REF_k

where LAT is a differentiable latency predictor evaluated on the soft edge weights, and the
optional further terms (:class:`gnnlat.costs.CostTerm`, e.g. peak memory) work the same way. α is updated
with Adam, as in DARTS. Two gradient approximations of the bilevel problem
min_α L_val(w*(α), α) s.t. w*(α) = argmin_w L_train(w, α):

* first order: ∇_α L_val(w, α) at the current weights;
* second order (DARTS "unrolled"): with one virtual SGD step w' = w − ξ ∇_w L_train(w, α)
  (momentum and weight decay of the weight optimizer included),

      ∇_α L_val(w', α) − ξ · ∇²_{α,w} L_train(w, α) · ∇_{w'} L_val(w', α),

  where the Hessian-vector product is the central difference
  (∇_α L_train(w⁺, α) − ∇_α L_train(w⁻, α)) / 2ε with w^± = w ± ε v, v = ∇_{w'} L_val(w', α) and
  ε = 0.01 / ‖v‖ (DARTS normalises by the norm of the vector the weights are moved along).

The latency term does not depend on w, so in both orders it contributes its plain gradient.
Virtual forwards run through ``torch.func.functional_call`` on cloned BN buffers, so the unrolled
and perturbed passes neither modify the real weights nor the running statistics.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from gnnlat.costs import CostTerm
from gnnlat.supernet import Supernet

LatencyFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""latency_fn(w_normal, w_reduce) -> predicted latency in ms (0-dim), differentiable in both."""

HVP_RADIUS = 0.01


class Architect:
    """Owns the α optimizer and computes the latency-aware α gradient.

    ``lam`` is a plain attribute so a λ schedule (the search's target-latency mode) can change it;
    ``costs`` are further terms, each with its own λ and reference.
    """

    def __init__(self, model: Supernet, latency_fn: LatencyFn, lat_ref: float, lam: float,
                 lr: float = 3e-4, betas: tuple[float, float] = (0.5, 0.999), weight_decay: float = 1e-3,
                 costs: list[CostTerm] | None = None):
        if not lat_ref > 0:
            raise ValueError(f"lat_ref must be positive, got {lat_ref}")
        self.model = model
        self.latency_fn = latency_fn
        self.lat_ref = float(lat_ref)
        self.lam = float(lam)
        self.costs = list(costs or [])
        self.optimizer = torch.optim.Adam(model.arch_parameters(), lr=lr, betas=betas,
                                          weight_decay=weight_decay)

    # ---- public --------------------------------------------------------------------------
    def step(self, x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor,
             order: int = 1, eta: float = 0.0, w_optimizer: torch.optim.Optimizer | None = None
             ) -> dict[str, float]:
        """One Adam step on α. ``eta`` and ``w_optimizer`` (SGD) define the virtual step of order 2.

        Returns the validation cross entropy, the latency term λ·LAT/LAT_ref and LAT in ms.
        """
        ce, grads = self.ce_gradients(x_train, y_train, x_val, y_val, order, eta, w_optimizer)
        lat_ms, lat_grads = self._latency_term()
        out = {"ce": ce, "lat_term": self.lam * lat_ms / self.lat_ref, "lat_ms": lat_ms}
        for term in self.costs:
            value, term_grads = self._term(term.fn, term.lam, term.ref)
            grads = [g + tg for g, tg in zip(grads, term_grads)]
            out[f"{term.name}_term"], out[term.name] = term.lam * value / term.ref, value
        for a, g, lg in zip(self.model.arch_parameters(), grads, lat_grads):
            a.grad = g + lg
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return out

    def ce_gradients(self, x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor,
                     y_val: torch.Tensor, order: int = 1, eta: float = 0.0,
                     w_optimizer: torch.optim.Optimizer | None = None) -> tuple[float, list[torch.Tensor]]:
        """Validation CE and its (first- or second-order) gradient w.r.t. [α_normal, α_reduce]."""
        if order == 1:
            return self._first_order(x_val, y_val)
        if order == 2:
            if w_optimizer is None:
                raise ValueError("second-order α steps need the weight optimizer (for momentum/wd)")
            return self._second_order(x_train, y_train, x_val, y_val, eta, w_optimizer)
        raise ValueError(f"order must be 1 or 2, got {order}")

    def latency_ms(self) -> float:
        """LAT(softmax(α)) of the current soft weights, without gradient."""
        with torch.no_grad():
            return float(self.latency_fn(*self.model.edge_weights()))

    def state_dict(self) -> dict:
        state = {"optimizer": self.optimizer.state_dict(), "lam": self.lam, "lat_ref": self.lat_ref}
        if self.costs:  # absent without further terms: a latency-only checkpoint reads as before
            state["costs"] = {t.name: t.state() for t in self.costs}
        return state

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.lam, self.lat_ref = float(state["lam"]), float(state["lat_ref"])
        saved = state.get("costs", {})
        for term in self.costs:
            if term.name in saved:
                term.lam, term.ref = float(saved[term.name]["lam"]), float(saved[term.name]["ref"])

    # ---- gradients -----------------------------------------------------------------------
    def _latency_term(self) -> tuple[float, list[torch.Tensor]]:
        """LAT in ms and ∇_α of λ·LAT/LAT_ref (zeros when λ = 0, skipping the backward)."""
        return self._term(self.latency_fn, self.lam, self.lat_ref)

    def _term(self, fn: LatencyFn, lam: float, ref: float) -> tuple[float, list[torch.Tensor]]:
        """A cost's value and ∇_α of λ·COST/REF (zeros when λ = 0, skipping the backward)."""
        alphas = self.model.arch_parameters()
        if lam == 0.0:
            with torch.no_grad():
                return float(fn(*self.model.edge_weights())), [torch.zeros_like(a) for a in alphas]
        cost = fn(*self.model.edge_weights())
        grads = torch.autograd.grad(lam * cost / ref, alphas, allow_unused=True)
        return float(cost.detach()), [torch.zeros_like(a) if g is None else g for a, g in zip(alphas, grads)]

    def _first_order(self, x_val: torch.Tensor, y_val: torch.Tensor) -> tuple[float, list[torch.Tensor]]:
        loss = F.cross_entropy(self.model(x_val), y_val)
        grads = torch.autograd.grad(loss, self.model.arch_parameters())
        return float(loss.detach()), list(grads)

    def _second_order(self, x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor,
                      y_val: torch.Tensor, eta: float, w_optimizer: torch.optim.Optimizer
                      ) -> tuple[float, list[torch.Tensor]]:
        names, weights = self._named_weights()
        unrolled = self._unrolled_weights(names, weights, x_train, y_train, eta, w_optimizer)
        unrolled = [u.requires_grad_() for u in unrolled]
        loss = F.cross_entropy(self._call(dict(zip(names, unrolled)), x_val), y_val)
        alphas = self.model.arch_parameters()
        grads = torch.autograd.grad(loss, alphas + unrolled)
        d_alpha, vector = list(grads[:len(alphas)]), grads[len(alphas):]
        hvp = self._hessian_vector_product(names, weights, vector, x_train, y_train)
        return float(loss.detach()), [g - eta * h for g, h in zip(d_alpha, hvp)]

    def _unrolled_weights(self, names: list[str], weights: list[torch.Tensor], x: torch.Tensor,
                          y: torch.Tensor, eta: float, w_optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
        """w' = w − η (μ·m + ∇_w L_train + wd·w), the SGD update DARTS unrolls (detached)."""
        group = w_optimizer.param_groups[0]
        momentum, wd = group.get("momentum", 0.0), group.get("weight_decay", 0.0)
        loss = F.cross_entropy(self._call({}, x), y)
        grads = torch.autograd.grad(loss, weights)
        out = []
        for w, g in zip(weights, grads):
            buf = w_optimizer.state.get(w, {}).get("momentum_buffer")
            moment = momentum * buf if buf is not None else torch.zeros_like(w)
            out.append((w - eta * (moment + g + wd * w)).detach())
        return out

    def _hessian_vector_product(self, names: list[str], weights: list[torch.Tensor],
                                vector: tuple[torch.Tensor, ...], x: torch.Tensor, y: torch.Tensor
                                ) -> list[torch.Tensor]:
        norm = torch.cat([v.reshape(-1) for v in vector]).norm()
        eps = HVP_RADIUS / max(float(norm), 1e-12)
        alphas = self.model.arch_parameters()
        sides = []
        for sign in (1.0, -1.0):
            shifted = {n: (w + sign * eps * v).detach() for n, w, v in zip(names, weights, vector)}
            loss = F.cross_entropy(self._call(shifted, x), y)
            sides.append(torch.autograd.grad(loss, alphas))
        return [(p - n) / (2 * eps) for p, n in zip(*sides)]

    # ---- helpers -------------------------------------------------------------------------
    def _named_weights(self) -> tuple[list[str], list[nn.Parameter]]:
        arch = {id(a) for a in self.model.arch_parameters()}
        named = [(n, p) for n, p in self.model.named_parameters() if id(p) not in arch]
        return [n for n, _ in named], [p for _, p in named]

    def _call(self, weights: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """Forward with ``weights`` substituted and BN running stats on throwaway copies."""
        buffers = {n: b.clone() for n, b in self.model.named_buffers()}
        return functional_call(self.model, {**weights, **buffers}, (x,), strict=False)
