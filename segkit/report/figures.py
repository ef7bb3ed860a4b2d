"""The report's plots, one function per figure type, all in segkit's style.

Each function returns a matplotlib Figure (save it with ``save_figure``); labels follow the
language set by ``use_style`` and can be overridden per call with ``lang``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from segkit.data.palette import class_colors, colorize_mask
from segkit.data.palette import overlay_mask as _overlay_mask
from segkit.metrics.learned import is_background
from segkit.report.labels import annotate_without_overlap
from segkit.report.style import PALETTE, label

__all__ = [
    "plot_training_curves",
    "plot_miou_vs_fps",
    "plot_per_class_bars",
    "plot_confusion_matrix",
    "plot_overlays",
    "plot_ours_vs_paper",
    "plot_image_grid",
    "colorize_mask",
    "overlay_mask",
    "plot_tp_fp_fn",
    "plot_boundary_bands",
    "plot_objects",
    "plot_scatter",
]


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _pct_series(s: pd.Series) -> pd.Series:
    s = pd.to_numeric(s, errors="coerce")
    return s * 100.0 if s.dropna().abs().max() <= 1.0 else s


def plot_training_curves(history: pd.DataFrame, title: str | None = None, lang: str | None = None,
                         miou_col: str = "miou"):
    """Loss (train/val), learning rate and validation mIoU per epoch from a ``history.csv``.

    Validation columns are plotted only on the epochs where they were evaluated (the
    reference evaluates every ``eval_period`` epochs), as markers joined by lines.

    Raises:
        ValueError: ``history`` is empty or has no ``train_loss`` column.
    """
    if history is None or history.empty or "train_loss" not in history.columns:
        cols = [] if history is None else list(history.columns)
        raise ValueError(f"history must be a non-empty history.csv frame with 'train_loss'; got columns {cols}.")
    plt = _plt()
    h = history.reset_index(drop=True)
    x = h["epoch"] if "epoch" in h.columns else pd.Series(np.arange(1, len(h) + 1))
    has_miou = miou_col in h.columns and h[miou_col].notna().any()
    n = 2 + int(has_miou)
    fig, axes = plt.subplots(1, n, figsize=(4.0 * n, 3.2))
    ax = axes[0]
    ax.plot(x, h["train_loss"], marker="o", label=label("train_loss", lang))
    if "val_loss" in h.columns and h["val_loss"].notna().any():
        m = h["val_loss"].notna()
        ax.plot(x[m], h["val_loss"][m], marker="s", label=label("val_loss", lang))
    ax.set_xlabel(label("epoch", lang))
    ax.set_ylabel(label("loss", lang))
    ax.legend()
    ax = axes[1]
    if "lr" in h.columns:
        ax.plot(x, h["lr"], color=PALETTE[2], marker=".")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    ax.set_xlabel(label("epoch", lang))
    ax.set_ylabel(label("lr", lang))
    if has_miou:
        ax = axes[2]
        m = h[miou_col].notna()
        vals = _pct_series(h[miou_col])
        ax.plot(x[m], vals[m], color=PALETTE[3], marker="D")
        best = int(vals.idxmax())
        ax.annotate(f"{vals.iloc[best]:.1f}", (x.iloc[best], vals.iloc[best]), textcoords="offset points",
                    xytext=(0, 6), ha="center")
        ax.set_xlabel(label("epoch", lang))
        ax.set_ylabel(label("miou", lang))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_miou_vs_fps(df: pd.DataFrame, name_col: str = "Model", miou_col: str = "mIoU(%)",
                     fps_col: str = "FPS(f/s)", params_col: str = "Parameter(M)", title: str | None = None,
                     lang: str | None = None, ax=None):
    """Accuracy against speed, one marker per model, marker area proportional to parameters.

    With a ``"<miou_col> std"`` column (``results_table`` over seeds) each marker gets a
    vertical error bar of ± one std.

    The upper-right corner is better (more accurate and faster); a large marker there is
    a model that pays for it in size.
    """
    for c in (name_col, miou_col, fps_col, params_col):
        if c not in df.columns:
            raise ValueError(f"df lacks column {c!r}; it has {list(df.columns)}.")
    plt = _plt()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.6, 4.0))
    params = df[params_col].astype(float).to_numpy()
    pmax = np.nanmax(params) if np.isfinite(params).any() else 1.0
    sizes = 60 + 900 * np.nan_to_num(params / pmax)
    for i, (_, row) in enumerate(df.iterrows()):
        ax.scatter(row[fps_col], row[miou_col], s=sizes[i], color=PALETTE[i % len(PALETTE)], alpha=0.55,
                   edgecolor="black", linewidth=0.6, zorder=3)
    std = f"{miou_col} std"  # error bars: std over seeds (results_table)
    if std in df.columns and df[std].notna().any():
        ax.errorbar(df[fps_col].astype(float), df[miou_col].astype(float), yerr=df[std].astype(float), fmt="none",
                    ecolor="black", elinewidth=0.8, capsize=3, zorder=4)
        lo, hi = ax.get_ylim()
        ax.set_ylim(max(lo, 0.0), min(hi, 100.0))  # an IoU lies in [0, 100] whatever the bar says
    ax.set_xlabel(label("fps", lang))
    ax.set_ylabel(label("miou", lang))
    ax.margins(x=0.25, y=0.2)
    if title:
        ax.set_title(title)
    if fig is not None:
        fig.tight_layout()  # before placing the names: a later layout change would move the markers under them
    yerr = df[std].astype(float).to_numpy() if std in df.columns else None
    annotate_without_overlap(ax, [(f"{row[name_col]}\n{row[params_col]:.2f} M", row[fps_col], row[miou_col])
                                   for _, row in df.iterrows()], fontsize=8, drop=False, sizes=sizes, yerr=yerr)
    return fig if fig is not None else ax.figure


def plot_per_class_bars(per_class: pd.DataFrame, metrics: Sequence[str] | None = None,
                        class_col: str = "class", title: str | None = None, lang: str | None = None):
    """Grouped bars: one group per class, one bar per metric (IoU, PA/recall, precision ...).

    The reference's evaluation writes the same four charts separately; grouping them shows
    at a glance which class is weak and whether it misses pixels (low recall) or
    over-predicts them (low precision). ``"<metric> std"`` columns (several seeds) become
    error bars.
    """
    if class_col not in per_class.columns:
        raise ValueError(f"per_class lacks the {class_col!r} column; it has {list(per_class.columns)}.")
    metrics = list(metrics or [c for c in per_class.columns if c != class_col and not str(c).endswith(" std")
                               and pd.api.types.is_numeric_dtype(per_class[c])])
    plt = _plt()
    k, m = len(per_class), len(metrics)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * k * max(m, 2) * 0.5 + 2), 3.6))
    width = 0.8 / max(m, 1)
    xs = np.arange(k)
    for j, met in enumerate(metrics):
        vals = per_class[met].astype(float).to_numpy()
        err = per_class[f"{met} std"].astype(float).to_numpy() if f"{met} std" in per_class.columns else None
        bars = ax.bar(xs + (j - (m - 1) / 2) * width, vals, width, label=met, color=PALETTE[j % len(PALETTE)],
                      yerr=err, capsize=2, error_kw={"elinewidth": 0.7})
        if k * m <= 24:
            ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
    ax.set_xticks(xs, per_class[class_col].astype(str), rotation=30 if k > 5 else 0, ha="right" if k > 5 else "center")
    ax.set_ylabel("%")
    ax.set_ylim(0, 105)
    ax.legend(ncol=min(m, 4), loc="upper center", bbox_to_anchor=(0.5, -0.18 if k <= 5 else -0.3))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(cm: np.ndarray | pd.DataFrame, class_names: Sequence[str] | None = None,
                          normalize: bool = True, title: str | None = None, lang: str | None = None):
    """Heat map of a confusion matrix (rows = ground truth, columns = prediction).

    With ``normalize`` each row is divided by its total, so the diagonal is the per-class
    recall (PA) in percent and off-diagonal cells show where a class's pixels went.
    """
    if isinstance(cm, pd.DataFrame):
        class_names = class_names or [str(c) for c in cm.index]
        cm = cm.to_numpy()
    cm = np.asarray(cm, dtype=float)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square (K, K) matrix; got shape {cm.shape}.")
    k = cm.shape[0]
    names = list(class_names or [str(i) for i in range(k)])
    if len(names) != k:
        raise ValueError(f"class_names has {len(names)} names for a {k}x{k} matrix.")
    vals = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) * 100 if normalize else cm
    plt = _plt()
    side = max(3.6, 0.55 * k + 2)
    fig, ax = plt.subplots(figsize=(side + 0.8, side))
    im = ax.imshow(vals, cmap="Blues", vmin=0, vmax=100 if normalize else None)
    ax.grid(False)
    ax.set_xticks(range(k), names, rotation=45 if k > 3 else 0, ha="right" if k > 3 else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel(label("prediction", lang))
    ax.set_ylabel(label("ground_truth", lang))
    if k <= 15:
        thresh = np.nanmax(vals) / 2 if vals.size else 0
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{vals[i, j]:.1f}" if normalize else f"{int(vals[i, j])}", ha="center", va="center",
                        fontsize=7 if k > 8 else 9, color="white" if vals[i, j] > thresh else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title or (label("confusion_matrix", lang) if normalize else ""))
    fig.tight_layout()
    return fig


def overlay_mask(image: np.ndarray, mask: np.ndarray, num_classes: int, alpha: float = 0.5,
                 ignore_index: int = 255, background: int | None = 0, palette: np.ndarray | None = None) -> np.ndarray:
    """Blend class colours (`palette`, default VOC; ``segkit.data.mask_palette`` gives a dataset's own) onto
    an RGB image; the ``background`` class (None: none) and ignored pixels stay untouched."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = (np.clip(img, 0, 1) * 255).astype(np.uint8) if img.max() <= 1.0 else img.astype(np.uint8)
    if img.ndim == 3 and img.shape[0] == 3 and img.shape[-1] != 3:  # CHW -> HWC
        img = img.transpose(1, 2, 0)
    colors = class_colors(num_classes, palette)
    if background is None and num_classes > 0 and colors[0] == (0, 0, 0):
        colors = [(128, 128, 128)] + colors[1:]  # class 0 is a real class: give it a visible colour
    return _overlay_mask(img, np.asarray(mask), np.array(colors, np.uint8).reshape(-1, 3), alpha,
                         skip=() if background is None else (background,))


def plot_overlays(images: Sequence[np.ndarray], masks: Sequence[np.ndarray], preds: Sequence[np.ndarray] | None = None,
                  class_names: Sequence[str] = (), titles: Sequence[str] | None = None, lang: str | None = None,
                  alpha: float = 0.5, palette: np.ndarray | None = None):
    """Rows of image | ground-truth overlay | prediction overlay, with a class-colour legend.

    Colours come from `palette` (default VOC; pass ``segkit.data.mask_palette(dataset)`` for the
    dataset's own class colours).

    Class 0 is left uncoloured when it is named "background" (the wire-rope data); in
    datasets where class 0 is a real class (CamVid's "sky") every class is coloured.
    """
    from matplotlib.patches import Patch

    n = len(images)
    if n == 0 or len(masks) != n or (preds is not None and len(preds) != n):
        raise ValueError(f"images, masks (and preds) must be equally long and non-empty; got {n}, {len(masks)}"
                         f"{'' if preds is None else ', ' + str(len(preds))}.")
    k = len(class_names) or int(max(int(np.asarray(m)[np.asarray(m) < 255].max(initial=0)) for m in masks)) + 1
    bg = 0 if (not class_names or is_background(class_names[0])) else None
    cols = 3 if preds is not None else 2
    plt = _plt()
    fig, axes = plt.subplots(n, cols, figsize=(2.6 * cols, 2.4 * n), squeeze=False)
    for i in range(n):
        img = images[i]
        panels = [(img, label("image", lang)),
                  (overlay_mask(img, masks[i], k, alpha, background=bg, palette=palette), label("ground_truth", lang))]
        if preds is not None:
            panels.append((overlay_mask(img, preds[i], k, alpha, background=bg, palette=palette),
                           label("prediction", lang)))
        for j, (pic, head) in enumerate(panels):
            ax = axes[i, j]
            pic = np.asarray(pic)
            if pic.ndim == 3 and pic.shape[0] == 3 and pic.shape[-1] != 3:
                pic = pic.transpose(1, 2, 0)
            ax.imshow(pic)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if i == 0:
                ax.set_title(head)
        if titles:
            axes[i, 0].set_ylabel(titles[i], fontsize=8)
    if class_names:
        colors = class_colors(len(class_names), palette)
        if bg is None:
            colors = [(128, 128, 128)] + colors[1:]
        handles = [Patch(color=np.array(c) / 255, label=nm) for c, nm in zip(colors, class_names)][0 if bg is None else 1:]
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.04 if class_names else 0, 1, 1))
    return fig


