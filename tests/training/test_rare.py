"""Rare classes: the wall-time budget, rare-class sampling, defect-aware crops, rare-class losses."""
from __future__ import annotations

import csv
import json
import math
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from segkit.engine import TrainConfig, train
from segkit.engine.budget import TimeBudget
from segkit.engine.schedule import budget_lr, fit_lr
from cli_run import cli
from tiny_training import tiny_model


# ----------------------------------------------------------------------------- time_limit
class _StepLog:
    """Records the wall time and the learning rate of every step; each step takes at least `sleep` s."""

    def __init__(self, sleep: float) -> None:
        self.sleep, self.ends, self.lrs, self.start = sleep, [], [], 0.0

    def on_train_start(self, state) -> None:
        self.start = time.perf_counter()

    def on_step_end(self, state) -> None:
        time.sleep(self.sleep)  # a step of known length, so the test does not depend on the machine's load
        self.lrs.append(state.optimizer.param_groups[0]["lr"])  # the rate this step used
        self.ends.append(time.perf_counter() - self.start)


def test_time_limit_bounds_the_whole_call_and_reaches_the_final_lr(synthetic_root, tmp_path):
    budget, sleep = 8.0, 0.1  # setting up counts too: a few seconds on a busy machine
    cfg = TrainConfig(input_shape=[64, 64], UnFreeze_Epoch=1000, Unfreeze_batch_size=4, Init_lr=0.1, Min_lr=1e-3,
                      num_workers=0, eval_period=1000, save_period=1000, time_limit=budget)
    log = _StepLog(sleep)
    t0 = time.perf_counter()
    run = train(tiny_model(), cfg, synthetic_root, tmp_path / "budget", progress=False, verbose=False,
                callbacks=[log])
    wall = time.perf_counter() - t0  # setting up, training, validation and the final evaluation
    steps = [b - a for a, b in zip(log.ends, log.ends[1:])]
    step = max(steps)  # one step: the longest (the machine may be busy)
    record = json.loads((run / "budget.json").read_text())
    assert wall <= budget + step, (wall, record)
    assert wall >= budget - 2 * step - record["final_evaluation_reserve"] - record["epoch_end_seconds"], (wall, record)
    peak, final = fit_lr(cfg.Init_lr, cfg.Min_lr, cfg.Unfreeze_batch_size, "sgd", cfg.nbs)
    assert log.lrs[0] == pytest.approx(0.1 * peak)  # warm-up starts at a tenth of the peak
    assert max(log.lrs) <= peak * (1 + 1e-9) and max(log.lrs) > 0.8 * peak
    assert log.lrs[-1] <= final + 0.05 * (peak - final)  # the last step runs at Min_lr (a busy machine: about)
    assert record["stopped_by"] == "time" and record["steps"] == len(log.ends)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epoch"] >= 1 and "miou" in metrics  # evaluated at the end


def test_a_budget_spent_before_any_validation_skips_it_and_scores_the_last_weights(synthetic_root, tmp_path, capsys):
    """A first step longer than the budget: validating then would choose between nothing, so the only
    evaluation is the final one (on CPU at 512 px it was two extra passes over val, 3x the budget)."""
    cfg = TrainConfig(input_shape=[64, 64], UnFreeze_Epoch=1000, Unfreeze_batch_size=4, num_workers=0,
                      eval_period=1, save_period=1000, time_limit=1.0)
    run = train(tiny_model(), cfg, synthetic_root, tmp_path / "short", progress=False, verbose=True,
                callbacks=[_StepLog(1.5)])
    rows = list(csv.DictReader((run / "history.csv").open()))
    assert len(rows) == 1 and rows[0]["val_loss"] in ("", "nan") and not rows[0].get("miou")
    assert json.loads((run / "budget.json").read_text())["steps"] == 1
    assert (run / "metrics.json").is_file() and (run / "checkpoints" / "best.pt").is_file()
    out = capsys.readouterr().out
    assert "no validation before the time budget ran out: the weights after epoch 1" in out
    assert "[segkit] the time budget (1 s) is spent after epoch 1/1000" in out


