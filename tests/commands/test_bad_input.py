"""Bad input and faults, as a user meets them: each test feeds one wrong thing to the CLI (or
the library, where a user would call it) and checks for one clear line and nothing lost.

`cli` runs ``segkit.cli.main(argv)`` in this process (the same entry point as the ``segkit``
script, without a second torch import per call); `segkit_cli` runs ``python -m segkit`` in a
subprocess where the process matters: environment variables, the locale, a memory limit.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import segkit
from segkit.data import VOCSegmentation, save_mask
from segkit.data.voc import read_class_names
from segkit.engine import TrainConfig
from cli_run import cli

SRC = str(Path(segkit.__file__).resolve().parents[1])
REPO_NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
TINY = ["--set", "input_shape=[64,64]", "--epochs", "1", "--set", "Unfreeze_batch_size=4", "--set", "num_workers=0",
        "--set", "max_train_batches=1", "--set", "max_val_images=1", "--no-progress"]


# ----------------------------------------------------------------------------- helpers
def segkit_cli(*args, cwd: Path, env: dict | None = None, data_limit_gb: float | None = None):
    """Run ``python -m segkit ARGS`` as a user would (this checkout's segkit, no SEGKIT_DEBUG)."""
    full_env = {k: v for k, v in os.environ.items() if k != "SEGKIT_DEBUG"}
    full_env["PYTHONPATH"] = SRC + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.update(env or {})

    def limit():  # a regression that allocates a huge buffer fails with MemoryError, not the machine
        cap = int(data_limit_gb * 2 ** 30)
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))

    return subprocess.run([sys.executable, "-m", "segkit", *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=300,
                          preexec_fn=limit if data_limit_gb else None)


def one_line_error(res: subprocess.CompletedProcess, *needles: str) -> str:
    """Assert a non-zero exit with exactly one ``error:`` line holding `needles` and no traceback."""
    assert res.returncode != 0, res.stdout + res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if "error:" in ln]
    assert len(lines) == 1, res.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def write_voc(root: Path, masks: dict[str, np.ndarray], splits: dict[str, list[str]],
              classes=("background", "a", "b"), ext: str = ".png") -> Path:
    """A VOC-layout dataset: one grey image per mask (brightness from the label), split files, classes.txt."""
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for name, m in masks.items():
        grey = (np.asarray(m, np.uint8) % 4 * 60 + 20).astype(np.uint8)
        Image.fromarray(np.stack([grey] * 3, -1)).save(root / "JPEGImages" / f"{name}{ext}")
        save_mask(m, root / "SegmentationClass" / f"{name}.png")
    for split, names in splits.items():
        (root / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
    if classes:
        (root / "classes.txt").write_text("".join(f"{c}\n" for c in classes), encoding="utf-8")
    return root


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> bytes): equal snapshots mean nothing was touched."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def users_files(folder: Path, names=("config.yaml", "history.csv", "metrics.json", "checkpoints/best.pt",
                                     "index.html", "report.pdf")) -> Path:
    """A folder of a user's own files that happen to carry segkit's file names."""
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(f"the user's own {name}\n".encode())
    return folder


