import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from gnnlat.architect import Architect
from gnnlat.network import NetworkConfig
from gnnlat.operations import PRIMITIVES
from gnnlat.supernet import Supernet

# A real differentiable latency model: per-op cost in ms, convs expensive, pool/skip cheap, none free.
OP_COST_MS = {"none": 0.0, "max_pool_3x3": 0.3, "avg_pool_3x3": 0.3, "skip_connect": 0.1,
              "sep_conv_3x3": 2.0, "sep_conv_5x5": 3.0, "dil_conv_3x3": 1.5, "dil_conv_5x5": 2.2}
COST = torch.tensor([OP_COST_MS[p] for p in PRIMITIVES])


def cost_latency(w_normal: torch.Tensor, w_reduce: torch.Tensor) -> torch.Tensor:
    """Normal cells run at higher resolution here, so they cost more than the reduce cell."""
    cost = COST.to(w_normal.dtype)
    return 1.0 + (w_normal * cost).sum() + 0.5 * (w_reduce * cost).sum()


def tiny_model(seed: int = 0) -> Supernet:
    torch.manual_seed(seed)
    return Supernet(NetworkConfig(C=4, layers=3, in_channels=1, resolution=8, classes=10))


def batches(seed: int = 1, n: int = 16) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g),
            torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g))


def expected_cost(model: Supernet) -> float:
    w_n, w_r = model.edge_weights()
    return float(((w_n * COST).sum() + (w_r * COST).sum()).detach())


def sgd(model: Supernet) -> torch.optim.SGD:
    return torch.optim.SGD(model.weight_parameters(), lr=0.1, momentum=0.9, weight_decay=3e-4)


def test_first_order_step_moves_alpha_only():
    model = tiny_model()
    weights_before = {k: v.detach().clone() for k, v in model.named_parameters() if "alpha" not in k}
    alpha_before = [a.detach().clone() for a in model.arch_parameters()]
    arch = Architect(model, cost_latency, lat_ref=10.0, lam=0.5)
    out = arch.step(*batches(), order=1)
    assert set(out) == {"ce", "lat_term", "lat_ms"}
    assert out["ce"] > 0 and out["lat_ms"] > 1.0
    assert out["lat_term"] == pytest.approx(0.5 * out["lat_ms"] / 10.0)
    for a, b in zip(model.arch_parameters(), alpha_before):
        assert not torch.equal(a.detach(), b)
    for k, v in model.named_parameters():
        if k in weights_before:
            assert torch.equal(v, weights_before[k]), k
    assert all(a.grad is None for a in model.arch_parameters())


def test_latency_term_pushes_toward_cheap_ops():
    costs = {}
    for lam in (0.0, 1.0):
        model = tiny_model()
        arch = Architect(model, cost_latency, lat_ref=10.0, lam=lam)
        data = batches()
        for _ in range(5):
            arch.step(*data, order=1)
        costs[lam] = expected_cost(model)
    start = expected_cost(tiny_model())
    assert costs[1.0] < costs[0.0]
    assert costs[1.0] < start


def test_zero_lambda_ignores_latency_gradient():
    """With λ = 0 the α update must equal the pure CE update, whatever the latency function."""
    alphas = []
    for fn in (cost_latency, lambda wn, wr: 100.0 * (wn[:, 4] ** 2).sum() + wr.sum()):
        model = tiny_model()
        Architect(model, fn, lat_ref=1.0, lam=0.0).step(*batches(), order=1)
        alphas.append(model.alpha_normal.detach().clone())
    assert torch.equal(alphas[0], alphas[1])


def test_second_order_step_changes_alpha_not_weights():
    model = tiny_model()
    opt = sgd(model)
    xt, yt, xv, yv = batches()
    opt.zero_grad()
    F.cross_entropy(model(xt), yt).backward()
    opt.step()  # creates momentum buffers, which the unrolled step must use
    state_before = copy.deepcopy(model.state_dict())
    arch = Architect(model, cost_latency, lat_ref=10.0, lam=0.2)
    out = arch.step(xt, yt, xv, yv, order=2, eta=0.1, w_optimizer=opt)
    assert out["ce"] > 0
    for k, v in model.state_dict().items():
        if "alpha" in k:
            assert not torch.equal(v, state_before[k])
        else:  # the virtual step touches neither weights nor BN statistics
            assert torch.equal(v, state_before[k]), k