def test_a_budget_shorter_than_the_evaluation_is_said_before_training():
    from segkit.engine.trainer import _warn_when_evaluation_is_over_budget

    said = []
    trainer = SimpleNamespace(budget=SimpleNamespace(seconds=90.0, reserve=107.4), report_images=134)
    _warn_when_evaluation_is_over_budget(trainer, "test", said.append)
    assert said == ["time_limit=90 s is shorter than scoring the test split alone (about 107 s for 134 images at "
                    "this size): training takes one step and the command about 107 s more; raise time_limit, or "
                    "score fewer images (--set max_val_images=N)"]
    trainer.budget.reserve = 10.0
    _warn_when_evaluation_is_over_budget(trainer, "test", said.append)
    assert len(said) == 1


def test_a_resumed_time_limited_run_goes_on_with_what_is_left(synthetic_root, tmp_path):
    from segkit.engine import load_checkpoint

    class CtrlC(_StepLog):  # Ctrl-C after about 1.2 s of training
        def on_step_end(self, state) -> None:
            super().on_step_end(state)
            if self.ends[-1] > 1.2:
                raise KeyboardInterrupt

    budget, sleep = 5.0, 0.1  # what is left after the Ctrl-C holds several steps on a busy machine too
    cfg = TrainConfig(input_shape=[64, 64], UnFreeze_Epoch=1000, Unfreeze_batch_size=4, Init_lr=0.1, Min_lr=1e-3,
                      num_workers=0, eval_period=1000, save_period=1000, time_limit=budget)
    run = tmp_path / "budget"
    with pytest.raises(KeyboardInterrupt):
        train(tiny_model(), cfg, synthetic_root, run, progress=False, verbose=False,
              callbacks=[CtrlC(sleep)])
    used = load_checkpoint(run / "checkpoints" / "last.pt")["budget"]["elapsed"]
    assert 0.9 < used < budget
    time.sleep(1.0)  # time away from training does not count
    log = _StepLog(sleep)
    train(tiny_model(), cfg, synthetic_root, run, progress=False, verbose=False, callbacks=[log], resume=True)
    step = max((b - a for a, b in zip(log.ends, log.ends[1:])), default=log.ends[0])
    assert log.ends[-1] <= budget - used + step, (log.ends[-1], used)  # not a new 5 s budget
    record = json.loads((run / "budget.json").read_text())
    # TimeBudget.on_step_end stops when the next step (its time plus its share of an epoch's end) would eat
    # what is kept for the final evaluation and up to two epoch ends (values recorded in budget.json)
    kept = record["final_evaluation_reserve"] + 3 * record["epoch_end_seconds"]
    assert record["stopped_by"] == "time" and budget - step - kept <= record["train_seconds"] <= budget + step, record

class _FakeState:
    def __init__(self, steps_per_epoch: int) -> None:
        self.optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        self.epoch, self.step, self.steps_per_epoch, self.stop_training, self.rank = 0, 0, steps_per_epoch, False, 0


def test_budget_schedule_spans_the_steps_that_fit():
    now = [0.0]
    cb = TimeBudget(10.0, lr=1.0, min_lr=0.01, epochs=100, clock=lambda: now[0])
    state = _FakeState(steps_per_epoch=1000)
    cb.on_train_start(state)
    lrs = []
    while not state.stop_training:
        lrs.append(state.optimizer.param_groups[0]["lr"])
        now[0] += 1.0  # every step takes exactly one second
        state.step += 1
        cb.on_step_end(state)
    assert len(lrs) == 10 and cb.stopped_by == "time"  # ten one-second steps fit in ten seconds
    assert lrs[-1] == pytest.approx(0.01) and lrs[0] == pytest.approx(0.1)
    assert lrs == pytest.approx([budget_lr(i / 9, 1.0, 0.01) for i in range(10)])


