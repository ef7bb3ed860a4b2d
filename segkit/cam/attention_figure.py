"""The attention maps of ``capture_attention`` drawn over their image, with a colour bar."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

from segkit.cam.attention import AttentionMap
from segkit.cam.images import _to_input, crop_box, overlay

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_attention"]


def plot_attention(
    image: Any,
    maps: Sequence[AttentionMap],
    *,
    alpha: float = 0.5,
    cmap: str = "jet",
    ncols: int = 4,
    figsize_per: float = 2.4,
    save: str | Path | None = None,
    crop: Any = None,
) -> "Figure":
    """The image, then each attention map (min-max scaled, upsampled) over it.

    Each title gives the module, the map's resolution and its raw range; the colour bar
    runs from that minimum (0) to that maximum (1). GGCA panels also show the channel-mean
    height and width gates as side profiles. `crop` (a ``LetterboxInfo`` or (top, left,
    height, width)) shows only that region of the image, e.g. without letterbox bars.
    """
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    _, rgb = _to_input(image[:1] if isinstance(image, torch.Tensor) and image.ndim == 4 else image)
    top, left, height, width = crop_box(crop, rgb.shape[:2])
    region = (slice(top, top + height), slice(left, left + width))
    n = len(maps) + 1
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(figsize_per * ncols + 1.0, figsize_per * nrows + 0.4),
                             squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.set_axis_off()
    axes.flat[0].imshow(rgb[region])
    axes.flat[0].set_title("image", fontsize=9)
    for ax, m in zip(list(axes.flat)[1:], maps):
        ax.imshow(overlay(rgb, m.normalized(rgb.shape[:2]), alpha, cmap)[region])
        lo, hi = float(m.map.min()), float(m.map.max())
        ax.set_title(f"{m.kind} {m.path}\n{m.map.shape[0]}x{m.map.shape[1]}, [{lo:.2f}, {hi:.2f}]", fontsize=8)
        if m.kind == "ggca":
            _gate_profiles(ax, m, rgb.shape[:2], (top, left, height, width))
    cbar = fig.colorbar(ScalarMappable(Normalize(0, 1), cmap), ax=axes, shrink=0.8, fraction=0.03, pad=0.01)
    cbar.set_label("attention, scaled per map (0: its minimum, 1: its maximum)", fontsize=8)
    if save is not None:
        Path(save).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(save, dpi=200, bbox_inches="tight")
    return fig


def _gate_profiles(ax: Any, m: AttentionMap, size: tuple[int, int], box: tuple[int, int, int, int],
                   span: float = 0.15) -> None:
    """GGCA's mean height gate along the left edge and mean width gate along the bottom edge of `box`."""
    top, left, height, width = box
    ah, aw = m.raw["att_h"].mean(0), m.raw["att_w"].mean(0)
    ys = (np.arange(len(ah)) + 0.5) * size[0] / len(ah) - top
    xs = (np.arange(len(aw)) + 0.5) * size[1] / len(aw) - left
    keep_y, keep_x = (ys >= 0) & (ys <= height), (xs >= 0) & (xs <= width)
    ax.plot((_spread(ah) * width * span)[keep_y], ys[keep_y], color="white", lw=1)
    ax.plot(xs[keep_x], (height - _spread(aw) * height * span)[keep_x], color="white", lw=1)


def _spread(v: np.ndarray) -> np.ndarray:
    return (v - v.min()) / (v.max() - v.min() + 1e-12)
