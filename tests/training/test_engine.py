"""Training engine: run directory, resume, faults, evaluation, prediction, export, CLI.

Most tests train `TinyNet` (tests/tiny_training.py: a 2-conv network, ~1k parameters) for 2 epochs on the
24-image 64x64 synthetic set; one CLI test trains the real baseline preset.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from segkit.data import VOCSegmentation, letterbox
from segkit.engine import (
    Callback,
    EpochLR,
    NonFiniteLossError,
    TrainConfig,
    evaluate,
    export_onnx,
    fit_lr,
    load_run,
    overlay,
    predict,
    train,
)
from segkit.engine.checkpoint import atomic_save, load_checkpoint
from segkit.data import voc_palette
from segkit.metrics import not_learned

from tiny_training import StopAfter, TinyNet, equal_state, run_tiny, tiny_cfg, tiny_model


@pytest.fixture(scope="module")
def reference_run(synthetic_root, tmp_path_factory) -> Path:
    """One uninterrupted 2-epoch TinyNet run shared by several tests."""
    return run_tiny(synthetic_root, tmp_path_factory.mktemp("engine") / "ref")


# ----------------------------------------------------------------------------- run directory


def test_run_directory_is_complete_and_consistent(reference_run, synthetic_root):
    run = reference_run
    for name in ("config.yaml", "history.csv", "metrics.json", "confusion_matrix.csv"):
        assert (run / name).is_file(), name
    ck = run / "checkpoints"
    assert sorted(p.name for p in ck.iterdir()) == ["best.pt", "best_loss.pt", "ep001.pt", "ep002.pt", "last.pt"]
    for p in ck.iterdir():  # every checkpoint is weights_only-loadable
        torch.load(p, map_location="cpu", weights_only=True)

    model, config, hist, metrics = load_run(run, model=TinyNet())
    assert config["segkit_version"] and config["torch_version"] == str(torch.__version__)
    assert config["data"]["num_classes"] == 3 and config["train"]["UnFreeze_Epoch"] == 2
    assert config["model"]["class"].endswith("TinyNet")
    assert list(hist["epoch"]) == [1, 2]
    for col in ("lr", "train_loss", "val_loss", "f_score", "miou", "mpa", "accuracy", "f1", "time"):
        assert hist[col].notna().all(), col
    assert ((0 <= hist["data_wait"]) & (hist["data_wait"] < hist["time"])).all()  # the loader's share of the epoch
    assert config["backend"] is None  # one plain process: no process group
    # lr column = the reference schedule at the batch-size-scaled rates
    lr, min_lr = fit_lr(0.1, 0.1 * 0.01, 4, "sgd")
    assert list(hist["lr"]) == [EpochLR("cos", lr, min_lr, 2)(e) for e in (0, 1)]

    # best.pt = best val mIoU; metrics.json is its evaluation; best_loss.pt = lowest val loss
    best_epoch = int(hist.loc[hist["miou"] == hist["miou"].max(), "epoch"].max())
    assert metrics["epoch"] == best_epoch
    assert metrics["miou"] == hist.loc[hist["epoch"] == best_epoch, "miou"].item()
    assert load_checkpoint(ck / "best_loss.pt")["epoch"] == int(hist.loc[hist["val_loss"].idxmin(), "epoch"])
    cm = pd.read_csv(run / "confusion_matrix.csv", index_col=0)
    assert list(cm.index) == list(cm.columns) == ["background", "corrosion", "broken_wire"]
    assert cm.values.tolist() == metrics["confusion_matrix"]
    assert set(metrics["per_class"]) == {"background", "corrosion", "broken_wire"}

    # best.pt reloaded with weights_only reproduces the recorded val mIoU exactly
    state = torch.load(ck / "best.pt", map_location="cpu", weights_only=True)
    fresh = TinyNet()
    fresh.load_state_dict(state["model"])
    val = VOCSegmentation(synthetic_root, split="val", input_shape=(64, 64))
    m = evaluate(fresh, val, device="cpu", progress=False)
    assert m.miou == metrics["miou"]
    assert m.hist.tolist() == metrics["confusion_matrix"]


def test_existing_run_needs_resume(reference_run, synthetic_root):
    with pytest.raises(ValueError, match="resume=True"):
        run_tiny(synthetic_root, reference_run)


# ----------------------------------------------------------------------------- resume and faults


def test_resume_after_crash_reaches_identical_weights(reference_run, synthetic_root, tmp_path):
    run = tmp_path / "crash"
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_tiny(synthetic_root, run, callbacks=[StopAfter(epoch=0)])
    assert load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 1
    run_tiny(synthetic_root, run, resume=True)
    a = load_checkpoint(reference_run / "checkpoints" / "last.pt")
    b = load_checkpoint(run / "checkpoints" / "last.pt")
    assert equal_state(a["model"], b["model"])
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    assert all(torch.equal(a["optimizer"]["state"][k]["momentum_buffer"], b["optimizer"]["state"][k]["momentum_buffer"])
               for k in a["optimizer"]["state"])
    ha, hb = load_run(reference_run, model=TinyNet()).history, load_run(run, model=TinyNet()).history
    pd.testing.assert_frame_equal(ha.drop(columns=["time", "data_wait"]), hb.drop(columns=["time", "data_wait"]))


def test_ctrl_c_mid_epoch_saves_and_resumes(reference_run, synthetic_root, tmp_path):
    run = tmp_path / "ctrlc"
    with pytest.raises(KeyboardInterrupt):
        run_tiny(synthetic_root, run, callbacks=[StopAfter(epoch=1, step=2, exc=KeyboardInterrupt)])
    last = load_checkpoint(run / "checkpoints" / "last.pt")
    assert last["epoch"] == 1 and last["interrupted"]["step"] == 2
    run_tiny(synthetic_root, run, resume=True)
    a = load_checkpoint(reference_run / "checkpoints" / "last.pt")
    b = load_checkpoint(run / "checkpoints" / "last.pt")
    assert b["epoch"] == 2 and b["interrupted"] is None
    assert equal_state(a["model"], b["model"])  # the rest of the epoch ran on the same batches and RNG


def test_sigkill_mid_epoch_loses_only_that_epoch_and_resumes_identically(reference_run, synthetic_root, tmp_path):
    """A real SIGKILL (no handler runs) in the middle of epoch 2: epoch 1 survives in last.pt."""
    import signal
    import subprocess
    import sys
    import time

    run, marker = tmp_path / "killed", tmp_path / "mid_epoch_2"
    script = f"""
