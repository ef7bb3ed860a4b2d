"""Attention-map capture: forward hooks that recompute the gate of every attention module in a model.

See the ``segkit.cam`` docstring for what ``map`` holds per kind.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
import torch
import torch.nn as nn

from segkit._utils import eval_mode, model_device
from segkit.cam.images import _to_input

__all__ = ["AttentionMap", "capture_attention", "attention_kinds"]


@dataclass
class AttentionMap:
    """The attention of one module for the first image of the batch.

    Attributes:
        path: module path in the model.
        kind: "ggca", "cbam", "window_attn", "mobilevit_attn" or "attn_gate" (module docstring).
        module_type: the module's class name.
        map: (h, w) float32 at the module's feature resolution (range per kind).
        raw: the underlying gates/weights as numpy arrays.
        value_range: the theoretical range of ``map``.
    """

    path: str
    kind: str
    module_type: str
    map: np.ndarray
    raw: dict[str, np.ndarray]
    value_range: tuple[float, float]

    def normalized(self, size: tuple[int, int] | None = None) -> np.ndarray:
        """``map`` min-max scaled to [0, 1], optionally resized (bilinear) to `size` (H, W)."""
        from pytorch_grad_cam.utils.image import scale_cam_image

        target = None if size is None else (int(size[1]), int(size[0]))  # grad-cam takes (W, H)
        return np.clip(scale_cam_image(self.map.astype(np.float32)[None], target)[0], 0, 1)


def _first_input(inputs: tuple) -> torch.Tensor:
    return inputs[0] if isinstance(inputs, tuple) else inputs


def _ggca(module: nn.Module, inputs: tuple, output: Any) -> dict[str, Any]:
    x = _first_input(inputs)
    b, c, h, w = x.shape
    xg = x.reshape(-1, module.group_channels, h, w)  # (B,C,H,W) -> (B*G, Cg, H, W)
    h_avg, h_max, w_avg, w_max = module._pool(xg)
    att_h = torch.sigmoid(module.transform(h_avg) + module.transform(h_max))  # (B*G, Cg, H, 1)
    att_w = torch.sigmoid(module.transform(w_avg) + module.transform(w_max))  # (B*G, Cg, 1, W)
    att_h = att_h.reshape(b, c, h)[0]  # (C, H), first image
    att_w = att_w.reshape(b, c, w)[0]  # (C, W)
    gate = torch.einsum("ch,cw->hw", att_h, att_w) / c  # mean over channels of att_h x att_w
    return {"map": gate, "raw": {"att_h": att_h, "att_w": att_w}, "range": (0.0, 1.0)}


def _cbam(module: nn.Module, inputs: tuple, output: Any) -> dict[str, Any]:
    x = _first_input(inputs)
    ch = module.ca(x)  # (B, C, 1, 1)
    sp = module.sa(x * ch)  # (B, 1, H, W)
    return {"map": sp[0, 0], "raw": {"channel": ch[0, :, 0, 0], "spatial": sp[0, 0]}, "range": (0.0, 1.0)}


def _gate_map(x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Per-pixel fraction of activation energy a channel gate keeps: ||w*x|| / ||x||."""
    x0 = x[0].float()  # (C, H, W)
    w0 = weights.reshape(-1, 1, 1).float()
    num = (w0 * x0).pow(2).sum(0).sqrt()
    den = x0.pow(2).sum(0).sqrt()
    # where the input is all zero the ratio is undefined; use the mean gate there
    return torch.where(den > 0, num / den.clamp_min(1e-12), weights.float().mean())


_Extractor = Callable[[nn.Module, tuple, Any], dict[str, Any]]


def _received(a: torch.Tensor) -> torch.Tensor:
    """(..., heads, N, N) softmax weights -> (..., N): attention each token receives, mean over
    heads and queries, times N (1 = uniform; the mean over a window's tokens is exactly 1)."""
    n = a.shape[-1]
    return a.mean(dim=(-3, -2)) * n


