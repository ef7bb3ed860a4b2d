"""The attention-module registry: `register_module`, `create_attn`, `list_modules`.

Every registered module follows one contract: ``Module(channels, **kw)`` maps
(B, C, H, W) to (B, C, H, W) unless its metadata says otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch.nn as nn

from segkit._utils import count_params, did_you_mean

__all__ = ["register_module", "create_attn", "list_modules", "module_info", "ModuleEntry"]


@dataclass(frozen=True)
class ModuleEntry:
    name: str
    cls: Callable[..., nn.Module]
    paper: str
    year: int | None
    addresses: str
    where: str
    contract: str = "(B,C,H,W) -> (B,C,H,W)"
    keeps_shape: bool = True
    needs_size: bool = False  # needs a fixed spatial size (h, w) at construction


_MODULES: dict[str, ModuleEntry] = {}


def register_module(
    name: str,
    *,
    paper: str,
    year: int | None,
    addresses: str,
    where: str,
    contract: str = "(B,C,H,W) -> (B,C,H,W)",
    keeps_shape: bool = True,
    needs_size: bool = False,
):
    """Class decorator registering an attention/fusion module with its metadata."""

    def deco(cls):
        if name in _MODULES:
            raise ValueError(f"module {name!r} is already registered")
        _MODULES[name] = ModuleEntry(name, cls, paper, year, addresses, where, contract, keeps_shape, needs_size)
        return cls

    return deco


def _ensure_loaded() -> None:
    import segkit.modules  # noqa: F401


def module_info(name: str) -> ModuleEntry:
    _ensure_loaded()
    if name not in _MODULES:
        raise KeyError(f"unknown module {name!r}.{did_you_mean(name, _MODULES)} Registered: {', '.join(sorted(_MODULES))}")
    return _MODULES[name]


def create_attn(name: str | None, channels: int, **kwargs: Any) -> nn.Module:
    """Build a registered attention module for `channels`; None gives nn.Identity()."""
    if name is None or name in ("", "none"):
        return nn.Identity()
    return module_info(name).cls(channels, **kwargs)


def list_modules(channels: int = 64):
    """A pandas DataFrame: name, year, paper, params at C=`channels`, contract, where, addresses."""
    import pandas as pd

    _ensure_loaded()
    rows = []
    for name in sorted(_MODULES):
        e = _MODULES[name]
        kw = {"h": 16, "w": 16} if e.needs_size else {}
        params = count_params(e.cls(channels, **kw), trainable_only=False)
        rows.append(
            dict(name=name, year=e.year, paper=e.paper, **{f"params@C={channels}": params},
                 contract=e.contract, where=e.where, addresses=e.addresses)
        )
    df = pd.DataFrame(rows)
    df["year"] = df["year"].astype("Int64")  # a module without a year must not turn 2018 into 2018.0
    return df
