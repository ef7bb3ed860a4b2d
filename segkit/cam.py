"""Explainability for segmentation: Grad-CAM heat maps and attention-map capture.

Grad-CAM is built on ``pytorch-grad-cam`` (the ``grad-cam`` package) and fits its
contracts (STYLE.md §2.12):

- ``SegmentationOutput(model)`` makes the model return one logits tensor (a
  ``[main, *aux]`` list or a ``{"out": ...}`` dict is reduced to the main logits);
- ``SegmentationTarget(category, mask)`` scores the sum of the class logit over a mask:
  by default the pixels *predicted* as that class, or a user mask (e.g. the ground truth);
- the target layer is a module path or a role of ``model.cam_layers`` ("backbone",
  "neck", "decoder"); without ``cam_layers`` the last feature conv before the classifier
  is used, and the result says so in its ``notes``.

In-place activations (``ReLU(inplace=True)`` and friends) are switched off for the
duration of a CAM call and restored afterwards: the reference hit autograd in-place
errors with them, and an in-place ReLU after the target layer would also overwrite the
activation grad-cam saved (on the CPU ``.cpu()`` does not copy). Input gradients are enabled, so a frozen backbone still yields maps.

Attention capture (``capture_attention``) finds attention modules by type anywhere in a
model (built in, or inserted with ``segkit.stitch``) and records, through forward hooks:

==============  ================================================================  ==========================
kind            ``map`` (feature resolution, first image of the batch)            range
==============  ================================================================  ==========================
ggca            mean over channels of att_h x att_w (the gate the block applies)  (0, 1)
cbam            the spatial attention map sigma(conv7x7([mean_c; max_c]))         (0, 1)
window_attn     attention each token receives, mean over queries and heads, x N   [0, N], mean 1 per window
mobilevit_attn  the same for MobileViT patch attention (mean over layers)         [0, N], mean 1 per patch
attn_gate       per-pixel kept energy ||w * x|| / ||x|| of the channel gate w    (0, 1)
==============  ================================================================  ==========================

``raw`` holds the underlying tensors (GGCA ``att_h`` (C, H) and ``att_w`` (C, W), CBAM
``channel`` (C,), AttnGate ``weights`` (C,), window-attention ``weights`` per window).
The gates are recomputed inside the hook from the module's own submodules and its input,
in eval mode (exact: a test checks they reproduce the module's output), so the attention
modules need no changes.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from segkit._utils import did_you_mean, main_logits

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "CAM_METHODS",
    "SegmentationOutput",
    "SegmentationTarget",
    "CamResult",
    "AttentionMap",
    "resolve_layer",
    "gradcam",
    "overlay",
    "colorize_mask",
    "cam_grid",
    "plot_cams",
    "capture_attention",
    "plot_attention",
    "attention_kinds",
]


def _methods() -> dict[str, type]:
    from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, XGradCAM

    return {
        "gradcam": GradCAM,
        "gradcam++": GradCAMPlusPlus,
        "hirescam": HiResCAM,
        "eigencam": EigenCAM,  # gradient-free: the first principal component, class-agnostic
        "xgradcam": XGradCAM,
        "layercam": LayerCAM,
    }


CAM_METHODS = ("gradcam", "gradcam++", "hirescam", "eigencam", "xgradcam", "layercam")


# ----------------------------------------------------------------------------- grad-cam glue


class SegmentationOutput(nn.Module):
    """Wrap a segmentation model so its forward returns one (B, K, H, W) fp32 logits tensor.

    With a resolved ``precision`` (``segkit.engine.precision.Precision``) the model runs
    under its autocast; the logits are cast to fp32 either way.
    """

    def __init__(self, model: nn.Module, precision: Any = None) -> None:
        super().__init__()
        self.model = model
        self.precision = precision

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with self.precision.autocast() if self.precision is not None else contextlib.nullcontext():
            out = main_logits(self.model(x))
        return out.float()


class SegmentationTarget:
    """grad-cam target: the sum of class `category`'s logit over the pixels of `mask`.

    Args:
        category: class index.
        mask: (H, W) bool/0-1 array or tensor selecting the pixels; None scores every pixel.
    """

    def __init__(self, category: int, mask: np.ndarray | torch.Tensor | None = None) -> None:
        self.category = int(category)
        self.mask = None if mask is None else torch.as_tensor(np.asarray(mask), dtype=torch.float32)

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        # grad-cam passes one image's output (K, H, W); a batch (B, K, H, W) also works
        logit = model_output[..., self.category, :, :]
        if self.mask is None:
            return logit.sum()
        return (logit * self.mask.to(logit.device)).sum()


def _fp32_output(module: nn.Module, inputs: tuple, output: Any) -> Any:
    """Forward hook: a reduced-precision tensor output becomes fp32, so the activations and
    gradients grad-cam reads are fp32 (NumPy has no bfloat16)."""
    if isinstance(output, torch.Tensor) and output.dtype in (torch.bfloat16, torch.float16):
        return output.float()
    return None


@contextlib.contextmanager
def _no_inplace(model: nn.Module):
    """Temporarily set ``inplace=False`` on every module that has the flag."""
    changed = [m for m in model.modules() if getattr(m, "inplace", False) is True]
    for m in changed:
        m.inplace = False
    try:
        yield model
    finally:
        for m in changed:
            m.inplace = True


def _last_feature_conv(model: nn.Module) -> str | None:
    """Path of the last Conv2d (in registration order) that is not the classifier.

    The classifier is recognised by ``out_channels == model.num_classes`` (without that
    attribute: the out_channels of the last conv).
    """
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    k = getattr(model, "num_classes", None) or (convs[-1][1].out_channels if convs else None)
    for name, conv in reversed(convs):
        if k is None or conv.out_channels != k:
            return name
    return convs[-1][0] if convs else None


def resolve_layer(model: nn.Module, layer: str | None = None) -> tuple[str, nn.Module, list[str]]:
    """The CAM target layer as (path, module, notes).

    Args:
        model: the segmentation model.
        layer: a role of ``model.cam_layers`` ("backbone", "neck", "decoder"), a module
            path for ``model.get_submodule``, or None: the "decoder" role, else "neck",
            else "backbone", else the last feature conv before the classifier.
    """
    roles: dict[str, str] = dict(getattr(model, "cam_layers", None) or {})
    notes: list[str] = []
    if layer is None:
        for role in ("decoder", "neck", "backbone"):
            if role in roles:
                layer = roles[role]
                notes.append(f"target layer: cam_layers[{role!r}] = {layer!r}")
                break
        else:
            layer = _last_feature_conv(model)
            if layer is None:
                raise ValueError(f"{type(model).__name__} has no cam_layers and no Conv2d; pass layer='<module path>'")
            notes.append(f"{type(model).__name__} has no cam_layers; using the last feature conv {layer!r}")
    elif layer in roles:
        notes.append(f"target layer: cam_layers[{layer!r}] = {roles[layer]!r}")
        layer = roles[layer]
    try:
        module = model.get_submodule(layer) if layer else model
    except AttributeError:
        names = [n for n, _ in model.named_modules() if n]
        raise ValueError(
            f"layer={layer!r} is neither a cam_layers role ({sorted(roles) or 'none defined'}) nor a module path of "
            f"{type(model).__name__}.{did_you_mean(layer, names)}"
        ) from None
    return layer, module, notes


# ----------------------------------------------------------------------------- images


def colorize_mask(mask: np.ndarray, palette: np.ndarray | None = None, ignore_index: int = 255) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) uint8 colours (VOC palette; ignore pixels white)."""
    from segkit.data import voc_palette

    pal = voc_palette() if palette is None else np.asarray(palette, dtype=np.uint8)
    mask = np.asarray(mask)
    out = pal[np.clip(mask, 0, len(pal) - 1)]
    out[mask == ignore_index] = 255
    return out


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """Blend a heat map (H, W) in [0, 1] over an RGB image -> (H, W, 3) uint8.

    Args:
        image: (H, W, 3) uint8, or float in [0, 1].
        heat: (H, W) values in [0, 1] (other sizes are resized bilinearly).
        alpha: weight of the heat map.
        cmap: a matplotlib colormap name.
    """
    import matplotlib

    img = np.asarray(image)
    img = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)
    heat = np.asarray(heat, dtype=np.float32)
    if heat.shape != img.shape[:2]:
        heat = _resize(heat, img.shape[:2])
    colored = matplotlib.colormaps[cmap](np.clip(heat, 0, 1))[..., :3].astype(np.float32)
    return (np.clip((1 - alpha) * img + alpha * colored, 0, 1) * 255).round().astype(np.uint8)


