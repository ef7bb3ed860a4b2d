"""Evaluation at the original resolution (docs/training.md, docs/metrics.md).

Each image is letterboxed to the network input, run through the model, and the softmax
map is cropped to the unpadded region, resized bilinearly to the original size and
argmaxed; the label map is scored against the original mask with one
:class:`segkit.metrics.ConfusionMatrix` accumulated over the whole set, and (in :func:`evaluate`
and the final evaluation of a training run, not in the evaluations during training) with
:class:`segkit.metrics.ExtraMetrics`: boundary IoU and object-level detection. Under DDP every
rank scores a shard of the images and the counts are summed, so the metrics equal a
single-process evaluation.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from segkit._utils import main_logits
from segkit.runtime.distributed import resolve_device
from segkit.runtime.precision import Precision, resolve_precision

if TYPE_CHECKING:
    from segkit.metrics import ConfusionMatrix, ExtraMetrics, SegMetrics

__all__ = ["evaluate", "evaluate_confusion", "extra_metrics_for", "letterbox_predict", "predict_labels", "native_shape",
           "crop_eval_scale", "at_model_scale", "unwrap_model"]


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside DDP / DataParallel wrappers."""
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


@torch.no_grad()
def letterbox_predict(
    model: nn.Module,
    images: Sequence[np.ndarray] | np.ndarray,
    input_shape: Sequence[int] = (512, 512),
    device: str | torch.device | None = None,
    return_probs: bool = False,
    precision: str | Precision = "auto",
    channels_last: str | bool = "auto",
) -> list[np.ndarray]:
    """Letterbox inference: per image, a label map (or softmax map) at its original size.

    Args:
        model: Segmentation model returning logits ``(B, K, H, W)``.
        images: RGB uint8 arrays ``(h, w, 3)`` (sizes may differ); one array is one image.
        input_shape: Network input ``(H, W)``.
        device: Where to run (default: the model's device).
        return_probs: Return float32 probabilities ``(K, h, w)`` instead of labels ``(h, w)``.
        precision, channels_last: See :func:`segkit.runtime.precision.resolve_precision`
            (``"auto"``: chosen by the hardware); a resolved ``Precision`` is used as it is.
            The softmax runs on fp32 logits.

    Returns:
        One numpy array per image at its original resolution.
    """
    from segkit.data.transforms import letterbox

    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = [images]
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    model.eval()
    prec = resolve_precision(precision, channels_last, dev, model)
    canvases, infos = zip(*(letterbox(np.asarray(im), tuple(input_shape)) for im in images))
    x = torch.from_numpy(np.stack(canvases)).to(dev).permute(0, 3, 1, 2).float().div_(255.0)  # (B,3,H,W)
    with prec.model_format(model), prec.autocast():
        logits = main_logits(model(prec.input(x)))
    probs = F.softmax(logits.float(), dim=1)  # (B,K,H,W), in fp32
    outs = []
    for p, info in zip(probs, infos):
        full = info.restore(p, mode="bilinear")  # (K,h,w): crop the unpadded region, resize
        outs.append(full.cpu().numpy() if return_probs else full.argmax(0).cpu().numpy())
    return outs


