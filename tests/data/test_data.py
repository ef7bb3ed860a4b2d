"""segkit.data: VOC dataset, transforms, letterbox, bad inputs, Cityscapes, tools, stats."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from segkit.data import (
    CityscapesSegmentation, DatasetError, TrainAugment, VOCSegmentation, augment_dataset, check_dataset,
    convert_labelme, dataset_stats, fix_binary_masks, labelids_to_trainids, labelme_to_mask, letterbox,
    letterbox_mask, make_splits, sample_grid, save_mask, write_splits,
)

# ----------------------------------------------------------------------------- fixtures

def _blocks(h: int, w: int, seed: int = 0, k: int = 3, cell: int = 8) -> np.ndarray:
    """A blocky label map (cells of `cell` px) with classes 0..k-1."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, k, (h // cell + 1, w // cell + 1)).astype(np.uint8)
    return np.kron(small, np.ones((cell, cell), np.uint8))[:h, :w]


COLOURS = np.array([[0, 200, 0], [220, 0, 0], [0, 0, 230]], np.uint8)  # class -> image colour


def write_voc(root, items, splits=None, classes=("background", "a", "b")):
    """items: name -> (image (array or PIL), mask array or None). Returns root."""
    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    (root / "SegmentationClass").mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / "Segmentation").mkdir(parents=True, exist_ok=True)
    for name, (img, mask) in items.items():
        im = img if isinstance(img, Image.Image) else Image.fromarray(img)
        if im.mode in ("RGB", "L"):
            im.save(root / "JPEGImages" / f"{name}.jpg", quality=95)
        else:
            im.save(root / "JPEGImages" / f"{name}.png")
        if mask is not None:
            save_mask(mask, root / "SegmentationClass" / f"{name}.png")
    splits = splits or {"train": list(items)}
    for s, names in splits.items():
        (root / "ImageSets" / "Segmentation" / f"{s}.txt").write_text("".join(f"{n}\n" for n in names))
    if classes:
        (root / "classes.txt").write_text("\n".join(classes) + "\n")
    return root


@pytest.fixture
def coded_root(tmp_path):
    """Images whose colour encodes the label (for alignment checks), sizes 48x64 and 40x40."""
    items = {}
    for i, (h, w) in enumerate([(48, 64), (40, 40), (64, 48)]):
        m = _blocks(h, w, seed=i)
        items[f"im{i}"] = (COLOURS[m], m)
    return write_voc(tmp_path / "coded", items, splits={"train": list(items), "val": list(items)})


# ----------------------------------------------------------------------------- dataset basics
def test_items_shapes_dtypes_ranges(synthetic_root):
    for split, aug in (("train", True), ("val", False)):
        ds = VOCSegmentation(synthetic_root, split, input_shape=(64, 48), augment=aug)
        assert ds.num_classes == 3 and ds.class_names == ["background", "corrosion", "broken_wire"]
        assert len(ds) == len(ds.ids) > 0
        x, y = ds[0]
        assert x.shape == (3, 64, 48) and x.dtype == torch.float32
        assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
        assert y.shape == (64, 48) and y.dtype == torch.int64
        assert set(y.unique().tolist()) <= {0, 1, 2, 255}  # 255: padding, ignored by default
    rgb, mask = ds.load_original(0)
    assert rgb.dtype == np.uint8 and rgb.shape == (64, 64, 3)
    assert mask.dtype == np.int64 and mask.shape == (64, 64)


def test_voc_nesting_and_num_classes(tmp_path, coded_root):
    nested = tmp_path / "nest" / "VOCdevkit"
    nested.mkdir(parents=True)
    (nested / "VOC2007").symlink_to(coded_root)
    ds = VOCSegmentation(tmp_path / "nest", "val", input_shape=32)
    assert ds.voc_root.name == "VOC2007" and len(ds) == 3
    with pytest.raises(ValueError, match="classes.txt lists 3"):
        VOCSegmentation(coded_root, "val", num_classes=5)


def test_void_becomes_ignore_index(tmp_path):
    m = _blocks(32, 32)
    m[:4] = 255
    root = write_voc(tmp_path / "v", {"a": (COLOURS[np.minimum(m, 2)], m)})
    ds = VOCSegmentation(root, "train", input_shape=(32, 32), ignore_index=-1)
    _, y = ds[0]
    assert (y[:4] == -1).all() and (y[4:] >= 0).all()
    assert (ds.load_original(0)[1][:4] == -1).all()


