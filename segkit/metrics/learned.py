"""The "not learned" rule: a class whose IoU stays under 5 % has not been learned.

A model that predicts (almost) nothing of a class can still post a respectable mIoU (the
background class alone gives 1/K of it), and two such models differ only by noise. Every
place that compares or reports models uses this one rule: the report marks such a model in
its tables and never ranks it in a paragraph, and ``segkit evaluate`` warns about it.
"""
from __future__ import annotations

import math
from typing import Mapping

__all__ = ["NOT_LEARNED_IOU", "not_learned", "is_background"]

NOT_LEARNED_IOU = 0.05  # IoU (a fraction) under which a class counts as not learned

_BACKGROUND_NAMES = {"background", "_background_", "bg", "void_background"}


def not_learned(iou: Mapping[str, float], threshold: float = NOT_LEARNED_IOU) -> list[str]:
    """The classes of `iou` (class name -> IoU as a fraction) under `threshold`, in order.

    A NaN IoU (the class is absent from the scored images and never predicted) says nothing
    about learning and is skipped.
    """
    return [name for name, v in iou.items() if v is not None and math.isfinite(float(v)) and float(v) < threshold]


def is_background(name: str) -> bool:
    """Whether a class name is the background class (its IoU is shown apart from the defects')."""
    return str(name).strip().lower() in _BACKGROUND_NAMES