@torch.no_grad()
def evaluate_confusion(
    model: nn.Module,
    dataset: Any,
    device: str | torch.device | None = "auto",
    input_shape: Sequence[int] | None = None,
    batch_size: int = 4,
    max_images: int | None = None,
    num_classes: int | None = None,
    ignore_index: int = 255,
    absent: Literal["nan", "zero"] = "nan",
    distributed: bool | None = None,
    progress: bool = True,
    log_every: int = 0,
    per_image: list[np.ndarray] | None = None,
    precision: str | Precision = "auto",
    channels_last: str | bool = "auto",
    native: float | str | None = None,
    extra: "ExtraMetrics | None" = None,
) -> "ConfusionMatrix":  # noqa: F821
    """Accumulate the original-resolution confusion matrix of `model` on `dataset`.

    Same arguments as :func:`evaluate`; returns the (all-reduced) ``ConfusionMatrix``.
    When `per_image` is a list, each scored image's own ``(K, K)`` matrix is appended to it
    in dataset order (this rank's shard under DDP); they sum to the returned matrix.
    When `extra` is given (:func:`extra_metrics_for`), every scored image's label map is also
    added to it (all-reduced under DDP); with ``per_image=True`` it keeps each image's counts.
    With `native` (a scale, e.g. 1.0, or ``"auto"``), each image runs whole at its own resolution times that
    scale (padded to a multiple of 32) instead of the letterbox to `input_shape`, as models
    trained on crops of full-resolution images (``TrainConfig.train_crop``) need.
    """
    import torch.distributed as dist

    from segkit.metrics import ConfusionMatrix

    if not hasattr(dataset, "load_original"):
        raise ValueError(
            f"dataset {type(dataset).__name__} has no load_original(i); pass a segkit.data.VOCSegmentation "
            "(evaluation scores predictions against the original-resolution masks)"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    net = unwrap_model(model)
    dev = resolve_device(device) if device not in (None,) else next(net.parameters()).device
    if device is not None:
        net.to(dev)
    was_training = net.training
    net.eval()
    prec = resolve_precision(precision, channels_last, dev, net)
    k = _num_classes(dataset, net, num_classes)
    shape = tuple(input_shape or getattr(dataset, "input_shape", (512, 512)))
    n = len(dataset) if max_images is None else min(len(dataset), int(max_images))
    use_dist = dist.is_available() and dist.is_initialized() if distributed is None else distributed
    rank, world = (dist.get_rank(), dist.get_world_size()) if use_dist else (0, 1)
    indices = list(range(rank, n, world))  # this rank's shard
    cm = ConfusionMatrix(k, ignore_index=ignore_index, device=dev, class_names=getattr(dataset, "class_names", None),
                         absent=absent, strict=False)
    bar = tqdm(total=len(indices), desc="Evaluate", unit="img", leave=False, disable=not progress or rank != 0)
    paths = getattr(dataset, "image_paths", None)  # names an image that runs out of memory
    done = 0
    with prec.model_format(net):
        for start in range(0, len(indices), batch_size):
            batch = [dataset.load_original(i) for i in indices[start:start + batch_size]]
            names = [str(paths[i]) if paths is not None else f"image {i}" for i in indices[start:start + batch_size]]
            preds = predict_labels(net, [rgb for rgb, _ in batch], shape, native, dev, prec, names)
            for (rgb, mask), pred, i in zip(batch, preds, indices[start:start + batch_size]):
                if pred.shape != mask.shape:
                    tqdm.write(f"skip image {i}: prediction {pred.shape} and mask {mask.shape} differ")
                    continue
                before = cm.hist.clone() if per_image is not None else None
                cm.update(torch.from_numpy(pred)[None], torch.from_numpy(np.asarray(mask, np.int64))[None])
                if before is not None:
                    per_image.append((cm.hist - before).cpu().numpy())
                if extra is not None:
                    extra.update(pred, np.asarray(mask))
                done += 1
                if log_every and done % log_every == 0 and rank == 0 and world == 1:
                    tqdm.write(cm.compute().progress_line(done, n))
            bar.update(len(batch))
    bar.close()
    if use_dist:
        cm.all_reduce()
        if extra is not None:
            extra.all_reduce(cm.device)
    if was_training:
        net.train()
    return cm


def _num_classes(dataset: Any, net: nn.Module, num_classes: int | None) -> int:
    k = int(num_classes or getattr(dataset, "num_classes", 0) or getattr(net, "num_classes", 0))
    if k < 1:
        raise ValueError("num_classes is unknown: pass num_classes= or use a dataset with .num_classes")
    return k


def extra_metrics_for(model: nn.Module, dataset: Any, num_classes: int | None = None, ignore_index: int = 255,
                      per_image: bool = False) -> "ExtraMetrics":
    """The :class:`~segkit.metrics.ExtraMetrics` (boundary IoU, objects) for evaluating `model` on
    `dataset`: its classes and names, the default band width and size bins, out-of-range target
    values dropped as the confusion matrix drops them."""
    from segkit.metrics import ExtraMetrics

    k = _num_classes(dataset, unwrap_model(model), num_classes)
    return ExtraMetrics(k, getattr(dataset, "class_names", None), ignore_index=ignore_index, strict=False,
                        per_image=per_image)


def predict_labels(net: nn.Module, images: list[np.ndarray], shape: tuple[int, ...], native: float | str | None,
                   dev: torch.device, prec: Precision, names: Sequence[str] | None = None) -> list[np.ndarray]:
    """Label maps of `images`: letterboxed to `shape`, or with `native` whole at that scale of their size.

    Running out of memory is a ``RuntimeError`` naming the largest image of the batch (from
    `names`, else its index), its size and the fix.
    """
    try:
        if not native:
            return letterbox_predict(net, images, shape, dev, precision=prec)
        shapes = [native_shape(rgb, native, shape) for rgb in images]
        if len(set(shapes)) == 1:
            return letterbox_predict(net, images, shapes[0], dev, precision=prec)
        # whole images of different sizes: one at a time
        return [letterbox_predict(net, [rgb], s, dev, precision=prec)[0] for rgb, s in zip(images, shapes)]
    except (RuntimeError, MemoryError) as exc:
        if not _out_of_memory(exc):
            raise
        raise RuntimeError(_memory_message(images, names, native, dev)) from None


_OOM_SIGNS = ("can't allocate memory", "not enough memory", "out of memory")


def _out_of_memory(exc: BaseException) -> bool:
    """torch's CPU allocator ("DefaultCPUAllocator: can't allocate memory"), CUDA's OutOfMemoryError,
    NumPy's MemoryError."""
    return isinstance(exc, MemoryError) or any(s in str(exc) for s in _OOM_SIGNS)


def _memory_message(images: list[np.ndarray], names: Sequence[str] | None, native: float | str | None,
                    dev: torch.device) -> str:
    i = max(range(len(images)), key=lambda j: images[j].shape[0] * images[j].shape[1])
    h, w = images[i].shape[:2]
    name = names[i] if names is not None else f"image {i}"
    where = " (the largest of its batch)" if len(images) > 1 else ""
    # the letterbox bounds the network input, but the class scores are rebuilt at the image's
    # full size; a crop-trained run (native) even runs the network at that size
    work = "runs the network on whole images" if native else "rebuilds the class scores at each image's full size"
    return (f"out of memory on {name}, {w}x{h} px{where}: segkit {work} and has no option to bound it; resize the "
            "image (e.g. to at most 2048 px on its long side) and run again"
            + (", or use --device cpu" if dev.type == "cuda" else ""))


def crop_eval_scale(train: Mapping[str, Any]) -> float | str | None:
    """The `native` scale a run's model is evaluated and used at, from its train config (a
    ``TrainConfig.to_dict()`` or ``config.yaml``'s ``train:``): its ``crop_scale`` when it was
    trained on crops (``train_crop``), else None (the letterbox)."""
    return train.get("crop_scale", 1.0) if train.get("train_crop") else None


def at_model_scale(rgb: np.ndarray, mask: np.ndarray | None, train: Mapping[str, Any]) -> tuple[np.ndarray, Any]:
    """An image (and its mask) at the scale a run's model sees it: a crop-trained model is
    evaluated on whole images at its ``crop_scale`` (`crop_eval_scale`), so a picture that feeds
    it the image directly (Grad-CAM) must resize it first; others are returned as they are."""
    from PIL import Image

    scale = crop_eval_scale(train)
    if scale is None:
        return rgb, mask
    h, w = native_shape(rgb, scale, train.get("input_shape", rgb.shape[:2]))
    rgb = np.asarray(Image.fromarray(np.asarray(rgb, np.uint8)).resize((w, h), Image.BILINEAR))
    if mask is not None:
        mask = np.asarray(Image.fromarray(np.asarray(mask, np.uint8)).resize((w, h), Image.NEAREST))
    return rgb, mask


def native_shape(rgb: np.ndarray, scale: float | str, input_shape: Sequence[int],
                 multiple: int = 32) -> tuple[int, int]:
    """The whole-image input of a crop-trained model: the image's size times its `image_scale`, rounded up
    to a multiple of the network stride (the letterbox then resizes by about that scale and pads)."""
    from segkit.data.rare import image_scale

    s = image_scale(scale, rgb.shape[:2], input_shape)
    h, w = (max(1, round(v * s)) for v in rgb.shape[:2])
    return -(-h // multiple) * multiple, -(-w // multiple) * multiple


def evaluate(
    model: nn.Module,
    dataset: Any,
    device: str | torch.device | None = "auto",
    input_shape: Sequence[int] | None = None,
    batch_size: int = 4,
    max_images: int | None = None,
    num_classes: int | None = None,
    ignore_index: int = 255,
    absent: Literal["nan", "zero"] = "nan",
    distributed: bool | None = None,
    progress: bool = True,
    log_every: int = 0,
    precision: str | Precision = "auto",
    channels_last: str | bool = "auto",
    native: float | str | None = None,
    extra_metrics: bool = True,
) -> "SegMetrics":  # noqa: F821
    """Evaluate `model` on `dataset` at the original resolution (the reference's get_miou).

    Args:
        model: Segmentation model (DDP wrappers are unwrapped).
        dataset: Has ``load_original(i) -> (rgb uint8 (h,w,3), mask int (h,w))``, ``len``,
            ``num_classes``, ``class_names`` and ``input_shape`` (e.g. ``VOCSegmentation``).
        device: ``"auto"``, a device, or None to keep the model where it is.
        input_shape: Letterbox size ``(H, W)`` (default: the dataset's ``input_shape``).
        batch_size: Images per forward pass.
        max_images: Score only the first N images (smoke runs).
        num_classes: Default: the dataset's.
        ignore_index: Mask value that is skipped (values >= num_classes are skipped too).
        absent: Policy for classes absent from GT and prediction (see ``segkit.metrics``).
        distributed: Shard over ``torch.distributed`` ranks and all-reduce (default: when
            a process group is initialised).
        progress: Show a tqdm bar.
        log_every: Print the reference's running line every N images (0: off).
        precision: ``"auto"`` (bf16 on CPUs with native bf16, AMP on CUDA, else fp32),
            ``"fp32"``, ``"bf16"`` or ``"fp16"``; see :mod:`segkit.runtime.precision`. The
            softmax and the confusion matrix are always computed in fp32.
        channels_last: ``"auto"``, True or False (the model is converted for the call and
            restored after it).
        native: Run each whole image at its own resolution times this scale (or ``"auto"``, see
            :func:`segkit.data.rare.image_scale`) instead of the letterbox (models trained with
            ``TrainConfig.train_crop``: pass its ``crop_scale``).
        extra_metrics: Also compute the boundary IoU and the object-level metrics
            (``SegMetrics.boundary``, ``SegMetrics.objects``; ``docs/metrics.md``).

    Returns:
        ``SegMetrics`` (``miou``, ``mpa``, ``accuracy``, ``f1``, per-class arrays, ``report()``).
    """
    extra = extra_metrics_for(model, dataset, num_classes, ignore_index) if extra_metrics else None
    cm = evaluate_confusion(model, dataset, device, input_shape, batch_size, max_images, num_classes,
                            ignore_index, absent, distributed, progress, log_every, precision=precision,
                            channels_last=channels_last, native=native, extra=extra)
    m = cm.compute()
    return replace(m, **extra.compute()) if extra is not None else m
