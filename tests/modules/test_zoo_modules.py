"""The attention-module zoo: every registered module (parametrized over list_modules()),
known answers against hand formulas and independent references (timm), zero-width errors."""
from __future__ import annotations

import math
import re
import warnings

import pytest
import torch
import torch.nn as nn

from segkit.modules import create_attn, list_modules, module_info

NAMES = sorted(list_modules()["name"])
SMALL_AND_LARGE = (3, 8, 64)
SCRIPTABLE = {"se", "eca", "sk", "sge", "scse", "scconv", "split_attn", "a2", "coord"}  # must script, not only trace


def _build(name: str, c: int, **kw) -> nn.Module:
    if module_info(name).needs_size:
        kw = {"h": 16, "w": 16, **kw}
    return create_attn(name, c, **kw)


def _build_or_explained(name: str, c: int) -> nn.Module | None:
    """Build with defaults; a refusal must be a ValueError naming the channel count."""
    try:
        return _build(name, c)
    except ValueError as exc:
        assert re.search(rf"=\s*{c}\b", str(exc)), f"{name}: the error at C={c} does not name the channel count: {exc}"
        assert c < 8, f"{name} must build with defaults at C={c}: {exc}"
        return None


def test_list_modules_table():
    df = list_modules()
    assert {"name", "year", "paper", "params@C=64", "contract", "where", "addresses"} <= set(df.columns)
    assert SCRIPTABLE <= set(df["name"])
    row = df.set_index("name").loc["se"]
    assert row["params@C=64"] == 2 * 64 * 4 and row["year"] == 2018


@pytest.mark.parametrize("c", SMALL_AND_LARGE)
@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_shape_and_finite_grads(name, c):
    torch.manual_seed(0)
    m = _build_or_explained(name, c)
    if m is None:
        return
    m.train()
    x = torch.randn(2, c, 16, 16, requires_grad=True)
    y = m(x)
    assert y.shape == x.shape, f"{name} changed the shape at C={c}"
    (y * torch.randn_like(y)).sum().backward()
    assert torch.isfinite(x.grad).all()
    for pname, p in m.named_parameters():
        assert p.grad is not None, f"{name}.{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name}.{pname} has a non-finite gradient"


@pytest.mark.parametrize("name", NAMES)
def test_batch_independence_and_odd_sizes(name):
    """In eval mode a sample's output does not depend on its batch mates (catches a softmax
    over the batch dim, the A2 pitfall). Odd H, W keep the shape, or are refused with an
    error naming the size (patch-based modules)."""
    torch.manual_seed(0)
    m = _build(name, 16).eval()
    x = torch.randn(3, 16, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(m(x)[:1], m(x[:1]), rtol=1e-4, atol=1e-5)
    if module_info(name).needs_size:
        return
    x = torch.randn(2, 16, 15, 9)
    try:
        with torch.no_grad():
            y = m(x)
    except (RuntimeError, ValueError) as exc:
        assert "15" in str(exc) and "9" in str(exc), f"{name}: odd-size error does not name the size: {exc}"
    else:
        assert y.shape == x.shape


@pytest.mark.parametrize("name", NAMES)
def test_no_zero_sized_parameters(name):
    for c in (1, 2, 3, 4, 8, 16, 64):
        try:
            m = _build(name, c)
        except ValueError:
            continue  # refusing is allowed; building a zero-width layer is not
        for pname, p in m.named_parameters():
            assert p.numel() > 0, f"{name}(C={c}).{pname} is zero-sized {tuple(p.shape)}"


@pytest.mark.parametrize("name", NAMES)
def test_torchscript_or_trace(name):
    torch.manual_seed(0)
    m = _build(name, 8).eval()
    x = torch.randn(2, 8, 16, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compiled = torch.jit.script(m)
        except Exception:
            if name in SCRIPTABLE:
                raise
            compiled = torch.jit.trace(m, x)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), m(x))


# ----------------------------------------------------------------- parameter counts


