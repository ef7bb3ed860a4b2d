"""Window attention (W-MSA) for ASPP branches (the WA-ASPP head; see ``docs/models.md``).

Swin Transformer (Liu et al., "Swin Transformer: Hierarchical Vision Transformer using
Shifted Windows", ICCV 2021, https://arxiv.org/abs/2103.14030) style non-overlapping window
attention, without the shift and without relative position bias: ``window_partition`` cuts
(B,C,H,W) into (B*nW, C, ws, ws), each window becomes ws*ws tokens, a pre-LN transformer
block runs on them, and ``window_unpartition`` restores the map.

Deviation from the reference code, which asserts that the map tiles into windows: like Swin,
`WindowTransformerBlock` zero-pads the map to a multiple of the window and crops the result
back, so any feature size works. Unlike Swin, the padded positions are masked out as keys,
so a window's real tokens attend only to each other (the padding value never matters).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from segkit.modules._padding import is_tracing, pad_to_multiple
from segkit.modules._registry import register_module

__all__ = ["window_partition", "window_unpartition", "padding_key_mask", "TransformerBlock", "WindowTransformerBlock"]


# helpers

def _check_window(h: int, w: int, ws: int, where: str) -> None:
    if torch.jit.is_tracing():  # sizes are traced values here; the check would record a constant
        return
    if h % ws or w % ws:
        raise RuntimeError(f"{where}: feature size ({h}, {w}) is not a multiple of {ws} (window_size={ws}); pad "
                           f"it first (segkit.modules._padding.pad_to_multiple; WindowTransformerBlock does)")


def window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    """(B, C, H, W) -> (B*nW, C, ws, ws), windows in row-major order; H and W must be multiples of ws."""
    b, c, h, w = x.shape
    _check_window(h, w, ws, "window_partition")
    x = x.reshape(b, c, h // ws, ws, w // ws, ws)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(-1, c, ws, ws)  # (B, nH, nW, C, ws, ws) -> (B*nW, C, ws, ws)


def window_unpartition(windows: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    """Exact inverse of `window_partition`: (B*nW, C, ws, ws) -> (B, C, H, W)."""
    c = windows.shape[1]
    x = windows.reshape(-1, h // ws, w // ws, c, ws, ws)  # (B, nH, nW, C, ws, ws)
    return x.permute(0, 3, 1, 4, 2, 5).reshape(-1, c, h, w)


def padding_key_mask(h: int, w: int, pad_h: int, pad_w: int, ws: int, batch: int,
                     device: torch.device) -> torch.Tensor:
    """(B*nW, ws*ws) True at the padded positions of each window of a map padded from (h, w).

    Padding is less than a window, so every window keeps at least one real token to attend to.
    """
    pad = torch.zeros(1, 1, h + pad_h, w + pad_w, dtype=torch.bool, device=device)
    pad[..., h:, :] = True
    pad[..., :, w:] = True
    return window_partition(pad, ws).flatten(1).repeat(batch, 1)  # (nW, ws*ws) -> (B*nW, ws*ws)


# classes

class TransformerBlock(nn.Module):
    """Pre-LN transformer block on (N, L, dim) tokens, no positional encoding.

    ``x = x + proj_drop(proj(attn_drop(softmax(QK^T/sqrt(d)) V)))``, then
    ``x = x + FFN(LN(x))`` with FFN = Linear -> GELU -> Dropout -> Linear -> Dropout.
    As in the reference code, attn_drop acts on the attention output, not on the weights.

    Args:
        dim: token width (divisible by `heads`).
        heads: attention heads.
        mlp_ratio: FFN hidden = dim * mlp_ratio.
        attn_dropout: rate of attn_drop and proj_drop.
        ffn_dropout: rate of both FFN dropouts.
    """

    def __init__(self, dim: int, heads: int = 4, mlp_ratio: float = 4, attn_dropout: float = 0.0,
                 ffn_dropout: float = 0.0) -> None:
        super().__init__()
        if heads < 1 or dim % heads:
            raise ValueError(f"TransformerBlock: dim={dim} must be divisible by heads={heads}; "
                             f"pick heads dividing {dim}")
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = float(self.head_dim) ** -0.5  # a Python float keeps tracing clean
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.attn_drop = nn.Dropout(attn_dropout)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(attn_dropout)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(ffn_dropout), nn.Linear(hidden, dim),
                                 nn.Dropout(ffn_dropout))

    def attention(self, x: torch.Tensor, ignore: torch.Tensor | None = None) -> torch.Tensor:
        """Multi-head self-attention; `ignore` (N, L) marks keys no query may attend to."""
        n, l, c = x.shape
        qkv = self.qkv(x).reshape(n, l, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)  # (3, N, h, L, d)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = (q * self.scale) @ k.transpose(-2, -1)  # (N, h, L, L)
        if ignore is not None:
            scores = scores.masked_fill(ignore[:, None, None, :], float("-inf"))
        out = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(n, l, c)  # (N, h, L, d) -> (N, L, C)
        return self.proj_drop(self.proj(self.attn_drop(out)))

    def forward(self, x: torch.Tensor, ignore: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attention(self.norm1(x), ignore)
        return x + self.mlp(self.norm2(x))


@register_module(
    "window_attn",
    paper="Swin Transformer window attention (W-MSA), ICCV 2021; WA_ASPP of the paper's reference code",
    year=2021,
    addresses="Global self-attention is quadratic in the number of pixels",
    where="ASPP branches (WA_ASPP windows 4/8/16)",
    contract="(B,C,H,W) -> (B,C,H,W)",
)
class WindowTransformerBlock(nn.Module):
    """Transformer block inside non-overlapping ws x ws windows; the shape is unchanged.

    Args:
        channels: C (divisible by `heads`).
        window_size: ws; a map whose sides are not multiples of it is zero-padded, the padded
            positions are masked out as keys, and the result is cropped back.
        heads: attention heads.
        mlp_ratio: FFN expansion.
        attn_dropout: attention output / projection dropout.
        ffn_dropout: FFN dropout.

    Shape:
        (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(self, channels: int, window_size: int = 8, heads: int = 4, mlp_ratio: float = 4,
                 attn_dropout: float = 0.0, ffn_dropout: float = 0.0) -> None:
        super().__init__()
        if window_size < 1:
            raise ValueError(f"WindowTransformerBlock: window_size must be >= 1, got {window_size}")
        self.window_size = window_size
        self.block = TransformerBlock(channels, heads, mlp_ratio, attn_dropout, ffn_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        ws = self.window_size
        ignore = None
        if not is_tracing():  # a traced input must already tile (no shape-dependent branch in the graph)
            x, pad_h, pad_w = pad_to_multiple(x, ws)
            if pad_h or pad_w:
                ignore = padding_key_mask(h, w, pad_h, pad_w, ws, b, x.device)
        win = window_partition(x, ws)  # (B*nW, C, ws, ws)
        tokens = win.flatten(2).transpose(1, 2)  # (B*nW, ws*ws, C)
        tokens = self.block(tokens, ignore)
        win = tokens.transpose(1, 2).reshape(-1, c, ws, ws)
        return window_unpartition(win, ws, *x.shape[-2:])[..., :h, :w]