def _resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    t = torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)[None, None]
    return F.interpolate(t, size=tuple(size), mode="bilinear", align_corners=False)[0, 0].numpy()


def _to_input(image: Any) -> tuple[torch.Tensor, np.ndarray]:
    """Any image form -> ((1, 3, H, W) float tensor in [0, 1], (H, W, 3) float RGB)."""
    if isinstance(image, (str, Path)):
        from PIL import Image

        image = np.asarray(Image.open(image).convert("RGB"))
    if not isinstance(image, (torch.Tensor, np.ndarray)):  # PIL image
        image = np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"image array must be (H, W, 3) RGB; got shape {image.shape}")
        arr = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)
        x = torch.from_numpy(arr).permute(2, 0, 1)[None].contiguous()
    else:
        x = image.detach().float()
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[0] != 1 or x.shape[1] != 3:
            raise ValueError(f"image tensor must be (3, H, W) or (1, 3, H, W) in [0, 1]; got shape {tuple(image.shape)}")
    rgb = x[0].permute(1, 2, 0).cpu().numpy()
    return x, np.clip(rgb, 0, 1)


# ----------------------------------------------------------------------------- grad-cam


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
            It runs in eval mode; its training flag is restored and its ``.grad`` fields
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
        device: where to run; default the model's device.
        class_names: names used in figures.
        eigen_smooth, aug_smooth: grad-cam's smoothing options.
        precision: ``"fp32"`` (default), ``"auto"``, ``"bf16"`` or ``"fp16"`` (see
            ``segkit.engine.precision``). fp32 by default because a CAM is one image's
            explanation, where exact gradients matter more than speed. Under autocast the
            model's forward and backward run in reduced precision, the target layer's
            activations and gradients (what the CAM is made of) are cast to fp32, and so are
            the logits the targets score.
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
    from segkit.engine.precision import resolve_precision

    was_training = model.training
    param = next(model.parameters(), None)
    dev = torch.device(device) if device is not None else (param.device if param is not None else torch.device("cpu"))
    prec = resolve_precision(precision, channels_last, dev, model)
    try:
        with prec.model_format(model):
            return _gradcam(model, image, classes, mask=mask, label_map=label_map, layer=layer, method=method,
                            device=dev, class_names=class_names, eigen_smooth=eigen_smooth, aug_smooth=aug_smooth,
                            precision=prec)
    finally:
        model.train(was_training)


