"""One tester for every registered model: forward and backward at 64x64 and at an odd size
(inputs that are not multiples of the model's ``input_multiple`` are padded and the output
cropped back), the output at the input's size, bf16 autocast, the one input-check error, and a
`segkit bench` profile.

Batch 1 in training mode with BatchNorm in eval mode: dropout, deep supervision and auxiliary
heads run as in training (so every parameter must get a gradient), while BatchNorm uses its
running statistics (a batch-1 pooled map has one value per channel). Each model is built once
for its four tests (a module-scoped fixture; the tests change no weight and clear the gradients).
The odd size is 37x50 (padded to 64x64 for a multiple of 32, 48x64 for 16): the padded path is the
same at any size, 75x100 took 21 s for all models and 37x50 12 s, and a VOC image's 500x375 cost up
to 19 s a model on the 2-core machine; the paper's two models also run at 500x375, the size of a
typical photograph in a VOC-layout dataset.
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
SMALL_ODD = (37, 50)
AT_VOC = {"deeplabv3plus-mobilenetv2", "sff-wadeeplab"}  # the paper's baseline and full model


@pytest.fixture(scope="module", params=NAMES)
def model(request) -> nn.Module:
    torch.manual_seed(0)
    m = build_model(request.param, num_classes=3).train()
    for mod in m.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            mod.eval()
    return m


@pytest.fixture
def fresh(model) -> nn.Module:
    """The module's model with no gradient left from the test before."""
    model.zero_grad(set_to_none=True)
    return model


def test_forward_backward_at_64_and_the_input_check(request, fresh):
    name = request.node.callspec.params["model"]
    assert isinstance(fresh, SegmentationModel) and fresh.num_classes == 3
    assert fresh.input_multiple == model_info(name).input_multiple  # the registry's table says the same
    for path in fresh.cam_layers.values():
        fresh.get_submodule(path)
    forward_backward(fresh, (64, 64))
    with pytest.raises(InputShapeError, match=r"expects input \(B, 3, H, W\).*got \(1, 4, 64, 64\) \(4 channels\)"):
        fresh(torch.randn(1, 4, 64, 64))


# Under bf16 autocast a CPU without native bf16 (AVX2 only) runs reference kernels: UNet 3+ took 75 s
# at 64x64 there (8 s at 32x32); the ops are the same at any size, so every model runs the smallest
# square its input multiple allows (at least 32), UNet 3+ 16x16 (its multiple).
BF16_SIDE = {"unet3plus": 16}


def test_forward_under_bf16_autocast(request, fresh):
    """`precision: auto` trains in bf16 autocast on CPUs with native bf16: every op must accept it
    (torchvision's deform_conv2d has no bf16 CPU kernel; Trans4PASS runs it in fp32)."""
    name = request.node.callspec.params["model"]
    side = BF16_SIDE.get(name, max(32, fresh.input_multiple))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = fresh(torch.randn(1, 3, side, side))
    out = out[0] if isinstance(out, (list, tuple)) else out
    assert out.shape[-2:] == (side, side) and torch.isfinite(out.float()).all()


def test_forward_backward_at_an_odd_size(request, fresh):
    size = VOC if request.node.callspec.params["model"] in AT_VOC else SMALL_ODD
    assert size[0] % fresh.input_multiple or size[1] % fresh.input_multiple  # the padded path is taken
    forward_backward(fresh, size)


def test_profile(request, fresh):
    """`segkit bench` profiles every registered model (parameters, FLOPs, one timed pass)."""
    from segkit import bench

    name = request.node.callspec.params["model"]
    size = max(64, model_info(name).input_multiple)  # any other size works too: models pad to their multiple
    r = bench.profile(fresh, (1, 3, size, size), runs=1, warmup=0, name=name, timing=True)
    assert r.params_trainable == sum(p.numel() for p in fresh.parameters() if p.requires_grad)
    assert r.flops > 0 and r.input_shape == (1, 3, size, size)
    assert r.latency is None or r.fps > 0


def test_voc_list_names_registered_models():
    assert AT_VOC <= set(NAMES)


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
