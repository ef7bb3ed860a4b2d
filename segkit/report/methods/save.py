"""Saving a methods figure in every label language: ``<name>_en`` and ``<name>_zh`` as PNG, PDF and SVG."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

__all__ = ["label_languages", "save_in_languages"]


def label_languages(wanted: Iterable[str] = ("en", "zh")) -> list[str]:
    """The languages of `wanted` that can be drawn here: Chinese only with a CJK font (a warning says so)."""
    from segkit.report.style import _state, find_cjk_font

    langs = list(wanted)
    if "zh" in langs and not (_state.get("font") or find_cjk_font()):
        warnings.warn("no CJK font found: the Chinese figures are skipped (install e.g. fonts-noto-cjk and clear "
                      "matplotlib's font cache)", UserWarning, stacklevel=2)
        langs.remove("zh")
    return langs


def save_in_languages(draw: Callable[[str], Any], name: str, out_dir: str | Path,
                      params: Mapping[str, Any] | None = None, langs: Iterable[str] = ("en", "zh"),
                      formats: Iterable[str] = ("png", "pdf", "svg")) -> dict[str, list[Path]]:
    """Draw ``draw(lang)`` for each language that can be drawn and save it as ``<name>_<lang>``.

    Returns:
        ``{lang: [paths]}`` (PNG 300 dpi, PDF and SVG vector, and the parameters' JSON).

    Raises:
        ValueError: `langs` leaves no language to draw (empty, or only "zh" without a CJK font).
    """
    from segkit.report.style import save_figure

    langs = list(langs)
    drawable = label_languages(langs)
    if not drawable:
        raise ValueError(f"langs={langs!r} leaves no language to draw here (Chinese needs a CJK font); "
                         "give 'en' and/or 'zh', e.g. methods_langs = ['en', 'zh']")
    out = {}
    for lang in drawable:
        fig = draw(lang)
        out[lang] = save_figure(fig, f"{name}_{lang}", out_dir, formats=formats,
                                params={**dict(params or {}), "lang": lang}, close=True)
    return out
