"""Attention and fusion modules, one file per family, each registered with metadata.

Importing this package registers every module.
"""
from segkit.modules._registry import create_attn, list_modules, module_info, register_module

# Families register themselves on import (one line per family file).

__all__ = ["create_attn", "list_modules", "module_info", "register_module"]
