"""Backbones returning ``(low, deep)``: MobileNetV2 and Xception written in segkit, others via timm."""
from __future__ import annotations

from typing import Any

import torch.nn as nn

from segkit.models.backbones.mobilenetv2 import AttnPolicy, InvertedResidual, MobileNetV2, remap_inserted_attn_keys

__all__ = ["AttnPolicy", "InvertedResidual", "MobileNetV2", "remap_inserted_attn_keys", "build_backbone"]


def build_backbone(name: str, downsample_factor: int = 16, attn_policy: AttnPolicy | str | None = None,
                   **kwargs: Any) -> nn.Module:
    """Build a DeepLab backbone: "mobilenetv2", "xception" or "timm:<timm model name>".

    Every backbone has ``forward(x) -> (low, deep)`` and attributes ``low_channels``,
    ``out_channels`` and ``cam_layer`` (path of its last feature module, relative to it).
    """
    if name in ("mobilenetv2", "mobilenet"):
        return MobileNetV2(downsample_factor, attn_policy=attn_policy, **kwargs)
    if attn_policy is not None:
        raise ValueError(f"attn_policy places attention inside MobileNetV2 blocks only; got backbone={name!r}. "
                         f"Use backbone='mobilenetv2' or attn_policy=None")
    if name == "xception":
        from segkit.models.backbones.xception import Xception

        return Xception(downsample_factor, **kwargs)
    if name.startswith("timm:"):
        from segkit.models.backbones.timm_backbone import TimmBackbone

        return TimmBackbone(name[len("timm:"):], downsample_factor=downsample_factor, **kwargs)
    raise ValueError(f"unknown backbone {name!r}; use 'mobilenetv2', 'xception' or 'timm:<name>' "
                     f"(e.g. 'timm:resnet50')")
