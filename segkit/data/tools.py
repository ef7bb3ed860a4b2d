"""Dataset tools: split lists, the 0/255 mask fix, Labelme conversion, offline
augmentation and a full dataset check (also as ``segkit data ...`` commands).

* `write_splits`: train/val(/test) lists, 9:1 or 8:1:1, seeded. ``method="grouped"``
  (default) keeps every augmented copy of a source image in the same split (sources are
  read from ``sources.csv`` written by `augment_dataset`); ``method="reference"``
  reproduces the reference's ``voc_annotation.py`` (``random.seed``, ``random.sample``),
  which gives 4324/481 on 4805 images. The choice is recorded in ``split.json``.
* `fix_binary_masks`: rewrites 0/255 masks to 0/1.
* `labelme_to_mask` / `convert_labelme`: Labelme JSON polygons -> palette PNG masks.
* `augment_dataset`: offline expansion (rotation, mirror, scale, brightness, blur) with
  the source of each copy in ``sources.csv`` (the paper's 970 -> 4805).
* `check_dataset`: every check on every file, all problems in one list.
"""
from __future__ import annotations

import base64
import csv
import io
import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw

from .palette import voc_palette
from .synthetic import _palette_bytes
from .voc import (IMAGE_EXTS, VOID, DatasetError, _clash_message, _index_folder, _scan_folder, looks_binary,
                  read_class_names, read_image, read_mask, read_text, resolve_voc_root)

__all__ = [
    "make_splits", "write_splits", "fix_binary_masks", "labelme_to_mask", "convert_labelme",
    "augment_dataset", "sharpness", "check_dataset", "Problem", "save_mask", "voc_palette",
]

SOURCES_FILE = "sources.csv"


def save_mask(mask: np.ndarray, path: str | Path, palette: Sequence[tuple[int, int, int]] | None = None) -> None:
    """Save a uint8 class-index mask as a palette PNG (VOC colours by default)."""
    im = Image.fromarray(np.asarray(mask, np.uint8), mode="P")
    im.putpalette(_palette_bytes(voc_palette() if palette is None else palette))
    im.save(path)


# ----------------------------------------------------------------------------- splits
def _read_sources(voc: Path) -> dict[str, str]:
    path = voc / SOURCES_FILE
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8-sig") as f:
        return {row["name"]: row["source"] for row in csv.DictReader(f)}


def _read_dropped(voc: Path) -> set[str]:
    path = voc / SOURCES_FILE
    if not path.is_file():
        return set()
    with path.open(newline="", encoding="utf-8-sig") as f:
        return {row["name"] for row in csv.DictReader(f) if row["op"] == "dropped_blurry"}


def make_splits(
    names: Sequence[str],
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    seed: int = 0,
    groups: dict[str, str] | Callable[[str], str] | None = None,
    method: str = "grouped",
) -> dict[str, list[str]]:
    """Split `names` into train/val/test lists.

    Args:
        names: image names (stems).
        val_fraction: share of the validation split (0.1 for 9:1 and 8:1:1).
        test_fraction: share of the test split (0 for 9:1, 0.1 for 8:1:1).
        seed: shuffle seed.
        groups: name -> source id (dict or function). Names of one group always land in
            the same split. None = every name is its own group.
        method: ``"grouped"`` (numpy shuffle of groups) or ``"reference"`` (the
            reference's ``random.seed(seed); random.sample`` over sorted names; ignores groups).

    Returns:
        ``{"train", "val", "test", "trainval"}`` -> sorted name lists.
    """
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f"val_fraction + test_fraction must be in [0, 1), got {val_fraction} + {test_fraction}")
    if method not in ("grouped", "reference"):
        raise ValueError(f"method must be 'grouped' or 'reference', got {method!r}")
    names = sorted(names)
    n = len(names)
    if method == "reference":
        trainval_percent = 1.0 - test_fraction
        train_percent = (1.0 - val_fraction - test_fraction) / trainval_percent
        random.seed(seed)
        tv = int(n * trainval_percent)
        tr = int(tv * train_percent)
        trainval = set(random.sample(range(n), tv))
        train = set(random.sample(sorted(trainval), tr))
        out = {"train": [names[i] for i in range(n) if i in train],
               "val": [names[i] for i in range(n) if i in trainval and i not in train],
               "test": [names[i] for i in range(n) if i not in trainval]}
    else:
        key = (groups.get if isinstance(groups, dict) else groups) if groups is not None else None
        by_group: dict[str, list[str]] = {}
        for nm in names:
            g = (key(nm) if key else None) or nm
            by_group.setdefault(g, []).append(nm)
        order = sorted(by_group)
        perm = np.random.default_rng(seed).permutation(len(order))
        want_val, want_test = round(n * val_fraction), round(n * test_fraction)
        if val_fraction > 0 and want_val == 0 and n > 1:
            want_val = 1
        out = {"train": [], "val": [], "test": []}
        for k in perm:  # fill val, then test, then train, group by group
            members = by_group[order[k]]
            if len(out["val"]) < want_val:
                out["val"] += members
            elif len(out["test"]) < want_test:
                out["test"] += members
            else:
                out["train"] += members
    out = {k: sorted(v) for k, v in out.items()}
    out["trainval"] = sorted(out["train"] + out["val"])
    return out


