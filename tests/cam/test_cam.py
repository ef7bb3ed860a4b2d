"""segkit.cam: Grad-CAM for segmentation and attention-map capture."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn

from segkit import cam


class TinyFCN(nn.Module):
    """Dilated conv-BN-ReLU(inplace) x3 at full resolution + 1x1 classifier."""

    def __init__(self, num_classes: int = 3, width: int = 16) -> None:
        super().__init__()
        self.num_classes = num_classes

        def block(cin: int, cout: int, d: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=d, dilation=d, bias=False), nn.BatchNorm2d(cout),
                                 nn.ReLU(inplace=True))

        self.features = nn.Sequential(block(3, width, 1), block(width, width, 2), block(width, width, 4))
        self.cls = nn.Conv2d(width, num_classes, 1)
        self.cam_layers = {"decoder": "features"}

    def forward(self, x):
        return self.cls(self.features(x))


@pytest.fixture(scope="module")
def trained(synthetic_root):
    """TinyFCN trained for 60 Adam steps on the synthetic wire-rope train split (64x64)."""
    from segkit.data import VOCSegmentation

    torch.manual_seed(0)
    train = VOCSegmentation(synthetic_root, split="train", input_shape=(64, 64))
    samples = [train[i] for i in range(len(train))]
    if len(train) == 0:
        pytest.skip("empty synthetic train split")
    x = torch.stack([s[0] for s in samples])
    y = torch.stack([s[1] for s in samples])
    model = TinyFCN()
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    weight = torch.tensor([1.0, 10.0, 10.0])  # the damage classes cover ~1 % of the pixels
    for _ in range(60):
        idx = torch.randint(0, len(x), (8,))
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx], weight=weight, ignore_index=255)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), samples


# ----------------------------------------------------------------------------- grad-cam glue


def test_segmentation_target_and_output_wrapper():
    out = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4)  # (K, H, W)
    mask = np.zeros((3, 4), bool)
    mask[1, 2] = mask[2, 3] = True
    assert cam.SegmentationTarget(1, mask)(out).item() == out[1, 1, 2] + out[1, 2, 3]
    assert cam.SegmentationTarget(0)(out).item() == out[0].sum()

    class ListOut(nn.Module):
        def forward(self, x):
            return [x * 2, x]

    class DictOut(nn.Module):
        def forward(self, x):
            return {"out": x + 1, "aux": x}

    x = torch.rand(1, 3, 4, 4)
    torch.testing.assert_close(cam.SegmentationOutput(ListOut())(x), x * 2)
    torch.testing.assert_close(cam.SegmentationOutput(DictOut())(x), x + 1)


def test_cam_concentrates_on_the_class_pixels(trained):
    model, samples = trained
    for method in ("gradcam", "hirescam", "gradcam++"):
        inside, outside = [], []
        for x, y in samples:
            y = y.numpy()
            for c in (1, 2):
                if not (y == c).any():
                    continue
                r = cam.gradcam(model, x, c, label_map=y, method=method)
                h = r.heatmaps[0]
                assert h.shape == tuple(x.shape[-2:]) and h.dtype == np.float32
                assert 0.0 <= h.min() and h.max() <= 1.0
                assert r.target_pixels == [int((y == c).sum())]
                inside.append(h[y == c].mean())
                outside.append(h[y != c].mean())
        assert len(inside) >= 5
        # measured: the mean CAM inside the class mask is far above the mean outside it
        assert np.mean(inside) > 2 * np.mean(outside), (method, np.mean(inside), np.mean(outside))
        assert np.mean(np.array(inside) > np.array(outside)) >= 0.6, method


def test_gradcam_under_bf16_autocast_matches_fp32(trained):
    """precision="bf16": forward/backward in bf16, the layer's activations and gradients cast
    to fp32 for grad-cam (NumPy has no bfloat16); the maps stay close to the fp32 ones."""
    model, samples = trained
    n = 0
    for x, y in samples[:6]:
        y = y.numpy()
        for c in (1, 2):
            if not (y == c).any():
                continue
            ref = cam.gradcam(model, x, c, label_map=y, method="hirescam").heatmaps[0]
            low = cam.gradcam(model, x, c, label_map=y, method="hirescam", precision="bf16", channels_last=True)
            assert low.heatmaps.dtype == np.float32
            assert np.corrcoef(ref.ravel(), low.heatmaps[0].ravel())[0, 1] > 0.999  # measured: > 0.99997
            assert np.abs(ref - low.heatmaps[0]).max() < 0.05  # measured: < 0.011
            n += 1
    assert n >= 2
    assert model.features[0][0].weight.is_contiguous()  # channels_last was undone
    with pytest.raises(ValueError, match="precision='half'"):
        cam.gradcam(model, samples[0][0], 1, precision="half")


def test_every_method_and_the_default_targets(trained):
    model, samples = trained
    x, y = samples[0]
    for method in cam.CAM_METHODS:
        r = cam.gradcam(model, x, [0, 1, 2], method=method, class_names=["bg", "corrosion", "wire"])
        assert r.heatmaps.shape == (3, 64, 64) and r.method == method
        assert r.heatmaps.min() >= 0 and r.heatmaps.max() <= 1
        # default target region: the pixels predicted as each class
        for c, n in zip(r.classes, r.target_pixels):
            assert n == int((r.prediction == c).sum())
        assert [o.shape for o in r.overlays()] == [(64, 64, 3)] * 3 and r.overlays()[0].dtype == np.uint8
    assert r.layer == "features" and r.name(1) == "corrosion"
    r = cam.gradcam(model, x)  # classes=None: every predicted class
    assert r.classes == sorted(np.unique(r.prediction).tolist())
    # numpy uint8 input gives the same maps as the tensor
    img = (x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    r2 = cam.gradcam(model, img, 0, method="hirescam")
    np.testing.assert_allclose(r2.heatmaps[0], cam.gradcam(model, img.astype(np.float32) / 255, 0,
                                                           method="hirescam").heatmaps[0], atol=1e-5)


def test_inplace_activations_are_guarded_and_restored():
    torch.manual_seed(0)
    model = TinyFCN().eval()
    ref = copy.deepcopy(model)
    for m in ref.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    x = torch.rand(3, 32, 32)
    # target = a BatchNorm followed by ReLU(inplace=True): without the guard the saved
    # activation would be overwritten by the ReLU (CPU .cpu() does not copy)
    a = cam.gradcam(model, x, 1, layer="features.2.1", mask=np.ones((32, 32), bool))
    b = cam.gradcam(ref, x, 1, layer="features.2.1", mask=np.ones((32, 32), bool))
    np.testing.assert_allclose(a.heatmaps, b.heatmaps, atol=1e-6)
    assert all(m.inplace for m in model.modules() if isinstance(m, nn.ReLU))
    assert all(p.grad is None for p in model.parameters())


def test_frozen_model_still_gets_a_map_and_training_flag_is_restored():
    torch.manual_seed(0)
    model = TinyFCN().train()
    for p in model.parameters():
        p.requires_grad_(False)
    r = cam.gradcam(model, torch.rand(3, 32, 32), 1, mask=np.ones((32, 32), bool), method="hirescam")
    assert r.heatmaps.max() > 0.5
    assert model.training


def test_layer_resolution_and_errors():
    model = TinyFCN()
    assert cam.resolve_layer(model, "decoder")[0] == "features"
    assert cam.resolve_layer(model, "features.1")[0] == "features.1"
    plain = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 1))
    path, _, notes = cam.resolve_layer(plain)
    assert path == "0" and "no cam_layers" in notes[0]  # the last conv is the classifier
    with pytest.raises(ValueError, match="features.1"):
        cam.resolve_layer(model, "features.l")
    with pytest.raises(ValueError, match="method"):
        cam.gradcam(model, torch.rand(3, 16, 16), 1, method="scorecam++")
    with pytest.raises(ValueError, match="out of range"):
        cam.gradcam(model, torch.rand(3, 16, 16), 5)
    with pytest.raises(ValueError, match="mask"):
        cam.gradcam(model, torch.rand(3, 16, 16), 1, mask=np.ones((8, 8), bool))


def test_layer_with_a_tuple_output_is_explained_through_a_tap():
    class Branches(nn.Module):
        def __init__(self):
            super().__init__()
            self.hi = nn.Conv2d(3, 8, 3, padding=1)
            self.lo = nn.Conv2d(3, 8, 3, padding=1, stride=2)

        def forward(self, x):
            return self.hi(x), self.lo(x)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stage = Branches()
            self.cls = nn.Conv2d(16, 3, 1)

        def forward(self, x):
            hi, lo = self.stage(x)
            lo = nn.functional.interpolate(lo, size=hi.shape[-2:])
            return self.cls(torch.cat([torch.relu(hi), torch.relu(lo)], 1))

    net = Net()
    r = cam.gradcam(net, torch.rand(3, 16, 16), 1, layer="stage", mask=np.ones((16, 16), bool))
    assert r.heatmaps.shape == (1, 16, 16) and "element 0" in r.notes[-1]
    assert not net.stage._forward_hooks  # the splice hook is removed


def _paper_presets() -> list[str]:
    from segkit.models import list_models, model_info

    return [n for n in list_models() if "paper" in model_info(n).tags]


@pytest.mark.slow
@pytest.mark.parametrize("name", _paper_presets())
def test_gradcam_runs_on_every_paper_preset(name):
    from segkit.models import build_model

    model = build_model(name, num_classes=3)
    r = cam.gradcam(model, torch.rand(3, 64, 48), 1, mask=np.ones((64, 48), bool))  # any size: models pad
    assert r.heatmaps.shape == (1, 64, 48)
    assert 0 <= r.heatmaps.min() and r.heatmaps.max() <= 1 and np.isfinite(r.heatmaps).all()


def test_cam_grid_baseline_vs_improved(trained, tmp_path):
    model, samples = trained
    torch.manual_seed(1)
    other = TinyFCN().eval()  # untrained "baseline"
    imgs = [samples[i][0] for i in range(2)]
    gts = [samples[i][1].numpy() for i in range(2)]
    out = tmp_path / "grid.png"
    fig = cam.cam_grid({"untrained": other, "trained": model}, imgs, [1, 2], gts=gts,
                       class_names=["background", "corrosion", "broken_wire"], target="gt", save=out)
    assert out.is_file() and out.stat().st_size > 1000
    assert len(fig.axes) == 2 * (2 + 2 * 3) + 1  # the panels and one colour bar
    assert set(fig.cam_results) == {(0, "untrained"), (0, "trained"), (1, "untrained"), (1, "trained")}
    with pytest.raises(ValueError, match="gts"):
        cam.cam_grid({"m": model}, imgs, [1], target="gt")
    import matplotlib.pyplot as plt

    plt.close("all")


# ----------------------------------------------------------------------------- attention


def _host(module: nn.Module, c: int = 16) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, c, 3, padding=1), module, nn.Conv2d(c, 3, 1)).eval()


def _io(model: nn.Module, target: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    seen = {}
    h = target.register_forward_hook(lambda m, i, o: seen.update(x=i[0], y=o))
    with torch.no_grad():
        model(x)
    h.remove()
    return seen["x"], seen["y"]


def _randomize(module: nn.Module, std: float = 0.5) -> nn.Module:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_var.uniform_(0.5, 1.5)
    return module


def test_ggca_gates_reproduce_the_module_output():
    from segkit.modules.ggca import GGCA, GGCADynamic, GGCAFused

    x = torch.rand(2, 3, 12, 10)
    for mod in (GGCAFused(16, reduction=4, num_groups=4), GGCADynamic(16, 2, 2), GGCA(16, 12, 10, 2, 2)):
        model = _host(_randomize(mod))
        (m,) = cam.capture_attention(model, x)
        assert (m.kind, m.path, m.map.shape) == ("ggca", "1", (12, 10))
        assert m.raw["att_h"].shape == (16, 12) and m.raw["att_w"].shape == (16, 10)
        assert 0 < m.map.min() and m.map.max() < 1 and m.map.std() > 0
        xin, y = _io(model, model[1], x)
        rebuilt = xin[0] * torch.from_numpy(m.raw["att_h"])[:, :, None] * torch.from_numpy(m.raw["att_w"])[:, None, :]
        torch.testing.assert_close(rebuilt, y[0], atol=1e-5, rtol=1e-4)
        gate = (m.raw["att_h"][:, :, None] * m.raw["att_w"][:, None, :]).mean(0)
        np.testing.assert_allclose(m.map, gate, atol=1e-6)


def test_cbam_and_attn_gate_maps():
    from segkit.modules.attn_gate import AttnGate
    from segkit.modules.cbam import CBAM

    x = torch.rand(1, 3, 16, 16)
    model = _host(_randomize(CBAM(16, reduction=4)))
    (m,) = cam.capture_attention(model, x)
    assert m.kind == "cbam" and m.map.shape == (16, 16) and 0 < m.map.min() and m.map.max() < 1
    xin, y = _io(model, model[1], x)
    rebuilt = xin[0] * torch.from_numpy(m.raw["channel"])[:, None, None] * torch.from_numpy(m.map)
    torch.testing.assert_close(rebuilt, y[0], atol=1e-5, rtol=1e-4)

    model = _host(_randomize(AttnGate(16, reduction=4)))
    (m,) = cam.capture_attention(model, x)
    w = m.raw["weights"]
    assert m.kind == "attn_gate" and w.shape == (16,) and m.map.shape == (16, 16)
    assert ((0 < w) & (w < 1)).all() and w.min() - 1e-6 <= m.map.min() and m.map.max() <= w.max() + 1e-6
    xin, y = _io(model, model[1], x)
    torch.testing.assert_close(xin[0] * torch.from_numpy(w)[:, None, None], y[0])


def test_window_attention_map_is_received_attention():
    from segkit.modules.window_attention import WindowTransformerBlock, window_partition

    block = WindowTransformerBlock(16, window_size=4, heads=2, mlp_ratio=2)
    model = _host(_randomize(block, std=0.3))
    x = torch.rand(2, 3, 8, 12)
    (m,) = cam.capture_attention(model, x)
    a = m.raw["weights"]
    assert m.kind == "window_attn" and m.map.shape == (8, 12) and a.shape == (6, 2, 16, 16)
    np.testing.assert_allclose(a.sum(-1), 1, atol=1e-5)  # softmax rows
    # per 4x4 window the map averages to 1 (uniform attention = 1), values in [0, N]
    win = m.map.reshape(2, 4, 3, 4).transpose(0, 2, 1, 3).reshape(6, 16)
    np.testing.assert_allclose(win.mean(1), 1, atol=1e-5)
    assert m.map.min() >= 0 and m.map.max() <= 16 and m.map.std() > 0
    # the recorded weights rebuild the block's attention output
    xin, _ = _io(model, block, x)
    tokens = window_partition(xin[:1], 4).flatten(2).transpose(1, 2)
    tb = block.block
    with torch.no_grad():
        v = tb.qkv(tb.norm1(tokens)).reshape(6, 16, 3, 2, 8).permute(2, 0, 3, 1, 4)[2]
        out = tb.proj((torch.from_numpy(a) @ v).transpose(1, 2).reshape(6, 16, 16))
        torch.testing.assert_close(out, tb.attention(tb.norm1(tokens)), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("axis", ["intra_patch", "inter_patch"])
def test_mobilevit_attention_map(axis):
    from segkit.modules.mobilevit import MobileViTAttentionBlock

    block = MobileViTAttentionBlock(16, patch_size=2, depth=2, dim=8, mlp_dim=16, heads=2, attn_axis=axis)
    model = _host(_randomize(block, std=0.3))
    (m,) = cam.capture_attention(model, torch.rand(1, 3, 8, 6))
    assert m.kind == "mobilevit_attn" and m.map.shape == (8, 6) and set(m.raw) == {"weights_layer0", "weights_layer1"}
    if axis == "intra_patch":  # every 2x2 patch averages to 1
        np.testing.assert_allclose(m.map.reshape(4, 2, 3, 2).mean((1, 3)), 1, atol=1e-5)
    else:  # every pixel offset inside the patches averages to 1 over the 4x3 patch grid
        np.testing.assert_allclose(m.map.reshape(4, 2, 3, 2).mean((0, 2)), 1, atol=1e-5)
    assert m.map.min() >= 0


def test_attention_on_paper_presets_and_after_stitching(tmp_path):
    from segkit.models import build_model

    torch.manual_seed(0)
    x = torch.rand(1, 3, 64, 64)
    maps = cam.capture_attention(build_model("improved-mobilenetv2", num_classes=3), x)
    # the paper's placement (docs/models.md): GGCA on feature idx 11, 12, 13, 15, 16, 17
    assert [m.path.split(".")[2] for m in maps] == ["11", "12", "13", "15", "16", "17"]
    assert all(m.kind == "ggca" and m.map.shape == (4, 4) for m in maps)
    sff = cam.capture_attention(build_model("sff-wadeeplab", num_classes=3), x)
    assert {m.kind for m in sff} == {"ggca", "cbam", "mobilevit_attn", "attn_gate"}
    assert cam.capture_attention(build_model("sff-wadeeplab", num_classes=3), x, kinds=["cbam"])[0].map.shape == (16, 16)
    with pytest.raises(ValueError, match="kind"):
        cam.capture_attention(build_model("deeplabv3plus-mobilenetv2", num_classes=3), x, kinds=["se"])

    stitch = pytest.importorskip("segkit.stitch")
    base = build_model("deeplabv3plus-mobilenetv2", num_classes=3)
    assert cam.capture_attention(base, x) == []
    stitch.insert(base, "backbone.features.6", "cbam", input=(1, 3, 64, 64))
    stitch.insert(base, "backbone.features.13", "ggca", input=(1, 3, 64, 64))
    stitch.insert(base, "aspp", "attn_gate", input=(1, 3, 64, 64))
    got = {m.kind: m for m in cam.capture_attention(base, x)}
    assert set(got) == {"cbam", "ggca", "attn_gate"}
    assert got["cbam"].map.shape == (8, 8) and got["ggca"].map.shape == (4, 4)
    for m in got.values():
        assert m.value_range == (0.0, 1.0) and 0 <= m.map.min() and m.map.max() <= 1
        assert m.normalized((64, 64)).shape == (64, 64)
    out = tmp_path / "att.png"
    cam.plot_attention(x, list(got.values()), save=out)
    assert out.is_file()
    import matplotlib.pyplot as plt

    plt.close("all")


def test_cli_cam_writes_figures(tmp_path, synthetic_root, capsys):
    from segkit.commands import bench as _bench_cli
    from segkit.cli import main

    assert _bench_cli._CAM_METHODS == cam.CAM_METHODS
    image = next((synthetic_root / "JPEGImages").glob("*.jpg"))
    out = tmp_path / "cam.png"
    assert main(["cam", "improved-mobilenetv2", str(image), "--size", "64", "--classes", "1",
                 "--out", str(out), "--attention"]) == 0
    assert out.is_file() and (tmp_path / "cam_attention.png").is_file()
    assert "6 attention maps" in capsys.readouterr().out
    import matplotlib.pyplot as plt

    plt.close("all")


# ----------------------------------------------------------------------------- figures for a paper


def _panel(fig, title: str) -> np.ndarray:
    """The RGB picture of the first-row panel titled `title`."""
    ax = next(a for a in fig.axes if a.get_title() == title)
    return np.asarray(ax.images[0].get_array())


def test_cam_figure_has_colour_bar_class_colours_and_explained_empty_panels(trained, synthetic_root):
    import matplotlib.pyplot as plt

    from segkit.data import WIREROPE_PALETTE, mask_palette

    model, samples = trained
    img = samples[0][0]
    gt = np.zeros((64, 64), np.int64)  # labelled: corrosion in one square, no broken wire anywhere
    gt[8:24, 8:24] = 1
    names = ["background", "corrosion", "broken_wire"]
    fig = cam.cam_grid({"m": model}, [img], [1, 2], gts=[gt], class_names=names, target="gt",
                       palette=mask_palette(synthetic_root))
    bars = [a for a in fig.axes if a.get_ylabel() == cam.figures.CAM_COLORBAR_LABEL]
    assert len(bars) == 1 and bars[0].get_ylim() == (0.0, 1.0)
    titled = [a for a in fig.axes if a.get_title()]
    assert len(titled) == 5 and min(a.title.get_fontsize() for a in titled) >= 10
    shown = _panel(fig, "ground truth")
    for c in (0, 1):  # each class in its dataset colour (the masks' own palette), not one colour for all
        assert (shown[gt == c] == WIREROPE_PALETTE[c]).all()
    assert len({tuple(v) for v in shown.reshape(-1, 3)}) == 2
    legend = {t.get_text() for lg in fig.legends for t in lg.get_texts()}
    assert {"background", "corrosion"} <= legend
    empty = next(a for a in fig.axes if a.get_title() == "m\nbroken_wire")
    assert [t.get_text() for t in empty.texts] == ["no broken_wire pixels\nin the ground truth"]
    assert np.asarray(empty.images[0].get_array()).max() <= 0.35 + 1e-6  # the dimmed image, not a map
    assert fig.cam_results[(0, "m")].target_pixels == [16 * 16, 0]
    plt.close("all")


def test_cam_grid_crops_the_letterbox(trained):
    import matplotlib.pyplot as plt

    from segkit.data import letterbox

    model, samples = trained
    wide = (samples[0][0].permute(1, 2, 0).numpy()[16:48] * 255).astype(np.uint8)  # 32x64
    canvas, info = letterbox(wide, 64)
    assert (canvas[:16] == 128).all() and (canvas[48:] == 128).all()  # grey bars above and below
    fig = cam.cam_grid({"m": model}, [canvas], [1], crops=[info])
    for title in ("image", "m\nprediction", "m\nclass 1"):
        assert _panel(fig, title).shape[:2] == (32, 64)
    rgb = _panel(fig, "image")
    assert np.abs(rgb - wide / 255).max() < 1e-6  # exactly the image, no grey row left
    assert fig.cam_results[(0, "m")].image.shape[:2] == (64, 64)  # the results stay uncropped
    with pytest.raises(ValueError, match="crops has 2 boxes for 1 images"):
        cam.cam_grid({"m": model}, [canvas], [1], crops=[info, info])
    plt.close("all")


def test_cli_cam_on_a_run_uses_its_input_size_dataset_colours_and_crops_the_letterbox(tmp_path, synthetic_root,
                                                                                        capsys):
    import matplotlib.pyplot as plt
    from PIL import Image

    from segkit.cli import main
    from segkit.data import WIREROPE_PALETTE

    run = tmp_path / "run"
    assert main(["train", "--data-root", str(synthetic_root), "--run-dir", str(run), "--profile", "quick",
                 "--epochs", "1", "--no-progress", "--set", "input_shape=[48, 48]", "--set", "num_workers=0",
                 "--set", "Unfreeze_batch_size=4", "--set", "max_train_batches=1"]) == 0
    src = np.asarray(Image.open(next((synthetic_root / "JPEGImages").glob("*.jpg"))).convert("RGB"))
    wide = tmp_path / "wide.png"
    Image.fromarray(src[16:48]).save(wide)  # 32x64: a letterbox at 48x48 adds 12-pixel grey bars
    capsys.readouterr()
    plt.close("all")
    assert main(["cam", str(run), str(wide), "--classes", "corrosion,broken_wire", "--out", str(tmp_path / "c.png")]) == 0
    assert "(input 48x48, letterbox bars cropped)" in capsys.readouterr().out
    fig = plt.figure(plt.get_fignums()[-1])
    image, pred = _panel(fig, "image"), _panel(fig, "run\nprediction")
    assert image.shape[:2] == pred.shape[:2] == (24, 48)  # the image region only, no grey rows
    assert not (np.abs(image - 128 / 255) < 1e-3).all(-1).all(-1).any()  # no row is letterbox grey
    assert {tuple(v) for v in pred.reshape(-1, 3)} <= set(WIREROPE_PALETTE)  # the dataset's class colours
    assert (tmp_path / "c.png").is_file()
    plt.close("all")


def test_plot_cams_row_has_colour_bar_and_names_the_empty_region(trained):
    import matplotlib.pyplot as plt

    model, samples = trained
    gt = np.zeros((64, 64), np.int64)
    gt[20:40, 20:40] = 1
    res = cam.gradcam(model, samples[0][0], [1, 2], label_map=gt, class_names=["bg", "corrosion", "broken_wire"])
    fig = cam.plot_cams(res, gt=gt, target="gt")
    assert [a.get_title() for a in fig.axes if a.get_title()] == ["image", "ground truth", "prediction", "corrosion",
                                                                  "broken_wire"]
    assert sum(a.get_ylabel() == cam.figures.CAM_COLORBAR_LABEL for a in fig.axes) == 1
    empty = next(a for a in fig.axes if a.get_title() == "broken_wire")
    assert [t.get_text() for t in empty.texts] == ["no broken_wire pixels\nin the ground truth"]
    with pytest.raises(ValueError, match="target must be 'pred' or 'gt'"):
        cam.plot_cams(res, target="labels")
    plt.close("all")


def test_plot_attention_crops_the_letterbox_and_has_a_colour_bar():
    import matplotlib.pyplot as plt

    from segkit.data import letterbox
    from segkit.modules.ggca import GGCAFused

    model = _host(_randomize(GGCAFused(16, reduction=4, num_groups=4))).eval()
    wide = (np.random.default_rng(0).random((16, 32, 3)) * 255).astype(np.uint8)
    canvas, info = letterbox(wide, 32)  # grey bars: rows 0-7 and 24-31
    maps = cam.capture_attention(model, canvas)
    fig = cam.plot_attention(canvas, maps, crop=info)
    shown = [np.asarray(a.images[0].get_array()) for a in fig.axes if a.images]
    assert len(shown) == 2 and all(p.shape[:2] == (16, 32) for p in shown)
    np.testing.assert_allclose(shown[0], wide / 255, atol=1e-6)  # exactly the image, bars cut away
    assert sum("attention, scaled per map" in a.get_ylabel() for a in fig.axes) == 1
    plt.close("all")


def test_odd_sized_image_is_explained_on_the_models_grid_and_cropped_back():
    """A model pads an odd-sized input to its input_multiple; the CAM must be the padded map cropped, not
    the padded map squeezed onto the image (which shifts it by up to the padding)."""
    from segkit.models import build_model

    torch.manual_seed(0)
    model = build_model("deeplabv3plus-mobilenetv2", num_classes=3).eval()
    img = torch.rand(3, 40, 56)
    region = np.ones((40, 56), bool)
    odd = cam.gradcam(model, img, classes=[1], mask=region, layer="backbone")
    padded = torch.nn.functional.pad(img, (0, 8, 0, 8))  # 48 x 64, multiples of 16
    ref = cam.gradcam(model, padded, classes=[1], mask=np.pad(region, ((0, 8), (0, 8))), layer="backbone")
    assert odd.heatmaps.shape == (1, 40, 56) and odd.prediction.shape == (40, 56) and odd.image.shape == (40, 56, 3)
    np.testing.assert_allclose(odd.heatmaps[0], ref.heatmaps[0][:40, :56], atol=1e-5)
