"""Object-level metrics: is each ground-truth object found, how well, and how many false alarms
(definitions in ``docs/metrics.md``).

Pixel metrics let one large defect outweigh many small ones; these count objects instead.
Per image and per object class ``c`` (every class but the background, class 0, by default):

- **Objects** are the 8-connected components of the ground-truth mask of ``c`` (OpenCV's
  ``connectedComponentsWithStats``). Each is put in a size bin by its area as a fraction of
  the image area: *small* below ``size_bins[0]`` (0.1 %), *medium* below ``size_bins[1]``
  (1 %), *large* from there on. At 512x512 that is under 262 px (about 16x16), under
  2,621 px (about 51x51), and larger.
- An object is **found** when the prediction of ``c`` covers at least ``found_fraction``
  (half) of its pixels.
- Its **object IoU** is ``|O ∩ P| / |O ∪ Q|``, where ``P`` is the prediction of ``c`` and
  ``Q`` is every predicted component of ``c`` that overlaps the object ``O``: a prediction
  that spills over the object, or merges it with its neighbours, lowers its IoU; a missed
  object has IoU 0.
- A **false-positive component** is an 8-connected component of the prediction of ``c``
  that overlaps no ground-truth pixel of ``c``.

Pixels of ``ignore_index`` are never counted (in areas, overlaps and component sizes), but
objects are binned by their size relative to the whole image. Sums over images give the
detection rate (found / objects), the mean object IoU (sum of IoUs / objects) per class and
bin, and false-positive components per image. COCO's object-size bins (Lin et al.,
"Microsoft COCO: Common Objects in Context", ECCV 2014, https://arxiv.org/abs/1405.0312)
are absolute pixel areas; here they are relative, because evaluation runs at each image's
own resolution and datasets differ in size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Sequence

import numpy as np

from segkit._utils import check_ignore_index, check_num_classes
from segkit.metrics._functional import _class_names, _pct
from segkit.metrics._maps import class_map, label_pairs

__all__ = ["SIZE_BINS", "SIZE_NAMES", "FOUND_FRACTION", "object_counts", "object_metrics", "class_objects",
           "ObjectStats", "ObjectResult", "ObjectCounts", "ClassObjects"]

SIZE_BINS = (0.001, 0.01)  # object area / image area: small < 0.1 %, medium < 1 %, large the rest
SIZE_NAMES = ("small", "medium", "large")
FOUND_FRACTION = 0.5  # an object is found when the prediction covers at least this share of its pixels
CONNECTIVITY = 8
FOUND_RULE = "found when the prediction of its class covers at least {:g} of its pixels"
IOU_RULE = "|object ∩ prediction| / |object ∪ predicted components of its class that overlap it|"


@dataclass
class ObjectCounts:
    """Object counts of one image or summed over images (K classes, 3 size bins).

    Attributes:
        objects: ``(K, 3)`` ground-truth objects per class and size bin.
        found: ``(K, 3)`` of them found.
        iou_sum: ``(K, 3)`` sum of their object IoUs.
        fp_components: ``(K,)`` predicted components that overlap no ground truth of their class.
    """

    objects: np.ndarray
    found: np.ndarray
    iou_sum: np.ndarray
    fp_components: np.ndarray

    @classmethod
    def zeros(cls, k: int) -> "ObjectCounts":
        return cls(np.zeros((k, 3), np.int64), np.zeros((k, 3), np.int64), np.zeros((k, 3)), np.zeros(k, np.int64))

    def __iadd__(self, other: "ObjectCounts") -> "ObjectCounts":
        self.objects += other.objects
        self.found += other.found
        self.iou_sum += other.iou_sum
        self.fp_components += other.fp_components
        return self


def _check_bins(size_bins: Sequence[float], found_fraction: float) -> tuple[float, float]:
    bins = tuple(float(b) for b in size_bins)
    if len(bins) != 2 or not 0 < bins[0] < bins[1] <= 1:
        raise ValueError(f"size_bins must be two area fractions 0 < small < medium <= 1, got {size_bins!r} "
                         f"(default {SIZE_BINS})")
    if not 0 < found_fraction <= 1:
        raise ValueError(f"found_fraction must be in (0, 1], got {found_fraction!r} (default {FOUND_FRACTION})")
    return bins  # type: ignore[return-value]


def _components(mask: np.ndarray, stats: bool = True) -> tuple[int, np.ndarray, np.ndarray | None]:
    """(count including label 0, labels int32 (H, W), areas (count,) or None) of the 8-connected components."""
    import cv2

    if not stats:
        n, labels = cv2.connectedComponents(mask.view(np.uint8), connectivity=CONNECTIVITY, ltype=cv2.CV_32S)
        return n, labels, None
    n, labels, st, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=CONNECTIVITY,
                                                        ltype=cv2.CV_32S)
    return n, labels, st[:, cv2.CC_STAT_AREA]


def _bounds(mask: np.ndarray) -> tuple[slice, slice]:
    """The rows and columns of the box around `mask`'s pixels (components never leave it)."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:  # no pixel: one (empty) pixel keeps the labelling well defined
        return slice(0, 1), slice(0, 1)
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


