"""The synthetic wire-rope generator: layout, determinism, documented class shares."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from segkit.data import VOCSegmentation, dataset_stats, make_synthetic_wirerope, render_wirerope


def _digest(root):
    h = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return h


def test_layout_and_classes(synthetic_root):
    assert (synthetic_root / "classes.txt").read_text().split() == ["background", "corrosion", "broken_wire"]
    seg = synthetic_root / "ImageSets" / "Segmentation"
    train = seg.joinpath("train.txt").read_text().split()
    val = seg.joinpath("val.txt").read_text().split()
    assert len(train) + len(val) == 24 and not set(train) & set(val)
    assert sorted(train + val) == seg.joinpath("trainval.txt").read_text().split()
    img = Image.open(synthetic_root / "JPEGImages" / f"{train[0]}.jpg")
    mask = Image.open(synthetic_root / "SegmentationClass" / f"{train[0]}.png")
    assert img.mode == "RGB" and img.size == (64, 64)
    assert mask.mode == "P" and mask.size == (64, 64)
    assert json.loads((synthetic_root / "synthetic.json").read_text())["seed"] == 0


def test_same_seed_byte_identical_other_seed_differs(tmp_path):
    a = make_synthetic_wirerope(tmp_path / "a", n_images=5, size=64, seed=3)
    b = make_synthetic_wirerope(tmp_path / "b", n_images=5, size=64, seed=3)
    c = make_synthetic_wirerope(tmp_path / "c", n_images=5, size=64, seed=4)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)
    # image i does not depend on n_images
    d = make_synthetic_wirerope(tmp_path / "d", n_images=2, size=64, seed=3)
    assert _digest(d)["JPEGImages/rope_00001.jpg"] == _digest(a)["JPEGImages/rope_00001.jpg"]


def test_render_classes_follow_flags():
    rng = np.random.default_rng(0)
    rgb, mask = render_wirerope(rng, 96, corrosion=False, broken_wire=False)
    assert rgb.shape == (96, 96, 3) and rgb.dtype == np.uint8 and set(np.unique(mask)) == {0}
    rgb, mask = render_wirerope(np.random.default_rng(1), (80, 112), corrosion=True, broken_wire=True)
    assert rgb.shape == (80, 112, 3)
    assert set(np.unique(mask)) == {0, 1, 2}
    assert rgb.std() > 10  # textured, not flat


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n_images"):
        make_synthetic_wirerope(tmp_path / "x", n_images=0)
    with pytest.raises(ValueError, match="p_corrosion"):
        make_synthetic_wirerope(tmp_path / "x", n_images=2, p_corrosion=0.9, p_broken_wire=0.9)
    with pytest.raises(ValueError, match="val_fraction"):
        make_synthetic_wirerope(tmp_path / "x", n_images=2, val_fraction=0.6, test_fraction=0.5)


def test_eight_one_one_split_and_dataset_loads(tmp_path):
    root = make_synthetic_wirerope(tmp_path / "w", n_images=20, size=48, seed=1, val_fraction=0.1, test_fraction=0.1)
    seg = root / "ImageSets" / "Segmentation"
    assert [len(seg.joinpath(f"{s}.txt").read_text().split()) for s in ("train", "val", "test")] == [16, 2, 2]
    ds = VOCSegmentation(root, "test", input_shape=(48, 48))
    x, y = ds[0]
    assert x.shape == (3, 48, 48) and y.max() <= 2


@pytest.mark.slow
def test_documented_class_shares(tmp_path):
    """120 images at 128 px must fall in the ranges documented in segkit/data/synthetic/__init__.py."""
    root = make_synthetic_wirerope(tmp_path / "w", n_images=120, size=128, seed=0)
    st = dataset_stats(root)
    share = dict(zip(st.classes["name"], 100 * st.classes["pixel_share"]))
    images = dict(zip(st.classes["name"], 100 * st.classes["image_share"]))
    assert 98.2 <= share["background"] <= 99.5
    assert 0.4 <= share["corrosion"] <= 1.3
    assert 0.15 <= share["broken_wire"] <= 0.6
    assert 28 <= images["corrosion"] <= 48
    assert 55 <= images["broken_wire"] <= 75
    # broken wires are thin: median object is a few px wide (area / length small)
    obj = st.objects[st.objects["name"] == "broken_wire"]
    assert len(obj) > 50 and obj["area"].median() < 150


def test_split_is_stratified_so_val_holds_every_class(tmp_path):
    from PIL import Image
    import numpy as np

    root = make_synthetic_wirerope(tmp_path / "s", n_images=60, size=40, seed=3, val_fraction=0.1, test_fraction=0.1)
    seg = root / "ImageSets" / "Segmentation"
    splits = {s: seg.joinpath(f"{s}.txt").read_text().split() for s in ("train", "val", "test")}
    assert [len(v) for v in splits.values()] == [48, 6, 6]
    assert len(set().union(*splits.values())) == 60
    for split in ("val", "test"):
        present = set()
        for name in splits[split]:
            present |= set(np.unique(np.array(Image.open(root / "SegmentationClass" / f"{name}.png"))).tolist())
        assert present == {0, 1, 2}, (split, present)


def test_wire_width_widens_the_broken_wires_only():
    import numpy as np

    from segkit.data.synthetic.render import render_wirerope

    thin = render_wirerope(np.random.default_rng([0, 1]), 64, broken_wire=True)[1]
    wide = render_wirerope(np.random.default_rng([0, 1]), 64, broken_wire=True, wire_width=2.5)[1]
    assert (wide == 2).sum() > 1.8 * (thin == 2).sum() > 0 and not (wide == 1).any()
