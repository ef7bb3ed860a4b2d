"""Training options as TrainConfig keys: LR warm-up, an EMA of the weights, early stopping.

Known answers: the warm-up rates by hand, the EMA after two steps by hand, the stopping
epoch of a scripted val-mIoU sequence; and an EMA run resumed after Ctrl-C equals the
uninterrupted one bit for bit (weights, EMA state, best.pt, history).
"""
from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
import torch.nn as nn

from segkit.engine import EpochLR, TrainConfig, load_run
from segkit.engine.checkpoint import load_checkpoint
from segkit.engine.early_stop import early_stop_wait, evaluations_since_best
from segkit.engine.ema import make_ema
from segkit.engine.hooks import Callback
from segkit.engine.loop import Trainer
from cli_run import cli
from tiny_training import StopAfter, TinyNet, equal_state, run_tiny, tiny_cfg


# ----------------------------------------------------------------------------- warm-up
def test_warmup_epochs_and_start_ratio_give_the_hand_computed_rates():
    s = EpochLR("cos", 1.0, 0.01, 10, warmup_lr_ratio=0.5, warmup_epochs=2)
    # (lr - lr0) * (e / warm) ** 2 + lr0 with lr0 = 0.5
    assert [s(0), s(1), s(2)] == [0.5, 0.625, 1.0]
    assert EpochLR("cos", 1.0, 0.01, 10, warmup_epochs=0)(0) == 1.0  # no warm-up: the cosine starts at the peak
    ref = EpochLR("cos", 1.0, 0.01, 10)  # None keeps the reference: min(max(0.1 * 10, 1), 3) = 1 epoch
    assert [ref(e) for e in range(10)] == [EpochLR("cos", 1.0, 0.01, 10, warmup_epochs=1)(e) for e in range(10)]


# ----------------------------------------------------------------------------- EMA
def test_ema_after_two_steps_is_the_hand_computed_average():
    net = nn.Sequential(nn.Linear(2, 1, bias=False), nn.BatchNorm1d(1))
    ema = make_ema(net, 0.9)
    with torch.no_grad():
        net[0].weight.fill_(1.0)
        net[1].running_mean.fill_(2.0)
    ema.update_parameters(net)  # the first update copies the weights
    with torch.no_grad():
        net[0].weight.fill_(3.0)
        net[1].running_mean.fill_(4.0)
    ema.update_parameters(net)
    torch.testing.assert_close(ema.module[0].weight, torch.full((1, 2), 0.9 * 1.0 + 0.1 * 3.0))  # 1.2
    torch.testing.assert_close(ema.module[1].running_mean, torch.full((1,), 0.9 * 2.0 + 0.1 * 4.0))  # buffers too
    assert float(net[0].weight.detach()[0, 0]) == 3.0  # the trained weights are untouched


class Snapshots(Callback):
    def __init__(self) -> None:
        self.states: list[dict[str, torch.Tensor]] = []

    def on_step_end(self, state) -> None:
        self.states.append({k: v.detach().clone() for k, v in state.model.state_dict().items()})


def test_training_with_ema_evaluates_and_saves_the_average(synthetic_root, tmp_path):
    snaps = Snapshots()
    run = run_tiny(synthetic_root, tmp_path / "ema", cfg=tiny_cfg(UnFreeze_Epoch=1, max_train_batches=2,
                                                                   ema_decay=0.75), callbacks=[snaps])
    w1, w2 = snaps.states
    last = load_checkpoint(run / "checkpoints" / "last.pt")
    best = load_checkpoint(run / "checkpoints" / "best.pt")
    assert equal_state(last["model"], w2)  # last.pt keeps the trained weights for resuming
    assert int(last["ema"]["n_averaged"]) == 2
    for k, v in w2.items():
        if v.is_floating_point():
            expected = 0.75 * w1[k] + 0.25 * v
            torch.testing.assert_close(last["ema"][f"module.{k}"], expected)
            assert torch.equal(best["model"][k], last["ema"][f"module.{k}"])  # best.pt holds the average
    model, config, hist, metrics = load_run(run, model=TinyNet())
    assert config["train"]["ema_decay"] == 0.75 and list(hist["weights"]) == ["ema"]
    assert metrics["miou"] == hist["miou"][0]  # metrics.json scored the averaged weights too


@pytest.fixture(scope="module")
def ema_reference(synthetic_root, tmp_path_factory):
    return run_tiny(synthetic_root, tmp_path_factory.mktemp("ema") / "ref", cfg=tiny_cfg(ema_decay=0.8))


def test_ema_run_resumed_after_ctrl_c_equals_the_uninterrupted_run(ema_reference, synthetic_root, tmp_path):
    run = tmp_path / "ctrlc"
    with pytest.raises(KeyboardInterrupt):
        run_tiny(synthetic_root, run, cfg=tiny_cfg(ema_decay=0.8),
                 callbacks=[StopAfter(epoch=1, step=2, exc=KeyboardInterrupt)])
    assert load_checkpoint(run / "checkpoints" / "last.pt")["interrupted"]["step"] == 2
    run_tiny(synthetic_root, run, cfg=tiny_cfg(ema_decay=0.8), resume=True)
    for name in ("last", "best"):
        a = load_checkpoint(ema_reference / "checkpoints" / f"{name}.pt")
        b = load_checkpoint(run / "checkpoints" / f"{name}.pt")
        assert equal_state(a["model"], b["model"]), name
    a = load_checkpoint(ema_reference / "checkpoints" / "last.pt")["ema"]
    b = load_checkpoint(run / "checkpoints" / "last.pt")["ema"]
    assert equal_state(a, b)  # the average and its update count, bit for bit
    ha, hb = (pd.read_csv(r / "history.csv").drop(columns=["time", "data_wait"]) for r in (ema_reference, run))
    pd.testing.assert_frame_equal(ha, hb)


