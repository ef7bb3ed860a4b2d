"""Formulas shared by the metrics: NaN-aware means, ratios under the ``absent`` policy, F1s."""
from __future__ import annotations

import math
from typing import Literal, Sequence

import numpy as np

Absent = Literal["nan", "zero"]

def _pct(v: float) -> float:
    """Percentage as the reference prints it: round(v * 100, 2)."""
    return round(float(v) * 100, 2)


def _nanmean(x: np.ndarray) -> float:
    """Mean over the finite entries; NaN when there are none (no RuntimeWarning)."""
    x = np.asarray(x, dtype=np.float64)
    keep = ~np.isnan(x)
    return float(x[keep].mean()) if keep.any() else math.nan


def _check_absent(absent: str) -> None:
    if absent not in ("nan", "zero"):
        raise ValueError(f"absent must be 'nan' or 'zero', got {absent!r}")


def f1_of_means(precision: Sequence[float] | np.ndarray, recall: Sequence[float] | np.ndarray) -> float:
    """The paper's F1: harmonic mean of the macro-averaged precision and recall.

    ``F1 = 2 P R / (P + R)`` with ``P = nanmean(precision)`` and ``R = nanmean(recall)``,
    background included. Works on fractions or percentages alike (the result has the
    same scale as the input).

    Args:
        precision: Per-class precision.
        recall: Per-class recall (= PA).

    Returns:
        The F1 of the means (0 when both means are 0, NaN when a mean is NaN).

    Example:
        >>> round(f1_of_means([99.81, 64.43, 56.58], [99.62, 82.52, 67.73]), 2)
        78.15
    """
    p, r = np.asarray(precision, dtype=np.float64), np.asarray(recall, dtype=np.float64)
    if p.shape != r.shape:
        raise ValueError(f"precision and recall must have the same shape, got {p.shape} and {r.shape}")
    mp, mr = _nanmean(p), _nanmean(r)
    if math.isnan(mp) or math.isnan(mr):
        return math.nan
    return 0.0 if mp + mr == 0 else 2 * mp * mr / (mp + mr)


def mean_of_f1(precision: Sequence[float] | np.ndarray, recall: Sequence[float] | np.ndarray) -> float:
    """Mean of the per-class F1 ``2 P_c R_c / (P_c + R_c)`` (not the paper's F1).

    NaN entries are skipped; a class with ``P_c + R_c = 0`` has F1 0.
    """
    p, r = np.asarray(precision, dtype=np.float64), np.asarray(recall, dtype=np.float64)
    if p.shape != r.shape:
        raise ValueError(f"precision and recall must have the same shape, got {p.shape} and {r.shape}")
    return _nanmean(_per_class_f1(p, r))


def _per_class_f1(p: np.ndarray, r: np.ndarray) -> np.ndarray:
    s = p + r
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(s > 0, 2 * p * r / np.where(s > 0, s, 1), 0.0)
    return np.where(np.isnan(p) | np.isnan(r), np.nan, f1)


def _ratio(num: np.ndarray, den: np.ndarray, absent_mask: np.ndarray, absent: str) -> np.ndarray:
    """num / den with the ``absent`` policy (see module docstring)."""
    num, den = num.astype(np.float64), den.astype(np.float64)
    out = num / np.maximum(den, 1)  # den == 0 implies num == 0, so this gives 0 there
    if absent == "nan":
        out[absent_mask] = np.nan
    return out


def _class_names(class_names: Sequence[str] | None, k: int) -> list[str]:
    if class_names is None:
        return [f"class_{i}" for i in range(k)]
    names = [str(n) for n in class_names]
    if len(names) != k:
        raise ValueError(f"class_names has {len(names)} names but num_classes is {k}; give one name per class")
    return names

