"""timm backbones for DeepLab comparisons (``features_only``).

Any timm model with ``features_only`` support becomes a ``(low, deep)`` backbone: the low
tap is the feature at stride `low_stride` (4, as MobileNetV2's 24-channel tap; the nearest
larger stride when a model has none), the deep tap is the last feature. Channels and strides
come from ``feature_info``, NHWC outputs (Swin) are permuted to NCHW. When the timm model
accepts ``output_stride`` (ResNets, ...) the requested OS 8/16 is applied with dilation;
otherwise the deep feature stays at its native stride (``deep_stride``), which the DeepLab
head handles by upsampling to the low-level size.

Pretrained weights go through timm's own mechanism: ``pretrained="imagenet"`` is timm's
``pretrained=True`` (its default weights, from timm's hub cache; when they are not cached
and the hub cannot be reached it fails at once, see ``segkit.models._pretrained``); a
local file or URL is passed as ``pretrained_cfg_overlay=dict(file=path)`` so timm's key
filtering applies. timm loads ``features_only`` models non-strictly, so a file is first
judged against timm's plain model of that name: below 95 % of its tensors matched is an
error (or, with ``pretrained_partial=True``, a warning with the counts).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from segkit.models._pretrained import normalize_source, resolve_file, timm_pretrained_file

__all__ = ["TimmBackbone"]


class TimmBackbone(nn.Module):
    """A timm ``features_only`` model as a DeepLab backbone: ``forward(x) -> (low, deep)``.

    Args:
        name: timm model name (e.g. "resnet50", "vgg16", "swinv2_tiny_window8_256").
        downsample_factor: requested output stride (applied when timm supports ``output_stride``).
        low_stride: stride of the low-level tap.
        pretrained: "imagenet" (timm's default weights), a local file or URL of the timm
            model's state dict, or None (random init).
        pretrained_partial: load the matching tensors of a file that does not fit completely
            (a warning gives the counts) instead of raising.
        **timm_kwargs: passed to ``timm.create_model`` (e.g. ``img_size=512`` for Swin).

    Attributes:
        low_channels, out_channels, low_stride, deep_stride, cam_layer, input_multiple (32: the
            common stride of timm's deepest features, which also covers most models' windows).
    """

    def __init__(self, name: str, downsample_factor: int = 16, low_stride: int = 4,
                 pretrained: str | bool | None = None, pretrained_partial: bool = False, **timm_kwargs: Any) -> None:
        super().__init__()
        import timm

        if name not in timm.list_models() and name.split(".")[0] not in timm.list_models():
            from segkit._utils import did_you_mean

            raise ValueError(f"unknown timm model {name!r}.{did_you_mean(name, timm.list_models())}")
        kw: dict[str, Any] = dict(features_only=True, **timm_kwargs, **_pretrained_kwargs(name, pretrained))
        if "file" in kw.get("pretrained_cfg_overlay", {}) and normalize_source(pretrained) != "imagenet":
            _check_file(name, kw["pretrained_cfg_overlay"]["file"], pretrained_partial)
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
        self.input_multiple = max(32, deep)
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


def _pretrained_kwargs(name: str, pretrained: str | bool | None) -> dict[str, Any]:
    """timm.create_model arguments for a pretrained source (nothing for None)."""
    source = normalize_source(pretrained)
    if source is None:
        return {"pretrained": False}
    path = timm_pretrained_file(name) if source == "imagenet" else resolve_file(source, f"timm:{name}")
    if path is None:  # online and not cached: timm downloads into its hub cache itself
        return {"pretrained": True}
    return {"pretrained": True, "pretrained_cfg_overlay": dict(file=str(path))}


def _check_file(name: str, file: str, partial: bool) -> None:
    """Judge a weights file against a plain (classifier-free) timm model of the same name.

    timm loads ``features_only`` models non-strictly, so a file of another layout would load
    silently; below 95 % of the tensors matched this raises (or warns with ``partial``).
    """
    import warnings

    import timm

    from segkit.models._weights import MIN_MATCH, PartialLoadError, describe_keys, read_state_dict

    sd = read_state_dict(file)
    own = {k: v for k, v in timm.create_model(name, pretrained=False, num_classes=0).state_dict().items()
           if not k.endswith("num_batches_tracked")}
    hit = sum(k in sd and sd[k].shape == v.shape for k, v in own.items())
    share = hit / max(len(own), 1)
    if share >= MIN_MATCH:
        return
    msg = (f"{file}: only {hit}/{len(own)} ({share:.1%}) of timm {name}'s tensors matched (need {MIN_MATCH:.0%}). "
           f"Expected timm's {name} state dict keys such as {', '.join(list(own)[:3])}; found {describe_keys(list(sd))}")
    if not partial:
        raise PartialLoadError(msg + ". Pass pretrained_partial=True to load the matching part anyway")
    warnings.warn(f"PARTIAL LOAD: {msg}; loading the matching tensors because pretrained_partial=True, the rest "
                  "keep their random init", stacklevel=4)