def test_second_order_with_zero_step_equals_first_order():
    data = batches()
    grads = []
    for order in (1, 2):
        model = tiny_model()
        arch = Architect(model, cost_latency, lat_ref=10.0, lam=0.0)
        grads.append(arch.ce_gradients(*data, order=order, eta=0.0, w_optimizer=sgd(model))[1])
    for g1, g2 in zip(*grads):
        assert torch.allclose(g1, g2, atol=1e-6, rtol=1e-4)


def test_second_order_matches_exact_unrolled_hypergradient():
    """Finite-difference HVP vs autograd through the virtual SGD step (float64).

    ReLU and max-pool kinks make ∇_α L jump as w moves, so on the real ops a central difference
    and autograd's almost-everywhere Hessian legitimately disagree; a smooth copy checks the algebra.
    """
    model = smooth(tiny_model()).double()
    xt, yt, xv, yv = (t.double() if t.is_floating_point() else t for t in batches())
    opt = sgd(model)
    opt.zero_grad()
    F.cross_entropy(model(xt), yt).backward()
    opt.step()
    eta = 0.5
    arch = Architect(model, cost_latency, lat_ref=10.0, lam=0.0)
    _, approx = arch.ce_gradients(xt, yt, xv, yv, order=2, eta=eta, w_optimizer=opt)
    exact = _exact_unrolled_gradient(model, opt, xt, yt, xv, yv, eta)
    _, first = arch.ce_gradients(xt, yt, xv, yv, order=1)
    approx, exact, first = (torch.cat([g.flatten() for g in gs]) for gs in (approx, exact, first))
    assert (approx - exact).norm() < 1e-2 * exact.norm()
    assert (first - exact).norm() > 0.1 * exact.norm()  # the Hessian term is not negligible here


def smooth(module: nn.Module) -> nn.Module:
    """Replace ReLU with Softplus and max-pool with avg-pool, in place."""
    for name, child in module.named_children():
        if isinstance(child, nn.ReLU):
            setattr(module, name, nn.Softplus())
        elif isinstance(child, nn.MaxPool2d):
            setattr(module, name, nn.AvgPool2d(3, child.stride, 1))
        else:
            smooth(child)
    return module


def _exact_unrolled_gradient(model, opt, xt, yt, xv, yv, eta):
    group = opt.param_groups[0]
    arch_ids = {id(a) for a in model.arch_parameters()}
    named = [(n, p) for n, p in model.named_parameters() if id(p) not in arch_ids]
    buffers = lambda: {n: b.clone() for n, b in model.named_buffers()}  # noqa: E731
    loss = F.cross_entropy(functional_call(model, buffers(), (xt,), strict=False), yt)
    grads = torch.autograd.grad(loss, [p for _, p in named], create_graph=True)
    unrolled = {}
    for (n, p), g in zip(named, grads):
        m = group["momentum"] * opt.state[p]["momentum_buffer"]
        unrolled[n] = p - eta * (m + g + group["weight_decay"] * p)
    val = F.cross_entropy(functional_call(model, {**unrolled, **buffers()}, (xv,), strict=False), yv)
    return torch.autograd.grad(val, model.arch_parameters())


def test_bad_order_and_missing_optimizer():
    model = tiny_model()
    arch = Architect(model, cost_latency, lat_ref=10.0, lam=0.0)
    with pytest.raises(ValueError, match="order"):
        arch.step(*batches(), order=3)
    with pytest.raises(ValueError, match="weight optimizer"):
        arch.step(*batches(), order=2, eta=0.1)
    with pytest.raises(ValueError, match="lat_ref"):
        Architect(model, cost_latency, lat_ref=0.0, lam=0.1)


def test_state_dict_round_trip():
    model = tiny_model()
    arch = Architect(model, cost_latency, lat_ref=10.0, lam=0.3)
    arch.step(*batches(), order=1)
    other = Architect(tiny_model(), cost_latency, lat_ref=1.0, lam=0.0)
    other.load_state_dict(arch.state_dict())
    assert (other.lam, other.lat_ref) == (0.3, 10.0)
    s1, s2 = arch.optimizer.state_dict()["state"], other.optimizer.state_dict()["state"]
    assert torch.equal(s1[0]["exp_avg"], s2[0]["exp_avg"])