import pathlib, sys, time
import torch
torch.set_num_threads({torch.get_num_threads()})  # the reference run's float order
sys.path.insert(0, {str(Path(__file__).parents[1])!r})
from tiny_training import run_tiny
from segkit.engine.trainer import Callback

class Hang(Callback):
    def on_step_end(self, state):
        if state.epoch == 1 and state.step == 2:
            pathlib.Path({str(marker)!r}).touch()
            time.sleep(120)

run_tiny(pathlib.Path({str(synthetic_root)!r}), pathlib.Path({str(run)!r}), callbacks=[Hang()])
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert proc.poll() is None, f"the training process exited early ({proc.returncode})"
            assert time.monotonic() < deadline, "the training process never reached epoch 2"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (run / "metrics.json").exists()
    assert load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 1  # only epoch 2 was lost
    run_tiny(synthetic_root, run, resume=True)
    a = load_checkpoint(reference_run / "checkpoints" / "last.pt")
    b = load_checkpoint(run / "checkpoints" / "last.pt")
    assert b["epoch"] == 2 and equal_state(a["model"], b["model"])
    assert len(pd.read_csv(run / "history.csv")) == 2 and not list(run.rglob(".*.tmp-*"))


def test_sigint_mid_step_takes_effect_at_the_step_boundary_and_resumes_identically(reference_run, synthetic_root,
                                                                                   tmp_path):
    """A real SIGINT arriving inside a forward pass (the 4th step of epoch 2): the step completes, last.pt holds
    exactly 3 steps of epoch 2 (no BatchNorm update or half optimiser step beyond them), and the resumed run
    equals an uninterrupted one."""
    import subprocess
    import sys

    run = tmp_path / "sigint"
    script = f"""
import os, pathlib, signal, sys
import torch
torch.set_num_threads({torch.get_num_threads()})
sys.path.insert(0, {str(Path(__file__).parents[1])!r})
from tiny_training import tiny_cfg, tiny_model
from segkit.engine import Callback, train

armed = {{"on": False}}

class Arm(Callback):
    def on_step_end(self, state):
        if state.epoch == 1 and state.step == 3:
            armed["on"] = True

def interrupt_inside_forward(module, inputs):
    if armed["on"] and module.training:
        armed["on"] = False
        os.kill(os.getpid(), signal.SIGINT)

torch.manual_seed(0)
net = tiny_model()
net.backbone.register_forward_pre_hook(interrupt_inside_forward)
train(net, tiny_cfg(), pathlib.Path({str(synthetic_root)!r}), pathlib.Path({str(run)!r}), callbacks=[Arm()],
      progress=False, verbose=False)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240)
    assert proc.returncode != 0 and "KeyboardInterrupt" in proc.stderr
    last = load_checkpoint(run / "checkpoints" / "last.pt")
    assert last["epoch"] == 1 and last["interrupted"]["step"] == 4  # the interrupted step was finished
    run_tiny(synthetic_root, run, resume=True)
    a = load_checkpoint(reference_run / "checkpoints" / "last.pt")
    b = load_checkpoint(run / "checkpoints" / "last.pt")
    assert b["epoch"] == 2 and equal_state(a["model"], b["model"])


class PoisonAt(Callback):
    def on_epoch_start(self, state) -> None:
        if state.epoch == 1:
            with torch.no_grad():
                state.model.head.weight.fill_(float("nan"))


def test_nan_loss_stops_with_message_and_keeps_last_good(synthetic_root, tmp_path):
    run = tmp_path / "nan"
    with pytest.raises(NonFiniteLossError, match=r"epoch 2/2, step 1/5.*last good checkpoint.*Init_lr"):
        run_tiny(synthetic_root, run, callbacks=[PoisonAt()])
    last = load_checkpoint(run / "checkpoints" / "last.pt")
    assert last["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in last["model"].values() if v.is_floating_point())


def test_validation_loss_only_on_evaluated_epochs_when_asked(synthetic_root, tmp_path):
    run = run_tiny(synthetic_root, tmp_path / "r", tiny_cfg(UnFreeze_Epoch=3, eval_period=2, val_loss_every_epoch=False,
                                                             max_train_batches=1))
    h = pd.read_csv(run / "history.csv")
    assert h["val_loss"].isna().tolist() == [True, False, False]  # epochs 2 and 3 (the last) are evaluated
    assert h["miou"].notna().tolist() == [False, True, True]
    best = load_checkpoint(run / "checkpoints" / "best_loss.pt")
    assert best["epoch"] in (2, 3)


def test_atomic_save_survives_a_crash_during_write(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    atomic_save({"format": "x", "w": torch.arange(4)}, path)

    real_save = torch.save

    def crashing_save(obj, f, *a, **k):
        f.write(b"PK\x03\x04 partial bytes of a zip")  # a half-written file
        raise OSError("disk died mid-write")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError, match="mid-write"):
        atomic_save({"format": "x", "w": torch.zeros(4)}, path)
    monkeypatch.setattr(torch, "save", real_save)
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.arange(4))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind
    # a process killed between writing the temp file and the rename leaves only a stray temp file
    (tmp_path / ".last.pt.tmp-99999").write_bytes(b"truncated")
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.arange(4))


def test_freeze_stage_keeps_backbone_fixed(synthetic_root, tmp_path):
    cfg = tiny_cfg(Freeze_Train=True, Freeze_Epoch=1, Freeze_batch_size=4, Unfreeze_batch_size=2,
                   eval_period=5, max_train_batches=3)
    torch.manual_seed(0)
    model = tiny_model()
    seen = {}

    class Grab(Callback):
        def on_epoch_end(self, state) -> None:
            seen[state.epoch] = {k: v.clone() for k, v in state.model.state_dict().items()}

    init = {}

    class GrabInit(Callback):
        def on_train_start(self, state) -> None:
            init.update({k: v.clone() for k, v in state.model.state_dict().items()})

    train(model, cfg, synthetic_root, tmp_path / "freeze", progress=False, verbose=False, callbacks=[GrabInit(), Grab()])
    w = "backbone.0.weight"
    assert torch.equal(seen[0][w], init[w])  # frozen in epoch 1
    assert not torch.equal(seen[0]["head.weight"], init["head.weight"])
    assert not torch.equal(seen[1][w], seen[0][w])  # unfrozen in epoch 2
    hist = load_run(tmp_path / "freeze", model=TinyNet()).history
    assert list(hist["stage"]) == ["freeze", "unfreeze"] and list(hist["batch_size"]) == [4, 2]
    # the schedule is recomputed with the stage's batch size
    assert hist["lr"][0] == EpochLR("cos", *fit_lr(0.1, 0.1 * 0.01, 4, "sgd"), 2)(0)
    assert hist["lr"][1] == EpochLR("cos", *fit_lr(0.1, 0.1 * 0.01, 2, "sgd"), 2)(1)
    assert math.isnan(hist["miou"][0]) and not math.isnan(hist["miou"][1])  # eval_period 5: only the last


# ----------------------------------------------------------------------------- evaluation


class ConstantImageDataset:
    """Non-square originals (letterbox pads them) with a constant grey-50 image and a known mask."""

    num_classes, class_names, input_shape = 3, ["bg", "a", "b"], (64, 64)

    def __init__(self) -> None:
        self.items = []
        for h, w in ((40, 64), (64, 36), (50, 50)):
            mask = np.zeros((h, w), np.int64)
            mask[5:15, 5:20] = 2
            mask[0, :] = 255  # void
            self.items.append((np.full((h, w, 3), 50, np.uint8), mask))

    def __len__(self) -> int:
        return len(self.items)

    def load_original(self, i):
        return self.items[i]


class PaddingDetector(nn.Module):
    """Predicts class 1 on grey letterbox padding (value 128) and class 0 elsewhere."""

    num_classes = 3

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        pad = (x[:, :1] - 128 / 255).abs() < 1e-6  # (B,1,H,W)
        return torch.cat([(~pad).float(), pad.float(), torch.zeros_like(pad, dtype=torch.float)], 1) * 10


def test_evaluate_crops_the_letterbox_and_scores_at_original_size():
    ds = ConstantImageDataset()
    m = evaluate(PaddingDetector(), ds, device="cpu", progress=False)
    hist = m.hist
    assert hist[:, 1].sum() == 0  # no padding leaked into the original-size prediction
    n_bg = sum(int((mask == 0).sum()) for _, mask in ds.items)
    n_b = sum(int((mask == 2).sum()) for _, mask in ds.items)
    assert hist.tolist() == [[n_bg, 0, 0], [0, 0, 0], [n_b, 0, 0]]
    assert m.accuracy == pytest.approx(n_bg / (n_bg + n_b))


def test_evaluate_matches_an_independent_reference_pipeline(reference_run, synthetic_root):
    """segkit's evaluation vs the reference's numpy/cv2 path (letterbox, crop, INTER_LINEAR, argmax)."""
    import cv2

    model, *_ = load_run(reference_run, model=TinyNet())
    val = VOCSegmentation(synthetic_root, split="val", input_shape=(48, 64))  # non-square canvas: real padding
    hist = np.zeros((3, 3), np.int64)
    for i in range(len(val)):
        rgb, mask = val.load_original(i)
        canvas, _ = letterbox(rgb, (48, 64))
        ih, iw = rgb.shape[:2]
        scale = min(64 / iw, 48 / ih)
        nw, nh = int(iw * scale), int(ih * scale)
        with torch.no_grad():
            pr = model(torch.from_numpy(canvas.copy()).permute(2, 0, 1)[None].float() / 255)[0]
        pr = F.softmax(pr.permute(1, 2, 0), dim=-1).numpy()
        pr = pr[(48 - nh) // 2:(48 - nh) // 2 + nh, (64 - nw) // 2:(64 - nw) // 2 + nw]
        pr = cv2.resize(pr, (iw, ih), interpolation=cv2.INTER_LINEAR).argmax(-1)
        keep = (mask >= 0) & (mask < 3)
        hist += np.bincount(3 * mask[keep] + pr[keep], minlength=9).reshape(3, 3)
    m = evaluate(model, val, device="cpu", progress=False)
    assert m.hist.sum() == hist.sum()
    assert np.abs(m.hist - hist).sum() <= 0.002 * hist.sum()  # float resize differences only


# ----------------------------------------------------------------------------- predict and export


def test_predict_overlays_and_frames(reference_run, synthetic_root, tmp_path):
    model, *_ = load_run(reference_run, model=TinyNet())
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    sizes = [(40, 70), (64, 48)]
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / f"im{i}.png")
    res = predict(model, folder, input_shape=(64, 64), device="cpu", out_dir=tmp_path / "out", save_mask=True,
                  progress=False)
    assert [r.name for r in res] == ["im0", "im1"]
    for r, (h, w) in zip(res, sizes):
        assert r.label.shape == (h, w) and r.overlay.shape == (h, w, 3)
        assert Image.open(r.path).size == (w, h)
        assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / f"{r.name}_mask.png")), r.label)
    rgb = np.asarray(Image.open(folder / "im0.png"))
    label = res[0].label
    blend = overlay(rgb, label, "blend")
    want = np.asarray(Image.blend(Image.fromarray(rgb), Image.fromarray(voc_palette()[label]), 0.7))
    assert np.array_equal(blend, want)
    assert np.array_equal(overlay(rgb, label, 1), voc_palette()[label])
    assert np.array_equal(overlay(rgb, label, "cutout"), rgb * (label != 0)[..., None])
    frames = np.stack([rgb, rgb])  # (N,h,w,3) video frames
    fr = predict(model, frames, input_shape=(64, 64), device="cpu", mix_type=2, progress=False)
    assert len(fr) == 2 and np.array_equal(fr[0].label, label)
    with pytest.raises(ValueError, match="mix_type"):
        overlay(rgb, label, 3)


def test_export_onnx_matches_torch(tmp_path):
    res = export_onnx(tiny_model().eval(), tmp_path / "tiny.onnx", input_shape=(64, 64))
    assert Path(res["path"]).is_file() and res["max_abs_diff"] < 1e-4 and res["label_agreement"] > 0.999


# ----------------------------------------------------------------------------- CLI with a registered model


@pytest.mark.slow
def test_cli_train_evaluate_predict_export_the_quick_profiles_model(synthetic_root, tmp_path, capsys):
    from segkit.cli import main

    run = tmp_path / "runs" / "cli" / "default"
    args = ["train", "--data-root", str(synthetic_root), "--run-dir", str(run), "--profile", "quick",
            "--epochs", "1", "--no-progress", "--set", "input_shape=[64, 64]", "--set", "num_workers=0",
            "--set", "Unfreeze_batch_size=4", "--set", "max_train_batches=2"]
    assert main(args) == 0
    model, config, hist, metrics = load_run(run)  # rebuilt from config.yaml by name
    # without --model: the quick profile's cheaper model (docs/rare_classes.md), recorded as trained
    assert config["model"]["name"] == config["train"]["model"] == "fc-hardnet-70" and len(hist) == 1
    assert 0.0 <= metrics["miou"] <= 1.0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--device", "cpu", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"===> mIoU: {round(metrics['miou'] * 100, 2)}" in out
    scored = sum(f"===>{c}:\tIou-nan" not in out for c in metrics["class_names"][1:])  # a class absent and unpredicted has no IoU
    assert f"mean IoU of the {scored} non-background classes" in out and "scored images holding each class" in out
    assert ("warning: not learned" in out) == bool(not_learned(dict(zip(metrics["class_names"][1:],
                                                                            [metrics["per_class"][c]["iou"]
                                                                             for c in metrics["class_names"][1:]]))))
    img = next((Path(synthetic_root) / "JPEGImages").iterdir())
    assert main(["predict", str(run), str(img), "--out", str(tmp_path / "pred"), "--device", "cpu",
                 "--mix-type", "cutout", "--no-progress"]) == 0
    assert (tmp_path / "pred" / f"{img.stem}.png").is_file()
    assert "[segkit] precision" in capsys.readouterr().out  # the resolved choice is printed
    assert main(["export-onnx", str(run), "--out", str(tmp_path / "m.onnx")]) == 0
    assert json.loads(capsys.readouterr().out)["max_abs_diff"] < 1e-3
    assert main(["train", "--data-root", str(synthetic_root), "--run-dir", str(run), "--set", "init_lr=1"]) == 1
    assert "Init_lr" in capsys.readouterr().err


def test_runtime_options_bf16_clip_channels_last_adamw(synthetic_root, tmp_path, capsys):
    from segkit.engine import resolve_device

    cfg = tiny_cfg(UnFreeze_Epoch=1, precision="fp16", grad_clip=1.0, channels_last=True, optimizer_type="adamw",
                   Init_lr=5e-4, weight_decay=0.0, lr_decay_type="step", max_train_batches=2, max_val_images=1,
                   device="auto")
    torch.manual_seed(0)
    train(tiny_model(), cfg, synthetic_root, tmp_path / "opts", progress=False, verbose=True)
    out = capsys.readouterr().out
    if resolve_device("auto").type == "cpu":
        assert "using bfloat16 autocast" in out  # fp16 needs CUDA: CPU falls back to bf16
    hist = load_run(tmp_path / "opts", model=TinyNet()).history
    assert np.isfinite(hist[["train_loss", "val_loss", "miou"]].values).all()
    assert hist["lr"][0] == fit_lr(5e-4, 5e-6, 4, "adamw")[0]  # step schedule, epoch 0
    assert json.loads((tmp_path / "opts" / "metrics.json").read_text())["num_images"] == 1


def test_auto_class_weights_from_the_masks(synthetic_root, tmp_path):
    from segkit.engine.trainer import auto_class_weights

    ds = VOCSegmentation(synthetic_root, "train", input_shape=(64, 64))
    counts = np.zeros(3)
    for p in ds.mask_paths:
        m = np.array(Image.open(p))
        counts += np.bincount(m[m < 3].ravel(), minlength=3)[:3]
    w = auto_class_weights(ds, 3)
    assert w == pytest.approx(list(np.minimum((counts.max() / counts) ** 0.25, 10.0)))
    assert w[0] == 1.0 and w[1] > 1 and w[2] > 1
    # any class count: the resolved weights are what config.yaml records
    run = run_tiny(synthetic_root, tmp_path / "auto", tiny_cfg(cls_weights="auto", UnFreeze_Epoch=1))
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["train"]["cls_weights"] == pytest.approx(w)
    with pytest.raises(ValueError, match="'auto'"):
        TrainConfig(cls_weights="balanced")