@pytest.mark.parametrize("c,r", [(64, 16), (960, 16), (3, 16), (63, 8), (24, 4)])
def test_se_params_formula(c, r):
    from segkit.modules.se import SE

    hidden = max(1, c // r)
    assert sum(p.numel() for p in SE(c, reduction=r).parameters()) == 2 * c * hidden
    assert sum(p.numel() for p in SE(c, reduction=r, bias=True).parameters()) == 2 * c * hidden + hidden + c


@pytest.mark.parametrize("c,k", [(64, 3), (960, 5), (3, 1), (1, 1), (256, 5), (512, 5), (1024, 5)])
def test_eca_params_formula(c, k):
    from segkit.modules.eca import ECA

    # hand formula of the paper: k = |log2(C)/2 + 1/2|_odd
    t = int(abs((math.log2(c) + 1) / 2))
    assert (t if t % 2 else t + 1) == k
    m = ECA(c)
    assert m.kernel_size == k and sum(p.numel() for p in m.parameters()) == k
    assert sum(p.numel() for p in ECA(63, kernel_size=63).parameters()) == 63


@pytest.mark.parametrize("c,r,k", [(64, 16, 7), (24, 16, 7), (3, 16, 3), (256, 8, 7)])
def test_cbam_params_formula(c, r, k):
    if "cbam" not in NAMES:
        pytest.skip("CBAM not registered")
    m = create_attn("cbam", c, reduction=r, kernel_size=k)
    # shared bias-free MLP C -> max(1, C//r) -> C, plus the 2->1 kxk spatial conv without bias
    assert sum(p.numel() for p in m.parameters()) == 2 * c * max(1, c // r) + 2 * k * k


def test_sge_params_and_groups():
    from segkit.modules.sge import SGE

    assert SGE(960).groups == 64 and SGE(96).groups == 32 and SGE(3).groups == 1
    assert sum(p.numel() for p in SGE(64).parameters()) == 2 * 64


# ----------------------------------------------------------------- known answers / references


def test_se_matches_hand_computation():
    from segkit.modules.se import SE

    torch.manual_seed(0)
    m = SE(32, reduction=8)
    x = torch.randn(2, 32, 5, 7)
    w1, w2 = m.fc[0].weight, m.fc[2].weight
    s = x.mean(dim=(2, 3))
    expected = x * torch.sigmoid(torch.relu(s @ w1.T) @ w2.T)[:, :, None, None]
    torch.testing.assert_close(m(x), expected)


def test_eca_matches_timm():
    from timm.layers import EcaModule

    from segkit.modules.eca import ECA

    torch.manual_seed(0)
    ours = ECA(64)
    ref = EcaModule(64, kernel_size=ours.kernel_size)
    ref.conv.weight.data.copy_(ours.conv.weight.data)
    x = torch.randn(2, 64, 8, 8)
    torch.testing.assert_close(ours(x), ref(x))


@pytest.mark.parametrize("radix,groups,c", [(2, 1, 64), (2, 2, 32), (1, 1, 16), (4, 1, 8)])
def test_split_attention_matches_timm(radix, groups, c):
    from timm.layers import SplitAttn

    from segkit.modules.split_attention import SplitAttention

    torch.manual_seed(0)
    ours = SplitAttention(c, radix=radix, groups=groups)
    ref = SplitAttn(c, radix=radix, groups=groups, norm_layer=nn.BatchNorm2d)
    ref.load_state_dict(ours.state_dict())  # same parameter names and shapes
    for m in (ours, ref):  # non-trivial BN statistics
        for bn in (m.bn0, m.bn1):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 1.5)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(2, c, 9, 9)
    torch.testing.assert_close(ours.eval()(x), ref.eval()(x))


def test_sge_identity_scale_at_init():
    """gamma=0, beta=1 at init: every position is scaled by sigmoid(1)."""
    from segkit.modules.sge import SGE

    x = torch.randn(2, 64, 7, 5)
    torch.testing.assert_close(SGE(64)(x), x * torch.sigmoid(torch.tensor(1.0)))
    y = SGE(8)(torch.randn(2, 8, 1, 1))  # 1x1 map: no NaN from a one-element std
    assert torch.isfinite(y).all()


def test_sk_single_branch_is_its_conv():
    from segkit.modules.sk import SK

    torch.manual_seed(0)
    m = SK(16, branches=1).eval()
    x = torch.randn(2, 16, 8, 8)
    torch.testing.assert_close(m(x), m.convs[0](x))  # softmax over one branch is 1


def test_a2_matches_naive_reference():
    """Gather/distribute written with explicit loops over the batch and einsum."""
    from segkit.modules.a2 import DoubleAttention

    torch.manual_seed(0)
    m = DoubleAttention(8, c_m=6, c_n=5)
    x = torch.randn(2, 8, 4, 3)
    outs = []
    for xb in x:
        a = m.conv_a(xb[None])[0].flatten(1)  # (c_m, HW)
        bmap = m.conv_b(xb[None])[0].flatten(1).softmax(dim=1)  # over positions
        v = m.conv_v(xb[None])[0].flatten(1).softmax(dim=0)  # over descriptors
        g = torch.einsum("mp,np->mn", a, bmap)
        z = torch.einsum("mn,np->mp", g, v).reshape(6, 4, 3)
        outs.append(m.reconstruct(z[None])[0])
    torch.testing.assert_close(m(x), torch.stack(outs))
    assert DoubleAttention(8, c_m=6, reconstruct=False)(x).shape == (2, 6, 4, 3)


def test_scconv_calibrated_only_and_split():
    from segkit.modules.scconv import SCConv

    x = torch.randn(2, 7, 10, 6)
    full = SCConv(7).eval()
    assert full.c1 == 3
    y = full(x)
    # the plain half is K1(X2) alone, untouched by the calibrated half
    torch.testing.assert_close(y[:, 3:], full.k1(x[:, 3:]))
    assert SCConv(7, calibrated_only=True)(x).shape == x.shape
    assert SCConv(4)(torch.randn(2, 4, 2, 2)).shape == (2, 4, 2, 2)  # map smaller than the pool


def test_coord_attention_mip():
    from segkit.modules.coord import CoordAttention

    assert CoordAttention(64).mip == 8 and CoordAttention(960).mip == 30 and CoordAttention(3).mip == 8


# ----------------------------------------------------------------- zero-width and argument errors


@pytest.mark.parametrize(
    "build,needles",
    [
        (lambda: create_attn("se", 3, min_hidden=0), ["SE(channels=3, reduction=16)", "0-wide", "min_hidden>=1"]),
        (lambda: create_attn("scse", 1, min_hidden=0), ["channels=1", "0-wide"]),
        (lambda: create_attn("coord", 8, reduction=64, min_mip=0), ["channels=8, reduction=64", "min_mip>=1"]),
        (lambda: create_attn("a2", 8, c_m=0), ["c_m=0", "0-wide"]),
        (lambda: create_attn("eca", 64, kernel_size=4), ["kernel_size=4", "odd"]),
        (lambda: create_attn("sge", 64, groups=5), ["channels=64, groups=5", "divide"]),
        (lambda: create_attn("split_attn", 3), ["channels=3", "radix=2", "radix=1"]),
        (lambda: create_attn("scconv", 1), ["channels=1", "calibrated_only=True"]),
        (lambda: create_attn("sk", 6, groups=4), ["channels=6, groups=4"]),
        (lambda: create_attn("se", 0), ["channels=0", "positive"]),
    ],
)
def test_construction_errors_name_the_numbers_and_fix(build, needles):
    with pytest.raises(ValueError) as info:
        build()
    for needle in needles:
        assert needle in str(info.value), f"{needle!r} missing from: {info.value}"


def test_unknown_module_name_suggests():
    with pytest.raises(KeyError, match="Did you mean 'eca'"):
        create_attn("eac", 16)