def write_splits(
    root: str | Path,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    seed: int = 0,
    method: str = "grouped",
    group_by: str | Callable[[str], str] | None = "auto",
) -> dict[str, list[str]]:
    """Write ``ImageSets/Segmentation/{train,val,test,trainval}.txt`` and ``split.json``.

    Lists every image that has a mask. ``val_fraction=0.1, test_fraction=0`` is the
    reference's 9:1; ``0.1, 0.1`` is the paper text's 8:1:1.

    Args:
        root: dataset root (VOC layout).
        val_fraction, test_fraction, seed, method: see `make_splits`.
        group_by: ``"auto"`` = group by ``sources.csv`` when present, ``None`` = no
            grouping, or a function name -> group id.

    Returns:
        The split lists.
    """
    voc = resolve_voc_root(root)
    images = _index_folder(voc / "JPEGImages", IMAGE_EXTS)
    masks = _index_folder(voc / "SegmentationClass", (".png",))
    names = sorted(set(images) & set(masks))
    if not names:
        raise DatasetError(f"no image with a mask under {voc} (JPEGImages/<name>.jpg + SegmentationClass/<name>.png)")
    dropped = _read_dropped(voc)
    names = [n for n in names if n not in dropped]
    groups = _read_sources(voc) if group_by == "auto" else group_by
    splits = make_splits(names, val_fraction, test_fraction, seed, groups or None, method)
    out_dir = voc / "ImageSets" / "Segmentation"
    out_dir.mkdir(parents=True, exist_ok=True)
    for k, v in splits.items():
        (out_dir / f"{k}.txt").write_text("".join(f"{x}\n" for x in v), encoding="utf-8")
    meta = dict(method=method, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
                grouped=bool(groups) and method == "grouped", counts={k: len(v) for k, v in splits.items()})
    (out_dir / "split.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return splits


# ----------------------------------------------------------------------------- binary masks
def fix_binary_masks(root: str | Path, dry_run: bool = False, force: bool = False) -> list[Path]:
    """Rewrite binary 0/255 masks as 0/1 (class 1 = foreground), in place.

    Refuses when some masks hold other values too (then 255 probably is void), unless
    ``force=True``.

    Returns:
        The masks that were (or, with `dry_run`, would be) rewritten.
    """
    voc = resolve_voc_root(root)
    paths = sorted(_index_folder(voc / "SegmentationClass", (".png",)).values())
    binary, other = [], []
    for p in paths:
        u = set(np.unique(read_mask(p)).tolist())
        if VOID in u and u <= {0, VOID}:
            binary.append(p)
        elif not u <= {0, 1}:
            other.append(p)
    if other and binary and not force:
        raise DatasetError(
            f"{len(other)} mask(s) hold values other than 0/255 (e.g. {other[0]}), so 255 may be void there; "
            "not rewriting. Pass force=True (--force) to rewrite every 0/255 mask anyway")
    if not dry_run:
        for p in binary:
            m = read_mask(p)
            m[m == VOID] = 1
            save_mask(m, p)
    return binary


# ----------------------------------------------------------------------------- labelme
def _read_labelme(json_path: Path) -> dict:
    try:
        data = json.loads(json_path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read Labelme file {json_path} ({exc})") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{json_path} is not a Labelme annotation (a JSON object with 'shapes')")
    return data


def _labelme_image_path(json_path: Path, data: dict, allow_outside: bool) -> Path | None:
    """The file ``imagePath`` names (relative to the JSON's folder), refused outside that folder."""
    name = str(data.get("imagePath") or "").replace("\\", "/")  # Labelme on Windows writes backslashes
    if not name:
        return None
    folder = json_path.parent.resolve()
    path = (folder / name).resolve()
    if not allow_outside and not path.is_relative_to(folder):
        raise DatasetError(
            f"{json_path}: imagePath {name!r} points outside the annotation folder {folder} (to {path}); "
            "move the image next to the JSON, or allow it explicitly (allow_outside=True, "
            "`segkit data labelme --allow-outside`)")
    return path


def _open_labelme_image(json_path: Path, data: dict, allow_outside: bool) -> Image.Image | None:
    """The annotated image, opened lazily (header only): ``imagePath`` when it exists, else ``imageData``."""
    path = _labelme_image_path(json_path, data, allow_outside)
    try:
        if path is not None and path.is_file():
            return Image.open(path)
        if data.get("imageData"):
            return Image.open(io.BytesIO(base64.b64decode(data["imageData"])))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{json_path}: cannot read its image ({exc})") from None
    return None


def _labelme_size(json_path: Path, data: dict, image: Image.Image | None) -> tuple[int, int]:
    """``(h, w)`` to rasterise at, checked against the real image before anything is allocated."""
    h, w = data.get("imageHeight"), data.get("imageWidth")
    if image is not None:
        iw, ih = image.size
        if (h or w) and (h, w) != (ih, iw):
            raise DatasetError(f"{json_path}: the JSON says {w}x{h} (imageWidth x imageHeight) but the image is "
                               f"{iw}x{ih}; re-save the annotation with Labelme")
        return ih, iw
    if not (isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0):
        raise DatasetError(f"{json_path} has no valid imageHeight/imageWidth ({h!r}, {w!r}) and no readable image; "
                           "re-save it with Labelme")
    if h * w > Image.MAX_IMAGE_PIXELS:  # PIL's own limit for image files (decompression bombs)
        raise DatasetError(f"{json_path} claims a {w}x{h} image ({h * w / 1e6:.0f} Mpixel) and its image cannot be "
                           "read to confirm it; put the image next to the JSON")
    return h, w


def labelme_to_mask(
    json_path: str | Path, class_names: Sequence[str], skip_unknown: bool = False, allow_outside: bool = False,
) -> np.ndarray:
    """Rasterise a Labelme JSON annotation into a uint8 class-index mask.

    Shapes are drawn in file order (later shapes on top). Supported ``shape_type``:
    polygon, rectangle, circle, line, linestrip, point. Labels are matched to
    `class_names` (index = class id; ``_background_``/``background`` map to 0). The size
    ``imageHeight`` x ``imageWidth`` is checked against the image (``imagePath``, else the
    embedded ``imageData``) before the mask is allocated.

    Args:
        json_path: the Labelme file.
        class_names: class names, background first.
        skip_unknown: ignore shapes whose label is not a class (default: an error).
        allow_outside: read an ``imagePath`` outside the JSON's folder (``../x.jpg``, an
            absolute path); refused by default.

    Raises:
        DatasetError: unreadable JSON, a size that disagrees with the image, an
            ``imagePath`` outside the folder, or an unknown label.
    """
    json_path = Path(json_path)
    data = _read_labelme(json_path)
    image = _open_labelme_image(json_path, data, allow_outside)
    h, w = _labelme_size(json_path, data, image)
    if image is not None:
        image.close()
    lookup = {n: i for i, n in enumerate(class_names)}
    lookup.setdefault("_background_", 0)
    lookup.setdefault("background", 0)
    im = Image.new("L", (int(w), int(h)), 0)
    draw = ImageDraw.Draw(im)
    for shape in data.get("shapes", []):
        label = shape.get("label", "")
        if label not in lookup:
            if skip_unknown:
                continue
            raise DatasetError(f"label {label!r} in {json_path} is not one of the classes {list(class_names)}; "
                               "add it to classes.txt / --classes or pass skip_unknown=True")
        v = lookup[label]
        pts = [tuple(map(float, p)) for p in shape.get("points", [])]
        kind = shape.get("shape_type") or "polygon"
        if kind == "polygon" and len(pts) >= 3:
            draw.polygon(pts, fill=v, outline=v)
        elif kind == "rectangle" and len(pts) == 2:
            (x0, y0), (x1, y1) = pts
            draw.rectangle([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], fill=v)
        elif kind == "circle" and len(pts) == 2:
            (cx, cy), (px, py) = pts
            r = float(np.hypot(px - cx, py - cy))
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=v)
        elif kind in ("line", "linestrip") and len(pts) >= 2:
            draw.line(pts, fill=v, width=max(1, int(shape.get("width", 3) or 3)))
        elif kind == "point" and pts:
            x, y = pts[0]
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=v)
    return np.asarray(im, np.uint8)


