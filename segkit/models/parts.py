"""The named parts of a DeepLab model, for training options that act on one part at a time
(``warm_start``, ``part_unfreeze_epoch``; see docs/training.md).

Every state-dict key belongs to exactly one part:

- ``attention`` (alias ``ggca``): the attention modules inside the backbone, found by type
  (the ``attn`` of each MobileNetV2 ``InvertedResidual``, and modules stitched into the
  backbone), whatever preset placed them;
- ``backbone``: the rest of ``model.backbone``;
- ``sff``: the shallow feature fusion (``model.fusion``, and with ``zero_gate`` its own
  shortcut ``fusion_shortcut`` and gate ``fusion_gate``);
- ``aspp``: ``model.aspp``;
- ``decoder``: everything else (shortcut, ``cat_conv``, classifier; DeepLabV3's head).
"""
from __future__ import annotations

import torch.nn as nn

__all__ = ["PARTS", "part_name", "attention_paths", "part_of", "part_keys", "part_parameters"]

PARTS = ("backbone", "attention", "sff", "aspp", "decoder")
_ALIASES = {"ggca": "attention"}
_SFF_PREFIXES = ("fusion.", "fusion_shortcut.", "fusion_gate")


def part_name(name: str) -> str:
    """The canonical part name (``ggca`` -> ``attention``); an unknown name is a ValueError listing the known."""
    if name in PARTS:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    known = ", ".join(PARTS + tuple(_ALIASES))
    raise ValueError(f"unknown model part {name!r}; known parts: {known}")


def attention_paths(model: nn.Module) -> list[str]:
    """Module paths of the attention modules inside ``model.backbone`` (found by type, outermost only)."""
    from segkit.models.backbones.mobilenetv2 import InvertedResidual
    from segkit.stitch import Stitched

    backbone = getattr(model, "backbone", None)
    if not isinstance(backbone, nn.Module):
        return []
    paths = []
    for name, m in backbone.named_modules():
        prefix = f"backbone.{name}." if name else "backbone."
        if isinstance(m, InvertedResidual) and m.attn is not None:
            paths.append(prefix + "attn")
        elif isinstance(m, Stitched):
            paths += [prefix + child for child in m._modules if child != "host"]
    return paths


def part_of(key: str, attention: list[str]) -> str:
    """The part a state-dict `key` belongs to, given the model's :func:`attention_paths`."""
    if any(key.startswith(p + ".") for p in attention):
        return "attention"
    if key.startswith("backbone."):
        return "backbone"
    if key.startswith(_SFF_PREFIXES):
        return "sff"
    if key.startswith("aspp."):
        return "aspp"
    return "decoder"


def part_keys(model: nn.Module, part: str) -> list[str]:
    """The state-dict keys (parameters and buffers) of `part` in `model`."""
    part = part_name(part)
    attention = attention_paths(model)
    return [k for k in model.state_dict() if part_of(k, attention) == part]


def part_parameters(model: nn.Module, part: str) -> list[tuple[str, nn.Parameter]]:
    """``(name, parameter)`` of `part` in `model`."""
    part = part_name(part)
    attention = attention_paths(model)
    return [(k, p) for k, p in model.named_parameters() if part_of(k, attention) == part]
