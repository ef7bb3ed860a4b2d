"""Boundary IoU of semantic segmentation, per class (definitions in ``docs/metrics.md``).

Cheng, Girshick, Dollár, Berg and Kirillov, "Boundary IoU: Improving Object-Centric Image
Segmentation Evaluation", CVPR 2021, https://arxiv.org/abs/2103.16562.

For a class ``c`` in one image let ``G`` and ``P`` be its ground-truth and predicted masks,
and ``G_d``, ``P_d`` their inner bands: the pixels of the mask within ``d`` pixels of its
contour, that is the mask minus its erosion by a ``(2d+1) x (2d+1)`` square (the paper's code
erodes ``d`` times with a 3x3 kernel, which is the same). The image border counts as a
contour, as in the paper's code, which pads the mask with zeros before eroding. Then::

    BoundaryIoU_c = sum over images |G_d ∩ P_d| / sum over images |G_d ∪ P_d|

counted over scored pixels only (``ignore_index`` pixels are left out, as in the confusion
matrix), with ``d = max(1, round(dilation_ratio * image diagonal))`` (``dilation_ratio``
0.02 as in the paper). A class with an empty union in every image is NaN and the means skip it.

Deviation from the paper, which scores instance masks one by one: here every pixel of a
class in an image is one mask, and intersections and unions are summed over the images
before dividing, as the confusion matrix sums pixels; so large images weigh more, and an
image without the class adds nothing.

Speed: a pixel is in its class's band exactly when the square of radius ``d`` around it
holds another label or reaches past the image border, which is when the minimum and the
maximum label in that square differ. One OpenCV erosion and one dilation of the label map
(border value: a label no class has) therefore give the bands of every class at once, in
well under a millisecond for a 512x512 image (``benchmarks/bench_extra_metrics.py``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from segkit._utils import check_ignore_index, check_num_classes
from segkit.metrics._functional import _class_names, _nanmean, _pct
from segkit.metrics._maps import class_map, label_pairs

__all__ = ["DILATION_RATIO", "boundary_dilation", "boundary_band", "boundary_counts", "boundary_iou", "BoundaryIoU",
           "BoundaryResult"]

DILATION_RATIO = 0.02  # band width as a fraction of the image diagonal (the paper's default)


def boundary_dilation(shape: Sequence[int], dilation_ratio: float = DILATION_RATIO) -> int:
    """The band width ``d`` in pixels for an image of `shape` ``(..., H, W)``: at least 1."""
    if not (isinstance(dilation_ratio, (int, float)) and 0 <= dilation_ratio < 1):
        raise ValueError(f"dilation_ratio must be a number in [0, 1), got {dilation_ratio!r} (the paper uses 0.02)")
    h, w = shape[-2:]
    return max(1, int(round(dilation_ratio * math.hypot(h, w))))


def boundary_band(labels: np.ndarray, dilation: int) -> np.ndarray:
    """Bool ``(H, W)``: the pixels within `dilation` pixels (chessboard distance) of another label
    or of the image border; for every class ``c``, ``band & (labels == c)`` is c's inner band.

    `labels` is an ``(H, W)`` uint8 or uint16 map whose largest value is below the type's
    maximum (that value stands for the outside of the image).
    """
    import cv2

    if labels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"labels must be uint8 or uint16, got {labels.dtype}")
    outside = int(np.iinfo(labels.dtype).max)
    kernel = np.ones((2 * dilation + 1, 2 * dilation + 1), np.uint8)
    lo = cv2.erode(labels, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=outside)
    hi = cv2.dilate(labels, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=outside)
    return lo != hi


def boundary_counts(pred: Any, target: Any, num_classes: int, dilation_ratio: float = DILATION_RATIO,
                    ignore_index: int | None = 255, strict: bool = True) -> np.ndarray:
    """Per-class band intersections and unions of one image: int64 ``(2, K)``.

    Row 0 is ``|G_d ∩ P_d|``, row 1 is ``|G_d ∪ P_d|``, over the scored pixels (see the module
    docstring). `pred` is an ``(H, W)`` label map (or ``(K, H, W)`` logits), `target` ``(H, W)``.
    """
    pairs = label_pairs(pred, target, num_classes)
    if len(pairs) != 1:
        raise ValueError(f"boundary_counts scores one (H, W) image, got {len(pairs)}; use BoundaryIoU.update "
                         "for batches")
    p, t = pairs[0]
    return _counts(p, t, num_classes, boundary_dilation(t.shape, dilation_ratio), ignore_index, strict)


def _counts(p: np.ndarray, t: np.ndarray, k: int, d: int, ignore_index: int | None, strict: bool) -> np.ndarray:
    g, valid = class_map(t, k, ignore_index, strict)
    bg = boundary_band(g, d)
    bp = boundary_band(p.astype(g.dtype, copy=False), d)
    bg &= valid
    bp &= valid
    n_g = np.bincount(g[bg], minlength=k)[:k]
    n_p = np.bincount(p[bp], minlength=k)[:k]
    both = bg & bp
    both &= g == p
    inter = np.bincount(g[both], minlength=k)[:k]
    return np.stack([inter, n_g + n_p - inter]).astype(np.int64)


@dataclass(frozen=True)
class BoundaryResult:
    """Boundary IoU from summed band counts (values are fractions in [0, 1]).

    Attributes:
        class_names: One name per class.
        intersection, union: ``(K,)`` band pixels summed over the images.
        dilation_ratio: Band width as a fraction of the image diagonal.
        dilation_px: The smallest and largest band width ``d`` in pixels used (images of
            different sizes get different widths).
        num_images: Images scored.
    """

    class_names: list[str]
    intersection: np.ndarray
    union: np.ndarray
    dilation_ratio: float
    dilation_px: tuple[int, int]
    num_images: int

    @property
    def iou(self) -> np.ndarray:
        """Per-class boundary IoU ``(K,)``; NaN where the union is empty."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.union > 0, self.intersection / np.maximum(self.union, 1), np.nan)

    @property
    def miou(self) -> float:
        """Mean over the classes (background included, as mIoU), NaN classes skipped."""
        return _nanmean(self.iou)

    @property
    def miou_fg(self) -> float:
        """Mean over the classes but class 0 (the background): the defects' edges."""
        return _nanmean(self.iou[1:]) if len(self.class_names) > 1 else math.nan

    def as_dict(self) -> dict[str, Any]:
        """JSON-able (NaN becomes None)."""
        iou = self.iou
        return {
            "dilation_ratio": self.dilation_ratio,
            "dilation_px": list(self.dilation_px),
            "num_images": self.num_images,
            "miou": _clean(self.miou),
            "miou_fg": _clean(self.miou_fg),
            "per_class": {name: {"iou": _clean(iou[i]), "intersection": int(self.intersection[i]),
                                 "union": int(self.union[i])} for i, name in enumerate(self.class_names)},
        }

    def report_line(self) -> str:
        """One line: per-class boundary IoU in percent, the means and the band width."""
        lo, hi = self.dilation_px
        width = f"{lo} px" if lo == hi else f"{lo}-{hi} px"
        per = "; ".join(f"{n}-{_fmt(v)}" for n, v in zip(self.class_names, self.iou))
        return (f"===> Boundary IoU (band {width} = {self.dilation_ratio:g} x diagonal): {per}; "
                f"mean-{_fmt(self.miou)}; mean without {self.class_names[0]}-{_fmt(self.miou_fg)}")