def test_augmentation_keeps_image_and_mask_aligned(coded_root):
    """The label is painted into the image; after flips/scales/crops/rotations the image
    colour must still give the mask (away from boundaries, where bicubic blends)."""
    aug = TrainAugment((56, 56), hue=0, sat=0, val=0, blur_p=0.0, rotate_p=0.5, mask_fill=255)
    ds = VOCSegmentation(coded_root, "train", input_shape=(56, 56), augment=aug, ignore_index=255)
    from scipy import ndimage

    checked = 0
    for epoch in range(6):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            x, y = ds[i]
            rgb = (x.permute(1, 2, 0).numpy() * 255).astype(np.float32)
            dist = ((rgb[:, :, None, :] - COLOURS[None, None].astype(np.float32)) ** 2).sum(-1)
            decoded = dist.argmin(-1)
            y = y.numpy()
            valid = y != 255
            # drop pixels within 2 px of any label edge (including padding edges)
            edges = np.zeros_like(valid)
            for c in (0, 1, 2, 255):
                edges |= ndimage.binary_dilation(y == c, iterations=2) & (y != c)
            sel = valid & ~edges
            if sel.sum() < 50:
                continue
            agree = (decoded[sel] == y[sel]).mean()
            assert agree > 0.97, (epoch, i, agree)
            # the grey padding and the mask fill coincide
            grey = (np.abs(rgb - 128) < 3).all(-1)
            if (~valid & ~edges).sum() > 20:
                assert (grey[~valid & ~edges]).mean() > 0.9
            checked += 1
    assert checked >= 10


def test_augment_deterministic_and_epoch_dependent(synthetic_root):
    ds = VOCSegmentation(synthetic_root, "train", input_shape=(48, 48), augment=True, seed=5)
    a = ds[1]
    b = ds[1]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    ds.set_epoch(1)
    c = ds[1]
    assert not torch.equal(a[0], c[0])
    other = VOCSegmentation(synthetic_root, "train", input_shape=(48, 48), augment=True, seed=6)
    assert not torch.equal(a[0], other[1][0])


def test_dataloader_workers_match_single_process(synthetic_root):
    ds = VOCSegmentation(synthetic_root, "train", input_shape=(32, 32), augment=True, seed=1)
    ds.set_epoch(3)
    sub = torch.utils.data.Subset(ds, range(6))
    one = [b for b in DataLoader(sub, batch_size=3, num_workers=0)]
    two = [b for b in DataLoader(sub, batch_size=3, num_workers=2)]
    for (x0, y0), (x1, y1) in zip(one, two):
        assert torch.equal(x0, x1) and torch.equal(y0, y1)


def test_mask_fill_option(coded_root):
    aug0 = TrainAugment((64, 64), scale=(0.25, 0.3), rotate_p=0, mask_fill=0)
    aug255 = TrainAugment((64, 64), scale=(0.25, 0.3), rotate_p=0, mask_fill=255)
    ds0 = VOCSegmentation(coded_root, "train", input_shape=64, augment=aug0)
    ds1 = VOCSegmentation(coded_root, "train", input_shape=64, augment=aug255, ignore_index=-100)
    y0, y1 = ds0[0][1], ds1[0][1]
    pad = y1 == -100
    assert pad.float().mean() > 0.7  # the image covers ~1/16..1/11 of the canvas
    assert (y0[pad] == 0).all()  # reference: padding is background
    assert torch.equal(y0[~pad], y1[~pad])


