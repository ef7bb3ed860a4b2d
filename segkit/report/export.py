"""Export executed notebooks: one offline HTML per notebook, an ``index.html``, and a PDF.

The HTML uses nbconvert's ``lab`` template with every network script removed (RequireJS,
MathJax, Mermaid and the widget manager come from CDNs), so the pages open offline without
console errors; widgets fall back to their static text. The PDF is the whole report
(all notebooks, one after another, each starting on a new page) printed by headless
Chromium; no network and no LaTeX are needed.
"""
from __future__ import annotations

import copy
import html
import os
import shutil
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Sequence

__all__ = [
    "CHROMIUM_FLAGS",
    "find_chromium",
    "notebook_to_html",
    "merge_notebooks",
    "write_index",
    "html_to_pdf",
    "export_report",
    "clear_report",
    "write_failed_index",
]

# Flags for headless Chromium in containers and offline machines (no sandbox, no GPU,
# no background network traffic); --user-data-dir is added per call.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_PAGE_BREAK_TAG = "segkit-page-break"

_OFFLINE_TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block extra_css %}
<style type="text/css">
  body.jp-Notebook { max-width: 1100px; margin: 0 auto; }
  .jp-RenderedImage img, .jp-RenderedMarkdown img { max-width: 100%; height: auto; }
  .jp-RenderedMarkdown table { border-collapse: collapse; margin: 0.5em 0; }
  .jp-RenderedMarkdown th, .jp-RenderedMarkdown td { padding: 2px 8px; border-bottom: 1px solid #ddd; }
  .segkit-nav { font: 13px sans-serif; padding: 6px 0 10px 0; }
  @media print {
    .celltag_segkit-page-break { break-before: page; }
    .jp-RenderedMarkdown table, .jp-RenderedHTMLCommon table { font-size: 7.5pt; }
    .jp-OutputArea-output, .jp-RenderedHTMLCommon { overflow: visible !important; }
    .jp-Cell { break-inside: avoid-page; }
    pre { white-space: pre-wrap; word-break: break-all; }
    .segkit-nav { display: none; }
  }
</style>
{% endblock extra_css %}
{%- block body_header -%}
{{ super() }}
{%- if resources.segkit_nav -%}<div class="segkit-nav">{{ resources.segkit_nav }}</div>{%- endif -%}
{%- endblock body_header -%}
"""


def find_chromium(explicit: str | os.PathLike | None = None) -> str | None:
    """Path of a Chromium/Chrome binary: ``explicit``, ``$SEGKIT_CHROMIUM``, /usr/bin/chromium, then PATH."""
    candidates = [explicit, os.environ.get("SEGKIT_CHROMIUM"), "/usr/bin/chromium"]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return str(c)
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        hit = shutil.which(name)
        if hit:
            return hit
    return None


def _offline_copy(nb):
    """Copy of ``nb`` without widget state and widget views (text/plain fallback kept)."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data")
            if data and _WIDGET_MIME in data:
                data.pop(_WIDGET_MIME)
                if not data:
                    data["text/plain"] = "(interactive widget: open the notebook in JupyterLab to use it)"
    return nb


def _exporter():
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"segkit_offline.html.j2": _OFFLINE_TEMPLATE})])
    exporter.template_file = "segkit_offline.html.j2"
    exporter.embed_images = True
    return exporter