def _tb_weights(block: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """Softmax weights of a ``window_attention.TransformerBlock`` on (N, L, C) tokens -> (N, h, L, L)."""
    x = block.norm1(tokens)
    n, l, c = x.shape
    qkv = block.qkv(x).reshape(n, l, 3, block.heads, block.head_dim).permute(2, 0, 3, 1, 4)  # (3, N, h, L, d)
    return ((qkv[0] * block.scale) @ qkv[1].transpose(-2, -1)).softmax(dim=-1)


def _window_attn(module: nn.Module, inputs: tuple, output: Any) -> dict[str, Any]:
    from segkit.modules.window_attention import window_partition, window_unpartition

    x = _first_input(inputs)[:1]  # first image only
    _, c, h, w = x.shape
    ws = module.window_size
    tokens = window_partition(x, ws).flatten(2).transpose(1, 2)  # (nW, ws*ws, C)
    a = _tb_weights(module.block, tokens)  # (nW, heads, L, L)
    rec = _received(a).reshape(-1, 1, ws, ws)  # (nW, 1, ws, ws)
    m = window_unpartition(rec, ws, h, w)[0, 0]  # (H, W)
    return {"map": m, "raw": {"weights": a}, "range": (0.0, float(ws * ws))}


def _mhsa_weights(attn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Softmax weights of a ``mobilevit.MultiHeadAttention`` on (B, P, N, D) -> (B, P, h, N, N)."""
    b, p, n, d = x.shape
    qkv = attn.to_qkv(x).reshape(b, p, n, 3, attn.heads, attn.head_dim).permute(3, 0, 1, 4, 2, 5)
    return ((qkv[0] * attn.scale) @ qkv[1].transpose(-2, -1)).softmax(dim=-1)


def _mobilevit(module: nn.Module, inputs: tuple, output: Any) -> dict[str, Any]:
    x = _first_input(inputs)[:1]
    z = module.local_rep(x)
    _, d, h, w = z.shape
    ph, pw = module.ph, module.pw
    nh, nw = h // ph, w // pw
    z = z.reshape(1, d, nh, ph, nw, pw)
    intra = module.attn_axis == "intra_patch"
    if intra:
        t = z.permute(0, 2, 4, 3, 5, 1).reshape(1, nh * nw, ph * pw, d)  # (1, P, N=ph*pw, d)
    else:
        t = z.permute(0, 3, 5, 2, 4, 1).reshape(1, ph * pw, nh * nw, d)  # (1, P, N=nh*nw, d)
    rec, weights = [], []
    for layer in module.transformer:  # every layer's attention, on that layer's input
        a = _mhsa_weights(layer.attn, layer.norm1(t))  # (1, P, heads, N, N)
        weights.append(a[0])
        rec.append(_received(a)[0])  # (P, N)
        t = layer(t)
    r = torch.stack(rec).mean(0)  # mean over layers
    if intra:
        m = r.reshape(nh, nw, ph, pw).permute(0, 2, 1, 3).reshape(h, w)
    else:
        m = r.reshape(ph, pw, nh, nw).permute(2, 0, 3, 1).reshape(h, w)
    n = ph * pw if intra else nh * nw
    return {"map": m, "raw": {f"weights_layer{i}": a for i, a in enumerate(weights)}, "range": (0.0, float(n))}


def _attn_gate(module: nn.Module, inputs: tuple, output: Any) -> dict[str, Any]:
    x = _first_input(inputs)
    wts = module.fc(x.mean((2, 3)))  # (B, C)
    return {"map": _gate_map(x, wts[0]), "raw": {"weights": wts[0]}, "range": (0.0, 1.0)}


def _extractors() -> list[tuple[str, type, _Extractor]]:
    """(kind, module class, extractor) for every attention module segkit defines.

    Classes are imported lazily, so a module family that is missing is simply not captured.
    """
    import importlib

    table = [
        ("ggca", "segkit.modules.ggca", "_GGCABase", _ggca),  # every GGCA variant
        ("cbam", "segkit.modules.cbam", "CBAM", _cbam),
        ("window_attn", "segkit.modules.window_attention", "WindowTransformerBlock", _window_attn),
        ("mobilevit_attn", "segkit.modules.mobilevit", "MobileViTAttentionBlock", _mobilevit),
        ("attn_gate", "segkit.modules.attn_gate", "AttnGate", _attn_gate),
    ]
    found = []
    for kind, mod, cls, fn in table:
        try:
            found.append((kind, getattr(importlib.import_module(mod), cls), fn))
        except (ImportError, AttributeError):
            continue
    return found


def attention_kinds() -> list[str]:
    """The attention kinds ``capture_attention`` can record in this installation."""
    return sorted({k for k, _, _ in _extractors()})


def capture_attention(
    model: nn.Module,
    image: Any,
    kinds: Iterable[str] | None = None,
    device: str | torch.device | None = None,
) -> list[AttentionMap]:
    """Run `model` once on `image` and record the attention of every supported module.

    Modules are found by type anywhere in the model, so blocks inserted with
    ``segkit.stitch`` are captured like built-in ones. The forward runs in eval mode under
    ``no_grad``; every module's training flag is restored.

    Args:
        model: any model.
        image: as in ``gradcam`` (a tensor (B, 3, H, W) is also accepted; image 0 is recorded).
        kinds: restrict to these kinds (see ``attention_kinds()``); None records all.
        device: default the model's device.

    Returns:
        One ``AttentionMap`` per module call, in execution order.
    """
    available = _extractors()
    known = {k for k, _, _ in available}
    if kinds is not None:
        kinds = set(kinds)
        bad = kinds - known
        if bad:
            raise ValueError(f"unknown attention kind(s) {sorted(bad)}; available: {sorted(known)}")
    x = image.float() if isinstance(image, torch.Tensor) and image.ndim == 4 else _to_input(image)[0]
    dev = model_device(model, device)
    maps: list[AttentionMap] = []

    def make_hook(path: str, kind: str, fn: _Extractor):
        def hook(module: nn.Module, inputs: tuple, output: Any) -> None:
            d = fn(module, inputs, output)
            maps.append(AttentionMap(path, kind, type(module).__name__, d["map"].detach().float().cpu().numpy(),
                                     {k: v.detach().float().cpu().numpy() for k, v in d["raw"].items()},
                                     d["range"]))

        return hook

    handles = []
    with eval_mode(model):
        try:
            for path, module in model.named_modules():
                for kind, cls, fn in available:
                    if isinstance(module, cls) and (kinds is None or kind in kinds):
                        handles.append(module.register_forward_hook(make_hook(path, kind, fn)))
                        break
            model(x.to(dev))
        finally:
            for hd in handles:
                hd.remove()
    return maps
