"""The paper's DeepLab family: exact parameter counts (see docs/models.md),
batch-1 training, tracing, pretrained loading and errors."""
from __future__ import annotations

import warnings

import pytest
import torch

from segkit._utils import count_params
from segkit.models import build_model, model_info
from segkit.models._weights import load_weights, weights_init
from segkit.models.deeplab import PRESETS

EXACT = sorted((n, p["params"]) for n, p in PRESETS.items() if p["params"] is not None)


def _size(name: str) -> int:
    return max(64, model_info(name).input_multiple)


def test_issue_acceptance_counts_are_registered():
    need = {"deeplabv3plus-mobilenetv2": 5_813_523, "deeplabv3plus-xception": 54_708_931,
            "improved-mobilenetv2": 5_842_770, "deeplabv3plus-mobilenetv2-wa-aspp": 7_544_019,
            "deeplabv3plus-mobilenetv2-wa-aspp-mvit": 11_132_491,
            "deeplabv3plus-mobilenetv2-ag-aspp-mvit": 11_143_411,
            "deeplabv3plus-mobilenetv2-msa-aspp": 12_579_075, "sff-wadeeplab": 12_616_548}
    for name, params in need.items():
        assert model_info(name).reference_params == params


@pytest.mark.parametrize("name,params", EXACT)
def test_exact_param_count(name, params):
    assert count_params(build_model(name, num_classes=3, downsample_factor=16)) == params


def test_generic_builders_and_cam_layers():
    m = build_model("deeplabv3plus", backbone="mobilenetv2", aspp="msa_aspp", fusion="sff1", attn="ggca",
                    num_classes=5, aspp_dim=64, shortcut_channels=16, head_channels=32)
    assert m.low_level_channels == 32 and m.shortcut_conv[0].in_channels == 32  # the notes' 24-vs-32 crash
    assert m(torch.randn(1, 3, 64, 64)).shape == (1, 5, 64, 64)
    assert m.cam_layers == {"backbone": "backbone.features.17", "neck": "aspp", "decoder": "cat_conv",
                            "fusion": "fusion"}
    v3 = build_model("deeplabv3", num_classes=2, downsample_factor=8).eval()
    assert v3(torch.randn(1, 3, 64, 64)).shape == (1, 2, 64, 64)


def test_align_corners_per_family():
    assert build_model("deeplabv3plus-mobilenetv2").align_corners is True
    assert build_model("deeplabv3plus-mobilenetv2-wa-aspp", aspp_dim=32).align_corners is True
    assert build_model("sff-wadeeplab").align_corners is False
    assert build_model("sff-wadeeplab", align_corners=True).align_corners is True


def test_width_mult_and_strides():
    m = build_model("deeplabv3plus", fusion="sff2", backbone_kwargs={"width_mult": 0.5}, num_classes=2)
    assert m.backbone.low_channels == 12 and m.fusion.in_channels == (12, 16)
    assert m(torch.randn(2, 3, 64, 64)).shape == (2, 2, 64, 64)
    assert [m.backbone.stride_at(t) for t in (1, 2, 4, 7, 14, 18)] == [2, 2, 4, 8, 16, 16]


def test_output_stride_8():
    m = build_model("improved-mobilenetv2", downsample_factor=8).eval()
    low, deep = m.backbone(torch.randn(1, 3, 64, 64))
    assert low.shape == (1, 24, 16, 16) and deep.shape == (1, 320, 8, 8)
    assert m.aspp.branch2[0].dilation == (12, 12)


def test_batch1_training():
    m = build_model("sff-wadeeplab").train()  # GroupNorm pooling branch: batch 1 trains
    m(torch.randn(1, 3, 64, 64)).mean().backward()
    base = build_model("deeplabv3plus-mobilenetv2").train()
    with pytest.raises(ValueError, match="use_groupnorm=True"):
        base(torch.randn(1, 3, 64, 64))


@pytest.mark.parametrize("name", ["deeplabv3plus-mobilenetv2", "improved-mobilenetv2", "sff-wadeeplab"])
def test_trace_and_export_without_tracer_warnings(name):
    m = build_model(name).eval()
    x = torch.randn(1, 3, 64, 64)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        traced = torch.jit.trace(m, x)
    assert not [w for w in rec if issubclass(w.category, torch.jit.TracerWarning)]
    torch.testing.assert_close(traced(x), m(x))
    if name == "sff-wadeeplab":
        ep = torch.export.export(m, (x,))
        torch.testing.assert_close(ep.module()(x), m(x))