def test_budget_schedule_counts_the_epoch_cap():
    now = [0.0]
    cb = TimeBudget(1000.0, lr=1.0, min_lr=0.0, epochs=2, clock=lambda: now[0])
    state = _FakeState(steps_per_epoch=5)
    cb.on_train_start(state)
    lrs = []
    for epoch in range(2):
        state.epoch, state.step = epoch, 0
        cb.on_epoch_start(state)
        for _ in range(5):
            lrs.append(state.optimizer.param_groups[0]["lr"])
            now[0] += 1.0
            state.step += 1
            cb.on_step_end(state)
    assert not state.stop_training and lrs[-1] == pytest.approx(0.0) and len(lrs) == 10


@pytest.mark.parametrize("value", [0, -5, "soon"])
def test_bad_time_limit_names_the_field(value):
    with pytest.raises(ValueError, match="time_limit"):
        TrainConfig(time_limit=value)


def test_budget_lr_warms_up_then_decays_to_the_floor():
    assert budget_lr(0.0, 1.0, 0.01) == pytest.approx(0.1)
    assert budget_lr(0.05, 1.0, 0.01) == pytest.approx(1.0)
    assert budget_lr(1.0, 1.0, 0.01) == pytest.approx(0.01)
    assert budget_lr(0.525, 1.0, 0.01) == pytest.approx(0.505)
    assert not math.isnan(budget_lr(2.0, 1.0, 0.0))


# ----------------------------------------------------------------------------- rare-class sampling
def _voc(root, masks: list, size: int = 10):
    """A VOC folder with one grey image per mask, all in `train` (and the first in `val`)."""
    import numpy as np
    from PIL import Image

    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    names = [f"im{i}" for i in range(len(masks))]
    for name, m in zip(names, masks):
        rng = np.random.default_rng(len(name))
        Image.fromarray(rng.integers(0, 255, (*m.shape, 3), dtype=np.uint8)).save(root / "JPEGImages" / f"{name}.png")
        Image.fromarray(m.astype(np.uint8)).save(root / "SegmentationClass" / f"{name}.png")
    (root / "ImageSets/Segmentation/train.txt").write_text("\n".join(names) + "\n")
    (root / "ImageSets/Segmentation/val.txt").write_text(names[0] + "\n")
    (root / "classes.txt").write_text("background\ncommon\nrare\n")
    return root


def _known_masks():
    """Four 10x10 masks: 375 background, 20 'common' (two images), 5 'rare' (one image) pixels."""
    import numpy as np

    a = np.zeros((10, 10), np.uint8)
    b = a.copy()
    b[0, :] = 1
    c = b.copy()
    d = a.copy()
    d[5, :5] = 2
    return [a, b, c, d]


def test_rare_sampling_probabilities_on_known_counts(tmp_path):
    from segkit.data import VOCSegmentation
    from segkit.data.rare import class_probabilities, image_class_counts, image_probabilities, sample_indices

    ds = VOCSegmentation(_voc(tmp_path / "voc", _known_masks()), "train", input_shape=(8, 8))
    counts = image_class_counts(ds, 3)
    assert counts.sum(0).tolist() == [375, 20, 5]
    T = 0.1
    e = [math.exp((1 - f) / T) for f in (375 / 400, 20 / 400, 5 / 400)]
    P = [v / sum(e) for v in e]
    assert class_probabilities(counts, T) == pytest.approx(P)
    daformer = [P[0] / 4, P[0] / 4 + P[1] / 2, P[0] / 4 + P[1] / 2, P[0] / 4 + P[2]]  # P(c) / images holding c
    # the first image is defect-free (background only), one of four: drawn at half its share, 1/8;
    # the others share the rest as DAFormer's draw has it
    want = [1 / 8] + [7 / 8 * p / sum(daformer[1:]) for p in daformer[1:]]
    got = image_probabilities(counts, class_probabilities(counts, T))
    assert got == pytest.approx(want)
    drawn = sample_indices(got, 20000, seed=0)
    assert [drawn.count(i) / 20000 for i in range(4)] == pytest.approx(want, abs=0.015)
    with pytest.raises(ValueError, match="temperature"):
        class_probabilities(counts, 0)