class BoundaryIoU:
    """Accumulates per-class boundary-band intersections and unions over images.

    Args:
        num_classes: Number of classes K (background included).
        dilation_ratio: Band width as a fraction of the image diagonal (default 0.02).
        ignore_index: Target value whose pixels are not scored (default 255).
        class_names: One name per class for reports.
        strict: If True (default), target values outside ``[0, K)`` other than
            `ignore_index` raise; if False they are dropped as the evaluator does.

    Example:
        >>> b = BoundaryIoU(3, class_names=["background", "corrosion", "broken_wire"])
        >>> per_image = b.update(pred, masks)  # (B, 2, K) for the bootstrap
        >>> b.compute().iou
    """

    def __init__(self, num_classes: int, dilation_ratio: float = DILATION_RATIO, ignore_index: int | None = 255,
                 class_names: Sequence[str] | None = None, strict: bool = True) -> None:
        self.num_classes = check_num_classes(num_classes)
        self.ignore_index = check_ignore_index(ignore_index, self.num_classes)
        boundary_dilation((1, 1), dilation_ratio)  # validates the ratio
        self.dilation_ratio = float(dilation_ratio)
        self.class_names = _class_names(class_names, self.num_classes)
        self.strict = strict
        self.counts = np.zeros((2, self.num_classes), np.int64)
        self.num_images = 0
        self._widths: set[int] = set()

    def reset(self) -> "BoundaryIoU":
        self.counts[:] = 0
        self.num_images = 0
        self._widths.clear()
        return self

    def update(self, pred: Any, target: Any) -> np.ndarray:
        """Add images: `pred` label maps (or logits) and `target` labels, ``(H, W)``, ``(B, H, W)``
        or sequences of ``(H, W)`` arrays; returns each image's counts ``(B, 2, K)``."""
        k = self.num_classes
        out = []
        for p, t in label_pairs(pred, target, k):
            d = boundary_dilation(t.shape, self.dilation_ratio)
            self._widths.add(d)
            out.append(_counts(p, t, k, d, self.ignore_index, self.strict))
        per_image = np.stack(out) if out else np.zeros((0, 2, k), np.int64)
        self.counts += per_image.sum(0)
        self.num_images += len(out)
        return per_image

    def merge(self, other: "BoundaryIoU") -> "BoundaryIoU":
        """Add another accumulator's counts (same classes and ratio) into this one."""
        if other.num_classes != self.num_classes or other.dilation_ratio != self.dilation_ratio:
            raise ValueError(f"cannot merge boundary counts of {other.num_classes} classes at ratio "
                             f"{other.dilation_ratio} into {self.num_classes} classes at {self.dilation_ratio}")
        self.counts += other.counts
        self.num_images += other.num_images
        self._widths |= other._widths
        return self

    def compute(self) -> BoundaryResult:
        widths = sorted(self._widths) or [0]
        return BoundaryResult(list(self.class_names), self.counts[0].copy(), self.counts[1].copy(),
                              self.dilation_ratio, (widths[0], widths[-1]), self.num_images)


