"""Segmentation metrics from one confusion matrix (definitions in ``docs/metrics.md``).

Every metric comes from a single ``(K, K)`` matrix ``hist`` accumulated over the whole
evaluation set with one ``bincount`` per batch, never from per-image averages.
``hist[i, j]`` counts pixels whose ground truth is ``i`` and prediction is ``j``
(**rows = ground truth**, columns = prediction).

Per class ``c``: ``TP = hist[c, c]``, ``FN = row_sum - TP``, ``FP = col_sum - TP`` and

- IoU = TP / (TP + FP + FN);
- recall = PA = TP / (TP + FN) (printed as "Recall (equal to the PA)");
- precision = TP / (TP + FP);
- F1 = 2 P R / (P + R).

Aggregates: ``miou``, ``mpa`` (mean recall), ``mprecision`` (means over all classes,
background included), ``accuracy`` (overall pixel accuracy, trace / total, not mPA),
``f1`` (the paper's F1: harmonic mean of the macro-averaged precision and recall,
:func:`f1_of_means`), ``mean_f1`` (mean of the per-class F1, :func:`mean_of_f1`) and
``mean_f1_fg`` (the same without class 0, the background).

Beyond the confusion matrix, from each image's label maps: boundary IoU per class
(:func:`boundary_iou`, :class:`BoundaryIoU`; Cheng et al., CVPR 2021) and object-level
detection by object size with false-positive components (:func:`object_metrics`,
:class:`ObjectStats`); :class:`ExtraMetrics` accumulates both during evaluation.

Deviation switch, ``absent``:

- ``"nan"`` (default): a class absent from both ground truth and prediction scores NaN
  and the means skip it (``nanmean``). Any other zero denominator gives 0 (a class
  present in the ground truth but never predicted has precision 0), as scikit-learn's
  ``zero_division=0``.
- ``"zero"``: the reference implementation exactly: every denominator is ``max(., 1)``,
  so an absent class scores 0 and drags the means down (a warning names it).
"""
from __future__ import annotations

from segkit.metrics._functional import f1_of_means, mean_of_f1
from segkit.metrics.boundary import DILATION_RATIO, BoundaryIoU, BoundaryResult, boundary_iou
from segkit.metrics.confusion import ConfusionMatrix
from segkit.metrics.extra import ExtraMetrics
from segkit.metrics.learned import NOT_LEARNED_IOU, images_per_class, is_background, learning_lines, not_learned
from segkit.metrics.objects import FOUND_FRACTION, SIZE_BINS, ObjectResult, ObjectStats, object_metrics
from segkit.metrics.results import SegMetrics, metrics_from_hist

__all__ = [
    "ConfusionMatrix",
    "SegMetrics",
    "metrics_from_hist",
    "f1_of_means",
    "mean_of_f1",
    "NOT_LEARNED_IOU",
    "not_learned",
    "learning_lines",
    "images_per_class",
    "is_background",
    "boundary_iou",
    "BoundaryIoU",
    "BoundaryResult",
    "DILATION_RATIO",
    "object_metrics",
    "ObjectStats",
    "ObjectResult",
    "SIZE_BINS",
    "FOUND_FRACTION",
    "ExtraMetrics",
]
