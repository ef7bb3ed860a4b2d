"""Survey zoo: UNet family, LinkNet, PSPNet, DeepLabV3, HRNet, HarDNet, SegFormer,
SegNeXt, Trans4PASS, hierarchical multi-scale attention, MPA losses and `segkit zoo`.

Heavy configurations are built on the meta device for parameter counts (no memory, no
compute); forward/backward runs at 64x64, batch 2, on reduced configs (every registered
default runs in tests/models/test_all_models.py).
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import segkit.models as M
from segkit.models.hardnet import FCHarDNet, HarDBlock, harmonic_links
from segkit.models.hrnet import HRNet, HRNetConfig
from segkit.models.linknet import LinkNet, ResNetEncoder
from segkit.models.multiscale import HierarchicalMultiScale
from segkit.models.pspnet import PSPNet
from segkit.models.segformer import EfficientSelfAttention, SegFormer
from segkit.models.segnext import MSCA, NMF2D, SegNeXt
from segkit.models.trans4pass import DeformableMLP, DeformablePatchEmbed, Trans4PASS
from segkit.models.unet import UNet, UNet3Plus, UNetPlusPlus
from segkit.adapt.mpa import PrototypeMemory, class_prototypes, mpa_feature_loss

from model_checks import forward_backward

ZOO = [
    "unet", "unetplusplus", "unet3plus", "linknet", "pspnet-r50", "deeplabv3-r50", "deeplabv3-r101",
    "hrnetv2-w18-small-v1", "hrnetv2-w18-small-v2", "fc-hardnet-70", "segformer-b0", "segformer-b1",
    "segformer-b2", "segnext-t", "segnext-s", "segnext-b", "trans4pass-t", "trans4pass-s", "multiscale-attention",
]


def _nparams(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _meta_params(name: str, **kw) -> int:
    with torch.device("meta"):
        return _nparams(M.build_model(name, **kw))


def _main(out):
    return out[0] if isinstance(out, (list, tuple)) else out


# ----------------------------------------------------------------------------- registry


def test_every_zoo_model_is_registered_with_metadata():
    names = set(M.list_models())
    for n in ZOO:
        assert n in names, n
        info = M.model_info(n)
        assert info.family and info.paper and info.year and info.input_multiple >= 1, n


# ----------------------------------------------------------------------------- parameter counts

# (model, kwargs, paper/official figure, source); the figure is also the registry's reference_params
PAPER_COUNTS = [
    ("segformer-b0", {"num_classes": 150}, 3.8e6, "SegFormer paper Table 1 (ADE20K)"),
    ("segformer-b1", {"num_classes": 150}, 13.7e6, "SegFormer paper Table 1 (ADE20K)"),
    ("segformer-b2", {"num_classes": 150}, 27.5e6, "SegFormer paper Table 1 (ADE20K)"),
    ("segnext-t", {"num_classes": 150}, 4.3e6, "SegNeXt paper Table 4 (ADE20K)"),
    ("segnext-s", {"num_classes": 150}, 13.9e6, "SegNeXt paper Table 4 (ADE20K)"),
    ("segnext-b", {"num_classes": 150}, 27.6e6, "SegNeXt paper Table 4 (ADE20K)"),
    ("fc-hardnet-70", {"num_classes": 19}, 4.1e6, "PingoLH/FCHarDNet README (Cityscapes)"),
    ("hrnetv2-w18-small-v2", {"num_classes": 19}, 3.9e6, "HRNet-Semantic-Segmentation README"),
    ("linknet", {"num_classes": 2}, 11.5e6, "LinkNet paper Table 1"),
    ("unet3plus", {"num_classes": 1}, 26.97e6, "UNet 3+ paper Table 1"),
    ("unetplusplus", {"num_classes": 1}, 9.04e6, "UNet++ paper Table 3"),
]


@pytest.mark.parametrize("name,kw,ref,source", PAPER_COUNTS, ids=[c[0] for c in PAPER_COUNTS])
def test_param_count_matches_paper_within_2pct(name, kw, ref, source):
    n = _meta_params(name, **kw)
    assert abs(n - ref) / ref < 0.02, f"{name}: {n} vs {ref} ({source})"
    assert M.model_info(name).reference_params == int(ref)


def test_hrnet_w18_small_v1_count_rounds_to_readme_figure():
    # README: "1.5M" (one decimal). The exact layout of seg_hrnet_w18_small_v1 has 1.54M,
    # which rounds to the README figure; a 2% band around the rounded figure would not hold.
    n = _meta_params("hrnetv2-w18-small-v1", num_classes=19)
    assert round(n / 1e6, 1) == 1.5
    assert 1.45e6 <= n < 1.55e6


@pytest.mark.parametrize("name,kw,shape,ref_gmacs,source", [
    ("segformer-b0", {"num_classes": 150}, (1, 3, 512, 512), 8.4, "SegFormer paper Table 1 'GFLOPs' (MACs)"),
    ("fc-hardnet-70", {"num_classes": 19}, (1, 3, 1024, 2048), 35.4, "FCHarDNet README 'GMac'"),
])
def test_macs_match_published_figure(name, kw, shape, ref_gmacs, source):
    # Papers' "GFLOPs" are multiply-accumulates; segkit.bench counts FLOPs = 2 x MACs (on meta tensors).
    from segkit.bench import count_flops

    flops, _, _ = count_flops(M.build_model(name, **kw), shape)
    assert abs(flops / 2e9 - ref_gmacs) / ref_gmacs < 0.02, (name, flops / 2e9, source)


def _conv(cin, cout, k, bias=True):
    return cin * cout * k * k + (cout if bias else 0)


def test_pspnet_r50_matches_mmseg_pspnet_r50_d8_layout():
    # MMSeg pspnet_r50-d8: ResNetV1c-50 (3-conv stem 3-32-32-64) + PSPHead(2048, channels 512,
    # scales 1/2/3/6) + FCNHead(1024, 256), 19 classes. Counted from the config, layer by layer.
    import torchvision

    r50 = _nparams(torchvision.models.resnet50(weights=None)) - (2048 * 1000 + 1000) - (3 * 64 * 49 + 2 * 64)
    v1c_stem = _conv(3, 32, 3, False) + 64 + _conv(32, 32, 3, False) + 64 + _conv(32, 64, 3, False) + 128
    psp = 4 * (_conv(2048, 512, 1, False) + 1024) + _conv(4096, 512, 3, False) + 1024 + _conv(512, 19, 1)
    aux = _conv(1024, 256, 3, False) + 512 + _conv(256, 19, 1)
    ref = r50 + v1c_stem + psp + aux
    assert abs(ref - 48.98e6) < 0.01e6
    n = _meta_params("pspnet-r50", num_classes=19)
    assert abs(n - ref) / ref < 0.02
    assert abs(n - ref) == 19232  # only the stem differs (torchvision 7x7 vs V1c 3x3 x3)


def _mit_count(dims, depths, sr=(8, 4, 2, 1), mlp=4, dpe=True):
    total, cin = 0, 3
    for i, (d, n) in enumerate(zip(dims, depths)):
        k = 7 if i == 0 else 3
        total += _conv(cin, d, k) + 2 * d  # patch embed + LN
        if i == 0 and dpe:
            total += _conv(3, 2 * 49, 7) + _conv(3, 49, 7)  # DPE offsets + modulator
        h = mlp * d
        blk = 2 * d + (d * d + d) + (2 * d * d + 2 * d) + (d * d + d) + 2 * d  # LN, q, kv, proj, LN
        blk += (h * d + h) + (9 * h + h) + (h * d + d)  # fc1, dwconv, fc2
        if sr[i] > 1:
            blk += _conv(d, d, sr[i]) + 2 * d
        total += n * blk + 2 * d  # blocks + stage LN
        cin = d
    return total


def _dmlp_count(dims, e=128, k=19):
    total = 0
    for c in dims:
        total += _conv(c, e, 3) + _conv(c, 18, 3) + _conv(c, 9, 3) + 2 * e  # deformable proj + BN
        total += 2 * ((e * e + e) + 9 * e + 3 * e * e + 2 * e)  # h/w deformable MLPs (+ DW-separable offsets, BN)
        total += 2 * (e * e + e)  # c_mlp, proj
    return total + e * k + k


@pytest.mark.parametrize("name,depths", [("trans4pass-t", (2, 2, 2, 2)), ("trans4pass-s", (3, 4, 6, 3))])
def test_trans4pass_matches_official_code_layout(name, depths):
    ref = _mit_count((64, 128, 320, 512), depths) + _dmlp_count((64, 128, 320, 512))
    n = _meta_params(name, num_classes=19)
    assert n == ref
    assert abs(n - M.model_info(name).reference_params) / n < 0.01


def test_segformer_b0_encoder_matches_mit_formula():
    with torch.device("meta"):
        m = SegFormer(150, "b0")
    assert _nparams(m.backbone) == _mit_count((32, 64, 160, 256), (2, 2, 2, 2), dpe=False)


@pytest.mark.parametrize("name", ["segformer-b0", "segnext-t", "trans4pass-t"])
def test_hierarchical_encoders_share_one_skeleton(name):
    """MiT (SegFormer, Trans4PASS) and MSCAN (SegNeXt): four stages at strides 4-32, the same attribute names."""
    from segkit.models.hierarchical import HierarchicalEncoder

    enc = M.build_model(name, num_classes=3).backbone
    assert isinstance(enc, HierarchicalEncoder)
    assert len(enc.embeds) == len(enc.stages) == len(enc.norms) == len(enc.outputs) == 4
    with torch.no_grad():
        maps = enc.eval()(torch.rand(1, 3, 64, 64))
    assert [tuple(m.shape[1:]) for m in maps] == [(c, 64 // s, 64 // s) for c, s in zip(enc.channels, (4, 8, 16, 32))]


def test_segformer_checkpoints_from_before_the_shared_encoder_still_load():
    m = M.build_model("segformer-b0", num_classes=3)
    old = {k.replace("backbone.embeds.", "backbone.patch_embeds."): v for k, v in m.state_dict().items()}
    assert any(k.startswith("backbone.patch_embeds.") for k in old)
    fresh = M.build_model("segformer-b0", num_classes=3)
    fresh.load_state_dict(old)  # strict: every key matched
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), m.state_dict().values()))


# ----------------------------------------------------------------------------- forward / backward

REDUCED = {
    "unet": lambda: M.build_model("unet", num_classes=3, base_channels=8),
    "unet-bilinear": lambda: UNet(3, base_channels=8, upsample="bilinear"),
    "unetplusplus-ds": lambda: UNetPlusPlus(3, widths=(8, 16, 32, 64, 128), deep_supervision=True),
    "unet3plus-ds": lambda: UNet3Plus(3, widths=(8, 16, 32, 64, 128), cat_channels=8, deep_supervision=True),
    "pspnet-r18": lambda: PSPNet(3, encoder=ResNetEncoder(18), encoder_channels=[64, 128, 256, 512], channels=32),
    "hrnet-tiny": lambda: HRNet(3, HRNetConfig(stem_channels=8, widths=(8, 16, 32, 64))),
    "hardnet-tiny": lambda: FCHarDNet(3, ch_list=(16, 24, 32), growth_rates=(4, 6, 8), n_layers=(2, 2, 4)),
    "trans4pass-tiny": lambda: Trans4PASS(3, (1, 1, 1, 1), 16, embed_dims=(16, 32, 64, 128), num_heads=(1, 1, 2, 4)),
}


@pytest.mark.parametrize("name", list(REDUCED))
def test_reduced_model_forward_backward(name):
    torch.manual_seed(0)
    model = REDUCED[name]().train()
    forward_backward(model, (64, 64), batch=2)


def test_timm_encoder_plugs_into_linknet():
    timm = pytest.importorskip("timm")
    enc = timm.create_model("resnet18", features_only=True, out_indices=(1, 2, 3, 4), pretrained=False)
    m = LinkNet(3, encoder=enc, encoder_channels=enc.feature_info.channels()).eval()
    assert m(torch.randn(1, 3, 64, 64)).shape == (1, 3, 64, 64)


@pytest.mark.parametrize("model,size,padded", [
    (lambda: SegFormer(3), 50, 64),
    (lambda: UNet(3, base_channels=4), 70, 80),
    (lambda: FCHarDNet(3, ch_list=(16, 24, 32), growth_rates=(4, 6, 8), n_layers=(2, 2, 4)), 40, 48),
])
def test_odd_input_is_padded_and_the_output_cropped(model, size, padded):
    """The model runs on the zero-padded input and crops its logits back to the input's size."""
    torch.manual_seed(0)
    m = model().eval()
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        out = m(x)
        by_hand = m.forward_padded(F.pad(x, (0, padded - size, 0, padded - size)))[..., :size, :size]
    assert out.shape == (1, 3, size, size)
    torch.testing.assert_close(out, by_hand)


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::torch.jit.TracerWarning")
def test_size_check_does_not_break_tracing():
    m = M.build_model("hrnetv2-w18-small-v1", num_classes=3).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        traced = torch.jit.trace(m, x, check_trace=False)
        assert torch.allclose(traced(x), m(x), atol=1e-5)