def test_errors_list_options():
    with pytest.raises(ValueError, match="wa_aspp"):
        build_model("deeplabv3plus", aspp="wa-asp")
    with pytest.raises(ValueError, match="downsample_factor"):
        build_model("deeplabv3plus-mobilenetv2", downsample_factor=32)
    with pytest.raises(ValueError, match="sff1"):
        build_model("deeplabv3plus", fusion="sff9")
    with pytest.raises(TypeError, match="accepts"):
        build_model("deeplabv3plus-mobilenetv2", num_clases=3)
    with pytest.raises(KeyError, match="improved-mobilenetv2"):
        build_model("improved-mobilenet")


def test_pretrained_backbone_file_and_reference_ggca_layout(tmp_path):
    torch.manual_seed(0)
    plain = build_model("deeplabv3plus-mobilenetv2")
    # an ImageNet-style backbone file: keys "features.N...." plus a classifier the model lacks
    bb = {k[len("backbone."):]: v for k, v in plain.state_dict().items() if k.startswith("backbone.")}
    bb["classifier.1.weight"] = torch.zeros(10, 1280)
    torch.save(bb, tmp_path / "mbv2.pth")
    m = build_model("improved-mobilenetv2", pretrained=str(tmp_path / "mbv2.pth"))
    torch.testing.assert_close(m.backbone.features[12].conv[6].weight, plain.backbone.features[12].conv[6].weight)
    # the reference MobileNetV2_GGCA inserted GGCA inside block.conv (shifting later indices)
    src = build_model("improved-mobilenetv2")
    ref_sd = {}
    for k, v in src.state_dict().items():
        parts = k.split(".")
        if len(parts) > 4 and parts[1] == "features" and int(parts[2]) in src.backbone.attn_blocks:
            blk = src.backbone.features[int(parts[2])]
            if parts[3] == "attn":
                k = ".".join(parts[:3] + ["conv", str(blk.attn_index)] + parts[4:])
            elif parts[3] == "conv" and int(parts[4]) >= blk.attn_index:
                k = ".".join(parts[:4] + [str(int(parts[4]) + 1)] + parts[5:])
        ref_sd[k] = v
    assert "backbone.features.11.conv.6.conv1.weight" in ref_sd
    dst = build_model("improved-mobilenetv2")
    report = load_weights(dst, {"state_dict": ref_sd}["state_dict"], verbose=False)
    assert not report.skipped and not report.unexpected and not report.missing
    for (k, a), b in zip(src.state_dict().items(), dst.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)


def test_weights_init_reference_rule(capsys):
    torch.manual_seed(0)
    m = weights_init(build_model("deeplabv3plus-mobilenetv2"))
    assert "initialize network with normal type" in capsys.readouterr().out
    w = m.aspp.branch2[0].weight
    assert abs(w.std().item() - 0.02) < 0.001
    bn = m.cat_conv[1]
    assert abs(bn.weight.mean().item() - 1) < 0.01 and bn.bias.abs().max() == 0
    with pytest.raises(ValueError, match="init_type"):
        weights_init(m, "uniform")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["deeplabv3plus-resnet50", "deeplabv3plus-swinv2", "deeplabv3plus-vgg16",
                                  "deeplabv3plus-convnext"])
def test_heavy_timm_presets_forward(name):
    m = build_model(name, num_classes=3).eval()
    with torch.no_grad():
        assert m(torch.randn(1, 3, 64, 64)).shape == (1, 3, 64, 64)
    assert m.backbone.low_stride == 4


GN_POOL = {"wa_aspp_mvit", "lite_mvit_aspp", "wa_aspp_v2", "msa_aspp"}


@pytest.mark.parametrize("name", sorted(n for n, p in PRESETS.items() if "xception" not in n))
def test_batch1_train_works_or_names_the_fix(name):
    """GroupNorm pooling branches (MViT/MSA family) train at batch 1; BatchNorm ones raise with the fix."""
    m = build_model(name).train()
    x = torch.randn(1, 3, _size(name), _size(name))
    if PRESETS[name]["cfg"].get("aspp", "aspp") in GN_POOL and "use_groupnorm" not in str(PRESETS[name]["cfg"]):
        assert m(x).shape == (1, 3, *x.shape[-2:])
    else:
        with pytest.raises(ValueError, match="use_groupnorm=True"):
            m(x)