def convert_labelme(
    src: str | Path, root: str | Path, class_names: Sequence[str], skip_unknown: bool = False,
    allow_outside: bool = False,
) -> list[str]:
    """Convert a folder of Labelme JSON files (+ images) into a VOC-layout dataset.

    Writes ``JPEGImages/<stem>.jpg`` (from ``imagePath`` next to the JSON, else the
    embedded ``imageData``), ``SegmentationClass/<stem>.png`` and ``classes.txt``.
    An ``imagePath`` outside `src` is refused unless `allow_outside`.

    Returns:
        The converted names.
    """
    src, root = Path(src), Path(root)
    files = sorted(src.glob("*.json"))
    if not files:
        raise DatasetError(f"no Labelme *.json files in {src}")
    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    (root / "SegmentationClass").mkdir(parents=True, exist_ok=True)
    done = []
    for jf in files:
        data = _read_labelme(jf)
        mask = labelme_to_mask(jf, class_names, skip_unknown, allow_outside)
        img_path = _labelme_image_path(jf, data, allow_outside)
        if img_path is not None and img_path.is_file():
            img = read_image(img_path)
        elif data.get("imageData"):
            img = Image.open(io.BytesIO(base64.b64decode(data["imageData"]))).convert("RGB")
        else:
            raise DatasetError(f"{jf}: image {img_path} not found and no imageData embedded")
        img.save(root / "JPEGImages" / f"{jf.stem}.jpg", quality=95)
        save_mask(mask, root / "SegmentationClass" / f"{jf.stem}.png")
        done.append(jf.stem)
    (root / "classes.txt").write_text("".join(f"{c}\n" for c in class_names), encoding="utf-8")
    return done


