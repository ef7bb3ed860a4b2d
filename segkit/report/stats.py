"""Statistics for comparing trained models: seeds, paired intervals, a paired bootstrap.

A difference between two models (a variant and the baseline) gets two 95 % intervals:

- **over seeds**: the models are trained with the same seeds, the per-seed differences of
  the metric are paired, and a Student-t interval is put on their mean (this captures
  training noise; it needs at least two seeds);
- **over test images**: a paired bootstrap. Test images are resampled with replacement,
  the same resample for both models and every seed; each replicate recomputes the metric
  from the summed per-image confusion matrices (``per_image_cm.npz``), averaged over seeds
  (this captures which images happened to be in the test split). The boundary IoU and the
  small-object detection rate are resampled the same way, from each image's band counts and
  object counts stored beside the matrices (:data:`EXTRA_METRICS`).

A difference is *supported* only when both intervals exclude zero on the side of the
difference; text writers claim a gain or a loss only then (see ``segkit.report.text``).
Efron & Tibshirani, "An Introduction to the Bootstrap" (1993) describe the percentile
bootstrap used here.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

__all__ = ["Interval", "Difference", "mean_std", "seed_interval", "bootstrap_interval", "metric_from_hist",
           "metric_from_counts", "compare", "EXTRA_METRICS"]

Metric = Literal["miou", "mpa", "f1", "accuracy", "boundary_miou", "boundary_miou_fg", "small_detection"]

# metrics from per-image counts other than the confusion matrix -> the per_image_cm.npz array they need
EXTRA_METRICS = {"boundary_miou": "boundary", "boundary_miou_fg": "boundary", "small_detection": "objects"}


@dataclass(frozen=True)
class Interval:
    """A two-sided confidence interval ``[lo, hi]`` (in the metric's unit)."""

    lo: float
    hi: float

    def excludes_zero(self) -> bool:
        return bool(self.lo > 0 or self.hi < 0)

    def format(self, digits: int = 2) -> str:
        return f"[{self.lo:+.{digits}f}, {self.hi:+.{digits}f}]"


@dataclass(frozen=True)
class Difference:
    """``variant - baseline`` of one metric, with its intervals.

    Attributes:
        name, baseline: display names.
        metric: "miou", "f1", ...; values in percent points.
        delta: mean over seeds of the paired differences.
        seeds: t interval over the paired seeds (None with fewer than two seeds).
        images: paired-bootstrap interval over test images (None without per-image matrices).
        n_seeds, n_images: the sample sizes behind the intervals.
        variant_not_learned, baseline_not_learned: classes each model has not learned
            (:func:`segkit.metrics.not_learned`); a difference involving such a model is no evidence.
    """

    name: str
    baseline: str
    metric: str
    delta: float
    seeds: Interval | None
    images: Interval | None
    n_seeds: int
    n_images: int
    variant_not_learned: tuple[str, ...] = ()
    baseline_not_learned: tuple[str, ...] = ()

    @property
    def comparable(self) -> bool:
        """Both models learned every class: only then is their difference about the models."""
        return not (self.variant_not_learned or self.baseline_not_learned)

    @property
    def supported(self) -> bool:
        """Comparable models, two or more seeds, and both intervals exist and exclude zero on the
        side of ``delta``."""
        if not self.comparable or self.n_seeds < 2 or self.seeds is None or self.images is None or not math.isfinite(self.delta) or self.delta == 0:
            return False
        same_side = all((iv.lo > 0) if self.delta > 0 else (iv.hi < 0) for iv in (self.seeds, self.images))
        return bool(same_side)


def mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (ddof=1; NaN for one value) and count of the finite values."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(float(x))], dtype=float)
    if v.size == 0:
        return math.nan, math.nan, 0
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else math.nan, int(v.size)


def seed_interval(differences: Sequence[float], level: float = 0.95) -> Interval | None:
    """Student-t interval of the mean of paired per-seed differences (None for fewer than 2)."""
    from scipy import stats

    d = np.asarray(differences, dtype=float)
    if d.size < 2:
        return None
    half = stats.t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
    return Interval(float(d.mean() - half), float(d.mean() + half))


def metric_from_hist(hist: np.ndarray, metric: Metric = "miou", absent: str = "nan") -> np.ndarray:
    """A metric (in percent) of confusion matrices ``(..., K, K)``, rows = ground truth.

    Follows ``segkit.metrics.metrics_from_hist``: ``absent="nan"`` skips classes absent from
    both ground truth and prediction, ``"zero"`` counts them as 0. ``f1`` is the paper's F1
    (harmonic mean of mean precision and mean recall).
    """
    h = np.asarray(hist, dtype=np.float64)
    tp = np.diagonal(h, axis1=-2, axis2=-1)
    gt, pr = h.sum(-1), h.sum(-2)
    if metric == "accuracy":
        total = h.sum((-2, -1))
        acc = 100.0 * tp.sum(-1) / np.where(total > 0, total, 1.0)
        return np.where(total > 0, acc, np.nan if absent == "nan" else 0.0)
    absent_mask = (gt + pr) == 0

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            out = num / np.where(den > 0, den, 1.0)
        return np.where(absent_mask, np.nan if absent == "nan" else 0.0, np.where(den > 0, out, 0.0))

    def mean(x: np.ndarray) -> np.ndarray:
        if absent != "nan":
            return x.mean(-1)
        with warnings.catch_warnings():  # all classes absent: NaN, as metrics_from_hist gives
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(x, axis=-1)

    if metric == "miou":
        return 100.0 * mean(ratio(tp, gt + pr - tp))
    if str(metric).startswith("iou@"):  # one class's IoU: "iou@2" is class 2's
        return 100.0 * ratio(tp, gt + pr - tp)[..., int(str(metric)[4:])]
    recall, precision = ratio(tp, gt), ratio(tp, pr)
    if metric == "mpa":
        return 100.0 * mean(recall)
    if metric == "f1":
        p, r = mean(precision), mean(recall)
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1.0), 0.0)
        return 100.0 * np.where(np.isnan(p) | np.isnan(r), np.nan, f1)
    raise ValueError(f"metric={metric!r}; use 'miou', 'mpa', 'f1' or 'accuracy'")


