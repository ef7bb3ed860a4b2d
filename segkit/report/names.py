"""Names a reader of the paper knows, for registry keys that appear in tables and figures.

``display_name("msa_aspp")`` is ``"MSA-ASPP"``; a key without an entry is returned as it is,
so a new module shows up under its registry name until it gets one here.
"""
from __future__ import annotations

__all__ = ["DISPLAY_NAMES", "display_name"]

DISPLAY_NAMES: dict[str, str] = {
    # attention and fusion modules (segkit.modules)
    "se": "SE",
    "cbam": "CBAM",
    "eca": "ECA",
    "coord": "CA",  # coordinate attention, as its paper abbreviates it
    "ggca": "GGCA",
    "sge": "SGE",
    "scse": "scSE",
    "sk": "SK",
    "a2": "A2-Net",
    "split_attn": "Split attention",
    "scconv": "SCConv",
    "window_attn": "Window attention",
    "mobilevit_attn": "MobileViT attention",
    "attn_gate": "AttnGate",
    "merge_gate": "Max-merge gate",
    # ASPP heads (segkit.models.heads)
    "aspp": "ASPP",
    "wa_aspp": "WA-ASPP",
    "wa_aspp_gate": "WA-ASPP + gate",
    "wa_aspp_mvit": "WA-ASPP (MobileViT)",
    "wa_aspp_v2": "WA-ASPP v2",
    "lite_mvit_aspp": "Lite MViT-ASPP",
    "ag_aspp_mvit": "AG-ASPP (MobileViT)",
    "msa_aspp": "MSA-ASPP",
}


def display_name(key: str) -> str:
    """The human name of a module or ASPP key (``"msa_aspp"`` -> ``"MSA-ASPP"``); unknown keys unchanged."""
    return DISPLAY_NAMES.get(key, key)