def _gradcam(
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
    precision: Any = None,
) -> CamResult:
    methods = _methods()
    if method not in methods:
        raise ValueError(f"method={method!r} is not supported.{did_you_mean(method, methods)} Choose from {CAM_METHODS}")
    if mask is not None and label_map is not None:
        raise ValueError("pass either mask= (one region for every class) or label_map= (per-class regions), not both")
    param = next(model.parameters(), None)
    dev = torch.device(device) if device is not None else (param.device if param is not None else torch.device("cpu"))
    x, rgb = _to_input(image)
    x = x.to(dev) if precision is None else precision.input(x.to(dev))
    h, w = x.shape[-2:]
    path, target_layer, notes = resolve_layer(model, layer)
    wrapped = SegmentationOutput(model, precision).to(dev)
    model.eval()

    # One plain forward: the prediction (default targets) and a check of the layer's output.
    seen: list[Any] = []
    handle = target_layer.register_forward_hook(lambda m, i, o: seen.append(o))
    try:
        with torch.no_grad():
            logits = wrapped(x)
    finally:
        handle.remove()
    if not seen:
        raise ValueError(f"layer {path!r} did not run in the forward pass of {type(model).__name__}; pick another layer")
    out = seen[-1]
    tap = tap_handle = None
    if isinstance(out, (list, tuple)):
        # e.g. an HRNet stage returns its branches: explain the first (B,C,h,w) one through an
        # identity "tap" spliced into the output, so grad-cam hooks a tensor
        idx = next((i for i, o in enumerate(out) if isinstance(o, torch.Tensor) and o.ndim == 4), None)
        if idx is not None:
            tap = nn.Identity()

            def splice(m: nn.Module, inp: Any, o: Any, tap: nn.Module = tap, idx: int = idx) -> Any:
                items = list(o)
                items[idx] = tap(items[idx])
                return type(o)(items) if isinstance(o, tuple) else items

            notes.append(f"layer {path!r} outputs a {type(out).__name__}; explaining its element {idx} "
                         f"{tuple(out[idx].shape[1:])}")
            spliced_layer, target_layer, out = target_layer, tap, out[idx]
    if not isinstance(out, torch.Tensor) or out.ndim != 4:
        kind = type(out).__name__ if not isinstance(out, torch.Tensor) else f"a {out.ndim}-D tensor"
        raise ValueError(
            f"layer {path!r} outputs {kind}; Grad-CAM needs a (B, C, h, w) tensor. Pass one of its submodules, "
            f"e.g. {[n for n, _ in target_layer.named_children()][-3:]} (prefixed with {path!r}.)"
        )
    if logits.shape[-2:] != (h, w):
        raise ValueError(f"model output size {tuple(logits.shape[-2:])} differs from the input size {(h, w)}")
    pred = logits.argmax(1)[0].cpu().numpy()
    k = logits.shape[1]

    if classes is None:
        cls_list = [int(c) for c in np.unique(pred)]
    else:
        cls_list = [int(classes)] if isinstance(classes, (int, np.integer)) else [int(c) for c in classes]
    bad = [c for c in cls_list if not 0 <= c < k]
    if bad:
        raise ValueError(f"classes {bad} out of range for a model with {k} classes (0..{k - 1})")

    if label_map is not None:
        label_map = np.asarray(label_map)
        if label_map.shape != (h, w):
            raise ValueError(f"label_map must be (H, W) = {(h, w)}; got {label_map.shape}")
    if mask is not None:
        mask = np.asarray(mask).astype(bool)
        if mask.shape != (h, w):
            raise ValueError(f"mask must be (H, W) = {(h, w)}; got {mask.shape}")

    if tap is not None:
        tap_handle = spliced_layer.register_forward_hook(splice)
    # registered before grad-cam's own hooks, so they see the fp32 tensor
    cast_handle = target_layer.register_forward_hook(_fp32_output)
    cam = methods[method](model=wrapped, target_layers=[target_layer])
    # input gradients keep the graph alive when the target layer's parameters are frozen
    cam.compute_input_gradient = cam.uses_gradients
    maps, counts = [], []
    try:
        with _no_inplace(model):
            for c in cls_list:
                region = mask if mask is not None else (label_map == c if label_map is not None else pred == c)
                n = int(region.sum())
                if n == 0:
                    notes.append(f"class {c}: empty target region; scored the whole image instead")
                target = SegmentationTarget(c, region if n else None)
                maps.append(cam(input_tensor=x, targets=[target], eigen_smooth=eigen_smooth, aug_smooth=aug_smooth)[0])
                counts.append(n)
    finally:
        cam.activations_and_grads.release()
        cast_handle.remove()
        if tap_handle is not None:
            tap_handle.remove()
        model.zero_grad(set_to_none=True)
    heat = np.clip(np.stack(maps).astype(np.float32), 0.0, 1.0) if maps else np.zeros((0, h, w), np.float32)
    if method == "eigencam":
        notes.append("EigenCAM is gradient-free: its map is the same for every class")
    return CamResult(rgb, pred.astype(np.int64), cls_list, heat, counts, path, method,
                     list(class_names) if class_names else None, notes)


