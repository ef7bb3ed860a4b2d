"""Label maps for the per-image metrics (boundary IoU, objects): inputs as 2-D numpy arrays."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def label_pairs(pred: Any, target: Any, num_classes: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(pred (H, W), target (H, W)), ...]`` from one image, a batch or sequences of images.

    `pred` holds class indices shaped like `target`, or logits with one more axis (the class
    axis before H, W), which are arg-maxed. Images of a sequence may differ in size.

    Raises:
        ValueError: shapes that do not match, float labels, predictions outside ``[0, K)``.
    """
    if isinstance(target, (list, tuple)):
        if not isinstance(pred, (list, tuple)) or len(pred) != len(target):
            raise ValueError(f"pred and target must be sequences of the same length, got {type(pred).__name__} "
                             f"and {len(target)} targets")
        return [pair for p, t in zip(pred, target) for pair in label_pairs(p, t, num_classes)]
    p, t = _to_numpy(pred), _to_numpy(target)
    if t.dtype == bool:
        t = t.astype(np.uint8)
    if t.dtype.kind not in "iu":
        raise ValueError(f"target must hold integer class labels, got dtype {t.dtype}")
    if t.ndim not in (2, 3):
        raise ValueError(f"target must be (H, W) or (B, H, W), got shape {t.shape}")
    if p.ndim == t.ndim + 1:  # logits: (K, H, W) or (B, K, H, W)
        if p.shape[-3] != num_classes or p.shape[-2:] != t.shape[-2:]:
            raise ValueError(f"logits of shape {p.shape} do not match target {t.shape} with num_classes={num_classes}")
        p = p.argmax(axis=-3)
    if p.shape != t.shape:
        raise ValueError(f"pred shape {p.shape} does not match target shape {t.shape}; pass label maps "
                         f"shaped like the target or logits with a class axis of {num_classes}")
    if p.dtype == bool:
        p = p.astype(np.uint8)
    if p.dtype.kind not in "iu":
        raise ValueError(f"label-map predictions must be integers, got dtype {p.dtype}; pass logits with a "
                         f"class axis or pred.argmax(class axis)")
    if p.size and (int(p.min()) < 0 or int(p.max()) >= num_classes):
        bad = int(p.min()) if int(p.min()) < 0 else int(p.max())
        raise ValueError(f"pred holds class index {bad}, outside [0, {num_classes}) for num_classes={num_classes}")
    if t.ndim == 2:
        return [(p, t)]
    return list(zip(p, t))


def class_map(target: np.ndarray, num_classes: int, ignore_index: int | None = 255,
              strict: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, valid)``: the target with every value outside ``[0, K)`` (the ignore index
    and, unless `strict`, any other) set to K, in the smallest unsigned type, and the mask of
    scored pixels.

    Raises:
        ValueError: `strict` and a target value outside ``[0, K)`` that is not `ignore_index`.
    """
    valid = (target >= 0) & (target < num_classes)
    if strict and not valid.all():
        other = target[~valid]
        if ignore_index is not None:
            other = other[other != ignore_index]
        if other.size:
            values = np.unique(other)[:5].tolist()
            raise ValueError(f"target holds value(s) {values} outside [0, {num_classes}) for num_classes="
                             f"{num_classes} that are not ignore_index={ignore_index}; fix the masks, set "
                             "ignore_index, or pass strict=False to drop them as the evaluator does")
    dtype = np.uint8 if num_classes < 255 else np.uint16
    labels = np.where(valid, target, num_classes).astype(dtype, copy=False)
    return labels, valid


def check_classes(classes: Sequence[int] | None, num_classes: int) -> list[int]:
    """The class indices to score, each in ``[0, K)``."""
    out = list(range(num_classes)) if classes is None else [int(c) for c in classes]
    bad = [c for c in out if not 0 <= c < num_classes]
    if bad:
        raise ValueError(f"classes {bad} are outside [0, {num_classes}) for num_classes={num_classes}")
    return out
