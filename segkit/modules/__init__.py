"""Attention and fusion modules, one file per family, each registered with metadata.

Importing this package registers every module.
"""
from segkit.modules._registry import create_attn, list_modules, module_info, register_module

# Families register themselves on import (one line per family file).
# the paper's modules
from segkit.modules import conv, ggca, cbam, shallow_fusion, window_attention, mobilevit, attn_gate  # noqa: F401,E401
# the module zoo
from segkit.modules import se, eca, sk, sge, scse, scconv, split_attention, a2, coord  # noqa: F401,E401

__all__ = ["create_attn", "list_modules", "module_info", "register_module"]
