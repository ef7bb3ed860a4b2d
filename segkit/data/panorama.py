"""A synthetic pinhole -> panoramic domain shift: equirectangular-style warp with a wider field of view.

Trans4PASS (Zhang et al., CVPR 2022, https://arxiv.org/abs/2203.01452) adapts models trained
on pinhole images (Cityscapes) to panoramas (DensePASS). Panoramas differ from pinhole images
in two ways the warp here reproduces on any VOC-layout dataset:

- **projection**: a panorama is equirectangular, so pixel columns are equal steps of
  longitude and rows equal steps of latitude; straight lines away from the centre bend;
- **field of view**: the panorama sees more (`fov` > `source_fov`), so every object is smaller.

Each output pixel at longitude ``lam`` and latitude ``phi`` (equal angular steps on both
axes, ``fov`` across the width) looks along the ray ``(cos(phi) sin(lam), sin(phi),
cos(phi) cos(lam))``; that ray meets the source (pinhole) image plane at
``x = tan(lam)``, ``y = tan(phi) / cos(lam)`` (in units of the focal length
``f = (W/2) / tan(source_fov/2)``). The part of the wider view that the pinhole image does
not cover is filled by mirroring the image at its borders (``fill="reflect"``, the default:
every pixel has content and a label) or left grey with void labels (``fill="void"``).
Images are resampled bilinearly, masks by nearest neighbour, so labels stay class indices.
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .files import VOID, read_class_names, read_image, read_mask, read_split, resolve_voc_root

__all__ = ["panorama_grid", "warp_to_panorama", "panorama_size", "make_panoramic_dataset", "PANORAMA_META"]

PANORAMA_META = "panorama.json"  # the arguments a folder was written with (regenerated when they change)
_SPLITS = ("train", "val", "test")


def panorama_grid(height: int, width: int, fov: float = 120.0, source_fov: float = 90.0,
                  source_size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Source pixel coordinates ``(u, v)`` (float, may lie outside the image) of every output pixel.

    Args:
        height, width: output size.
        fov: horizontal field of view of the output in degrees (< 180); the vertical one
            follows from equal angular steps: ``fov * height / width``.
        source_fov: horizontal field of view of the source pinhole image in degrees.
        source_size: ``(h, w)`` of the source image (default: the output size).

    Returns:
        ``(u, v)`` arrays of shape ``(height, width)``: column and row in the source image,
        pixel centres at integer + 0.5.
    """
    if not 0 < fov < 180 or not 0 < source_fov < 180:
        raise ValueError(f"fov={fov} and source_fov={source_fov} must be in (0, 180) degrees; "
                         "e.g. fov=120, source_fov=90")
    sh, sw = source_size or (height, width)
    half = math.radians(fov) / 2
    step = 2 * half / width  # radians per output pixel, on both axes
    lam = (np.arange(width) + 0.5 - width / 2) * step  # longitude of each column
    phi = (np.arange(height) + 0.5 - height / 2) * step  # latitude of each row
    if abs(phi).max() >= math.pi / 2:
        raise ValueError(f"the output's vertical field of view {math.degrees(2 * abs(phi).max()):.0f} deg reaches "
                         f"the poles; lower fov={fov} or use a wider output (height/width={height}/{width})")
    lam, phi = np.meshgrid(lam, phi)  # (H, W)
    f = (sw / 2) / math.tan(math.radians(source_fov) / 2)
    x = np.tan(lam)
    y = np.tan(phi) / np.cos(lam)
    return sw / 2 + f * x, sh / 2 + f * y


def _reflect(coord: np.ndarray, size: int) -> np.ndarray:
    """Mirror pixel-centre coordinates into ``[0, size)`` (the image mirrored at its borders)."""
    period = 2 * size
    c = np.mod(coord, period)
    return np.where(c >= size, period - c, c)


MAX_VERTICAL_FOV = 150.0  # degrees: beyond it the rows near the poles sample far outside the source


def panorama_size(height: int, width: int, fov: float) -> tuple[int, int]:
    """The output ``(H, W)`` for a source of `height` x `width`: the same size, widened where the
    vertical view (``fov * H / W``) would pass :data:`MAX_VERTICAL_FOV` (a portrait photo at 120 deg)."""
    return height, max(width, math.ceil(height * fov / MAX_VERTICAL_FOV))