# ----------------------------------------------------------------------------- offline augmentation
AUG_OPS = ("rotate", "mirror", "scale", "brightness", "blur")


def _augment_once(op: str, rgb: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    h, w = mask.shape
    if op == "rotate":
        angle = float(rng.uniform(-30, 30))
        M = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        rgb = cv2.warpAffine(rgb, M, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
        mask = cv2.warpAffine(mask, M, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT_101)
        return rgb, mask, f"angle={angle:.1f}"
    if op == "mirror":
        axis = int(rng.integers(0, 2))  # 1 = horizontal, 0 = vertical
        return np.ascontiguousarray(np.flip(rgb, 1 - axis)), np.ascontiguousarray(np.flip(mask, 1 - axis)), \
            ("horizontal" if axis else "vertical")
    if op == "scale":
        f = float(rng.uniform(0.7, 1.3))
        size = (max(1, round(w * f)), max(1, round(h * f)))
        return cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC), \
            cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST), f"factor={f:.3f}"
    if op == "brightness":
        g = float(rng.uniform(0.6, 1.4))
        return np.clip(rgb.astype(np.float32) * g, 0, 255).astype(np.uint8), mask, f"gain={g:.3f}"
    if op == "blur":
        s = float(rng.uniform(0.5, 1.5))
        return cv2.GaussianBlur(rgb, (0, 0), s), mask, f"sigma={s:.2f}"
    raise ValueError(f"unknown augmentation op {op!r}; choose from {AUG_OPS}")


