"""A model as data: registry name, arguments, pretrained source, stitched modules.

``build_model`` attaches the spec to every model it builds as ``model.segkit_spec``;
``segkit.stitch.insert`` appends each insertion to it. The trainer writes it to
``config.yaml``, and :func:`build_from_spec` rebuilds the same network from it::

    {"name": "deeplabv3plus-mobilenetv2", "kwargs": {"num_classes": 3}, "pretrained": "imagenet",
     "stitches": [{"at": "backbone.features.7", "where": "after", "module": "cbam", "kwargs": {}}]}

A stitch's ``module`` is a registered module name (``segkit.list_modules()``) or the
``"package.module:Class"`` path of a registered class (a user's own, registered with
``segkit.modules.register_module``); a ready instance or an unregistered class cannot be
recorded. Nothing is ever imported from a spec: a run directory is data people share, and an
import path in its ``config.yaml`` could name any function.
"""
from __future__ import annotations

import copy
import json
from typing import Any, Mapping, Sequence

import torch.nn as nn

__all__ = ["build_from_spec", "apply_stitches", "spec_problem", "spec_as_data", "stitch_entry", "parse_insert"]

_WHERE = ("after", "before", "replace")


def _is_plain(value: Any) -> bool:
    """JSON-like data only (what YAML can hold and a reader can rebuild from); tuples count as lists."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _class_path(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '')}:{getattr(obj, '__qualname__', '')}"


def _is_registered(module: Any) -> bool:
    """Whether a class (or factory) is in the module registry."""
    from segkit.modules._registry import MODULES

    return any(MODULES.get(n).cls is module for n in MODULES.names())


def _module_ref(module: Any) -> str | None:
    """A registered name as is; a registered class as "pkg.mod:Qual"; else None (not rebuildable)."""
    if isinstance(module, str):
        return module
    return _class_path(module) if _is_registered(module) else None


def stitch_entry(at: str, where: str, module: Any, kwargs: Mapping[str, Any], name: str | None = None,
                 input: Any = None, keep_shape: bool = True, gated: bool = False) -> dict[str, Any]:
    """The spec record of one ``stitch.insert`` call (``module: None`` when it cannot be recorded)."""
    entry: dict[str, Any] = {"at": at, "where": where, "module": _module_ref(module), "kwargs": dict(kwargs)}
    if entry["module"] is None:
        entry["unrecordable"] = (f"{type(module).__name__} instance" if isinstance(module, nn.Module)
                                 else f"{getattr(module, '__name__', repr(module))}, which is not registered")
    if name is not None:
        entry["name"] = name
    if input is not None:
        entry["input"] = list(input.shape) if hasattr(input, "shape") else [int(s) for s in input]
    if not keep_shape:
        entry["keep_shape"] = False
    if gated:
        entry["gated"] = True
    return entry


def spec_problem(spec: Mapping[str, Any] | None) -> str | None:
    """Why `spec` cannot rebuild its model (None when it can)."""
    if not isinstance(spec, Mapping) or not spec.get("name"):
        return "it names no registered model (a custom nn.Module)"
    if not _is_plain(spec.get("kwargs", {})):
        bad = [k for k, v in spec.get("kwargs", {}).items() if not _is_plain(v)]
        return (f"its arguments {bad} are Python objects, not data; pass them as names/values "
                "(e.g. attn='ggca', attn_policy='paper') so the run can be rebuilt")
    for st in spec.get("stitches") or []:
        if st.get("module") is None:
            return (f"the module stitched at {st.get('at')!r} was passed as {st.get('unrecordable', 'an object')}; "
                    "stitch a registered name (e.g. 'cbam') or a class registered with "
                    "segkit.modules.register_module instead")
        try:
            _resolve_module(st["module"])
        except ValueError as exc:
            return str(exc)
        if not _is_plain(st.get("kwargs", {})):
            return f"the module stitched at {st.get('at')!r} got non-data arguments {st.get('kwargs')}"
    return None


def spec_as_data(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A plain copy of a rebuildable spec (tuples as lists), safe to write as YAML/JSON."""
    return json.loads(json.dumps(spec))