def test_constructor_errors_name_the_argument():
    with pytest.raises(ValueError, match="upsample"):
        UNet(3, upsample="nearest")
    with pytest.raises(ValueError, match="output_stride"):
        M.build_model("pspnet-r50", output_stride=4)
    with pytest.raises(ValueError, match="variant"):
        SegFormer(3, variant="b9")
    with pytest.raises(ValueError, match="prune_level"):
        UNetPlusPlus(3, prune_level=2)


@pytest.mark.parametrize("name", ["linknet", "hrnetv2-w18-small-v1", "fc-hardnet-70", "segformer-b0", "segnext-t"])
def test_cam_layers_give_feature_maps(name):
    m = M.build_model(name, num_classes=3).eval()
    seen = {}
    for role, path in m.cam_layers.items():
        m.get_submodule(path).register_forward_hook(lambda mod, i, o, role=role: seen.setdefault(role, o))
    with torch.no_grad():
        m(torch.randn(1, 3, 64, 64))
    assert set(seen) == set(m.cam_layers)
    assert all(isinstance(o, torch.Tensor) and o.ndim == 4 for o in seen.values())  # what Grad-CAM needs


def test_cam_layers_resolve_for_heavy_models():
    for name in ["unet", "unet3plus", "pspnet-r50", "deeplabv3-r101", "segnext-b", "trans4pass-s"]:
        with torch.device("meta"):
            m = M.build_model(name)
        for path in m.cam_layers.values():
            m.get_submodule(path)
    m = Trans4PASS(3, (1, 1, 1, 1), 16, embed_dims=(16, 32, 64, 128), num_heads=(1, 1, 2, 4)).eval()
    seen = {}
    m.get_submodule(m.cam_layers["backbone"]).register_forward_hook(lambda mod, i, o: seen.setdefault("o", o))
    m(torch.randn(1, 3, 64, 64))
    assert seen["o"].shape == (1, 128, 2, 2)  # a (B, C, H, W) map Grad-CAM can use


