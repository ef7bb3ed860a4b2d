"""Aligned Xception backbone of DeepLabV3+ (see ``docs/models.md``).

Xception: Deep Learning with Depthwise Separable Convolutions (Chollet, CVPR 2017,
https://arxiv.org/abs/1610.02357), modified as in DeepLabV3+ (https://arxiv.org/abs/1802.02611)
and laid out as in the bubbliiiing reference (attribute names match its checkpoints):
entry flow conv 3->32 (s2), conv 32->64, blocks 64->128 (s2), 128->256 (s0), 256->728 (s1);
16 middle blocks at 728 with dilation r = 16/OS; exit block 728->1024 (s2) and separable
convs 1024->1536->1536->2048 with dilation r. (s0, s1, s2) = (2, 2, 1) at OS16, (2, 1, 1) at OS8.
low = the output of block2's second separable conv (256 ch, stride 4); deep = 2048 ch.

Deviation: every ReLU is non-inplace (the reference mixes inplace ReLUs with a hook on an
intermediate tensor); the low-level feature is returned, not stored on the module.

ImageNet weights: timm's ``xception65`` (``XceptionAligned``) is the same network; its keys
are mapped by :func:`remap_timm_keys`. timm builds it with BatchNorm ``eps=1e-3`` where the
reference uses 1e-5, so ``bn_eps=1e-3`` gives features identical to timm's.
"""
from __future__ import annotations

import re
from typing import Literal, Mapping

import torch
import torch.nn as nn

__all__ = ["SeparableConv2d", "XceptionBlock", "Xception", "remap_timm_keys"]

BN_MOM = 0.0003


