"""``ConfusionMatrix``: the (K, K) accumulator every metric is derived from."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence, TextIO

import numpy as np
import torch

from segkit._utils import check_ignore_index, check_num_classes
from segkit.metrics._functional import Absent, _check_absent, _class_names
from segkit.metrics.results import SegMetrics, metrics_from_hist

if TYPE_CHECKING:
    import pandas as pd

_FIX_BINARY_HINT = "a 0/255 binary mask? run `segkit data fix-binary` (or map 255 -> 1)"


def _index_dtype(n_bins: int) -> torch.dtype:
    """Smallest integer dtype that holds bin indices < n_bins (fewer bytes to write and count)."""
    if n_bins <= 256:
        return torch.uint8
    if n_bins <= 2**15:
        return torch.int16
    if n_bins <= 2**31:
        return torch.int32
    return torch.int64


def _argmax_classes(logits: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """argmax over dim 1 of (B, K, ...) -> (B, ...) labels in ``dtype``.

    On CPU ``torch.argmax`` over a strided dim is slow (about 10x slower than this
    running-max loop for K=3); ties resolve to the first maximum as in ``argmax``
    (NaN logits are never chosen here, whereas ``argmax`` picks them).
    """
    if logits.device.type != "cpu":
        return logits.argmax(1).to(dtype)
    best = logits[:, 0].clone()
    idx = torch.zeros(best.shape, dtype=dtype, device=logits.device)
    for c in range(1, logits.shape[1]):
        lc = logits[:, c]
        idx.masked_fill_(lc > best, c)
        torch.maximum(best, lc, out=best)
    return idx


def _integer_target(target: torch.Tensor) -> torch.Tensor:
    """Bool masks become uint8; float or complex targets raise (they are not class labels)."""
    if target.dtype == torch.bool:
        return target.to(torch.uint8)
    if target.is_floating_point() or target.is_complex():
        raise ValueError(
            f"target must hold integer class labels, got dtype {target.dtype}; convert it with "
            "target.long() (masks loaded through ToTensor() are scaled to [0, 1]: load them with "
            "np.array(Image.open(path)) instead)"
        )
    return target


class ConfusionMatrix:
    """Accumulates a ``(K, K)`` confusion matrix on the model's device (rows = ground truth).

    One ``torch.bincount`` per :meth:`update`, no Python loops over pixels. Index math
    runs in the smallest safe integer type (uint8 for K <= 15), and the target's
    ignore/out-of-range check is folded into the same bincount through a lookup table.

    Args:
        num_classes: Number of classes K (background included).
        ignore_index: Target value to skip (default 255); must lie outside ``[0, K)``.
            ``None`` skips nothing.
        device: Device of the accumulator; default: the device of the first update.
        class_names: One name per class for reports.
        absent: How classes absent from both GT and prediction score: ``"nan"``
            (default, skipped by the means) or ``"zero"`` (the reference, counted as 0).
        strict: If True (default), target values outside ``[0, K)`` other than
            ``ignore_index`` raise ``ValueError``. If False, they are dropped like the
            reference evaluator does (it keeps only ``0 <= g < K``).

    Example:
        >>> cm = ConfusionMatrix(3, class_names=["background", "corrosion", "broken_wire"])
        >>> cm.update(logits, masks)  # logits (B,3,H,W) or labels (B,H,W); masks (B,H,W)
        >>> m = cm.compute(); m.miou, m.f1
        >>> cm.report()
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int | None = 255,
        device: torch.device | str | None = None,
        class_names: Sequence[str] | None = None,
        absent: Absent = "nan",
        strict: bool = True,
    ) -> None:
        num_classes = check_num_classes(num_classes)
        ignore_index = check_ignore_index(ignore_index, num_classes)
        _check_absent(absent)
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.class_names = _class_names(class_names, num_classes)
        self.absent = absent
        self.strict = strict
        self._device_fixed = device is not None
        self.hist = torch.zeros(
            num_classes, num_classes, dtype=torch.int64, device=torch.device(device) if device is not None else "cpu"
        )
        self._lut_cache: dict[tuple[torch.device, int], torch.Tensor] = {}

    # -- state -----------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return self.hist.device

    def reset(self) -> "ConfusionMatrix":
        """Zero the matrix (keeps the device)."""
        self.hist.zero_()
        return self

    def merge(self, other: "ConfusionMatrix") -> "ConfusionMatrix":
        """Add another matrix's counts into this one (in place) and return self."""
        if not isinstance(other, ConfusionMatrix):
            raise TypeError(f"merge expects a ConfusionMatrix, got {type(other).__name__}")
        if other.num_classes != self.num_classes:
            raise ValueError(
                f"cannot merge a {other.num_classes}-class matrix into a {self.num_classes}-class one"
            )
        self.hist += other.hist.to(self.hist.device)
        return self

    def all_reduce(self) -> "ConfusionMatrix":
        """Sum the matrix over all processes (``torch.distributed``); no-op when not initialised.

        With the NCCL backend the matrix must live on the process's CUDA device
        (pass ``device=`` or update with CUDA tensors first).
        """
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(self.hist, op=dist.ReduceOp.SUM)
        return self

    def state_dict(self) -> dict[str, Any]:
        """Counts and settings, with the matrix on the CPU."""
        return {
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "class_names": list(self.class_names),
            "absent": self.absent,
            "hist": self.hist.detach().cpu().clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore counts saved by :meth:`state_dict` (onto the current device)."""
        hist = torch.as_tensor(state["hist"])
        k = self.num_classes
        if hist.shape != (k, k):
            raise ValueError(f"state hist has shape {tuple(hist.shape)}, expected ({k}, {k}) for num_classes={k}")
        self.hist = hist.to(device=self.hist.device, dtype=torch.int64).clone()
        if "class_names" in state:
            self.class_names = _class_names(state["class_names"], k)

    # -- accumulation ----------------------------------------------------------------

    def _lut(self, size: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """Target value -> row offset: K*v for classes, K*K for ignored, K*K+K for invalid."""
        key = (device, size)
        lut = self._lut_cache.get(key)
        if lut is None or lut.dtype != dtype:
            k = self.num_classes
            drop = k * k  # ignored pixels land in bins [K*K, K*K+K)
            bad = k * k + (0 if not self.strict else k)  # invalid ones in [K*K+K, K*K+2K)
            lut = torch.full((size,), bad, dtype=torch.int64)  # (256,) or (65536,)
            lut[: min(k, size)] = torch.arange(min(k, size)) * k
            if self.ignore_index is not None and 0 <= self.ignore_index < size:
                lut[self.ignore_index] = drop
            lut = lut.to(device=device, dtype=dtype)
            self._lut_cache[key] = lut
        return lut

    @torch.no_grad()
    def update(self, pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray) -> "ConfusionMatrix":
        """Add a batch.

        Args:
            pred: Logits or probabilities ``(B, K, H, W)`` (argmax over dim 1) or integer
                label maps with the target's shape.
            target: Integer ground-truth labels ``(B, H, W)`` (any shape matching ``pred``'s
                labels); ``ignore_index`` pixels are skipped.

        Returns:
            self.

        Raises:
            ValueError: Mismatched shapes, float labels, or values outside ``[0, K)``
                that are not ``ignore_index`` (the message names the value).
        """
        k = self.num_classes
        pred = torch.as_tensor(pred)
        target = torch.as_tensor(target)
        if not self._device_fixed:
            self.hist = self.hist.to(pred.device)
            self._device_fixed = True
        dev = self.hist.device
        pred = pred.to(dev, non_blocking=True)
        target = _integer_target(target.to(dev, non_blocking=True))
        idx_dtype = _index_dtype(k * k + 2 * k)
        labels = self._labels(pred, target, idx_dtype)
        if target.numel() == 0:
            return self
        rows = self._rows(target, idx_dtype)
        rows.add_(labels.reshape(-1))  # (N,) bin = K*g + p
        counts = torch.bincount(rows, minlength=k * k + 2 * k)
        if self.strict and counts[k * k + k :].any():
            self._raise_invalid_target(target)
        self.hist += counts[: k * k].view(k, k)
        return self

    def _labels(self, pred: torch.Tensor, target: torch.Tensor, idx_dtype: torch.dtype) -> torch.Tensor:
        """Predicted class per pixel, from logits (B, K, ...) or a label map shaped like `target`."""
        k = self.num_classes
        if pred.dim() == target.dim() + 1:  # logits / probabilities (B, K, ...)
            if pred.shape[0] != target.shape[0] or pred.shape[2:] != target.shape[1:] or pred.shape[1] != k:
                want = (*target.shape[:1], k, *target.shape[1:])
                raise ValueError(
                    f"logits of shape {tuple(pred.shape)} do not match target shape {tuple(target.shape)} "
                    f"with num_classes={k}; expected logits of shape {want}"
                )
            if not pred.is_floating_point():
                raise ValueError(f"(B, K, H, W) predictions must be float logits/probabilities, got {pred.dtype}")
            return _argmax_classes(pred, idx_dtype)
        if pred.shape != target.shape:
            raise ValueError(
                f"pred shape {tuple(pred.shape)} does not match target shape {tuple(target.shape)}; "
                f"pass logits (B, {k}, H, W) or labels (B, H, W) for a (B, H, W) target"
            )
        if pred.dtype == torch.bool:
            pred = pred.to(torch.uint8)
        if pred.is_floating_point() or pred.is_complex():
            raise ValueError(
                f"label-map predictions must be integers, got dtype {pred.dtype} with shape {tuple(pred.shape)}; "
                f"pass logits as (B, {k}, H, W) or labels as pred.argmax(1)"
            )
        if pred.numel():
            lo, hi = (int(v) for v in torch.aminmax(pred))
            if lo < 0 or hi >= k:
                raise ValueError(
                    f"pred holds class index {lo if lo < 0 else hi}, outside [0, {k}) for num_classes={k}; "
                    "predictions must be class indices (no ignore value)"
                )
        return pred.to(idx_dtype)

    def _rows(self, target: torch.Tensor, idx_dtype: torch.dtype) -> torch.Tensor:
        """Row offset K*g per pixel; ignored pixels go to bins [K*K, K*K+K), invalid ones above."""
        k = self.num_classes
        lo, hi = (int(v) for v in torch.aminmax(target))
        if lo >= 0 and hi < 2**16:
            # fast path: one gather maps target values to row offsets, and the ignore and
            # invalid values to the spare bins [K*K, K*K+2K), which the bincount also counts
            lut = self._lut(256 if hi < 256 else 2**16, target.device, idx_dtype)
            t = target.reshape(-1)
            return lut.index_select(0, t if t.dtype in (torch.int32, torch.int64) else t.int())
        # general path (negative or huge values): comparisons instead of a table
        t = target.reshape(-1).long()
        in_range = (t >= 0) & (t < k)
        rows = torch.where(in_range, t * k, k * k).to(idx_dtype)
        if self.strict:
            keep = in_range if self.ignore_index is None else in_range | (t == self.ignore_index)
            rows.masked_fill_(~keep, k * k + k)
        return rows

    def _raise_invalid_target(self, target: torch.Tensor) -> None:
        k = self.num_classes
        t = target.reshape(-1)
        bad = (t < 0) | (t >= k)
        if self.ignore_index is not None:
            bad &= t != self.ignore_index
        values = torch.unique(t[bad])[:5].tolist()
        if 255 in values:
            hint = f" ({_FIX_BINARY_HINT})"
        elif min(values) < 0:
            hint = " (negative labels are never classes; set ignore_index to that value if it marks void)"
        else:
            hint = f" (is num_classes={k} right? class indices run 0..{k - 1})"
        raise ValueError(
            f"target holds value(s) {values} outside [0, {k}) for num_classes={k} that are not "
            f"ignore_index={self.ignore_index}{hint}; fix the masks, set ignore_index, or pass strict=False "
            "to drop them as the reference evaluator does"
        )

    # -- results ---------------------------------------------------------------------

    def compute(self) -> SegMetrics:
        """Every metric from the accumulated matrix (see :class:`SegMetrics`)."""
        return metrics_from_hist(self.hist, self.class_names, self.absent)

    def report(self, table: bool = True, file: TextIO | None = None) -> "pd.DataFrame":  # noqa: F821
        """Print the reference evaluation lines (and the per-class table); return the table."""
        return self.compute().report(table=table, file=file)

    def __repr__(self) -> str:
        return (
            f"ConfusionMatrix(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
            f"device={self.device}, pixels={int(self.hist.sum())})"
        )