def notebook_to_html(nb_path: str | Path, html_path: str | Path, title: str | None = None,
                     nav_html: str | None = None) -> Path:
    """Convert an executed notebook to one self-contained, offline HTML page.

    Args:
        nb_path: the ``.ipynb`` (or an ``nbformat`` notebook object).
        html_path: where to write the page.
        title: page title (defaults to the notebook stem).
        nav_html: optional HTML inserted at the top (e.g. a link back to ``index.html``).
    """
    import nbformat

    nb = nb_path if hasattr(nb_path, "cells") else nbformat.read(str(nb_path), as_version=4)
    nb = _offline_copy(nb)
    name = title or (Path(nb_path).stem if not hasattr(nb_path, "cells") else "report")
    nb.metadata["title"] = name
    resources = {"metadata": {"name": name}, "segkit_nav": nav_html or ""}
    body, _ = _exporter().from_notebook_node(nb, resources=resources)
    out = Path(html_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out


def merge_notebooks(paths: Sequence[str | Path]):
    """One notebook holding every cell of ``paths`` in order; each part starts on a new printed page."""
    import nbformat

    merged = nbformat.v4.new_notebook()
    for i, p in enumerate(paths):
        nb = nbformat.read(str(p), as_version=4)
        if i == 0:
            merged.metadata = copy.deepcopy(nb.metadata)
        for j, cell in enumerate(nb.cells):
            cell = copy.deepcopy(cell)
            if j == 0 and i > 0:
                tags = list(cell.metadata.get("tags", []))
                cell.metadata["tags"] = tags + [_PAGE_BREAK_TAG]
            merged.cells.append(cell)
    return merged


def _first_heading(nb_path: Path) -> str:
    import nbformat

    nb = nbformat.read(str(nb_path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return nb_path.stem


def _markdown_html(text: str) -> str:
    """A Markdown table (and its bold caption) as HTML; raw HTML in the text is escaped."""
    import mistune

    return mistune.create_markdown(escape=True, plugins=["table"])(text)


def write_index(out_dir: str | Path, pages: Sequence[tuple[str, str, str]], title: str,
                tables_dir: str | Path | None = None, pdf_name: str | None = None,
                note: str = "", figures_dir: str | Path | None = None, max_figures: int = 48) -> Path:
    """Write ``<out_dir>/index.html`` linking every notebook page, the PDF and the tables.

    Args:
        pages: (html file name relative to ``out_dir``, notebook stem, heading) per notebook.
        tables_dir: folder of ``*.csv`` tables; each is shown as an HTML table with links
            to its Markdown/LaTeX/CSV files.
        pdf_name: the whole-report PDF's file name in ``out_dir``, linked when it exists.
        note: one line of context (profile, data, time) shown under the title.
        figures_dir: folder of figures; its PNGs are shown as a linked gallery (relative
            links, so keep the report and figure folders where they are).
        max_figures: gallery size limit.
    """
    import pandas as pd

    out = Path(out_dir)
    esc = html.escape
    items = "\n".join(f'<li><a href="{esc(href)}">{esc(stem)}</a> &mdash; {esc(heading)}</li>'
                      for href, stem, heading in pages)
    parts = [f"<h1>{esc(title)}</h1>", f"<p class='note'>{esc(note)}</p>" if note else "",
             "<h2>Notebooks</h2>", f"<ol class='nb'>{items}</ol>"]
    if pdf_name and (out / pdf_name).is_file():
        parts.append(f'<p>Whole report as PDF: <a href="{esc(pdf_name)}">{esc(pdf_name)}</a></p>')
    if tables_dir is not None and Path(tables_dir).is_dir():
        tdir = Path(tables_dir)
        rel = os.path.relpath(tdir, out)
        csvs = sorted(tdir.glob("*.csv"))
        if csvs:
            parts.append("<h2>Tables</h2>")
        for csv in csvs:
            links = " · ".join(f'<a href="{esc(rel)}/{esc(csv.stem)}.{ext}">{ext}</a>'
                               for ext in ("md", "tex", "csv") if (tdir / f"{csv.stem}.{ext}").is_file())
            md = tdir / f"{csv.stem}.md"
            if md.is_file():  # the Markdown holds the notebook's caption and best-in-bold choices
                parts.append(f"<h3>{esc(csv.stem)}</h3><p>{links}</p>{_markdown_html(md.read_text(encoding='utf-8'))}")
                continue
            try:
                frame = pd.read_csv(csv)
                # integer columns with gaps (e.g. a model's year) stay integers instead of 2017.00
                for col in frame.columns:
                    v = frame[col]
                    if v.dtype.kind == "f" and v.notna().any() and (v.dropna() % 1 == 0).all() and v.isna().any():
                        frame[col] = v.astype("Int64")
                table_html = frame.to_html(index=False, float_format=lambda v: f"{v:.2f}", na_rep="–", border=0)
            except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
                table_html = f"<p>(could not read {esc(csv.name)}: {esc(str(exc))})</p>"
            parts.append(f"<h3>{esc(csv.stem)}</h3><p>{links}</p>{table_html}")
    if figures_dir is not None and Path(figures_dir).is_dir():
        pngs = sorted(Path(figures_dir).glob("*.png"))[:max_figures]
        if pngs:
            rel = os.path.relpath(Path(figures_dir), out)
            cells = "".join(
                f'<figure><a href="{esc(rel)}/{esc(p.name)}"><img src="{esc(rel)}/{esc(p.name)}" alt="{esc(p.stem)}">'
                f'</a><figcaption>{esc(p.stem)}</figcaption></figure>' for p in pngs)
            parts.append(f"<h2>Figures</h2><div class='gallery'>{cells}</div>")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body {{ font-family: -apple-system, 'Segoe UI', Roboto, 'Noto Sans', sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em 0; font-size: 13px; }}
th, td {{ padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: right; }}
th {{ border-bottom: 2px solid #444; }}
ol.nb li {{ margin: 0.3em 0; }}
.note {{ color: #555; }}
.gallery {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 12px; }}
.gallery figure {{ margin: 0; }} .gallery img {{ width: 100%; height: 160px; object-fit: contain; border: 1px solid #eee; }}
.gallery figcaption {{ font-size: 12px; color: #555; text-align: center; }}
</style></head>
<body>
{''.join(parts)}
<p class="note">Generated by segkit on {datetime.now().strftime('%Y-%m-%d %H:%M')}.</p>
</body></html>
"""
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def clear_report(out_dir: str | Path, notebooks: Sequence[str] = ()) -> list[Path]:
    """Remove a previous report's pages before a new run: ``index.html``, ``html/*.html``,
    ``report_full.html``, ``report.pdf`` and the executed copies of `notebooks` (stems).

    A run that fails or is killed then cannot leave the last run's pages looking current.

    Returns:
        The files removed.
    """
    out = Path(out_dir)
    stale = [out / "index.html", out / "report_full.html", out / "report.pdf"]
    stale += sorted((out / "html").glob("*.html")) if (out / "html").is_dir() else []
    stale += [out / "notebooks" / f"{stem}.ipynb" for stem in notebooks]
    removed = [p for p in stale if p.is_file()]
    for p in removed:
        p.unlink()
    return removed


def write_failed_index(out_dir: str | Path, title: str, message: str) -> Path:
    """Write ``<out_dir>/index.html`` saying the report failed, with the error (the previous
    report's pages were removed by `clear_report`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    esc = html.escape
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}: failed</title></head>
<body style="font-family: sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em;">
<h1>{esc(title)}: failed</h1>
<p>The report run of {datetime.now().strftime('%Y-%m-%d %H:%M')} failed, so this folder holds no current report
(the previous run's pages were removed). Fix the error and run it again.</p>
<pre style="white-space: pre-wrap; background: #fff4f4; padding: 1em;">{esc(message)}</pre>
</body></html>
"""
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def html_to_pdf(html_path: str | Path, pdf_path: str | Path, chromium: str | None = None,
                timeout: float = 300.0) -> Path:
    """Print an HTML file to PDF with headless Chromium (offline).

    Raises:
        FileNotFoundError: no Chromium binary (the message says how to install one).
        RuntimeError: Chromium exited with an error or wrote no PDF.
    """
    exe = find_chromium(chromium)
    if exe is None:
        raise FileNotFoundError(
            "the PDF report needs Chromium or Chrome: install it (Debian/Ubuntu: `apt-get install chromium`, "
            "or any Chrome) or point SEGKIT_CHROMIUM at the binary. The HTML report was written anyway."
        )
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path).resolve()
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    if pdf_path.exists():
        pdf_path.unlink()
    with tempfile.TemporaryDirectory(prefix="segkit-chromium-") as profile_dir:
        cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "--no-pdf-header-footer",
               f"--print-to-pdf={pdf_path}", html_path.as_uri()]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"Chromium did not finish printing {html_path} within {timeout:.0f} s.") from exc
    if res.returncode != 0 or not pdf_path.is_file() or pdf_path.stat().st_size == 0:
        tail = (res.stderr or res.stdout or "").strip().splitlines()[-5:]
        raise RuntimeError(f"Chromium failed to print {html_path} (exit {res.returncode}): " + " | ".join(tail))
    return pdf_path


def export_report(executed: Sequence[str | Path], out_dir: str | Path, title: str = "segkit report",
                  tables_dir: str | Path | None = None, pdf: bool = True, note: str = "",
                  figures_dir: str | Path | None = None, log=None) -> dict[str, object]:
    """HTML per executed notebook, ``index.html``, and ``report.pdf`` (when ``pdf`` and Chromium exist).

    Returns:
        {"html": [paths], "index": path, "pdf": path or None, "pdf_error": message or None}.
    """
    if log is None:
        def log(msg: str) -> None:
            print(msg, flush=True)
    out = Path(out_dir)
    html_dir = out / "html"
    pages, written = [], []
    for nb in executed:
        nb = Path(nb)
        page = notebook_to_html(nb, html_dir / f"{nb.stem}.html", title=nb.stem,
                                nav_html='<a href="../index.html">&larr; report index</a>')
        written.append(page)
        pages.append((f"html/{page.name}", nb.stem, _first_heading(nb)))
        log(f"html: {page}")
    result: dict[str, object] = {"html": written, "index": None, "pdf": None, "pdf_error": None}
    if pdf and executed:
        merged = merge_notebooks(executed)
        full_html = notebook_to_html(merged, out / "report_full.html", title=title)
        try:
            result["pdf"] = html_to_pdf(full_html, out / "report.pdf")
            log(f"pdf: {result['pdf']}")
        except (FileNotFoundError, RuntimeError) as exc:
            result["pdf_error"] = str(exc)
            log(f"warning: no PDF: {exc}")
    result["index"] = write_index(out, pages, title, tables_dir=tables_dir, pdf_name="report.pdf", note=note,
                                  figures_dir=figures_dir)
    log(f"index: {result['index']}")
    return result
