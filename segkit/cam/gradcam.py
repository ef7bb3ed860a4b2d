"""``gradcam``: class activation maps of a segmentation model for one image, and their ``CamResult``."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn

from segkit._utils import did_you_mean, eval_mode, model_device
from segkit.cam.images import _to_input, overlay
from segkit.cam.layers import resolve_layer
from segkit.modules._padding import pad_to_multiple
from segkit.cam.targets import CAM_METHODS, SegmentationOutput, SegmentationTarget, _fp32_output, _methods, _no_inplace

__all__ = ["CamResult", "gradcam"]


@dataclass
class CamResult:
    """Heat maps of one image for one or more classes.

    Attributes:
        image: (H, W, 3) float RGB in [0, 1].
        prediction: (H, W) int64 predicted classes.
        classes: the class index of each heat map.
        heatmaps: (n, H, W) float32 in [0, 1], one per class.
        target_pixels: pixels in each class's target mask (0: the whole image was scored).
        layer, method: what produced the maps.
    """

    image: np.ndarray
    prediction: np.ndarray
    classes: list[int]
    heatmaps: np.ndarray
    target_pixels: list[int]
    layer: str
    method: str
    class_names: list[str] | None = None
    notes: list[str] = field(default_factory=list)

    def heatmap(self, cls: int) -> np.ndarray:
        """The (H, W) map of class index `cls`."""
        if cls not in self.classes:
            raise ValueError(f"class {cls} was not computed; computed classes: {self.classes}")
        return self.heatmaps[self.classes.index(cls)]

    def overlays(self, alpha: float = 0.5, cmap: str = "jet") -> list[np.ndarray]:
        """(H, W, 3) uint8 overlays, one per class."""
        return [overlay(self.image, h, alpha, cmap) for h in self.heatmaps]

    def name(self, cls: int) -> str:
        if self.class_names and 0 <= cls < len(self.class_names):
            return self.class_names[cls]
        return f"class {cls}"


    def crop(self, top: int, left: int, height: int, width: int) -> "CamResult":
        """The same result cut to the box ``[top:top+height, left:left+width]`` (e.g. a letterbox's
        image region: ``crop(*info.offset, *info.resized)``); ``target_pixels`` stay as computed."""
        box = (slice(top, top + height), slice(left, left + width))
        if top < 0 or left < 0 or top + height > self.prediction.shape[0] or left + width > self.prediction.shape[1]:
            raise ValueError(f"crop box (top={top}, left={left}, height={height}, width={width}) does not fit "
                             f"the {self.prediction.shape[0]}x{self.prediction.shape[1]} result")
        return dataclasses.replace(self, image=self.image[box], prediction=self.prediction[box],
                                   heatmaps=self.heatmaps[(slice(None), *box)])


def gradcam(
    model: nn.Module,
    image: Any,
    classes: int | Sequence[int] | None = None,
    *,
    mask: np.ndarray | torch.Tensor | None = None,
    label_map: np.ndarray | torch.Tensor | None = None,
    layer: str | None = None,
    method: str = "gradcam",
    device: str | torch.device | None = None,
    class_names: Sequence[str] | None = None,
    eigen_smooth: bool = False,
    aug_smooth: bool = False,
    precision: str = "fp32",
    channels_last: str | bool = "auto",
) -> CamResult:
    """Class activation maps of a segmentation model for one image.

    Args:
        model: returns logits (B, K, H, W) (lists/dicts are reduced to the main output).
            It runs in eval mode; every module's training flag is restored and its ``.grad`` fields
            are cleared (set to None) afterwards.
        image: (3, H, W) / (1, 3, H, W) tensor in [0, 1] (a ``VOCSegmentation`` item), an
            (H, W, 3) uint8 or float array, a PIL image or an image path. No normalisation
            is applied (segkit models take [0, 1] input, like the reference).
        classes: class index or indices; None: every class present in the prediction.
        mask: a user region (H, W) (bool or 0/1) scored for every class.
        label_map: (H, W) class indices (e.g. the ground truth): class c scores the pixels
            where ``label_map == c``. Default (neither): the pixels predicted as c.
            An empty region falls back to scoring the whole image (noted in ``notes``).
        layer: role ("backbone", "neck", "decoder") or module path; see ``resolve_layer``.
            A layer returning a list/tuple (e.g. HRNet stages) is explained through its
            first (B, C, h, w) element.
        method: one of ``CAM_METHODS`` ("gradcam", "gradcam++", "hirescam", "eigencam", ...).
        device, class_names: where to run (default: the model's device); names used in figures.
        eigen_smooth, aug_smooth: grad-cam's smoothing options.
        precision: ``"fp32"`` (default: exact gradients matter more than speed for one image),
            ``"auto"``, ``"bf16"`` or ``"fp16"``; under autocast the target layer's activations,
            gradients and the scored logits are still cast to fp32.
        channels_last: ``"auto"``, True or False (restored after the call).

    Returns:
        A ``CamResult`` with (n, H, W) heat maps in [0, 1] at the image's resolution.

    Note:
        When the target layer feeds a linear classifier directly (the default "decoder"
        role of DeepLabV3+: cat_conv -> 1x1 cls_conv -> bilinear upsampling), Grad-CAM's
        channel weights are proportional to the classifier's weights for any target
        region, so the map is the rectified class-logit map whatever ``mask`` /
        ``label_map`` say. Use ``method="hirescam"`` (element-wise gradients) or an earlier
        layer ("neck", "backbone") for region-specific maps.
    """
    from segkit.runtime.precision import resolve_precision

    methods = _methods()
    if method not in methods:
        raise ValueError(f"method={method!r} is not supported.{did_you_mean(method, methods)} Choose from {CAM_METHODS}")
    if mask is not None and label_map is not None:
        raise ValueError("pass either mask= (one region for every class) or label_map= (per-class regions), not both")
    dev = model_device(model, device)
    prec = resolve_precision(precision, channels_last, dev, model)
    with eval_mode(model, no_grad=False), prec.model_format(model):
        x, rgb = _to_input(image)
        h, w = x.shape[-2:]
        # pad as the model would: the CAM is made on the model's grid and cropped, not squeezed onto the image
        x, pad_h, pad_w = pad_to_multiple(x, getattr(model, "input_multiple", 1))
        x = prec.input(x.to(dev))
        path, target_layer, notes = resolve_layer(model, layer)
        wrapped = SegmentationOutput(model, prec).to(dev)
        logits, tap = _probe(model, wrapped, x, path, target_layer, notes)
        pred = logits.argmax(1)[0].cpu().numpy()[:h, :w]
        cls_list = _class_list(classes, pred, logits.shape[1])
        regions = [np.pad(r, ((0, pad_h), (0, pad_w))) for r in _regions(cls_list, pred, mask, label_map, (h, w))]
        heat, counts = _run_cam(methods[method], wrapped, model, x, tap, cls_list, regions, notes,
                                eigen_smooth=eigen_smooth, aug_smooth=aug_smooth)
        heat = heat[:, :h, :w]
    if method == "eigencam":
        notes.append("EigenCAM is gradient-free: its map is the same for every class")
    return CamResult(rgb, pred.astype(np.int64), cls_list, heat, counts, path, method,
                     list(class_names) if class_names else None, notes)


@dataclass
class _Tap:
    """The module grad-cam hooks; for a layer returning a list/tuple, an identity spliced into its output."""

    layer: nn.Module
    spliced: nn.Module | None = None
    index: int | None = None

    def splice(self, module: nn.Module, inputs: Any, out: Any) -> Any:
        items = list(out)
        items[self.index] = self.layer(items[self.index])
        return type(out)(items) if isinstance(out, tuple) else items


def _probe(model: nn.Module, wrapped: nn.Module, x: torch.Tensor, path: str, target_layer: nn.Module,
           notes: list[str]) -> tuple[torch.Tensor, _Tap]:
    """One plain forward: the logits (for the prediction) and a check of the layer's output."""
    seen: list[Any] = []
    handle = target_layer.register_forward_hook(lambda m, i, o: seen.append(o))
    try:
        with torch.no_grad():
            logits = wrapped(x)
    finally:
        handle.remove()
    if not seen:
        raise ValueError(f"layer {path!r} did not run in the forward pass of {type(model).__name__}; pick another layer")
    out, tap = seen[-1], _Tap(target_layer)
    if isinstance(out, (list, tuple)):
        # e.g. an HRNet stage returns its branches: explain the first (B,C,h,w) one through an
        # identity "tap" spliced into the output, so grad-cam hooks a tensor
        idx = next((i for i, o in enumerate(out) if isinstance(o, torch.Tensor) and o.ndim == 4), None)
        if idx is not None:
            notes.append(f"layer {path!r} outputs a {type(out).__name__}; explaining its element {idx} "
                         f"{tuple(out[idx].shape[1:])}")
            tap, out = _Tap(nn.Identity(), target_layer, idx), out[idx]
    if not isinstance(out, torch.Tensor) or out.ndim != 4:
        kind = type(out).__name__ if not isinstance(out, torch.Tensor) else f"a {out.ndim}-D tensor"
        raise ValueError(
            f"layer {path!r} outputs {kind}; Grad-CAM needs a (B, C, h, w) tensor. Pass one of its submodules, "
            f"e.g. {[n for n, _ in target_layer.named_children()][-3:]} (prefixed with {path!r}.)"
        )
    if logits.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"model output size {tuple(logits.shape[-2:])} differs from the input size "
                         f"{tuple(x.shape[-2:])}")
    return logits, tap