def boundary_iou(pred: Any, target: Any, num_classes: int, dilation_ratio: float = DILATION_RATIO,
                 ignore_index: int | None = 255, strict: bool = True) -> np.ndarray:
    """Per-class boundary IoU ``(K,)`` of one image, a batch or a sequence of images.

    Band intersections and unions are summed over the images before dividing, as the
    confusion matrix sums pixels (see the module docstring); NaN for a class whose bands
    are empty in every image.

    Args:
        pred: Label maps ``(H, W)`` / ``(B, H, W)`` (or logits with a class axis before H, W),
            or a sequence of ``(H, W)`` maps.
        target: Integer ground truth of the same shape(s).
        num_classes: K.
        dilation_ratio: Band width as a fraction of the image diagonal (at least 1 px).
        ignore_index: Target value left out of the counts.
        strict: Raise on target values outside ``[0, K)`` that are not `ignore_index`.

    Example:
        >>> m = np.zeros((64, 64), np.uint8); m[16:48, 16:48] = 1
        >>> boundary_iou(m, m, 2)
        array([1., 1.])
    """
    acc = BoundaryIoU(num_classes, dilation_ratio, ignore_index, strict=strict)
    acc.update(pred, target)
    return acc.compute().iou


def _clean(v: float) -> float | None:
    v = float(v)
    return None if math.isnan(v) else v


def _fmt(v: float) -> str:
    return "n/a" if math.isnan(float(v)) else str(_pct(v))