def _resolve_module(ref: Any) -> Any:
    """The module a stitch entry names, through the module registry only.

    A plain name is returned for ``stitch.insert`` to look up (unknown names get close
    matches there); a ``"pkg.mod:Qual"`` path must be the path of a registered class.

    Raises:
        ValueError: not a string, or a path no registered class has (it is never imported).
    """
    if not isinstance(ref, str):
        raise ValueError(f"stitch module {ref!r} is not a module name; use a registered name (segkit.list_modules())")
    if ":" not in ref:
        return ref
    from segkit.modules._registry import MODULES

    for name in MODULES.names():
        if _class_path(MODULES.get(name).cls) == ref:
            return MODULES.get(name).cls
    raise ValueError(f"stitch module {ref!r} is not a registered module, and segkit never imports a path named in "
                     "a file; register the class in your code (segkit.modules.register_module) and import that "
                     "code first, or stitch a registered name (segkit.list_modules())")


def apply_stitches(model: nn.Module, stitches: Sequence[Mapping[str, Any]]) -> nn.Module:
    """Run ``stitch.insert`` for each spec entry, in order (each is appended to ``model.segkit_spec``)."""
    from segkit import stitch

    for i, st in enumerate(stitches):
        if not isinstance(st, Mapping) or "at" not in st or not st.get("module"):
            raise ValueError(f"stitches[{i}]={st!r}: give at least {{at: PATH, module: NAME}} "
                             "(where: after|before|replace, kwargs: {...})")
        unknown = set(st) - {"at", "where", "module", "kwargs", "name", "input", "keep_shape", "gated"}
        if unknown:
            raise ValueError(f"stitches[{i}] has unknown key(s) {sorted(unknown)}; use at, where, module, kwargs, "
                             "name, input, keep_shape, gated")
        stitch.insert(model, st["at"], _resolve_module(st["module"]), st.get("where", "after"),
                      input=st.get("input"), name=st.get("name"), keep_shape=st.get("keep_shape", True),
                      gated=bool(st.get("gated", False)), **dict(st.get("kwargs") or {}))
    return model


def build_from_spec(spec: Mapping[str, Any], load_pretrained: bool = True) -> nn.Module:
    """Rebuild the model a spec describes (``model.segkit_spec`` or ``config.yaml``'s ``model:``).

    Args:
        spec: ``{"name", "kwargs", "pretrained", "stitches"}``.
        load_pretrained: also load the recorded pretrained weights; off when a checkpoint
            is loaded over the model anyway (``load_run``).

    Raises:
        ValueError: the spec cannot be rebuilt (see :func:`spec_problem`).
    """
    from segkit.models._registry import build_model

    problem = spec_problem(spec)
    if problem:
        raise ValueError(f"cannot rebuild the model from its spec: {problem}")
    kwargs = copy.deepcopy(dict(spec.get("kwargs") or {}))
    if load_pretrained and spec.get("pretrained"):
        kwargs["pretrained"] = spec["pretrained"]
    model = build_model(spec["name"], **kwargs, stitches=list(spec.get("stitches") or []))
    if not load_pretrained and spec.get("pretrained"):
        model.segkit_spec["pretrained"] = spec["pretrained"]  # provenance is kept even without the load
    return model


def parse_insert(text: str) -> dict[str, Any]:
    """``"backbone.features.7=cbam"`` (after), ``"...=cbam:before"``, ``"...=se:replace"``, with an optional
    ``:gated`` suffix (``"...=cbam:gated"``, ``"...=cbam:before:gated"``) -> a stitch entry."""
    at, sep, rhs = text.partition("=")
    module, *options = rhs.split(":")
    gated = options[-1:] == ["gated"]
    where = (options[:-1] if gated else options) or ["after"]
    if not sep or not at or not module or len(where) != 1 or where[0] not in _WHERE:
        raise ValueError(f"--insert {text!r}: expected PATH=MODULE[:before|:replace][:gated], e.g. "
                         "backbone.features.7=cbam, backbone.features.7=se:before or backbone.features.7=cbam:gated")
    entry = {"at": at.strip(), "where": where[0], "module": module.strip()}
    return {**entry, "gated": True} if gated else entry
