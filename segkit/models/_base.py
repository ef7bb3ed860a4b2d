"""`SegmentationModel`: the base class of every registered model.

It owns what every model shares: ``num_classes``, ``in_channels``, ``input_multiple`` (the
side multiple its layers need), ``cam_layers`` (Grad-CAM roles -> module paths) and the input
rule. An input whose sides are not multiples of ``input_multiple`` is zero-padded at the
bottom and right and the output cropped back, so a 500x375 VOC image works as it is; only
inputs no padding can serve raise, with one `InputShapeError` message format.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn as nn

from segkit.modules._padding import crop_like, is_tracing, pad_to_multiple

__all__ = ["SegmentationModel", "InputShapeError"]


class InputShapeError(ValueError):
    """An input no padding can serve: not (B, C, H, W), a wrong channel count, or a side
    below the model's minimum."""


class SegmentationModel(nn.Module):
    """Base class: ``(B, in_channels, H, W) -> (B, num_classes, H, W)`` logits at any H, W.

    Subclasses call ``super().__init__(num_classes, input_multiple, ...)``, set ``cam_layers``
    once their submodules exist, and implement :meth:`forward_padded`; they do not override
    ``forward``. Other entry points that take an image (e.g. ``forward_features``) wrap their
    body with :meth:`run_padded`.

    Args:
        num_classes: output classes (>= 1).
        input_multiple: the sides :meth:`forward_padded` needs are multiples of this.
        in_channels: image channels.
        min_input_size: the smallest side the model accepts (after padding would not help).

    Attributes:
        cam_layers: Grad-CAM roles ("backbone", "neck", "decoder", ...) -> module paths.
    """

    def __init__(self, num_classes: int, input_multiple: int = 32, in_channels: int = 3,
                 min_input_size: int = 1) -> None:
        super().__init__()
        for name, value in (("num_classes", num_classes), ("input_multiple", input_multiple),
                            ("in_channels", in_channels), ("min_input_size", min_input_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be a positive int; got {value!r}")
        self.num_classes = num_classes
        self.input_multiple = input_multiple
        self.in_channels = in_channels
        self.min_input_size = min_input_size
        self.cam_layers: dict[str, str] = {}

    def forward_padded(self, x: torch.Tensor) -> Any:
        """The model on an input whose sides are multiples of ``input_multiple``."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward_padded")

    def forward(self, x: torch.Tensor) -> Any:
        """Logits at the input's size (deep-supervision models: a list in training mode)."""
        return self.run_padded(self.forward_padded, x)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise `InputShapeError` for an input no padding can serve; the message names the
        shape received, the shape expected and the fix."""
        shape = tuple(x.shape)
        expected = f"(B, {self.in_channels}, H, W) with H, W >= {self.min_input_size}"
        if x.ndim != 4:
            problem, fix = f"{x.ndim}-D", "add the batch dimension (x[None]) or stack the images"
        elif shape[1] != self.in_channels:
            problem = f"{shape[1]} channels"
            fix = "convert the image to RGB" if self.in_channels == 3 else f"give {self.in_channels} channels"
        elif min(shape[-2:]) < self.min_input_size:
            problem, fix = "too small", f"resize the image so both sides are >= {self.min_input_size}"
        else:
            return
        raise InputShapeError(f"{type(self).__name__} expects input {expected}; got {shape} ({problem}): {fix}")

    def run_padded(self, fn: Callable[[torch.Tensor], Any], x: torch.Tensor) -> Any:
        """``fn(x)`` on `x` padded to ``input_multiple``, its 4-D outputs cropped back (see
        ``segkit.modules._padding.crop_like``). While tracing or exporting, `x` must already fit."""
        if is_tracing():
            return fn(x)
        self.check_input(x)
        h, w = x.shape[-2:]
        x, pad_h, pad_w = pad_to_multiple(x, self.input_multiple)
        out = fn(x)
        return crop_like(out, h, w, h + pad_h, w + pad_w) if pad_h or pad_w else out