def plot_ours_vs_paper(ours: pd.DataFrame, paper: pd.DataFrame, name_col: str = "Model",
                       metric: str = "mIoU(%)", title: str | None = None, lang: str | None = None):
    """Side-by-side bars of our value and the paper's for the rows both tables share.

    Rows only in one table are shown with a single bar. The paper's bars are hatched and
    labelled "paper" so the two sources are never confused.
    """
    for df, nm in ((ours, "ours"), (paper, "paper")):
        if name_col not in df.columns or metric not in df.columns:
            raise ValueError(f"{nm} lacks {name_col!r} or {metric!r}; it has {list(df.columns)}.")
    names = list(dict.fromkeys(list(ours[name_col]) + list(paper[name_col])))
    o = ours.set_index(name_col)[metric].reindex(names).astype(float)
    p = paper.set_index(name_col)[metric].reindex(names).astype(float)
    std = f"{metric} std"  # error bars: our std over seeds (results_table)
    err = ours.set_index(name_col)[std].reindex(names).astype(float).to_numpy() if std in ours.columns else None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(names) + 1.5), 3.6))
    x = np.arange(len(names))
    b1 = ax.bar(x - 0.2, o.to_numpy(), 0.4, label=label("ours", lang), color=PALETTE[0], yerr=err, capsize=3,
                error_kw={"elinewidth": 0.8})
    b2 = ax.bar(x + 0.2, p.to_numpy(), 0.4, label=label("paper", lang), color="white", edgecolor=PALETTE[1],
                hatch="//")
    for bars in (b1, b2):
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
    ax.set_xticks(x, names, rotation=25, ha="right")
    ax.set_ylabel(metric)
    top = np.nanmax(np.r_[o.to_numpy(), p.to_numpy(), 0.0])
    if top > 0:  # headroom: the legend sits in a row above the tallest bar and its label
        ax.set_ylim(top=top * 1.25)
    ax.legend(ncol=2, loc="upper center", frameon=False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_image_grid(images: Sequence[np.ndarray], titles: Sequence[str] | None = None, ncols: int = 4,
                    cmap: str | None = None, suptitle: str | None = None, size: float = 2.4):
    """A plain grid of images (RGB, masks or heat maps) with optional titles."""
    n = len(images)
    if n == 0:
        raise ValueError("images is empty; pass at least one image.")
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    plt = _plt()
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        if i >= n:
            ax.axis("off")
            continue
        pic = np.asarray(images[i])
        if pic.ndim == 3 and pic.shape[0] in (1, 3) and pic.shape[-1] not in (1, 3):
            pic = pic.transpose(1, 2, 0)
        ax.imshow(pic.squeeze(), cmap=cmap)
        if titles:
            ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_tp_fp_fn(gt: np.ndarray, pred: np.ndarray, cls: int, image: np.ndarray | None = None,
                  class_name: str | None = None, ignore_index: int = 255):
    """Where one class's true positives, false positives and false negatives are.

    Green = TP (labelled and predicted as ``cls``), red = FP (predicted, not labelled),
    blue = FN (labelled, missed). IoU = TP / (TP + FP + FN), precision = TP / (TP + FP),
    recall (PA) = TP / (TP + FN); the counts are printed in the title.
    """
    gt, pred = np.asarray(gt), np.asarray(pred)
    if gt.shape != pred.shape:
        raise ValueError(f"gt {gt.shape} and pred {pred.shape} must have the same (H, W) shape.")
    valid = gt != ignore_index
    tp = (gt == cls) & (pred == cls) & valid
    fp = (gt != cls) & (pred == cls) & valid
    fn = (gt == cls) & (pred != cls) & valid
    base = np.full(gt.shape + (3,), 235, np.uint8) if image is None else np.asarray(image).astype(np.uint8).copy()
    if image is not None:
        base = (0.5 * base + 0.5 * 235).astype(np.uint8)
    for m, color in ((tp, (0, 158, 115)), (fp, (213, 94, 0)), (fn, (0, 114, 178))):
        base[m] = color
    n_tp, n_fp, n_fn = int(tp.sum()), int(fp.sum()), int(fn.sum())
    iou = n_tp / max(n_tp + n_fp + n_fn, 1)
    plt = _plt()
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.imshow(base)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    ax.set_title(f"{class_name or f'class {cls}'}: TP {n_tp}, FP {n_fp}, FN {n_fn}, IoU {100 * iou:.1f}%", fontsize=9)
    ax.legend(handles=[Patch(color=np.array(c) / 255, label=t) for c, t in
                       (((0, 158, 115), "TP"), ((213, 94, 0), "FP"), ((0, 114, 178), "FN"))],
              loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=3)
    fig.tight_layout()
    return fig


_GREEN, _BLUE, _VERMILLION, _PURPLE = (0, 158, 115), (0, 114, 178), (213, 94, 0), (204, 121, 167)


def _canvas(shape: tuple[int, ...], image: np.ndarray | None) -> np.ndarray:
    """A light grey canvas, or the image faded towards it."""
    if image is None:
        return np.full(tuple(shape) + (3,), 235, np.uint8)
    return (0.5 * np.asarray(image).astype(np.float64) + 0.5 * 235).astype(np.uint8)


def _legend_axes(ax, items: Sequence[tuple[tuple[int, int, int], str]], title: str) -> None:
    from matplotlib.patches import Patch

    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    ax.set_title(title, fontsize=9)
    ax.legend(handles=[Patch(color=np.array(c) / 255, label=t) for c, t in items], loc="upper center",
              bbox_to_anchor=(0.5, -0.02), ncol=len(items), fontsize=8)


def plot_boundary_bands(gt: np.ndarray, pred: np.ndarray, cls: int, image: np.ndarray | None = None,
                        class_name: str | None = None, dilation_ratio: float = 0.02, ignore_index: int = 255):
    """The inner boundary bands of one class that its boundary IoU compares (``docs/metrics.md``).

    Green: in both bands; blue: only in the ground truth's; vermillion: only in the prediction's.
    The title gives the band width ``d`` and the class's boundary IoU next to its (mask) IoU.
    """
    from segkit.metrics.boundary import boundary_band, boundary_dilation

    gt, pred = np.asarray(gt), np.asarray(pred)
    if gt.shape != pred.shape or gt.ndim != 2:
        raise ValueError(f"gt {gt.shape} and pred {pred.shape} must have the same (H, W) shape.")
    valid = gt != ignore_index
    d = boundary_dilation(gt.shape, dilation_ratio)
    g, p = (gt == cls) & valid, pred == cls
    g_band = boundary_band(g.astype(np.uint8), d) & g & valid
    p_band = boundary_band(p.astype(np.uint8), d) & p & valid
    both = g_band & p_band
    base = _canvas(gt.shape, image)
    for m, color in ((g_band & ~p_band, _BLUE), (p_band & ~g_band, _VERMILLION), (both, _GREEN)):
        base[m] = color
    union = int((g_band | p_band).sum())
    biou = both.sum() / union if union else float("nan")
    miou = (g & p & valid).sum() / max(int(((g | p) & valid).sum()), 1)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.2, 4.4))
    ax.imshow(base)
    _legend_axes(ax, ((_GREEN, "both bands"), (_BLUE, "ground truth only"), (_VERMILLION, "prediction only")),
                 f"{class_name or f'class {cls}'}: bands of d = {d} px\n"
                 f"boundary IoU {100 * biou:.1f}% (mask IoU {100 * miou:.1f}%)")
    fig.tight_layout()
    return fig


