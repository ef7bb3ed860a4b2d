"""TrainConfig (YAML, profiles, did-you-mean, printed table) and the LR formulas (docs/training.md)."""
from __future__ import annotations

import math

import pytest
import torch

from segkit.engine import EpochLR, TrainConfig, fit_lr, list_profiles
from segkit.engine.schedule import set_optimizer_lr, step_sanity_check

# ----------------------------------------------------------------------------- schedules


@pytest.mark.parametrize(
    "epoch, expected",
    [(0, 8.75e-5), (1, 1.75e-4), (2, 4.375e-4), (3, 8.75e-4), (44, 4.41875e-4)]
    + [(e, 8.75e-6) for e in (85, 90, 99)],
)
def test_cos_schedule_matches_spec_table(epoch, expected):
    lr, min_lr = fit_lr(7e-3, 7e-3 * 0.01, batch_size=2, optimizer_type="sgd")
    sched = EpochLR("cos", lr, min_lr, total=100)
    assert sched(epoch) == pytest.approx(expected, rel=1e-12)


def test_cos_schedule_formula_between_warmup_and_tail():
    lr, min_lr, T = 8.75e-4, 8.75e-6, 100
    sched = EpochLR("cos", lr, min_lr, T)
    for e in (4, 20, 60, 84):  # warm = 3, flat = 15
        want = min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * (e - 3) / (T - 3 - 15)))
        assert sched(e) == pytest.approx(want, rel=1e-12)
    # the schedule is monotone after the warm-up and short runs clamp warm/flat to >= 1
    assert all(sched(e) >= sched(e + 1) for e in range(3, 99))
    short = EpochLR("cos", 1e-3, 1e-5, total=4)  # warm = 1, flat = 1.2
    assert short(0) == pytest.approx(1e-4) and short(1) == pytest.approx(1e-3) and short(3) == 1e-5


def test_step_schedule_formula():
    lr, min_lr, T = 8.75e-4, 8.75e-6, 100
    sched = EpochLR("step", lr, min_lr, T)
    rate = (min_lr / lr) ** (1 / 9)
    for e in (0, 9, 10, 35, 99):
        assert sched(e) == pytest.approx(lr * rate ** (e // 10), rel=1e-12)
    assert sched(99) == pytest.approx(min_lr, rel=1e-9)  # 10 steps reach min_lr at the last
    assert len({round(sched(e), 15) for e in range(T)}) == 10


def test_set_optimizer_lr_sets_every_group():
    p1, p2 = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [p1]}, {"params": [p2], "lr": 5.0}], lr=1.0)
    sched = EpochLR("cos", 1e-3, 1e-5, 10)
    assert set_optimizer_lr(opt, sched, 5) == sched(5)
    assert [g["lr"] for g in opt.param_groups] == [sched(5)] * 2


@pytest.mark.parametrize(
    "opt, bs, init, backbone, want",
    [
        ("sgd", 2, 7e-3, "", (8.75e-4, 8.75e-6)),  # the reference: bs=2 -> 8.75e-4 / 8.75e-6
        ("sgd", 8, 7e-3, "", (3.5e-3, 3.5e-5)),
        ("sgd", 1, 7e-3, "", (5e-4, 5e-6)),  # lower limit lo=5e-4 (and lo*0.01)
        ("sgd", 4096, 7e-3, "", (1e-1, 1e-3)),  # upper limit hi=1e-1 (and hi*0.01)
        ("adam", 2, 5e-4, "", (3e-4, 3e-6)),  # adam lo=3e-4
        ("adam", 64, 5e-4, "", (5e-4, 5e-6)),  # adam hi=5e-4
        ("adamw", 16, 4e-4, "", (4e-4, 4e-6)),
        ("adam", 16, 5e-4, "xception", (1e-4, 1e-6)),  # adam + xception: 1e-4 both ways
        ("sgd", 2, 7e-3, "xception", (8.75e-4, 8.75e-6)),
    ],
)
def test_batch_size_scaling_and_limits(opt, bs, init, backbone, want):
    got = fit_lr(init, init * 0.01, bs, opt, nbs=16, backbone=backbone)
    assert got == pytest.approx(want, rel=1e-12)