# ----------------------------------------------------------------------------- known answers


def test_harmonic_links_known_answers():
    assert harmonic_links(1, 48, 10, 1.7) == (10, 48, [0])
    assert harmonic_links(2, 48, 10, 1.7) == (18, 58, [1, 0])  # 10*1.7 = 17 -> even 18
    assert harmonic_links(4, 48, 10, 1.7) == (28, 76, [3, 2, 0])  # 10*1.7^2 = 28.9 -> 28; 10+18+48
    blk = HarDBlock(48, 10, 1.7, 4)
    assert blk.out_channels == 10 + 10 + 28  # odd layers 1, 3 and the last layer 4
    assert blk(torch.randn(1, 48, 8, 8)).shape == (1, 48, 8, 8)


def test_efficient_attention_without_reduction_is_plain_mhsa():
    torch.manual_seed(0)
    att = EfficientSelfAttention(8, 2, sr_ratio=1).eval()
    x = torch.randn(1, 6, 8)
    q = att.q(x).view(1, 6, 2, 4).transpose(1, 2)
    k, v = att.kv(x).view(1, 6, 2, 2, 4).permute(2, 0, 3, 1, 4)
    w = torch.softmax(q @ k.transpose(-1, -2) / 2.0, -1)  # sqrt(head_dim 4) = 2
    ref = att.proj((w @ v).transpose(1, 2).reshape(1, 6, 8))
    assert torch.allclose(att(x, 2, 3), ref, atol=1e-5)
    red = EfficientSelfAttention(8, 2, sr_ratio=2)
    assert red(torch.randn(1, 16, 8), 4, 4).shape == (1, 16, 8)