# ----------------------------------------------------------------------------- letterbox
def test_letterbox_geometry_and_round_trip():
    h, w = 37, 53
    mask = _blocks(h, w, seed=2, cell=9)
    rgb = COLOURS[mask]
    canvas, info = letterbox(rgb, (64, 64))
    assert canvas.shape == (64, 64, 3) and info.original == (37, 53) and info.canvas == (64, 64)
    nh, nw = info.resized
    dy, dx = info.offset
    assert nw == 64 and nh == int(37 * 64 / 53) and dy == (64 - nh) // 2 and dx == 0
    assert (canvas[:dy] == 128).all() and (canvas[dy + nh:] == 128).all()
    lm = letterbox_mask(mask, info, fill=0)
    assert lm.shape == (64, 64) and (lm[:dy] == 0).all()
    assert (letterbox_mask(mask, info)[:dy] == 255).all()  # default: the bars are void
    # a "perfect" network output on the canvas, mapped back, reproduces the original mask
    logits = torch.nn.functional.one_hot(torch.from_numpy(lm).long(), 3).permute(2, 0, 1)[None].float()
    restored = info.restore(logits).argmax(1)[0].numpy()  # (1,3,64,64) -> (1,3,37,53)
    assert restored.shape == (37, 53)
    assert (restored == mask).mean() > 0.93
    labels_back = info.restore(torch.from_numpy(lm), mode="nearest").numpy()
    assert labels_back.shape == (37, 53) and (labels_back == mask).mean() > 0.93
    np_back = info.restore(lm, mode="nearest")
    assert isinstance(np_back, np.ndarray) and np_back.shape == (37, 53)
    assert info.crop(lm).shape == (nh, nw)
    with pytest.raises(ValueError, match="canvas size"):
        info.crop(np.zeros((10, 10)))


def test_val_item_is_letterboxed(coded_root):
    ds = VOCSegmentation(coded_root, "val", input_shape=(32, 32))
    x, y = ds[0]  # 48x64 image -> 24x32 centred, bars of 4 px
    info = ds.letterbox_info(0)
    assert info.resized == (24, 32) and info.offset == (4, 0)
    assert torch.allclose(x[:, :4], torch.full_like(x[:, :4], 128 / 255))
    assert (y[:4] == 255).all()  # the bars are ignored by default
    ref = VOCSegmentation(coded_root, "val", input_shape=(32, 32), pad_label=0)
    assert (ref[0][1][:4] == 0).all() and torch.equal(ref[0][1][4:28], y[4:28])


# ----------------------------------------------------------------------------- bad inputs
def _ok_item(h=32, w=32, seed=0):
    m = _blocks(h, w, seed)
    return COLOURS[m], m


def test_corrupt_jpeg_names_file(tmp_path):
    root = write_voc(tmp_path / "c", {"good": _ok_item(), "bad": _ok_item()})
    p = root / "JPEGImages" / "bad.jpg"
    p.write_bytes(p.read_bytes()[:120])
    ds = VOCSegmentation(root, "train", input_shape=32)
    with pytest.raises(DatasetError, match=r"bad\.jpg.*corrupt"):
        ds[ds.ids.index("bad")]


def test_missing_mask_names_file(tmp_path):
    root = write_voc(tmp_path / "m", {"a": _ok_item(), "b": (_ok_item()[0], None)})
    with pytest.raises(DatasetError, match=r"no mask.*'b'"):
        VOCSegmentation(root, "train")


def test_mask_size_mismatch(tmp_path):
    img, _ = _ok_item(32, 40)
    root = write_voc(tmp_path / "s", {"a": (img, _blocks(30, 40))})
    with pytest.raises(DatasetError, match=r"a\.png is 40x30 but image .*a\.jpg is 40x32"):
        VOCSegmentation(root, "train")[0]


def test_values_out_of_range(tmp_path):
    img, m = _ok_item()
    m[0, 0] = 7
    root = write_voc(tmp_path / "r", {"a": (img, m)})
    with pytest.raises(DatasetError, match=r"a\.png has values 7 >= num_classes=3.*Fix"):
        VOCSegmentation(root, "train")[0]


