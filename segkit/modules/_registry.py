"""The attention-module registry: `register_module`, `create_attn`, `list_modules`.

Every registered module follows one contract: ``Module(channels, **kw)`` maps
(B, C, H, W) to (B, C, H, W) unless its metadata says otherwise.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

import torch.nn as nn

from segkit._registry import Registry
from segkit._utils import count_params

__all__ = ["register_module", "create_attn", "list_modules", "module_info", "ModuleInfo", "MODULES"]


@dataclass(frozen=True)
class ModuleInfo:
    """A registered module: its class and the metadata of the module-zoo table."""

    name: str
    cls: Callable[..., nn.Module]
    paper: str
    year: int | None
    addresses: str
    where: str
    contract: str = "(B,C,H,W) -> (B,C,H,W)"
    keeps_shape: bool = True
    needs_size: bool = False  # needs a fixed spatial size (h, w) at construction


# Importing segkit.modules registers every module.
MODULES: Registry[ModuleInfo] = Registry("module", loader=lambda: importlib.import_module("segkit.modules"))


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
    aliases: tuple[str, ...] = (),
) -> Callable[[type], type]:
    """Class decorator registering an attention/fusion module with its metadata.

    `aliases` are former names that still build the module (configs written before a rename).
    """

    def deco(cls: type) -> type:
        MODULES.register(name, ModuleInfo(name, cls, paper, year, addresses, where, contract, keeps_shape,
                                          needs_size), aliases)
        return cls

    return deco


def module_info(name: str) -> ModuleInfo:
    """The registry entry (class and metadata) of a module; unknown names raise with close matches."""
    return MODULES.get(name)


def create_attn(name: str | None, channels: int, **kwargs: Any) -> nn.Module:
    """Build a registered attention module for `channels`; None gives nn.Identity()."""
    if name is None or name in ("", "none"):
        return nn.Identity()
    return module_info(name).cls(channels, **kwargs)


def list_modules(channels: int = 64):
    """A pandas DataFrame: name, year, paper, params at C=`channels`, contract, where, addresses."""
    import pandas as pd

    rows = []
    for name in MODULES.names():
        e = MODULES.get(name)
        kw = {"h": 16, "w": 16} if e.needs_size else {}
        params = count_params(e.cls(channels, **kw), trainable_only=False)
        rows.append(
            dict(name=name, year=e.year, paper=e.paper, **{f"params@C={channels}": params},
                 contract=e.contract, where=e.where, addresses=e.addresses)
        )
    df = pd.DataFrame(rows)
    df["year"] = df["year"].astype("Int64")  # a module without a year must not turn 2018 into 2018.0
    return df
