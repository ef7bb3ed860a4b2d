"""Class colours: one palette for every mask figure, overlay and saved mask.

A dataset's own colours come first: VOC-layout mask PNGs often carry a palette (CamVid's
road-scene colours, the synthetic wire-rope set's, masks written by ``segkit data`` tools),
and ``mask_palette`` returns it. Without one, the PASCAL VOC colour map is used, the
convention of VOC-layout mask files, so a saved prediction mask and a figure show a class in
the same colour. The ignore value (255) is always white.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:
    from segkit.data.voc import VOCSegmentation

__all__ = ["voc_palette", "png_palette", "mask_palette", "as_palette", "colorize_mask", "class_colors", "save_mask"]

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


def mask_palette(data: str | Path | VOCSegmentation, num_classes: int | None = None) -> np.ndarray:
    """``(256, 3)`` uint8 palette of a dataset: its first mask PNG's own colours when it has
    them, else the VOC colour map.

    Args:
        data: a ``VOCSegmentation`` or a VOC-layout dataset root.
        num_classes: classes of the dataset (default: what the dataset reports).
    """
    from segkit.data.voc import VOCSegmentation

    if not isinstance(data, VOCSegmentation):
        from segkit.data.stats import _as_dataset

        data = _as_dataset(data, None, num_classes)
    if not data.mask_paths:
        return voc_palette()
    own = png_palette(data.mask_paths[0], num_classes or data.num_classes)
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
