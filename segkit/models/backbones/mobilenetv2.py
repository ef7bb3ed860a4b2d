"""MobileNetV2 backbone of the DeepLabV3+ reference, with an attention hook.

"MobileNetV2: Inverted Residuals and Linear Bottlenecks" (Sandler et al., CVPR 2018,
https://arxiv.org/abs/1801.04381), as used by the bubbliiiing DeepLabV3+ code (see
``docs/models.md``): ``features[:-1]`` (18 modules, the 1280 conv dropped), output stride
8/16 by removing strides and dilating, low-level tap after ``features[:4]``.

Attention hook: an :class:`AttnPolicy` decides which inverted-residual
blocks get an attention module after the depthwise conv + BN + ReLU6 and before the
projection. The paper's "Improved MobileNetV2" is ``AttnPolicy.paper()`` (GGCA_Fused on
stage idx >= 4, stride-2 blocks skipped, (groups, reduction) = (4, 16) for widths >= 64).

Deviations: the attention module is stored as ``block.attn`` next to the untouched
``block.conv`` Sequential, so plain ImageNet / reference checkpoints load without index
shifts; checkpoints of the reference GGCA model (GGCA inserted *inside* the Sequential)
are remapped by :func:`remap_inserted_attn_keys`, and torchvision's ``mobilenet_v2`` layout
(nested ``conv.K.J``) by :func:`remap_torchvision_keys`. Activations are non-inplace (safe for
Grad-CAM hooks); the dilation rewrite is computed per block at build time and touches only
the block's own depthwise conv (never a conv inside an inserted attention module).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping

import torch
import torch.nn as nn

from segkit.modules._registry import create_attn

__all__ = ["AttnPolicy", "InvertedResidual", "MobileNetV2", "remap_inserted_attn_keys", "remap_torchvision_keys",
           "MOBILENETV2_SETTINGS"]

# (t, c, n, s) per stage; the stage index (row) is what AttnPolicy selects on.
MOBILENETV2_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)


@dataclass(frozen=True)
class AttnPolicy:
    """Which inverted-residual blocks get an attention module, and which one.

    Args:
        attn: a registered module name (``create_attn(name, hidden, **kw)``), or a factory
            ``f(channels, **kw) -> nn.Module`` (e.g. a GGCA class).
        min_stage: enable on stage idx >= min_stage (stage = settings row 0..6).
        stages: explicit stage indexes; overrides ``min_stage`` when given.
        skip_stride2: skip blocks whose nominal stride is 2 (judged before dilation).
        width_threshold: stages with output channels < threshold use ``small``, else ``large``.
        small: (num_groups, reduction) for narrow stages.
        large: (num_groups, reduction) for wide stages.
        group_kwargs: pass ``num_groups``/``reduction`` to the module; ``None`` = only for GGCA.
        kwargs: extra keyword arguments for every module.
    """

    attn: str | Callable[..., nn.Module] = "ggca"
    min_stage: int = 4
    stages: tuple[int, ...] | None = None
    skip_stride2: bool = True
    width_threshold: int = 64
    small: tuple[int, int] = (1, 4)
    large: tuple[int, int] = (4, 16)
    group_kwargs: bool | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def paper(cls, attn: str | Callable[..., nn.Module] = "ggca") -> "AttnPolicy":
        """The final policy: stage idx >= 4, no stride-2 blocks, (1,4) below 64 channels else (4,16)."""
        return cls(attn=attn, min_stage=4)

    @classmethod
    def from_name(cls, name: str, attn: str | Callable[..., nn.Module] = "ggca") -> "AttnPolicy":
        """Named policies: "paper" (idx>=4), "idx3" (idx>=3), "all" (all 17 blocks, (4,16), clamp)."""
        if name == "paper":
            return cls.paper(attn)
        if name == "idx3":
            return cls(attn=attn, min_stage=3)
        if name == "all":
            return cls(attn=attn, min_stage=0, skip_stride2=False, small=(4, 16))
        raise ValueError(f"unknown attention policy {name!r}; use 'paper', 'idx3', 'all', an AttnPolicy or None")

    def enabled(self, stage: int, stride: int) -> bool:
        """Whether the block in `stage` with nominal `stride` gets a module."""
        on = stage in self.stages if self.stages is not None else stage >= self.min_stage
        return on and not (self.skip_stride2 and stride == 2)

    def build(self, hidden: int, stage_channels: int) -> nn.Module:
        """The module for a block with `hidden` channels in a stage of `stage_channels` outputs."""
        groups, reduction = self.small if stage_channels < self.width_threshold else self.large
        kw = dict(self.kwargs)
        is_ggca = self.attn == "ggca" or (isinstance(self.attn, type) and self.attn.__name__.startswith("GGCA"))
        if self.group_kwargs or (self.group_kwargs is None and is_ggca):
            kw.update(num_groups=groups, reduction=reduction)
        if isinstance(self.attn, str):
            return create_attn(self.attn, hidden, **kw)
        return self.attn(hidden, **kw)


class InvertedResidual(nn.Module):
    """MobileNetV2 block; an optional attention module runs after the depthwise conv + BN + ReLU6.

    ``conv`` keeps the reference layout (expand, DW, project), so checkpoints match.
    """

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int, dilation: int = 1,
                 attn: nn.Module | None = None) -> None:
        super().__init__()
        hidden = round(inp * expand_ratio)
        self.stride, self.dilation, self.hidden = stride, dilation, hidden
        self.use_res_connect = stride == 1 and inp == oup
        dw = [nn.Conv2d(hidden, hidden, 3, stride, dilation, dilation, groups=hidden, bias=False),
              nn.BatchNorm2d(hidden), nn.ReLU6()]
        pw = [nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup)]
        expand = [] if expand_ratio == 1 else [nn.Conv2d(inp, hidden, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden),
                                               nn.ReLU6()]
        self.conv = nn.Sequential(*expand, *dw, *pw)
        self.attn_index = len(expand) + len(dw)  # attention runs before conv[attn_index]
        self.attn = attn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        for i, layer in enumerate(self.conv):
            if i == self.attn_index and self.attn is not None:
                y = self.attn(y)
            y = layer(y)
        return x + y if self.use_res_connect else y


class MobileNetV2(nn.Module):
    """DeepLab MobileNetV2 backbone: ``forward(x) -> (low, deep)``.

    Args:
        downsample_factor: output stride, 8 or 16 (strides removed and convs dilated).
        width_mult: width multiplier (channels ``int(c * width_mult)``).
        attn_policy: an :class:`AttnPolicy`, a policy name ("paper", "idx3", "all"), or None.
        low_tap: low-level features are ``features[:low_tap]`` (4 = stride 4, 24 channels).
        keep_last_conv: keep ``features[18]`` (1x1 conv to 1280); the DeepLab wrapper drops it.

    Shape:
        (B, 3, H, W) -> low (B, 24, H/4, W/4), deep (B, 320, H/OS, W/OS)

    Attributes:
        features: ``nn.Sequential`` of the 18 (or 19) feature modules, indexed as in the reference.
        stage_of: stage index (settings row) of each feature index (stem = -1).
        attn_blocks: feature indexes that carry an attention module.
    """

    def __init__(self, downsample_factor: Literal[8, 16] = 16, width_mult: float = 1.0,
                 attn_policy: AttnPolicy | str | None = None, low_tap: int = 4, keep_last_conv: bool = False) -> None:
        super().__init__()
        if downsample_factor not in (8, 16):
            raise ValueError(f"downsample_factor must be 8 or 16, got {downsample_factor!r}")
        if width_mult <= 0:
            raise ValueError(f"width_mult must be positive, got {width_mult!r}")
        if isinstance(attn_policy, str):
            attn_policy = AttnPolicy.from_name(attn_policy)
        # Dilation per feature index: OS16 -> d=2 on [14:]; OS8 -> d=2 on [7:14], d=4 on [14:].
        dil = {16: [(14, 99, 2)], 8: [(7, 14, 2), (14, 99, 4)]}[downsample_factor]

        def dilation_for(idx: int) -> int:
            return next((d for a, b, d in dil if a <= idx < b), 1)

        in_c = int(32 * width_mult)
        stem = nn.Sequential(nn.Conv2d(3, in_c, 3, 2, 1, bias=False), nn.BatchNorm2d(in_c), nn.ReLU6())
        feats: list[nn.Module] = [stem]
        self.stage_of = [-1]
        self.attn_blocks: list[int] = []
        channels = [in_c]
        for stage, (t, c, n, s) in enumerate(MOBILENETV2_SETTINGS):
            out_c = int(c * width_mult)
            for i in range(n):
                idx = len(feats)
                stride = s if i == 0 else 1
                d = dilation_for(idx)
                # the reference rewrite: a stride-2 conv becomes stride 1 with dilation d//2
                real_stride, real_dil = (1, max(1, d // 2)) if (d > 1 and stride == 2) else (stride, d)
                hidden = round(in_c * t)
                attn = None
                if attn_policy is not None and attn_policy.enabled(stage, stride):
                    attn = attn_policy.build(hidden, out_c)
                    self.attn_blocks.append(idx)
                feats.append(InvertedResidual(in_c, out_c, real_stride, t, real_dil, attn))
                self.stage_of.append(stage)
                channels.append(out_c)
                in_c = out_c
        if keep_last_conv:
            last = int(1280 * width_mult) if width_mult > 1.0 else 1280
            feats.append(nn.Sequential(nn.Conv2d(in_c, last, 1, 1, 0, bias=False), nn.BatchNorm2d(last), nn.ReLU6()))
            channels.append(last)
        self.features = nn.Sequential(*feats)
        self.channels = channels  # output channels of features[i]
        self.downsample_factor = downsample_factor
        self.input_multiple = downsample_factor  # input sides the stride-2 convs halve evenly
        self.attn_policy = attn_policy
        self.low_tap = low_tap
        self.down_idx = [2, 4, 7, 14]
        self.low_channels = channels[low_tap - 1]
        self.out_channels = channels[-1]
        self.cam_layer = f"features.{len(feats) - 1}"

    pretrained_layouts = ("segkit / reference (deeplabv3-plus-pytorch) MobileNetV2 keys 'features.N.conv.K.*', or "
                          "torchvision mobilenet_v2 keys 'features.N.conv.K.J.*'")

    def remap_state_dict(self, sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Key remapping used by `load_weights` (torchvision layout, attention inserted inside blocks)."""
        return remap_inserted_attn_keys(remap_torchvision_keys(sd), self)

    def channels_at(self, tap: int) -> int:
        """Channels of ``features[:tap](x)``."""
        return self.channels[tap - 1]

    def stride_at(self, tap: int) -> int:
        """Output stride of ``features[:tap](x)`` at this backbone's downsample factor."""
        stride = 1
        for m in list(self.features)[:tap]:
            s = m[0].stride[0] if isinstance(m, nn.Sequential) else m.stride
            stride *= s
        return stride

    def forward_taps(self, x: torch.Tensor, a: int, b: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(features[:a](x), features[a:b](.), features[b:](.)) for shallow-feature fusion."""
        f1 = self.features[:a](x)
        f2 = self.features[a:b](f1)
        return f1, f2, self.features[b:](f2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = self.features[: self.low_tap](x)
        return low, self.features[self.low_tap:](low)


_TV_KEY = re.compile(r"^(.*features\.(\d+)\.conv\.)(\d+)\.(?:(\d+)\.)?(.*)$")
# torchvision conv[a] / conv[a][b] -> the flat reference Sequential index
_TV_EXPAND = {(0, 0): 0, (0, 1): 1, (1, 0): 3, (1, 1): 4, (2, None): 6, (3, None): 7}  # t != 1
_TV_NO_EXPAND = {(0, 0): 0, (0, 1): 1, (1, None): 3, (2, None): 4}  # t == 1 (features.1)


def remap_torchvision_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map torchvision ``mobilenet_v2`` keys onto segkit's (= the reference's) flat block layout.

    torchvision nests ``Conv2dNormActivation`` in ``block.conv`` (``conv.0.0`` expand conv,
    ``conv.0.1`` its BN, ``conv.1.0``/``conv.1.1`` depthwise, ``conv.2`` projection,
    ``conv.3`` its BN; blocks with expand ratio 1 lack the expansion); segkit flattens them
    (``conv.0`` .. ``conv.7`` with the ReLU6s in between). Other keys (stem, ``features.18``,
    ``classifier``) are returned unchanged, as is a state dict in any other layout.
    """
    if not any(re.search(r"features\.1\.conv\.0\.0\.weight$", k) for k in state_dict):
        return dict(state_dict)  # not torchvision's layout
    expands = {m.group(2) for k in state_dict if (m := _TV_KEY.match(k)) and m.group(3) == "3"}
    out: dict[str, torch.Tensor] = {}
    for key, val in state_dict.items():
        m = _TV_KEY.match(key)
        if m:
            head, block, a, b, rest = m.group(1), m.group(2), int(m.group(3)), m.group(4), m.group(5)
            table = _TV_EXPAND if block in expands else _TV_NO_EXPAND
            idx = table.get((a, int(b) if b is not None else None))
            if idx is not None:
                key = f"{head}{idx}.{rest}"
        out[key] = val
    return out


_CONV_KEY = re.compile(r"^(.*features\.(\d+)\.conv\.)(\d+)\.(.*)$")


def remap_inserted_attn_keys(state_dict: Mapping[str, torch.Tensor], model: nn.Module,
                             prefix: str = "") -> dict[str, torch.Tensor]:
    """Map keys of checkpoints that inserted attention *inside* ``block.conv`` to segkit's layout.

    The reference ``MobileNetV2_GGCA`` put GGCA at ``conv[k]`` and shifted the projection to
    ``conv[k+1]``; segkit keeps ``conv`` intact and stores it as ``block.attn``. Keys of blocks
    whose checkpoint has no inserted module are returned unchanged.

    Args:
        state_dict: the checkpoint's state dict.
        model: the segkit model (any module containing a :class:`MobileNetV2`).
        prefix: extra prefix in front of ``features`` in the checkpoint keys (usually found automatically).
    """
    blocks = {name: m for name, m in model.named_modules() if isinstance(m, InvertedResidual)}
    by_index: dict[str, InvertedResidual] = {}
    for name, m in blocks.items():
        mm = re.search(r"features\.(\d+)$", name)
        if mm:
            by_index[mm.group(1)] = m
    # which blocks in the checkpoint hold an inserted module: a conv[k] that is not Conv/BN-shaped
    inserted: set[str] = set()
    for key in state_dict:
        m = _CONV_KEY.match(key)
        if m and m.group(2) in by_index and int(m.group(3)) == by_index[m.group(2)].attn_index \
                and not re.match(r"^(weight|bias|running_mean|running_var|num_batches_tracked)$", m.group(4)):
            inserted.add(m.group(2))
    out: dict[str, torch.Tensor] = {}
    for key, val in state_dict.items():
        m = _CONV_KEY.match(key)
        if m and m.group(2) in inserted:
            head, idx, k, rest = m.group(1), m.group(2), int(m.group(3)), m.group(4)
            block_head = head[: -len("conv.")]
            ai = by_index[idx].attn_index
            if k == ai:
                key = f"{block_head}attn.{rest}"
            elif k > ai:
                key = f"{head}{k - 1}.{rest}"
        out[key] = val
    return out
