"""The model registry: `register_model`, `build_model`, `list_models`, `model_info`.

A registered factory is a plain function returning a
:class:`~segkit.models.SegmentationModel`. Its metadata (paper, year, family, the input
multiple the default model has) travels with it, so tables such as the model zoo are
generated from the registry, never written by hand.
"""
from __future__ import annotations

import copy
import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch.nn as nn

from segkit._registry import Registry
from segkit._utils import did_you_mean
from segkit.stitch._insert import apply_stitches

__all__ = ["register_model", "build_model", "list_models", "model_info", "ModelInfo", "MODELS", "UnknownArgumentError"]


@dataclass(frozen=True)
class ModelInfo:
    """A registered model: its factory and the metadata tables are generated from."""

    name: str
    factory: Callable[..., nn.Module]
    family: str
    paper: str = ""
    year: int | None = None
    input_multiple: int = 32
    reference_params: int | None = None  # the figure the paper / official code reports
    description: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)


# Importing segkit.models registers every family.
MODELS: Registry[ModelInfo] = Registry("model", loader=lambda: importlib.import_module("segkit.models"))


def register_model(
    name: str,
    *,
    family: str,
    paper: str = "",
    year: int | None = None,
    input_multiple: int = 32,
    reference_params: int | None = None,
    description: str = "",
    tags: tuple[str, ...] = (),
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a model factory under `name`. Duplicate names raise.

    Args:
        name: registry name (names carry the variant, e.g. ``"segformer-b0"``).
        family: the architecture family ("deeplab", "unet", ...).
        paper: the paper the model comes from.
        year: its year.
        input_multiple: the ``input_multiple`` of the model the factory builds by default
            (the side multiple its input is padded to; a test checks the two agree).
        reference_params: the parameter count the paper or official code reports.
        description: one line for tables (default: the factory docstring's first line).
        tags: free labels, e.g. ``("paper",)``.
    """

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        doc = description or (inspect.getdoc(fn) or "").split("\n")[0]
        MODELS.register(name, ModelInfo(name, fn, family, paper, year, input_multiple, reference_params, doc,
                                        tuple(tags)))
        return fn

    return deco


class UnknownArgumentError(TypeError, ValueError):
    """A keyword argument the model does not take: a ``TypeError`` like Python's own for an
    unexpected keyword, and a ``ValueError`` because it usually comes from a config's
    ``model_kwargs`` (so the CLI reports it in one line)."""


def build_model(name: str, stitches: Sequence[Mapping[str, Any]] | None = None, **kwargs: Any) -> nn.Module:
    """Build a registered model by name, e.g. ``build_model("sff-wadeeplab", num_classes=3)``.

    Keyword arguments set to None are dropped (the factory default applies). Unknown names
    raise `segkit._registry.UnknownNameError` (a ``KeyError``) listing close matches; unknown keyword arguments raise
    `UnknownArgumentError` (a ``TypeError`` and a ``ValueError``) listing the accepted ones.
    ``pretrained=`` ("imagenet", a URL or a file) is taken by the models that have a backbone
    (the DeepLab family).

    The model carries its spec as data, ``model.segkit_spec`` = ``{"name", "kwargs",
    "pretrained", "stitches"}``, which :func:`segkit.models.build_from_spec` rebuilds from
    and the trainer writes to ``config.yaml``.

    Args:
        name: registered model name.
        stitches: modules to insert after building, each ``{"at": PATH, "module": NAME,
            "where": "after"|"before"|"replace", "kwargs": {...}}`` (see ``segkit.stitch.insert``).
        **kwargs: the factory's arguments.
    """
    entry = MODELS.get(name)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    sig = inspect.signature(entry.factory)
    takes_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    if not takes_var_kw:
        bad = [k for k in kwargs if k not in sig.parameters]
        if bad:
            accepted = ", ".join(sig.parameters)
            hints = "".join(did_you_mean(k, sig.parameters) for k in bad)
            raise UnknownArgumentError(f"model {name!r} got unknown argument(s) {bad}.{hints} It accepts: {accepted}")
    spec = _spec_of(name, kwargs)
    model = entry.factory(**kwargs)
    model.segkit_spec = spec
    if stitches:
        apply_stitches(model, stitches)
    return model


def _is_plain(value: Any) -> bool:
    """JSON-like data only (what YAML can hold and a reader can rebuild from); tuples count as lists."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _spec_of(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The data that rebuilds a model: the pretrained source (also a timm backbone's) is kept apart."""
    from segkit.models._pretrained import normalize_source

    kw = copy.deepcopy(kwargs) if _is_plain(kwargs) else dict(kwargs)  # never deep-copy a module argument
    pretrained = kw.pop("pretrained", None)
    bkw = kw.get("backbone_kwargs")
    if isinstance(bkw, dict) and "pretrained" in bkw:
        bkw = dict(bkw)
        pretrained = pretrained if pretrained is not None else bkw.pop("pretrained")
        bkw.pop("pretrained", None)
        kw["backbone_kwargs"] = bkw
    try:
        pretrained = normalize_source(pretrained)
    except TypeError:
        pass  # the factory reports it
    return {"name": name, "kwargs": kw, "pretrained": pretrained, "stitches": []}


def list_models(pattern: str | None = None, family: str | None = None) -> list[str]:
    """Sorted registered names, optionally filtered by a glob `pattern` and a `family`."""
    names = MODELS.names(pattern)
    return [n for n in names if MODELS.get(n).family == family] if family else names


def model_info(name: str) -> ModelInfo:
    """The registry entry (factory and metadata) of a model."""
    return MODELS.get(name)
