"""Prediction with letterbox inference and the reference's three overlay types.

``mix_type`` (the reference's ``detect_image``):

* ``0`` / ``"blend"``: the colour mask blended over the image, ``Image.blend(img, mask, 0.7)``;
* ``1`` / ``"mask"``: the colour mask only;
* ``2`` / ``"cutout"``: the image where the prediction is not background, black elsewhere.

Inputs can be an image path, a folder, a PIL image, an RGB uint8 array (e.g. a video
frame; OpenCV frames are BGR, convert them with ``frame[..., ::-1]``) or a list of these.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn as nn
from PIL import Image
from tqdm.auto import tqdm

from segkit.data.palette import IGNORE_COLOR, as_palette, colorize_mask, overlay_mask
from segkit.runtime.distributed import resolve_device
from segkit.inference.evaluate import predict_labels, unwrap_model
from segkit.runtime.precision import Precision, resolve_precision

__all__ = ["predict", "overlay", "colorize", "PredictResult", "MIX_TYPES"]

MIX_TYPES = {"blend": 0, "mask": 1, "cutout": 2}
colorize = colorize_mask  # the former name, kept for users (segkit.engine.colorize)
_IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


def _mix_code(mix_type: int | str) -> int:
    code = MIX_TYPES.get(mix_type, mix_type) if isinstance(mix_type, str) else mix_type
    if code not in (0, 1, 2):
        raise ValueError(f"mix_type={mix_type!r} must be 0/'blend', 1/'mask' or 2/'cutout'")
    return int(code)


def overlay(
    rgb: np.ndarray, label: np.ndarray, mix_type: int | str = 0, palette: Any = None, alpha: float = 0.7
) -> np.ndarray:
    """Render a prediction the reference's way (see the module docstring); returns RGB uint8."""
    rgb = np.asarray(rgb, np.uint8)
    if rgb.shape[:2] != np.asarray(label).shape:
        raise ValueError(f"image {rgb.shape[:2]} and label {np.asarray(label).shape} sizes differ")
    code = _mix_code(mix_type)
    if code == 2:
        return (np.asarray(label)[..., None] != 0).astype(np.uint8) * rgb
    seg = colorize_mask(label, palette)  # also checks every label has a colour
    if code == 1:
        return seg
    pal = as_palette(palette)
    pal = np.concatenate([pal, np.zeros((max(0, 256 - len(pal)), 3), np.uint8)])
    pal[255] = IGNORE_COLOR  # colorize_mask's colours, the void value white
    return overlay_mask(rgb, label, pal, alpha)  # Image.blend(rgb, seg, alpha), bit for bit


@dataclass
class PredictResult:
    """One predicted image: label map and overlay at the original size, and where it was saved."""

    name: str
    label: np.ndarray
    overlay: np.ndarray
    path: Path | None = None

    def class_pixels(self, num_classes: int) -> np.ndarray:
        """Pixels per class (the reference's ``count`` option)."""
        return np.bincount(self.label.ravel(), minlength=num_classes)


def _collect(inputs: Any) -> list[tuple[str, Any]]:
    if isinstance(inputs, (str, Path)):
        p = Path(inputs)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.suffix.lower() in _IMAGE_EXTS)
            if not files:
                raise FileNotFoundError(f"no images ({', '.join(_IMAGE_EXTS)}) in folder {p}")
            return [(f.stem, f) for f in files]
        if not p.is_file():
            raise FileNotFoundError(f"input {p} is neither an image file nor a folder")
        return [(p.stem, p)]
    if isinstance(inputs, Image.Image):
        return [("image", inputs)]
    if isinstance(inputs, np.ndarray):
        if inputs.ndim == 3:
            return [("frame", inputs)]
        if inputs.ndim == 4:  # (N, h, w, 3) frames
            return [(f"frame_{i:05d}", f) for i, f in enumerate(inputs)]
        raise ValueError(f"array input must be (h, w, 3) or (N, h, w, 3) RGB uint8, got shape {inputs.shape}")
    if isinstance(inputs, Iterable):
        out: list[tuple[str, Any]] = []
        for i, item in enumerate(inputs):
            for name, obj in _collect(item):
                out.append((f"{name}_{i:05d}" if name.startswith(("frame", "image")) else name, obj))
        return out
    raise ValueError(f"cannot predict on a {type(inputs).__name__}; pass a path, folder, PIL image or RGB array")


def _unique_names(items: list[tuple[str, Any]], out: Path | None) -> list[tuple[str, Any]]:
    """`items` with one distinct output name each: a name an earlier image took (``a/x.jpg`` and
    ``b/x.jpg``), or whose overlay or mask file would be an input (``--out`` the input folder),
    gets ``_2``, ``_3`` ... so no output replaces another or an input."""
    inputs = {obj.resolve() for _, obj in items if isinstance(obj, Path)}

    def free(name: str) -> bool:
        return out is None or not any((out / f"{name}{end}").resolve() in inputs for end in (".png", "_mask.png"))

    taken: set[str] = set()
    named = []
    for name, obj in items:
        unique, k = name, 1
        while unique in taken or not free(unique):
            k += 1
            unique = f"{name}_{k}"
        taken.add(unique)
        named.append((unique, obj))
    return named


