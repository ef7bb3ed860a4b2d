"""The "not learned" rule: a class whose IoU stays under 5 % has not been learned.

A model that predicts (almost) nothing of a class can still post a respectable mIoU (the
background class alone gives 1/K of it), and two such models differ only by noise. Every
place that compares or reports models uses this one rule: the report marks such a model in
its tables and never ranks it in a paragraph, and ``segkit evaluate`` warns about it.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

__all__ = ["NOT_LEARNED_IOU", "not_learned", "is_background", "learning_lines", "images_per_class"]

NOT_LEARNED_IOU = 0.05  # IoU (a fraction) under which a class counts as not learned

# the names a dataset gives its background (class 0 of a defect set; CamVid's class 0 is "sky", a class)
_BACKGROUND_NAMES = {"background", "_background_", "__background__", "bg", "void_background", "unlabeled", "void"}


def not_learned(iou: Mapping[str, float], threshold: float = NOT_LEARNED_IOU) -> list[str]:
    """The classes of `iou` (class name -> IoU as a fraction) under `threshold`, in order.

    A NaN IoU (the class is absent from the scored images and never predicted) says nothing
    about learning and is skipped.
    """
    return [name for name, v in iou.items() if v is not None and math.isfinite(float(v)) and float(v) < threshold]


def is_background(name: str) -> bool:
    """Whether a class name is the background class (its IoU is shown apart from the defects')."""
    return str(name).strip().lower() in _BACKGROUND_NAMES


def images_per_class(per_image: Sequence[Any]) -> Any:
    """How many scored images hold each class, from their per-image confusion matrices (rows =
    ground truth); None when there are none."""
    import numpy as np

    return (np.stack(per_image).sum(axis=2) > 0).sum(axis=0) if len(per_image) else None


def learning_lines(metrics: Any, images_per_class: Sequence[int] | None = None) -> list[str]:
    """What a reader of an mIoU needs beside it: the mean over the non-background classes, how
    many scored images hold each class, and a warning naming the classes not learned.

    Args:
        metrics: a :class:`segkit.metrics.SegMetrics` (``class_names``, ``iou``, ``hist``).
        images_per_class: scored images holding each class (None: not printed).
    """
    names = list(metrics.class_names)
    fg = [i for i, n in enumerate(names) if not is_background(n)] or list(range(1, len(names)))
    fg_iou = [float(metrics.iou[i]) for i in fg if math.isfinite(float(metrics.iou[i]))]
    lines = []
    if fg_iou:
        lines.append(f"mean IoU of the {len(fg_iou)} non-background classes: {100 * sum(fg_iou) / len(fg_iou):.2f} % "
                     f"(mIoU {100 * float(metrics.miou):.2f} % counts the background too)")
    if images_per_class is not None:
        lines.append("scored images holding each class: "
                     + ", ".join(f"{n} {int(c)}" for n, c in zip(names, images_per_class)))
    missed = not_learned({names[i]: float(metrics.iou[i]) for i in fg})
    if missed:
        predicted = metrics.hist.sum(axis=0)
        why = [f"{n} (no pixel predicted)" if predicted[names.index(n)] == 0
               else f"{n} (IoU {100 * float(metrics.iou[names.index(n)]):.1f} %)" for n in missed]
        lines.append(f"warning: not learned (IoU under {100 * NOT_LEARNED_IOU:g} %): {', '.join(why)}; the mIoU says "
                     "nothing about finding them")
    return lines
