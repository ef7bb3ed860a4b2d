"""One tester for every registered model: forward and backward at 64x64 and at a VOC image's
500x375 (inputs that are not multiples of the model's ``input_multiple`` are padded and the
output cropped back), the output at the input's size, and the one input-check error.

Batch 1 in training mode with BatchNorm in eval mode: dropout, deep supervision and auxiliary
heads run as in training (so every parameter must get a gradient), while BatchNorm uses its
running statistics (a batch-1 pooled map has one value per channel). The models whose
500x375 pass took over 3 s on the CI's CPU run a small odd size (75x100) instead.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from segkit.models import build_model, list_models
from segkit.models._base import InputShapeError, SegmentationModel

NAMES = list_models()
VOC = (375, 500)  # H, W of a typical VOC image
SMALL_ODD = (75, 100)
# 500x375 forward + backward measured over 3 s on a 2-core CI CPU (see the commit adding this list).
SLOW_AT_VOC = {
    "deeplabv3plus-xception", "deeplabv3-xception", "deeplabv3-r101", "deeplabv3-r50", "pspnet-r50", "unet",
    "unet3plus", "deeplabv3plus-vgg16", "deeplabv3plus-resnet50", "deeplabv3plus-convnext", "deeplabv3plus-swinv2",
    "segnext-b", "segformer-b2", "trans4pass-s",
}


def _build(name: str) -> nn.Module:
    torch.manual_seed(0)
    model = build_model(name, num_classes=3).train()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    return model


def _forward_backward(model: nn.Module, size: tuple[int, int]) -> None:
    out = model(torch.randn(1, 3, *size))
    outs = out if isinstance(out, (list, tuple)) else [out]
    for o in outs:
        assert tuple(o.shape) == (1, 3, *size), f"output {tuple(o.shape)} for input {size}"
    sum(o.float().pow(2).mean() for o in outs).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:5]}"
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients: {bad[:5]}"


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_at_64_and_the_input_check(name):
    model = _build(name)
    assert isinstance(model, SegmentationModel) and model.num_classes == 3
    for path in model.cam_layers.values():
        model.get_submodule(path)
    _forward_backward(model, (64, 64))
    with pytest.raises(InputShapeError, match=r"expects input \(B, 3, H, W\).*got \(1, 4, 64, 64\) \(4 channels\)"):
        model(torch.randn(1, 4, 64, 64))


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_at_an_odd_size(name):
    model = _build(name)
    size = SMALL_ODD if name in SLOW_AT_VOC else VOC
    assert size[0] % model.input_multiple or size[1] % model.input_multiple  # the padded path is taken
    _forward_backward(model, size)


def test_slow_list_names_registered_models():
    assert SLOW_AT_VOC <= set(NAMES)