def _class_list(classes: int | Sequence[int] | None, pred: np.ndarray, k: int) -> list[int]:
    """The classes to explain: `classes`, or every class present in the prediction."""
    if classes is None:
        cls_list = [int(c) for c in np.unique(pred)]
    else:
        cls_list = [int(classes)] if isinstance(classes, (int, np.integer)) else [int(c) for c in classes]
    bad = [c for c in cls_list if not 0 <= c < k]
    if bad:
        raise ValueError(f"classes {bad} out of range for a model with {k} classes (0..{k - 1})")
    return cls_list


def _regions(classes: list[int], pred: np.ndarray, mask: Any, label_map: Any, hw: tuple[int, int]) -> list[np.ndarray]:
    """Per class, the (H, W) bool pixels its target scores: `mask`, ``label_map == c`` or ``pred == c``."""
    if label_map is not None:
        label_map = np.asarray(label_map)
        if label_map.shape != hw:
            raise ValueError(f"label_map must be (H, W) = {hw}; got {label_map.shape}")
    if mask is not None:
        mask = np.asarray(mask).astype(bool)
        if mask.shape != hw:
            raise ValueError(f"mask must be (H, W) = {hw}; got {mask.shape}")
    return [mask if mask is not None else (label_map == c if label_map is not None else pred == c) for c in classes]


