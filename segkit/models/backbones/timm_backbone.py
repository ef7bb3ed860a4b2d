"""timm backbones for DeepLab comparisons (``features_only``, never downloaded).

Any timm model with ``features_only`` support becomes a ``(low, deep)`` backbone: the low
tap is the feature at stride `low_stride` (4, as MobileNetV2's 24-channel tap; the nearest
larger stride when a model has none), the deep tap is the last feature. Channels and strides
come from ``feature_info``, NHWC outputs (Swin) are permuted to NCHW. When the timm model
accepts ``output_stride`` (ResNets, ...) the requested OS 8/16 is applied with dilation;
otherwise the deep feature stays at its native stride (``deep_stride``), which the DeepLab
head handles by upsampling to the low-level size.

ImageNet weights load from a local file only: ``pretrained="path.pth"`` is passed to timm
as ``pretrained_cfg_overlay=dict(file=path)`` so timm's own key filtering applies.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

__all__ = ["TimmBackbone"]


class TimmBackbone(nn.Module):
    """A timm ``features_only`` model as a DeepLab backbone: ``forward(x) -> (low, deep)``.

    Args:
        name: timm model name (e.g. "resnet50", "vgg16", "swinv2_tiny_window8_256").
        downsample_factor: requested output stride (applied when timm supports ``output_stride``).
        low_stride: stride of the low-level tap.
        pretrained: local ImageNet checkpoint for the timm model, or None (random init).
        **timm_kwargs: passed to ``timm.create_model`` (e.g. ``img_size=512`` for Swin).

    Attributes:
        low_channels, out_channels, low_stride, deep_stride, cam_layer.
    """

    def __init__(self, name: str, downsample_factor: int = 16, low_stride: int = 4, pretrained: str | None = None,
                 **timm_kwargs: Any) -> None:
        super().__init__()
        import timm

        if name not in timm.list_models() and name.split(".")[0] not in timm.list_models():
            from segkit._utils import did_you_mean

            raise ValueError(f"unknown timm model {name!r}.{did_you_mean(name, timm.list_models())}")
        kw: dict[str, Any] = dict(features_only=True, pretrained=bool(pretrained), **timm_kwargs)
        if pretrained:
            kw["pretrained_cfg_overlay"] = dict(file=str(pretrained))
        try:
            model = timm.create_model(name, output_stride=downsample_factor, **kw)
            self.output_stride_applied = True
        except (TypeError, AssertionError, ValueError):
            model = timm.create_model(name, **kw)
            self.output_stride_applied = False
        red, ch = model.feature_info.reduction(), model.feature_info.channels()
        cand = [i for i, r in enumerate(red) if r >= low_stride]
        if not cand:
            raise ValueError(f"timm model {name!r} has no feature at stride >= {low_stride} (strides {red})")
        self.low_index = min(cand, key=lambda i: (red[i], i))
        self.deep_index = len(red) - 1
        self.model = model
        fmt = str(getattr(model, "output_fmt", "NCHW"))
        self.nhwc = fmt.endswith("NHWC")
        self.low_channels, self.out_channels = ch[self.low_index], ch[self.deep_index]
        self.low_stride = red[self.low_index]
        deep = red[self.deep_index]
        self.deep_stride = min(deep, downsample_factor) if self.output_stride_applied else deep
        self.name = name
        # An identity hook point on the (NCHW) deep feature: a Grad-CAM layer that works for
        # every timm model, whatever its internal naming or layout.
        self.deep_out = nn.Identity()
        self.cam_layer = "deep_out"

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.model(x)
        low, deep = feats[self.low_index], feats[self.deep_index]
        if self.nhwc:  # (B, H, W, C) -> (B, C, H, W)
            low, deep = low.permute(0, 3, 1, 2).contiguous(), deep.permute(0, 3, 1, 2).contiguous()
        return low, self.deep_out(deep)