def warp_to_panorama(rgb: np.ndarray, mask: np.ndarray | None = None, fov: float = 120.0, source_fov: float = 90.0,
                     size: tuple[int, int] | None = None,
                     fill: Literal["reflect", "void"] = "reflect") -> tuple[np.ndarray, np.ndarray | None]:
    """Warp a pinhole image (and its mask) to the equirectangular, wider-view panorama.

    Args:
        rgb: uint8 ``(h, w, 3)``.
        mask: uint8 ``(h, w)`` class indices with 255 = void, or None.
        fov, source_fov: see :func:`panorama_grid`.
        size: output ``(H, W)`` (default: :func:`panorama_size`, the input size unless the image is too
            tall for `fov`).
        fill: "reflect" (mirror the image beyond its borders) or "void" (grey image, 255 labels).

    Returns:
        ``(rgb uint8 (H, W, 3), mask uint8 (H, W) or None)``; the mask is resampled by nearest neighbour.
    """
    if fill not in ("reflect", "void"):
        raise ValueError(f"fill={fill!r}; use 'reflect' or 'void'")
    h, w = rgb.shape[:2]
    oh, ow = size or panorama_size(h, w, fov)
    u, v = panorama_grid(oh, ow, fov, source_fov, (h, w))
    outside = (u < 0) | (u >= w) | (v < 0) | (v >= h)
    if fill == "reflect":
        u, v = _reflect(u, w), _reflect(v, h)
    # grid_sample wants [-1, 1] with align_corners=False: -1 is the left edge of pixel 0
    grid = torch.from_numpy(np.stack([u / w * 2 - 1, v / h * 2 - 1], -1)[None]).float()  # (1, H, W, 2)
    img = torch.from_numpy(np.array(rgb, np.uint8)).permute(2, 0, 1)[None].float()
    out = F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=False)
    out_rgb = out[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()
    out_mask = None
    if mask is not None:
        m = torch.from_numpy(np.array(mask, np.uint8))[None, None].float()
        out_mask = F.grid_sample(m, grid, mode="nearest", padding_mode="border", align_corners=False)[0, 0]
        out_mask = out_mask.round().byte().numpy()
    if fill == "void":
        out_rgb[outside] = 128
        if out_mask is not None:
            out_mask[outside] = VOID
    return out_rgb, out_mask


def _resize_pair(rgb: np.ndarray, mask: np.ndarray, size: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    if size is None or tuple(rgb.shape[:2]) == tuple(size):
        return rgb, mask
    h, w = size
    img = Image.fromarray(rgb).resize((w, h), Image.BICUBIC)
    m = Image.fromarray(mask).resize((w, h), Image.NEAREST)
    return np.asarray(img), np.asarray(m)


def make_panoramic_dataset(
    source: str | Path,
    root: str | Path,
    fov: float | None = 120.0,
    source_fov: float = 90.0,
    splits: Sequence[str] | None = None,
    max_images: int | None = None,
    start: int = 0,
    size: tuple[int, int] | None = None,
    fill: Literal["reflect", "void"] = "reflect",
    overwrite: bool = False,
) -> Path:
    """Write a VOC-layout copy of `source` whose images and masks are warped to panoramas.

    With ``fov=None`` nothing is warped: the same images, resized the same way, form the
    pinhole side of the shift (useful to take a subset of a large dataset for both sides).

    Args:
        source: a VOC-layout dataset (e.g. CamVid, or ``make_synthetic_wirerope`` output).
        root: output folder (``JPEGImages/*.png``, ``SegmentationClass/*.png``, split lists,
            ``classes.txt`` and ``panorama.json`` with these arguments).
        fov, source_fov, fill: see :func:`warp_to_panorama` (fov None: no warp).
        splits: the split lists to copy (default: those of train/val/test that exist).
        max_images, start: keep images ``start .. start + max_images`` of each split list
            (use disjoint ranges to give source and target different images).
        size: resize every image to ``(H, W)`` first (masks by nearest neighbour).
        overwrite: rewrite even when ``panorama.json`` shows the same arguments.

    Returns:
        `root`. A folder written with the same arguments is reused as it is.
    """
    src = resolve_voc_root(source)
    root = Path(root)
    names = read_class_names(src)
    lists = src / "ImageSets" / "Segmentation"
    splits = list(splits) if splits is not None else [s for s in _SPLITS if (lists / f"{s}.txt").is_file()]
    if not splits:
        raise FileNotFoundError(f"no split lists (train/val/test .txt) in {lists}; pass splits=[...]")
    meta = {"source": str(src.resolve()), "fov": fov, "source_fov": source_fov, "splits": splits,
            "max_images": max_images, "start": int(start), "size": list(size) if size else None, "fill": fill}
    meta_path = root / PANORAMA_META
    if not overwrite and meta_path.is_file() and json.loads(meta_path.read_text(encoding="utf-8")) == meta:
        return root
    if root.exists():
        shutil.rmtree(root)
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    images = {p.stem: p for p in (src / "JPEGImages").iterdir() if p.is_file()}
    for split in splits:
        ids = read_split(src, split)[int(start):]
        ids = ids[:max_images] if max_images is not None else ids
        if not ids:
            raise ValueError(f"split {split!r} of {src} has no images from start={start}; lower start or max_images")
        for name in ids:
            if name not in images:
                raise FileNotFoundError(f"{split}.txt of {src} names {name!r} but JPEGImages/ has no such image")
            rgb = np.asarray(read_image(images[name]), np.uint8)
            mask = read_mask(src / "SegmentationClass" / f"{name}.png")
            rgb, mask = _resize_pair(rgb, mask, size)
            if fov is not None:
                rgb, mask = warp_to_panorama(rgb, mask, fov, source_fov, fill=fill)
            Image.fromarray(rgb).save(root / "JPEGImages" / f"{name}.png")
            _save_like(mask, src / "SegmentationClass" / f"{name}.png", root / "SegmentationClass" / f"{name}.png")
        (root / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(ids) + "\n", encoding="utf-8")
    if names is not None:
        (root / "classes.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    meta_path.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return root


def _save_like(mask: np.ndarray, original: Path, path: Path) -> None:
    """Save `mask` as a PNG with the original mask's palette when it has one (viewable colours)."""
    with Image.open(original) as orig:
        palette = orig.getpalette() if orig.mode == "P" else None
    im = Image.fromarray(np.asarray(mask, np.uint8), mode="P" if palette is not None else "L")
    if palette is not None:
        im.putpalette(palette)
    im.save(path)