def test_lr_scaling_off_uses_the_rates_as_given():
    import warnings

    from segkit.engine.schedule import config_lr

    scaled = TrainConfig(optimizer_type="adam", Init_lr=1e-3, Min_lr=1e-5, Unfreeze_batch_size=8)
    with pytest.warns(UserWarning, match="above the upper adam limit"):
        assert config_lr(scaled, 8) == pytest.approx((5e-4, 5e-6))  # 8/16 * 1e-3, clamped to adam's [3e-4, 5e-4]
        # the one-line recipe a methods section quotes states the rates that ran, and why
        assert "lr 0.0005 -> 5e-06 (cosine; Init_lr 0.001 x batch 8 / nbs 16, clamped" in scaled.summary()
    given = TrainConfig(optimizer_type="adam", Init_lr=1e-3, Min_lr=1e-5, Unfreeze_batch_size=8, lr_scaling=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no limit warning: the limits are not applied
        assert config_lr(given, 8) == (1e-3, 1e-5)
        assert "lr as given (lr_scaling: false): Init_lr 0.001" in given.table()
        assert "Adam, lr 0.001 -> 1e-05 (cosine), weight decay" in given.summary()
    assert TrainConfig.profile("paper").lr_scaling  # the reference recipe keeps its scaling


def test_step_sanity_check_warns_when_it_helps_and_once():
    assert step_sanity_check(4324, 2, 100, "sgd", once=False) is None  # 216,200 steps: no warning
    msg = step_sanity_check(100, 2, 200, "sgd", once=False)  # 10,000 of 15,000 steps: train a bit longer
    assert "15000" in msg and "10000" in msg and "301 epochs" in msg
    # a run 10x or more too short is short on purpose: "about 1251 epochs" would help no one
    assert step_sanity_check(16, 4, 2, "adam", once=False) is None
    assert step_sanity_check(100, 2, 10, "sgd", once=False) is None
    assert "adam should run at least 5000" in step_sanity_check(300, 8, 50, "adam", once=False)
    # several seeds of one setup: said once per process
    first = step_sanity_check(333, 3, 20, "adam")
    assert first and "Consider about 46 epochs" in first
    assert step_sanity_check(333, 3, 20, "adam") is None


# ----------------------------------------------------------------------------- config


def test_defaults_are_the_reference_values():
    cfg = TrainConfig()
    assert cfg.Min_lr == 7.000000000000001e-05 == cfg.Init_lr * 0.01
    assert (cfg.Init_Epoch, cfg.Freeze_Epoch, cfg.UnFreeze_Epoch) == (0, 50, 100)
    assert (cfg.Freeze_batch_size, cfg.Unfreeze_batch_size, cfg.Freeze_Train) == (8, 2, False)
    assert (cfg.optimizer_type, cfg.momentum, cfg.weight_decay, cfg.lr_decay_type) == ("sgd", 0.9, 1e-4, "cos")
    assert (cfg.save_period, cfg.eval_period, cfg.seed, cfg.nbs) == (5, 5, 11, 16)


def test_yaml_round_trip(tmp_path):
    cfg = TrainConfig.profile("quick", cls_weights=[1.0, 2.0, 3.0], grad_clip=5.0, model_kwargs={"attn": "se"})
    path = tmp_path / "cfg.yaml"
    cfg.to_yaml(path)
    back = TrainConfig.from_yaml(path)
    assert back == cfg
    assert TrainConfig.from_yaml(cfg.to_yaml()) == cfg  # YAML text works too
    # a file with a train: section (a profile) is read the same way
    path.write_text("train:\n" + "".join(f"  {line}\n" for line in cfg.to_yaml().splitlines()) + "other: {x: 1}\n")
    assert TrainConfig.from_yaml(path) == cfg


@pytest.mark.parametrize("key, hint", [("init_lr", "Init_lr"), ("UnFreeze_Epochs", "UnFreeze_Epoch"),
                                       ("optimiser_type", "optimizer_type")])
def test_unknown_key_is_an_error_with_did_you_mean(key, hint):
    with pytest.raises(ValueError, match=f"unknown TrainConfig key.*{hint}"):
        TrainConfig.from_dict({key: 1})
    with pytest.raises(ValueError, match=hint):
        TrainConfig.profile("quick", **{key: 1})


def test_invalid_values_name_the_field():
    with pytest.raises(ValueError, match="optimizer_type='sgdd'.*Did you mean 'sgd'"):
        TrainConfig(optimizer_type="sgdd")
    with pytest.raises(ValueError, match="input_shape"):
        TrainConfig(input_shape=[512])
    with pytest.raises(ValueError, match="cls_weights has 2 entries but num_classes=3"):
        TrainConfig(num_classes=3, cls_weights=[1, 2])
    with pytest.raises(ValueError, match="unknown profile 'quik'.*Did you mean 'quick'"):
        TrainConfig.profile("quik")


def test_profiles():
    assert {"quick", "paper"} <= set(list_profiles())
    paper = TrainConfig.profile("paper")
    assert paper.focal_loss and paper.dice_loss and paper.cls_weights == [1, 2, 3]
    assert paper.Min_lr == 7.000000000000001e-05 and paper.absent == "zero"
    quick = TrainConfig.profile("quick")
    assert quick.UnFreeze_Epoch < paper.UnFreeze_Epoch and quick.input_shape[0] < 512
    # overriding Init_lr keeps the reference tie Min_lr = Init_lr * 0.01
    assert TrainConfig.profile("paper", Init_lr=1e-2).Min_lr == pytest.approx(1e-4)
    assert paper.replace(Init_lr=1e-2).Min_lr == pytest.approx(1e-4)


def test_config_table_matches_reference_format():
    text = TrainConfig.profile("paper").table(num_train=4324, num_val=481, save_dir="save_dir")
    lines = text.splitlines()
    rule = "-" * 70
    assert lines[:4] == ["Configurations:", rule, "|%25s | %40s|" % ("keys", "values"), rule]
    assert lines[-2] == rule and len(lines) == 4 + 20 + 1 + 1
    # below the reference table: the learning rates training really uses (bs/nbs scaling, limits)
    assert lines[-1] == ("effective lr at batch size 2: Init_lr 0.000875, Min_lr 8.75e-06 "
                         "(x 2/nbs=16, clamped to the sgd limits [0.0005, 0.1])")
    expected = [
        ("num_classes", 3), ("backbone", ""), ("model_path", ""), ("input_shape", [512, 512]),
        ("Init_Epoch", 0), ("Freeze_Epoch", 50), ("UnFreeze_Epoch", 100), ("Freeze_batch_size", 8),
        ("Unfreeze_batch_size", 2), ("Freeze_Train", False), ("Init_lr", 0.007),
        ("Min_lr", 7.000000000000001e-05), ("optimizer_type", "sgd"), ("momentum", 0.9),
        ("lr_decay_type", "cos"), ("save_period", 5), ("save_dir", "save_dir"), ("num_workers", 4),
        ("num_train", 4324), ("num_val", 481),
    ]
    assert lines[4:-2] == ["|%25s | %40s|" % (k, str(v)) for k, v in expected]