def test_defect_free_images_are_drawn_at_half_their_share():
    import numpy as np

    from segkit.data.rare import class_probabilities, defect_free, image_probabilities

    # seven defect-free images of ten, three with a defect: DAFormer's draw alone never shows the free ones
    counts = np.array([[100, 0]] * 7 + [[90, 10]] * 3)
    assert defect_free(counts).tolist() == [True] * 7 + [False] * 3
    got = image_probabilities(counts, class_probabilities(counts, 0.01))
    assert got[:7].sum() == pytest.approx(0.35) and got[7:].sum() == pytest.approx(0.65)
    # every image holds a defect: exactly DAFormer's probabilities (cracks, CamVid, the synthetic ropes)
    counts = np.array([[90, 10, 0], [80, 0, 20], [95, 5, 0]])
    P = class_probabilities(counts, 0.01)
    n_c = (counts > 0).sum(0)
    want = (counts > 0) @ (P / n_c)
    assert image_probabilities(counts, P) == pytest.approx(want / want.sum())


def test_the_record_gives_the_defect_free_draws_of_the_sampling_used():
    import numpy as np

    from segkit.data.rare import class_probabilities, defect_free, image_probabilities
    from segkit.engine.rare_setup import RareSetup

    counts = np.array([[100, 0]] * 7 + [[90, 10]] * 3)
    probs = class_probabilities(counts, 0.01)
    common = dict(class_names=["bg", "defect"], frequency=np.array([0.97, 0.03]), class_probs=probs,
                  ids=[str(i) for i in range(10)], temperature=0.01, free=defect_free(counts))
    on = RareSetup(image_probs=image_probabilities(counts, probs), **common).record()
    off = RareSetup(image_probs=None, **common).record()  # uniform draws: free images at their own share
    assert (on["defect_free_images"], on["defect_free_draws"]) == (0.7, 0.35)
    assert (off["defect_free_images"], off["defect_free_draws"]) == (0.7, 0.7)


def test_rare_sampling_is_recorded_and_drives_training(tmp_path):
    ds_root = _voc(tmp_path / "voc", _known_masks())
    cfg = TrainConfig(input_shape=[8, 8], UnFreeze_Epoch=1, Unfreeze_batch_size=2, num_workers=0, eval_period=1,
                      rare_sampling=True, rare_temperature=0.1, init_type="none")
    seen = []

    class Grab:
        def on_step_end(self, state):
            seen.append(state.step)

    run = train(tiny_model(), cfg, ds_root, tmp_path / "run", progress=False, verbose=False, callbacks=[Grab()])
    record = json.loads((run / "rare_sampling.json").read_text())
    assert record["temperature"] == 0.1 and record["sampling"] is True
    assert record["defect_free_images"] == 0.25 and record["defect_free_draws"] == 0.125  # im0: background only
    assert record["image_probability"]["im3"] > record["image_probability"]["im1"] > record["image_probability"]["im0"]
    config = (run / "config.yaml").read_text()
    assert "rare_classes:" in config and "class_probability:" in config
    assert seen == [1, 2]  # 4 images, batch 2


def test_config_yaml_states_the_rate_training_used(tmp_path):
    import yaml

    ds_root = _voc(tmp_path / "voc", _known_masks())
    for scaling in (True, False):
        cfg = TrainConfig(input_shape=[8, 8], UnFreeze_Epoch=1, Unfreeze_batch_size=2, num_workers=0,
                          optimizer_type="adam", Init_lr=1e-3, Min_lr=1e-5, lr_scaling=scaling, init_type="none")
        run = train(tiny_model(), cfg, ds_root, tmp_path / f"run{scaling}", progress=False, verbose=False)
        lr = yaml.safe_load((run / "config.yaml").read_text())["effective_lr"]
        if scaling:  # Adam's 1e-3 x 2/16 is clamped to the reference's floor
            assert lr["Init_lr_fit"] != pytest.approx(1e-3) and "scaled by batch_size/nbs" in lr["note"]
        else:
            assert lr["Init_lr_fit"] == pytest.approx(1e-3) and "used as given" in lr["note"]


