"""grad-cam contracts for segmentation models: the method table, a one-tensor output wrapper and the region target."""
from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from segkit._utils import main_logits

__all__ = ["CAM_METHODS", "SegmentationOutput", "SegmentationTarget"]


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


class SegmentationOutput(nn.Module):
    """Wrap a segmentation model so its forward returns one (B, K, H, W) fp32 logits tensor.

    With a resolved ``precision`` (``segkit.runtime.precision.Precision``) the model runs
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