def test_deformable_patch_embed_starts_as_plain_conv():
    torch.manual_seed(0)
    dpe = DeformablePatchEmbed(3, 16, 7, 4)
    x = torch.randn(2, 3, 32, 32)
    tokens, h, w = dpe(x)
    ref = F.conv2d(x, dpe.proj.weight, dpe.proj.bias, stride=4, padding=3)
    ref = dpe.norm(ref.flatten(2).transpose(1, 2))
    assert (h, w) == (8, 8) and torch.allclose(tokens, ref, atol=1e-4)
    with torch.no_grad():  # a non-zero offset changes the result
        dpe.offset_conv.bias.fill_(0.7)
    assert not torch.allclose(dpe(x)[0], ref, atol=1e-3)


def test_deformable_mlp_with_zero_offsets_is_a_1x1_conv():
    torch.manual_seed(0)
    mlp = DeformableMLP(8).eval()
    for conv in mlp.offset_modulator:
        nn.init.zeros_(conv.weight)  # offsets 0, mask 2*sigmoid(0) = 1
    x = torch.randn(2, 8, 5, 7)
    ref = mlp.act(mlp.norm(F.conv2d(x, mlp.weight, mlp.bias)))
    assert torch.allclose(mlp(x), ref, atol=1e-5)


def test_msca_keeps_shape_and_nmf_reconstructs_low_rank_maps():
    assert MSCA(8)(torch.randn(1, 8, 9, 13)).shape == (1, 8, 9, 13)
    torch.manual_seed(0)
    x = (torch.rand(2, 16, 3) @ torch.rand(2, 3, 64)).reshape(2, 16, 8, 8).requires_grad_()
    y = NMF2D(rank=4).eval()(x)
    assert y.shape == x.shape and (y >= 0).all()
    assert ((y - x).norm() / x.norm()).item() < 0.3  # a rank-3 map is recovered closely
    y.sum().backward()  # the one-step gradient reaches the input
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_multigrid_rates_in_deeplabv3():
    with torch.device("meta"):
        m = M.build_model("deeplabv3-r50")
    assert [b.conv2.dilation for b in m.backbone.encoder.layer4] == [(2, 2), (4, 4), (8, 8)]
    with torch.device("meta"):
        m8 = M.build_model("deeplabv3-r50", output_stride=8)
    assert [b.conv2.dilation[0] for b in m8.backbone.encoder.layer4] == [4, 8, 16]


