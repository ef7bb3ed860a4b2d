"""Names that moved to a package higher up, still importable from where they were, for one release.

A module whose names moved up a layer (the trainer's adaptation names, the report's
train-or-reuse functions) sets ``__getattr__ = moved_names(__name__, {...})``: the new home is
imported only when an old name is first used, so the lower layer does not import the higher
one (``tests/test_architecture.py`` lists these names in ``MOVED_NAMES``).
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

__all__ = ["moved_names"]


def moved_names(module: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that finds each name in `names` (name -> new module) on first use."""
    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(importlib.import_module(names[name]), name)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