def test_auto_sampling_turns_on_only_for_a_class_in_few_images():
    from segkit.data.rare import sampling_needed

    names = ["background", "corrosion", "wire"]
    common = np.array([[90, 10, 0]] * 6 + [[90, 0, 10]] * 4)  # corrosion in 60 %, wire in 40 % of the images
    on, why = sampling_needed(common, names)
    assert not on and "wire, is in 40 %" in why and why.startswith("off")
    rare = np.array([[90, 10, 0]] * 19 + [[90, 0, 10]])  # wire in 1 of 20 images
    on, why = sampling_needed(rare, names)
    assert on and "wire, is in 5 %" in why and why.startswith("on")
    absent = np.array([[90, 10, 0]] * 10)  # a class no mask holds is not the rarest
    assert sampling_needed(absent, names)[0] is False


@pytest.mark.parametrize("masks, sampling", [(_known_masks()[:3] * 4 + _known_masks()[3:], True),  # rare: 1 of 13
                                             (_known_masks(), False)])  # rare: 1 of 4 images
def test_auto_sampling_is_decided_from_the_training_masks_and_recorded(tmp_path, masks, sampling):
    ds_root = _voc(tmp_path / "voc", masks)
    cfg = TrainConfig(input_shape=[8, 8], UnFreeze_Epoch=1, Unfreeze_batch_size=2, num_workers=0, eval_period=1,
                      rare_sampling="auto", init_type="none")
    run = train(tiny_model(), cfg, ds_root, tmp_path / "run", progress=False, verbose=False)
    record = json.loads((run / "rare_sampling.json").read_text())
    assert record["sampling"] is sampling and record["sampling_rule"].startswith("on" if sampling else "off")
    with pytest.raises(ValueError, match="rare_sampling"):
        TrainConfig(rare_sampling="often")


# ----------------------------------------------------------------------------- defect-aware crops
def test_crops_hold_the_rare_class_at_the_set_rate():
    import numpy as np

    from segkit.data.rare import RareCrop

    mask = np.zeros((100, 100), np.uint8)
    mask[90:94, 90:94] = 1  # a 4x4 defect near a corner
    image = np.zeros((100, 100, 3), np.uint8)
    n, hit_q = 1500, (10 / 69) ** 2  # a uniform 32x32 crop holds the defect at 10 of 69 offsets per axis
    for p in (0.0, 0.3, 0.8):
        crop = RareCrop((32, 32), class_probs=[0.0, 1.0], rare_prob=p, scale=(1.0, 1.0))
        rng = np.random.default_rng(0)
        outs = [crop(image, mask, rng) for _ in range(n)]
        assert all(rgb.shape == (32, 32, 3) and m.shape == (32, 32) for rgb, m in outs[:5])
        rate = sum(bool((m == 1).any()) for _, m in outs) / n
        want = p + (1 - p) * hit_q
        assert abs(rate - want) < 4 * math.sqrt(want * (1 - want) / n) + 1e-9, (p, rate, want)


def test_crop_training_evaluates_whole_images_at_their_resolution(tmp_path):
    import numpy as np

    masks = [np.zeros((40, 48), np.uint8) for _ in range(4)]
    masks[1][30:34, 40:44] = 2
    masks[2][:, :10] = 1
    cfg = TrainConfig(input_shape=[16, 16], UnFreeze_Epoch=1, Unfreeze_batch_size=2, num_workers=0,
                      train_crop=True, crop_rare_prob=1.0, init_type="none")
    run = train(tiny_model(), cfg, _voc(tmp_path / "voc", masks), tmp_path / "run", progress=False, verbose=False)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["per_class"]["background"]["support"] == 40 * 48  # the whole 48x40 val image was scored
    with pytest.raises(ValueError, match="crop_rare_prob"):
        TrainConfig(crop_rare_prob=1.5)