class ClassObjects(NamedTuple):
    """The objects of one class in one image, and the false-positive components of its prediction.

    Attributes:
        labels: int32 ``(H, W)``: 0 off the objects, ``i`` on object ``i`` (1-based); None in the
            counts' internal use.
        size: ``(n,)`` pixels of each object.
        size_bin: ``(n,)`` 0 small, 1 medium, 2 large.
        found: ``(n,)`` bool, the prediction covers at least ``found_fraction`` of the object.
        iou: ``(n,)`` object IoU.
        fp_mask: bool ``(H, W)``: the predicted components that overlap no object (None likewise).
        fp_components: How many such components there are (with a scored pixel).
    """

    labels: np.ndarray | None
    size: np.ndarray
    size_bin: np.ndarray
    found: np.ndarray
    iou: np.ndarray
    fp_mask: np.ndarray | None
    fp_components: int


def _class_objects(gm: np.ndarray, pm: np.ndarray, valid: np.ndarray | None, bins: tuple[float, float],
                   found_fraction: float, full: bool = False) -> ClassObjects:
    """The objects of ground-truth mask `gm` (scored pixels only) against prediction mask `pm`;
    `valid` is the mask of scored pixels (None: all are). Works on the box around both masks
    (defects are small: the labelling is then much cheaper); `full`: ``labels`` and ``fp_mask``
    at the full image size (else they are None)."""
    area, shape = gm.size, gm.shape
    box = _bounds(gm | pm)
    gm, pm = gm[box], pm[box]
    valid = valid[box] if valid is not None else None
    ng, lg, g_area = _components(gm)
    npc, lp, _ = _components(pm, stats=False)
    p_size = np.bincount(lp[valid] if valid is not None else lp.ravel(), minlength=npc).astype(np.float64)
    both = gm & pm  # scored: gm is
    og, op = lg[both].astype(np.int64), lp[both]  # (object, predicted component) of every overlapping pixel
    if ng * npc <= 4_000_000:
        overlap = np.bincount(og * npc + op, minlength=ng * npc).reshape(ng, npc)
        inter = overlap.sum(1)
        touches = overlap > 0
        touched = touches.any(0)
        q_size = touches.astype(np.float64) @ p_size  # pixels of the components each object overlaps
    else:  # many components: the distinct pairs instead of the full matrix
        pairs = np.unique(og * npc + op)
        pg, pp = pairs // npc, pairs % npc
        inter = np.bincount(og, minlength=ng)
        touched = np.zeros(npc, bool)
        touched[pp] = True
        q_size = np.bincount(pg, weights=p_size[pp], minlength=ng)
    size = g_area[1:].astype(np.float64)
    cover = inter[1:].astype(np.float64)
    iou = cover / np.maximum(size + q_size[1:] - cover, 1.0)
    fp = ~touched
    fp[0] = False
    fp &= p_size > 0
    labels = fp_mask = None
    if full:
        labels, fp_mask = np.zeros(shape, np.int32), np.zeros(shape, bool)
        labels[box], fp_mask[box] = lg, fp[lp]
    return ClassObjects(labels=labels, size=g_area[1:].astype(np.int64),
                        size_bin=np.digitize(size / area, bins).astype(np.int64),  # 0 small, 1 medium, 2 large
                        found=cover >= found_fraction * size, iou=iou, fp_mask=fp_mask, fp_components=int(fp.sum()))


