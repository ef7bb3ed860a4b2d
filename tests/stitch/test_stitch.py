"""segkit.stitch: inspect/probe against real forward shapes, insert into segkit, timm and
Sequential hosts, Serial/Parallel composition, validation errors with rollback, the CLI,
and an end-to-end stitch-train-evaluate run on DeepLabV3+-MobileNetV2."""
from __future__ import annotations

import functools

import pytest
import torch
import torch.nn as nn

from segkit import stitch
from segkit.modules.eca import ECA
from segkit.modules.se import SE


def _n(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _seq() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(32, 5, 1),
    )


class SizeBound(nn.Module):
    """A spatial-size-dependent module: built for a fixed (h, w)."""

    def __init__(self, channels: int, h: int, w: int) -> None:
        super().__init__()
        self.channels, self.h, self.w = channels, h, w
        self.bias = nn.Parameter(torch.zeros(1, channels, h, w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias


# ----------------------------------------------------------------- inspect / probe


def test_inspect_matches_real_forward_shapes_sequential():
    net = _seq()
    x = torch.randn(2, 3, 20, 12)
    df = stitch.inspect(net, x).set_index("path")
    h = x
    for i, layer in enumerate(net):
        h = layer(h)
        assert df.loc[str(i), "out_shape"] == tuple(h.shape)
        assert df.loc[str(i), "params"] == _n(layer)
    assert df.loc["(model)", "out_shape"] == (2, 5, 10, 6)
    assert df.loc["(model)", "params"] == _n(net)


def test_probe_shapes_segkit_model_and_state_restored():
    from segkit.models import build_model

    model = build_model("deeplabv3plus-mobilenetv2", num_classes=3).train()
    model.backbone.features[0].eval()  # a frozen-looking module keeps its own flag
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    stats = [bn.running_mean.clone() for bn in bns]
    x = torch.randn(1, 3, 64, 64)
    shapes = stitch.probe_shapes(model, x)
    for bn, s in zip(bns, stats):  # probing ran in eval mode: no running-stat updates
        torch.testing.assert_close(bn.running_mean, s)
    assert model.training and not model.backbone.features[0].training  # every flag restored
    h = x
    with torch.no_grad():
        for i, f in enumerate(model.eval().backbone.features):  # independent reference: the chain by hand
            h = f(h)
            assert shapes[f"backbone.features.{i}"] == tuple(h.shape), i
    assert shapes[""] == (1, 3, 64, 64)
    assert isinstance(shapes["backbone"], tuple) and len(shapes["backbone"]) == 2  # (low, deep)


# ----------------------------------------------------------------- insert into three kinds of hosts


def test_insert_se_after_block_of_segkit_mobilenetv2():
    from segkit.models.backbones.mobilenetv2 import MobileNetV2

    net = MobileNetV2(downsample_factor=16).eval()
    before = _n(net)
    x = torch.randn(1, 3, 64, 64)
    low0, deep0 = net(x)
    net, rec = stitch.insert(net, "features.10", SE, reduction=8, input=x)
    assert (rec.channels, rec.size, rec.new_path) == (64, (4, 4), "features.10.se")
    assert rec.params_added == 2 * 64 * 8 == _n(net) - before
    assert "(se): SE" in repr(net.features[10])
    seen = {}

    def hook(mod, args, out):
        seen["in"] = tuple(args[0].shape)

    net.get_submodule(rec.new_path).register_forward_hook(hook)
    low1, deep1 = net(x)
    assert seen["in"] == (1, 64, 4, 4) and deep1.shape == deep0.shape
    torch.testing.assert_close(low1, low0)  # before the insertion point: unchanged
    assert not torch.allclose(deep1, deep0)  # after it: SE rescales


def test_insert_se_into_timm_resnet18():
    timm = pytest.importorskip("timm")
    net = timm.create_model("resnet18", pretrained=False, num_classes=4).eval()
    before = _n(net)
    net, rec = stitch.insert(net, "layer2.0", "se", input=(1, 3, 64, 64))
    assert rec.channels == 128 and rec.size == (8, 8)
    assert _n(net) - before == rec.params_added == 2 * 128 * 8
    assert net(torch.randn(2, 3, 64, 64)).shape == (2, 4)
    assert isinstance(net.layer2[0], stitch.Stitched) and net.layer2[0].host.__class__.__name__ == "BasicBlock"


def test_insert_into_sequential_after_before_replace():
    net = _seq().eval()
    x = torch.randn(1, 3, 32, 32)
    n0 = _n(net)
    net, rec = stitch.insert(net, "3", SE, input=x)  # after the 16->32 conv
    assert rec.channels == 32 and rec.size == (16, 16) and rec.params_added == 2 * 32 * 2
    net, rec2 = stitch.insert(net, "3.host", ECA, where="before", input=x)  # sees the conv's 16-ch input
    assert rec2.channels == 16 and rec2.size == (32, 32) and rec2.new_path == "3.host.eca"
    net, rec3 = stitch.insert(net, "4", functools.partial(SE, reduction=4), where="replace", input=x)  # ReLU -> SE
    assert isinstance(net[4], SE) and rec3.params_removed == 0 and rec3.params_added == 2 * 32 * 8
    assert _n(net) == n0 + rec.params_added + rec2.params_added + rec3.params_added
    assert net(x).shape == (1, 5, 16, 16)
    assert "inserted SE after '3' (C=32 at 16x16)" in str(rec)


def test_insert_ready_instance_and_registered_name():
    net = _seq().eval()
    ready = ECA(32)
    net, rec = stitch.insert(net, "4", ready, input=(1, 3, 32, 32))
    assert rec.module is ready and net[4].eca is ready
    net, rec = stitch.insert(net, "0", "coord", input=(1, 3, 32, 32), name="ca")
    assert rec.new_path == "0.ca" and net[0].ca.mip == 8


# ----------------------------------------------------------------- Serial / Parallel


def test_serial_se_then_eca_matches_manual_composition():
    torch.manual_seed(0)
    cascade = stitch.Serial(SE, ECA, channels=63)
    x = torch.randn(1, 63, 16, 16)
    se, eca = cascade[0], cascade[1]
    assert se.hidden == 63 // 16 == 3
    torch.testing.assert_close(cascade(x), eca(se(x)))
    assert _n(cascade) == _n(se) + _n(eca)


@pytest.mark.parametrize("merge", ["add", "mul", "max", "concat"])
def test_parallel_each_merge_matches_manual(merge):
    torch.manual_seed(0)
    par = stitch.Parallel("se", "eca", merge=merge, channels=16)
    x = torch.randn(2, 16, 8, 8)
    a, b = par.branches[0](x), par.branches[1](x)
    expected = {
        "add": lambda: a + b,
        "mul": lambda: a * b,
        "max": lambda: torch.maximum(a, b),
        "concat": lambda: par.proj(torch.cat([a, b], 1)),
    }[merge]()
    torch.testing.assert_close(par(x), expected)
    extra = 2 * 16 * 16 + 16 if merge == "concat" else 0  # the 1x1 projection 32 -> 16 with bias
    assert _n(par) == _n(par.branches) + extra


def test_concat_without_projection_doubles_channels_and_insert_refuses_it():
    par = stitch.Parallel(SE, ECA, merge="concat", project=False, channels=63)
    assert par(torch.randn(1, 63, 64, 64)).shape == (1, 126, 64, 64) and par.out_channels == 126
    net = _seq().eval()
    with pytest.raises(ValueError, match=r"changes the shape \(1, 32, 16, 16\) -> \(1, 64, 16, 16\)"):
        stitch.insert(net, "3", stitch.Parallel(SE, ECA, merge="concat", project=False), input=(1, 3, 32, 32))


def test_nested_composition_inserted_with_probed_channels():
    net = _seq().eval()
    hybrid = stitch.Serial(stitch.Parallel(SE, "eca", merge="max"), stitch.Parallel("coord", SE, merge="concat"))
    assert not hybrid.built
    with pytest.raises(RuntimeError, match="unbuilt"):
        hybrid(torch.randn(1, 32, 4, 4))
    net, rec = stitch.insert(net, "3", hybrid, input=(1, 3, 32, 32))
    assert hybrid.built and rec.channels == 32 and hybrid[1].proj.in_channels == 64
    assert rec.params_added == _n(hybrid) and net(torch.randn(1, 3, 32, 32)).shape == (1, 5, 16, 16)


def test_parallel_bad_merge():
    with pytest.raises(ValueError, match=r"merge='sum'.*'add'"):
        stitch.Parallel(SE, ECA, merge="sum")


# ----------------------------------------------------------------- validation errors (rolled back)


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
@pytest.mark.filterwarnings("ignore:inserting .* raw model input")
def test_zero_width_error_at_three_channel_point():
    net = _seq().eval()
    with pytest.raises(ValueError) as info:
        stitch.insert(net, "0", SE, where="before", min_hidden=0, input=(1, 3, 32, 32))
    msg = str(info.value)
    assert "SE(channels=3, reduction=16) gives a 0-wide hidden layer" in msg and "'0'" in msg
    assert isinstance(net[0], nn.Conv2d)

    class ZeroWide(nn.Module):  # a third-party module that builds Linear(3, 0) silently
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.fc = nn.Linear(channels, channels // 16)

        def forward(self, x):
            return x

    with pytest.raises(ValueError, match=r"parameter 'fc.weight' has shape \(0, 3\), a zero-width layer"):
        stitch.insert(net, "0", ZeroWide, where="before", input=(1, 3, 32, 32))


def test_raw_input_warning():
    net = _seq().eval()
    with pytest.warns(UserWarning, match="raw model input"):
        stitch.insert(net, "0", SE, where="before", input=(1, 3, 32, 32))
    assert net[0].se.hidden == 1  # the default clamp: max(1, 3 // 16)


def test_channel_mismatch_error():
    net = _seq().eval()
    with pytest.raises(ValueError, match=r"built for channels=8 but the tensor at '3' has 32 channels"):
        stitch.insert(net, "3", SE(8), input=(1, 3, 32, 32))
    assert isinstance(net[3], nn.Conv2d)


def test_size_dependent_module_at_wrong_size():
    net = _seq().eval()
    with pytest.raises(ValueError, match=r"spatial-size-dependent.*h=8, w=8.*16x16; pass h=16, w=16"):
        stitch.insert(net, "3", SizeBound, h=8, w=8, input=(1, 3, 32, 32))
    net, rec = stitch.insert(net, "3", SizeBound, input=(1, 3, 32, 32))  # probed size filled in
    assert net[3].sizebound.bias.shape == (1, 32, 16, 16)


def test_size_dependent_ggca_if_available():
    ggca = pytest.importorskip("segkit.modules.ggca")
    net = _seq().eval()
    with pytest.raises(ValueError, match="spatial-size-dependent"):
        stitch.insert(net, "3", ggca.GGCA, h=32, w=32, input=(1, 3, 32, 32))
    net, rec = stitch.insert(net, "3", ggca.GGCA, reduction=2, input=(1, 3, 32, 32))
    assert (net[3].ggca.h, net[3].ggca.w) == (16, 16)


def test_dry_forward_failure_rolls_back():
    from segkit.modules.a2 import DoubleAttention

    net = _seq().eval()
    n0, host = _n(net), net[3]
    with pytest.raises(ValueError, match="rolled back"):
        stitch.insert(net, "3", DoubleAttention, reconstruct=False, c_m=8, keep_shape=False, input=(1, 3, 32, 32))
    assert net[3] is host and _n(net) == n0


def test_path_and_output_errors():
    net = _seq()
    with pytest.raises(ValueError, match=r"at='3x': no such module path\. Did you mean '3'"):
        stitch.insert(net, "3x", SE, input=(1, 3, 32, 32))
    with pytest.raises(ValueError, match="replacing '3'.*keeps its input shape"):
        stitch.insert(net, "3", SE, where="replace", input=(1, 3, 32, 32))
    with pytest.raises(ValueError, match="where='afterwards'"):
        stitch.insert(net, "3", SE, where="afterwards")
    from segkit.models import build_model

    model = build_model("deeplabv3plus-mobilenetv2", num_classes=3)
    with pytest.raises(ValueError, match=r"output of 'backbone' is .*not a \(B, C, H, W\) tensor"):
        stitch.insert(model, "backbone", SE, input=(1, 3, 64, 64))


# ----------------------------------------------------------------- CLI


def test_cli_stitch_inspect(capsys):
    from segkit.cli import main

    assert main(["stitch", "inspect", "timm:resnet18", "--input", "1,3,32,32", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    assert "layer3" in out and "(1, 256, 2, 2)" in out and "11,689,512 parameters" in out
    assert main(["stitch", "inspect", "no-such-model", "--input", "1,3,32,32"]) == 1


# ----------------------------------------------------------------- end to end


@pytest.mark.slow
def test_stitch_cbam_three_depths_train_and_evaluate(synthetic_root):
    """CBAM at three depths of DeepLabV3+-MobileNetV2, one tiny epoch, then evaluation.

    Note: a plain training loop (SegLoss + SGD) and segkit.metrics.ConfusionMatrix are used;
    the engine's train() needs a run directory and is tested in its own file.
    """
    from torch.utils.data import DataLoader

    from segkit.data import VOCSegmentation
    from segkit.losses import SegLoss
    from segkit.metrics import ConfusionMatrix
    from segkit.models import build_model
    from segkit.modules import module_info

    torch.manual_seed(0)
    cbam = module_info("cbam").cls
    model = build_model("deeplabv3plus-mobilenetv2", num_classes=3)
    base = _n(model)
    records = []
    for path in ("backbone.features.3", "backbone.features.10", "backbone.features.16"):
        model, rec = stitch.insert(model, path, cbam, input=(2, 3, 64, 64))
        records.append(rec)
    assert [r.channels for r in records] == [24, 64, 160]
    added = sum(_n(r.module) for r in records)
    hand = sum(2 * c * max(1, c // 16) + 2 * 7 * 7 for c in (24, 64, 160))  # CBAM formula
    assert _n(model) - base == added == sum(r.params_added for r in records) == hand

    train = VOCSegmentation(synthetic_root, split="train", input_shape=(64, 64))
    val = VOCSegmentation(synthetic_root, split="val", input_shape=(64, 64))
    loss_fn = SegLoss(num_classes=3)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    losses = []
    for img, mask in DataLoader(train, batch_size=4, shuffle=True, drop_last=True):
        out = model(img)
        loss = loss_fn(out[0] if isinstance(out, (list, tuple)) else out, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses and all(torch.isfinite(torch.tensor(losses)))
    for r in records:  # the stitched modules were trained
        assert all(p.grad is not None for p in r.module.parameters())

    model.eval()
    cm = ConfusionMatrix(3)
    with torch.no_grad():
        for img, mask in DataLoader(val, batch_size=4):
            cm.update(model(img), mask)
    m = cm.compute()
    assert int(cm.hist.sum()) == int((torch.stack([val[i][1] for i in range(len(val))]) != 255).sum())
    assert 0.0 <= m.miou <= 100.0 and 0.0 <= m.accuracy <= 100.0