def test_unetplusplus_pruned_inference_uses_first_head():
    torch.manual_seed(0)
    m = UNetPlusPlus(2, widths=(4, 8, 16, 32, 64), deep_supervision=True, prune_level=1).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        x00 = m.nodes["0_0"](x)
        x10 = m.nodes["1_0"](m.pool(x00))
        x01 = m.nodes["0_1"](torch.cat([x00, F.interpolate(x10, size=(32, 32), mode="bilinear")], 1))
        assert torch.allclose(m(x), m.heads[0](x01), atol=1e-5)


def test_unet3plus_classification_gate_zeroes_outputs():
    m = UNet3Plus(2, widths=(4, 8, 16, 32, 64), cat_channels=4, classification_guided=True).eval()
    with torch.no_grad():
        m.cls[1].weight.zero_()
        m.cls[1].bias.copy_(torch.tensor([1.0, -1.0]))  # "no target" wins
        out, prob = m.forward_with_cls(torch.randn(2, 3, 32, 32))
    assert prob.shape == (2, 2) and (out == 0).all()


def test_unet3plus_cgm_trains_through_its_bce_loss():
    # The CGM gate is an argmax (no gradient); its head learns from a BCE on the 2-vector.
    torch.manual_seed(0)
    m = UNet3Plus(3, widths=(8, 16, 32, 64, 128), cat_channels=8, deep_supervision=True,
                  classification_guided=True).train()
    outs, prob = m.forward_with_cls(torch.randn(2, 3, 64, 64))
    assert len(outs) == 5 and all(o.shape == (2, 3, 64, 64) for o in outs)
    present = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    (sum(o.pow(2).mean() for o in outs) + F.binary_cross_entropy(prob, present)).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())


