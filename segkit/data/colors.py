"""Class colours and masks drawn in them: the lowest data module (numpy; PIL for PNG files).

The PASCAL VOC colour map (`voc_palette`), a mask PNG's own colours (`png_palette`),
class indices to colours (`colorize_mask`), legend colours (`class_colors`), palette PNGs
(`save_mask`) and the one mask overlay (`overlay_mask`), which ``segkit.data.sample_grid``,
``segkit.engine.overlay`` and ``segkit.report.overlay_mask`` all draw with. Nothing here reads
a dataset: :mod:`segkit.data.palette` (a dataset's own palette, ``mask_palette``) builds on
this module and re-exports it, and :mod:`segkit.data.voc` uses it for ``VOCSegmentation.palette``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["voc_palette", "png_palette", "as_palette", "colorize_mask", "class_colors", "save_mask",
           "overlay_mask", "IGNORE_COLOR"]

IGNORE_COLOR = (255, 255, 255)


def voc_palette(n: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map ``(n, 3)`` uint8 (bit-interleaved: (0,0,0), (128,0,0), (0,128,0) ...),
    index 255 (the ignore value) white."""
    c = np.arange(256)
    pal = np.zeros((256, 3), np.int64)
    for j in range(8):
        for ch in range(3):
            pal[:, ch] |= ((c >> (3 * j + ch)) & 1) << (7 - j)
    pal[255] = IGNORE_COLOR
    return pal.astype(np.uint8)[:n]


def png_palette(path: str | Path, num_classes: int) -> np.ndarray | None:
    """The ``(256, 3)`` palette of a palette-mode mask PNG, when it gives the first `num_classes`
    classes distinct colours; None otherwise (a greyscale mask, or a palette that repeats)."""
    from PIL import Image

    with Image.open(path) as im:
        pal = im.getpalette() if im.mode == "P" else None
    if not pal:
        return None
    p = np.asarray(pal[:768], np.uint8).reshape(-1, 3)
    if len(p) < num_classes or len(np.unique(p[:num_classes], axis=0)) != num_classes:
        return None
    out = voc_palette()
    out[:len(p)] = p
    out[255] = IGNORE_COLOR
    return out


def first_mask_palette(mask_paths: Sequence[str | Path], num_classes: int) -> np.ndarray:
    """``(256, 3)`` uint8 palette of a dataset from its mask files: the first mask PNG's own
    colours when it has them (`png_palette`), else the VOC colour map."""
    if not mask_paths:
        return voc_palette()
    own = png_palette(mask_paths[0], num_classes)
    return voc_palette() if own is None else own


