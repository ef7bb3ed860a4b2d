"""Checking that LaTeX the report writes compiles: a minimal document around it, run by the first
engine installed (pdflatex, xelatex or lualatex). Where none is installed the check is skipped
(``apt-get install texlive-latex-recommended`` enables it); the tables and ``methods.tex`` keep
to ASCII and plain packages, so one engine's success speaks for the others.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Sequence

__all__ = ["LATEX_ENGINES", "latex_engine", "latex_document", "compile_latex", "LatexError"]

LATEX_ENGINES = ("pdflatex", "xelatex", "lualatex")


class LatexError(RuntimeError):
    """A document did not compile; the message ends with the log's last lines."""


def latex_engine() -> str | None:
    """The first LaTeX engine on the PATH (`LATEX_ENGINES` order), or None."""
    return next((e for e in LATEX_ENGINES if shutil.which(e)), None)


def latex_document(inputs: Sequence[str | Path], packages: Sequence[str] = ("booktabs",),
                   separator: str = "\\clearpage") -> str:
    """An ``article`` that loads `packages` and ``\\input``s each file of `inputs` (forward slashes)."""
    use = "".join(f"\\usepackage{{{p}}}\n" for p in packages)
    body = "".join(f"\\input{{{Path(t).as_posix()}}}\n{separator}\n" for t in inputs)
    return f"\\documentclass{{article}}\n{use}\\begin{{document}}\n{body}\\end{{document}}\n"


def compile_latex(document: str | Path, engine: str | None = None, timeout: float = 300.0) -> Path:
    """Compile a ``.tex`` document in its folder; returns the log's path.

    Raises:
        FileNotFoundError: no LaTeX engine is installed (callers skip the check then).
        LatexError: the engine failed, or the log reports a character the font lacks.
    """
    engine = engine or latex_engine()
    if engine is None:
        raise FileNotFoundError("no LaTeX engine (pdflatex, xelatex, lualatex) on the PATH; install e.g. "
                                "texlive-latex-recommended to check that the LaTeX compiles")
    doc = Path(document)
    res = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=doc.parent,
                         capture_output=True, text=True, timeout=timeout)
    log = doc.with_suffix(".log")
    if res.returncode != 0:
        raise LatexError(f"{engine} failed on {doc}: {res.stdout[-3000:]}")
    if log.is_file() and "Missing character" in log.read_text(encoding="utf-8", errors="replace"):
        raise LatexError(f"{engine}: a character the font lacks was dropped from {doc} (see {log})")
    return log
