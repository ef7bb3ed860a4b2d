"""ASPP-like heads: ``(B, dim_in, h, w) -> (B, dim_out, h, w)``, chosen by name with `build_aspp`."""
from __future__ import annotations

from typing import Any, Callable

import torch.nn as nn

from segkit._utils import did_you_mean
from segkit.models.heads.aspp import ASPP
from segkit.models.heads.mvit_aspp import AG_ASPP_MViT, MSA_ASPP, LiteMobileViTASPP, WA_ASPP_MViT, WA_ASPPv2
from segkit.models.heads.wa_aspp import WA_ASPP

__all__ = ["ASPP", "WA_ASPP", "WA_ASPP_MViT", "LiteMobileViTASPP", "WA_ASPPv2", "AG_ASPP_MViT", "MSA_ASPP",
           "build_aspp", "ASPP_HEADS", "ASPP_ALIGN_CORNERS"]

# name -> builder(dim_in, dim_out, rate, align_corners, **kw)
ASPP_HEADS: dict[str, Callable[..., nn.Module]] = {
    "aspp": lambda dim_in, dim_out, rate, align_corners, **kw: ASPP(dim_in, dim_out, rate,
                                                                    align_corners=align_corners, **kw),
    "wa_aspp": lambda dim_in, dim_out, rate, align_corners, **kw: WA_ASPP(dim_in, dim_out, **kw),
    "wa_aspp_hebing": lambda dim_in, dim_out, rate, align_corners, **kw: WA_ASPP(dim_in, dim_out, hebing=True, **kw),
    "wa_aspp_mvit": lambda dim_in, dim_out, rate, align_corners, **kw: WA_ASPP_MViT(dim_in, dim_out, **kw),
    "lite_mvit_aspp": lambda dim_in, dim_out, rate, align_corners, **kw: LiteMobileViTASPP(dim_in, dim_out, **kw),
    "wa_aspp_v2": lambda dim_in, dim_out, rate, align_corners, **kw: WA_ASPPv2(dim_in, dim_out, **kw),
    "ag_aspp_mvit": lambda dim_in, dim_out, rate, align_corners, **kw: AG_ASPP_MViT(dim_in, dim_out, **kw),
    "msa_aspp": lambda dim_in, dim_out, rate, align_corners, **kw: MSA_ASPP(dim_in, dim_out, **kw),
}
# The reference's align_corners per head family (True in classic/WA files, False in MViT/MSA files);
# it sets the decoder's upsampling and the classic ASPP's pooled branch.
ASPP_ALIGN_CORNERS: dict[str, bool] = {
    "aspp": True, "wa_aspp": True, "wa_aspp_hebing": True, "wa_aspp_mvit": False, "lite_mvit_aspp": False,
    "wa_aspp_v2": False, "ag_aspp_mvit": False, "msa_aspp": False,
}


def build_aspp(name: str, dim_in: int, dim_out: int = 256, downsample_factor: int = 16,
               align_corners: bool | None = None, **kwargs: Any) -> nn.Module:
    """Build an ASPP-like head by name (see ``ASPP_HEADS``); rate = 16 // downsample_factor."""
    if name not in ASPP_HEADS:
        raise ValueError(f"unknown aspp {name!r}.{did_you_mean(name, ASPP_HEADS)} Options: {', '.join(ASPP_HEADS)}")
    if align_corners is None:
        align_corners = ASPP_ALIGN_CORNERS[name]
    return ASPP_HEADS[name](dim_in, dim_out, 16 // downsample_factor, align_corners, **kwargs)
