"""Weight initialisation and checkpoint loading shared by every segkit model.

``weights_init`` follows the reference code's ``weights_init`` (see ``docs/models.md``). ``load_weights``
loads keys whose names and shapes match (after key remapping) and returns a report of
loaded / missing / skipped / unexpected keys. No silent partial loads: when fewer than
95 % of the backbone's tensors match, it raises naming the layout it expected and what it
found, unless ``partial=True`` (then a loud warning with the counts). Files are read with
``weights_only=True`` (or as safetensors); this module never downloads (see ``_pretrained``).
"""
from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Literal, Mapping

import torch
import torch.nn as nn

from segkit._utils import load_tensors

__all__ = ["weights_init", "load_weights", "LoadReport", "read_state_dict", "PartialLoadError", "MIN_MATCH"]

MIN_MATCH = 0.95  # share of the backbone's tensors a checkpoint must fill

Remap = Callable[[Mapping[str, torch.Tensor]], Mapping[str, torch.Tensor]]


def weights_init(model: nn.Module, init_type: Literal["normal", "xavier", "kaiming", "orthogonal"] = "normal",
                 gain: float = 0.02, verbose: bool = True) -> nn.Module:
    """Initialise a network in place as the reference does.

    Modules whose class name contains "Conv" and that own a ``weight`` get it drawn by
    `init_type` (normal: N(0, gain); xavier: xavier_normal(gain); kaiming: kaiming_normal
    fan_in; orthogonal(gain)); their bias is left as is. ``BatchNorm2d`` gets weight N(1, 0.02)
    and bias 0. Linear, LayerNorm and GroupNorm keep the PyTorch defaults.

    Returns:
        The same model.
    """
    if init_type not in ("normal", "xavier", "kaiming", "orthogonal"):
        raise ValueError(f"init_type must be 'normal', 'xavier', 'kaiming' or 'orthogonal', got {init_type!r}")

    def init_func(m: nn.Module) -> None:
        name = type(m).__name__
        w = getattr(m, "weight", None)
        if "Conv" in name and isinstance(w, torch.Tensor):
            if init_type == "normal":
                nn.init.normal_(w.data, 0.0, gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(w.data, gain=gain)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(w.data, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(w.data, gain=gain)
        elif "BatchNorm2d" in name and isinstance(w, torch.Tensor):
            nn.init.normal_(w.data, 1.0, 0.02)
            nn.init.constant_(m.bias.data, 0.0)

    if verbose:
        print(f"initialize network with {init_type} type")
    model.apply(init_func)
    return model


class PartialLoadError(ValueError):
    """A checkpoint fills fewer than ``MIN_MATCH`` of the backbone's tensors (and ``partial`` is off)."""


@dataclass
class LoadReport:
    """What `load_weights` did.

    ``skipped`` holds (key, reason) pairs (shape mismatch). ``scope`` is the part of the model
    the match is judged on ("backbone" or "model"): ``scope_total`` tensors there (modules
    segkit adds to a backbone, such as attention inside MobileNetV2 blocks, not counted), of
    which ``scope_loaded`` were filled.
    """

    source: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    scope: str = "model"
    scope_total: int = 0
    scope_loaded: int = 0

    @property
    def coverage(self) -> float:
        """Share of the scope's tensors that were loaded (1.0 for an empty scope)."""
        return self.scope_loaded / self.scope_total if self.scope_total else 1.0

    def __str__(self) -> str:
        lines = [f"loaded {len(self.loaded)} tensors from {self.source} ({self.scope}: {self.scope_loaded}/"
                 f"{self.scope_total} = {self.coverage:.1%} matched); {len(self.missing)} missing, "
                 f"{len(self.skipped)} skipped (shape), {len(self.unexpected)} unexpected"]
        for title, items in (("missing", self.missing), ("skipped", [f"{k} ({r})" for k, r in self.skipped]),
                             ("unexpected", self.unexpected)):
            if items:
                shown = ", ".join(items[:8]) + (f", ... (+{len(items) - 8})" if len(items) > 8 else "")
                lines.append(f"  {title}: {shown}")
        return "\n".join(lines)


_PRINTED: set[str] = set()  # load reports already printed by this process


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint file (``weights_only=True``, or a ``.safetensors`` file).

    Unwraps "state_dict"/"model" entries and a DDP "module." prefix.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights not found: {path}; pass an existing file, a URL or 'imagenet'")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        obj: object = load_file(str(path), device="cpu")
    else:
        obj = load_tensors(path)
    for key in ("state_dict", "model", "model_state", "net"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise ValueError(f"{path} does not hold a state dict (got {type(obj).__name__})")
    sd = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def _scope(model: nn.Module) -> tuple[str, str, nn.Module]:
    """(name, key prefix, module) the match is judged on: the backbone when there is one."""
    backbone = getattr(model, "backbone", None)
    if isinstance(backbone, nn.Module):
        return "backbone", "backbone.", backbone
    return "model", "", model


def _new_module_prefixes(module: nn.Module, prefix: str) -> tuple[str, ...]:
    """Key prefixes of modules segkit adds to a pretrained architecture (attention inside MobileNetV2 blocks)."""
    from segkit.models.backbones.mobilenetv2 import InvertedResidual

    return tuple(f"{prefix}{n}.attn." if n else f"{prefix}attn." for n, m in module.named_modules()
                 if isinstance(m, InvertedResidual) and m.attn is not None)


def describe_keys(keys: list[str]) -> str:
    """A one-line summary of checkpoint keys (count, most common top-level names, examples) for errors."""
    if not keys:
        return "no tensors"
    tops = Counter(k.split(".")[0] for k in keys).most_common(6)
    return (f"{len(keys)} tensors, top-level names {', '.join(f'{t} ({n})' for t, n in tops)}; "
            f"e.g. {', '.join(keys[:3])}")


def _partial_message(report: LoadReport, module: nn.Module, sd_keys: list[str]) -> str:
    expected = getattr(module, "pretrained_layouts", None) or (
        f"{type(module).__name__} keys such as {', '.join(list(module.state_dict())[:3])}")
    return (f"{report.source}: only {report.scope_loaded}/{report.scope_total} ({report.coverage:.1%}) of the "
            f"{report.scope}'s tensors matched (need {MIN_MATCH:.0%}). Expected {expected}; found "
            f"{describe_keys(sd_keys)}")


def load_weights(model: nn.Module, source: str | Path | Mapping[str, torch.Tensor],
                 remap: Remap | Iterable[Remap] | None = None, prefixes: Iterable[str] | None = None,
                 verbose: bool = True, partial: bool = False) -> LoadReport:
    """Load matching tensors from a local checkpoint into `model` (shape-checked, never silently partial).

    Key handling, in order: the checkpoint is unwrapped (see `read_state_dict`); the model's own
    ``remap_state_dict(sd)`` (when it has one: torchvision / timm / reference layouts of the
    backbone) and then each `remap` are applied; finally the prefix from `prefixes` (default:
    "" and every module path up to two levels deep + ".") that matches the most keys is
    prepended, so an ImageNet backbone file loads into a full model.

    Args:
        model: the model to fill.
        source: a file path or a state dict.
        remap: extra key-mapping function(s) ``f(state_dict) -> state_dict``.
        prefixes: candidate prefixes to prepend to every checkpoint key.
        verbose: print the report.
        partial: accept a checkpoint that fills fewer than 95 % of the backbone's tensors
            (``model.backbone``, else the whole model), with a warning giving the counts.

    Returns:
        A :class:`LoadReport`.

    Raises:
        PartialLoadError: fewer than 95 % matched and `partial` is False (nothing is loaded).
    """
    sd = read_state_dict(source) if isinstance(source, (str, Path)) else dict(source)
    raw_keys = list(sd)
    if hasattr(model, "remap_state_dict"):
        sd = dict(model.remap_state_dict(sd))
    if remap is not None:
        for fn in ([remap] if callable(remap) else list(remap)):
            sd = dict(fn(sd))
    own = model.state_dict()
    cands = list(prefixes) if prefixes is not None else [""] + [
        f"{n}." for n, _ in model.named_modules() if n and n.count(".") <= 1]
    prefix = max(cands, key=lambda p: sum((p + k) in own for k in sd))
    sd = {prefix + k: v for k, v in sd.items()}
    report = LoadReport(str(source) if isinstance(source, (str, Path)) else "<state dict>")
    to_load = {}
    for k, v in sd.items():
        if k not in own:
            report.unexpected.append(k)
        elif own[k].shape != v.shape:
            report.skipped.append((k, f"checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"))
        else:
            to_load[k] = v
    report.loaded = sorted(to_load)
    report.missing = [k for k in own if k not in to_load and not k.endswith("num_batches_tracked")]
    scope, scope_prefix, scope_module = _scope(model)
    new = _new_module_prefixes(scope_module, scope_prefix)
    counted = [k for k in own if k.startswith(scope_prefix) and not k.endswith("num_batches_tracked")
               and not k.startswith(new)]
    report.scope, report.scope_total = scope, len(counted)
    report.scope_loaded = sum(k in to_load for k in counted)
    if report.coverage < MIN_MATCH:
        if not partial:
            raise PartialLoadError(_partial_message(report, scope_module, raw_keys)
                                   + ". Nothing was loaded; pass partial=True (build_model: pretrained_partial=True) "
                                   "to load the matching part anyway")
        warnings.warn(f"PARTIAL LOAD: {_partial_message(report, scope_module, raw_keys)}; loading the "
                      f"{len(to_load)} matching tensors because partial=True, the rest keep their initialisation",
                      stacklevel=2)
    model.load_state_dict(to_load, strict=False)
    if verbose and str(report) not in _PRINTED:  # a notebook builds the same model many times: say it once
        _PRINTED.add(str(report))
        print(report)
    return report
