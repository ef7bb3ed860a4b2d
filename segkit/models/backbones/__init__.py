"""Backbones returning ``(low, deep)``: MobileNetV2 and Xception written in segkit, others via timm."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch.nn as nn

from segkit._registry import Registry
from segkit.models.backbones.mobilenetv2 import AttnPolicy, InvertedResidual, MobileNetV2, remap_inserted_attn_keys

__all__ = ["AttnPolicy", "InvertedResidual", "MobileNetV2", "remap_inserted_attn_keys", "build_backbone",
           "BackboneInfo", "BACKBONES"]


@dataclass(frozen=True)
class BackboneInfo:
    """A registered backbone family.

    Attributes:
        build: ``build(variant, downsample_factor, attn_policy, **kwargs)``; `variant` is the text
            after "name:" ("" when there is none).
        places_attention: takes an ``attn_policy`` (attention inside its blocks).
        variant: what follows "name:" when the family needs one (e.g. "<timm model name>").
    """

    build: Callable[..., nn.Module]
    places_attention: bool = False
    variant: str = ""


def _mobilenetv2(variant: str, downsample_factor: int, attn_policy: AttnPolicy | str | None,
                 **kwargs: Any) -> nn.Module:
    return MobileNetV2(downsample_factor, attn_policy=attn_policy, **kwargs)


def _xception(variant: str, downsample_factor: int, attn_policy: None, **kwargs: Any) -> nn.Module:
    from segkit.models.backbones.xception import Xception

    return Xception(downsample_factor, **kwargs)


def _timm(variant: str, downsample_factor: int, attn_policy: None, **kwargs: Any) -> nn.Module:
    from segkit.models.backbones.timm_backbone import TimmBackbone

    return TimmBackbone(variant, downsample_factor=downsample_factor, **kwargs)


BACKBONES: Registry[BackboneInfo] = Registry("backbone")
BACKBONES.register("mobilenetv2", BackboneInfo(_mobilenetv2, places_attention=True), aliases=("mobilenet",))
BACKBONES.register("xception", BackboneInfo(_xception))
BACKBONES.register("timm", BackboneInfo(_timm, variant="<timm model name>"))


def build_backbone(name: str, downsample_factor: int = 16, attn_policy: AttnPolicy | str | None = None,
                   **kwargs: Any) -> nn.Module:
    """Build a DeepLab backbone: "mobilenetv2", "xception" or "timm:<timm model name>".

    Every backbone has ``forward(x) -> (low, deep)`` and attributes ``low_channels``,
    ``out_channels``, ``input_multiple`` and ``cam_layer`` (path of its last feature module,
    relative to it).

    Raises:
        segkit._registry.UnknownNameError: an unknown family (a ``ValueError``), with close matches.
        ValueError: a missing or unexpected variant, or an `attn_policy` for a backbone that
            cannot place attention.
    """
    family, _, variant = name.partition(":")
    info = BACKBONES.get(family)
    if bool(variant) != bool(info.variant):
        form = f"'{family}:{info.variant}' (e.g. 'timm:resnet50')" if info.variant else repr(family)
        raise ValueError(f"backbone={name!r}: write it as {form}")
    if attn_policy is not None and not info.places_attention:
        places = [n for n in BACKBONES.names() if BACKBONES.get(n).places_attention]
        raise ValueError(f"attn_policy places attention inside {', '.join(places)} blocks only; got backbone={name!r}. "
                         f"Use backbone='mobilenetv2' or attn_policy=None")
    return info.build(variant, downsample_factor, attn_policy, **kwargs)