def metric_from_counts(counts: np.ndarray, metric: Metric) -> np.ndarray:
    """A metric of :data:`EXTRA_METRICS` (in percent) from summed per-image counts.

    - ``boundary_miou`` / ``boundary_miou_fg``: counts ``(..., 2, K)`` (band intersections,
      unions; ``ExtraMetrics.per_image_arrays()["boundary"]``): the mean per-class boundary IoU
      over all classes / over the classes but class 0, classes with an empty union skipped.
    - ``small_detection``: counts ``(..., K, 3, 2)`` (objects, found per size bin; the
      ``"objects"`` array): found / objects of the small bin, pooled over the classes (the
      background has no objects). NaN without a small object.
    """
    c = np.asarray(counts, dtype=np.float64)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN mean is NaN, as BoundaryResult gives
        if metric in ("boundary_miou", "boundary_miou_fg"):
            inter, union = c[..., 0, :], c[..., 1, :]
            iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), np.nan)
            return 100.0 * np.nanmean(iou if metric == "boundary_miou" else iou[..., 1:], axis=-1)
        if metric == "small_detection":
            objects, found = c[..., 0, 0].sum(-1), c[..., 0, 1].sum(-1)
            return 100.0 * np.where(objects > 0, found / np.where(objects > 0, objects, 1.0), np.nan)
    raise ValueError(f"metric={metric!r}; use one of {sorted(EXTRA_METRICS)}")


def bootstrap_interval(cms_variant: np.ndarray, cms_baseline: np.ndarray, metric: Metric = "miou",
                       absent: str = "nan", n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> Interval:
    """Paired percentile-bootstrap interval of ``metric(variant) - metric(baseline)`` over images.

    Args:
        cms_variant, cms_baseline: per-image confusion matrices ``(S, N, K, K)``: S seeds
            (paired by position), N test images in the same order for both; for a metric of
            :data:`EXTRA_METRICS`, the per-image counts it needs, ``(S, N, ...)``.
        metric, absent: see :func:`metric_from_hist` and :func:`metric_from_counts`.
        n_boot: bootstrap replicates; `seed` makes them reproducible.

    Raises:
        ValueError: the two stacks differ in shape or hold no image.
    """
    a, b = np.asarray(cms_variant, dtype=np.float64), np.asarray(cms_baseline, dtype=np.float64)
    ndim_ok = a.ndim >= 3 if metric in EXTRA_METRICS else a.ndim == 4
    if a.shape != b.shape or not ndim_ok or a.shape[1] == 0:
        raise ValueError(f"per-image matrices must both be (seeds, images, K, K) with images > 0; "
                         f"got {a.shape} and {b.shape} (were both scored on the same test split?)")
    n = a.shape[1]
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)  # (B, N) resample weights
    diffs = np.empty(n_boot)
    for start in range(0, n_boot, 250):  # (b, S, K, K) at a time keeps memory small for many classes
        w = counts[start:start + 250]
        ha, hb = np.einsum("bn,sn...->bs...", w, a), np.einsum("bn,sn...->bs...", w, b)
        if metric in EXTRA_METRICS:
            da = metric_from_counts(ha, metric) - metric_from_counts(hb, metric)  # (b, S)
        else:
            da = metric_from_hist(ha, metric, absent) - metric_from_hist(hb, metric, absent)  # (b, S)
        with warnings.catch_warnings():  # a replicate without small objects in any seed: NaN, dropped below
            warnings.simplefilter("ignore", RuntimeWarning)
            diffs[start:start + 250] = np.nanmean(da, axis=1)
    with warnings.catch_warnings():  # no replicate with a value (no small object in the test split): NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanpercentile(diffs, [50 * (1 - level), 50 * (1 + level)])
    return Interval(float(lo), float(hi))


def compare(name: str, baseline: str, variant_values: Sequence[float], baseline_values: Sequence[float],
            cms_variant: np.ndarray | None = None, cms_baseline: np.ndarray | None = None,
            metric: Metric = "miou", absent: str = "nan", level: float = 0.95) -> Difference:
    """A :class:`Difference` from per-seed metric values (paired by position) and per-image matrices."""
    if len(variant_values) != len(baseline_values):
        raise ValueError(f"{name!r} has {len(variant_values)} seeds and the baseline {baseline!r} "
                         f"{len(baseline_values)}; train both with the same seeds")
    d = np.asarray(variant_values, dtype=float) - np.asarray(baseline_values, dtype=float)
    images = None
    n_images = 0
    if cms_variant is not None and cms_baseline is not None:
        images = bootstrap_interval(cms_variant, cms_baseline, metric, absent, level=level)
        n_images = int(np.asarray(cms_variant).shape[1])
    return Difference(name=name, baseline=baseline, metric=metric, delta=float(d.mean()) if d.size else math.nan,
                      seeds=seed_interval(d, level), images=images, n_seeds=int(d.size), n_images=n_images)
