"""Offline augmentation (the paper's 970 -> 4805 images), recording each copy's source."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
from PIL import Image

from ..colors import save_mask
from ..files import IMAGE_EXTS, _index_folder, read_class_names, read_image, read_mask, resolve_voc_root
from .splits import SOURCES_FILE, _read_sources


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
