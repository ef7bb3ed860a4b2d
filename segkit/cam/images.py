"""Image helpers for CAM figures: any image form to a model input, heat-map overlays, letterbox crops.

Mask colours come from ``segkit.data.palette`` (``colorize_mask``), the one palette of segkit.
Heat maps are resized with pytorch-grad-cam's ``scale_cam_image``. The overlay is blended here
rather than with grad-cam's ``show_cam_on_image``: that helper divides the blend by its maximum
(so a colour no longer means one CAM value, and a colour bar beside it would mislead) and
takes only OpenCV colour maps, while a figure's colour bar needs the matplotlib one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from segkit.data.palette import colorize_mask

__all__ = ["overlay", "colorize_mask", "to_rgb", "crop_box"]


def _resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of an (h, w) float map to `size` (H, W)."""
    import cv2

    return cv2.resize(np.ascontiguousarray(a, dtype=np.float32), (int(size[1]), int(size[0])),
                      interpolation=cv2.INTER_LINEAR)


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """Blend a heat map (H, W) in [0, 1] over an RGB image -> (H, W, 3) uint8.

    Each pixel is ``(1 - alpha) * image + alpha * cmap(heat)``, so a colour bar of `cmap`
    over [0, 1] reads the heat values off the figure.

    Args:
        image: (H, W, 3) uint8, or float in [0, 1].
        heat: (H, W) values in [0, 1] (other sizes are resized bilinearly).
        alpha: weight of the heat map.
        cmap: a matplotlib colormap name.
    """
    import matplotlib

    img = to_rgb(image)
    heat = np.asarray(heat, dtype=np.float32)
    if heat.shape != img.shape[:2]:
        heat = _resize(heat, img.shape[:2])
    colored = matplotlib.colormaps[cmap](np.clip(heat, 0, 1))[..., :3].astype(np.float32)
    return (np.clip((1 - alpha) * img + alpha * colored, 0, 1) * 255).round().astype(np.uint8)


def to_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 or float image -> float32 RGB in [0, 1]."""
    img = np.asarray(image)
    return img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)


def _to_input(image: Any) -> tuple[torch.Tensor, np.ndarray]:
    """Any image form -> ((1, 3, H, W) float tensor in [0, 1], (H, W, 3) float RGB)."""
    if isinstance(image, (str, Path)):
        from segkit.data.files import read_image

        image = np.asarray(read_image(image))
    if not isinstance(image, (torch.Tensor, np.ndarray)):  # PIL image
        image = np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"image array must be (H, W, 3) RGB; got shape {image.shape}")
        x = torch.from_numpy(to_rgb(image)).permute(2, 0, 1)[None].contiguous()
    else:
        x = image.detach().float()
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[0] != 1 or x.shape[1] != 3:
            raise ValueError(f"image tensor must be (3, H, W) or (1, 3, H, W) in [0, 1]; got shape {tuple(image.shape)}")
    rgb = x[0].permute(1, 2, 0).cpu().numpy()
    return x, np.clip(rgb, 0, 1)


def crop_box(crop: Any, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a ``LetterboxInfo`` (its image region), a 4-tuple, or None
    (the whole ``size`` (H, W))."""
    if crop is None:
        return 0, 0, int(size[0]), int(size[1])
    return tuple(int(v) for v in ((*crop.offset, *crop.resized) if hasattr(crop, "offset") else crop))
