"""Class colours: one palette for every mask figure, overlay and saved mask.

A dataset's own colours come first: VOC-layout mask PNGs often carry a palette (CamVid's
road-scene colours, the synthetic wire-rope set's, masks written by ``segkit data`` tools),
and ``mask_palette`` returns it. Without one, the PASCAL VOC colour map is used, the
convention of VOC-layout mask files, so a saved prediction mask and a figure show a class in
the same colour. The ignore value (255) is always white.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from segkit.data.colors import (  # noqa: F401  (the colour functions are imported from here too)
    IGNORE_COLOR, as_palette, class_colors, colorize_mask, first_mask_palette, overlay_mask, png_palette, save_mask,
    voc_palette,
)
from segkit.data.voc import VOCSegmentation, as_dataset

__all__ = ["voc_palette", "png_palette", "mask_palette", "as_palette", "colorize_mask", "class_colors", "save_mask",
           "overlay_mask"]


def mask_palette(data: str | Path | VOCSegmentation, num_classes: int | None = None) -> np.ndarray:
    """``(256, 3)`` uint8 palette of a dataset: its first mask PNG's own colours when it has
    them, else the VOC colour map.

    Args:
        data: a ``VOCSegmentation`` or a VOC-layout dataset root.
        num_classes: classes of the dataset (default: what the dataset reports).
    """
    if not isinstance(data, VOCSegmentation):
        data = as_dataset(data, None, num_classes)
    return first_mask_palette(data.mask_paths, num_classes or data.num_classes)