def test_binary_masks_detected_and_fixed(tmp_path):
    items = {}
    for i in range(3):
        m = (_blocks(32, 32, i, k=2) * 255).astype(np.uint8)
        items[f"b{i}"] = (COLOURS[(m > 0).astype(int)], m)
    items["empty"] = (COLOURS[np.zeros((32, 32), int)], np.zeros((32, 32), np.uint8))  # no foreground
    root = write_voc(tmp_path / "bin", items, classes=("background", "defect"))
    with pytest.raises(DatasetError, match="segkit data fix-binary"):
        VOCSegmentation(root, "train")
    fixed = fix_binary_masks(root)
    assert len(fixed) == 3
    ds = VOCSegmentation(root, "train", input_shape=32)
    assert set(np.unique(ds.load_original(0)[1]).tolist()) == {0, 1}


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16"])
def test_grayscale_rgba_16bit_converted(tmp_path, mode):
    _, m = _ok_item()
    if mode == "L":
        img = Image.fromarray((m * 60).astype(np.uint8), "L")
    elif mode == "RGBA":
        img = Image.fromarray(np.dstack([COLOURS[m], np.full(m.shape, 200, np.uint8)]), "RGBA")
    else:
        img = Image.fromarray(m.astype(np.uint16) * 20000)  # mode I;16
    root = write_voc(tmp_path / mode.replace(";", ""), {"a": (img, m)})
    ds = VOCSegmentation(root, "train", input_shape=32)
    with pytest.warns(UserWarning, match=r"a\.(jpg|png) is .*converted to 8-bit RGB"):
        x, _ = ds[0]
    assert x.shape == (3, 32, 32)
    if mode == "I;16":  # scaled from 16 bit: class 2 = 40000/65535 of full range
        rgb, _ = ds.load_original(0)
        assert abs(int(rgb[m == 2][0, 0]) - round(40000 / 65535 * 255)) <= 1


def test_split_file_problems(tmp_path):
    root = write_voc(tmp_path / "sp", {"a": _ok_item()}, splits={"train": ["a"], "val": []})
    with pytest.raises(DatasetError, match=r"val\.txt is empty.*segkit data split"):
        VOCSegmentation(root, "val")
    with pytest.raises(DatasetError, match=r"test\.txt not found.*available splits: \['train', 'val'\]"):
        VOCSegmentation(root, "test")
    (root / "ImageSets" / "Segmentation" / "train.txt").write_text("a\nghost\n")
    with pytest.raises(DatasetError, match=r"train\.txt have no image.*'ghost'"):
        VOCSegmentation(root, "train")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        VOCSegmentation(tmp_path / "nowhere")


def test_check_reports_every_problem_in_one_pass(tmp_path, capsys):
    img, m = _ok_item()
    bad_val = m.copy()
    bad_val[0, 0] = 9
    items = {"good": (img, m), "corrupt": (img, m), "nomask": (img, None), "size": (img, _blocks(20, 32)),
             "value": (img, bad_val), "grey": (Image.fromarray((m * 50).astype(np.uint8), "L"), m)}
    root = write_voc(tmp_path / "all", items, splits={"train": list(items) + ["ghost"], "val": []})
    p = root / "JPEGImages" / "corrupt.jpg"
    p.write_bytes(p.read_bytes()[:100])
    probs = check_dataset(root)
    text = "\n".join(map(str, probs))
    for needle in ("corrupt.jpg", "nomask.png", "size.png", "value.png", "ghost.jpg", "val.txt", "grey.jpg"):
        assert needle in text, needle
    assert sum(p.severity == "error" for p in probs) >= 6
    from segkit.cli import main

    assert main(["data", "check", str(root)]) == 1
    out = capsys.readouterr().out
    assert "error(s)" in out and "corrupt.jpg" in out


def test_check_clean_dataset_and_cli(synthetic_root, capsys):
    assert [p for p in check_dataset(synthetic_root) if p.severity == "error"] == []
    from segkit.cli import main

    assert main(["data", "check", str(synthetic_root)]) == 0
    assert "0 error(s)" in capsys.readouterr().out  # warnings only: the 24-image set has a 2-image val split


# ----------------------------------------------------------------------------- cityscapes
def test_cityscapes_label_ids_and_train_ids(tmp_path):
    root = tmp_path / "cs"
    ids = np.array([[7, 8, 26, 0], [23, 33, 4, 24]], np.uint8).repeat(8, 0).repeat(8, 1)  # 16x32
    for city, kind in (("aachen", "labelIds"), ("bonn", "labelTrainIds")):
        (root / "leftImg8bit" / "val" / city).mkdir(parents=True)
        (root / "gtFine" / "val" / city).mkdir(parents=True)
        Image.fromarray(np.full((16, 32, 3), 90, np.uint8)).save(root / "leftImg8bit" / "val" / city / f"{city}_0_leftImg8bit.png")
        lab = ids if kind == "labelIds" else labelids_to_trainids(ids)
        Image.fromarray(lab).save(root / "gtFine" / "val" / city / f"{city}_0_gtFine_{kind}.png")
    ds = CityscapesSegmentation(root, "val", input_shape=(16, 32))
    assert ds.num_classes == 19 and len(ds) == 2
    expect = np.array([[0, 1, 13, 255], [10, 18, 255, 11]]).repeat(8, 0).repeat(8, 1)
    for i in range(2):
        _, y = ds[i]
        assert y.shape == (16, 32) and (y.numpy() == expect).all()
    x, y = CityscapesSegmentation(root, "val", input_shape=(32, 32), augment=True)[0]
    assert x.shape == (3, 32, 32) and set(y.unique().tolist()) <= set(range(19)) | {255}
    with pytest.raises(FileNotFoundError, match="leftImg8bit"):
        CityscapesSegmentation(root, "train")


