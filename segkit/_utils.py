"""Small helpers shared across segkit (no torch-heavy imports)."""
from __future__ import annotations

import difflib
from typing import Iterable

__all__ = ["did_you_mean", "count_params"]


def did_you_mean(name: str, options: Iterable[str], n: int = 3) -> str:
    """Return a ' Did you mean ...?' suffix for error messages ('' when nothing is close)."""
    close = difflib.get_close_matches(name, list(options), n=n, cutoff=0.5)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def count_params(module, trainable_only: bool = True) -> int:
    """Number of parameters (those with requires_grad when `trainable_only`)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
