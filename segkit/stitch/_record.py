"""A stitch as data: the record ``insert`` appends to ``model.segkit_spec``, and the module it names.

A stitch's ``module`` is recorded as a registered module name or the ``"package.module:Class"``
path of a registered class; a ready instance or an unregistered class cannot be recorded.
Nothing is ever imported from a record (see :mod:`segkit.models._spec`).
"""
from __future__ import annotations

from typing import Any, Mapping

import torch.nn as nn

from segkit.modules._registry import MODULES

__all__ = ["stitch_entry"]


def _class_path(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '')}:{getattr(obj, '__qualname__', '')}"


def _is_registered(module: Any) -> bool:
    """Whether a class (or factory) is in the module registry."""
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
    for name in MODULES.names():
        if _class_path(MODULES.get(name).cls) == ref:
            return MODULES.get(name).cls
    raise ValueError(f"stitch module {ref!r} is not a registered module, and segkit never imports a path named in "
                     "a file; register the class in your code (segkit.modules.register_module) and import that "
                     "code first, or stitch a registered name (segkit.list_modules())")
