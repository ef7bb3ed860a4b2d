"""Segmentation metrics from one confusion matrix (spec: ``spec/metrics.md``).

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

Deviation switch, ``absent``:

- ``"nan"`` (default): a class absent from both ground truth and prediction scores NaN
  and the means skip it (``nanmean``). Any other zero denominator gives 0 (a class
  present in the ground truth but never predicted has precision 0), as scikit-learn's
  ``zero_division=0``.
- ``"zero"``: the reference implementation exactly: every denominator is ``max(., 1)``,
  so an absent class scores 0 and drags the means down (a warning names it).
"""
from __future__ import annotations

import math
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence, TextIO

import numpy as np
import torch

__all__ = [
    "ConfusionMatrix",
    "SegMetrics",
    "metrics_from_hist",
    "f1_of_means",
    "mean_of_f1",
]

Absent = Literal["nan", "zero"]

_FIX_BINARY_HINT = "a 0/255 binary mask? run `segkit data fix-binary` (or map 255 -> 1)"


# helpers ------------------------------------------------------------------------------


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


# results ------------------------------------------------------------------------------


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
        return {
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            **{k: clean(v) for k, v in self.summary().items()},
            "absent": self.absent,
            "absent_classes": list(self.absent_classes),
            "per_class": per_class,
            "confusion_matrix": self.hist.tolist(),
        }

    def report_lines(self) -> list[str]:
        """The reference evaluator's lines (training.md §9), percentages round(v*100, 2)."""
        lines = [
            f"===>{name}:\tIou-{_pct(self.iou[i])}; Recall (equal to the PA)-{_pct(self.recall[i])}; "
            f"Precision-{_pct(self.precision[i])}"
            for i, name in enumerate(self.class_names)
        ]
        lines.append(f"===> mIoU: {_pct(self.miou)}; mPA: {_pct(self.mpa)}; Accuracy: {_pct(self.accuracy)}")
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
    """Every metric of ``spec/metrics.md`` from a ``(K, K)`` confusion matrix (rows = GT).

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


def _class_names(class_names: Sequence[str] | None, k: int) -> list[str]:
    if class_names is None:
        return [f"class_{i}" for i in range(k)]
    names = [str(n) for n in class_names]
    if len(names) != k:
        raise ValueError(f"class_names has {len(names)} names but num_classes is {k}; give one name per class")
    return names


# accumulator --------------------------------------------------------------------------


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
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        num_classes = int(num_classes)
        if ignore_index is not None:
            if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
                raise ValueError(f"ignore_index must be an int or None, got {ignore_index!r}")
            if 0 <= ignore_index < num_classes:
                raise ValueError(
                    f"ignore_index={ignore_index} is a valid class for num_classes={num_classes}; "
                    f"use a value outside [0, {num_classes}) such as 255"
                )
            ignore_index = int(ignore_index)
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
        target = target.to(dev, non_blocking=True)

        if target.dtype == torch.bool:
            target = target.to(torch.uint8)
        if target.is_floating_point() or target.is_complex():
            raise ValueError(
                f"target must hold integer class labels, got dtype {target.dtype}; convert it with "
                "target.long() (masks loaded through ToTensor() are scaled to [0, 1]: load them with "
                "np.array(Image.open(path)) instead)"
            )
        idx_dtype = _index_dtype(k * k + 2 * k)
        if pred.dim() == target.dim() + 1:  # logits / probabilities (B, K, ...)
            if pred.shape[0] != target.shape[0] or pred.shape[2:] != target.shape[1:] or pred.shape[1] != k:
                want = (*target.shape[:1], k, *target.shape[1:])
                raise ValueError(
                    f"logits of shape {tuple(pred.shape)} do not match target shape {tuple(target.shape)} "
                    f"with num_classes={k}; expected logits of shape {want}"
                )
            if not pred.is_floating_point():
                raise ValueError(f"(B, K, H, W) predictions must be float logits/probabilities, got {pred.dtype}")
            labels = _argmax_classes(pred, idx_dtype)
        elif pred.shape == target.shape:
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
                    bad = lo if lo < 0 else hi
                    raise ValueError(
                        f"pred holds class index {bad}, outside [0, {k}) for num_classes={k}; predictions must be "
                        "class indices (no ignore value)"
                    )
            labels = pred.to(idx_dtype)
        else:
            raise ValueError(
                f"pred shape {tuple(pred.shape)} does not match target shape {tuple(target.shape)}; "
                f"pass logits (B, {k}, H, W) or labels (B, H, W) for a (B, H, W) target"
            )
        if target.numel() == 0:
            return self

        n_bins = k * k + 2 * k
        lo, hi = (int(v) for v in torch.aminmax(target))
        if lo >= 0 and hi < 2**16:
            # fast path: one gather maps target values to row offsets, and the ignore and
            # invalid values to the spare bins [K*K, K*K+2K), which the bincount also counts
            lut = self._lut(256 if hi < 256 else 2**16, dev, idx_dtype)
            t = target.reshape(-1)
            rows = lut.index_select(0, t if t.dtype in (torch.int32, torch.int64) else t.int())
        else:
            # general path (negative or huge values): comparisons instead of a table
            t = target.reshape(-1).long()
            in_range = (t >= 0) & (t < k)
            rows = torch.where(in_range, t * k, k * k).to(idx_dtype)
            if self.strict:
                keep = in_range if self.ignore_index is None else in_range | (t == self.ignore_index)
                rows.masked_fill_(~keep, k * k + k)
        rows.add_(labels.reshape(-1))  # (N,) bin = K*g + p
        counts = torch.bincount(rows, minlength=n_bins)
        if self.strict and counts[k * k + k :].any():
            self._raise_invalid_target(target)
        self.hist += counts[: k * k].view(k, k)
        return self

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