class _Scale(nn.Module):
    """A fixed 1x1 conv: logits depend on the input, so scales differ."""

    num_classes = 2
    input_multiple = 8

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        return self.conv(x)


@pytest.mark.parametrize("bias,expect", [(-30.0, "large"), (30.0, "small")])
def test_multiscale_fusion_follows_attention(bias, expect):
    torch.manual_seed(0)
    m = HierarchicalMultiScale(_Scale(), infer_scales=(0.5, 1.0)).eval()
    with torch.no_grad():
        m.attention.net[-1].weight.zero_()
        m.attention.net[-1].bias.fill_(bias)  # alpha = sigmoid(bias): 0 keeps scale 1.0, 1 keeps 0.5
        x = torch.randn(1, 3, 32, 32)
        out = m(x)
        large = m.model(x)
        small = F.interpolate(m.model(F.interpolate(x, size=(16, 16), mode="bilinear")), size=(32, 32),
                              mode="bilinear")
    assert torch.allclose(out, large if expect == "large" else small, atol=1e-4)
    assert set(m.last_attention) == {0.5, 1.0}


# ----------------------------------------------------------------------------- MPA losses


def test_class_prototypes_known_answer_and_ignore():
    f = torch.tensor([[[[1.0, 3.0], [5.0, 7.0]], [[0.0, 2.0], [4.0, 6.0]]]])  # (1, 2, 2, 2)
    y = torch.tensor([[[0, 0], [1, 255]]])
    protos, counts = class_prototypes(f, y, num_classes=3)
    assert counts.tolist() == [2, 1, 0]
    assert torch.allclose(protos, torch.tensor([[2.0, 1.0], [5.0, 4.0], [0.0, 0.0]]))
    # labels at 4x4 are resized (nearest) to the 2x2 feature grid
    y4 = y.repeat_interleave(2, 1).repeat_interleave(2, 2)
    assert torch.allclose(class_prototypes(f, y4, 3)[0], protos)


def test_mpa_feature_loss_zero_at_prototype_and_grad_to_features_only():
    protos = torch.tensor([[1.0, 0.0, -1.0], [0.0, 2.0, 0.0]], requires_grad=True)
    y = torch.tensor([[[0, 1], [1, 255]]])
    f = protos.detach()[torch.tensor([[0, 1], [1, 0]])].permute(2, 0, 1)[None].clone().requires_grad_()
    assert mpa_feature_loss(f, y, protos).abs().item() < 1e-6
    g = torch.randn(1, 3, 2, 2, requires_grad=True)
    loss = mpa_feature_loss(g, y, protos)
    assert loss.item() > 0
    loss.backward()
    assert g.grad is not None and protos.grad is None
    ignored = mpa_feature_loss(g, torch.full((1, 2, 2), 255), protos)
    assert ignored.item() == 0.0