def _image_counts(p: np.ndarray, t: np.ndarray, k: int, classes: Sequence[int], bins: tuple[float, float],
                  found_fraction: float, ignore_index: int | None, strict: bool) -> ObjectCounts:
    g, valid = class_map(t, k, ignore_index, strict)
    out = ObjectCounts.zeros(k)
    present_g = np.bincount(g.ravel(), minlength=k + 1)[:k]
    present_p = np.bincount(p.ravel(), minlength=k)[:k]
    scored = None if valid.all() else valid
    for c in classes:
        if present_g[c] == 0 and present_p[c] == 0:
            continue
        obj = _class_objects(g == c, p == c, scored, bins, found_fraction)
        out.objects[c] = np.bincount(obj.size_bin, minlength=3)
        out.found[c] = np.bincount(obj.size_bin, weights=obj.found, minlength=3).astype(np.int64)
        out.iou_sum[c] = np.bincount(obj.size_bin, weights=obj.iou, minlength=3)
        out.fp_components[c] = obj.fp_components
    return out


def class_objects(pred: Any, target: Any, cls: int, num_classes: int, size_bins: Sequence[float] = SIZE_BINS,
                  found_fraction: float = FOUND_FRACTION, ignore_index: int | None = 255,
                  strict: bool = True) -> ClassObjects:
    """Each object of class `cls` in one ``(H, W)`` image: found or not, its IoU and size bin, and
    the false-positive components (the per-object view behind :func:`object_metrics`, for figures)."""
    pairs = label_pairs(pred, target, num_classes)
    if len(pairs) != 1:
        raise ValueError(f"class_objects scores one (H, W) image, got {len(pairs)}")
    p, t = pairs[0]
    g, valid = class_map(t, num_classes, ignore_index, strict)
    return _class_objects(g == cls, p == cls, None if valid.all() else valid,
                          _check_bins(size_bins, found_fraction), found_fraction, full=True)


def object_counts(pred: Any, target: Any, num_classes: int, size_bins: Sequence[float] = SIZE_BINS,
                  found_fraction: float = FOUND_FRACTION, background: int | None = 0,
                  ignore_index: int | None = 255, strict: bool = True) -> ObjectCounts:
    """The :class:`ObjectCounts` of one ``(H, W)`` image (see the module docstring)."""
    pairs = label_pairs(pred, target, num_classes)
    if len(pairs) != 1:
        raise ValueError(f"object_counts scores one (H, W) image, got {len(pairs)}; use ObjectStats.update for batches")
    p, t = pairs[0]
    classes = [c for c in range(num_classes) if c != background]
    return _image_counts(p, t, num_classes, classes, _check_bins(size_bins, found_fraction), found_fraction,
                         ignore_index, strict)