def _as_rgb(obj: Any) -> np.ndarray:
    if isinstance(obj, Path):
        from segkit.data import read_image

        return np.asarray(read_image(obj), np.uint8)
    if isinstance(obj, Image.Image):
        return np.asarray(obj.convert("RGB"), np.uint8)
    arr = np.asarray(obj)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"image array must be (h, w, 3) RGB, got shape {arr.shape}")
    return arr.astype(np.uint8)


@torch.no_grad()
def predict(
    model: nn.Module,
    inputs: Any,
    input_shape: Sequence[int] = (512, 512),
    device: str | torch.device | None = "auto",
    mix_type: int | str = 0,
    out_dir: str | Path | None = None,
    palette: Any = None,
    save_mask: bool = False,
    batch_size: int = 4,
    progress: bool = True,
    on_error: Callable[[str, Exception], None] | None = None,
    precision: str | Precision = "auto",
    channels_last: str | bool = "auto",
    native: float | str | None = None,
) -> list[PredictResult]:
    """Letterbox inference on images, folders or frames; optional PNG overlays.

    Args:
        model: Segmentation model returning logits.
        inputs: Image path, folder, PIL image, RGB array ``(h,w,3)`` / frames ``(N,h,w,3)``, or a list.
        input_shape: Letterbox size ``(H, W)``.
        device: ``"auto"``, a device, or None (keep the model where it is).
        mix_type: 0/"blend", 1/"mask", 2/"cutout".
        out_dir: Save ``<name>.png`` overlays here (and ``<name>_mask.png`` label maps with `save_mask`);
            a name taken by another image or by an input file gets ``_2``, ``_3`` ... (inputs are never replaced).
        palette: ``(K, 3)`` colours (default VOC colours).
        save_mask: Also save the label map as a palette PNG.
        batch_size: Images per forward pass.
        progress: tqdm bar.
        on_error: Called as ``on_error(name, error)`` for an input that cannot be read (a
            corrupt or non-image file; `name` is its path), and the others are still
            predicted. None: the first such input raises.
        precision: ``"auto"`` (bf16 on CPUs with native bf16, AMP on CUDA, else fp32),
            ``"fp32"``, ``"bf16"`` or ``"fp16"``; see :mod:`segkit.runtime.precision`.
        channels_last: ``"auto"``, True or False (restored after the call).
        native: Run each whole image at this scale of its size (or ``"auto"``) instead of the
            letterbox, as a model trained on crops (``TrainConfig.train_crop``) was evaluated;
            ``segkit predict`` passes the run's ``crop_scale``.

    Returns:
        One :class:`PredictResult` per image that was read.
    """
    code = _mix_code(mix_type)
    out = Path(out_dir) if out_dir is not None else None
    items = _unique_names(_collect(inputs), out)
    net = unwrap_model(model)
    dev = resolve_device(device) if device is not None else next(net.parameters()).device
    net.to(dev).eval()
    prec = resolve_precision(precision, channels_last, dev, net)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    results: list[PredictResult] = []
    bar = tqdm(total=len(items), desc="Predict", unit="img", leave=False, disable=not progress)
    with prec.model_format(net):
        for start in range(0, len(items), batch_size):
            chunk, rgbs, sources = [], [], []
            for name, obj in items[start:start + batch_size]:
                source = str(obj) if isinstance(obj, Path) else name
                try:
                    rgbs.append(_as_rgb(obj))
                except (ValueError, OSError) as exc:  # DatasetError is a ValueError
                    if on_error is None:
                        raise
                    on_error(source, exc)
                    continue
                chunk.append(name)
                sources.append(source)
            labels = predict_labels(net, rgbs, tuple(input_shape), native, dev, prec, sources) if rgbs else []
            for name, rgb, label in zip(chunk, rgbs, labels):
                results.append(_result(name, rgb, label, code, out, palette, save_mask))
            bar.update(len(items[start:start + batch_size]))
    bar.close()
    return results


def _result(name: str, rgb: np.ndarray, label: np.ndarray, code: int, out: Path | None, palette: Any,
            save_mask: bool) -> PredictResult:
    """One image's overlay (saved under `out` when given)."""
    label = label.astype(np.uint8 if label.max(initial=0) < 256 else np.int64)
    vis = overlay(rgb, label, code, palette)
    path = None
    if out is not None:
        path = out / f"{name}.png"
        Image.fromarray(vis).save(path)
        if save_mask:
            m = Image.fromarray(label.astype(np.uint8), mode="P")
            m.putpalette(as_palette(palette).ravel().tolist())
            m.save(out / f"{name}_mask.png")
    return PredictResult(name, label, vis, path)