# ----------------------------------------------------------------------------- tools
def test_split_ratios_and_reference_counts():
    names = [f"img{i:04d}" for i in range(4805)]
    ref = make_splits(names, 0.1, 0.0, seed=0, method="reference")
    assert (len(ref["train"]), len(ref["val"]), len(ref["test"])) == (4324, 481, 0)
    s = make_splits(names[:100], 0.1, 0.1, seed=0)
    assert (len(s["train"]), len(s["val"]), len(s["test"])) == (80, 10, 10)
    assert make_splits(names[:100], seed=1) != make_splits(names[:100], seed=2)
    assert make_splits(names[:100], seed=1) == make_splits(names[:100], seed=1)


def test_offline_augmentation_grouped_split_no_leak(tmp_path):
    items = {f"src{i}": _ok_item(24, 32, seed=i) for i in range(10)}
    root = write_voc(tmp_path / "aug", items)
    out = augment_dataset(root, tmp_path / "out", ops=("rotate", "mirror", "scale", "brightness", "blur"), seed=0)
    assert len(list((out / "JPEGImages").glob("*.jpg"))) == 60
    rows = (out / "sources.csv").read_text().splitlines()
    assert rows[0] == "name,source,op,params" and len(rows) == 61
    splits = write_splits(out, 0.2, 0.0, seed=0)
    src = lambda n: n.split("_")[0]  # noqa: E731
    assert not {src(n) for n in splits["train"]} & {src(n) for n in splits["val"]}
    assert len(splits["val"]) == 12  # two whole groups of six
    meta = json.loads((out / "ImageSets" / "Segmentation" / "split.json").read_text())
    assert meta["grouped"] and meta["counts"]["train"] == 48
    # mirror copies are exact flips of the source mask
    ds = VOCSegmentation(out, "trainval", check_binary=False)
    _, m_src = ds.load_original(ds.ids.index("src3"))
    _, m_mir = ds.load_original(ds.ids.index("src3_mirror0"))
    assert (m_mir == m_src[:, ::-1]).all() or (m_mir == m_src[::-1]).all()


def test_offline_augmentation_drops_blurry_sources(tmp_path):
    sharp = _ok_item(32, 32, seed=1)
    flat = (np.full((32, 32, 3), 90, np.uint8), np.zeros((32, 32), np.uint8))
    root = write_voc(tmp_path / "bl", {"sharp": sharp, "flat": flat})
    out = augment_dataset(root, tmp_path / "o", ops=("mirror",), min_sharpness=5.0)
    assert sorted(p.stem for p in (out / "JPEGImages").glob("*.jpg")) == ["sharp", "sharp_mirror0"]
    assert "flat,flat,dropped_blurry" in (out / "sources.csv").read_text()
    assert write_splits(out, 0.5)["trainval"] == ["sharp", "sharp_mirror0"]


def test_labelme_conversion(tmp_path):
    src = tmp_path / "lm"
    src.mkdir()
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(src / "x.jpg")
    ann = {"imagePath": "x.jpg", "imageHeight": 20, "imageWidth": 30, "shapes": [
        {"label": "corrosion", "shape_type": "rectangle", "points": [[2, 3], [11, 9]]},
        {"label": "broken_wire", "shape_type": "polygon", "points": [[20, 2], [28, 2], [28, 15], [20, 15]]},
    ]}
    (src / "x.json").write_text(json.dumps(ann))
    m = labelme_to_mask(src / "x.json", ["background", "corrosion", "broken_wire"])
    assert m.shape == (20, 30)
    assert (m[3:10, 2:12] == 1).all() and (m[2:16, 20:29] == 2).all()
    assert (m == 1).sum() == 10 * 7 and (m == 2).sum() == 9 * 14
    names = convert_labelme(src, tmp_path / "voc", ["background", "corrosion", "broken_wire"])
    assert names == ["x"] and (tmp_path / "voc" / "SegmentationClass" / "x.png").is_file()
    with pytest.raises(DatasetError, match="'corrosion'.*not one of the classes"):
        labelme_to_mask(src / "x.json", ["background", "rust"])