def as_palette(palette: np.ndarray | Sequence[Sequence[int]] | None = None) -> np.ndarray:
    """`palette` as an ``(n, 3)`` uint8 array; None gives ``voc_palette()``.

    Raises:
        ValueError: the colours are not RGB triples in 0..255.
    """
    if palette is None:
        return voc_palette()
    arr = np.asarray(palette)
    if arr.size % 3 or (arr.ndim == 2 and arr.shape[1] != 3) or arr.ndim > 2:
        raise ValueError(f"palette must be (n, 3) RGB colours; got shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise ValueError(f"palette colours must lie in 0..255; got values {arr.min()}..{arr.max()}")
    return arr.astype(np.uint8).reshape(-1, 3)


def colorize_mask(mask: np.ndarray, palette: np.ndarray | Sequence[Sequence[int]] | None = None,
                  ignore_index: int | None = 255) -> np.ndarray:
    """``(H, W)`` class indices -> ``(H, W, 3)`` uint8 colours; ``ignore_index`` pixels are white.

    Args:
        mask: class indices.
        palette: ``(n, 3)`` colours (default: the VOC colour map; a dataset's: ``mask_palette``).
        ignore_index: the void value drawn white (None: none).

    Raises:
        ValueError: a value other than ``ignore_index`` has no colour in the palette.
    """
    pal = as_palette(palette)
    m = np.asarray(mask).astype(np.int64)
    void = (m == ignore_index) if ignore_index is not None else np.zeros(m.shape, bool)
    bad = ((m < 0) | (m >= len(pal))) & ~void
    if bad.any():
        raise ValueError(f"mask value {int(m[bad].flat[0])} has no colour; the palette has {len(pal)} entries "
                         "(pass a longer palette, or set ignore_index to the void value)")
    out = pal[np.clip(m, 0, len(pal) - 1)]
    out[void] = IGNORE_COLOR
    return out


def class_colors(num_classes: int, palette: np.ndarray | Sequence[Sequence[int]] | None = None
                 ) -> list[tuple[int, int, int]]:
    """The first `num_classes` colours of `palette` (default VOC) as RGB tuples, e.g. for legends."""
    pal = as_palette(palette)
    if num_classes > len(pal):
        raise ValueError(f"num_classes={num_classes} but the palette has {len(pal)} colours")
    return [tuple(int(v) for v in c) for c in pal[:num_classes]]


def save_mask(mask: np.ndarray, path: str | Path, palette: Sequence[Sequence[int]] | None = None) -> None:
    """Save a uint8 class-index mask as a palette PNG (VOC colours by default, the ignore value white)."""
    from PIL import Image

    flat = [0] * 768
    for i, c in enumerate(voc_palette() if palette is None else palette):
        flat[3 * i:3 * i + 3] = [int(v) for v in c]
    flat[3 * 255:3 * 256] = list(IGNORE_COLOR)
    im = Image.fromarray(np.asarray(mask, np.uint8), mode="P")
    im.putpalette(flat)
    im.save(path)


def overlay_mask(image: np.ndarray, mask: np.ndarray, palette: np.ndarray | Sequence[Sequence[int]] | None = None,
                 alpha: float = 0.5, skip: Sequence[int] = (), rounding: str = "down") -> np.ndarray:
    """Class colours of `mask` blended over an RGB `image`: the one mask overlay of segkit.

    Each coloured pixel becomes ``image + alpha * (colour - image)`` in float32, the arithmetic
    of ``PIL.Image.blend``; pixels whose class is in `skip`, or has no colour in the palette,
    keep the image.

    Args:
        image: ``(H, W, 3)`` RGB values in 0..255.
        mask: ``(H, W)`` class indices.
        palette: ``(n, 3)`` colours (default: the VOC colour map, whose 255 is white).
        alpha: colour opacity (0: the image, 1: the colours).
        skip: classes left uncoloured (e.g. the background, the void value 255).
        rounding: ``"down"`` truncates as ``PIL.Image.blend`` does (bit-identical to it);
            ``"nearest"`` rounds ``(1 - alpha) * image + alpha * colour`` to the nearest integer.

    Returns:
        ``(H, W, 3)`` uint8.
    """
    if rounding not in ("down", "nearest"):
        raise ValueError(f"rounding={rounding!r} must be 'down' or 'nearest'")
    pal = as_palette(palette)
    img = np.asarray(image).astype(np.float32)
    m = np.asarray(mask)
    if img.shape[:2] != m.shape:
        raise ValueError(f"image {img.shape[:2]} and mask {m.shape} sizes differ")
    if not len(pal):
        return np.asarray(image).astype(np.uint8)
    sel = (m >= 0) & (m < len(pal))
    if len(skip):
        sel &= ~np.isin(m, list(skip))
    colours = pal[np.clip(m, 0, len(pal) - 1)].astype(np.float32)
    a = np.float32(alpha)
    if rounding == "down":
        blended = img + a * (colours - img)
    else:
        blended = (1 - alpha) * img + alpha * colours + np.float32(0.5)
    out = np.where(sel[..., None], blended, img)
    return np.clip(out, 0, 255).astype(np.uint8)
