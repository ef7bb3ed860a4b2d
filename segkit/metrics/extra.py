"""``ExtraMetrics``: boundary IoU and object metrics accumulated beside the confusion matrix.

The evaluator (``segkit.inference.evaluate``) feeds every image's label map to one of these next
to its :class:`~segkit.metrics.ConfusionMatrix`; with ``per_image=True`` it also keeps each
image's counts, which ``per_image_cm.npz`` stores for the bootstrap intervals
(``segkit.report.stats``).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from segkit.metrics._functional import _class_names
from segkit.metrics.boundary import DILATION_RATIO, BoundaryIoU, BoundaryResult
from segkit.metrics.learned import is_background
from segkit.metrics.objects import FOUND_FRACTION, SIZE_BINS, ObjectResult, ObjectStats

__all__ = ["ExtraMetrics", "PER_IMAGE_KEYS"]

# names of the per-image arrays (``per_image_arrays``), as per_image_cm.npz stores them
PER_IMAGE_KEYS = ("boundary", "objects", "object_iou", "fp_components")


class ExtraMetrics:
    """Boundary IoU (:class:`BoundaryIoU`) and object metrics (:class:`ObjectStats`) together.

    Args:
        num_classes: Number of classes K.
        class_names: One name per class. Class 0 has no objects when it is named as the
            background (``segkit.metrics.is_background``) or when no names are given.
        ignore_index: Target value whose pixels are not scored.
        dilation_ratio, size_bins, found_fraction: See :mod:`segkit.metrics.boundary` and
            :mod:`segkit.metrics.objects`.
        strict: Raise on target values outside ``[0, K)`` that are not `ignore_index`
            (default False: dropped, as the evaluator's confusion matrix does).
        per_image: Keep each image's counts (:meth:`per_image_arrays`).
    """

    def __init__(self, num_classes: int, class_names: Sequence[str] | None = None, ignore_index: int | None = 255,
                 dilation_ratio: float = DILATION_RATIO, size_bins: Sequence[float] = SIZE_BINS,
                 found_fraction: float = FOUND_FRACTION, strict: bool = False, per_image: bool = False) -> None:
        names = _class_names(class_names, num_classes)
        background = 0 if class_names is None or is_background(names[0]) else None
        self.boundary = BoundaryIoU(num_classes, dilation_ratio, ignore_index, names, strict)
        self.objects = ObjectStats(num_classes, size_bins, found_fraction, background, ignore_index, names, strict)
        self.keep = per_image
        self._per_image: dict[str, list[np.ndarray]] = {key: [] for key in PER_IMAGE_KEYS}

    @property
    def num_classes(self) -> int:
        return self.boundary.num_classes

    def update(self, pred: Any, target: Any) -> None:
        """Add images: label maps (or logits) and targets, ``(H, W)``, ``(B, H, W)`` or sequences."""
        b = self.boundary.update(pred, target)
        objects = self.objects.update(pred, target)
        if self.keep:
            self._per_image["boundary"] += list(b)
            for c in objects:
                self._per_image["objects"].append(np.stack([c.objects, c.found], -1))  # (K, 3, 2)
                self._per_image["object_iou"].append(c.iou_sum)
                self._per_image["fp_components"].append(c.fp_components)

    def per_image_arrays(self) -> dict[str, np.ndarray]:
        """Each image's counts, in update order: ``boundary`` (N, 2, K) band intersections and
        unions; ``objects`` (N, K, 3, 2) objects and found objects per size bin; ``object_iou``
        (N, K, 3) sums of object IoUs; ``fp_components`` (N, K)."""
        k = self.num_classes
        empty = {"boundary": (0, 2, k), "objects": (0, k, 3, 2), "object_iou": (0, k, 3), "fp_components": (0, k)}
        return {key: np.stack(v) if v else np.zeros(empty[key]) for key, v in self._per_image.items()}

    def all_reduce(self, device: Any = None) -> "ExtraMetrics":
        """Sum the counts over all processes (``torch.distributed``); no-op when not initialised.

        `device`: where the reduced tensor lives (the process's CUDA device under NCCL).
        """
        import torch
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return self
        b, o = self.boundary, self.objects.counts
        parts = [b.counts, o.objects, o.found, o.iou_sum, o.fp_components,
                 np.array([b.num_images, self.objects.num_images])]
        flat = torch.from_numpy(np.concatenate([np.asarray(p, np.float64).ravel() for p in parts])).to(device)
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        values = flat.cpu().numpy()
        start = 0
        for p in parts[:-1]:
            p[...] = values[start:start + p.size].reshape(p.shape).astype(p.dtype)
            start += p.size
        b.num_images, self.objects.num_images = (int(v) for v in values[start:start + 2])
        return self

    def compute(self) -> dict[str, BoundaryResult | ObjectResult]:
        """``{"boundary": BoundaryResult, "objects": ObjectResult}`` (the fields of ``SegMetrics``)."""
        return {"boundary": self.boundary.compute(), "objects": self.objects.compute()}