# ----------------------------------------------------------------------------- stats
def test_stats_known_answer(tmp_path):
    m1 = np.zeros((10, 20), np.uint8)
    m1[1:3, 1:4] = 1  # object of 6 px
    m1[6:9, 10:12] = 1  # object of 6 px
    m1[0, 19] = 255  # void
    m2 = np.zeros((8, 8), np.uint8)
    m2[0:4, 0:2] = 2  # 8 px
    img1 = np.full((10, 20, 3), (255, 0, 0), np.uint8)
    img2 = np.full((8, 8, 3), (0, 0, 255), np.uint8)
    root = write_voc(tmp_path / "st", {"p": (img1, m1), "q": (img2, m2)})
    st = dataset_stats(root, split="train")
    assert st.classes["pixels"].tolist() == [199 - 12 + 64 - 8, 12, 8]
    assert st.classes["images"].tolist() == [2, 1, 1] and st.classes["objects"].tolist()[1:] == [2, 1]
    assert pd.isna(st.classes["objects"][0])  # the background's regions are not objects
    assert st.void_pixels == 1
    assert sorted(st.objects[st.objects["class"] == 1]["area"]) == [6, 6]
    assert st.images[["height", "width"]].values.tolist() == [[10, 20], [8, 8]]
    assert np.allclose(st.mean, [200 / 264, 0, 64 / 264], atol=0.01)  # JPEG is near-lossless on flat colour
    assert "background" in st.summary()


def test_sample_grid_figure(synthetic_root):
    import matplotlib

    matplotlib.use("Agg")
    fig = sample_grid(synthetic_root, n=4, ncols=2, split="train")
    assert len([a for a in fig.axes if a.images]) == 4
    import matplotlib.pyplot as plt

    plt.close(fig)


# ----------------------------------------------------------------------------- CamVid (real data)
@pytest.mark.camvid
def test_camvid_items(camvid_root):
    ds = VOCSegmentation(camvid_root, "train", input_shape=(128, 160), augment=True, seed=0)
    assert ds.num_classes == 11 and ds.class_names[0] == "sky" and len(ds) == 367
    x, y = ds[0]
    assert x.shape == (3, 128, 160) and 0 <= x.min() and x.max() <= 1
    assert set(y.unique().tolist()) <= set(range(11)) | {255}
    val = VOCSegmentation(camvid_root, "val", input_shape=(128, 128), ignore_index=-1)
    rgb, mask = val.load_original(0)
    assert rgb.shape == (360, 480, 3) and mask.shape == (360, 480)
    assert mask.min() >= -1 and mask.max() <= 10
    info = val.letterbox_info(0)
    assert info.resized == (96, 128) and info.offset == (16, 0)
    st = dataset_stats(val, max_images=5)
    assert abs(st.classes["pixel_share"].sum() - 1) < 1e-9 and st.classes["pixels"].iloc[3] > 0  # road


def test_cli_synth_split_stats_fix_binary(tmp_path, capsys):
    from segkit.cli import main

    root = tmp_path / "w"
    assert main(["data", "synth", str(root), "--n-images", "6", "--size", "48"]) == 0
    # synth wrote 9:1 lists: replacing them takes --force (they are kept as .bak)
    assert main(["data", "split", str(root), "--ratio", "8:1:1", "--seed", "1", "--force"]) == 0
    assert "train 4, val 1, test 1" in capsys.readouterr().out
    assert main(["data", "stats", str(root)]) == 0
    assert "broken_wire" in capsys.readouterr().out
    m = (_blocks(16, 16, k=2) * 255).astype(np.uint8)
    b = write_voc(tmp_path / "b", {"a": (COLOURS[m // 255], m)}, classes=("background", "defect"))
    assert main(["data", "fix-binary", str(b)]) == 0
    assert "rewrote 1" in capsys.readouterr().out
