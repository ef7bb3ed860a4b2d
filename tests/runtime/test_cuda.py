"""The GPU path on a real GPU: precision "auto", fp16 + GradScaler, channels_last, evaluation,
resume, benchmarks and Grad-CAM on CUDA. Marked `cuda`: skipped where no GPU is visible (CI),
run by ``benchmarks/gpu_check.py`` on a GPU machine."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from segkit import bench, cam
from segkit.data import VOCSegmentation
from segkit.engine import TrainConfig, evaluate, load_run, train
from segkit.engine.checkpoint import load_checkpoint
from segkit.engine.precision import resolve_precision
from segkit.models import build_model

pytestmark = pytest.mark.cuda

MODEL = "deeplabv3plus-mobilenetv2"


def tiny_cfg(**kw) -> TrainConfig:
    return TrainConfig.profile("quick").replace(
        model=MODEL, UnFreeze_Epoch=2, input_shape=[64, 64], Unfreeze_batch_size=4, num_workers=2,
        max_train_batches=3, max_val_images=4, eval_period=1, device="cuda",
        cudnn_benchmark=False, **kw)  # no autotuning: seconds per new shape, nothing to gain in 3 steps


def run(root, run_dir, cfg, **kw):
    torch.manual_seed(0)
    return train(None, cfg, root, run_dir, progress=False, verbose=False, **kw)


def test_auto_picks_the_gpus_fast_precision():
    net = build_model(MODEL, num_classes=3)
    prec = resolve_precision("auto", "auto", "cuda", net)
    native_bf16 = torch.cuda.get_device_capability()[0] >= 8
    assert prec.name == ("bf16" if native_bf16 else "fp16")
    assert prec.scaler == (not native_bf16) and prec.channels_last and prec.device_type == "cuda"


@pytest.mark.parametrize("precision", ["fp32", "auto", "fp16"])
def test_training_on_the_gpu(synthetic_root, tmp_path, precision):
    rd = run(synthetic_root, tmp_path / precision, tiny_cfg(precision=precision))
    r = load_run(rd, device="cuda")
    assert r.config["device"].startswith("cuda")
    assert np.isfinite(r.history["train_loss"]).all() and (r.history["data_wait"] >= 0).all()
    last = load_checkpoint(rd / "checkpoints" / "last.pt")
    assert (last["scaler"] is not None) == (r.config["precision"]["grad_scaler"])  # fp16: the scaler is kept
    if precision == "fp16":
        assert r.config["precision"]["grad_scaler"] and last["scaler"]["scale"] > 0
    assert 0 <= r.metrics["miou"] <= 1


def test_gpu_evaluation_matches_the_cpu(synthetic_root):
    torch.manual_seed(0)
    net = build_model(MODEL, num_classes=3).eval()
    val = VOCSegmentation(synthetic_root, split="val", input_shape=(64, 64))
    gpu = evaluate(net, val, device="cuda", precision="fp32", progress=False).hist
    cpu = evaluate(net.cpu(), val, device="cpu", precision="fp32", progress=False).hist
    assert gpu.sum() == cpu.sum()
    # TF32 convolutions may flip a pixel whose two best logits tie to a few 1e-4; nothing more
    assert np.abs(np.asarray(gpu, dtype=np.int64) - np.asarray(cpu, dtype=np.int64)).sum() <= 0.002 * cpu.sum()


def test_resume_on_the_gpu_continues_the_run(synthetic_root, tmp_path):
    cfg = tiny_cfg(precision="fp16")
    whole = run(synthetic_root, tmp_path / "whole", cfg)

    class Crash:
        def on_epoch_end(self, state):
            raise RuntimeError("simulated crash")

    part = tmp_path / "part"
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(synthetic_root, part, cfg, callbacks=[Crash()])
    run(synthetic_root, part, cfg, resume=True)
    a, b = (load_checkpoint(r / "checkpoints" / "last.pt") for r in (whole, part))
    assert a["scaler"] == b["scaler"]  # the GradScaler's scale and growth tracker came back
    for k, v in a["model"].items():
        if v.is_floating_point():
            torch.testing.assert_close(b["model"][k], v, rtol=1e-3, atol=1e-4, msg=k)


def test_benchmark_on_the_gpu():
    net = build_model(MODEL, num_classes=3)
    r = bench.profile(net, (1, 3, 128, 128), "cuda", runs=5, warmup=2, modes=("eager", "auto"))
    assert r.device.startswith("cuda") and r.fps > 0
    assert r.memory["kind"] == "cuda_max_allocated" and r.memory["peak_mb"] > 0
    assert r.modes["auto"].fps > 0


def test_gradcam_on_the_gpu():
    torch.manual_seed(0)
    net = build_model(MODEL, num_classes=3).cuda().eval()
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    res = cam.gradcam(net, image, classes=[1, 2])
    assert res.heatmaps.shape == (2, 64, 64) and np.isfinite(res.heatmaps).all()
