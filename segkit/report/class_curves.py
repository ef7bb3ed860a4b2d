"""Per-class IoU over training: when does each class, the rare ones above all, start to learn?"""
from __future__ import annotations

import pandas as pd

from segkit.report.style import class_colors, label

__all__ = ["plot_class_iou_curves"]


def plot_class_iou_curves(history: pd.DataFrame, title: str | None = None, lang: str | None = None,
                          palette=None):
    """One line per class: its validation IoU (%) at every evaluated epoch of a ``history.csv``.

    The trainer writes an ``iou_<class>`` column per class on the epochs it evaluates
    (every ``eval_period`` and the last); the other rows are skipped. ``palette``: the
    dataset's class colours (``segkit.data.mask_palette``); default VOC.

    Raises:
        ValueError: the history has no ``iou_<class>`` column or no evaluated epoch.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    cols = [c for c in (history.columns if history is not None else []) if c.startswith("iou_")]
    rows = history[cols].notna().any(axis=1) if cols else pd.Series(dtype=bool)
    if not cols or not rows.any():
        raise ValueError("the history has no evaluated per-class IoU (iou_<class> columns); train with eval_flag=True")
    h = history[rows]
    x = h["epoch"] if "epoch" in h.columns else pd.Series(range(1, len(h) + 1), index=h.index)
    colors = class_colors(len(cols), palette)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for c, rgb in zip(cols, colors):
        vals = pd.to_numeric(h[c], errors="coerce") * 100.0
        ax.plot(x, vals, marker="o", color=tuple(v / 255 for v in rgb), label=c[len("iou_"):])
    ax.set_xlabel(label("epoch", lang))
    ax.set_ylabel(label("iou", lang))
    ax.set_ylim(0, 100)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    if x.nunique() == 1:  # one evaluation: a margin of an epoch, or the axis shows ticks of 0.025 epochs
        ax.set_xlim(x.iloc[0] - 1, x.iloc[0] + 1)
    ax.legend(fontsize="small", ncol=2 if len(cols) > 6 else 1, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
