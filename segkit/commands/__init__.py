"""Subcommands of the ``segkit`` CLI, one module per area (see ``segkit.cli``).

Each module defines ``add_commands(subparsers)`` and imports the library lazily inside its
command functions, so building the parser does not import torch.
"""
from __future__ import annotations

import argparse

__all__ = ["add_precision_args", "channels_last_value", "PRECISIONS"]

# Kept here so building the parser does not import torch; a test checks it matches
# segkit.runtime.precision.PRECISIONS.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def add_precision_args(p: argparse.ArgumentParser, default: str | None = "auto",
                       default_channels_last: str | None = "auto", note: str = "") -> None:
    """``--precision`` and ``--channels-last`` (resolved by ``segkit.runtime.precision``)."""
    p.add_argument("--precision", choices=PRECISIONS, default=default,
                   help="auto: bf16 on CPUs with native bf16, AMP on CUDA, else fp32" + note)
    p.add_argument("--channels-last", choices=("auto", "true", "false"), default=default_channels_last,
                   help="memory format (auto: on for convolutional models in reduced precision)")


def channels_last_value(text: str | None) -> str | bool | None:
    """The ``--channels-last`` string as the API takes it: "auto", True, False (None: not given)."""
    return None if text is None else {"true": True, "false": False}.get(text, text)
