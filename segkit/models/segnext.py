"""SegNeXt: a convolutional attention encoder (MSCAN) and a light Hamburger decoder.

Guo et al., "SegNeXt: Rethinking Convolutional Attention Design for Semantic
Segmentation", NeurIPS 2022, https://arxiv.org/abs/2209.08575

MSCAN stage 1 starts with a conv stem (two 3x3 stride-2 convs with BN); later stages
use a 3x3 stride-2 conv + BN embedding. A block is BN -> spatial attention (1x1, GELU,
MSCA, 1x1, plus shortcut) -> BN -> conv-FFN (1x1, 3x3 depthwise, GELU, 1x1), each branch
scaled by a learnable layer scale. MSCA sums a 5x5 depthwise conv and three strip
branches (1x7+7x1, 1x11+11x1, 1x21+21x1), mixes channels with a 1x1 conv, and
multiplies the input by the result.

The decoder (LightHamHead) resizes stages 2-4 to stage 2's size (1/8), concatenates
them, squeezes with a 1x1 conv + GroupNorm + ReLU, and runs a Hamburger: 1x1 conv ->
ReLU -> NMF matrix decomposition (multiplicative updates, no parameters; only the last
update carries gradients, the paper's one-step gradient) -> 1x1 conv + GroupNorm,
added to its input. A 1x1 conv + GN + ReLU and a classifier follow.

Deviation: BatchNorm instead of SyncBN (identical on one device).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from segkit.models._registry import register_model
from segkit.models.hierarchical import DropPath, HierarchicalEncoder
from segkit.models._base import SegmentationModel

__all__ = ["MSCAN", "SegNeXt", "LightHamHead", "MSCA", "NMF2D", "MSCAN_CONFIGS"]

MSCAN_CONFIGS: dict[str, dict[str, tuple]] = {
    "t": {"dims": (32, 64, 160, 256), "depths": (3, 3, 5, 2), "mlp_ratios": (8, 8, 4, 4)},
    "s": {"dims": (64, 128, 320, 512), "depths": (2, 2, 4, 2), "mlp_ratios": (8, 8, 4, 4)},
    "b": {"dims": (64, 128, 320, 512), "depths": (3, 3, 12, 3), "mlp_ratios": (8, 8, 4, 4)},
}


class MSCA(nn.Module):
    """Multi-scale convolutional attention: 5x5 DW + strip DW branches (7, 11, 21) -> 1x1 -> x * attn."""

    def __init__(self, dim: int, strip_sizes: Sequence[int] = (7, 11, 21)) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(dim, dim, 5, padding=2, groups=dim)
        self.strips = nn.ModuleList()
        for k in strip_sizes:
            self.strips.append(nn.Sequential(
                nn.Conv2d(dim, dim, (1, k), padding=(0, k // 2), groups=dim),
                nn.Conv2d(dim, dim, (k, 1), padding=(k // 2, 0), groups=dim),
            ))
        self.mix = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attn = self.conv0(x)
        attn = attn + sum(strip(attn) for strip in self.strips)
        return x * self.mix(attn)


class _SpatialAttention(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj_1 = nn.Conv2d(dim, dim, 1)
        self.act = nn.GELU()
        self.msca = MSCA(dim)
        self.proj_2 = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj_2(self.msca(self.act(self.proj_1(x)))) + x


class _ConvFFN(nn.Sequential):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__(nn.Conv2d(dim, hidden, 1), nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden), nn.GELU(),
                         nn.Conv2d(hidden, dim, 1))


class MSCANBlock(nn.Module):
    """BN -> spatial attention (layer-scaled) -> BN -> conv-FFN (layer-scaled), both residual."""

    def __init__(self, dim: int, mlp_ratio: float, drop_path: float = 0.0, layer_scale: float = 1e-2) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(dim)
        self.attn = _SpatialAttention(dim)
        self.norm2 = nn.BatchNorm2d(dim)
        self.mlp = _ConvFFN(dim, int(dim * mlp_ratio))
        self.gamma1 = nn.Parameter(layer_scale * torch.ones(dim))
        self.gamma2 = nn.Parameter(layer_scale * torch.ones(dim))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.gamma1.view(1, -1, 1, 1) * self.attn(self.norm1(x)))
        return x + self.drop_path(self.gamma2.view(1, -1, 1, 1) * self.mlp(self.norm2(x)))


class MSCAN(HierarchicalEncoder):
    """MSCAN encoder returning 4 maps at strides 4, 8, 16, 32."""

    def __init__(
        self,
        dims: Sequence[int] = (32, 64, 160, 256),
        depths: Sequence[int] = (3, 3, 5, 2),
        mlp_ratios: Sequence[float] = (8, 8, 4, 4),
        drop_path_rate: float = 0.1,
    ) -> None:
        def embed(i: int) -> nn.Module:
            if i == 0:  # the conv stem: two 3x3 stride-2 convs
                return nn.Sequential(
                    nn.Conv2d(3, dims[0] // 2, 3, 2, 1), nn.BatchNorm2d(dims[0] // 2), nn.GELU(),
                    nn.Conv2d(dims[0] // 2, dims[0], 3, 2, 1), nn.BatchNorm2d(dims[0]),
                )
            return nn.Sequential(nn.Conv2d(dims[i - 1], dims[i], 3, 2, 1), nn.BatchNorm2d(dims[i]))

        super().__init__(dims, depths, drop_path_rate, embed,
                         lambda i, rate: MSCANBlock(dims[i], mlp_ratios[i], rate))

    def stage(self, i: int, x: torch.Tensor) -> torch.Tensor:
        x = self.embeds[i](x)
        for blk in self.stages[i]:
            x = blk(x)
        # LayerNorm over channels: (B,C,H,W) -> (B,H,W,C) -> (B,C,H,W)
        return self.norms[i](x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).contiguous()


class NMF2D(nn.Module):
    """Non-negative matrix factorisation of a (B, C, H, W) map into `rank` bases (no parameters).

    The map is viewed as X (C x HW) ~ D (C x R) @ C^T (R x HW). Multiplicative updates
    run `train_steps` (training) or `eval_steps` (inference) times without gradients from
    random bases; one final coefficient update carries the gradient (one-step gradient).
    The output is the low-rank reconstruction D @ C^T.
    """

    def __init__(self, rank: int = 16, train_steps: int = 6, eval_steps: int = 7, eps: float = 1e-6) -> None:
        super().__init__()
        self.rank, self.train_steps, self.eval_steps, self.eps = rank, train_steps, eval_steps, eps

    def _update_coef(self, x: torch.Tensor, bases: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
        num = x.transpose(1, 2) @ bases  # (B,N,R)
        den = coef @ (bases.transpose(1, 2) @ bases)
        return coef * num / (den + self.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        flat = x.reshape(b, c, h * w).float()  # (B,C,N)
        bases = F.normalize(torch.rand(b, c, self.rank, device=x.device, dtype=flat.dtype), dim=1)
        coef = torch.softmax(flat.transpose(1, 2) @ bases, dim=-1)  # (B,N,R)
        steps = self.train_steps if self.training else self.eval_steps
        with torch.no_grad():
            fx = flat.detach()
            for _ in range(steps):
                coef = self._update_coef(fx, bases, coef)
                num = fx @ coef  # (B,C,R)
                den = bases @ (coef.transpose(1, 2) @ coef)
                bases = bases * num / (den + self.eps)
        coef = self._update_coef(flat, bases, coef)  # the one step with gradient
        return (bases @ coef.transpose(1, 2)).reshape(b, c, h, w).to(x.dtype)


def _conv_gn(in_ch: int, out_ch: int, groups: int = 32, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.GroupNorm(min(groups, out_ch), out_ch)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Hamburger(nn.Module):
    """1x1 conv -> ReLU -> NMF -> 1x1 conv + GN, residual, ReLU."""

    def __init__(self, channels: int, rank: int = 16) -> None:
        super().__init__()
        self.ham_in = nn.Conv2d(channels, channels, 1)
        self.ham = NMF2D(rank)
        self.ham_out = _conv_gn(channels, channels, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ham_out(self.ham(F.relu(self.ham_in(x))))
        return F.relu(x + y)


class LightHamHead(nn.Module):
    """SegNeXt decoder on stages 2-4: concat at 1/8 -> squeeze -> Hamburger -> align -> classify."""

    def __init__(self, in_channels: Sequence[int], num_classes: int, ham_channels: int = 256, channels: int = 256,
                 rank: int = 16, dropout: float = 0.1) -> None:
        super().__init__()
        self.squeeze = _conv_gn(sum(in_channels), ham_channels)
        self.hamburger = Hamburger(ham_channels, rank)
        self.align = _conv_gn(ham_channels, channels)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        size = feats[0].shape[-2:]
        x = torch.cat([f if f.shape[-2:] == size else F.interpolate(f, size=size, mode="bilinear", align_corners=False)
                       for f in feats], 1)
        return self.classifier(self.dropout(self.align(self.hamburger(self.squeeze(x)))))


class SegNeXt(SegmentationModel):
    """SegNeXt = MSCAN encoder + LightHamHead on stages 2-4.

    Args:
        num_classes: output channels (150 for ADE20K).
        variant: MSCAN size "t", "s" or "b".
        ham_channels: decoder width (256 for T/S, 512 for B in the official configs).
        drop_path_rate: encoder stochastic depth.

    Shape:
        (B, 3, H, W) -> (B, num_classes, H, W); inputs are padded to multiples of 32.

    Parameters at 150 classes: T 4.26M, S 13.93M, B 27.64M; the paper reports 4.3M, 13.9M
    and 27.6M (Table 4, ADE20K).
    """

    def __init__(self, num_classes: int = 150, variant: str = "t", ham_channels: int | None = None,
                 drop_path_rate: float = 0.1) -> None:
        super().__init__(num_classes, 32)
        if variant not in MSCAN_CONFIGS:
            raise ValueError(f"variant must be one of {sorted(MSCAN_CONFIGS)}; got {variant!r}.")
        cfg = MSCAN_CONFIGS[variant]
        self.backbone = MSCAN(cfg["dims"], cfg["depths"], cfg["mlp_ratios"], drop_path_rate)
        if ham_channels is None:
            ham_channels = 512 if variant == "b" else 256
        self.decode_head = LightHamHead(self.backbone.channels[1:], num_classes, ham_channels, ham_channels)
        self.cam_layers = {"backbone": "backbone.outputs.3", "neck": "decode_head.hamburger",
                           "decoder": "decode_head.align"}

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(x)
        out = self.decode_head(feats[1:])
        return F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)


_PAPER = "SegNeXt (Guo et al., NeurIPS 2022)"


@register_model("segnext-t", family="segnext", paper=_PAPER, year=2022, input_multiple=32, reference_params=4_300_000)
def segnext_t(num_classes: int = 150, drop_path_rate: float = 0.1) -> SegNeXt:
    """SegNeXt-T (reference 4.3M at 150 classes: paper Table 4, ADE20K)."""
    return SegNeXt(num_classes, "t", drop_path_rate=drop_path_rate)


@register_model("segnext-s", family="segnext", paper=_PAPER, year=2022, input_multiple=32, reference_params=13_900_000)
def segnext_s(num_classes: int = 150, drop_path_rate: float = 0.1) -> SegNeXt:
    """SegNeXt-S (reference 13.9M at 150 classes: paper Table 4, ADE20K)."""
    return SegNeXt(num_classes, "s", drop_path_rate=drop_path_rate)


@register_model("segnext-b", family="segnext", paper=_PAPER, year=2022, input_multiple=32, reference_params=27_600_000)
def segnext_b(num_classes: int = 150, drop_path_rate: float = 0.1) -> SegNeXt:
    """SegNeXt-B (reference 27.6M at 150 classes: paper Table 4, ADE20K)."""
    return SegNeXt(num_classes, "b", drop_path_rate=drop_path_rate)
