"""CAM figures: one row per image (image, ground truth, per model its prediction and a map per class).

Every figure has a colour bar for the heat maps, a legend of the class colours used for the
ground truth and the predictions (the dataset's own colours when a palette is given, see
``segkit.data.mask_palette``), and column titles large enough to read in a paper. A class
with no target pixels in an image has nothing to explain there: its panel shows the dimmed
image and says so instead of a map of the whole image.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import torch.nn as nn

from segkit.cam.gradcam import CamResult, gradcam
from segkit.cam.images import crop_box, overlay, to_rgb
from segkit.data.palette import class_colors, colorize_mask

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_cams", "cam_grid", "CAM_COLORBAR_LABEL"]

CAM_COLORBAR_LABEL = "class activation (each map scaled to 0-1)"
_TITLE_SIZE = 10


@dataclass
class _Panel:
    """One cell of a figure: an RGB picture, its column title, and an optional note drawn over it."""

    title: str
    picture: np.ndarray
    note: str = ""


def _cam_panels(res: CamResult, head: str, alpha: float, cmap: str, region: str) -> list[_Panel]:
    """A map per class; a class without target pixels gets the dimmed image and a note instead."""
    panels = []
    for c, n, heat in zip(res.classes, res.target_pixels, res.heatmaps):
        title = f"{head}{res.name(c)}"
        if n:
            panels.append(_Panel(title, overlay(res.image, heat, alpha, cmap)))
        else:
            panels.append(_Panel(title, 0.35 * to_rgb(res.image), f"no {res.name(c)} pixels\nin the {region}"))
    return panels


def _draw(rows: list[list[_Panel]], *, masks: list[np.ndarray], names: Sequence[str] | None, palette: Any,
          cmap: str, suptitle: str, figsize_per: float) -> "Figure":
    """Lay out the panels, then add the colour bar, the class legend and the title."""
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    ncols = max(len(r) for r in rows)
    h, w = rows[0][0].picture.shape[:2]
    row_height = figsize_per * h / w + 0.2  # panels keep the image's aspect; a little room for titles
    fig, axes = plt.subplots(len(rows), ncols, figsize=(figsize_per * ncols + 1.2, row_height * len(rows) + 1.0),
                             squeeze=False, layout="constrained")
    for r, row in enumerate(rows):
        for c, panel in enumerate(row):
            ax = axes[r, c]
            ax.imshow(panel.picture)
            ax.set_axis_off()
            if r == 0:
                ax.set_title(panel.title, fontsize=_TITLE_SIZE)
            if panel.note:
                ax.text(0.5, 0.5, panel.note, transform=ax.transAxes, ha="center", va="center", color="white",
                        fontsize=_TITLE_SIZE - 1)
    cbar = fig.colorbar(ScalarMappable(Normalize(0, 1), cmap), ax=axes, shrink=min(0.9, 0.45 + 0.15 * len(rows)),
                        fraction=0.03, pad=0.01)
    cbar.set_label(CAM_COLORBAR_LABEL, fontsize=_TITLE_SIZE - 1)
    _class_legend(fig, masks, names, palette)
    fig.suptitle(suptitle, fontsize=_TITLE_SIZE + 1)
    return fig


def _class_legend(fig: "Figure", masks: list[np.ndarray], names: Sequence[str] | None, palette: Any) -> None:
    """A legend of the colours of the classes that appear in the ground truth and predictions."""
    from matplotlib.patches import Patch

    present = sorted({int(v) for m in masks for v in np.unique(m) if 0 <= v < 255})
    if not present:
        return
    colors = class_colors(max(present) + 1, palette)
    handles = [Patch(facecolor=np.array(colors[c]) / 255, edgecolor="0.5",
                     label=names[c] if names and c < len(names) else f"class {c}") for c in present]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6), fontsize=_TITLE_SIZE - 1,
               frameon=False)


def plot_cams(result: CamResult, gt: np.ndarray | None = None, alpha: float = 0.5,
              palette: np.ndarray | None = None, figsize_per: float = 2.6, cmap: str = "jet",
              target: str = "pred") -> "Figure":
    """One row: image, ground truth (if given), prediction, a CAM overlay per class.

    Args:
        result: a ``gradcam`` result.
        gt: the (H, W) ground truth, drawn in the class colours.
        alpha: heat-map weight in the overlays.
        palette: (n, 3) uint8 class colours (default VOC; ``segkit.data.mask_palette(ds)``: the dataset's).
        figsize_per: inches per panel.
        cmap: the heat maps' matplotlib colour map (also the colour bar's).
        target: the region ``result`` scored: "pred" (its default) or "gt" (``gradcam(label_map=gt)``);
            named in the note of a panel whose class had no pixels there.
    """
    panels = [_Panel("image", result.image)]
    masks = [result.prediction] if gt is None else [np.asarray(gt), result.prediction]
    if gt is not None:
        panels.append(_Panel("ground truth", colorize_mask(gt, palette)))
    panels.append(_Panel("prediction", colorize_mask(result.prediction, palette)))
    panels += _cam_panels(result, "", alpha, cmap, _region(target))
    return _draw([panels], masks=masks, names=result.class_names, palette=palette, cmap=cmap,
                 suptitle=f"{result.method} at {result.layer}", figsize_per=figsize_per)


def _region(target: str) -> str:
    if target not in ("pred", "gt"):
        raise ValueError(f"target must be 'pred' or 'gt'; got {target!r}")
    return "ground truth" if target == "gt" else "prediction"


def _check_grid(models: Mapping[str, nn.Module], images: Sequence[Any], gts: Sequence[np.ndarray] | None,
                target: str, crops: Sequence[Any] | None) -> None:
    if not models or not images:
        raise ValueError(f"cam_grid needs at least one model and one image; got {len(models)} and {len(images)}")
    if target == "gt" and gts is None:
        raise ValueError("target='gt' needs gts= (one ground-truth mask per image)")
    if gts is not None and len(gts) != len(images):
        raise ValueError(f"gts has {len(gts)} masks for {len(images)} images; pass one per image")
    if crops is not None and len(crops) != len(images):
        raise ValueError(f"crops has {len(crops)} boxes for {len(images)} images; pass one per image (or None)")


def _crop(res: CamResult, gt: np.ndarray | None, box: Any) -> tuple[CamResult, np.ndarray | None]:
    """Cut a result (and its ground truth) to a box: a ``LetterboxInfo`` or (top, left, height, width)."""
    if box is None:
        return res, gt
    top, left, height, width = crop_box(box, res.prediction.shape)
    return res.crop(top, left, height, width), None if gt is None else gt[top:top + height, left:left + width]


def cam_grid(
    models: Mapping[str, nn.Module],
    images: Sequence[Any],
    classes: Sequence[int],
    *,
    gts: Sequence[np.ndarray] | None = None,
    class_names: Sequence[str] | None = None,
    layer: str | Mapping[str, str] | None = None,
    method: str = "gradcam",
    target: str = "pred",
    alpha: float = 0.5,
    palette: np.ndarray | None = None,
    figsize_per: float = 2.2,
    save: str | Path | None = None,
    precision: str = "fp32",
    channels_last: str | bool = "auto",
    crops: Sequence[Any] | None = None,
    cmap: str = "jet",
) -> "Figure":
    """Figure grid: one row per image; image, GT, then per model its prediction and a CAM per class.

    Args:
        models: {column label: model}, e.g. {"baseline": m0, "improved": m1} (side by side).
        images: images accepted by ``gradcam``.
        classes: class indices to explain (one CAM column each, per model).
        gts: optional (H, W) ground-truth masks, one per image.
        class_names: names for the column titles and the class legend.
        layer: one layer (role or path) for all models, or {label: layer}.
        method: a ``CAM_METHODS`` name.
        target: "pred" (pixels predicted as the class) or "gt" (pixels labelled as the
            class; needs ``gts``).
        alpha: heat-map weight in the overlays.
        palette: (n, 3) uint8 class colours for GT/prediction (default: the VOC colour map;
            ``segkit.data.mask_palette(dataset)`` gives the dataset's own colours).
        figsize_per: inches per panel.
        save: a path to save the figure to (PNG/PDF/SVG, by extension, 200 dpi).
        precision, channels_last: as in ``gradcam`` (default fp32).
        crops: per image, the box to show: a ``LetterboxInfo`` (its image region, without the
            grey bars) or (top, left, height, width); None shows the whole input.
        cmap: the heat maps' matplotlib colour map (also the colour bar's).

    A class with no target pixels in an image (with target="pred": not predicted there) has
    nothing to explain: its panel shows the dimmed image and says so.

    Returns:
        The matplotlib Figure; ``fig.cam_results`` holds the ``CamResult`` per (image, model),
        uncropped.
    """
    region = _region(target)
    _check_grid(models, images, gts, target, crops)
    names = list(class_names) if class_names else None
    results: dict[tuple[int, str], CamResult] = {}
    rows, masks = [], []
    for r, img in enumerate(images):
        gt = None if gts is None else np.asarray(gts[r])
        row: list[_Panel] = []
        for label, model in models.items():
            res = gradcam(model, img, list(classes), layer=layer.get(label) if isinstance(layer, Mapping) else layer,
                          method=method, class_names=names, label_map=gt if target == "gt" else None,
                          precision=precision, channels_last=channels_last)
            results[(r, label)] = res
            shown, gt_shown = _crop(res, gt, None if crops is None else crops[r])
            row.append(_Panel(f"{label}\nprediction", colorize_mask(shown.prediction, palette)))
            row += _cam_panels(shown, f"{label}\n", alpha, cmap, region)
            masks.append(shown.prediction)
        lead = [_Panel("image", shown.image)]
        if gt_shown is not None:
            lead.append(_Panel("ground truth", colorize_mask(gt_shown, palette)))
            masks.append(gt_shown)
        rows.append(lead + row)
    fig = _draw(rows, masks=masks, names=names, palette=palette, cmap=cmap, figsize_per=figsize_per,
                suptitle=f"{method}: where each model looks for a class (scored pixels: the {region})")
    fig.cam_results = results
    if save is not None:
        Path(save).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(save, dpi=200, bbox_inches="tight")
    return fig
