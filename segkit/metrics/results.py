"""``SegMetrics``: every metric derived from one confusion matrix, and its reports."""
from __future__ import annotations

import math
import sys
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence, TextIO

import numpy as np
import torch

from segkit.metrics._functional import (Absent, _check_absent, _class_names, _nanmean, _pct, _per_class_f1, _ratio,
                                        f1_of_means)

if TYPE_CHECKING:
    import pandas as pd

    from segkit.metrics.boundary import BoundaryResult
    from segkit.metrics.objects import ObjectResult


@dataclass(frozen=True)
class SegMetrics:
    """Metrics derived from one confusion matrix (values are fractions in [0, 1]).

    Attributes:
        hist: ``(K, K)`` int64 confusion matrix, rows = ground truth.
        class_names: One name per class.
        iou: Per-class IoU, shape ``(K,)``.
        recall: Per-class recall (= PA), shape ``(K,)``. Alias: :attr:`pa`.
        precision: Per-class precision, shape ``(K,)``.
        f1_per_class: Per-class F1, shape ``(K,)``.
        miou: Mean IoU over all classes (background included).
        mpa: Mean recall (mean pixel accuracy per class).
        mprecision: Mean precision.
        accuracy: Overall pixel accuracy (trace / total): a different quantity from mpa.
        f1: The paper's F1, the F1 of the macro means (:func:`f1_of_means`).
        mean_f1: Mean of the per-class F1.
        mean_f1_fg: Mean of the per-class F1 without class 0 (background).
        absent: The absent-class policy used ("nan" or "zero").
        boundary: Boundary IoU (:mod:`segkit.metrics.boundary`) when the evaluation computed it.
        objects: Object-level metrics (:mod:`segkit.metrics.objects`) when the evaluation computed them.
    """

    hist: np.ndarray
    class_names: list[str]
    iou: np.ndarray
    recall: np.ndarray
    precision: np.ndarray
    f1_per_class: np.ndarray
    miou: float
    mpa: float
    mprecision: float
    accuracy: float
    f1: float
    mean_f1: float
    mean_f1_fg: float
    absent: str = "nan"
    absent_classes: list[str] = field(default_factory=list)
    boundary: "BoundaryResult | None" = None
    objects: "ObjectResult | None" = None

    @property
    def pa(self) -> np.ndarray:
        """Per-class pixel accuracy, identical to :attr:`recall`."""
        return self.recall

    @property
    def num_classes(self) -> int:
        return int(self.hist.shape[0])

    @property
    def support(self) -> np.ndarray:
        """Ground-truth pixels per class (row sums)."""
        return self.hist.sum(axis=1)

    def per_class_table(self, percent: bool = False) -> "pd.DataFrame":  # noqa: F821
        """One row per class: IoU, Recall (PA), Precision, F1, GT and predicted pixels.

        Args:
            percent: Give the scores as ``round(v * 100, 2)`` instead of fractions.
        """
        import pandas as pd

        cols = {"IoU": self.iou, "Recall (PA)": self.recall, "Precision": self.precision, "F1": self.f1_per_class}
        if percent:
            cols = {k: np.round(v * 100, 2) for k, v in cols.items()}
        df = pd.DataFrame(cols, index=pd.Index(self.class_names, name="class"))
        df["GT pixels"] = self.hist.sum(axis=1)
        df["Pred pixels"] = self.hist.sum(axis=0)
        return df

    def confusion_table(self) -> "pd.DataFrame":  # noqa: F821
        """The confusion matrix as a DataFrame (index = ground truth, columns = prediction)."""
        import pandas as pd

        return pd.DataFrame(
            self.hist,
            index=pd.Index(self.class_names, name="ground truth"),
            columns=pd.Index(self.class_names, name="prediction"),
        )

    def summary(self) -> dict[str, float]:
        """The scalar metrics as fractions."""
        return {
            "miou": self.miou,
            "mpa": self.mpa,
            "mprecision": self.mprecision,
            "accuracy": self.accuracy,
            "f1": self.f1,
            "mean_f1": self.mean_f1,
            "mean_f1_fg": self.mean_f1_fg,
        }

    def as_dict(self) -> dict[str, Any]:
        """JSON-able dict (NaN becomes None): scalars, per-class values and the matrix."""

        def clean(v: float) -> float | None:
            v = float(v)
            return None if math.isnan(v) else v

        per_class = {
            name: {
                "iou": clean(self.iou[i]),
                "recall": clean(self.recall[i]),
                "precision": clean(self.precision[i]),
                "f1": clean(self.f1_per_class[i]),
                "support": int(self.hist[i].sum()),
            }
            for i, name in enumerate(self.class_names)
        }
        out = {
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            **{k: clean(v) for k, v in self.summary().items()},
            "absent": self.absent,
            "absent_classes": list(self.absent_classes),
            "per_class": per_class,
            "confusion_matrix": self.hist.tolist(),
        }
        if self.boundary is not None:
            out["boundary"] = self.boundary.as_dict()
        if self.objects is not None:
            out["objects"] = self.objects.as_dict()
        return out

    def report_lines(self) -> list[str]:
        """The reference evaluator's lines, percentages round(v*100, 2); then one line each for the
        boundary IoU and the objects when the evaluation computed them."""
        lines = [
            f"===>{name}:\tIou-{_pct(self.iou[i])}; Recall (equal to the PA)-{_pct(self.recall[i])}; "
            f"Precision-{_pct(self.precision[i])}"
            for i, name in enumerate(self.class_names)
        ]
        lines.append(f"===> mIoU: {_pct(self.miou)}; mPA: {_pct(self.mpa)}; Accuracy: {_pct(self.accuracy)}")
        lines += [r.report_line() for r in (self.boundary, self.objects) if r is not None]
        return lines

    def progress_line(self, i: int, n: int) -> str:
        """The reference's every-10-images line: ``{i} / {n}: mIou-..%; mPA-..%; Accuracy-..%``."""
        return (
            f"{i} / {n}: mIou-{self.miou * 100:0.2f}%; mPA-{self.mpa * 100:0.2f}%; "
            f"Accuracy-{self.accuracy * 100:0.2f}%"
        )

    def report(self, table: bool = True, file: TextIO | None = None) -> "pd.DataFrame":  # noqa: F821
        """Print the reference lines, then (if ``table``) the per-class table in percent.

        Returns:
            The per-class DataFrame in percent (:meth:`per_class_table`).
        """
        out = file if file is not None else sys.stdout
        for line in self.report_lines():
            print(line, file=out)
        df = self.per_class_table(percent=True)
        if table:
            print(df.to_string(), file=out)
        return df


