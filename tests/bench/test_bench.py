"""segkit.bench: params, FLOPs (hand formulas), latency/FPS protocols, modes, JSON output."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn

from segkit import bench


class TinySeg(nn.Module):
    """conv-BN-ReLU x2 + 1x1 classifier; logits at the input size."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
            nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
        )
        self.cls = nn.Conv2d(8, num_classes, 1)

    def forward(self, x):
        return self.cls(self.features(x))


def _randomize_bn(model: nn.Module) -> nn.Module:
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model


# ----------------------------------------------------------------------------- FLOPs and params


@pytest.mark.parametrize("stride,groups,cin,cout", [(1, 1, 3, 8), (2, 1, 4, 6), (1, 4, 4, 8)])
def test_conv_flops_equal_hand_formula(stride, groups, cin, cout):
    k, h, w = 3, 17, 20
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=1, groups=groups, bias=True)
    ho, wo = (h + 2 - k) // stride + 1, (w + 2 - k) // stride + 1
    macs = cout * (cin // groups) * k * k * ho * wo  # bias adds are not counted
    flops, by_child, dev = bench.count_flops(conv, (1, cin, h, w))
    assert flops == 2 * macs
    r = bench.profile(conv, (1, cin, h, w), timing=False)
    assert r.flops == 2 * macs and r.macs == macs
    assert r.gflops == pytest.approx(2 * macs / 1e9) and r.gmacs == pytest.approx(macs / 1e9)
    assert "2 x MACs" in r.flops_convention


def test_counting_flops_leaves_the_model_as_it_was():
    # counted in place on the model's device (no copy): its flags, weights and statistics stay
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5)).train()
    m[1].eval()  # a frozen BatchNorm inside a training model
    before = {k: v.clone() for k, v in m.state_dict().items()}
    flops, _, dev = bench.count_flops(m, (1, 3, 8, 8), device="cpu")
    assert dev == "cpu" and flops == 2 * 4 * 3 * 9 * 6 * 6
    assert [mod.training for mod in m] == [True, False, True] and torch.is_grad_enabled()
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    assert next(m.parameters()).device.type == "cpu"
    flops_meta, _, dev = bench.count_flops(m, (1, 3, 8, 8), device="meta")  # a copy on meta tensors
    assert (dev, flops_meta) == ("meta", flops) and next(m.parameters()).device.type == "cpu"


def test_linear_flops_equal_hand_formula():
    class Tok(nn.Module):  # (B, N, D) tokens through a Linear, as in window attention
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(12, 5)

        def forward(self, x):
            return self.fc(x.flatten(2).transpose(1, 2))

    b, n = 2, 7 * 9
    flops, by_child, _ = bench.count_flops(Tok(), (b, 12, 7, 9))
    assert flops == 2 * b * n * 12 * 5
    assert by_child == {"fc": 2 * b * n * 12 * 5}


def test_flops_breakdown_by_child_and_meta_fallback():
    class DataDependent(nn.Module):  # .item() cannot run on meta tensors -> CPU fallback
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 4, 1, bias=False)
            self.b = nn.Conv2d(4, 2, 1, bias=False)

        def forward(self, x):
            y = self.a(x)
            return self.b(y) * (1.0 if y.sum().item() > -1e9 else 0.0)

    flops, by_child, dev = bench.count_flops(DataDependent(), (1, 3, 8, 8), device="meta")
    assert dev == "cpu"
    assert by_child == {"a": 2 * 3 * 4 * 64, "b": 2 * 4 * 2 * 64}
    assert flops == sum(by_child.values())


def test_params_equal_sum_numel_and_paper_rounding():
    m = TinySeg()
    for p in m.features[0].parameters():
        p.requires_grad_(False)
    r = bench.profile(m, (1, 3, 16, 16), timing=False, flops=False)
    assert r.params_total == sum(p.numel() for p in m.parameters())
    assert r.params_trainable == sum(p.numel() for p in m.parameters() if p.requires_grad)
    assert r.params_trainable < r.params_total

    class Big(nn.Module):  # the paper's baseline count, on meta tensors (no memory)
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.empty(5_813_523, device="meta"))

    r = bench.profile(Big(), timing=False, flops=False)
    assert r.params_m == 5.81 and r.params_trainable == 5_813_523


# ----------------------------------------------------------------------------- timing


