"""The CAM target layer: a ``cam_layers`` role, a module path, or the last feature conv before the classifier."""
from __future__ import annotations

import torch.nn as nn

from segkit._utils import did_you_mean

__all__ = ["resolve_layer"]


def _last_feature_conv(model: nn.Module) -> str | None:
    """Path of the last Conv2d (in registration order) that is not the classifier.

    The classifier is recognised by ``out_channels == model.num_classes`` (without that
    attribute: the out_channels of the last conv).
    """
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    k = getattr(model, "num_classes", None) or (convs[-1][1].out_channels if convs else None)
    for name, conv in reversed(convs):
        if k is None or conv.out_channels != k:
            return name
    return convs[-1][0] if convs else None


def resolve_layer(model: nn.Module, layer: str | None = None) -> tuple[str, nn.Module, list[str]]:
    """The CAM target layer as (path, module, notes).

    Args:
        model: the segmentation model.
        layer: a role of ``model.cam_layers`` ("backbone", "neck", "decoder"), a module
            path for ``model.get_submodule``, or None: the "decoder" role, else "neck",
            else "backbone", else the last feature conv before the classifier.
    """
    roles: dict[str, str] = dict(getattr(model, "cam_layers", None) or {})
    notes: list[str] = []
    if layer is None:
        for role in ("decoder", "neck", "backbone"):
            if role in roles:
                layer = roles[role]
                notes.append(f"target layer: cam_layers[{role!r}] = {layer!r}")
                break
        else:
            layer = _last_feature_conv(model)
            if layer is None:
                raise ValueError(f"{type(model).__name__} has no cam_layers and no Conv2d; pass layer='<module path>'")
            notes.append(f"{type(model).__name__} has no cam_layers; using the last feature conv {layer!r}")
    elif layer in roles:
        notes.append(f"target layer: cam_layers[{layer!r}] = {roles[layer]!r}")
        layer = roles[layer]
    try:
        module = model.get_submodule(layer) if layer else model
    except AttributeError:
        names = [n for n, _ in model.named_modules() if n]
        raise ValueError(
            f"layer={layer!r} is neither a cam_layers role ({sorted(roles) or 'none defined'}) nor a module path of "
            f"{type(model).__name__}.{did_you_mean(layer, names)}"
        ) from None
    return layer, module, notes
