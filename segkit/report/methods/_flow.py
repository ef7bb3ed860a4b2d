"""Small layout helpers shared by the module figures: a vertical chain of boxes, shapes as text."""
from __future__ import annotations

from typing import Any, Sequence

from segkit.report.methods._draw import Canvas

__all__ = ["vchain", "shape_text", "t"]


def t(en: str, zh: str | None = None) -> dict[str, str]:
    """A bilingual label."""
    return {"en": en, "zh": zh if zh is not None else en}


def shape_text(shape: Any) -> str:
    """``(1, 96, 32, 32)`` -> ``96×32×32`` (the batch dropped); other values as they are."""
    if isinstance(shape, tuple) and len(shape) >= 2 and all(isinstance(s, int) for s in shape):
        return "×".join(str(s) for s in shape[1:])
    return str(shape)


def vchain(cv: Canvas, x: float, y: float, w: float, items: Sequence[tuple[Any, str]], pitch: float = 0.85,
           h: float = 0.6, arrow_in: bool = False, bold: bool = True) -> list[tuple[float, float, float, float]]:
    """Boxes (label, role) top to bottom from (x, y), each joined to the next by an arrow.

    Returns:
        The boxes ``(x, y, w, h)`` in order.
    """
    boxes = []
    for i, (label, role) in enumerate(items):
        yy = y + i * pitch
        boxes.append(cv.box(x, yy, w, h, label, role, bold_first=bold))
        if i or arrow_in:
            cv.arrow([(x + w / 2, yy - (pitch - h)), (x + w / 2, yy)])
    return boxes