@pytest.mark.parametrize("protocol", ["median", "reference"])
def test_fps_positive_and_protocol_recorded(protocol):
    r = bench.profile(TinySeg(), (1, 3, 32, 32), runs=4, warmup=1, protocol=protocol)
    lat = r.latency
    assert r.fps > 0 and lat.runs == 4 and lat.warmup == 1 and len(lat.samples_ms) == 4
    assert r.protocol["name"] == protocol and r.protocol["runs"] == 4
    assert r.protocol["timed"] == "forward + softmax + argmax"
    center = lat.median_ms if protocol == "median" else lat.mean_ms
    assert lat.fps_statistic == ("median" if protocol == "median" else "mean")
    assert r.fps == pytest.approx(1e3 / center)
    assert lat.min_ms <= lat.median_ms <= lat.p90_ms <= lat.max_ms
    assert r.memory["kind"] == "cpu_rss_delta"
    assert r.env["torch_threads"] == torch.get_num_threads() and r.env["dtype"] == "torch.float32"
    if protocol == "reference":
        assert "runs=4" in r.notes[0]  # deviation from the 1 + 100 protocol is stated
        assert "FPS, @batch_size 1" in r.summary()


def test_protocol_defaults_and_validation():
    r = bench.profile(nn.Conv2d(3, 2, 1), (1, 3, 8, 8), protocol="reference", flops=False)
    assert (r.latency.warmup, r.latency.runs) == (1, 100) and not r.notes
    with pytest.raises(ValueError, match="protocol"):
        bench.profile(TinySeg(), (1, 3, 8, 8), protocol="fastest")
    with pytest.raises(ValueError, match="input_shape"):
        bench.profile(TinySeg(), (3, 8, 8))
    with pytest.raises(ValueError, match="mode"):
        bench.profile(TinySeg(), (1, 3, 8, 8), modes=("tensorrt",))


def test_training_flag_restored_and_deep_supervision_output():
    class DS(TinySeg):
        def forward(self, x):
            y = super().forward(x)
            return [y, y * 0.5] if self.training else y

    m = DS().train()
    r = bench.profile(m, (1, 3, 16, 16), runs=2, warmup=0)
    assert m.training and r.fps > 0


def test_modes_are_separate_columns_and_failures_are_reported():
    m = _randomize_bn(TinySeg())
    r = bench.profile(m, (1, 3, 32, 32), runs=2, warmup=1, modes=("channels_last", "bn_fold", "bf16", "onnxruntime"))
    assert r.modes["eager"].latency is r.latency  # the headline FPS is the eager one
    for name in ("channels_last", "bn_fold", "onnxruntime"):
        mode = r.modes[name]
        assert mode.available, mode.reason
        assert mode.max_abs_diff < 1e-4, (name, mode.max_abs_diff)
        assert mode.latency.fps > 0
    assert r.modes["bn_fold"].extra["folded"] == 2
    assert r.modes["bf16"].available and r.modes["bf16"].max_abs_diff < 0.5
    row = r.row()
    assert {"FPS", "FPS (channels_last)", "FPS (bn_fold)", "FPS (onnxruntime)"} <= set(row)
    # a mode that cannot apply is a result with a reason, not a crash
    r2 = bench.profile(nn.Sequential(nn.Conv2d(3, 2, 1)), (1, 3, 8, 8), runs=1, warmup=0, modes=("bn_fold",))
    assert not r2.modes["bn_fold"].available and "BatchNorm" in r2.modes["bn_fold"].reason
    assert r2.row()["FPS (bn_fold)"] is None and r2.fps > 0


def test_fold_batchnorm_fx_and_sequential_fallback():
    m = _randomize_bn(TinySeg()).eval()
    x = torch.rand(2, 3, 16, 16)
    folded, n, method = bench.fold_batchnorm(m)
    assert (n, method) == (2, "torch.fx")
    torch.testing.assert_close(folded(x), m(x), atol=1e-5, rtol=1e-4)

    class Untraceable(TinySeg):  # data-dependent control flow defeats torch.fx
        def forward(self, x):
            y = self.features(x)
            return self.cls(y) if y.sum() > -1e9 else y

    u = _randomize_bn(Untraceable()).eval()
    folded, n, method = bench.fold_batchnorm(u)
    assert (n, method) == (2, "sequential")
    assert not any(isinstance(mod, nn.BatchNorm2d) for mod in folded.modules())
    torch.testing.assert_close(folded(x), u(x), atol=1e-5, rtol=1e-4)
    assert any(isinstance(mod, nn.BatchNorm2d) for mod in u.modules())  # the original is untouched


# ----------------------------------------------------------------------------- outputs


def test_save_load_roundtrip_and_run_dir(tmp_path):
    r = bench.profile(TinySeg(), (1, 3, 16, 16), runs=2, warmup=0, modes=("channels_last",), name="tiny")
    path = r.save(tmp_path / "b.json")
    d = json.loads(path.read_text())
    assert d["model"] == "tiny" and d["input_shape"] == [1, 3, 16, 16] and d["protocol"]["name"] == "median"
    back = bench.load_bench(path)
    assert back.to_dict() == r.to_dict()
    assert back.modes["channels_last"].fps == r.modes["channels_last"].fps

    run = tmp_path / "runs" / "exp" / "tiny"
    run.mkdir(parents=True)
    out = bench.write_run_bench(run, TinySeg(), (1, 3, 16, 16), runs=2, warmup=0)
    assert out == run / "bench.json" and bench.load_bench(out).model == "tiny"
    with pytest.raises(FileNotFoundError, match="run_dir"):
        bench.write_run_bench(tmp_path / "missing", TinySeg(), (1, 3, 16, 16))