class SeparableConv2d(nn.Module):
    """[ReLU] -> depthwise kxk -> BN -> [ReLU] -> pointwise 1x1 -> BN -> [ReLU].

    ``activate_first=True`` puts one ReLU before the depthwise conv; otherwise ReLUs follow both BNs.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, padding: int = 1,
                 dilation: int = 1, bias: bool = False, activate_first: bool = True) -> None:
        super().__init__()
        self.relu0 = nn.ReLU(inplace=False)
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size, stride, padding, dilation,
                                   groups=in_channels, bias=bias)
        self.bn1 = nn.BatchNorm2d(in_channels, momentum=BN_MOM)
        self.relu1 = nn.ReLU(inplace=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, 1, 0, 1, 1, bias=bias)
        self.bn2 = nn.BatchNorm2d(out_channels, momentum=BN_MOM)
        self.relu2 = nn.ReLU(inplace=False)
        self.activate_first = activate_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activate_first:
            x = self.relu0(x)
        x = self.bn1(self.depthwise(x))
        if not self.activate_first:
            x = self.relu1(x)
        x = self.bn2(self.pointwise(x))
        if not self.activate_first:
            x = self.relu2(x)
        return x


class XceptionBlock(nn.Module):
    """Three separable convs (the last one strided) plus a (1x1 conv + BN) or identity skip.

    ``forward_with_hook`` also returns the second separable conv's output (the low-level tap).
    """

    def __init__(self, in_filters: int, out_filters: int, strides: int = 1, atrous: int = 1,
                 grow_first: bool = True) -> None:
        super().__init__()
        if out_filters != in_filters or strides != 1:
            self.skip = nn.Conv2d(in_filters, out_filters, 1, stride=strides, bias=False)
            self.skipbn = nn.BatchNorm2d(out_filters, momentum=BN_MOM)
        else:
            self.skip, self.skipbn = None, None
        filters = out_filters if grow_first else in_filters
        self.sepconv1 = SeparableConv2d(in_filters, filters, 3, 1, atrous, atrous)
        self.sepconv2 = SeparableConv2d(filters, out_filters, 3, 1, atrous, atrous)
        self.sepconv3 = SeparableConv2d(out_filters, out_filters, 3, strides, atrous, atrous)

    def forward_with_hook(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = self.skipbn(self.skip(x)) if self.skip is not None else x
        hook = self.sepconv2(self.sepconv1(x))
        return self.sepconv3(hook) + skip, hook

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_hook(x)[0]


class Xception(nn.Module):
    """DeepLab aligned Xception: ``forward(x) -> (low (B,256,H/4,W/4), deep (B,2048,H/OS,W/OS))``.

    Args:
        downsample_factor: output stride, 8 or 16.
        bn_eps: BatchNorm epsilon of every layer (1e-5 as the reference; 1e-3 as timm's xception65).
    """

    pretrained_layouts = ("reference (deeplabv3-plus-pytorch) Xception keys 'conv1', 'block1'..'block20', "
                          "'conv3'..'conv5', or timm xception65 keys 'stem.*', 'blocks.0'..'blocks.20'")

    def __init__(self, downsample_factor: Literal[8, 16] = 16, bn_eps: float = 1e-5) -> None:
        super().__init__()
        if downsample_factor not in (8, 16):
            raise ValueError(f"Xception downsample_factor must be 8 or 16, got {downsample_factor!r}")
        if not 0 < bn_eps < 1:
            raise ValueError(f"Xception bn_eps must lie in (0, 1), got {bn_eps!r} (1e-5 reference, 1e-3 timm)")
        s0, s1, s2 = (2, 2, 1) if downsample_factor == 16 else (2, 1, 1)
        rate = 16 // downsample_factor
        self.conv1 = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(32, momentum=BN_MOM)
        self.relu = nn.ReLU(inplace=False)
        self.conv2 = nn.Conv2d(32, 64, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(64, momentum=BN_MOM)
        self.block1 = XceptionBlock(64, 128, 2)
        self.block2 = XceptionBlock(128, 256, s0)
        self.block3 = XceptionBlock(256, 728, s1)
        for i in range(4, 20):  # middle flow: block4 .. block19
            setattr(self, f"block{i}", XceptionBlock(728, 728, 1, atrous=rate))
        self.block20 = XceptionBlock(728, 1024, s2, atrous=rate, grow_first=False)
        self.conv3 = SeparableConv2d(1024, 1536, 3, 1, rate, rate, activate_first=False)
        self.conv4 = SeparableConv2d(1536, 1536, 3, 1, rate, rate, activate_first=False)
        self.conv5 = SeparableConv2d(1536, 2048, 3, 1, rate, rate, activate_first=False)
        self.low_channels, self.out_channels = 256, 2048
        self.cam_layer = "conv5"
        self.downsample_factor = downsample_factor
        self.input_multiple = downsample_factor  # input sides the strided convs halve evenly
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eps = bn_eps

    def remap_state_dict(self, sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Key remapping used by `load_weights` (timm's layout)."""
        return remap_timm_keys(sd)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.block1(x)
        x, low = self.block2.forward_with_hook(x)
        for i in range(3, 21):
            x = getattr(self, f"block{i}")(x)
        x = self.conv5(self.conv4(self.conv3(x)))
        return low, x


_TIMM_STEM = re.compile(r"^(.*?)stem\.([01])\.(conv|bn)\.(.*)$")
_TIMM_SKIP = re.compile(r"^(.*?)blocks\.(\d+)\.shortcut\.(conv|bn)\.(.*)$")
_TIMM_SEP = re.compile(r"^(.*?)blocks\.(\d+)\.stack\.conv([123])\.(conv_dw|bn_dw|conv_pw|bn_pw)\.(.*)$")
_SEP_NAMES = {"conv_dw": "depthwise", "bn_dw": "bn1", "conv_pw": "pointwise", "bn_pw": "bn2"}


def remap_timm_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map timm ``xception65`` keys onto segkit's (= the reference's) Xception names.

    ``stem.0``/``stem.1`` -> ``conv1``/``bn1``, ``conv2``/``bn2``; ``blocks.i`` (i < last) ->
    ``block{i+1}`` (``shortcut`` -> ``skip``/``skipbn``, ``stack.convJ`` -> ``sepconvJ`` with
    ``conv_dw/bn_dw/conv_pw/bn_pw`` -> ``depthwise/bn1/pointwise/bn2``); the last block (no
    shortcut) -> ``conv3``..``conv5``. ``head.*`` is left as is (segkit has no classifier).
    A state dict in any other layout is returned unchanged.
    """
    blocks = [int(m.group(2)) for k in state_dict if (m := _TIMM_SEP.match(k))]
    if not blocks or not any(_TIMM_STEM.match(k) for k in state_dict):
        return dict(state_dict)
    last = max(blocks)
    out: dict[str, torch.Tensor] = {}
    for key, val in state_dict.items():
        if m := _TIMM_STEM.match(key):
            i = int(m.group(2)) + 1
            key = f"{m.group(1)}{'conv' if m.group(3) == 'conv' else 'bn'}{i}.{m.group(4)}"
        elif m := _TIMM_SKIP.match(key):
            key = f"{m.group(1)}block{int(m.group(2)) + 1}.{'skip' if m.group(3) == 'conv' else 'skipbn'}.{m.group(4)}"
        elif m := _TIMM_SEP.match(key):
            i, j, part = int(m.group(2)), int(m.group(3)), _SEP_NAMES[m.group(4)]
            host = f"conv{j + 2}" if i == last else f"block{i + 1}.sepconv{j}"
            key = f"{m.group(1)}{host}.{part}.{m.group(5)}"
        out[key] = val
    return out