def test_prototype_memory_is_mutual_and_ema():
    mem = PrototypeMemory(num_classes=3, channels=2, momentum=0.5)
    src = (torch.ones(1, 2, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))  # class 0 -> (1, 1)
    tgt = (torch.full((1, 2, 2, 2), 3.0), torch.tensor([[[0, 0], [1, 1]]]))  # class 0 -> 3, class 1 -> 3
    mem.update([src, tgt])  # first sighting: the mean of both domains
    assert torch.allclose(mem.prototypes[0], torch.tensor([2.0, 2.0]))
    assert torch.allclose(mem.prototypes[1], torch.tensor([3.0, 3.0]))
    assert torch.allclose(mem.prototypes[2], torch.zeros(2)) and not mem.initialised[2]
    mem.update([src])  # EMA: 0.5 * 2 + 0.5 * 1
    assert torch.allclose(mem.prototypes[0], torch.tensor([1.5, 1.5]))
    assert torch.allclose(mem.prototypes[1], torch.tensor([3.0, 3.0]))  # absent: unchanged


def test_prototype_memory_accumulates_until_update_every():
    """The official cadence: batch prototypes are averaged for N updates, then one EMA step."""
    mem = PrototypeMemory(num_classes=2, channels=1, momentum=0.5, update_every=2)
    mem.initialise_mutual([[(torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 1, dtype=torch.long))]])  # class 0 -> 0
    batch = lambda v, c: (torch.full((1, 1, 1, 1), v), torch.full((1, 1, 1), c, dtype=torch.long))  # noqa: E731
    mem.update([batch(2.0, 0)])
    assert mem.prototypes[0].item() == 0.0 and int(mem.acc_calls) == 1  # accumulated, not applied
    mem.update([batch(6.0, 0), batch(10.0, 1)])
    # class 0: EMA towards mean(2, 6) = 4 -> 0.5 * 0 + 0.5 * 4; class 1: first sighting takes 10
    assert mem.prototypes.flatten().tolist() == [2.0, 10.0]
    assert mem.acc_count.sum().item() == 0  # the accumulator restarts
    restored = PrototypeMemory(2, 1, 0.5, update_every=2)
    restored.load_state_dict(mem.state_dict())  # the accumulation state is checkpointed too
    assert torch.equal(restored.prototypes, mem.prototypes) and int(restored.acc_calls) == 2


def test_prototype_memory_mutual_initialisation_averages_domains():
    """(source mean + target mean) / 2 per class, whatever the pixel counts; one-domain classes keep theirs."""
    src = (torch.tensor([[[[1.0, 1.0, 1.0, 5.0]]]]), torch.tensor([[[0, 0, 0, 1]]]))  # class 0: 1 (3 px), 1: 5
    tgt = (torch.tensor([[[[3.0, 255.0]]]]), torch.tensor([[[0, 255]]]))  # class 0: 3 (1 px); void skipped
    mem = PrototypeMemory(num_classes=3, channels=1)
    mem.initialise_mutual([[src], [tgt]])
    assert mem.prototypes.flatten().tolist() == [2.0, 5.0, 0.0]
    assert mem.initialised.tolist() == [True, True, False]


def test_trans4pass_features_feed_mpa():
    torch.manual_seed(0)
    m = Trans4PASS(3, (1, 1, 1, 1), 16, embed_dims=(16, 32, 64, 128), num_heads=(1, 1, 2, 4)).train()
    x, y = torch.randn(2, 3, 64, 64), torch.randint(0, 3, (2, 64, 64))
    logits, feats = m.forward_features(x)
    assert logits.shape == (2, 3, 64, 64) and [f.shape for f in feats] == [(2, 16, 16, 16)] * 4
    mem = PrototypeMemory(3, 16)
    mem.initialise([(sum(feats).detach(), y)])
    loss = F.cross_entropy(logits, y) + 1e-3 * mpa_feature_loss(sum(feats), y, mem.prototypes)
    loss.backward()
    assert torch.isfinite(loss)