def _run_cam(method: type, wrapped: nn.Module, model: nn.Module, x: torch.Tensor, tap: _Tap, classes: list[int],
             regions: list[np.ndarray], notes: list[str], **smooth: bool) -> tuple[np.ndarray, list[int]]:
    """One grad-cam call per class -> ((n, H, W) maps in [0, 1], target pixels per class)."""
    tap_handle = tap.spliced.register_forward_hook(tap.splice) if tap.spliced is not None else None
    # registered before grad-cam's own hooks (made with the method below), so they see the fp32 tensor
    cast_handle = tap.layer.register_forward_hook(_fp32_output)
    cam = method(model=wrapped, target_layers=[tap.layer])
    # input gradients keep the graph alive when the target layer's parameters are frozen
    cam.compute_input_gradient = cam.uses_gradients
    maps, counts = [], []
    try:
        with _no_inplace(model):
            for c, region in zip(classes, regions):
                n = int(region.sum())
                if n == 0:
                    notes.append(f"class {c}: empty target region; scored the whole image instead")
                target = SegmentationTarget(c, region if n else None)
                maps.append(cam(input_tensor=x, targets=[target], **smooth)[0])
                counts.append(n)
    finally:
        cam.activations_and_grads.release()
        cast_handle.remove()
        if tap_handle is not None:
            tap_handle.remove()
        model.zero_grad(set_to_none=True)
    h, w = x.shape[-2:]
    heat = np.clip(np.stack(maps).astype(np.float32), 0.0, 1.0) if maps else np.zeros((0, h, w), np.float32)
    return heat, counts
