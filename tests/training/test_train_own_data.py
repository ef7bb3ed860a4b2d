"""The README's commands on a newcomer's own data: the paper profile on 6 classes, a failed start
that leaves nothing behind, predict --split, and TensorBoard events in every run."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segkit.data import save_mask
from segkit.engine import TrainConfig
from cli_run import cli

CLASSES = ("background", "crack", "rust", "dent", "scratch", "hole")  # not the paper's 3
SMOKE = ["--epochs", "1", "--set", "input_shape=[64,64]", "--set", "max_train_batches=1", "--set", "max_val_images=2",
         "--set", "num_workers=0", "--no-progress"]  # size only: nothing about classes or weights


def six_classes(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    names = [f"p{i:02d}" for i in range(12)]
    for i, name in enumerate(names):
        m = np.zeros((48, 48), np.uint8)
        m[8:24, 8:24] = 1 + i % 5
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(root / "JPEGImages" / f"{name}.jpg")
        save_mask(m, root / "SegmentationClass" / f"{name}.png")
    lists = {"train": names[:8], "val": names[8:10], "test": names[10:]}
    for split, ids in lists.items():
        (root / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("".join(f"{n}\n" for n in ids))
    (root / "classes.txt").write_text("".join(f"{c}\n" for c in CLASSES))
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The README's train command, --profile paper, on 6 classes."""
    base = tmp_path_factory.mktemp("own")
    data = six_classes(base / "data")
    res = cli("train", "--data-root", data, "--run-dir", base / "runs" / "mine" / "improved",
              "--model", "improved-mobilenetv2", "--profile", "paper", *SMOKE)
    return base, res


def test_the_paper_profile_trains_on_six_classes_without_set(run):
    base, res = run
    assert res.returncode == 0, res.stderr
    line = [ln for ln in res.stdout.splitlines() if "the profile's" in ln]
    assert line == ["[segkit] the profile's num_classes=3, cls_weights=[1.0, 2.0, 3.0] are for other data; "
                    "this data has 6 classes: num_classes=6, cls_weights=auto"]
    metrics = (base / "runs" / "mine" / "improved" / "metrics.json").read_text()
    assert "hole" in metrics
    # the paper's own 3-class data keeps the paper's values
    assert TrainConfig.profile("paper").class_changes(3) == ({}, None)
    assert TrainConfig.profile("paper").class_changes(6, keep={"num_classes", "cls_weights"})[0] == {}


def test_none_in_set_is_null():
    assert TrainConfig.profile("paper", num_classes="None", cls_weights="none").num_classes is None


def test_a_failed_start_leaves_nothing_behind(run, tmp_path):
    base, _ = run
    (tmp_path / "three.yaml").write_text("train:\n  num_classes: 3\n")  # a config file of the user's: kept, refused
    res = cli("train", "--data-root", base / "data", "--run-dir", tmp_path / "runs" / "x", "--config",
              tmp_path / "three.yaml", *SMOKE)
    assert res.returncode == 1 and "classes.txt lists 6" in res.stderr
    assert not (tmp_path / "runs").exists()  # no run folder, no .lock, no empty checkpoints/
    empty = tmp_path / "empty"
    empty.mkdir()
    res = cli("train", "--data-root", base / "data", "--run-dir", empty, "--config", tmp_path / "three.yaml", *SMOKE)
    assert res.returncode == 1 and empty.is_dir() and not list(empty.iterdir())  # the folder it did not make stays


def test_predict_a_split(run, tmp_path):
    base, _ = run
    res = cli("predict", base / "runs" / "mine" / "improved", "--split", "test", "--out", tmp_path / "pred",
              "--no-progress")
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (tmp_path / "pred").iterdir()) == ["p10.png", "p11.png"]
    (tmp_path / "list.txt").write_text("p03\n")
    res = cli("predict", base / "runs" / "mine" / "improved", "--split", tmp_path / "list.txt", "--out",
              tmp_path / "one", "--no-progress")
    assert res.returncode == 0 and [p.name for p in (tmp_path / "one").iterdir()] == ["p03.png"]
    res = cli("predict", base / "runs" / "mine" / "improved", "--out", tmp_path / "none")
    assert res.returncode == 1 and "--split" in res.stderr


def test_tensorboard_events_hold_the_history(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    base, _ = run
    folder = base / "runs" / "mine" / "improved" / "tensorboard"
    assert list(folder.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(folder)).Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"history/train_loss", "history/val_loss", "history/miou", "history/iou_hole", "step/lr"} <= scalars
    assert events.Scalars("history/epoch")[0].value == 1
    assert events.Tags()["images"] == ["predictions"]
