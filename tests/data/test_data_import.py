"""A newcomer's own defect data: `segkit data import` for each layout, near-binary masks, and
stratified splits that keep rare classes in every split."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segkit.data import VOCSegmentation, check_dataset, fix_binary_masks, make_splits, read_mask
from segkit.data.voc import binary_kind
from cli_run import cli


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def smoothed(h: int, w: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """A 0/255 mask with a white box, resized down and up with smoothing: grey values at its edges."""
    m = np.zeros((h, w), np.uint8)
    y0, y1, x0, x1 = box
    m[y0:y1, x0:x1] = 255
    small = Image.fromarray(m).resize((w // 2, h // 2), Image.BILINEAR)
    return np.asarray(small.resize((w, h), Image.BILINEAR))


def photo(path: Path, h: int = 64, w: int = 64, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)


def class_folders(src: Path) -> Path:
    """crack/ (x.png beside x.jpg), rust/ (x_mask.png beside x.png), ok/ (no masks)."""
    for i in range(4):
        photo(src / "crack" / f"{i}.jpg", seed=i)
        Image.fromarray(smoothed(64, 64, (8, 30, 8 + i, 40))).save(src / "crack" / f"{i}.png")
        photo(src / "rust" / f"{i}.png", seed=10 + i)
        Image.fromarray(smoothed(64, 64, (30, 60, 20, 50 + i))).save(src / "rust" / f"{i}_mask.png")
        photo(src / "ok" / f"{i}.jpg", seed=20 + i)
    return src


# ----------------------------------------------------------------------------- 1. import
def test_import_class_folders_writes_voc_and_never_touches_the_source(tmp_path):
    src = class_folders(tmp_path / "photos")
    before = snapshot(src)
    res = cli("data", "import", src, tmp_path / "mine", "--ratio", "8:1:1")
    assert res.returncode == 0, res.stderr
    assert "folders layout: 12 image(s), classes background, crack, rust" in res.stdout
    assert "4 image(s) have no mask and are background only" in res.stdout
    assert snapshot(src) == before  # the source as it was
    root = tmp_path / "mine"
    assert (root / "classes.txt").read_text().split() == ["background", "crack", "rust"]
    assert read_mask(root / "SegmentationClass" / "crack_0.png").max() == 1
    assert set(np.unique(read_mask(root / "SegmentationClass" / "rust_2.png")).tolist()) == {0, 2}
    assert read_mask(root / "SegmentationClass" / "ok_1.png").max() == 0
    # the images are copied byte for byte, the smoothed edges cut at 128
    assert (root / "JPEGImages" / "rust_0.png").read_bytes() == (src / "rust" / "0.png").read_bytes()
    edge = np.asarray(Image.open(src / "crack" / "0.png"))
    assert np.array_equal(read_mask(root / "SegmentationClass" / "crack_0.png") == 1, edge >= 128)
    lists = root / "ImageSets" / "Segmentation"
    assert {p.name for p in lists.glob("*.txt")} >= {"train.txt", "val.txt", "test.txt"}
    assert check_dataset(root) == [] or all(p.severity == "warning" for p in check_dataset(root))
    VOCSegmentation(root, "train")  # trains as it is


def test_a_class_folder_of_all_black_masks_is_defect_free_and_grey_images_are_one_warning(tmp_path):
    """As the magnetic-tile set ships: MT_Free/ holds grayscale images with all-black masks."""
    src = class_folders(tmp_path / "photos")
    (src / "free").mkdir()
    for i in range(5):
        Image.fromarray(np.full((64, 64), 90 + i, np.uint8)).save(src / "free" / f"{i}.jpg")
        Image.fromarray(np.zeros((64, 64), np.uint8)).save(src / "free" / f"{i}.png")
    res = cli("data", "import", src, tmp_path / "mine", "--ratio", "8:1:1")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "mine" / "classes.txt").read_text().split() == ["background", "crack", "rust"]
    assert "folder free: every mask is background, so its images are defect-free" in res.stdout
    grey = [p for p in check_dataset(tmp_path / "mine") if "converted to 8-bit RGB" in p.message]
    assert len(grey) == 1 and "5 image(s) of mode L (grayscale)" in grey[0].message


def test_import_refuses_a_folder_it_did_not_make_and_replaces_its_own(tmp_path):
    src = class_folders(tmp_path / "photos")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    res = cli("data", "import", src, theirs)
    assert res.returncode == 1 and "not made by `segkit data import`" in res.stderr
    assert snapshot(theirs) == {"notes.txt": b"mine"}
    res = cli("data", "import", src, src / "inside")
    assert res.returncode == 1 and "inside the source" in res.stderr and not (src / "inside").exists()

    assert cli("data", "import", src, tmp_path / "mine").returncode == 0
    for p in (src / "rust").glob("3*"):
        p.unlink()  # one image fewer: a second import leaves no stale copy
    assert cli("data", "import", src, tmp_path / "mine").returncode == 0
    assert not list((tmp_path / "mine" / "JPEGImages").glob("rust_3.*"))
    assert json.loads((tmp_path / "mine" / "import.json").read_text())["format"] == "folders"


def test_import_flat_folder_with_a_class_map(tmp_path):
    src = tmp_path / "export"
    for i in range(6):
        photo(src / f"img{i}.jpg", seed=i)
        m = np.zeros((64, 64), np.uint8)
        m[:20], m[40:] = 128, 255
        Image.fromarray(m).save(src / f"img{i}_label.png")
    res = cli("data", "import", src, tmp_path / "mine", "--classes", "0=background,128=crack,255=rust")
    assert res.returncode == 0, res.stderr
    mask = read_mask(tmp_path / "mine" / "SegmentationClass" / "img0.png")
    assert mask[0, 0] == 1 and mask[30, 0] == 0 and mask[63, 0] == 2
    res = cli("data", "import", src, tmp_path / "other", "--classes", "background,crack")  # two classes: >= 128
    assert res.returncode == 0 and read_mask(tmp_path / "other" / "SegmentationClass" / "img0.png").max() == 1
    res = cli("data", "import", src, tmp_path / "bad", "--classes", "0=background,255=rust", "--format", "flat",
              "--no-stratify", "--threshold", "200")  # two classes cut at 200: 128 is background
    assert res.returncode == 0 and read_mask(tmp_path / "bad" / "SegmentationClass" / "img0.png")[0, 0] == 0
    res = cli("data", "import", src, tmp_path / "three", "--classes", "0=background,255=rust,9=x")
    assert res.returncode == 1 and "values [128]" in res.stderr and "VALUE=NAME" in res.stderr
    assert not (tmp_path / "three").exists()  # a failed import leaves nothing behind
    res = cli("data", "import", src, tmp_path / "none")
    assert res.returncode == 1 and "needs the classes" in res.stderr


def test_import_labelme_goes_through_the_same_command(tmp_path):
    src = tmp_path / "annotations"
    photo(src / "a.png", 32, 32)
    shape = {"label": "damage", "shape_type": "rectangle", "points": [[4, 4], [20, 20]]}
    (src / "a.json").write_text(json.dumps({"imagePath": "a.png", "imageHeight": 32, "imageWidth": 32,
                                            "shapes": [shape]}))
    res = cli("data", "import", src, tmp_path / "mine", "--classes", "background,damage")
    assert res.returncode == 0, res.stderr and "labelme layout" in res.stdout
    assert read_mask(tmp_path / "mine" / "SegmentationClass" / "a.png")[10, 10] == 1
    assert (tmp_path / "mine" / "ImageSets" / "Segmentation" / "train.txt").read_text().split() == ["a"]


# ----------------------------------------------------------------------------- 2. near-binary masks
def near_binary_set(root: Path, n: int = 6) -> Path:
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        photo(root / "JPEGImages" / f"m{i}.jpg", 512, 512, seed=i)  # a small defect on a large image
        Image.fromarray(smoothed(512, 512, (40, 80 + i, 40, 90))).save(root / "SegmentationClass" / f"m{i}.png")
    (root / "ImageSets" / "Segmentation" / "train.txt").write_text("".join(f"m{i}\n" for i in range(n)))
    (root / "classes.txt").write_text("background\ncrack\n")
    return root


def test_near_binary_masks_are_named_by_check_and_fixed_at_the_threshold(tmp_path):
    root = near_binary_set(tmp_path / "d")
    counts = np.bincount(np.asarray(Image.open(root / "SegmentationClass" / "m0.png")).ravel(), minlength=256)
    assert binary_kind(counts, 2) == "near-binary"
    res = cli("data", "check", root)
    assert res.returncode == 1
    errors = [ln for ln in res.stdout.splitlines() if ln.startswith("ERROR")]
    assert len(errors) == 1 and "6 of 6 mask(s) are near-binary" in errors[0]  # one line, not one per mask
    assert f"segkit data fix-binary {root} --threshold 128" in errors[0]
    with pytest.raises(ValueError, match="near-binary.*--threshold 128"):
        VOCSegmentation(root, "train")

    res = cli("data", "fix-binary", root)  # says why it rewrites nothing
    assert res.returncode == 1 and "values in between" in res.stderr and "--threshold 128" in res.stderr
    raw = np.asarray(Image.open(root / "SegmentationClass" / "m3.png"))
    res = cli("data", "fix-binary", root, "--threshold", "128")
    assert res.returncode == 0 and "rewrote 6" in res.stdout
    assert np.array_equal(read_mask(root / "SegmentationClass" / "m3.png"), (raw >= 128).astype(np.uint8))
    res = cli("data", "fix-binary", root)
    assert res.returncode == 0 and "nothing to rewrite: no mask holds 255" in res.stdout
    assert fix_binary_masks(root) == []


# ----------------------------------------------------------------------------- 3. stratified splits
def rare_class_set(root: Path) -> Path:
    """40 images: class 1 in 3 of them, class 2 in 4, class 3 in 2 (too few for three splits)."""
    for sub in ("JPEGImages", "SegmentationClass"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    from segkit.data import save_mask

    for i in range(40):
        m = np.zeros((16, 16), np.uint8)
        if i in (5, 17, 33):
            m[:4] = 1
        if i in (2, 9, 21, 38):
            m[4:8] = 2
        if i in (11, 12):
            m[8:] = 3
        photo(root / "JPEGImages" / f"n{i:02d}.jpg", 16, 16, seed=i)
        save_mask(m, root / "SegmentationClass" / f"n{i:02d}.png")
    (root / "classes.txt").write_text("background\na\nb\nc\n")
    return root


@pytest.mark.parametrize("seed", range(5))
def test_stratified_split_keeps_every_class_with_three_images_in_every_split(tmp_path, seed):
    root = rare_class_set(tmp_path / "d")
    res = cli("data", "split", root, "--ratio", "8:1:1", "--seed", seed)
    assert res.returncode == 0 and "stratified by class" in res.stdout
    per_class: dict[str, list[int]] = {}
    probs = check_dataset(root, per_class=per_class)
    for split in ("train", "val", "test"):
        assert per_class[split][1] >= 1 and per_class[split][2] >= 1, (split, per_class)
    assert [len(per_class) and sum(1 for _ in open(root / "ImageSets" / "Segmentation" / f"{s}.txt"))
            for s in ("train", "val", "test")] == [32, 4, 4]  # the unstratified sizes
    text = "\n".join(map(str, probs))
    assert "class 1 (a) is in only 1 image(s) of the val split" in text
    assert "a larger val split gives it more" in text and "--val 0.2 --force" in text  # already in every split
    assert "class 3 (c)" in text and "add images that contain it (it is in 2 in all)" in text
    res = cli("data", "check", root)
    assert "images per class and split:" in res.stdout and "a " in res.stdout

    assert cli("data", "split", root, "--no-stratify").returncode == 1  # lists are there: --force
    res = cli("data", "split", root, "--no-stratify", "--force")
    assert res.returncode == 0 and "stratified" not in res.stdout
    assert len(list((root / "ImageSets" / "Segmentation").glob("*.bak"))) >= 4  # the old lists kept


def test_make_splits_strata_keep_sizes():
    names = [f"n{i}" for i in range(20)]
    strata = {n: frozenset({0, 1}) if n in ("n3", "n7", "n15") else frozenset({0}) for n in names}
    plain = make_splits(names, 0.1, 0.1, seed=0)
    out = make_splits(names, 0.1, 0.1, seed=0, strata=strata)
    assert {k: len(v) for k, v in out.items()} == {k: len(v) for k, v in plain.items()}
    assert all(any(n in ("n3", "n7", "n15") for n in out[s]) for s in ("train", "val", "test"))