def test_profile_interleaved_splits_the_runs_into_rounds():
    small = nn.Conv2d(3, 3, 3, padding=1)
    big = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.Conv2d(64, 3, 3, padding=1))
    big.train()
    calls: list[str] = []
    hooks = [m.register_forward_hook(lambda *_, n=n: calls.append(n)) for n, m in (("s", small), ("b", big))]
    res = bench.profile_interleaved({"small": small, "big": big}, (1, 3, 32, 32), runs=7, warmup=1, rounds=3,
                                    flops=False)
    for h in hooks:
        h.remove()
    assert set(res) == {"small", "big"} and big.training  # training flag restored
    for name, r in res.items():
        assert r.model == name and r.latency.runs == 7 and len(r.latency.samples_ms) == 7
        assert r.modes["eager"].latency is r.latency and r.protocol["runs"] == 7
        assert r.protocol["interleaved"].startswith("3 round(s)") and r.fps > 0
    # round 1: small (1 warm-up + 3 runs), then big; later rounds alternate (1 warm-up + 2 runs each)
    assert "".join(calls) == "s" * 4 + "b" * 4 + "s" * 3 + "b" * 3 + "s" * 3 + "b" * 3
    assert res["small"].fps > res["big"].fps
    with pytest.raises(ValueError, match="runs >= rounds"):
        bench.profile_interleaved({"small": small}, (1, 3, 8, 8), runs=2, rounds=3)
    with pytest.raises(ValueError, match="eager model only"):
        bench.profile_interleaved({"small": small}, (1, 3, 8, 8), modes=("bn_fold",))


def test_profile_many_dataframe():
    df = bench.profile_many({"a": TinySeg(), "b": nn.Conv2d(3, 3, 1)}, (1, 3, 16, 16), runs=2, warmup=0)
    assert list(df["model"]) == ["a", "b"]
    assert {"Params (M)", "GFLOPs", "FPS", "latency median (ms)", "latency p90 (ms)", "device", "protocol"} <= set(df)
    assert (df["FPS"] > 0).all() and len(df.attrs["results"]) == 2
    bad = bench.profile_many({"ok": TinySeg(), "no-such-model": "no-such-model"}, (1, 3, 16, 16), runs=1,
                             warmup=0, errors="record")
    assert "unknown model 'no-such-model'" in bad.loc[1, "error"]


# ----------------------------------------------------------------------------- every registered model


@pytest.mark.slow
@pytest.mark.parametrize("name,params,gflops", [
    ("deeplabv3plus-mobilenetv2", 5_813_523, 52.47),
    ("improved-mobilenetv2", 5_842_770, 52.50),
    ("deeplabv3plus-mobilenetv2-msa-aspp", 12_579_075, 66.27),
])
def test_paper_table_params_and_gflops_at_512(name, params, gflops):
    """The paper's counts (docs/models.md) at 1x3x512x512, num_classes=3 (FLOPs on meta tensors, no compute)."""
    from segkit.models import build_model

    r = bench.profile(build_model(name, num_classes=3), (1, 3, 512, 512), timing=False)
    assert r.params_trainable == params and r.params_m == round(params / 1e6, 2)
    assert round(r.gflops, 2) == gflops and r.env["flops_device"] == "meta"
    assert sum(r.flops_by_module.values()) == r.flops


# ----------------------------------------------------------------------------- CLI


def test_cli_bench_writes_a_table(tmp_path, capsys):
    import pandas as pd

    from segkit.commands import bench as _bench_cli
    from segkit.cli import main

    assert _bench_cli._MODES == bench.MODES and _bench_cli._PROTOCOLS == bench.PROTOCOLS
    csv = tmp_path / "t.csv"
    assert main(["bench", "deeplabv3plus-mobilenetv2", "--size", "64", "--runs", "1", "--warmup", "0",
                 "--modes", "bn_fold", "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "5.81 M trainable (5,813,523" in out and "mode bn_fold" in out
    df = pd.read_csv(csv)
    assert df.loc[0, "Params (M)"] == 5.81 and df.loc[0, "input"] == "1x3x64x64" and df.loc[0, "FPS"] > 0
    assert main(["bench", "no-such-model", "--no-timing"]) == 1  # a clear one-line error
    assert "unknown model" in capsys.readouterr().err