# ----------------------------------------------------------------------------- figures


def plot_cams(result: CamResult, gt: np.ndarray | None = None, alpha: float = 0.5,
              palette: np.ndarray | None = None, figsize_per: float = 2.6) -> "Figure":
    """One row: image, ground truth (if given), prediction, a CAM overlay per class."""
    import matplotlib.pyplot as plt

    panels = [("image", result.image)]
    if gt is not None:
        panels.append(("ground truth", colorize_mask(gt, palette)))
    panels.append(("prediction", colorize_mask(result.prediction, palette)))
    for c, ov in zip(result.classes, result.overlays(alpha)):
        panels.append((f"{result.method}: {result.name(c)}", ov))
    fig, axes = plt.subplots(1, len(panels), figsize=(figsize_per * len(panels), figsize_per), squeeze=False)
    for ax, (title, img) in zip(axes[0], panels):
        ax.imshow(img)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig


def cam_grid(
    models: Mapping[str, nn.Module],
    images: Sequence[Any],
    classes: Sequence[int],
    *,
    gts: Sequence[np.ndarray] | None = None,
    class_names: Sequence[str] | None = None,
    layer: str | Mapping[str, str] | None = None,
    method: str = "gradcam",
    target: str = "pred",
    alpha: float = 0.5,
    palette: np.ndarray | None = None,
    figsize_per: float = 2.2,
    save: str | Path | None = None,
    precision: str = "fp32",
    channels_last: str | bool = "auto",
) -> "Figure":
    """Figure grid: one row per image; image, GT, then per model its prediction and a CAM per class.

    Args:
        models: {column label: model}, e.g. {"baseline": m0, "improved": m1} (side by side).
        images: images accepted by ``gradcam``.
        classes: class indices to explain (one CAM column each, per model).
        gts: optional (H, W) ground-truth masks, one per image.
        class_names: names for the column titles.
        layer: one layer (role or path) for all models, or {label: layer}.
        method: a ``CAM_METHODS`` name.
        target: "pred" (pixels predicted as the class) or "gt" (pixels labelled as the
            class; needs ``gts``).
        alpha: heat-map weight in the overlays.
        palette: (n, 3) uint8 class colours for GT/prediction (default: the VOC palette).
        save: a path to save the figure to (PNG/PDF/SVG, by extension, 200 dpi).
        precision, channels_last: as in ``gradcam`` (default fp32).

    A CAM panel whose class has no target pixels (with target="pred": not predicted) scored
    the whole image instead; its title says "(no pixels)".

    Returns:
        The matplotlib Figure; ``fig.cam_results`` holds the ``CamResult`` per (image, model).
    """
    import matplotlib.pyplot as plt

    if target not in ("pred", "gt"):
        raise ValueError(f"target must be 'pred' or 'gt'; got {target!r}")
    if target == "gt" and gts is None:
        raise ValueError("target='gt' needs gts= (one ground-truth mask per image)")
    if gts is not None and len(gts) != len(images):
        raise ValueError(f"gts has {len(gts)} masks for {len(images)} images; pass one per image")
    names = list(class_names) if class_names else None
    ncols = (2 if gts is not None else 1) + len(models) * (1 + len(classes))
    fig, axes = plt.subplots(len(images), ncols, figsize=(figsize_per * ncols, figsize_per * len(images)), squeeze=False)
    results: dict[tuple[int, str], CamResult] = {}
    for r, img in enumerate(images):
        row = []
        gt = None if gts is None else np.asarray(gts[r])
        res0 = None
        for label, model in models.items():
            lay = layer.get(label) if isinstance(layer, Mapping) else layer
            res = gradcam(model, img, list(classes), layer=lay, method=method, class_names=names,
                          label_map=gt if target == "gt" else None, precision=precision,
                          channels_last=channels_last)
            results[(r, label)] = res
            res0 = res0 or res
            row.append((f"{label}: prediction", colorize_mask(res.prediction, palette)))
            for c, n, ov in zip(res.classes, res.target_pixels, res.overlays(alpha)):
                row.append((f"{label}: {res.name(c)}" + ("" if n else " (no pixels)"), ov))
        lead = [("image", res0.image)] + ([("ground truth", colorize_mask(gt, palette))] if gt is not None else [])
        for c, (title, panel) in enumerate(lead + row):
            ax = axes[r, c]
            ax.imshow(panel)
            ax.axis("off")
            if r == 0 or "(no pixels)" in title:
                ax.set_title(title, fontsize=7)
    fig.suptitle(f"{method} per class, target pixels: {'ground truth' if target == 'gt' else 'prediction'}", fontsize=9)
    fig.tight_layout()
    fig.cam_results = results
    if save is not None:
        Path(save).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(save, dpi=200, bbox_inches="tight")
    return fig