# ----------------------------------------------------------------------------- tiny training per family

TRAIN = {
    "unet": lambda k: UNet(k, base_channels=8),
    "linknet": lambda k: LinkNet(k),
    "pspnet": lambda k: PSPNet(k, encoder=ResNetEncoder(18), encoder_channels=[64, 128, 256, 512], channels=32),
    "deeplabv3": lambda k: M.build_model("deeplabv3-r50", num_classes=k),
    "hrnet": lambda k: M.build_model("hrnetv2-w18-small-v1", num_classes=k),
    "hardnet": lambda k: FCHarDNet(k, ch_list=(16, 24, 32), growth_rates=(4, 6, 8), n_layers=(2, 2, 4)),
    "segformer": lambda k: M.build_model("segformer-b0", num_classes=k),
    "segnext": lambda k: M.build_model("segnext-t", num_classes=k),
    "trans4pass": lambda k: Trans4PASS(k, (1, 1, 1, 1), 32, embed_dims=(16, 32, 64, 128), num_heads=(1, 1, 2, 4)),
    "multiscale": lambda k: HierarchicalMultiScale(M.build_model("segformer-b0", num_classes=k)),
}


@pytest.fixture(scope="module")
def batch(synthetic_root):
    from segkit.data import VOCSegmentation

    ds = VOCSegmentation(synthetic_root, "train", input_shape=(64, 64))
    items = [ds[i] for i in range(4)]
    return torch.stack([a for a, _ in items]), torch.stack([b for _, b in items]), ds.num_classes


@pytest.mark.parametrize("family", list(TRAIN))
def test_tiny_training_reduces_loss(family, batch):
    torch.manual_seed(0)
    x, y, k = batch
    model = TRAIN[family](k).train()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(6):
        out = model(x)
        outs = out if isinstance(out, list) else [out]
        loss = sum(F.cross_entropy(o, y, ignore_index=255) for o in outs)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0], losses


# ----------------------------------------------------------------------------- `segkit zoo`


def test_zoo_cli_prints_table(capsys):
    from segkit.cli import main

    assert main(["zoo", "linknet", "hrnetv2-w18-small-v1", "--size", "64", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "linknet" in out and "hrnetv2-w18-small-v1" in out and "gflops" in out and "cpu_ms" in out
    assert "11.53" in out  # LinkNet params (M)
    assert main(["zoo", "--pattern", "no-such-model*", "--no-latency"]) == 1
    assert "no registered model matches" in capsys.readouterr().err


def test_zoo_table_filters_and_pads_size():
    from segkit.commands.zoo import zoo_table

    df = zoo_table(None, size=50, latency=False, families=["hardnet"])
    assert df["model"].tolist() == ["fc-hardnet-70"]
    assert df["input"].iloc[0] == "64x64" and df["gflops"].iloc[0] > 0 and "cpu_ms" not in df  # no timing asked
    with pytest.raises(ValueError, match="runs"):
        zoo_table(["linknet"], runs=0)


def test_zoo_rows_of_window_attention_heads_have_their_parameters_at_64px():
    """The notebook's zoo (profile_many, errors recorded) used to blank these rows at 64 px, where the
    4x4 stride-16 map did not tile into the heads' windows; the windows now pad and crop back."""
    from segkit.bench import profile_many

    names = ["deeplabv3plus-mobilenetv2-wa-aspp", "deeplabv3plus-mobilenetv2-wafa"]
    zoo = profile_many(names, (1, 3, 64, 64), device="cpu", errors="record", runs=1, warmup=0)
    assert "error" not in zoo or zoo["error"].isna().all()
    assert zoo["params total"].tolist() == [7_544_019, 7_546_579]
