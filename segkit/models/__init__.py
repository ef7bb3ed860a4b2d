"""Models: backbones, heads, architectures, and the registry.

Importing this package registers every model family.
"""
from segkit.models._registry import build_model, list_models, model_info, register_model

# Families register themselves on import (one line per family file).

__all__ = ["build_model", "list_models", "model_info", "register_model"]