# ----------------------------------------------------------------------------- attention


@dataclass
class AttentionMap:
    """The attention of one module for the first image of the batch.

    Attributes:
        path: module path in the model.
        kind: "ggca", "cbam", "window_attn", "mobilevit_attn" or "attn_gate" (module docstring).
        module_type: the module's class name.
        map: (h, w) float32 at the module's feature resolution (range per kind).
        raw: the underlying gates/weights as numpy arrays.
        value_range: the theoretical range of ``map``.
    """

    path: str
    kind: str
    module_type: str
    map: np.ndarray
    raw: dict[str, np.ndarray]
    value_range: tuple[float, float]

    def normalized(self, size: tuple[int, int] | None = None) -> np.ndarray:
        """``map`` min-max scaled to [0, 1], optionally resized (bilinear) to `size` (H, W)."""
        m = self.map.astype(np.float32)
        m = (m - m.min()) / (m.max() - m.min() + 1e-12)
        return m if size is None else np.clip(_resize(m, size), 0, 1)


def _first_input(inputs: tuple) -> torch.Tensor:
    return inputs[0] if isinstance(inputs, tuple) else inputs


def _ggca(module: nn.Module, inputs: tuple, output: Any) -> dict[str, Any]:
    x = _first_input(inputs)
    b, c, h, w = x.shape
    xg = x.reshape(-1, module.group_channels, h, w)  # (B,C,H,W) -> (B*G, Cg, H, W)
    h_avg, h_max, w_avg, w_max = module._pool(xg)
    att_h = torch.sigmoid(module.transform(h_avg) + module.transform(h_max))  # (B*G, Cg, H, 1)
    att_w = torch.sigmoid(module.transform(w_avg) + module.transform(w_max))  # (B*G, Cg, 1, W)
    att_h = att_h.reshape(b, c, h)[0]  # (C, H), first image
    att_w = att_w.reshape(b, c, w)[0]  # (C, W)
    gate = torch.einsum("ch,cw->hw", att_h, att_w) / c  # mean over channels of att_h x att_w
    return {"map": gate, "raw": {"att_h": att_h, "att_w": att_w}, "range": (0.0, 1.0)}