@dataclass(frozen=True)
class ObjectResult:
    """Object-level metrics from counts summed over images (rates are fractions in [0, 1]).

    Attributes:
        class_names: One name per class.
        counts: The summed :class:`ObjectCounts`.
        num_images: Images scored.
        size_bins: The two area fractions between small, medium and large.
        found_fraction: The share of an object's pixels the prediction must cover to find it.
        background: The class without objects (None: every class has objects).
    """

    class_names: list[str]
    counts: ObjectCounts
    num_images: int
    size_bins: tuple[float, float] = SIZE_BINS
    found_fraction: float = FOUND_FRACTION
    background: int | None = 0
    size_names: tuple[str, ...] = field(default=SIZE_NAMES)

    @property
    def object_classes(self) -> list[int]:
        return [c for c in range(len(self.class_names)) if c != self.background]

    @property
    def detection_rate(self) -> np.ndarray:
        """``(K, 3)`` found / objects per class and size bin; NaN where there is no object."""
        return _ratio(self.counts.found, self.counts.objects)

    @property
    def mean_iou(self) -> np.ndarray:
        """``(K, 3)`` mean object IoU per class and size bin (missed objects count); NaN without objects."""
        return _ratio(self.counts.iou_sum, self.counts.objects)

    @property
    def fp_per_image(self) -> np.ndarray:
        """``(K,)`` false-positive components per image."""
        return self.counts.fp_components / max(self.num_images, 1)

    def pooled_detection(self, size: str | None = "small") -> float:
        """Found / objects of one size bin (None: all sizes), pooled over the object classes."""
        cols = slice(None) if size is None else self.size_names.index(size)
        cls = self.object_classes
        return float(_ratio(self.counts.found[cls][:, cols].sum(), self.counts.objects[cls][:, cols].sum()))

    def summary(self) -> dict[str, float]:
        """Detection rate per size bin pooled over the object classes, and false positives per image."""
        out = {f"{s}_detection": self.pooled_detection(s) for s in self.size_names}
        out["fp_per_image"] = float(self.counts.fp_components[self.object_classes].sum() / max(self.num_images, 1))
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-able (NaN becomes None), with the rules and thresholds used."""
        rate, miou, fp = self.detection_rate, self.mean_iou, self.fp_per_image
        per_class = {}
        for c in self.object_classes:
            bins = {s: {"objects": int(self.counts.objects[c, j]), "found": int(self.counts.found[c, j]),
                        "detection_rate": _clean(rate[c, j]), "mean_iou": _clean(miou[c, j])}
                    for j, s in enumerate(self.size_names)}
            per_class[self.class_names[c]] = {**bins, "fp_components": int(self.counts.fp_components[c]),
                                              "fp_per_image": _clean(fp[c])}
        lo, hi = self.size_bins
        return {
            "size_bins": {"small": [0.0, lo], "medium": [lo, hi], "large": [hi, 1.0]},
            "size_unit": "fraction of the image area",
            "connectivity": CONNECTIVITY,
            "found_rule": FOUND_RULE.format(self.found_fraction),
            "iou_rule": IOU_RULE,
            "background": None if self.background is None else self.class_names[self.background],
            "num_images": self.num_images,
            **{k: _clean(v) for k, v in self.summary().items()},
            "per_class": per_class,
        }

    def report_line(self) -> str:
        """One line per object class: found/objects (mean IoU) by size, false positives per image."""
        lo, hi = self.size_bins
        head = f"===> Objects (small < {lo:.2%}, medium < {hi:.2%} of the image; found = covered >= " \
               f"{self.found_fraction:.0%}):"
        parts = []
        for c in self.object_classes:
            bins = ", ".join(f"{s} {self.counts.found[c, j]}/{self.counts.objects[c, j]}"
                            f" (IoU {_fmt(self.mean_iou[c, j])})" for j, s in enumerate(self.size_names)
                            if self.counts.objects[c, j])
            parts.append(f"{self.class_names[c]}: {bins or 'no objects'}, FP {self.fp_per_image[c]:.2f}/img")
        return head + " " + "; ".join(parts)


class ObjectStats:
    """Accumulates object counts over images (see the module docstring).

    Args:
        num_classes: Number of classes K (background included).
        size_bins: Area fractions between small, medium and large objects (default 0.1 %, 1 %).
        found_fraction: Share of an object's pixels the prediction must cover (default 0.5).
        background: The class that has no objects (default 0; None: every class has objects).
        ignore_index: Target value whose pixels are not scored (default 255).
        class_names: One name per class.
        strict: If True (default), target values outside ``[0, K)`` other than
            `ignore_index` raise; if False they are dropped as the evaluator does.

    Example:
        >>> s = ObjectStats(3, class_names=["background", "corrosion", "broken_wire"])
        >>> per_image = s.update(pred, masks)  # one ObjectCounts per image
        >>> s.compute().detection_rate
    """

    def __init__(self, num_classes: int, size_bins: Sequence[float] = SIZE_BINS,
                 found_fraction: float = FOUND_FRACTION, background: int | None = 0,
                 ignore_index: int | None = 255, class_names: Sequence[str] | None = None,
                 strict: bool = True) -> None:
        self.num_classes = check_num_classes(num_classes)
        self.ignore_index = check_ignore_index(ignore_index, self.num_classes)
        self.size_bins = _check_bins(size_bins, found_fraction)
        self.found_fraction = float(found_fraction)
        if background is not None and not 0 <= background < self.num_classes:
            raise ValueError(f"background={background} is not a class of {self.num_classes}; pass a class index "
                             "or None")
        self.background = background
        self.class_names = _class_names(class_names, self.num_classes)
        self.strict = strict
        self.counts = ObjectCounts.zeros(self.num_classes)
        self.num_images = 0

    def reset(self) -> "ObjectStats":
        self.counts = ObjectCounts.zeros(self.num_classes)
        self.num_images = 0
        return self

    def update(self, pred: Any, target: Any) -> list[ObjectCounts]:
        """Add images (``(H, W)``, ``(B, H, W)`` or sequences of ``(H, W)``); returns each image's counts."""
        k = self.num_classes
        classes = [c for c in range(k) if c != self.background]
        out = [_image_counts(p, t, k, classes, self.size_bins, self.found_fraction, self.ignore_index, self.strict)
               for p, t in label_pairs(pred, target, k)]
        for c in out:
            self.counts += c
        self.num_images += len(out)
        return out

    def merge(self, other: "ObjectStats") -> "ObjectStats":
        """Add another accumulator's counts (same classes and rules) into this one."""
        same = (other.num_classes, other.size_bins, other.found_fraction, other.background) == \
               (self.num_classes, self.size_bins, self.found_fraction, self.background)
        if not same:
            raise ValueError("cannot merge object counts made with other classes, size bins, found rule or background")
        self.counts += other.counts
        self.num_images += other.num_images
        return self

    def compute(self) -> ObjectResult:
        c = self.counts
        total = ObjectCounts(c.objects.copy(), c.found.copy(), c.iou_sum.copy(), c.fp_components.copy())
        return ObjectResult(list(self.class_names), total, self.num_images, self.size_bins, self.found_fraction,
                            self.background)