def plot_objects(gt: np.ndarray, pred: np.ndarray, cls: int, image: np.ndarray | None = None,
                 class_name: str | None = None, size_bins: Sequence[float] = (0.001, 0.01),
                 found_fraction: float = 0.5, ignore_index: int = 255):
    """The objects of one class coloured found (green) or missed (vermillion), the predicted
    components that overlap no object (purple) and the prediction's outline (black): what the
    object-level metrics count.

    Each object is labelled with its size bin (S, M, L) and its object IoU; the title gives the
    counts (``docs/metrics.md``).
    """
    from segkit.metrics.objects import SIZE_NAMES, class_objects

    gt, pred = np.asarray(gt), np.asarray(pred)
    if gt.shape != pred.shape or gt.ndim != 2:
        raise ValueError(f"gt {gt.shape} and pred {pred.shape} must have the same (H, W) shape.")
    k = int(max(cls, int(pred.max(initial=0)), int(gt[gt != ignore_index].max(initial=0)))) + 1
    obj = class_objects(pred, gt, cls, k, size_bins, found_fraction, ignore_index, strict=False)
    base = _canvas(gt.shape, image)
    base[obj.fp_mask] = _PURPLE
    on = obj.labels > 0
    found = np.r_[False, obj.found][obj.labels]
    base[on & found] = _GREEN
    base[on & ~found] = _VERMILLION
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.2, 4.4))
    ax.imshow(base)
    if (pred == cls).any():
        ax.contour(pred == cls, levels=[0.5], colors="black", linewidths=0.7)
    for i in range(len(obj.size)):
        ys, xs = np.nonzero(obj.labels == i + 1)
        ax.annotate(f"{SIZE_NAMES[obj.size_bin[i]][0].upper()} {obj.iou[i]:.2f}", (xs.mean(), ys.min()),
                    xytext=(0, 3), textcoords="offset points", ha="center", va="bottom", fontsize=7)
    per_bin = ", ".join(f"{name} {int((obj.found & (obj.size_bin == j)).sum())}/{int((obj.size_bin == j).sum())}"
                        for j, name in enumerate(SIZE_NAMES) if (obj.size_bin == j).any())
    _legend_axes(ax, ((_GREEN, "found"), (_VERMILLION, "missed"), (_PURPLE, "false positive")),
                 f"{class_name or f'class {cls}'}: found {int(obj.found.sum())} of {len(obj.size)} objects"
                 f"{f' ({per_bin})' if per_bin else ''}\n{obj.fp_components} false-positive component(s)")
    fig.tight_layout()
    return fig