def sharpness(rgb: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image: the usual blur score (low = blurry)."""
    grey = cv2.cvtColor(np.asarray(rgb, np.uint8), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def augment_dataset(
    root: str | Path,
    out_root: str | Path | None = None,
    ops: Iterable[str] = ("rotate", "mirror", "scale", "brightness"),
    copies_per_op: int = 1,
    seed: int = 0,
    min_sharpness: float | None = None,
) -> Path:
    """Expand a dataset offline: for each source image write augmented copies.

    Every image with a mask is a source; each op in `ops` adds `copies_per_op` copies
    named ``<source>_<op><k>``. With the default 4 ops, 970 sources give 4850 images
    (the paper reports 970 -> 4805 after dropping blurry ones). ``sources.csv`` records
    ``name, source, op, params`` for every image (originals included) so that
    `write_splits` keeps all copies of a source in one split.

    Args:
        root: source dataset (VOC layout).
        out_root: where to write; None = in place (adds files next to the originals).
        ops: any of ``rotate, mirror, scale, brightness, blur``.
        copies_per_op: copies per op per source.
        seed: augmentation seed (copy k of op o of source i uses ``default_rng([seed, i, o, k])``).
        min_sharpness: drop sources whose `sharpness` (variance of the Laplacian) is below
            this value, as the paper removed blurry images (they are listed in
            ``sources.csv`` with op ``dropped_blurry`` and not copied). None keeps all.

    Returns:
        The output root.
    """
    ops = tuple(ops)
    for op in ops:
        if op not in AUG_OPS:
            raise ValueError(f"unknown augmentation op {op!r}; choose from {AUG_OPS}")
    voc = resolve_voc_root(root)
    out = Path(out_root) if out_root is not None else voc
    (out / "JPEGImages").mkdir(parents=True, exist_ok=True)
    (out / "SegmentationClass").mkdir(parents=True, exist_ok=True)
    images = _index_folder(voc / "JPEGImages", IMAGE_EXTS)
    masks = _index_folder(voc / "SegmentationClass", (".png",))
    known = _read_sources(voc)
    names = sorted(n for n in set(images) & set(masks) if known.get(n, n) == n)  # skip earlier copies
    rows = []
    if out != voc:
        cls = read_class_names(voc)
        if cls:
            (out / "classes.txt").write_text("".join(f"{c}\n" for c in cls), encoding="utf-8")
    for i, name in enumerate(names):
        img = read_image(images[name])
        rgb = np.asarray(img, np.uint8)
        mask = read_mask(masks[name])
        if min_sharpness is not None and (score := sharpness(rgb)) < min_sharpness:
            rows.append((name, name, "dropped_blurry", f"sharpness={score:.1f}"))
            continue
        if out != voc:
            shutil.copyfile(images[name], out / "JPEGImages" / images[name].name)
            shutil.copyfile(masks[name], out / "SegmentationClass" / masks[name].name)
        rows.append((name, name, "original", ""))
        for o, op in enumerate(ops):
            for k in range(copies_per_op):
                rng = np.random.default_rng([seed, i, o, k])
                a_rgb, a_mask, params = _augment_once(op, rgb, mask, rng)
                new = f"{name}_{op}{k}"
                Image.fromarray(a_rgb).save(out / "JPEGImages" / f"{new}.jpg", quality=95)
                save_mask(a_mask, out / "SegmentationClass" / f"{new}.png")
                rows.append((new, name, op, params))
    with (out / SOURCES_FILE).open("w", newline="", encoding="utf-8") as f:
        wr = csv.writer(f)
        wr.writerow(["name", "source", "op", "params"])
        wr.writerows(rows)
    return out


# ----------------------------------------------------------------------------- check
@dataclass(frozen=True)
class Problem:
    """One finding of `check_dataset`."""

    severity: str  # "error" or "warning"
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity.upper():7s} {self.path}: {self.message}"


MIN_EVAL_IMAGES = 10  # below this, one image moves a split's mIoU by whole points


def check_dataset(root: str | Path, num_classes: int | None = None, splits: Sequence[str] | None = None) -> list[Problem]:
    """Validate a VOC-layout dataset completely and return every problem found.

    Checks: layout; classes.txt vs `num_classes`; each split file exists and is
    non-empty; every listed name has an image and a mask; no two files share a name
    (``a.jpg`` and ``a.png``); every image decodes (grayscale/RGBA/16-bit images are
    reported as warnings: they are converted to RGB); every mask decodes, is
    single-channel, matches its image's size and holds only ``0..num_classes-1`` and 255;
    binary 0/255 masks (over every mask). Warnings: images without masks and masks without
    images, a class with no pixel in a split (its IoU there is undefined), and an
    evaluation split of fewer than `MIN_EVAL_IMAGES` images.

    Args:
        root: dataset root.
        num_classes: expected classes (default: classes.txt; without it, value checks
            only flag > 255 and the binary pattern).
        splits: split names to check (default: every ``*.txt`` in ImageSets/Segmentation).

    Returns:
        A list of `Problem` (empty = clean).
    """
    probs: list[Problem] = []
    try:
        voc = resolve_voc_root(root)
    except FileNotFoundError as exc:
        return [Problem("error", str(root), str(exc))]
    try:
        names = read_class_names(voc)
    except DatasetError as exc:
        probs.append(Problem("error", str(voc / "classes.txt"), str(exc)))
        names = None
    if num_classes is None and names is not None:
        num_classes = len(names)
    elif names is not None and num_classes != len(names):
        probs.append(Problem("error", str(voc / "classes.txt"),
                             f"lists {len(names)} classes but num_classes={num_classes}; make them agree"))
    if not (voc / "SegmentationClass").is_dir():
        probs.append(Problem("error", str(voc / "SegmentationClass"), "folder missing; masks go in SegmentationClass/<name>.png"))
    images, clashes = _scan_folder(voc / "JPEGImages", IMAGE_EXTS)
    masks, mask_clashes = _scan_folder(voc / "SegmentationClass", (".png",))
    for a, b in clashes + mask_clashes:
        probs.append(Problem("error", str(b), _clash_message(a, b)))
    split_ids = _check_split_files(voc, root, splits, images, masks, probs)
    listed = set().union(*split_ids.values()) if split_ids else set()
    for n in sorted(set(images) - set(masks)):
        if n not in listed:
            probs.append(Problem("warning", str(images[n]), "image has no mask (not listed in any split)"))
    for n in sorted(set(masks) - set(images)):
        if n not in listed:
            probs.append(Problem("warning", str(masks[n]), "mask has no image (not listed in any split)"))
    values = _check_files(images, masks, num_classes, probs)
    _check_binary_masks(voc, root, values, num_classes, probs)
    _check_split_contents(voc, split_ids, values, num_classes, names, probs)
    return probs


def _check_split_files(voc: Path, root, splits, images: dict, masks: dict, probs: list[Problem]) -> dict[str, list[str]]:
    """Read each split file, report missing/empty files and unknown names; return split -> names."""
    split_dir = voc / "ImageSets" / "Segmentation"
    if splits is None:
        splits = sorted(p.stem for p in split_dir.glob("*.txt")) if split_dir.is_dir() else []
        if not splits:
            probs.append(Problem("error", str(split_dir), f"no split files; write them with `segkit data split {root}`"))
    out: dict[str, list[str]] = {}
    for sp in splits:
        path = split_dir / f"{sp}.txt"
        if not path.is_file():
            probs.append(Problem("error", str(path), f"split file missing; write it with `segkit data split {root}`"))
            continue
        try:
            ids = [ln.strip().split()[0] for ln in read_text(path).splitlines() if ln.strip()]
        except DatasetError as exc:
            probs.append(Problem("error", str(path), str(exc)))
            continue
        if not ids and sp != "test":  # an empty test split is normal (the reference's 9:1)
            probs.append(Problem("error", str(path), f"split file is empty; regenerate it with `segkit data split {root}`"))
        for n in ids:
            if n not in images:
                probs.append(Problem("error", str(voc / "JPEGImages" / f"{n}.jpg"),
                                     f"listed in {path.name} but the image does not exist; add it or remove the name"))
            if n not in masks:
                probs.append(Problem("error", str(voc / "SegmentationClass" / f"{n}.png"),
                                     f"listed in {path.name} but the mask does not exist; add it or remove the name"))
        out[sp] = ids
    return out


def _check_files(images: dict, masks: dict, num_classes: int | None, probs: list[Problem]) -> dict[str, set[int]]:
    """Decode every image and mask; return name -> the values of its mask (readable masks only)."""
    values: dict[str, set[int]] = {}
    for n in sorted(set(images) | set(masks)):
        size = None
        if n in images:
            try:
                img, mode = read_image(images[n], return_mode=True)
                size = img.size
                if mode not in ("RGB",):
                    probs.append(Problem("warning", str(images[n]),
                                         f"image mode {mode} is converted to 8-bit RGB at load; convert the file "
                                         "to RGB JPEG to silence this"))
            except (DatasetError, OSError) as exc:
                probs.append(Problem("error", str(images[n]), str(exc)))
        if n in masks:
            try:
                m = read_mask(masks[n], num_classes)
                values[n] = set(np.flatnonzero(np.bincount(m.ravel(), minlength=256)).tolist())
                if size is not None and (m.shape[1], m.shape[0]) != size:
                    probs.append(Problem("error", str(masks[n]),
                                         f"mask is {m.shape[1]}x{m.shape[0]} but image {images[n].name} is "
                                         f"{size[0]}x{size[1]} (WxH); re-export the mask at the image size"))
            except DatasetError as exc:
                probs.append(Problem("error", str(masks[n]), str(exc)))
    return values


def _check_binary_masks(voc: Path, root, values: dict[str, set[int]], num_classes: int | None,
                        probs: list[Problem]) -> None:
    n_binary = sum(VOID in v and v <= {0, VOID} for v in values.values())
    if looks_binary(list(values.values())) or (n_binary and num_classes == 2):
        probs.append(Problem("error", str(voc / "SegmentationClass"),
                             f"{n_binary} of {len(values)} mask(s) are binary 0/255 and no mask holds another class: "
                             f"255 is read as void, so the foreground is ignored. Fix: `segkit data fix-binary {root}` "
                             "(rewrites 255 -> 1)"))
    elif n_binary:
        probs.append(Problem("warning", str(voc / "SegmentationClass"),
                             f"{n_binary} mask(s) contain only 0 and 255 (background + void); if 255 is meant as "
                             f"a class, run `segkit data fix-binary {root} --force`"))


def _check_split_contents(voc: Path, split_ids: dict[str, list[str]], values: dict[str, set[int]],
                          num_classes: int | None, names: list[str] | None, probs: list[Problem]) -> None:
    """Warn about classes absent from a split and evaluation splits too small to measure with."""
    split_dir = voc / "ImageSets" / "Segmentation"
    for sp, ids in split_ids.items():
        if not ids:
            continue
        path = str(split_dir / f"{sp}.txt")
        evaluated = sp not in ("train", "trainval")
        if evaluated and len(ids) < MIN_EVAL_IMAGES:
            probs.append(Problem("warning", path,
                                 f"the {sp} split has only {len(ids)} image(s): its metrics move by whole points with "
                                 f"one image; use at least {MIN_EVAL_IMAGES} (e.g. `segkit data split --val 0.2`)"))
        if num_classes is None:
            continue
        present = set().union(*(values.get(n, set()) for n in ids))
        for c in range(num_classes):
            if c in present:
                continue
            label = f"class {c}" + (f" ({names[c]})" if names and c < len(names) else "")
            why = ("the model cannot learn it" if not evaluated else
                   "its IoU there is undefined (NaN; 0 with absent='zero') and mIoU averages fewer classes")
            probs.append(Problem("warning", path, f"{label} has no pixel in the {len(ids)} image(s) of the {sp} "
                                                  f"split: {why}; re-split or add images that contain it"))
