"""Known-answer tests for the paper's modules (see docs/models.md and docs/zoo.md)."""
from __future__ import annotations

import itertools

import pytest
import torch

from segkit._utils import count_params
from segkit.models.backbones import AttnPolicy, MobileNetV2
from segkit.models.heads import ASPP, AG_ASPP_MViT, MSA_ASPP, WA_ASPP, WA_ASPP_MViT, LiteMobileViTASPP, WA_ASPPv2
from segkit.modules import create_attn, module_info
from segkit.modules.attn_gate import AttnGate, MaxMergeGate
from segkit.modules.cbam import CBAM
from segkit.modules.conv import DepthwiseSeparableConv
from segkit.modules.ggca import GGCA, GGCADynamic, GGCAFused, GGCAFusedPooling, GGCASafe, ggca_hidden
from segkit.modules.mobilevit import MobileViTAttentionBlock
from segkit.modules.shallow_fusion import SFF_GROUPS, ShallowFusionLite
from segkit.modules.window_attention import (TransformerBlock, WindowTransformerBlock, window_partition,
                                             window_unpartition)

VARIANTS = [GGCADynamic, GGCASafe, GGCAFusedPooling, GGCAFused]


def _ggca_params(cg: int, m: int) -> int:
    return cg * m + m + 2 * m + m * cg + cg  # spec §6 formula


# ----------------------------------------------------------------------------- GGCA

@pytest.mark.parametrize("train", [True, False])
def test_ggca_variants_agree(train):
    torch.manual_seed(0)
    x = torch.randn(2, 384, 7, 9)
    ref = GGCA(384, 7, 9, reduction=16, num_groups=4)
    mods = [ref] + [cls(384, 16, 4) for cls in VARIANTS]
    for m in mods[1:]:
        m.load_state_dict(ref.state_dict(), strict=False)
    outs = [m.train(train)(x) for m in mods]
    for y in outs[1:]:
        assert y.shape == x.shape
        torch.testing.assert_close(y, outs[0], atol=1e-6, rtol=0)


def test_ggca_matches_naive_reference():
    """Hand-written GGCA: per-group loop, four separate transform calls."""
    torch.manual_seed(1)
    m = GGCAFused(24, reduction=2, num_groups=3).eval()
    x = torch.randn(2, 24, 5, 6)
    out = torch.empty_like(x)
    for b, g in itertools.product(range(2), range(3)):
        xg = x[b:b + 1, g * 8:(g + 1) * 8]
        t = m.transform
        ah = torch.sigmoid(t(xg.mean(3, keepdim=True)) + t(xg.max(3, keepdim=True).values))
        aw = torch.sigmoid(t(xg.mean(2, keepdim=True)) + t(xg.max(2, keepdim=True).values))
        out[b:b + 1, g * 8:(g + 1) * 8] = xg * ah * aw
    torch.testing.assert_close(m(x), out, atol=1e-6, rtol=0)


