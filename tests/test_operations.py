"""Every primitive keeps the channel count and maps H to ceil(H / stride)."""
import math

import pytest
import torch
from torch import nn

from gnnlat.operations import ALL_OPS, OP_INFO, PRIMITIVES, FactorizedReduce, build_op

C = 4


@pytest.mark.parametrize("size", [8, 7])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("name", ALL_OPS)
def test_output_shape(name: str, stride: int, size: int) -> None:
    torch.manual_seed(0)
    op = build_op(name, C, stride)
    x = torch.randn(2, C, size, size + 2)  # non-square so H and W are checked separately
    y = op(x)
    assert y.shape == (2, C, math.ceil(size / stride), math.ceil((size + 2) / stride))
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("stride", [1, 2])
def test_none_is_zero(stride: int) -> None:
    y = build_op("none", C, stride)(torch.randn(1, C, 5, 5))
    assert y.abs().sum().item() == 0.0


def test_skip_connect_stride_1_is_identity() -> None:
    x = torch.randn(1, C, 5, 5)
    assert torch.equal(build_op("skip_connect", C, 1)(x), x)


def test_primitive_order_matches_darts() -> None:
    # α columns are indexed by this order; changing it silently breaks saved α and derive().
    assert PRIMITIVES == ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
                          "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
    assert set(OP_INFO) == set(ALL_OPS)


@pytest.mark.parametrize("name", ALL_OPS)
def test_op_info_matches_module(name: str) -> None:
    info = OP_INFO[name]
    op = build_op(name, C, 1)
    assert info.parametric == any(True for _ in op.parameters())
    spatial = [m for m in op.modules() if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1)]
    if info.family in ("sep_conv", "dil_conv"):
        assert spatial and all(m.kernel_size == (info.kernel, info.kernel) for m in spatial)
        assert all(m.dilation == (info.dilation, info.dilation) for m in spatial)
        assert all(m.groups == C for m in spatial)  # depthwise
    if info.family.startswith("pool"):
        pools = [m for m in op.modules() if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d))]
        assert len(pools) == 1 and pools[0].kernel_size == info.kernel


@pytest.mark.parametrize("name", ["sep_conv_3x3", "dil_conv_5x5", "conv_7x1_1x7"])
def test_affine_false_has_only_conv_weights(name: str) -> None:
    op = build_op(name, C, 1, affine=False)
    bns = [m for m in op.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(bn.weight is None for bn in bns)


@pytest.mark.parametrize("name", ["conv_9x9", "", "None", "sep_conv_3X3"])
def test_unknown_op_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="unknown operation"):
        build_op(name, C, 1)


@pytest.mark.parametrize("stride", [0, 3, -1, True, 1.0, 2.0, "2", None])
def test_bad_stride_rejected(stride: object) -> None:
    with pytest.raises(ValueError, match="stride must be 1 or 2"):
        build_op("sep_conv_3x3", C, stride)  # type: ignore[arg-type]


def test_factorized_reduce_needs_even_channels() -> None:
    with pytest.raises(ValueError, match="even channel count"):
        FactorizedReduce(4, 5)


@pytest.mark.parametrize("size", [6, 9])
def test_factorized_reduce_uses_both_offsets(size: int) -> None:
    # The second branch sees the input shifted by one pixel: its half must depend on x[1:, 1:].
    torch.manual_seed(0)
    fr = FactorizedReduce(C, C).eval()
    x = torch.randn(1, C, size, size)
    x2 = x.clone()
    x2[:, :, 1::2, 1::2] += 1.0  # only pixels the offset branch samples
    y, y2 = fr(x), fr(x2)
    assert y.shape == (1, C, math.ceil(size / 2), math.ceil(size / 2))
    assert torch.equal(y[:, : C // 2], y2[:, : C // 2])
    assert not torch.equal(y[:, C // 2:], y2[:, C // 2:])