def blocks(h: int, w: int, seed: int, classes=(0, 1, 2)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.choice(np.asarray(classes, np.uint8), (h // 8 + 1, w // 8 + 1))
    return np.kron(small, np.ones((8, 8), np.uint8))[:h, :w]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run trained by the CLI from a YAML config that writes its numbers the way people do
    (``Init_lr: 5e-4``, which PyYAML reads as a string), plus ``--set`` numbers of the same kind."""
    base = tmp_path_factory.mktemp("trained")
    assert cli("data", "synth", base / "data", "--n-images", 8, "--size", 64).returncode == 0
    (base / "cfg.yaml").write_text("train:\n  model: deeplabv3plus-mobilenetv2\n  Init_lr: 5e-4\n"
                                   "  optimizer_type: adam\n  init_type: none\n")
    res = cli("train", "--data-root", base / "data", "--run-dir", base / "run", "--config", base / "cfg.yaml",
              "--set", "Min_lr=1e-6", "--set", "grad_clip=1e1", *TINY)
    assert res.returncode == 0, res.stderr
    return base


# ----------------------------------------------------------------------------- 1. padding
def test_padding_is_ignored_by_default_and_pad_label_restores_the_reference(tmp_path):
    """Masks without class 0: any 0 in a target is padding. By default padding is ignore_index
    (255); pad_label=0 (the paper profile) labels it background, at exactly the same pixels."""
    masks = {f"m{i}": blocks(32, 64, i, classes=(1, 2)) for i in range(2)}  # wide: letterbox bars top/bottom
    root = write_voc(tmp_path / "d", masks, {"train": list(masks), "val": list(masks)})
    val = VOCSegmentation(root, "val", input_shape=(64, 64))[0][1]
    assert (val[:16] == 255).all() and (val[48:] == 255).all() and not (val == 0).any()
    val_ref = VOCSegmentation(root, "val", input_shape=(64, 64), pad_label=0)[0][1]
    assert (val_ref[:16] == 0).all() and torch.equal(val_ref[16:48], val[16:48])

    default = VOCSegmentation(root, "train", input_shape=(64, 64), augment=True)
    reference = VOCSegmentation(root, "train", input_shape=(64, 64), augment=True, pad_label=0)
    padded = 0
    for epoch in range(4):
        default.set_epoch(epoch)
        reference.set_epoch(epoch)
        for i in range(len(default)):
            y, y_ref = default[i][1], reference[i][1]
            assert set(y.unique().tolist()) <= {1, 2, 255}
            assert torch.equal(y == 255, y_ref == 0)
            padded += int((y == 255).sum())
    assert padded > 0  # the scale/paste augmentation did pad

    assert TrainConfig.profile("quick").pad_label is None
    assert TrainConfig.profile("paper").pad_label == 0  # fidelity to the reference recipe
    assert TrainConfig.profile("quick", pad_label="0").pad_label == 0  # what --set pad_label=0 passes
    with pytest.raises(ValueError, match="pad_label=7 must be a class index"):
        VOCSegmentation(root, "val", pad_label=7)


# ----------------------------------------------------------------------------- 2. profiles
@pytest.mark.parametrize("text, needles", [
    ("trian:\n  UnFreeze_Epoch: 3\n", ["unknown section(s) ['trian']", "Did you mean 'train'"]),
    ("notebooks:\n  all: {epochs: 3}\n", ["has no 'train:' section"]),
])
def test_profile_without_train_section_is_an_error(tmp_path, text, needles):
    (tmp_path / "mine.yaml").write_text(text)
    res = cli("train", "--data-root", tmp_path / "nowhere", "--run-dir", tmp_path / "run", "--profile",
              tmp_path / "mine.yaml")
    one_line_error(res, "mine.yaml", *needles)
    assert not (tmp_path / "run").exists()
    # segkit report reads the same file through the same loader
    res = cli("report", "--profile", tmp_path / "mine.yaml", "--notebooks", tmp_path / "none")
    one_line_error(res, *needles)


# ----------------------------------------------------------------------------- 3. types and one-line errors
def test_numbers_from_yaml_and_set_are_coerced(trained):
    cfg = json.loads(json.dumps(__import__("yaml").safe_load((trained / "run" / "config.yaml").read_text())))
    tc = cfg["train"]
    assert tc["Init_lr"] == 5e-4 and tc["Min_lr"] == 1e-6 and tc["grad_clip"] == 10.0
    assert tc["pad_label"] is None and tc["check_binary"] is True


@pytest.mark.parametrize("item, needles", [
    ("Unfreeze_batch_size=4.5", ["TrainConfig.Unfreeze_batch_size=4.5", "expected an integer"]),
    ("seed=1.5", ["TrainConfig.seed=1.5", "expected an integer"]),
    ("UnFreeze_Epoch=abc", ["TrainConfig.UnFreeze_Epoch='abc'", "expected an integer"]),
    ("optimizer_type=sgdd", ["'sgdd'", "Did you mean 'sgd'"]),
    ("model_kwargs={attn: se", ["--set 'model_kwargs={attn: se'"]),
])
def test_bad_set_values_give_one_line(tmp_path, item, needles):
    res = cli("train", "--data-root", tmp_path / "nowhere", "--run-dir", tmp_path / "run", "--set", item)
    one_line_error(res, *needles)


def test_debug_variable_shows_the_traceback(tmp_path):
    args = ("train", "--data-root", "d", "--run-dir", "r", "--set", "seed=1.5")
    one_line_error(segkit_cli(*args, cwd=tmp_path), "TrainConfig.seed=1.5")  # the real `python -m segkit`
    res = segkit_cli(*args, cwd=tmp_path, env={"SEGKIT_DEBUG": "1"})
    assert res.returncode != 0 and "Traceback" in res.stderr and "TrainConfig.seed=1.5" in res.stderr


def test_bad_model_kwargs_key_gives_one_line(trained):
    res = cli("train", "--data-root", trained / "data", "--run-dir", trained / "bad_kwargs",
              "--set", "model_kwargs={nonsense: 1}", *TINY)
    one_line_error(res, "unknown argument(s) ['nonsense']")


def test_full_disk_gives_one_line(trained):
    # /dev/full answers every write with ENOSPC, as a full disk does
    res = cli("evaluate", trained / "run", "--max-images", 1, "--no-progress", "--json", "/dev/full")
    one_line_error(res, "/dev/full", "No space left on device")


# ----------------------------------------------------------------------------- 7. binary masks
def test_binary_masks_found_in_a_mostly_background_set(tmp_path):
    """2 of 16 masks are 0/255, the rest only background: a sample of 8 missed them."""
    masks = {f"m{i:02d}": np.zeros((32, 32), np.uint8) for i in range(16)}
    for name in ("m05", "m10"):
        masks[name][8:20, 8:20] = 255
    names = sorted(masks)
    root = write_voc(tmp_path / "d", masks, {"train": names[:12], "val": names[12:]}, classes=("background", "damage"))
    res = cli("train", "--data-root", root, "--run-dir", tmp_path / "run", *TINY)
    one_line_error(res, "look binary 0/255 (2 of 12 hold 255", "segkit data fix-binary", "--set check_binary=false")
    assert cli("data", "check", root).returncode == 1
    assert TrainConfig.profile("quick", check_binary="false").check_binary is False

    res = cli("data", "fix-binary", root)
    assert res.returncode == 0 and "rewrote 2 binary" in res.stdout
    ds = VOCSegmentation(root, "train")
    assert ds.load_raw(names.index("m05"))[1].max() == 1


# ----------------------------------------------------------------------------- 8. 16-bit images
def test_12_bit_data_in_a_16_bit_png_keeps_its_brightness(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 4096, (64, 64)).astype(np.uint16)  # 12-bit camera values
    root = write_voc(tmp_path / "d", {"a": blocks(64, 64, 0)}, {"train": ["a"]})
    (root / "JPEGImages" / "a.png").unlink()
    Image.fromarray(data).save(root / "JPEGImages" / "a.png")  # mode I;16
    res = cli("data", "stats", root, "--split", "train")
    assert res.returncode == 0, res.stderr
    mean = [float(v) for v in re.search(r"mean \[([^\]]+)\]", res.stdout).group(1).split(",")]
    want = float((np.floor(data / 4095.0 * 255.0 + 0.5)).mean() / 255.0)  # ~0.5; /65535 gave ~0.03
    assert mean == pytest.approx([want] * 3, abs=1e-3)


# ----------------------------------------------------------------------------- 9. Labelme
def _labelme(folder: Path, name: str, image_path: str, h: int = 32, w: int = 32) -> None:
    shape = {"label": "damage", "shape_type": "rectangle", "points": [[4, 4], [20, 20]]}
    (folder / f"{name}.json").write_text(json.dumps({"imagePath": image_path, "imageHeight": h, "imageWidth": w,
                                                     "shapes": [shape]}))


def test_labelme_refuses_paths_outside_the_folder(tmp_path):
    src = tmp_path / "annotations"
    src.mkdir()
    Image.fromarray(np.full((32, 32, 3), 99, np.uint8)).save(tmp_path / "secret.png")
    _labelme(src, "a", "../secret.png")
    res = cli("data", "labelme", src, tmp_path / "out", "--classes", "background,damage")
    one_line_error(res, "imagePath '../secret.png' points outside", "--allow-outside")
    assert not list((tmp_path / "out").rglob("*.jpg"))  # nothing was copied

    _labelme(src, "a", str(tmp_path / "secret.png"))  # an absolute path: refused the same way
    one_line_error(cli("data", "labelme", src, tmp_path / "out", "--classes", "background,damage"), "points outside")
    res = cli("data", "labelme", src, tmp_path / "out", "--classes", "background,damage", "--allow-outside")
    assert res.returncode == 0 and (tmp_path / "out" / "JPEGImages" / "a.jpg").is_file()


def test_labelme_checks_the_claimed_size_before_allocating(tmp_path):
    src = tmp_path / "annotations"
    src.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(src / "a.png")
    _labelme(src, "a", "a.png", h=200000, w=200000)  # 40 GB as a mask
    res = segkit_cli("data", "labelme", src, tmp_path / "out", "--classes", "background,damage", cwd=tmp_path,
                     data_limit_gb=4)
    one_line_error(res, "the JSON says 200000x200000", "the image is 32x32")
    (src / "a.png").unlink()  # and with no image to compare: PIL's decompression-bomb limit
    res = segkit_cli("data", "labelme", src, tmp_path / "out", "--classes", "background,damage", cwd=tmp_path,
                     data_limit_gb=4)
    one_line_error(res, "claims a 200000x200000 image")


# ----------------------------------------------------------------------------- 10. predict a folder
def test_predict_folder_keeps_going_past_a_bad_image(trained, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a.png", "c.jpg"):
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(folder / name)
    (folder / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    res = cli("predict", trained / "run", folder, "--out", tmp_path / "out", "--no-progress")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "skipped" in res.stderr and "b.jpg" in res.stderr and "1 of 3 image(s) could not be read" in res.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "c.png"]


# ----------------------------------------------------------------------------- 11. encodings
def test_utf8_class_names_with_a_bom_under_an_ascii_locale(tmp_path):
    root = write_voc(tmp_path / "d", {"a": blocks(32, 32, 0)}, {"train": ["a"]}, classes=None)
    (root / "classes.txt").write_bytes("\ufeff背景\n腐蚀\n断丝\n".encode("utf-8"))  # as Windows Notepad saves it
    assert read_class_names(root) == ["背景", "腐蚀", "断丝"]
    ascii_env = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    res = segkit_cli("data", "stats", root, "--split", "train", cwd=tmp_path, env=ascii_env)
    assert res.returncode == 0, res.stderr
    assert "\\u80cc\\u666f" in res.stdout and "\\ufeff" not in res.stdout  # 背景, escaped for the ASCII terminal


# ----------------------------------------------------------------------------- 12. one name, two files
def test_same_name_as_jpg_and_png_is_an_error(tmp_path):
    masks = {f"m{i}": blocks(32, 32, i) for i in range(3)}
    root = write_voc(tmp_path / "d", masks, {"train": ["m0", "m1"], "val": ["m2"]})
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(root / "JPEGImages" / "m1.jpg")
    res = cli("data", "check", root)
    assert res.returncode == 1 and "m1.jpg" in res.stdout and "m1.png" in res.stdout
    res = cli("train", "--data-root", root, "--run-dir", tmp_path / "run", *TINY)
    one_line_error(res, "m1.jpg", "m1.png", "same name 'm1'")


# ----------------------------------------------------------------------------- 13. clamped learning rate
def test_clamped_init_lr_is_printed_and_warned(trained):
    with pytest.warns(UserWarning, match=r"Init_lr=1e\+06 is above the upper adam limit \[0.0003, 0.0005\]"):
        res = cli("train", "--data-root", trained / "data", "--run-dir", trained / "lr", "--set", "Init_lr=1e6",
                  "--set", "lr_scaling=true", *TINY)  # the reference's scaling and limits (quick uses its rate as given)
    assert res.returncode == 0, res.stderr
    assert "|                  Init_lr |                                1000000.0|" in res.stdout  # the reference row
    assert "effective lr at batch size 4: Init_lr 0.0005" in res.stdout  # and what training really uses


# ----------------------------------------------------------------------------- 14. PSPNet at batch size 1
def test_pspnet_batch_size_one_gives_the_clear_message(trained):
    res = cli("train", "--data-root", trained / "data", "--run-dir", trained / "psp", "--model", "pspnet-r50", *TINY,
              "--set", "Unfreeze_batch_size=1")
    one_line_error(res, "PSPNet pyramid pooling (bin 1)", "batch size 1", "batch size >= 2")


# ----------------------------------------------------------------------------- 15. unsafe checkpoint
def test_unsafe_checkpoint_is_refused_in_segkits_words(trained, tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"model": {}, "payload": argparse.Namespace(cmd="echo owned")}, evil)
    res = cli("evaluate", trained / "run", "--checkpoint", evil, "--no-progress")
    line = one_line_error(res, "non-tensor Python objects", "argparse.Namespace", "for safety")
    assert "weights_only=False" not in res.stderr and line.count("\n") == 0


# ----------------------------------------------------------------------------- 16. failed report
def test_failed_report_leaves_no_stale_pages(trained, tmp_path):
    import nbformat

    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("raise ValueError('boom')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, nbs / "01_fails.ipynb")
    out = tmp_path / "report"
    (out / "html").mkdir(parents=True)
    (out / ".segkit-report").touch()  # last week's report, made by segkit
    (out / "index.html").write_text("<h1>last week's report</h1>")
    (out / "html" / "01_fails.html").write_text("old page")
    (out / "report.pdf").write_bytes(b"%PDF old")
    res = cli("report", "--notebooks", nbs, "--out", out, "--data", trained / "data", "--no-pdf",
              "--runs", tmp_path / "runs", "--figures", tmp_path / "figures", "--kernel", "python3")
    assert res.returncode == 1 and "boom" in res.stderr
    assert not (out / "html" / "01_fails.html").exists() and not (out / "report.pdf").exists()
    index = (out / "index.html").read_text()
    assert "failed" in index and "boom" in index and "last week" not in index


# ----------------------------------------------------------------------------- 17. data check warnings
def test_data_check_warns_about_absent_classes_and_tiny_val_split(tmp_path):
    masks = {f"m{i:02d}": blocks(32, 32, i) for i in range(10)}
    masks["v0"], masks["v1"] = blocks(32, 32, 20, classes=(0, 1)), blocks(32, 32, 21, classes=(0, 1))
    root = write_voc(tmp_path / "d", masks, {"train": [f"m{i:02d}" for i in range(10)], "val": ["v0", "v1"]})
    res = cli("data", "check", root)
    assert res.returncode == 0, res.stdout  # warnings, not errors (--strict fails on them)
    assert "class 2 (b) has no pixel in the 2 image(s) of the val split" in res.stdout
    assert "the val split has only 2 image(s)" in res.stdout
    assert cli("data", "check", root, "--strict").returncode == 1

    clean = {f"m{i:02d}": blocks(32, 32, i) for i in range(20)}
    root = write_voc(tmp_path / "clean", clean, {"train": sorted(clean)[:10], "val": sorted(clean)[10:]})
    res = cli("data", "check", root)
    assert res.returncode == 0 and "no problems found" in res.stdout, res.stdout


# ----------------------------------------------------------------------------- 25.1 code from config.yaml
def test_config_yaml_cannot_name_a_function_to_import(trained, tmp_path):
    """A run directory is shared data: a stitch module "torch:save" in its config.yaml is refused
    by name, never imported and called."""
    import shutil

    import yaml

    run = tmp_path / "run"
    shutil.copytree(trained / "run", run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    planted = tmp_path / "planted.pt"
    config["model"]["stitches"] = [{"at": "backbone.features.7", "where": "after", "module": "torch:save",
                                    "kwargs": {"f": str(planted)}}]
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    res = cli("evaluate", run, "--max-images", 1, "--no-progress")
    one_line_error(res, "config.yaml", "'torch:save' is not a registered module", "register_module")
    assert not planted.exists()


# ----------------------------------------------------------------------------- 25.3 train into a user's folder
def test_train_refuses_a_folder_of_the_users_files(trained, tmp_path):
    mine = users_files(tmp_path / "mine")
    before = snapshot(mine)
    res = cli("train", "--data-root", trained / "data", "--run-dir", mine, *TINY)
    one_line_error(res, str(mine), "is not a segkit run directory", "choose a new or empty folder")
    assert snapshot(mine) == before


# ----------------------------------------------------------------------------- 25.4 report into a user's folder
def test_report_refuses_an_out_folder_of_the_users_files(trained, tmp_path):
    mine = users_files(tmp_path / "mine", names=("index.html", "report.pdf", "report_full.html", "html/page.html",
                                                   "tables/results.csv"))
    before = snapshot(mine)
    res = cli("report", "--notebooks", REPO_NOTEBOOKS, "--only", "00", "--out", mine, "--data", trained / "data",
              "--runs", tmp_path / "runs", "--no-pdf")
    one_line_error(res, str(mine), "is not a segkit report folder", "choose a new or empty folder")
    assert snapshot(mine) == before


# ----------------------------------------------------------------------------- 25.5 regenerating edited data
def test_report_never_regenerates_a_synthetic_dataset_the_user_edited(tmp_path):
    from segkit.data import make_synthetic_wirerope
    from segkit.data.synthetic import ensure_dataset

    data = make_synthetic_wirerope(tmp_path / "data", n_images=8, size=64, seed=1)  # the notebooks ask for seed 0
    (data / "classes.txt").write_text("background\nrust\nbroken_wire\n", encoding="utf-8")  # the user's edit
    before = snapshot(data)
    res = cli("report", "--notebooks", REPO_NOTEBOOKS, "--only", "00", "--data", data, "--out", tmp_path / "out",
              "--runs", tmp_path / "runs", "--no-pdf")
    one_line_error(res, "seed 1 -> 0", "were changed since (changed classes.txt)", "delete synthetic.json")
    assert snapshot(data) == before

    fresh = make_synthetic_wirerope(tmp_path / "fresh", n_images=8, size=64, seed=1)  # nobody touched it
    logged: list[str] = []
    ensure_dataset(fresh, n_images=8, size=64, seed=0, log=logged.append)
    assert logged == [f"regenerating synthetic data in {fresh} (seed 1 -> 0)"]
    assert json.loads((fresh / "synthetic.json").read_text())["seed"] == 0


# ----------------------------------------------------------------------------- 25.6 predict over its inputs
def test_predict_never_writes_over_an_input_and_keeps_same_names_apart(trained, tmp_path):
    rng = np.random.default_rng(0)
    for path in (tmp_path / "imgs" / "a.png", tmp_path / "imgs" / "b.jpg", tmp_path / "other" / "a.png"):
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(path)
    inputs = snapshot(tmp_path)
    res = cli("predict", trained / "run", tmp_path / "imgs", tmp_path / "other", "--out", tmp_path / "imgs",
              "--no-progress")
    assert res.returncode == 0, res.stderr
    after = snapshot(tmp_path)
    assert {name: after[name] for name in inputs} == inputs  # every input as it was
    assert sorted(set(after) - set(inputs)) == ["imgs/a_2.png", "imgs/a_3.png", "imgs/b.png"]
    assert "wrote 3 overlay(s)" in res.stdout


# ----------------------------------------------------------------------------- 25.7 hand-made split files
def test_data_split_keeps_hand_made_split_files(tmp_path):
    masks = {f"m{i}": blocks(32, 32, i) for i in range(6)}
    root = write_voc(tmp_path / "d", masks, {"train": ["m0", "m1", "m2"], "val": ["m3"]})  # made by hand
    splits = root / "ImageSets" / "Segmentation"
    before = snapshot(splits)
    one_line_error(cli("data", "split", root), str(splits), "already holds split files (train.txt, val.txt)",
                   "--force")
    assert snapshot(splits) == before

    assert cli("data", "split", root, "--force").returncode == 0
    after = snapshot(splits)
    for name, data in before.items():  # each old file is kept, byte for byte, as <name>.<time>.bak
        kept = [k for k in after if k.startswith(f"{name}.") and k.endswith(".bak")]
        assert len(kept) == 1 and after[kept[0]] == data
    assert len(after["train.txt"].splitlines()) == 5  # the new 9:1 split of 6 images


# ----------------------------------------------------------------------------- 25.16 split-list names
def test_split_lists_with_spaces_and_extensions(tmp_path):
    masks = {"rope 01": blocks(32, 32, 0), "rope_00000": blocks(32, 32, 1), "c": blocks(32, 32, 2)}
    root = write_voc(tmp_path / "d", masks, {"train": ["rope 01", "  rope_00000.JPG\t", "c.png", ""]})
    ds = VOCSegmentation(root, "train")
    assert ds.ids == ["rope 01", "rope_00000", "c"]
    assert [p.name for p in ds.image_paths] == ["rope 01.png", "rope_00000.png", "c.png"]
    res = cli("data", "check", root, "--splits", "train")
    assert "ERROR" not in res.stdout, res.stdout


# ----------------------------------------------------------------------------- 25.17 inf/nan, --json folder
@pytest.mark.parametrize("how", ["set", "yaml"])
def test_non_finite_numbers_are_refused(tmp_path, how):
    if how == "set":
        res = cli("train", "--data-root", tmp_path / "nowhere", "--run-dir", tmp_path / "run", "--set", "Init_lr=.inf")
        one_line_error(res, "TrainConfig.Init_lr=inf", "not a finite number")
    else:
        (tmp_path / "cfg.yaml").write_text("train:\n  time_limit: .inf\n")
        res = cli("train", "--data-root", tmp_path / "nowhere", "--run-dir", tmp_path / "run",
                  "--config", tmp_path / "cfg.yaml")
        one_line_error(res, "TrainConfig.time_limit=inf", "not a finite number")
    assert not (tmp_path / "run").exists()


def test_evaluate_json_into_a_missing_folder_fails_before_evaluating(trained, tmp_path, monkeypatch):
    import segkit.engine

    def no_load(*a, **k):
        raise AssertionError("loaded the run before checking --json")

    monkeypatch.setattr(segkit.engine, "load_run", no_load)
    res = cli("evaluate", trained / "run", "--no-progress", "--json", tmp_path / "missing_dir" / "m.json")
    one_line_error(res, "--json", "missing_dir", "does not exist", "mkdir -p")


# ----------------------------------------------------------------------------- 25.9 duplicate names
def test_duplicate_class_and_split_names(tmp_path):
    masks = {f"m{i}": blocks(32, 32, i) for i in range(4)}
    root = write_voc(tmp_path / "d", masks, {"train": ["m0", "m1", "m0"], "val": ["m2", "m3"]},
                     classes=("background", "rust", "rust"))
    with pytest.raises(ValueError, match="names class 'rust' twice"):
        read_class_names(root)
    res = cli("data", "check", root)
    assert res.returncode == 1
    assert re.search(r"ERROR .*classes.txt: .*names class 'rust' twice", res.stdout), res.stdout
    assert re.search(r"WARNING .*train.txt: lists 1 name\(s\) more than once \('m0'\)", res.stdout), res.stdout
    res = cli("train", "--data-root", root, "--run-dir", tmp_path / "run", *TINY)
    one_line_error(res, "classes.txt", "'rust' twice")

    (root / "classes.txt").write_text("background\nrust\nwire\n")
    res = cli("train", "--data-root", root, "--run-dir", tmp_path / "run2", *TINY)
    one_line_error(res, "train.txt", "lists 'm0' more than once", "remove the repeated lines")


# ----------------------------------------------------------------------------- 25.8 EXIF orientation
def test_exif_rotated_jpeg_is_read_upright(tmp_path):
    from segkit.cam.images import _to_input
    from segkit.data.voc import read_image

    mask = blocks(48, 32, 0)  # drawn on the displayed (upright) image: 32 wide, 48 high
    root = write_voc(tmp_path / "d", {"a": mask}, {"train": ["a"]}, ext=".jpg")
    stored = Image.fromarray(np.zeros((32, 48, 3), np.uint8))  # stored sideways: 48 wide, 32 high
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    stored.save(root / "JPEGImages" / "a.jpg", exif=exif)
    assert read_image(root / "JPEGImages" / "a.jpg").size == (32, 48)
    ds = VOCSegmentation(root, "train", input_shape=(48, 32))
    img, m = ds.load_original(0)
    assert img.shape == (48, 32, 3) and m.shape == (48, 32)
    from segkit.data.transforms import letterbox
    assert ds.letterbox_info(0) == letterbox(img, (48, 32))[1]  # from the header, upright too
    assert tuple(ds[0][0].shape) == (3, 48, 32)
    assert _to_input(root / "JPEGImages" / "a.jpg")[1].shape == (48, 32, 3)  # cam
    res = cli("data", "check", root)
    assert re.search(r"WARNING .*a\.jpg: carries EXIF orientation 6", res.stdout), res.stdout
    assert "ERROR" not in res.stdout, res.stdout


# ----------------------------------------------------------------------------- 25.10 decompression bombs
def _png_claiming(path: Path, w: int, h: int) -> None:
    """A small PNG whose header claims w x h (what a decompression bomb looks like to a reader)."""
    import struct
    import zlib

    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = bytes(data[12:16]) + struct.pack(">II", w, h) + bytes(data[24:29])
    data[16:24] = struct.pack(">II", w, h)
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))


def test_huge_image_header_is_named_with_its_limit(trained, tmp_path, monkeypatch):
    masks = {f"m{i}": blocks(32, 32, i) for i in range(3)}
    root = write_voc(tmp_path / "d", masks, {"train": ["m0", "m1"], "val": ["m2"]})
    bomb = root / "JPEGImages" / "m1.png"
    _png_claiming(bomb, 60000, 60000)
    res = cli("data", "check", root)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert re.search(r"ERROR .*m1\.png: image .*m1\.png is 60000x60000 .*limit of 89478485 pixels.*"
                     r"SEGKIT_MAX_IMAGE_PIXELS", res.stdout), res.stdout
    res = cli("train", "--data-root", root, "--run-dir", tmp_path / "run", *TINY, "--set", "Unfreeze_batch_size=2")
    one_line_error(res, "m1.png is 60000x60000", "SEGKIT_MAX_IMAGE_PIXELS")

    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.zeros((40, 56, 3), np.uint8)).save(folder / "a.png")
    _png_claiming(folder / "b.png", 60000, 60000)
    res = cli("predict", trained / "run", folder, "--out", tmp_path / "out", "--no-progress")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert re.search(r"skipped .*b\.png: .*60000x60000.*SEGKIT_MAX_IMAGE_PIXELS", res.stderr), res.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]

    monkeypatch.setenv("SEGKIT_MAX_IMAGE_PIXELS", "100")  # the limit is the user's to set
    from segkit.data.voc import read_image
    with pytest.raises(ValueError, match="a.png is 56x40 .*limit of 100 pixels"):
        read_image(folder / "a.png")


# ----------------------------------------------------------------------------- 25.14 truncated last.pt
def test_resume_with_a_truncated_last_pt_falls_back_and_resume_from(trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained / "run", run)
    ckpts = run / "checkpoints"
    assert (ckpts / "ep001.pt").is_file()
    (ckpts / "last.pt").write_bytes((ckpts / "last.pt").read_bytes()[:1000])  # a crash mid-write
    args = ("train", "--data-root", trained / "data", "--config", trained / "cfg.yaml", *TINY)
    res = cli(*args, "--run-dir", run, "--resume", "--epochs", 2)
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stdout.splitlines() if "resuming from ep001.pt instead" in ln]
    assert len(lines) == 1 and "last.pt" in lines[0] and "corrupt or truncated" in lines[0], res.stdout

    (ckpts / "last.pt").write_bytes(b"")
    for ep in ckpts.glob("ep*.pt"):
        keep = tmp_path / ep.name
        ep.replace(keep)
    res = cli(*args, "--run-dir", run, "--resume", "--epochs", 3)
    one_line_error(res, "last.pt", "no readable checkpoints/epNNN.pt", "--resume-from FILE")
    res = cli(*args, "--run-dir", run, "--resume-from", tmp_path / "ep002.pt", "--epochs", 3)
    assert res.returncode == 0, res.stderr
    assert "continuing" in res.stdout and "ep002.pt at epoch 3/3" in res.stdout, res.stdout


def test_resume_loads_on_the_cpu(monkeypatch, tmp_path):
    import segkit.engine.loop as loop

    seen = []
    monkeypatch.setattr(loop, "load_checkpoint", lambda path, map_location=None: seen.append(map_location) or
                        (_ for _ in ()).throw(ValueError(f"{path} is corrupt or truncated; x")))

    class RD:
        def checkpoint(self, name):
            return tmp_path / "checkpoints" / f"{name}.pt"

    (tmp_path / "checkpoints").mkdir()
    for name in ("last", "ep001", "ep002"):
        (tmp_path / "checkpoints" / f"{name}.pt").write_bytes(b"x")
    t = loop.Trainer.__new__(loop.Trainer)
    t.parts = argparse.Namespace(rd=RD())
    t.say = print
    with pytest.raises(ValueError, match="no readable"):
        t._resume_state(None)
    with pytest.raises(ValueError):
        t._resume_state(tmp_path / "checkpoints" / "ep001.pt")
    assert seen == ["cpu"] * 4


# ----------------------------------------------------------------------------- 25.15 another model's checkpoint
def test_checkpoint_of_another_model_is_one_line(trained, tmp_path):
    from segkit.engine.checkpoint import checkpoint_payload
    from segkit.models import build_model

    other = build_model("deeplabv3plus-mobilenetv2", num_classes=5, pretrained=False)
    path = tmp_path / "five.pt"
    torch.save(checkpoint_payload(other, {}, {"name": "deeplabv3plus-mobilenetv2", "num_classes": 5},
                                  [f"c{i}" for i in range(5)], 1), path)
    res = cli("evaluate", trained / "run", "--checkpoint", path, "--no-progress")
    line = one_line_error(res, "five.pt", "holds deeplabv3plus-mobilenetv2 with 5 classes",
                          "expects deeplabv3plus-mobilenetv2 with 3 classes", "tensor(s) of another shape")
    assert len(line) < 800 and "Error(s) in loading state_dict" not in res.stderr

    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "bare.pt")  # a bare state_dict of something else
    res = cli("evaluate", trained / "run", "--checkpoint", tmp_path / "bare.pt", "--no-progress")
    one_line_error(res, "bare.pt", "holds a bare state_dict", "weight(s) missing", "unknown weight(s) (first conv.weight)")


# ----------------------------------------------------------------------------- 25.11 Ctrl-C on report
@pytest.mark.parametrize("where", ["segkit", "kernel"])
def test_ctrl_c_on_report_is_one_line_and_exit_130(trained, tmp_path, monkeypatch, where):
    import nbformat

    import segkit.report.runner as runner

    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), nbs / "01_a.ipynb")

    def interrupted(notebooks, out_dir, **kw):
        if where == "segkit":
            raise KeyboardInterrupt
        raise runner.NotebookFailedError("01_a", 3, 2, "train(...)", "KeyboardInterrupt", "", Path(out_dir) / "01_a.ipynb")

    monkeypatch.setattr(runner, "run_notebooks", interrupted)
    out = tmp_path / "report"
    res = cli("report", "--notebooks", nbs, "--out", out, "--data", trained / "data", "--no-pdf",
              "--runs", tmp_path / "runs", "--figures", tmp_path / "figures")
    assert res.returncode == 130 and "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "interrupted" in lines[0] and "rerun the same command" in lines[0], res.stderr
    assert str(tmp_path / "runs") in lines[0] and "finished runs are reused" in lines[0]
    assert "interrupted" in (out / "index.html").read_text()


# ----------------------------------------------------------------------------- 25.12 disk full
def test_full_disk_while_saving_a_checkpoint_names_the_file(trained, tmp_path, monkeypatch):
    def full(obj, f, *a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", full)
    res = cli("train", "--data-root", trained / "data", "--run-dir", tmp_path / "run", "--config", trained / "cfg.yaml",
              *TINY)
    one_line_error(res, str(tmp_path / "run" / "checkpoints"), ".pt: No space left on device", "free some space")
    assert not [p for p in (tmp_path / "run").rglob("*.tmp-*")]  # no half-written temp file left behind


def test_full_disk_keeps_index_html_whole(tmp_path, monkeypatch):
    import errno

    from segkit.report.export import write_failed_index

    out = tmp_path / "report"
    out.mkdir()
    (out / "index.html").write_text("<h1>the previous page</h1>")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left on device") as err:
        write_failed_index(out, "segkit report", "boom")
    assert err.value.filename == str(out / "index.html")
    assert (out / "index.html").read_text() == "<h1>the previous page</h1>"  # not 0 bytes
    assert sorted(p.name for p in out.iterdir()) == ["index.html"]


# ----------------------------------------------------------------------------- 25.13 out of memory
def test_out_of_memory_names_the_image_its_size_and_the_fix(trained, tmp_path, monkeypatch):
    from segkit.engine import load_run

    def no_memory(self, x):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] data. DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 43200000000 bytes. Error code 12 (Cannot allocate memory)")

    monkeypatch.setattr(type(load_run(trained / "run").model), "forward", no_memory)
    image = tmp_path / "huge.png"
    Image.fromarray(np.zeros((40, 56, 3), np.uint8)).save(image)
    res = cli("predict", trained / "run", image, "--out", tmp_path / "out", "--no-progress", "--device", "cpu")
    one_line_error(res, f"out of memory on {image}, 56x40 px", "resize the image")
    res = cli("evaluate", trained / "run", "--max-images", 1, "--no-progress", "--device", "cpu")
    one_line_error(res, "out of memory on", "JPEGImages", "resize the image")
