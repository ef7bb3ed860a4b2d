"""The pixel features that mutual prototypical adaptation (MPA) aligns, read from any model.

MPA (``segkit.adapt.mpa``) needs, besides the logits, the decoder's pixel features
``(B, C, h, w)``: the features the classifier reads. `FeatureTap` gets them in one forward
pass:

- **Trans4PASS**: :meth:`~segkit.models.trans4pass.Trans4PASS.forward_features`, the sum of
  the four decoder stages (128 channels at 1/4), as the official code does;
- **any model with a ``cam_layers["decoder"]`` role** (the layer Grad-CAM explains): a
  forward hook on that module. DeepLabV3+ (every backbone and the paper's presets):
  ``cat_conv``, the 256-channel decoder output at 1/4 that ``cls_conv`` classifies;
  DeepLabV3: ``head``; also the UNet family, PSPNet, LinkNet, HRNet, HarDNet, SegFormer and
  SegNeXt, whose registry entries set that role;
- **any other model**: ``feature_layer=<module path>`` (``segkit.stitch.inspect`` lists
  the paths and shapes), or another ``cam_layers`` role such as ``"neck"``.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from segkit._utils import did_you_mean, main_logits

__all__ = ["FeatureTap", "feature_source"]


def _is_trans4pass(model: nn.Module) -> bool:
    from segkit.models.trans4pass import Trans4PASS

    return isinstance(model, Trans4PASS)


def feature_source(model: nn.Module, layer: str = "") -> str:
    """Where `FeatureTap` reads features: ``"forward_features"`` or a module path.

    Args:
        model: the segmentation model.
        layer: "" (automatic), a ``cam_layers`` role ("decoder", "neck") or a module path.

    Raises:
        ValueError: the model exposes no decoder features and no layer was given, or the
            layer names no module (with a did-you-mean).
    """
    roles: dict[str, str] = dict(getattr(model, "cam_layers", None) or {})
    if not layer:
        if _is_trans4pass(model):
            return "forward_features"
        if "decoder" in roles:
            return roles["decoder"]
        raise ValueError(f"{type(model).__name__} exposes no decoder features for MPA (no cam_layers['decoder']); "
                         "set AdaptConfig.feature_layer to the module whose output the classifier reads "
                         "(segkit.stitch.inspect(model, (1, 3, 64, 64)) lists the module paths)")
    path = roles.get(layer, layer)
    names = [n for n, _ in model.named_modules() if n]
    if path not in names:
        raise ValueError(f"AdaptConfig.feature_layer={layer!r} is neither a cam_layers role "
                         f"({sorted(roles) or 'none'}) "
                         f"nor a module path of {type(model).__name__}.{did_you_mean(path, names)}")
    return path


class FeatureTap:
    """Call a model and return ``(logits, features)``; a context manager that removes its hook.

    Args:
        model: the segmentation model (not wrapped in DDP).
        layer: see :func:`feature_source`.

    Attributes:
        source: where the features come from (``"forward_features"`` or a module path).
    """

    def __init__(self, model: nn.Module, layer: str = "") -> None:
        self.model = model
        self.source = feature_source(model, layer)
        self._out: Any = None
        self._handle = None
        if self.source != "forward_features":
            self._handle = model.get_submodule(self.source).register_forward_hook(self._keep)

    def _keep(self, module: nn.Module, inputs: Any, output: Any) -> None:
        self._out = output

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits (B, K, H, W), features (B, C, h, w))`` of one forward pass."""
        if self.source == "forward_features":
            logits, feats = self.model.forward_features(x)
            return logits, sum(feats) if isinstance(feats, (list, tuple)) else feats
        self._out = None
        logits = main_logits(self.model(x))
        feats = self._out
        if not isinstance(feats, torch.Tensor) or feats.ndim != 4:
            got = tuple(feats.shape) if isinstance(feats, torch.Tensor) else type(feats).__name__
            raise ValueError(f"MPA features from {self.source!r} must be a (B, C, h, w) tensor, got {got}; "
                             "set AdaptConfig.feature_layer to a convolutional decoder layer")
        return logits, feats

    def close(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def __enter__(self) -> "FeatureTap":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