def metrics_from_hist(
    hist: np.ndarray | torch.Tensor,
    class_names: Sequence[str] | None = None,
    absent: Absent = "nan",
) -> SegMetrics:
    """Every metric of ``docs/metrics.md`` from a ``(K, K)`` confusion matrix (rows = GT).

    Args:
        hist: Confusion matrix of non-negative counts.
        class_names: One name per class (default ``class_0 ... class_{K-1}``).
        absent: ``"nan"`` (classes absent from GT and prediction are NaN and skipped by
            the means) or ``"zero"`` (reference: ``max(., 1)`` denominators, absent -> 0).

    Returns:
        A :class:`SegMetrics`.
    """
    _check_absent(absent)
    if isinstance(hist, torch.Tensor):
        hist = hist.detach().cpu().numpy()
    hist = np.asarray(hist)
    if hist.ndim != 2 or hist.shape[0] != hist.shape[1]:
        raise ValueError(f"hist must be a square (K, K) matrix, got shape {hist.shape}")
    if hist.size and hist.min() < 0:
        raise ValueError(f"hist must hold non-negative counts, got minimum {hist.min()}")
    hist = hist.astype(np.int64)
    k = hist.shape[0]
    names = _class_names(class_names, k)

    tp = np.diag(hist)
    gt = hist.sum(axis=1)  # TP + FN
    pr = hist.sum(axis=0)  # TP + FP
    absent_mask = (gt + pr) == 0
    iou = _ratio(tp, gt + pr - tp, absent_mask, absent)
    recall = _ratio(tp, gt, absent_mask, absent)
    precision = _ratio(tp, pr, absent_mask, absent)
    f1c = _per_class_f1(precision, recall)
    total = hist.sum()
    if total > 0:
        accuracy = float(tp.sum() / total)
    else:
        accuracy = math.nan if absent == "nan" else 0.0
    absent_names = [names[i] for i in np.flatnonzero(absent_mask)]
    if absent == "zero" and absent_names and total > 0:
        warnings.warn(
            f"classes {absent_names} are absent from ground truth and prediction; with absent='zero' "
            "(the reference) they score 0 and lower the means (use absent='nan' to skip them)",
            stacklevel=3,
        )
    return SegMetrics(
        hist=hist,
        class_names=names,
        iou=iou,
        recall=recall,
        precision=precision,
        f1_per_class=f1c,
        miou=_nanmean(iou),
        mpa=_nanmean(recall),
        mprecision=_nanmean(precision),
        accuracy=accuracy,
        f1=f1_of_means(precision, recall),
        mean_f1=_nanmean(f1c),
        mean_f1_fg=_nanmean(f1c[1:]) if k > 1 else math.nan,
        absent=absent,
        absent_classes=absent_names,
    )