def test_auto_crop_scale_makes_a_crop_cover_half_the_image():
    import numpy as np

    from segkit.data.rare import RareCrop, image_scale
    from segkit.engine.evaluate import native_shape

    assert image_scale("auto", (360, 480), (128, 160)) == pytest.approx(math.sqrt(2 * 128 * 160 / (360 * 480)))
    assert image_scale("auto", (64, 64), (64, 64)) == 1.0  # never upsampled
    assert image_scale(0.5, (4000, 3000), (64, 64)) == 0.5  # a number is used as it is
    # whole-image evaluation at the same scale, padded to the stride: 360x480 * 0.487 = 175x234 -> 192x256
    assert native_shape(np.zeros((360, 480, 3), np.uint8), "auto", (128, 160)) == (192, 256)
    assert native_shape(np.zeros((360, 480, 3), np.uint8), 1.0, (128, 160)) == (384, 480)
    # the crop is taken from the image at that scale: a 64-pixel stripe of a 256x256 image is 11.3 pixels wide
    mask = np.zeros((256, 256), np.uint8)
    mask[:, 96:160] = 1
    crop = RareCrop((32, 32), class_probs=[0.0, 1.0], rare_prob=1.0, scale=(1.0, 1.0), crop_scale="auto")
    widths = {int((m == 1).any(0).sum()) for _, m in (crop(np.zeros((256, 256, 3), np.uint8), mask,
                                                            np.random.default_rng(i)) for i in range(20))}
    assert widths == {11}, widths  # 64 * sqrt(2 * 32 * 32 / 256**2) = 11.3, always whole inside the crop
    with pytest.raises(ValueError, match="crop_scale='big'.*auto"):
        TrainConfig(crop_scale="big")


def test_predict_runs_a_crop_trained_model_on_the_whole_image():
    import numpy as np

    from segkit.engine import predict

    seen = []

    class Shape(torch.nn.Module):  # records its input size, predicts class 1 everywhere
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            seen.append(tuple(x.shape[-2:]))
            return torch.stack([x[:, 0] * 0, x[:, 0] * 0 + 1], 1) + self.w

    rgb = np.zeros((360, 480, 3), np.uint8)
    res = predict(Shape(), rgb, input_shape=(128, 160), device="cpu", progress=False, native="auto")
    assert seen == [(192, 256)] and res[0].label.shape == (360, 480) and (res[0].label == 1).all()
    predict(Shape(), rgb, input_shape=(128, 160), device="cpu", progress=False)
    assert seen[-1] == (128, 160)  # without `native`: the letterbox

# ----------------------------------------------------------------------------- losses
def test_lovasz_of_a_hard_prediction_is_one_minus_iou():
    from segkit.losses.rare import lovasz_softmax

    target = torch.tensor([[[0, 0, 1, 1, 2, 2, 0, 255]]])
    pred = torch.tensor([[[0, 1, 1, 1, 2, 0, 0, 0]]])
    probs = torch.nn.functional.one_hot(pred, 3).permute(0, 3, 1, 2).float()
    valid = target != 255
    ious = []
    for c in (0, 1, 2):
        t, p = (target == c) & valid, (pred == c) & valid
        ious.append(float((t & p).sum() / (t | p).sum()))
    assert float(lovasz_softmax(probs, target)) == pytest.approx(sum(1 - v for v in ious) / 3)
    assert float(lovasz_softmax(torch.nn.functional.one_hot(target.clamp(max=2), 3).permute(0, 3, 1, 2).float(),
                                target)) == pytest.approx(0.0)


def test_ohem_averages_the_hard_pixels_only():
    from segkit.losses import SegLoss

    target = torch.tensor([[[0, 0, 1, 1]]])
    logits = torch.tensor([[[[5.0, 0.0, 0.0, 5.0]], [[0.0, 0.0, 5.0, 0.0]]]])  # pixels 1 and 3 are hard
    ce = torch.nn.functional.cross_entropy(logits, target, reduction="none")[0, 0]
    crit = SegLoss(2, ohem=0.7)
    assert float(crit(logits, target)) == pytest.approx(float(ce[[1, 3]].mean()))
    assert set(SegLoss(2, ohem=0.7, lovasz_loss=True, dice_loss=True).components(logits, target)) == {
        "ohem", "lovasz", "dice"}
    easy = torch.tensor([[[[5.0, 5.0, 0.0, 0.0]], [[0.0, 0.0, 5.0, 5.0]]]])  # none hard: the hardest 1/16 (one pixel)
    ce_easy = torch.nn.functional.cross_entropy(easy, target, reduction="none")
    assert float(crit(easy, target)) == pytest.approx(float(ce_easy.max()))
    with pytest.raises(ValueError, match="ohem_thresh"):
        TrainConfig(ohem_thresh=0.7, focal_loss=True)


