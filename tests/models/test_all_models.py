"""One tester for every registered model: forward and backward at 64x64 and at a VOC image's
500x375 (inputs that are not multiples of the model's ``input_multiple`` are padded and the
output cropped back), the output at the input's size, and the one input-check error.

Batch 1 in training mode with BatchNorm in eval mode: dropout, deep supervision and auxiliary
heads run as in training (so every parameter must get a gradient), while BatchNorm uses its
running statistics (a batch-1 pooled map has one value per channel). The models whose
500x375 pass took over 3 s of CPU time run a small odd size (75x100) instead.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from segkit.models import build_model, list_models, model_info
from segkit.models._base import InputShapeError, SegmentationModel

from model_checks import forward_backward

NAMES = list_models()
VOC = (375, 500)  # H, W of a typical VOC image
SMALL_ODD = (75, 100)
# Forward + backward at 500x375, batch 1, one thread: over 3 s of CPU time (measured on the
# 2-core development machine, 2026-12; the DeepLabV3+ MobileNetV2 baseline took 2.8 s, PSPNet-R50 19 s,
# UNet 19 s). UNet++ and UNet 3+ were not timed: 207 and 1188 forward GFLOPs there, against
# UNet's 289.
SLOW_AT_VOC = {
    "deeplabv3-r101", "deeplabv3-r50", "deeplabv3-xception", "deeplabv3plus-convnext", "deeplabv3plus-efficientnet",
    "deeplabv3plus-mobilenetv2-ggca-all", "deeplabv3plus-mobilenetv2-msa-aspp",
    "deeplabv3plus-mobilenetv2-sff1-msa-aspp", "deeplabv3plus-mobilenetv2-sff2",
    "deeplabv3plus-mobilenetv2-sff2-msa-aspp", "deeplabv3plus-mobilenetv2-sff4", "deeplabv3plus-mobilenetv2-wa-aspp",
    "deeplabv3plus-mobilenetv2-wa-aspp-v2", "deeplabv3plus-mobilenetv2-wafa", "deeplabv3plus-mobilenetv4",
    "deeplabv3plus-mobilevit", "deeplabv3plus-resnet50", "deeplabv3plus-swinv2", "deeplabv3plus-vgg16",
    "deeplabv3plus-xception", "improved-mobilenetv2-msa-aspp", "pspnet-r50", "segformer-b2", "segnext-b",
    "segnext-s", "sff-wadeeplab", "trans4pass-s", "trans4pass-t", "unet", "unetplusplus", "unet3plus",
}


def _build(name: str) -> nn.Module:
    torch.manual_seed(0)
    model = build_model(name, num_classes=3).train()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    return model


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_at_64_and_the_input_check(name):
    model = _build(name)
    assert isinstance(model, SegmentationModel) and model.num_classes == 3
    assert model.input_multiple == model_info(name).input_multiple  # the registry's table says the same
    for path in model.cam_layers.values():
        model.get_submodule(path)
    forward_backward(model, (64, 64))
    with pytest.raises(InputShapeError, match=r"expects input \(B, 3, H, W\).*got \(1, 4, 64, 64\) \(4 channels\)"):
        model(torch.randn(1, 4, 64, 64))


# Under bf16 autocast a CPU without native bf16 (AVX2 only) runs reference kernels: UNet 3+ took 75 s
# at 64x64 there (13 s at 32x32, its input multiple being 16); the ops are the same at any size.
BF16_SMALL = {"unet3plus"}


@pytest.mark.parametrize("name", NAMES)
def test_forward_under_bf16_autocast(name):
    """`precision: auto` trains in bf16 autocast on CPUs with native bf16: every op must accept it
    (torchvision's deform_conv2d has no bf16 CPU kernel; Trans4PASS runs it in fp32)."""
    model = _build(name)
    side = 32 if name in BF16_SMALL else 64
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(1, 3, side, side))
    out = out[0] if isinstance(out, (list, tuple)) else out
    assert out.shape[-2:] == (side, side) and torch.isfinite(out.float()).all()


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_at_an_odd_size(name):
    model = _build(name)
    size = SMALL_ODD if name in SLOW_AT_VOC else VOC
    assert size[0] % model.input_multiple or size[1] % model.input_multiple  # the padded path is taken
    forward_backward(model, size)


def test_slow_list_names_registered_models():
    assert SLOW_AT_VOC <= set(NAMES)


class _Tiny(SegmentationModel):
    """A 1x1 conv that needs sides in multiples of 8 and at least 4 pixels, returning the logits and a
    1/4-size feature map: pixels never mix, so the padded run must equal the plain conv exactly."""

    def __init__(self) -> None:
        super().__init__(num_classes=2, input_multiple=8, min_input_size=4)
        self.conv = nn.Conv2d(3, 2, 1)

    def forward_padded(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert x.shape[-2] % 8 == 0 and x.shape[-1] % 8 == 0
        y = self.conv(x)
        return y, y[..., ::4, ::4]


def test_padding_and_cropping_known_answer():
    torch.manual_seed(0)
    m = _Tiny()
    x = torch.randn(1, 3, 13, 21)
    logits, quarter = m(x)
    torch.testing.assert_close(logits, m.conv(x))
    assert quarter.shape == (1, 2, 4, 6)  # ceil(13 / 4), ceil(21 / 4) of the 16x24 padded run


@pytest.mark.parametrize("shape,problem", [((3, 16, 16), "3-D"), ((1, 1, 16, 16), "1 channels"),
                                           ((1, 3, 3, 16), "too small")])
def test_inputs_no_padding_serves_raise_one_error(shape, problem):
    with pytest.raises(InputShapeError, match=rf"_Tiny expects input \(B, 3, H, W\) with H, W >= 4; got .*{problem}"):
        _Tiny()(torch.randn(*shape))