# ----------------------------------------------------------------------------- early stopping
def test_evaluations_since_best_on_scripted_sequences():
    assert evaluations_since_best([0.2, 0.4, 0.35, 0.39]) == 2
    assert evaluations_since_best([0.2, 0.4, 0.41, 0.43], min_delta=0.02) == 0  # 0.43 > 0.4 + 0.02
    assert evaluations_since_best([0.2, 0.4, 0.41, 0.43], min_delta=0.05) == 2
    assert evaluations_since_best([0.3, float("nan")]) == 1  # a NaN score never improves
    history = [{"epoch": 1, "miou": 0.5}, {"epoch": 2}, {"epoch": 3, "miou": 0.4}]  # epoch 2 not evaluated
    assert early_stop_wait(history) == 1


def test_training_stops_at_the_epoch_a_scripted_val_miou_dictates(synthetic_root, tmp_path, monkeypatch):
    scripted = iter([0.10, 0.30, 0.20, 0.25, 0.50, 0.60])
    real = Trainer.evaluate

    def evaluate(self, row):
        cm = real(self, row)
        row["miou"] = next(scripted)
        return cm

    monkeypatch.setattr(Trainer, "evaluate", evaluate)
    cfg = tiny_cfg(UnFreeze_Epoch=6, max_train_batches=1, early_stop_patience=2)
    run = run_tiny(synthetic_root, tmp_path / "stop", cfg=cfg)
    hist = pd.read_csv(run / "history.csv")
    assert list(hist["epoch"]) == [1, 2, 3, 4]  # 0.20 and 0.25 do not beat 0.30: stop after epoch 4
    assert list(hist["early_stop_wait"]) == [0, 0, 1, 2]
    assert json.loads((run / "metrics.json").read_text())["epoch"] == 2  # best.pt = the best scripted epoch
    run_tiny(synthetic_root, run, cfg=cfg, resume=True)  # resuming a stopped run trains no further
    assert len(pd.read_csv(run / "history.csv")) == 4


# ----------------------------------------------------------------------------- config and CLI
@pytest.mark.parametrize("kw, match", [
    (dict(ema_decay=1.0), r"TrainConfig.ema_decay=1.0 must lie in \(0, 1\)"),
    (dict(early_stop_patience=0), r"TrainConfig.early_stop_patience=0 must be >= 1"),
    (dict(early_stop_patience=3, eval_flag=False), r"early_stop_patience needs eval_flag=True"),
    (dict(early_stop_min_delta=-0.1), r"early_stop_min_delta=-0.1 must be >= 0"),
    (dict(warmup_epochs=-1), r"TrainConfig.warmup_epochs=-1.* must lie in \[0, UnFreeze_Epoch=100\]"),
    (dict(warmup_epochs=2, lr_decay_type="step"), r"warmup_epochs=2.* applies to lr_decay_type='cos'"),
    (dict(warmup_lr_ratio=0), r"TrainConfig.warmup_lr_ratio=0.* must lie in \(0, 1\]"),
])
def test_bad_option_values_name_the_field_and_the_fix(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kw)


def test_profiles_keep_the_options_off():
    for name, warmup in (("quick", 0), ("paper", None)):  # quick starts at its rate: its warm-up epoch learned nothing
        cfg = TrainConfig.profile(name)
        assert (cfg.ema_decay, cfg.early_stop_patience, cfg.warmup_epochs) == (None, None, warmup), name


def test_cli_sets_the_options_and_records_them(synthetic_root, tmp_path):
    run = tmp_path / "cli"
    cmd = ["train", "--data-root", synthetic_root, "--run-dir", run,
           "--epochs", "2", "--no-progress", "--device", "cpu", "--set", "input_shape=[64, 64]",
           "--set", "num_workers=0", "--set", "Unfreeze_batch_size=4", "--set", "max_train_batches=1",
           "--set", "eval_period=1", "--set", "ema_decay=0.9", "--set", "early_stop_patience=3",
           "--set", "warmup_epochs=0"]
    res = cli(*cmd)
    assert res.returncode == 0, res.stderr[-2000:]
    _, config, hist, _ = load_run(run)
    assert {k: config["train"][k] for k in ("ema_decay", "early_stop_patience", "warmup_epochs")} == \
        {"ema_decay": 0.9, "early_stop_patience": 3, "warmup_epochs": 0.0}
    assert list(hist["weights"]) == ["ema", "ema"] and list(hist["early_stop_wait"].notna()) == [True, True]
    bad = cli(*cmd[:-6], "--set", "ema_decay=2")
    assert bad.returncode == 1 and "TrainConfig.ema_decay=2.0 must lie in (0, 1)" in bad.stderr
