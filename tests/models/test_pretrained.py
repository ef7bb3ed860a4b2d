"""Pretrained backbones: torchvision / timm layouts mapped exactly, sources, no silent partial
loads, the fast offline error, and a training run that starts from the given weights.

Nothing here downloads: weight files are made locally from randomly initialised torchvision
and timm models, and "offline" is a patched connectivity check or a refused proxy port.
"""
from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from segkit.engine import Callback, TrainConfig, train
from segkit.models import build_model, load_weights
from segkit.models import _pretrained
from segkit.models._weights import PartialLoadError

REPO = Path(__file__).resolve().parents[2]


def _random_bn_stats(model: nn.Module) -> nn.Module:
    """Non-trivial running statistics, so a BN mapped onto the wrong layer shows."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model.eval()


@pytest.fixture(scope="module")
def tv_mobilenet(tmp_path_factory) -> tuple[nn.Module, Path]:
    """torchvision's mobilenet_v2 (random init) and its state dict saved as torchvision does."""
    import torchvision

    torch.manual_seed(0)
    tv = _random_bn_stats(torchvision.models.mobilenet_v2())
    path = tmp_path_factory.mktemp("tv") / "mobilenet_v2-b0353104.pth"
    torch.save(tv.state_dict(), path)
    return tv, path


def _dilate_like_deeplab(features: nn.Sequential, start: int = 14, d: int = 2) -> nn.Sequential:
    """The DeepLab OS16 rewrite of MobileNetV2 (features[14:]: stride 2 -> 1, dilated convs)."""
    features = copy.deepcopy(features)
    for block in list(features)[start:]:
        for m in block.modules():
            if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3):
                if m.stride == (2, 2):
                    m.stride, m.dilation, m.padding = (1, 1), (d // 2, d // 2), (d // 2, d // 2)
                else:
                    m.dilation, m.padding = (d, d), (d, d)
    return features


def test_torchvision_mobilenet_v2_maps_exactly(tv_mobilenet, capsys):
    tv, path = tv_mobilenet
    m = build_model("deeplabv3plus-mobilenetv2", num_classes=3, pretrained=str(path)).eval()
    assert "(backbone: 255/255 = 100.0% matched)" in capsys.readouterr().out
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        low, deep = m.backbone(x)
        torch.testing.assert_close(low, tv.features[:4](x), rtol=0, atol=1e-5)
        torch.testing.assert_close(m.backbone.features[:14](x), tv.features[:14](x), rtol=0, atol=1e-5)
        torch.testing.assert_close(deep, _dilate_like_deeplab(tv.features)[:18](x), rtol=0, atol=1e-5)
    assert m.segkit_spec["pretrained"] == str(path)


def test_the_load_report_is_printed_once_per_file_and_process(tv_mobilenet, tmp_path, capsys):
    _, path = tv_mobilenet
    copies = [tmp_path / f"{i}" / path.name for i in range(2)]  # files this process has not loaded yet
    for c in copies:
        c.parent.mkdir()
        c.write_bytes(path.read_bytes())
    for _ in range(3):  # a notebook builds the same model for a plan, each run and a benchmark
        for c in copies:
            build_model("deeplabv3plus-mobilenetv2", num_classes=3, pretrained=str(c))
    out = capsys.readouterr().out
    assert [out.count(f"from {c} (backbone: 255/255") for c in copies] == [1, 1], out


def test_timm_xception65_maps_exactly(tmp_path, capsys):
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    src = _random_bn_stats(timm.create_model("xception65", pretrained=False))
    save_file(src.state_dict(), str(tmp_path / "model.safetensors"))  # the format timm's hub files use
    # timm's BatchNorm eps is 1e-3 (the reference's 1e-5 is the default)
    m = build_model("deeplabv3plus-xception", num_classes=3, pretrained=str(tmp_path / "model.safetensors"),
                    backbone_kwargs={"bn_eps": 1e-3}).eval()
    assert "(backbone: 660/660 = 100.0% matched)" in capsys.readouterr().out
    ref = timm.create_model("xception65", pretrained=False, output_stride=16).eval()
    ref.load_state_dict(src.state_dict())
    # The reference Xception keeps dilation 1 in the last block at OS16 where timm uses 2.
    for sep in ref.blocks[20].stack:
        sep.conv_dw.dilation, sep.conv_dw.padding = (1, 1), (1, 1)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        low, deep = m.backbone(x)
        feats = ref.forward_intermediates(x, intermediates_only=True)
    # timm taps the low-level feature after the ReLU that opens the next separable conv
    torch.testing.assert_close(torch.relu(low), feats[1], rtol=0, atol=1e-5)
    torch.testing.assert_close(deep, feats[-1], rtol=0, atol=1e-5)


def test_imagenet_uses_the_torch_hub_cache_without_network(tv_mobilenet, tmp_path, monkeypatch):
    tv, path = tv_mobilenet
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / "mobilenet_v2-b0353104.pth").write_bytes(path.read_bytes())

    def no_network(*a, **k):
        raise AssertionError("a cached file must not touch the network")

    monkeypatch.setattr(_pretrained, "is_online", no_network)
    m = build_model("deeplabv3plus-mobilenetv2", pretrained=True)  # True means "imagenet"
    torch.testing.assert_close(m.backbone.features[5].conv[3].weight, tv.features[5].conv[1][0].weight)
    assert m.segkit_spec["pretrained"] == "imagenet"


