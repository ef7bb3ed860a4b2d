"""The gates of the paper's ASPP heads (see ``docs/models.md``).

- `AttnGate`: an SE-style channel gate with biases, ``Gate(X) = X * sigmoid(MLP(GAP(X)))``
  with MLP = Linear(C, max(1, C//r)) -> ReLU -> Linear (both with bias). Used after the
  branches of MSA_ASPP (AG_ASPP_MViT). Works at batch 1. Not the additive gate of
  Attention U-Net.
- `MaxMergeGate`: the element-wise maximum of a channel gate and a spatial gate, on the
  concatenated WA_ASPP branches (the WAFA model). The reference code calls it ``hebing``
  ("merge") with parts ``tongdao`` ("channel") and ``kongjian`` ("spatial"); checkpoints
  with those key names still load (`rename_legacy_keys`).
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import torch
import torch.nn as nn

from segkit.modules._registry import register_module
from segkit.modules._width import check_channels, hidden_width

__all__ = ["AttnGate", "MaxMergeGate", "rename_legacy_keys"]

# Module names of the reference code (pinyin) -> segkit's; checkpoint keys are renamed with it.
LEGACY_NAMES = {"hebing": "gate", "tongdao": "channel_gate", "kongjian": "spatial_gate"}
_LEGACY = re.compile(r"(?<![^.])(" + "|".join(LEGACY_NAMES) + r")(?=\.)")


def rename_legacy_keys(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `state_dict` with the reference's gate names (``hebing.tongdao.weight``) renamed
    to segkit's (``gate.channel_gate.weight``); other keys are unchanged."""
    return {_LEGACY.sub(lambda m: LEGACY_NAMES[m.group(1)], k): v for k, v in state_dict.items()}


def legacy_key_hook(state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    """A ``load_state_dict`` pre-hook: rename the reference's keys under `prefix` in place."""
    old = [k for k in state_dict if k.startswith(prefix) and _LEGACY.search(k, len(prefix))]
    for k in old:
        state_dict[prefix + next(iter(rename_legacy_keys({k[len(prefix):]: None})))] = state_dict.pop(k)


@register_module(
    "attn_gate",
    paper="AttnGate of the paper's reference code (SE with bias)",
    year=None,
    addresses="Reweight the channels of each ASPP branch output",
    where="After MSA_ASPP branches 2-4",
)
class AttnGate(nn.Module):
    """Per-channel gate.

    Args:
        channels: C.
        reduction: hidden = max(1, C // reduction).

    Shape:
        (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = hidden_width("AttnGate", channels, reduction)
        self.fc = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=False), nn.Linear(hidden, channels),
                                nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.fc(x.mean((2, 3)))  # (B, C)
        return x * w[:, :, None, None]


@register_module(
    "merge_gate",
    paper="Max-merge gate of the WAFA model (WA_ASPP + gate) of the reference code",
    year=None,
    addresses="Merge a channel cue and a spatial cue before the ASPP fuse conv",
    where="On the concatenated WA_ASPP branches, before the fuse conv",
    aliases=("hebing",),
)
class MaxMergeGate(nn.Module):
    """``max(channel(U), spatial(U))``: a max-merge of a channel and a spatial gate.

    channel: GAP -> 1x1 conv (C->1, no bias) -> ReLU -> (nearest upsampling) -> multiply U,
    a single non-negative scalar per sample with no sigmoid (a degenerate cSE).
    spatial: 1x1 conv (C->1, no bias) -> sigmoid -> multiply U (exactly sSE).

    Args:
        channels: C.

    Shape:
        (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        check_channels("MaxMergeGate", channels)
        self.channel_gate = nn.Conv2d(channels, 1, 1, bias=False)
        self.spatial_gate = nn.Conv2d(channels, 1, 1, bias=False)
        self._register_load_state_dict_pre_hook(legacy_key_hook)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        # (B,1,1,1) broadcast = nearest upsampling
        by_channel = u * torch.relu(self.channel_gate(u.mean((2, 3), keepdim=True)))
        by_position = u * torch.sigmoid(self.spatial_gate(u))
        return torch.maximum(by_channel, by_position)
