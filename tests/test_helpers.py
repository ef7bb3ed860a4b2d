"""The shared helpers: one palette, device resolution, eval mode, KEY=VALUE parsing, parameter counting."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from segkit._utils import count_params, eval_mode, parse_key_values, resolve_device
from segkit.data.palette import class_colors, colorize_mask, mask_palette, voc_palette


# ----------------------------------------------------------------------------- palette
def test_every_mask_coloriser_is_the_one_palette_function():
    import segkit.cam
    import segkit.data
    import segkit.engine
    import segkit.report

    assert segkit.cam.colorize_mask is segkit.data.colorize_mask is segkit.engine.colorize
    assert segkit.report.colorize_mask is colorize_mask


def test_colorize_mask_known_answer():
    mask = np.array([[0, 1], [2, 255]])
    out = colorize_mask(mask)
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)
    assert out[0, 0].tolist() == [0, 0, 0] and out[0, 1].tolist() == [128, 0, 0] and out[1, 0].tolist() == [0, 128, 0]
    assert out[1, 1].tolist() == [255, 255, 255]  # ignore is white
    own = colorize_mask(mask, [(10, 20, 30), (40, 50, 60), (70, 80, 90)])
    assert own[0, 1].tolist() == [40, 50, 60] and own[1, 1].tolist() == [255, 255, 255]
    with pytest.raises(ValueError, match="mask value 3 has no colour; the palette has 3 entries"):
        colorize_mask(np.array([[3]]), [(0, 0, 0)] * 3)
    with pytest.raises(ValueError, match=r"palette must be \(n, 3\)"):
        colorize_mask(mask, [[1, 2, 3, 4]])


def test_dataset_palette_gives_each_class_its_own_colour(synthetic_root):
    from segkit.data import WIREROPE_PALETTE

    pal = mask_palette(synthetic_root)
    assert pal.shape == (256, 3)
    assert [tuple(c) for c in pal[:3]] == list(WIREROPE_PALETTE)  # the masks' own colours, not VOC's
    assert class_colors(3, pal) == list(WIREROPE_PALETTE)
    assert len(set(class_colors(3, pal))) == 3


def test_greyscale_masks_fall_back_to_voc(tmp_path, synthetic_root):
    import shutil

    from PIL import Image

    root = tmp_path / "grey"
    shutil.copytree(synthetic_root, root)
    for p in (root / "SegmentationClass").glob("*.png"):
        Image.fromarray(np.asarray(Image.open(p))).convert("L").save(p)
    assert np.array_equal(mask_palette(root), voc_palette())


# ----------------------------------------------------------------------------- devices
def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto").type in ("cpu", "mps")
        with pytest.raises(ValueError, match="CUDA is not available; use device='auto' or 'cpu'"):
            resolve_device("cuda")
    else:
        assert resolve_device("cuda") == torch.device("cuda", 0)


# ----------------------------------------------------------------------------- eval mode
class _PartlyFrozen(nn.Module):
    """A training model whose BatchNorm was frozen (eval mode), as fine-tuning with frozen BN does."""

    def __init__(self) -> None:
        super().__init__()
        self.num_classes = 2
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Conv2d(4, 2, 1)
        self.train()
        self.bn.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.bn(self.conv(x))))


def _flags(m: nn.Module) -> dict[str, bool]:
    return {n: s.training for n, s in m.named_modules()}


def test_eval_mode_restores_each_modules_own_flag_and_grad_mode():
    m = _PartlyFrozen()
    before = _flags(m)
    assert before[""] and not before["bn"]
    with eval_mode(m):
        assert not any(_flags(m).values()) and not torch.is_grad_enabled()
    assert _flags(m) == before and torch.is_grad_enabled()
    with eval_mode(m, no_grad=False):
        assert not m.training and torch.is_grad_enabled()
    assert _flags(m) == before
    with pytest.raises(RuntimeError), eval_mode(m):
        raise RuntimeError("restored on errors too")
    assert _flags(m) == before


@pytest.mark.parametrize("use", ["profile", "gradcam", "capture_attention", "inspect"])
def test_callers_keep_a_frozen_batchnorm_frozen(use):
    from segkit import bench, cam, stitch

    m = _PartlyFrozen()
    before = _flags(m)
    x = torch.rand(1, 3, 16, 16)
    if use == "profile":
        bench.profile(m, (1, 3, 16, 16), runs=1, warmup=0, flops=False)
    elif use == "gradcam":
        cam.gradcam(m, x[0], [1], layer="conv")
    elif use == "capture_attention":
        cam.capture_attention(m, x)
    else:
        stitch.inspect(m, (1, 3, 16, 16))
    assert _flags(m) == before and torch.is_grad_enabled()


# ----------------------------------------------------------------------------- KEY=VALUE, parameters
def test_parse_key_values():
    assert parse_key_values(["input_shape=[96,96]", " lr = 0.5", "name=a=b", "flag="]) == {
        "input_shape": [96, 96], "lr": 0.5, "name": "a=b", "flag": None}
    assert parse_key_values(None) == {}
    with pytest.raises(ValueError, match=r"--arg 'num_classes' must look like KEY=VALUE, e.g. --arg num_classes=3"):
        parse_key_values(["num_classes"], "--arg", "num_classes=3")
    with pytest.raises(ValueError, match=r"--set '=3' must look like KEY=VALUE"):
        parse_key_values(["=3"])
    with pytest.raises(ValueError, match=r"--set 'a=\[1, 2': .*close its brackets"):
        parse_key_values(["a=[1, 2"])


def test_count_params_counts_shared_weights_once_and_frozen_ones_on_request():
    shared = nn.Linear(3, 4)  # 16 parameters
    m = nn.Sequential(shared, nn.ReLU(), shared, nn.Linear(4, 2))  # + 10
    m[3].weight.requires_grad_(False)  # 8 frozen
    assert count_params(m, trainable_only=False) == 26
    assert count_params(m) == 18
    from segkit import bench

    r = bench.profile(_PartlyFrozen(), (1, 3, 8, 8), timing=False, flops=False)
    assert r.params_total == count_params(_PartlyFrozen(), trainable_only=False) == 3 * 4 * 9 + 4 + 8 + 4 * 2 + 2
