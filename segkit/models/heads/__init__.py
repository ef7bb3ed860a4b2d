"""ASPP-like heads: ``(B, dim_in, h, w) -> (B, dim_out, h, w)``, chosen by name with `build_aspp`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch.nn as nn

from segkit._registry import Registry
from segkit.models.heads.aspp import ASPP
from segkit.models.heads.mvit_aspp import AG_ASPP_MViT, MSA_ASPP, LiteMobileViTASPP, WA_ASPP_MViT, WA_ASPPv2
from segkit.models.heads.wa_aspp import WA_ASPP

__all__ = ["ASPP", "WA_ASPP", "WA_ASPP_MViT", "LiteMobileViTASPP", "WA_ASPPv2", "AG_ASPP_MViT", "MSA_ASPP",
           "build_aspp", "HeadInfo", "ASPP_HEADS", "head_align_corners"]


@dataclass(frozen=True)
class HeadInfo:
    """A registered head.

    Attributes:
        cls: the head class, built as ``cls(dim_in, dim_out, **fixed, **kwargs)``.
        align_corners: the reference's flag for this head family (True in the classic/WA
            files, False in the MViT/MSA files); it sets the decoder's upsampling.
        atrous: the head has atrous branches, so it also takes ``rate`` (16 // output stride)
            and ``align_corners`` (of its pooled branch).
        fixed: arguments the name implies (``wa_aspp_gate`` is WA_ASPP with ``gate=True``).
        feature_multiple: the side multiple the head needs of its input map at its default
            arguments (2 for the MobileViT heads' 2x2 patches); the built head's
            ``feature_multiple`` attribute is the truth.
    """

    cls: type[nn.Module]
    align_corners: bool
    atrous: bool = False
    fixed: dict[str, Any] = field(default_factory=dict)
    feature_multiple: int = 1


ASPP_HEADS: Registry[HeadInfo] = Registry("aspp head")
ASPP_HEADS.register("aspp", HeadInfo(ASPP, align_corners=True, atrous=True))
ASPP_HEADS.register("wa_aspp", HeadInfo(WA_ASPP, align_corners=True))
ASPP_HEADS.register("wa_aspp_gate", HeadInfo(WA_ASPP, align_corners=True, fixed={"gate": True}),
                    aliases=("wa_aspp_hebing",))  # the reference's name ("hebing": merge)
ASPP_HEADS.register("wa_aspp_mvit", HeadInfo(WA_ASPP_MViT, align_corners=False, feature_multiple=2))
ASPP_HEADS.register("lite_mvit_aspp", HeadInfo(LiteMobileViTASPP, align_corners=False, feature_multiple=2))
ASPP_HEADS.register("wa_aspp_v2", HeadInfo(WA_ASPPv2, align_corners=False, feature_multiple=2))
ASPP_HEADS.register("ag_aspp_mvit", HeadInfo(AG_ASPP_MViT, align_corners=False, feature_multiple=2))
ASPP_HEADS.register("msa_aspp", HeadInfo(MSA_ASPP, align_corners=False, feature_multiple=2))


def head_align_corners(name: str) -> bool:
    """The reference's ``align_corners`` for the decoder of head `name`."""
    return ASPP_HEADS.get(name).align_corners


def build_aspp(name: str, dim_in: int, dim_out: int = 256, downsample_factor: int = 16,
               align_corners: bool | None = None, **kwargs: Any) -> nn.Module:
    """Build an ASPP-like head by name (see ``ASPP_HEADS``).

    Args:
        name: a registered head name.
        dim_in: input channels.
        dim_out: output channels.
        downsample_factor: output stride; atrous heads use rate = 16 // downsample_factor.
        align_corners: of an atrous head's pooled branch (None: the family's reference value).
        **kwargs: the head's own arguments.

    Raises:
        segkit._registry.UnknownNameError: an unknown name (a ``ValueError``), with close matches.
    """
    info = ASPP_HEADS.get(name)
    kwargs = {**info.fixed, **kwargs}
    if info.atrous:
        kwargs["rate"] = 16 // downsample_factor
        kwargs["align_corners"] = info.align_corners if align_corners is None else align_corners
    return info.cls(dim_in, dim_out, **kwargs)
