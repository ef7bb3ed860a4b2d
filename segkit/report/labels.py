"""Point names on a scatter that keep clear of the markers, their error bars and each other."""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["annotate_without_overlap"]

_LABEL_SPOTS = ((1, 0, "left", "center"), (-1, 0, "right", "center"), (0, 1, "center", "bottom"),
                (0, -1, "center", "top"), (1, 1, "left", "bottom"), (1, -1, "left", "top"),
                (-1, 1, "right", "bottom"), (-1, -1, "right", "top"))


def annotate_without_overlap(ax, points: Sequence[tuple[str, float, float]], fontsize: float = 7,
                              drop: bool = True, sizes: Sequence[float] | None = None,
                              yerr: Sequence[float] | None = None) -> None:
    """Name points in the given order, each just outside its marker at the first spot that
    overlaps no marker, no error bar and no name already drawn (nor the legend). With no free
    spot the name is left out (``drop``) or put where it overlaps least.

    ``sizes`` are the markers' areas in points² (``scatter``'s ``s``); the names keep clear
    of every marker's disc, so a large bubble is never written over. ``yerr`` are the
    half-heights of vertical error bars, in data units. A name that is kept (not ``drop``) and
    set further out gets a thin leader line to its marker, so it cannot be read as a neighbour's.
    """
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    radii = [0.5 * float(np.sqrt(max(s, 0.0))) for s in (sizes if sizes is not None else [36.0] * len(points))]
    taken = _marker_boxes(ax, points, radii, yerr)  # (box, weight): crossing a thin error bar costs least

    def overlap(box) -> float:
        return sum(w * max(0.0, min(box.x1, t.x1) - max(box.x0, t.x0)) * max(0.0, min(box.y1, t.y1) - max(box.y0, t.y0))
                   for t, w in taken)

    for (text, px, py), r in zip(points, radii):
        tried = []
        # just outside the disc, then further out; a name that must stay gets a leader line there
        for gap in (r + 2.0, r + 8.0) if drop else (r + 2.0, r + 8.0, r + 18.0):
            leader = None if drop or gap == r + 2.0 else dict(arrowstyle="-", lw=0.5, color="0.35", shrinkA=0,
                                                                shrinkB=r)
            for dx, dy, ha, va in _LABEL_SPOTS:
                kw = dict(textcoords="offset points", xytext=(dx * gap, dy * gap), ha=ha, va=va, fontsize=fontsize,
                          arrowprops=leader)
                tried.append((overlap(_label_box(ax, renderer, text, (px, py), kw)), kw))
                if tried[-1][0] == 0:
                    break
            if tried[-1][0] == 0:
                break
        cost, kw = tried[-1] if tried[-1][0] == 0 else min(tried, key=lambda t: t[0])
        if cost and drop:
            continue
        taken.append((_text_box(ax.annotate(text, (px, py), **kw), renderer), 10.0))


def _marker_boxes(ax, points: Sequence[tuple[str, float, float]], radii: Sequence[float],
                  yerr: Sequence[float] | None) -> list:
    """(display box, weight) of what every label must avoid: the legend and each marker's disc (10),
    and each error bar (1)."""
    from matplotlib.transforms import Bbox

    renderer = ax.figure.canvas.get_renderer()
    px_per_pt = ax.figure.dpi / 72.0
    leg = ax.get_legend()
    taken = [(leg.get_window_extent(renderer), 10.0)] if leg is not None else []
    for i, ((_, px, py), r) in enumerate(zip(points, radii)):
        cx, cy = ax.transData.transform((px, py))
        rr = r * px_per_pt
        taken.append((Bbox.from_extents(cx - rr, cy - rr, cx + rr, cy + rr), 10.0))
        e = float(yerr[i]) if yerr is not None and np.isfinite(yerr[i]) else 0.0
        if e > 0:  # the bar and its caps (3 pt wide each side)
            _, lo = ax.transData.transform((px, py - e))
            _, hi = ax.transData.transform((px, py + e))
            taken.append((Bbox.from_extents(cx - 3 * px_per_pt, lo, cx + 3 * px_per_pt, hi), 1.0))
    return taken


def _text_box(a, renderer):
    """The display box of an annotation's text, its leader line aside."""
    from matplotlib.text import Text

    a.update_positions(renderer)
    return Text.get_window_extent(a, renderer)


def _label_box(ax, renderer, text: str, xy: tuple[float, float], kw: dict):
    """The display box a name would take, its leader line aside (drawn, measured, removed)."""
    a = ax.annotate(text, xy, **kw)
    box = _text_box(a, renderer)
    a.remove()
    return box