def _cbam(module: nn.Module, inputs: tuple, output: Any) -> dict[str, Any]:
    x = _first_input(inputs)
    ch = module.ca(x)  # (B, C, 1, 1)
    sp = module.sa(x * ch)  # (B, 1, H, W)
    return {"map": sp[0, 0], "raw": {"channel": ch[0, :, 0, 0], "spatial": sp[0, 0]}, "range": (0.0, 1.0)}


def _gate_map(x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Per-pixel fraction of activation energy a channel gate keeps: ||w*x|| / ||x||."""
    x0 = x[0].float()  # (C, H, W)
    w0 = weights.reshape(-1, 1, 1).float()
    num = (w0 * x0).pow(2).sum(0).sqrt()
    den = x0.pow(2).sum(0).sqrt()
    # where the input is all zero the ratio is undefined; use the mean gate there
    return torch.where(den > 0, num / den.clamp_min(1e-12), weights.float().mean())


_Extractor = Callable[[nn.Module, tuple, Any], dict[str, Any]]


def _received(a: torch.Tensor) -> torch.Tensor:
    """(..., heads, N, N) softmax weights -> (..., N): attention each token receives, mean over
    heads and queries, times N (1 = uniform; the mean over a window's tokens is exactly 1)."""
    n = a.shape[-1]
    return a.mean(dim=(-3, -2)) * n


def _tb_weights(block: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """Softmax weights of a ``window_attention.TransformerBlock`` on (N, L, C) tokens -> (N, h, L, L)."""
    x = block.norm1(tokens)
    n, l, c = x.shape
    qkv = block.qkv(x).reshape(n, l, 3, block.heads, block.head_dim).permute(2, 0, 3, 1, 4)  # (3, N, h, L, d)
    return ((qkv[0] * block.scale) @ qkv[1].transpose(-2, -1)).softmax(dim=-1)


def _window_attn(module: nn.Module, inputs: tuple, output: Any) -> dict[str, Any]:
    from segkit.modules.window_attention import window_partition, window_unpartition

    x = _first_input(inputs)[:1]  # first image only
    _, c, h, w = x.shape
    ws = module.window_size
    tokens = window_partition(x, ws).flatten(2).transpose(1, 2)  # (nW, ws*ws, C)
    a = _tb_weights(module.block, tokens)  # (nW, heads, L, L)
    rec = _received(a).reshape(-1, 1, ws, ws)  # (nW, 1, ws, ws)
    m = window_unpartition(rec, ws, h, w)[0, 0]  # (H, W)
    return {"map": m, "raw": {"weights": a}, "range": (0.0, float(ws * ws))}


def _mhsa_weights(attn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Softmax weights of a ``mobilevit.MultiHeadAttention`` on (B, P, N, D) -> (B, P, h, N, N)."""
    b, p, n, d = x.shape
    qkv = attn.to_qkv(x).reshape(b, p, n, 3, attn.heads, attn.head_dim).permute(3, 0, 1, 4, 2, 5)
    return ((qkv[0] * attn.scale) @ qkv[1].transpose(-2, -1)).softmax(dim=-1)


def _mobilevit(module: nn.Module, inputs: tuple, output: Any) -> dict[str, Any]:
    x = _first_input(inputs)[:1]
    z = module.local_rep(x)
    _, d, h, w = z.shape
    ph, pw = module.ph, module.pw
    nh, nw = h // ph, w // pw
    z = z.reshape(1, d, nh, ph, nw, pw)
    intra = module.attn_axis == "intra_patch"
    if intra:
        t = z.permute(0, 2, 4, 3, 5, 1).reshape(1, nh * nw, ph * pw, d)  # (1, P, N=ph*pw, d)
    else:
        t = z.permute(0, 3, 5, 2, 4, 1).reshape(1, ph * pw, nh * nw, d)  # (1, P, N=nh*nw, d)
    rec, weights = [], []
    for layer in module.transformer:  # every layer's attention, on that layer's input
        a = _mhsa_weights(layer.attn, layer.norm1(t))  # (1, P, heads, N, N)
        weights.append(a[0])
        rec.append(_received(a)[0])  # (P, N)
        t = layer(t)
    r = torch.stack(rec).mean(0)  # mean over layers
    if intra:
        m = r.reshape(nh, nw, ph, pw).permute(0, 2, 1, 3).reshape(h, w)
    else:
        m = r.reshape(ph, pw, nh, nw).permute(2, 0, 3, 1).reshape(h, w)
    n = ph * pw if intra else nh * nw
    return {"map": m, "raw": {f"weights_layer{i}": a for i, a in enumerate(weights)}, "range": (0.0, float(n))}


def _attn_gate(module: nn.Module, inputs: tuple, output: Any) -> dict[str, Any]:
    x = _first_input(inputs)
    wts = module.fc(x.mean((2, 3)))  # (B, C)
    return {"map": _gate_map(x, wts[0]), "raw": {"weights": wts[0]}, "range": (0.0, 1.0)}


def _extractors() -> list[tuple[str, type, _Extractor]]:
    """(kind, module class, extractor) for every attention module segkit defines.

    Classes are imported lazily, so a module family that is missing is simply not captured.
    """
    import importlib

    table = [
        ("ggca", "segkit.modules.ggca", "_GGCABase", _ggca),  # every GGCA variant
        ("cbam", "segkit.modules.cbam", "CBAM", _cbam),
        ("window_attn", "segkit.modules.window_attention", "WindowTransformerBlock", _window_attn),
        ("mobilevit_attn", "segkit.modules.mobilevit", "MobileViTAttentionBlock", _mobilevit),
        ("attn_gate", "segkit.modules.attn_gate", "AttnGate", _attn_gate),
    ]
    found = []
    for kind, mod, cls, fn in table:
        try:
            found.append((kind, getattr(importlib.import_module(mod), cls), fn))
        except (ImportError, AttributeError):
            continue
    return found


def attention_kinds() -> list[str]:
    """The attention kinds ``capture_attention`` can record in this installation."""
    return sorted({k for k, _, _ in _extractors()})


def capture_attention(
    model: nn.Module,
    image: Any,
    kinds: Iterable[str] | None = None,
    device: str | torch.device | None = None,
) -> list[AttentionMap]:
    """Run `model` once on `image` and record the attention of every supported module.

    Modules are found by type anywhere in the model, so blocks inserted with
    ``segkit.stitch`` are captured like built-in ones. The forward runs in eval mode under
    ``no_grad``; the model's training flag is restored.

    Args:
        model: any model.
        image: as in ``gradcam`` (a tensor (B, 3, H, W) is also accepted; image 0 is recorded).
        kinds: restrict to these kinds (see ``attention_kinds()``); None records all.
        device: default the model's device.

    Returns:
        One ``AttentionMap`` per module call, in execution order.
    """
    available = _extractors()
    known = {k for k, _, _ in available}
    if kinds is not None:
        kinds = set(kinds)
        bad = kinds - known
        if bad:
            raise ValueError(f"unknown attention kind(s) {sorted(bad)}; available: {sorted(known)}")
    if isinstance(image, torch.Tensor) and image.ndim == 4:
        x = image.float()
    else:
        x, _ = _to_input(image)
    param = next(model.parameters(), None)
    dev = torch.device(device) if device is not None else (param.device if param is not None else torch.device("cpu"))
    maps: list[AttentionMap] = []
    handles = []

    def make_hook(path: str, kind: str, fn: _Extractor):
        def hook(module: nn.Module, inputs: tuple, output: Any) -> None:
            d = fn(module, inputs, output)
            maps.append(
                AttentionMap(
                    path, kind, type(module).__name__,
                    d["map"].detach().float().cpu().numpy(),
                    {k: v.detach().float().cpu().numpy() for k, v in d["raw"].items()},
                    d["range"],
                )
            )

        return hook

    was_training = model.training
    model.eval()
    try:
        for path, module in model.named_modules():
            for kind, cls, fn in available:
                if isinstance(module, cls) and (kinds is None or kind in kinds):
                    handles.append(module.register_forward_hook(make_hook(path, kind, fn)))
                    break
        with torch.no_grad():
            model(x.to(dev))
    finally:
        for hd in handles:
            hd.remove()
        model.train(was_training)
    return maps


def plot_attention(
    image: Any,
    maps: Sequence[AttentionMap],
    *,
    alpha: float = 0.5,
    cmap: str = "jet",
    ncols: int = 4,
    figsize_per: float = 2.4,
    save: str | Path | None = None,
) -> "Figure":
    """The image, then each attention map (min-max scaled, upsampled) over it.

    GGCA panels also show the channel-mean height and width gates as side profiles.
    """
    import matplotlib.pyplot as plt

    _, rgb = _to_input(image) if not (isinstance(image, torch.Tensor) and image.ndim == 4) else _to_input(image[:1])
    size = rgb.shape[:2]
    n = len(maps) + 1
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(figsize_per * ncols, figsize_per * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes.flat[0].imshow(rgb)
    axes.flat[0].set_title("image", fontsize=8)
    for ax, m in zip(list(axes.flat)[1:], maps):
        ax.imshow(overlay(rgb, m.normalized(size), alpha, cmap))
        lo, hi = float(m.map.min()), float(m.map.max())
        ax.set_title(f"{m.kind} {m.path}\n{m.map.shape[0]}x{m.map.shape[1]}, [{lo:.2f}, {hi:.2f}]", fontsize=7)
        if m.kind == "ggca":
            # side profiles: mean height gate (left edge) and width gate (bottom edge)
            ah, aw = m.raw["att_h"].mean(0), m.raw["att_w"].mean(0)
            ys = (np.arange(len(ah)) + 0.5) * size[0] / len(ah)
            xs = (np.arange(len(aw)) + 0.5) * size[1] / len(aw)
            span = 0.15
            ax.plot(_spread(ah) * size[1] * span, ys, color="white", lw=1)
            ax.plot(xs, size[0] - _spread(aw) * size[0] * span, color="white", lw=1)
    fig.tight_layout()
    if save is not None:
        Path(save).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(save, dpi=200, bbox_inches="tight")
    return fig


def _spread(v: np.ndarray) -> np.ndarray:
    return (v - v.min()) / (v.max() - v.min() + 1e-12)
