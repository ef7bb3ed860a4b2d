"""Text-ready results tables: Markdown, LaTeX (booktabs) and CSV, best value per column in bold.

Column names follow the paper (``mIoU(%)``, ``F1 Score(%)``, ``FPS(f/s)``, ``Parameter(M)``),
so a table written here can be pasted into the manuscript next to the published one.
Whether "best" is the largest or the smallest value is looked up per column in
``BEST_RULES`` (higher mIoU is better, fewer parameters are better) and can be overridden.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

import pandas as pd

__all__ = [
    "PAPER_HEADERS",
    "NOT_LEARNED_HEADER",
    "BEST_RULES",
    "best_mask",
    "format_cell",
    "md_escape",
    "to_markdown",
    "to_latex",
    "to_csv",
    "save_table",
    "display_table",
]

Direction = Literal["max", "min"]

# Internal metric keys -> the paper's column headers.
PAPER_HEADERS: dict[str, str] = {
    "miou": "mIoU(%)",
    "f1": "F1 Score(%)",
    "mean_f1": "mean F1(%)",
    "mpa": "mPA(%)",
    "mprecision": "mPrecision(%)",
    "accuracy": "Accuracy(%)",
    "fps": "FPS(f/s)",
    "params_m": "Parameter(M)",
    "gflops": "GFLOPs",
    "latency_ms": "Latency(ms)",
    # beyond the confusion matrix (docs/metrics.md): results_table(metrics=["boundary", "objects"])
    "boundary_miou": "Boundary mIoU(%)",
    "boundary_miou_fg": "Boundary mIoU fg(%)",
    "small_detection": "Det. small(%)",
    "medium_detection": "Det. medium(%)",
    "large_detection": "Det. large(%)",
    "fp_per_image": "FP/img",
}

# Which direction is "best" for a column (matched on the header, case-insensitive prefix).
BEST_RULES: dict[str, Direction] = {
    "miou": "max",
    "f1": "max",
    "mean f1": "max",
    "mpa": "max",
    "mprecision": "max",
    "accuracy": "max",
    "iou": "max",
    "recall": "max",
    "precision": "max",
    "fps": "max",
    "parameter": "min",
    "params": "min",
    "gflops": "min",
    "flops": "min",
    "latency": "min",
    "memory": "min",
    "boundary": "max",
    "biou": "max",
    "det.": "max",
    "fp/img": "min",
}


# Headers that are configuration, not results ("F1 channels" is a channel count, not an F1 score).
_NEVER_BEST = ("channel", "group", "epoch", "year", "stride", "size", " std")

# A column "<header> std" (e.g. "mIoU(%) std", from results_table) is printed inside its
# base column as "mean ± std" in Markdown and LaTeX; CSV keeps both numbers.
SPREAD_SUFFIX = " std"


def _direction(column: str, best: Mapping[str, Direction] | None) -> Direction | None:
    if best is not None:
        return best.get(column)
    key = column.lower()
    if any(word in key for word in _NEVER_BEST):
        return None
    # longest matching prefix wins ("mean f1" before "f1"; "mprecision" before "precision")
    for rule in sorted(BEST_RULES, key=len, reverse=True):
        if key.startswith(rule):
            return BEST_RULES[rule]
    return None


NOT_LEARNED_HEADER = "Not learned"  # results_table: the classes a row's model has not learned, or "–"

# Columns a model's speed and size decide, whether or not it learned its classes.
_MEASURED_ANYWAY = ("fps", "parameter", "params", "gflops", "flops", "latency", "memory")


def _not_learned_rows(df: pd.DataFrame) -> pd.Series:
    """True for rows whose "Not learned" cell names a class (``results_table``'s column)."""
    if NOT_LEARNED_HEADER not in df.columns:
        return pd.Series(False, index=df.index)
    cells = df[NOT_LEARNED_HEADER].fillna("").astype(str).str.strip()
    return ~cells.isin(["", "–", "-"])


def best_mask(df: pd.DataFrame, best: Mapping[str, Direction] | None = None,
              digits: int | Mapping[str, int] | None = None) -> pd.DataFrame:
    """Boolean frame, True where a cell holds its column's unique best value.

    A tie marks nothing: when two rows share the best value (as printed), bold would claim
    a winner the numbers do not show (e.g. the same GFLOPs in every row). A row whose "Not
    learned" cell names a class is never best of an accuracy column.

    Args:
        df: the table; only numeric columns can be marked.
        best: column -> "max" | "min". When None, ``BEST_RULES`` decides from the header;
            columns without a rule (names, channel counts) are never marked.
        digits: compare values rounded as they are printed, so equal-looking cells count
            as a tie (None: full precision).
    """
    if best is not None:
        unknown = [c for c in best if c not in df.columns]
        if unknown:
            raise ValueError(f"best names columns {unknown} that are not in the table; columns are {list(df.columns)}.")
        bad = {c: d for c, d in best.items() if d not in ("max", "min")}
        if bad:
            raise ValueError(f"best={bad} must map columns to 'max' or 'min'.")
    mask = pd.DataFrame(False, index=df.index, columns=df.columns)
    unlearned = _not_learned_rows(df)
    for col in df.columns:
        d = _direction(str(col), best)
        if d is None:
            continue
        values = pd.to_numeric(df[col], errors="coerce")
        if not str(col).lower().startswith(_MEASURED_ANYWAY):  # accuracy is no merit of a model that did not learn
            values = values.mask(unlearned)
        d_col = digits.get(col, 2) if isinstance(digits, Mapping) else digits
        if d_col is not None:
            values = values.round(d_col)
        if values.notna().sum() < 2:  # a single value is not "best" of anything
            continue
        target = values.max() if d == "max" else values.min()
        hits = values.notna() & (values - target).abs().le(1e-12)
        mask[col] = hits if hits.sum() == 1 else False
    return mask


def format_cell(value: Any, digits: int = 2) -> str:
    """Numbers with ``digits`` decimals (integers stay integers); NaN/None as an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu"):
        return str(int(value))
    if isinstance(value, float) or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") == "f"):
        return f"{float(value):.{digits}f}"
    return str(value)


def _split_spread(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, list[Any]]]:
    """(the table without its "<col> std" columns, {col: its std values})."""
    spread = {c[: -len(SPREAD_SUFFIX)]: df[c].tolist() for c in df.columns
              if str(c).endswith(SPREAD_SUFFIX) and c[: -len(SPREAD_SUFFIX)] in df.columns}
    return df.drop(columns=[f"{c}{SPREAD_SUFFIX}" for c in spread]), spread


def _cells(df: pd.DataFrame, digits: int | Mapping[str, int], spread: Mapping[str, list[Any]] | None = None
           ) -> list[list[str]]:
    # column-wise access keeps integer columns integer (iterrows would upcast them to float)
    cols = []
    for col in df.columns:
        d = digits.get(col, 2) if isinstance(digits, Mapping) else digits
        cells = [format_cell(v, d) for v in df[col].tolist()]
        if spread and col in spread:
            cells = [c if format_cell(sd, d) == "–" else f"{c} ± {format_cell(sd, d)}"
                     for c, sd in zip(cells, spread[col])]
        cols.append(cells)
    return [list(r) for r in zip(*cols)] if cols else []


# Text from users (class, dataset and run names, captions) shown as itself in Markdown: HTML
# characters (a class named "<img onerror=...>" must not run in the report page) and the inline
# syntax (emphasis, code, links, table cells) backslash-escaped, which every CommonMark reader
# (JupyterLab, nbconvert, mistune, GitHub) shows as the character itself.
_MD_ESCAPES = {ch: "\\" + ch for ch in "\\`*_[]|<>&"}


def md_escape(text: str) -> str:
    """`text` as literal Markdown text (the Markdown counterpart of the LaTeX escaping)."""
    return "".join(_MD_ESCAPES.get(ch, ch) for ch in str(text))


def _md_caption(caption: str | None) -> str:
    return f"**{md_escape(caption)}**\n\n" if caption else ""


def to_markdown(
    df: pd.DataFrame,
    best: Mapping[str, Direction] | None = None,
    digits: int | Mapping[str, int] = 2,
    bold: bool = True,
) -> str:
    """GitHub-flavoured Markdown table, best value per column in ``**bold**``.

    Numeric columns are right-aligned; the index is not written (put names in a column). A
    ``"<col> std"`` column is printed inside ``<col>`` as ``mean ± std``. Headers and cells are
    text (`md_escape`), never Markdown or HTML.
    """
    df, spread = _split_spread(df)
    mask = best_mask(df, best, digits) if bold else pd.DataFrame(False, index=df.index, columns=df.columns)
    cells = _cells(df, digits, spread)
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    header = "| " + " | ".join(md_escape(c) for c in df.columns) + " |"
    rule = "|" + "|".join("---:" if n else "---" for n in numeric) + "|"
    lines = [header, rule]
    for i, row in enumerate(cells):
        marked = [f"**{md_escape(v)}**" if mask.iloc[i, j] else md_escape(v) for j, v in enumerate(row)]
        lines.append("| " + " | ".join(marked) + " |")
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}",
                  # < and > print as inverted marks in LaTeX's default font encoding; symbols that
                  # pdflatex's UTF-8 input does not know become math
                  "<": r"\textless{}", ">": r"\textgreater{}", "≥": r"$\geq$", "≤": r"$\leq$", "±": r"$\pm$",
                  "Δ": r"$\Delta$", "×": r"$\times$", "→": r"$\rightarrow$", "·": r"$\cdot$", "≈": r"$\approx$"}
_LATEX_PAIRS = {">=": "≥", "<=": "≤"}


def _latex_escape(text: str) -> str:
    """`text` as LaTeX text that pdflatex, xelatex and lualatex all typeset: specials escaped,
    ``>=``/``<=`` as the relations, Greek and math symbols in math mode."""
    for pair, symbol in _LATEX_PAIRS.items():
        text = text.replace(pair, symbol)
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


_TABLE_NUMBER = re.compile(r"^\s*Table\s+\d+\s*[:.·–-]\s*", re.IGNORECASE)


def _latex_caption(caption: str) -> str:
    """A caption without a leading "Table N:", which LaTeX's ``\\caption`` numbers itself."""
    text = _TABLE_NUMBER.sub("", caption)
    return text[:1].upper() + text[1:]


def to_latex(
    df: pd.DataFrame,
    best: Mapping[str, Direction] | None = None,
    digits: int | Mapping[str, int] = 2,
    caption: str | None = None,
    label: str | None = None,
    bold: bool = True,
) -> str:
    """LaTeX ``tabular`` with booktabs rules (``\\usepackage{booktabs}``), best per column in ``\\textbf``.

    With ``caption`` or ``label`` the tabular is wrapped in a ``table`` float. A
    ``"<col> std"`` column is printed inside ``<col>`` as ``mean $\\pm$ std``.
    """
    df, spread = _split_spread(df)
    mask = best_mask(df, best, digits) if bold else pd.DataFrame(False, index=df.index, columns=df.columns)
    cells = _cells(df, digits, spread)
    align = "".join("r" if pd.api.types.is_numeric_dtype(df[c]) else "l" for c in df.columns)
    body = [rf"\begin{{tabular}}{{{align}}}", r"\toprule",
            " & ".join(_latex_escape(str(c)) for c in df.columns) + r" \\", r"\midrule"]
    for i, row in enumerate(cells):
        vals = [_latex_escape(v) for v in row]
        vals = [rf"\textbf{{{v}}}" if mask.iloc[i, j] else v for j, v in enumerate(vals)]
        body.append(" & ".join(vals) + r" \\")
    body += [r"\bottomrule", r"\end{tabular}"]
    if caption is None and label is None:
        return "\n".join(body) + "\n"
    out = [r"\begin{table}[t]", r"\centering"]
    if caption:
        out.append(rf"\caption{{{_latex_escape(_latex_caption(caption))}}}")
    if label:
        out.append(rf"\label{{{label}}}")
    return "\n".join(out + body + [r"\end{table}"]) + "\n"


def to_csv(df: pd.DataFrame, path: str | Path | None = None, digits: int | None = None) -> str:
    """CSV text (full precision unless ``digits``); also written to ``path`` when given."""
    out = df.round(digits) if digits is not None else df
    text = out.to_csv(index=False)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def save_table(
    df: pd.DataFrame,
    name: str,
    out_dir: str | Path = "tables",
    best: Mapping[str, Direction] | None = None,
    digits: int | Mapping[str, int] = 2,
    caption: str | None = None,
    formats: Iterable[str] = ("md", "tex", "csv"),
) -> dict[str, Path]:
    """Write ``<out_dir>/<name>.md``, ``.tex`` (booktabs) and ``.csv``; return the paths by format.

    Raises:
        ValueError: an empty table, an unknown format, or a ``name`` with a folder or suffix.
    """
    if df.empty:
        raise ValueError(f"table {name!r} is empty; there is nothing to save (check the runs directory).")
    if not name or "/" in name or "\\" in name or "." in name:
        raise ValueError(f"name={name!r} must be a bare file stem such as 'backbone_comparison'.")
    formats = tuple(formats)
    bad = [f for f in formats if f not in ("md", "tex", "csv")]
    if bad:
        raise ValueError(f"formats={formats!r} contains {bad}; use 'md', 'tex' or 'csv'.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    if "md" in formats:
        text = _md_caption(caption) + to_markdown(df, best, digits)
        paths["md"] = out / f"{name}.md"
        paths["md"].write_text(text, encoding="utf-8")
    if "tex" in formats:
        paths["tex"] = out / f"{name}.tex"
        paths["tex"].write_text(to_latex(df, best, digits, caption=caption, label=f"tab:{name}"), encoding="utf-8")
    if "csv" in formats:
        paths["csv"] = out / f"{name}.csv"
        to_csv(df, paths["csv"])
    return paths


def display_table(
    df: pd.DataFrame,
    best: Mapping[str, Direction] | None = None,
    digits: int | Mapping[str, int] = 2,
    caption: str | None = None,
):
    """An ``IPython.display.Markdown`` object of the table (bold best), for notebook output."""
    from IPython.display import Markdown

    return Markdown(_md_caption(caption) + to_markdown(df, best, digits))