def test_hub_urls_are_read_from_the_hf_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(_pretrained, "is_online", lambda *a, **k: False)
    url = _pretrained.IMAGENET_URLS["xception"]
    folder, name = _pretrained.cache_target(url)
    assert folder == tmp_path / "hf" / "models--timm--xception65.tf_in1k" / "snapshots" / "main"
    folder.mkdir(parents=True)
    (folder / name).write_bytes(b"x")
    assert _pretrained.fetch(url) == folder / name


@pytest.mark.parametrize("backbone,file,folder", [
    ("mobilenetv2", "mobilenet_v2-b0353104.pth", "hub/checkpoints"),
    ("xception", "model.safetensors", "models--timm--xception65.tf_in1k/snapshots/main"),
])
def test_offline_imagenet_fails_at_once_naming_file_folder_and_path(backbone, file, folder, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(_pretrained, "is_online", lambda *a, **k: False)
    t0 = time.perf_counter()
    with pytest.raises(_pretrained.PretrainedOfflineError) as err:
        build_model("deeplabv3plus", backbone=backbone, pretrained="imagenet")
    assert time.perf_counter() - t0 < 10
    msg = str(err.value)
    assert file in msg and str(tmp_path / folder) in msg and "pretrained=PATH" in msg


def test_hf_hub_offline_env_and_timm_backbones(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # huggingface_hub's own switch: no connection is tried at all
    with pytest.raises(_pretrained.PretrainedOfflineError, match="model.safetensors.*resnet18"):
        build_model("deeplabv3plus", backbone="timm:resnet18", pretrained="imagenet")


def test_connectivity_check_is_quick_on_an_unreachable_host(monkeypatch):
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    t0 = time.perf_counter()
    assert not _pretrained.is_online("https://192.0.2.1/weights.pth", timeout=1.0)  # TEST-NET-1, never routed
    assert time.perf_counter() - t0 < 3


def test_no_silent_partial_load(tv_mobilenet, tmp_path):
    tv, path = tv_mobilenet
    sd = torch.load(path, weights_only=True)
    # another network's weights: an error naming the expected layout and what was found
    torch.save({"layer1.0.conv1.weight": torch.zeros(64, 64, 3, 3), "fc.weight": torch.zeros(10, 512)},
               tmp_path / "resnet.pth")
    with pytest.raises(PartialLoadError, match=r"0/255 .*torchvision mobilenet_v2.*found 2 tensors.*layer1"):
        build_model("deeplabv3plus-mobilenetv2", pretrained=str(tmp_path / "resnet.pth"))
    # 90 % of the backbone: still an error; with pretrained_partial a loud warning with the counts
    keep = dict(list(sd.items())[: int(len(sd) * 0.9)])
    torch.save(keep, tmp_path / "cut.pth")
    with pytest.raises(PartialLoadError, match="need 95%"):
        build_model("deeplabv3plus-mobilenetv2", pretrained=str(tmp_path / "cut.pth"))
    with pytest.warns(UserWarning, match=r"PARTIAL LOAD: .* only 2\d\d/255"):
        m = build_model("deeplabv3plus-mobilenetv2", pretrained=str(tmp_path / "cut.pth"), pretrained_partial=True)
    torch.testing.assert_close(m.backbone.features[0][0].weight, tv.features[0][0].weight)


def test_timm_backbone_file_is_judged_before_timm_loads_it(tmp_path):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    src = timm.create_model("resnet18", pretrained=False)
    torch.save(src.state_dict(), tmp_path / "r18.pth")
    m = build_model("deeplabv3plus", backbone="timm:resnet18", pretrained=str(tmp_path / "r18.pth"))
    torch.testing.assert_close(m.backbone.model.layer3[0].conv1.weight, src.layer3[0].conv1.weight)
    torch.save({"foo.weight": torch.zeros(3)}, tmp_path / "bad.pth")
    with pytest.raises(PartialLoadError, match="timm resnet18"):
        build_model("deeplabv3plus", backbone="timm:resnet18", pretrained=str(tmp_path / "bad.pth"))


def test_reference_full_checkpoint_still_loads_every_tensor():
    torch.manual_seed(0)
    src = _random_bn_stats(build_model("deeplabv3plus-mobilenetv2"))
    dst = build_model("deeplabv3plus-mobilenetv2").eval()
    report = load_weights(dst, {"state_dict": src.state_dict()}["state_dict"], verbose=False)
    assert not (report.missing or report.skipped or report.unexpected) and report.coverage == 1.0
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(dst(x), src(x), rtol=0, atol=0)


class _Grab(Callback):
    def on_train_start(self, state) -> None:
        self.weight = state.model.backbone.features[2].conv[0].weight.detach().clone()
        self.head = state.model.cat_conv[1].weight.detach().clone()


def test_training_starts_from_the_pretrained_file(tv_mobilenet, synthetic_root, tmp_path):
    tv, path = tv_mobilenet
    cfg = TrainConfig.profile("quick", model="deeplabv3plus-mobilenetv2", pretrained=str(path), init_type="normal", UnFreeze_Epoch=1, input_shape=[64, 64], num_workers=0,
                              Unfreeze_batch_size=4, max_train_batches=1, max_val_images=2)
    grab = _Grab()
    run = train(None, cfg, synthetic_root, tmp_path / "run", device="cpu", callbacks=[grab], progress=False,
                verbose=False)
    torch.testing.assert_close(grab.weight, tv.features[2].conv[0][0].weight)
    # weights_init was skipped (it would draw BN weights ~ N(1, 0.02)); the head keeps PyTorch's init
    assert torch.equal(grab.head, torch.ones_like(grab.head))
    import yaml

    spec = yaml.safe_load((run / "config.yaml").read_text())["model"]
    assert spec["pretrained"] == str(path) and spec["name"] == "deeplabv3plus-mobilenetv2"


def test_cli_train_offline_fails_within_seconds(synthetic_root, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "TORCH_HOME": str(tmp_path / "torch"),
           "HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}  # a refused port: offline
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "segkit.cli", "train", "--data-root", str(synthetic_root),
                          "--run-dir", str(tmp_path / "run"), "--epochs", "1", "--model", "deeplabv3plus-mobilenetv2",
                          "--pretrained", "imagenet",
                          "--no-progress", "--set", "num_workers=0"],
                         env=env, capture_output=True, text=True, timeout=120)
    took = time.perf_counter() - t0
    assert res.returncode != 0
    assert "mobilenet_v2-b0353104.pth" in res.stderr and "pretrained=PATH" in res.stderr, res.stderr[-2000:]
    assert took < 60  # the interpreter and torch import dominate; the check itself is one refused connect


def test_pretrained_with_a_model_that_loads_none_names_the_fix():
    from segkit.training.build import build_run_model

    cfg = TrainConfig.profile("quick", model="fc-hardnet-70", pretrained="imagenet")
    with pytest.raises(ValueError, match=r"'fc-hardnet-70' loads no pretrained weights; name one that does with --model"):
        build_run_model(None, cfg, num_classes=3)
