"""Drawing primitives of the block diagrams: boxes, operator circles, arrows and panels.

Everything is drawn with matplotlib patches in data units on an axis with equal aspect, so a
diagram is vector output (PDF/SVG) like every other segkit figure and needs no external
binary. One colour per role (Okabe-Ito hues, light fills) keeps the encoder, the inserted
modules, the fusion, the ASPP head and the decoder apart in print and for colour-blind readers.
"""
from __future__ import annotations

import warnings
from typing import Any, Literal, Sequence

__all__ = ["ROLE_COLORS", "Canvas", "resolve_lang", "pick"]

Lang = Literal["en", "zh"]

# role -> (fill, edge)
ROLE_COLORS: dict[str, tuple[str, str]] = {
    "input": ("#F0F0F0", "#555555"),
    "output": ("#F0F0F0", "#555555"),
    "stage": ("#DCEBF7", "#0072B2"),
    "mark": ("#FDEBD0", "#C77C00"),
    "fusion": ("#D8F0E8", "#009E73"),
    "aspp": ("#F5E1EE", "#AA4C8A"),
    "decoder": ("#FBE3D6", "#D55E00"),
    "attention": ("#FDEBD0", "#C77C00"),
    "plain": ("#FFFFFF", "#555555"),
    "op": ("#FFFFFF", "#333333"),
}


def resolve_lang(lang: str | None) -> tuple[Lang, dict[str, Any]]:
    """(language to draw in, text keyword arguments) for `lang` (None: the one of ``use_style``).

    Chinese needs a CJK font: without one the labels fall back to English with a warning, so a
    figure is always readable (install e.g. ``fonts-noto-cjk`` for Chinese labels).
    """
    from segkit.report.style import _state, find_cjk_font

    lang = lang or _state.get("lang", "en")
    if lang not in ("en", "zh"):
        raise ValueError(f"lang={lang!r}; use 'en' or 'zh'")
    if lang == "en":
        return "en", {}
    font = _state.get("font") or find_cjk_font()
    if font is None:
        warnings.warn("no CJK font found: the diagram's labels are drawn in English (install e.g. fonts-noto-cjk "
                      "and clear matplotlib's font cache for Chinese labels)", UserWarning, stacklevel=3)
        return "en", {}
    return "zh", {"fontfamily": [font, "DejaVu Sans"]}


def pick(text: str | dict[str, str], lang: Lang) -> str:
    """The `lang` version of a label given as ``{"en": ..., "zh": ...}`` (a plain string is both)."""
    if isinstance(text, dict):
        return text.get(lang) or text["en"]
    return text