def test_ggca_param_counts():
    for c, g, r, m in [(384, 4, 16, 6), (576, 4, 16, 9), (960, 4, 16, 15), (32, 4, 16, 1)]:
        mod = GGCAFused(c, r, g)
        assert mod.hidden == m
        assert count_params(mod) == _ggca_params(c // g, m)
    assert count_params(GGCAFused(384, 16, 4)) == 1266


@pytest.mark.parametrize("cls", VARIANTS + ["fixed"])
def test_ggca_every_combination_valid_or_rejected(cls):
    """Every (channels, groups, reduction) either builds a non-zero-width module or raises ValueError in __init__."""
    clamp = cls in (GGCASafe, GGCAFusedPooling, GGCAFused)
    for c, g, r in itertools.product([1, 2, 3, 8, 12, 24, 32, 96, 100, 384], [1, 2, 3, 4, 5, 8], [1, 2, 4, 16, 64]):
        valid = c % g == 0 and c >= g and (clamp or (c // g) // r >= 1)
        make = (lambda: GGCA(c, 3, 3, r, g)) if cls == "fixed" else (lambda: cls(c, r, g))
        if valid:
            mod = make()
            assert mod.hidden == ggca_hidden(c, g, r, clamp=clamp) >= 1
            assert all(p.numel() > 0 for p in mod.parameters())
        else:
            with pytest.raises(ValueError, match="num_groups|zero-width"):
                make()
    with pytest.raises(ValueError, match="positive"):
        GGCAFused(0)


def test_ggca_zero_width_clamp():
    with pytest.raises(ValueError, match="GGCAFused"):
        GGCADynamic(32, reduction=16, num_groups=4)  # Cg=8, 8//16 = 0: Conv2d(8, 0) in the notes
    assert GGCASafe(32, reduction=16, num_groups=4).hidden == 1
    y = GGCAFused(32, 16, 4)(torch.randn(1, 32, 3, 5))  # odd sizes, batch 1 (BN has H*W values)
    assert y.shape == (1, 32, 3, 5)


def test_ggca_fixed_size_mismatch_is_clear():
    with pytest.raises(RuntimeError, match="built for feature size"):
        GGCA(64, 8, 8, 4, 1)(torch.randn(2, 64, 4, 4))


def test_paper_policy_blocks():
    bb = MobileNetV2(16, attn_policy="paper")
    assert bb.attn_blocks == [11, 12, 13, 15, 16, 17]
    assert [bb.features[i].hidden for i in bb.attn_blocks] == [384, 576, 576, 960, 960, 960]
    assert [(bb.features[i].attn.group_channels, bb.features[i].attn.hidden) for i in bb.attn_blocks] == \
        [(96, 6), (144, 9), (144, 9), (240, 15), (240, 15), (240, 15)]
    assert count_params(bb) - count_params(MobileNetV2(16)) == 29_247
    assert count_params(MobileNetV2(16)) == 1_811_712


def test_policy_places_any_registered_module():
    policy = AttnPolicy(attn="cbam", min_stage=5)
    bb = MobileNetV2(16, attn_policy=policy)
    assert bb.attn_blocks == [15, 16, 17]
    assert all(isinstance(bb.features[i].attn, CBAM) for i in bb.attn_blocks)
    low, deep = bb(torch.randn(2, 3, 64, 64))
    assert low.shape == (2, 24, 16, 16) and deep.shape == (2, 320, 4, 4)
    bb = MobileNetV2(8, attn_policy=AttnPolicy(attn=GGCASafe, stages=(1,), skip_stride2=False))
    assert bb.attn_blocks == [2, 3]
    assert bb(torch.randn(1, 3, 64, 64))[1].shape == (1, 320, 8, 8)  # OS8


# ----------------------------------------------------------------------------- CBAM, SFF, conv

def test_cbam_and_ds_conv():
    m = CBAM(32)
    assert count_params(m) == 32 * 2 * 2 + 2 * 49
    assert m(torch.randn(2, 32, 7, 5)).shape == (2, 32, 7, 5)
    ds = DepthwiseSeparableConv(16, 24)
    assert count_params(ds) == 16 * 9 + 16 * 24 + 2 * 24
    assert not ds.act.inplace


@pytest.mark.parametrize("group,params,in1,in2", [("sff1", 3362, 24, 32), ("sff2", 6690, 24, 32),
                                                  ("sff3", 10466, 32, 64), ("sff4", 3410, 16, 24)])
def test_sff_param_counts(group, params, in1, in2):
    g = SFF_GROUPS[group]
    m = ShallowFusionLite(in1, in2, g.reduced, g.out, g.dropout)
    assert count_params(m) == params
    y = m(torch.randn(2, in1, 16, 16), torch.randn(2, in2, 8, 8))
    assert y.shape == (2, g.out, 16, 16)


# ----------------------------------------------------------------------------- window attention

def test_window_partition_roundtrip_and_order():
    x = torch.arange(2 * 3 * 8 * 12, dtype=torch.float32).reshape(2, 3, 8, 12)
    w = window_partition(x, 4)
    assert w.shape == (2 * 6, 3, 4, 4)
    torch.testing.assert_close(w[1], x[0, :, 0:4, 4:8])  # row-major window order
    torch.testing.assert_close(w[6 + 3], x[1, :, 4:8, 0:4])
    torch.testing.assert_close(window_unpartition(w, 4, 8, 12), x)
    with pytest.raises(RuntimeError, match="multiple of 4"):
        window_partition(torch.randn(1, 3, 6, 8), 4)


def test_window_block_pads_and_masks_the_padding():
    """On a 6x7 map with 4x4 windows each window's real tokens attend only to each other: the
    result equals the block run on each window's real tokens alone, whatever the padding."""
    torch.manual_seed(0)
    m = WindowTransformerBlock(16, window_size=4, heads=2).eval()
    x = torch.randn(2, 16, 6, 7)
    ref = torch.empty_like(x)
    for b, i, j in itertools.product(range(2), range(2), range(2)):
        win = x[b, :, 4 * i:4 * i + 4, 4 * j:4 * j + 4]  # the real part of the window (may be smaller)
        c, hh, ww = win.shape
        ref[b, :, 4 * i:4 * i + hh, 4 * j:4 * j + ww] = m.block(win.reshape(c, -1).T[None])[0].T.reshape(c, hh, ww)
    torch.testing.assert_close(m(x), ref, atol=1e-5, rtol=1e-5)
    head = WA_ASPP(32, 16, window_size=(2, 4, 8), heads=2).eval()
    assert head(torch.randn(1, 32, 5, 3)).shape == (1, 16, 5, 3)  # smaller than the largest window


def test_window_block_matches_naive_and_params():
    torch.manual_seed(0)
    m = WindowTransformerBlock(32, window_size=4, heads=4).eval()
    x = torch.randn(2, 32, 8, 8)
    ref = torch.empty_like(x)
    for b, i, j in itertools.product(range(2), range(2), range(2)):
        win = x[b, :, 4 * i:4 * i + 4, 4 * j:4 * j + 4].reshape(32, 16).T[None]  # (1, 16, C)
        blk = m.block
        t = blk.norm1(win)
        q, k, v = blk.qkv(t).chunk(3, dim=-1)
        heads = [torch.softmax(q[..., h * 8:(h + 1) * 8] @ k[..., h * 8:(h + 1) * 8].mT / 8 ** 0.5, -1)
                 @ v[..., h * 8:(h + 1) * 8] for h in range(4)]
        t = win + blk.proj(torch.cat(heads, -1))
        t = t + blk.mlp(blk.norm2(t))
        ref[b, :, 4 * i:4 * i + 4, 4 * j:4 * j + 4] = t[0].T.reshape(32, 4, 4)
    torch.testing.assert_close(m(x), ref, atol=1e-5, rtol=1e-5)
    assert count_params(WindowTransformerBlock(320, 4, heads=4, mlp_ratio=4)) == 1_232_960
    assert count_params(WindowTransformerBlock(320, 4, heads=2, mlp_ratio=2)) == 822_720
    with pytest.raises(ValueError, match="divisible by heads"):
        TransformerBlock(30, heads=4)


# ----------------------------------------------------------------------------- MobileViT, gates

def test_mobilevit_block_params_and_axes():
    assert count_params(MobileViTAttentionBlock(320, depth=2, dim=128, mlp_dim=256, heads=4)) == 3_113_088
    assert count_params(MobileViTAttentionBlock(320, depth=1, dim=96, mlp_dim=192, heads=2)) == 2_902_848
    torch.manual_seed(0)
    intra = MobileViTAttentionBlock(16, dim=8, mlp_dim=16, heads=2).eval()
    inter = MobileViTAttentionBlock(16, dim=8, mlp_dim=16, heads=2, attn_axis="inter_patch").eval()
    inter.load_state_dict(intra.state_dict())
    x = torch.randn(1, 16, 4, 4)
    assert intra(x).shape == x.shape and not torch.allclose(intra(x), inter(x))
    # intra-patch attention: the transformer sees each 2x2 patch alone, so on an input made of one
    # repeated 2x2 patch every patch's transformer output is identical.
    z = intra.local_rep(x)
    tokens = z[..., :2, :2].permute(0, 2, 3, 1).reshape(1, 1, 4, 8)
    tiled = tokens.expand(1, 4, 4, 8)
    out = intra.transformer(tiled)
    torch.testing.assert_close(out[:, 0], out[:, 3])
    with pytest.raises(RuntimeError, match="not divisible by patch"):
        intra(torch.randn(1, 16, 5, 4))


def test_attn_gate_and_max_merge_gate():
    assert count_params(AttnGate(128)) == 2184 and count_params(AttnGate(256)) == 8464
    g = AttnGate(8).train()
    assert g(torch.randn(1, 8, 3, 3)).shape == (1, 8, 3, 3)  # batch 1 works
    h = MaxMergeGate(1280)
    assert count_params(h) == 2560
    u = torch.randn(2, 1280, 4, 4)
    t = u * torch.relu(h.channel_gate(u.mean((2, 3), keepdim=True)))
    k = u * torch.sigmoid(h.spatial_gate(u))
    torch.testing.assert_close(h(u), torch.maximum(t, k))
    assert module_info("hebing") is module_info("merge_gate")  # the reference's name still builds it


def test_reference_gate_keys_still_load():
    """A checkpoint with the reference's names (hebing / tongdao / kongjian) loads into the renamed gate,
    through load_state_dict and through load_weights (which matches keys before loading)."""
    from segkit.models import build_model
    from segkit.models._weights import load_weights

    torch.manual_seed(0)
    src = WA_ASPP(32, 16, window_size=(2, 2, 4), heads=2, gate=True)
    ref = {k.replace("gate.channel_gate", "hebing.tongdao").replace("gate.spatial_gate", "hebing.kongjian"): v
           for k, v in src.state_dict().items()}
    assert "hebing.tongdao.weight" in ref
    dst = WA_ASPP(32, 16, window_size=(2, 2, 4), heads=2, gate=True)
    dst.load_state_dict(ref)
    torch.testing.assert_close(dst.gate.spatial_gate.weight, src.gate.spatial_gate.weight)
    model = build_model("deeplabv3plus-mobilenetv2-wafa", aspp_dim=16)
    full = {k.replace("aspp.gate.", "aspp.hebing.").replace("channel_gate", "tongdao")
            .replace("spatial_gate", "kongjian"): v for k, v in model.state_dict().items()}
    report = load_weights(build_model("deeplabv3plus-mobilenetv2-wafa", aspp_dim=16), full, verbose=False)
    assert not (report.missing or report.unexpected or report.skipped)


# ----------------------------------------------------------------------------- ASPP family

def test_aspp_family_module_counts():
    assert count_params(ASPP(320, 256)) == 2_707_968
    assert count_params(WA_ASPP(320, 256)) == 4_438_464
    assert count_params(WA_ASPP(320, 256, gate=True)) == 4_441_024
    assert count_params(MSA_ASPP(320, 256)) == 9_473_520
    assert count_params(MSA_ASPP(320, 128)) == 9_002_968
    full = dict(mvit_depth=2, mvit_dim=128, mvit_mlp_dim=256, mvit_heads=4)
    assert count_params(WA_ASPP_MViT(320, 256, **full)) == 10_078_848
    assert count_params(LiteMobileViTASPP(320, 128)) == count_params(WA_ASPP_MViT(320, 128))
    assert count_params(AG_ASPP_MViT(320, 128, gate_mode="all", use_groupnorm=False)) == 9_002_968 + 2 * 2184
    assert WA_ASPP_MViT(320, 64, mvit_patch_size=(2, 2)).out_channels == 64  # old keyword accepted


@pytest.mark.parametrize("cls", [WA_ASPP_MViT, LiteMobileViTASPP, WA_ASPPv2, AG_ASPP_MViT])
def test_mvit_heads_shape_and_batch1(cls):
    m = cls(32, 16, mvit_dim=8, mvit_mlp_dim=16).train()
    assert m(torch.randn(1, 32, 4, 6)).shape == (1, 16, 4, 6)  # GroupNorm: batch 1 trains


def test_bn_pool_branch_batch1_error_names_fix():
    m = AG_ASPP_MViT(32, 16, mvit_dim=8, mvit_mlp_dim=16, use_groupnorm=False).train()
    with pytest.raises(ValueError, match="use_groupnorm=True"):
        m(torch.randn(1, 32, 4, 4))
    m.eval()
    assert m(torch.randn(1, 32, 4, 4)).shape == (1, 16, 4, 4)


def test_wa_aspp_text_variant_runs():
    m = WA_ASPP(32, 16, window_size=(2, 2, 4), heads=2, branch_style="text")
    assert m(torch.randn(2, 32, 4, 4)).shape == (2, 16, 4, 4)


# ----------------------------------------------------------------------------- registry

@pytest.mark.parametrize("name", ["ggca", "cbam", "window_attn", "attn_gate", "mobilevit_attn", "merge_gate"])
def test_registered_modules_keep_shape_and_have_no_zero_params(name):
    m = create_attn(name, 64)
    assert module_info(name).keeps_shape
    assert all(p.numel() > 0 for p in m.parameters())
    x = torch.randn(2, 64, 8, 8)
    assert m(x).shape == x.shape


def test_ggca_random_valid_configs_keep_shape():
    hyp = pytest.importorskip("hypothesis")
    st = pytest.importorskip("hypothesis.strategies")

    @hyp.settings(max_examples=15, deadline=None)
    @hyp.given(g=st.integers(1, 6), cg=st.integers(1, 20), r=st.integers(1, 32), h=st.integers(1, 7),
               w=st.integers(1, 7))
    def check(g, cg, r, h, w):
        m = GGCAFused(g * cg, r, g).eval()
        assert m.hidden == max(1, cg // r)
        x = torch.randn(2, g * cg, h, w)
        y = m(x)
        assert y.shape == x.shape and torch.isfinite(y).all()
        assert (y.abs() <= x.abs() + 1e-6).all()  # two sigmoid gates in (0, 1): no amplification

    check()