# Where a name may go around its marker: right, left, above, below, then the diagonals.
def plot_scatter(df: pd.DataFrame, x: str, y: str, name_col: str, size_col: str | None = None,
                 xlabel: str | None = None, ylabel: str | None = None, logx: bool = False, title: str | None = None,
                 group_col: str | None = None, max_labels: int = 14):
    """Labelled scatter (e.g. GFLOPs against latency for the model zoo); marker area from ``size_col``.

    With ``group_col`` each group (e.g. model family) gets its own colour and a legend
    entry. At most ``max_labels`` points are named, the extremes of ``y`` first (slowest,
    fastest, next slowest ...); a name that would overlap one already drawn (or the legend)
    is left out, so the labels stay readable.
    """
    for c in (x, y, name_col) + tuple(c for c in (size_col, group_col) if c):
        if c not in df.columns:
            raise ValueError(f"df lacks column {c!r}; it has {list(df.columns)}.")
    d = df.dropna(subset=[x, y]).reset_index(drop=True)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.2, 4.8))
    if size_col:
        s = d[size_col].astype(float).to_numpy()
        sizes = 30 + 600 * np.nan_to_num(s / max(np.nanmax(s), 1e-9))
    else:
        sizes = np.full(len(d), 50.0)
    groups = list(dict.fromkeys(d[group_col])) if group_col else [None]
    colors = PALETTE if len(groups) <= len(PALETTE) else [plt.get_cmap("tab20")(i % 20) for i in range(len(groups))]
    for gi, g in enumerate(groups):
        m = (d[group_col] == g).to_numpy() if group_col else np.ones(len(d), bool)
        ax.scatter(d.loc[m, x], d.loc[m, y], s=sizes[m], alpha=0.6, color=colors[gi % len(colors)],
                   edgecolor="black", linewidth=0.5, zorder=3, label=None if g is None else str(g))
    order = list(d[y].astype(float).sort_values().index)  # extremes first: slowest, fastest, next slowest ...
    named = [order[-1 - j // 2] if j % 2 == 0 else order[j // 2] for j in range(len(order))][:max_labels]
    if group_col:
        leg = ax.legend(fontsize=7, ncol=2, loc="upper left")
        for h in leg.legend_handles:
            h.set_sizes([30])
    if logx:
        ax.set_xscale("log")
    annotate_without_overlap(ax, [(str(d.loc[i, name_col]), d.loc[i, x], d.loc[i, y]) for i in named],
                              sizes=[sizes[i] for i in named])
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