def object_metrics(pred: Any, target: Any, num_classes: int, size_bins: Sequence[float] = SIZE_BINS,
                   found_fraction: float = FOUND_FRACTION, background: int | None = 0,
                   ignore_index: int | None = 255, class_names: Sequence[str] | None = None,
                   strict: bool = True) -> ObjectResult:
    """Object-level metrics of one image, a batch or a sequence of images, summed over them.

    Args:
        pred: Label maps ``(H, W)`` / ``(B, H, W)`` (or logits with a class axis before H, W),
            or a sequence of ``(H, W)`` maps.
        target: Integer ground truth of the same shape(s).
        num_classes: K.
        size_bins: Area fractions of the image between small, medium and large objects.
        found_fraction: Share of an object's pixels the prediction must cover to find it.
        background: The class that has no objects (default 0; None: every class).
        ignore_index: Target value left out of every count.
        class_names: Names for the report.
        strict: Raise on target values outside ``[0, K)`` that are not `ignore_index`.

    Returns:
        An :class:`ObjectResult`: ``detection_rate`` and ``mean_iou`` ``(K, 3)``,
        ``fp_per_image`` ``(K,)``, ``summary()``, ``as_dict()``.
    """
    stats = ObjectStats(num_classes, size_bins, found_fraction, background, ignore_index, class_names, strict)
    stats.update(pred, target)
    return stats.compute()


def _ratio(num: Any, den: Any) -> Any:
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _clean(v: float) -> float | None:
    v = float(v)
    return None if math.isnan(v) else v


def _fmt(v: float) -> str:
    return "n/a" if math.isnan(float(v)) else f"{_pct(v)}"