class Canvas:
    """A figure whose axis is in diagram units (y grows downwards), sized to what is drawn.

    Args:
        lang: label language, "en" or "zh" (falls back to "en" without a CJK font).
        fontsize: base font size in points.
        scale: inches per diagram unit.
    """

    def __init__(self, lang: str | None = None, fontsize: float = 7.0, scale: float = 0.5) -> None:
        import matplotlib.pyplot as plt

        self.lang, self.font = resolve_lang(lang)
        self.fontsize, self.scale = fontsize, scale
        self.fig, self.ax = plt.subplots(figsize=(6, 4))
        self.ax.set_axis_off()
        self.ax.grid(False)
        self.texts: list[str] = []  # every label drawn (tests read them)
        self._extent = [float("inf"), float("inf"), float("-inf"), float("-inf")]

    # ------------------------------------------------------------------ helpers
    def _grow(self, x0: float, y0: float, x1: float, y1: float) -> None:
        e = self._extent
        e[0], e[1], e[2], e[3] = min(e[0], x0), min(e[1], y0), max(e[2], x1), max(e[3], y1)

    def text(self, x: float, y: float, text: str | dict[str, str], size: float | None = None, **kw: Any) -> None:
        """A label at (x, y) (centred unless `ha`/`va` say otherwise)."""
        s = pick(text, self.lang)
        self.texts.append(s)
        kw.setdefault("ha", "center")
        kw.setdefault("va", "center")
        self.ax.text(x, y, s, fontsize=size or self.fontsize, zorder=5, **self.font, **kw)

    def text_width(self, text: str, size: float | None = None) -> float:
        """An estimate of the width of one bold line in diagram units (about 0.62 em per character)."""
        return len(text) * 0.62 * (size or self.fontsize) / 72 / self.scale

    # ------------------------------------------------------------------ shapes
    def box(self, x: float, y: float, w: float, h: float, text: str | dict[str, str], role: str = "plain",
            size: float | None = None, dashed: bool = False, bold_first: bool = True) -> tuple[float, float, float, float]:
        """A rounded box with its top-left corner at (x, y); the first text line is bold.

        Returns:
            ``(x, y, w, h)`` for placing arrows.
        """
        from matplotlib.patches import FancyBboxPatch

        fill, edge = ROLE_COLORS.get(role, ROLE_COLORS["plain"])
        self.ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=0.08", facecolor=fill,
                                         edgecolor=edge, linewidth=1.0, linestyle="--" if dashed else "-", zorder=2))
        lines = pick(text, self.lang).split("\n")
        size = size or self.fontsize
        n = len(lines)
        for i, line in enumerate(lines):
            yy = y + h / 2 + (i - (n - 1) / 2) * size * 1.35 / 72 / self.scale
            self.texts.append(line)
            self.ax.text(x + w / 2, yy, line, ha="center", va="center", fontsize=size if i or not bold_first else size,
                         fontweight="bold" if (i == 0 and bold_first) else "normal", zorder=5, **self.font)
        self._grow(x, y, x + w, y + h)
        return x, y, w, h

    def op(self, x: float, y: float, symbol: str, r: float = 0.2, note: str | dict[str, str] | None = None,
           note_side: str = "right") -> tuple[float, float, float, float]:
        """An operator circle centred at (x, y): "C" concatenation, "+" sum, "×" product, "σ" sigmoid;
        `note` beside it ("right", "left", "above" or "below-right")."""
        from matplotlib.patches import Circle

        fill, edge = ROLE_COLORS["op"]
        self.ax.add_patch(Circle((x, y), r, facecolor=fill, edgecolor=edge, linewidth=1.0, zorder=3))
        self.texts.append(symbol)
        self.ax.text(x, y, symbol, ha="center", va="center", fontsize=self.fontsize * 1.1, zorder=5,
                     fontweight="bold")
        if note is not None:
            if note_side == "above":
                self.text(x, y - r - 0.06, note, size=self.fontsize * 0.85, va="bottom", color="#333333")
            elif note_side == "below-right":
                self.text(x + r * 0.8, y + r + 0.02, note, size=self.fontsize * 0.85, ha="left", va="top",
                          color="#333333")
            else:
                dx, ha = (r + 0.08, "left") if note_side == "right" else (-r - 0.08, "right")
                self.text(x + dx, y, note, size=self.fontsize * 0.85, ha=ha, color="#333333")
        self._grow(x - r, y - r, x + r, y + r)
        return x - r, y - r, 2 * r, 2 * r

    def panel(self, x: float, y: float, w: float, h: float, title: str | dict[str, str], role: str = "plain",
              title_side: str = "top") -> None:
        """A dashed frame grouping the boxes inside, titled above its top-left corner (or, with
        ``title_side="right"``, beside its top-right corner)."""
        from matplotlib.patches import FancyBboxPatch

        edge = ROLE_COLORS.get(role, ROLE_COLORS["plain"])[1]
        self.ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=0.12", facecolor="none",
                                         edgecolor=edge, linewidth=0.9, linestyle=(0, (4, 3)), zorder=1))
        if title_side == "right":
            self.text(x + w + 0.1, y + 0.05, title, size=self.fontsize, ha="left", va="top", color=edge,
                      fontweight="bold")
            self._grow(x, y, x + w + self.text_width(pick(title, self.lang)) + 0.1, y + h)
            return
        self.text(x + 0.08, y - 0.08, title, size=self.fontsize, ha="left", va="bottom", color=edge,
                  fontweight="bold")
        self._grow(x, y - 0.35, x + w, y + h)

    def arrow(self, points: Sequence[tuple[float, float]], dashed: bool = False, color: str = "#333333",
              head: bool = True, label: str | dict[str, str] | None = None, label_at: int = 0,
              label_offset: tuple[float, float] = (0.0, -0.12), lw: float = 1.0) -> None:
        """A polyline through `points` with an arrow head at the last point.

        `label` is written near the start of segment `label_at` (shifted by `label_offset`).
        """
        from matplotlib.patches import FancyArrowPatch

        pts = [(float(a), float(b)) for a, b in points]
        style = (0, (3, 2)) if dashed else "-"
        for (x0, y0), (x1, y1) in zip(pts[:-2], pts[1:-1]):
            self.ax.plot([x0, x1], [y0, y1], color=color, lw=lw, linestyle=style, zorder=1.5, solid_capstyle="butt")
        self.ax.add_patch(FancyArrowPatch(pts[-2], pts[-1], arrowstyle="-|>" if head else "-", mutation_scale=8,
                                          color=color, lw=lw, linestyle=style, zorder=1.5, shrinkA=0, shrinkB=0))
        for x, y in pts:
            self._grow(x, y, x, y)
        if label is not None:
            (x0, y0), (x1, y1) = pts[label_at], pts[label_at + 1]
            horizontal = abs(x1 - x0) >= abs(y1 - y0)
            lx = (x0 + x1) / 2 + label_offset[0] if horizontal else x0 + 0.1 + label_offset[0]
            ly = y0 + label_offset[1] if horizontal else (y0 + y1) / 2 + label_offset[1]
            self.text(lx, ly, label, size=self.fontsize * 0.85, ha="center" if horizontal else "left",
                      va="bottom" if horizontal else "center", color="#333333")

    # ------------------------------------------------------------------ finishing
    def finish(self, title: str | dict[str, str] | None = None, margin: float = 0.3):
        """Fit the axis to what was drawn, size the figure to it, and return the Figure."""
        x0, y0, x1, y1 = self._extent
        x0, y0, x1, y1 = x0 - margin, y0 - margin, x1 + margin, y1 + margin
        if title is not None:
            self.text((x0 + x1) / 2, y0, title, size=self.fontsize * 1.3, va="bottom", fontweight="bold")
            y0 -= 0.5
        self.ax.set_xlim(x0, x1)
        self.ax.set_ylim(y1, y0)  # y grows downwards
        self.ax.set_aspect("equal")
        self.fig.set_size_inches((x1 - x0) * self.scale, (y1 - y0) * self.scale)
        self.fig.subplots_adjust(0, 0, 1, 1)
        return self.fig