# ----------------------------------------------------------------------------- CLI
@pytest.mark.slow
def test_cli_set_reaches_the_rare_class_keys(synthetic_root, tmp_path):
    run = tmp_path / "runs" / "rare"
    base = ["train", "--data-root", synthetic_root, "--run-dir", run,
            "--profile", "quick", "--epochs", "1", "--no-progress", "--set", "num_workers=0",
            "--set", "max_train_batches=2", "--set", "max_val_images=2"]
    sets = ["rare_sampling=true", "rare_temperature=0.05", "train_crop=true", "crop_rare_prob=0.75",
            "ohem_thresh=0.7", "lovasz_loss=true", "time_limit=600"]
    res = cli(*base, *[a for kv in sets for a in ("--set", kv)])
    assert res.returncode == 0, res.stderr[-2000:]
    cfg = TrainConfig.from_yaml(run / "config.yaml")
    assert (cfg.rare_sampling, cfg.rare_temperature, cfg.train_crop, cfg.crop_rare_prob, cfg.ohem_thresh,
            cfg.lovasz_loss, cfg.time_limit) == (True, 0.05, True, 0.75, 0.7, True, 600.0)
    assert json.loads((run / "rare_sampling.json").read_text())["temperature"] == 0.05
    bad = cli(*base[:-6], "--run-dir", tmp_path / "bad", "--set", "crop_rare_prob=2")
    assert bad.returncode != 0 and "crop_rare_prob=2" in bad.stderr and "[0, 1]" in bad.stderr


def test_last_pt_is_written_before_the_last_evaluation_unless_evaluations_are_quick(synthetic_root, tmp_path,
                                                                                    monkeypatch):
    import segkit.engine.loop as loop
    from segkit.runs import RunDir

    cfg = TrainConfig(input_shape=[64, 64], UnFreeze_Epoch=2, Unfreeze_batch_size=4, num_workers=0,
                      max_train_batches=1, max_val_images=2, save_period=1000, eval_period=1)
    saved: list[str] = []
    save = RunDir.save_checkpoint
    monkeypatch.setattr(RunDir, "save_checkpoint", lambda rd, name, payload: saved.append(name) or save(rd, name, payload))
    for quick_s, lasts in ((loop.QUICK_EVALUATION_S, 2), (0.0, 3)):  # epoch 1's end, (before the evaluation,) epoch 2's end
        saved.clear()
        monkeypatch.setattr(loop, "QUICK_EVALUATION_S", quick_s)
        train(tiny_model(), cfg, synthetic_root, tmp_path / f"run{quick_s:g}", progress=False, verbose=False)
        assert saved.count("last") == lasts, saved


def test_ctrl_c_during_the_last_evaluation_keeps_the_trained_epoch(synthetic_root, tmp_path, monkeypatch, capsys):
    """The last epoch's evaluation can take minutes: last.pt is written before it starts."""
    import segkit.engine.loop as loop
    from segkit.engine import load_checkpoint

    cfg = TrainConfig(input_shape=[64, 64], UnFreeze_Epoch=1, Unfreeze_batch_size=4, num_workers=0,
                      max_train_batches=2, save_period=1000)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C pressed twice while the evaluation runs

    monkeypatch.setattr(loop, "evaluate_confusion", interrupted)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(tiny_model(), cfg, synthetic_root, run, progress=False, verbose=True)
    last = load_checkpoint(run / "checkpoints" / "last.pt")
    assert last["epoch"] == 1 or last["interrupted"]["step"] == 2  # both steps of the epoch kept
    said = capsys.readouterr()
    assert "last.pt holds the state at" in said.out + said.err
    monkeypatch.undo()
    train(tiny_model(), cfg, synthetic_root, run, progress=False, verbose=False, resume=True)
    assert json.loads((run / "metrics.json").read_text())["epoch"] == 1

