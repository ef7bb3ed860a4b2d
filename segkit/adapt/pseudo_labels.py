"""Pseudo-labels for unlabelled target images with per-class confidence thresholds.

The self-training step of Trans4PASS (https://github.com/jamycheung/Trans4PASS,
``adaptations/gen_pseudo_label.py``; Zhang et al., CVPR 2022,
https://arxiv.org/abs/2203.01452), in three steps:

1. every target image is predicted (softmax averaged over several input scales) at its
   original size: a label and a confidence (the top probability) per pixel;
2. per class ``c``, the threshold is a quantile (the median) of the confidences of all
   pixels predicted as ``c`` over the whole target set, capped at ``cap`` (0.9); a class
   nobody predicts gets threshold 0;
3. a pixel whose confidence is below its predicted class's threshold becomes ``ignore_index``.

The quantile is read as the official code does: sort the ``n`` confidences and take the one
at position ``round(n * q)`` (NumPy rounding, half to even), the upper median for even n.
Per-class thresholds keep rare classes that a single global threshold would remove.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from segkit.data.files import VOID
from segkit.inference.evaluate import letterbox_predict
from segkit.runs import RunDir

__all__ = ["class_thresholds", "apply_thresholds", "multiscale_probs", "make_pseudo_labels"]


def class_thresholds(confidence: np.ndarray | Sequence[np.ndarray], labels: np.ndarray | Sequence[np.ndarray],
                     num_classes: int, quantile: float = 0.5, cap: float = 0.9) -> np.ndarray:
    """Per-class confidence thresholds over a set of predictions.

    Args:
        confidence: top softmax probability per pixel (one array, or one per image).
        labels: predicted class per pixel, same shapes.
        num_classes: K.
        quantile: which order statistic (0.5: the median).
        cap: no threshold exceeds this.

    Returns:
        float64 ``(K,)``; 0 for classes never predicted.
    """
    conf = np.concatenate([np.asarray(c, np.float64).ravel() for c in _as_list(confidence)])
    lab = np.concatenate([np.asarray(x).ravel() for x in _as_list(labels)])
    if conf.shape != lab.shape:
        raise ValueError(f"confidence ({conf.size} pixels) and labels ({lab.size} pixels) must have the same shape")
    out = np.zeros(num_classes)
    for c in range(num_classes):
        x = np.sort(conf[lab == c])
        if x.size:
            out[c] = x[min(int(np.round(x.size * quantile)), x.size - 1)]
    return np.minimum(out, cap)


def apply_thresholds(labels: np.ndarray, confidence: np.ndarray, thresholds: Sequence[float],
                     ignore_index: int = 255) -> np.ndarray:
    """`labels` (uint8) with every pixel below its class's threshold set to `ignore_index`."""
    lab = np.asarray(labels).astype(np.int64)
    thr = np.asarray(thresholds, np.float64)
    out = lab.copy()
    out[np.asarray(confidence, np.float64) < thr[lab]] = ignore_index
    return out.astype(np.uint8)


def multiscale_probs(model: nn.Module, images: Sequence[np.ndarray], input_shape: Sequence[int],
                     scales: Sequence[float] = (1.0,), device: Any = None, precision: Any = "auto") -> list[np.ndarray]:
    """Softmax ``(K, h, w)`` per image at its original size, averaged over letterbox scales.

    Scale 1 letterboxes to ``input_shape``; another scale to ``input_shape * scale``
    rounded to the model's ``input_multiple`` (default 32). `precision`: a precision name or a
    resolved ``segkit.runtime.precision.Precision`` (see ``letterbox_predict``).
    """
    multiple = int(getattr(model, "input_multiple", 32) or 1)
    sums: list[np.ndarray] | None = None
    for s in scales:
        shape = list(input_shape) if s == 1 else [max(multiple, int(round(v * s / multiple)) * multiple)
                                                   for v in input_shape]
        probs = letterbox_predict(model, list(images), shape, device, return_probs=True, precision=precision)
        sums = probs if sums is None else [a + b for a, b in zip(sums, probs)]
    return [p / len(scales) for p in sums or []]


def make_pseudo_labels(model: nn.Module, images: Any, out: RunDir, input_shape: Sequence[int],
                       class_names: Sequence[str], scales: Sequence[float] = (1.0,), quantile: float = 0.5,
                       cap: float = 0.9, device: Any = None, batch_size: int = 4,
                       progress: bool = True, precision: Any = "auto") -> dict[str, Any]:
    """Predict every image of `images`, threshold per class, save ``pseudo_labels/<id>.png``.

    Args:
        model: the source-only model.
        images: ``segkit.data.UnlabelledImages`` (``ids``, ``load_image(i)``).
        out: the adaptation run directory (``RunDir``); PNGs go to ``out.pseudo_label(id)``
            (palette PNGs: class colours, white 255 = unconfident) and the thresholds, the
            fraction of pixels kept per class and the arguments to ``thresholds.json``.
        input_shape, scales: see :func:`multiscale_probs`.
        class_names: the model's classes (K).
        quantile, cap: see :func:`class_thresholds`.
        precision: see :func:`multiscale_probs`.

    Returns:
        The ``thresholds.json`` payload.
    """
    from segkit.data.tools import save_mask

    k = len(class_names)
    was_training = model.training
    model.eval()
    labels, confs = [], []
    with torch.no_grad():
        bar = tqdm(range(0, len(images), batch_size), desc="Pseudo-labels", unit="batch", leave=False,
                   disable=not progress)
        for start in bar:
            batch = [images.load_image(i) for i in range(start, min(start + batch_size, len(images)))]
            for p in multiscale_probs(model, batch, input_shape, scales, device, precision):
                labels.append(p.argmax(0).astype(np.uint8))
                confs.append(p.max(0).astype(np.float32))
    model.train(was_training)
    thr = class_thresholds(confs, labels, k, quantile, cap)
    out.pseudo_label_dir.mkdir(parents=True, exist_ok=True)
    predicted, kept = np.zeros(k, np.int64), np.zeros(k, np.int64)
    for image_id, lab, conf in zip(images.ids, labels, confs):
        pseudo = apply_thresholds(lab, conf, thr, VOID)
        predicted += np.bincount(lab.ravel(), minlength=k)[:k]
        kept += np.bincount(pseudo[pseudo != VOID].ravel().astype(np.int64), minlength=k)[:k]
        save_mask(pseudo, out.pseudo_label(image_id))
    payload = {
        "class_names": list(class_names), "thresholds": [float(t) for t in thr],
        "predicted_pixels": predicted.tolist(), "kept_pixels": kept.tolist(),
        "kept_fraction": float(kept.sum() / max(predicted.sum(), 1)),
        "quantile": float(quantile), "cap": float(cap), "scales": [float(s) for s in scales],
        "input_shape": [int(v) for v in input_shape], "ids": list(images.ids), "void": VOID,
        "image_paths": [str(Path(x).resolve()) for x in images.image_paths],
    }
    out.write_thresholds(payload)
    return payload


def _as_list(x: Any) -> list[np.ndarray]:
    return list(x) if isinstance(x, (list, tuple)) else [np.asarray(x)]
