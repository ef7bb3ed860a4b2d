"""Export executed notebooks: one offline HTML per notebook, an ``index.html``, and a PDF.

The HTML uses nbconvert's ``lab`` template with every network script removed (RequireJS,
MathJax, Mermaid and the widget manager come from CDNs), so the pages open offline without
console errors; a widget becomes a one-line note. The fonts include a CJK font of every
platform (`FONT_STACK`), so the Chinese paragraphs render wherever one is installed. The PDF
is the whole report (all notebooks, one after another, each starting on a new page) printed
by headless Chromium, Chrome or Edge on A4 by default: code wraps at spaces and a table
wider than the page is scaled to fit. No network and no LaTeX are needed.
"""
from __future__ import annotations

import copy
import html
import os
import platform
import shutil
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Mapping, Sequence

from segkit._utils import atomic_write

__all__ = [
    "CHROMIUM_FLAGS",
    "FONT_STACK",
    "PAGE_SIZES",
    "WIDGET_NOTE",
    "browser_locations",
    "find_chromium",
    "cjk_font_installed",
    "notebook_to_html",
    "notebook_page",
    "PageWriter",
    "merge_notebooks",
    "write_index",
    "html_to_pdf",
    "export_report",
    "REPORT_MARKER",
    "claim_report_dir",
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
WIDGET_NOTE = "(interactive widget: open the notebook in JupyterLab to use it)"

# Latin fonts first, then a CJK font of each platform (Linux: fonts-noto-cjk or WenQuanYi;
# Windows: Microsoft YaHei / SimHei; macOS: PingFang / Hiragino), so the Chinese paragraphs
# get real glyphs wherever one of them is installed.
CJK_FONTS = ("'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', 'PingFang SC', "
             "'Hiragino Sans GB', SimHei, 'WenQuanYi Micro Hei', 'WenQuanYi Zen Hei'")
FONT_STACK = f"system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', Arial, {CJK_FONTS}, sans-serif"
CODE_FONT_STACK = f"Menlo, Consolas, 'DejaVu Sans Mono', 'Noto Sans Mono CJK SC', {CJK_FONTS}, monospace"
# Paper sizes for the PDF (width, height in mm); pages get 12 mm side margins.
PAGE_SIZES: dict[str, tuple[float, float]] = {"A4": (210, 297), "A3": (297, 420), "A5": (148, 210),
                                              "letter": (215.9, 279.4), "legal": (215.9, 355.6)}
_SIDE_MARGIN_MM = 12

# On the page printed to PDF, a table wider than its column (many metric columns, long model
# names) is scaled down to fit instead of running past the page edge. That page is laid out
# at the paper's width (`_PRINT_RULES` apply on screen too), so what this measures at load is
# what gets printed. The notebook pages keep their scrollable tables.
_FIT_TABLES_JS = """
window.addEventListener('load', function () {
  var right = document.body.getBoundingClientRect().right;
  document.querySelectorAll('.jp-RenderedHTMLCommon table').forEach(function (t) {
    var room = right - t.getBoundingClientRect().left;  /* up to the page's text edge */
    if (room > 0 && t.scrollWidth > room) { t.style.zoom = (room / t.scrollWidth).toFixed(3); }
  });
});
"""

# The printed layout: small table type, code wrapped at spaces, no clipping, page breaks only
# between notebooks (a cell may span pages, so no half-empty pages before tall cells).
_PRINT_RULES = """
    body.jp-Notebook { max-width: none; margin: 0; padding: 0; }
    .celltag_segkit-page-break { break-before: page; }
    .jp-RenderedHTMLCommon table { font-size: 7.5pt; }
    .jp-RenderedHTMLCommon td, .jp-RenderedHTMLCommon th { padding: 2px 5px; }
    /* A box that must not break, scrolls, clips or is a table row (lab's layout of prompt and
       output) is printed whole: moved to the next page, it leaves the rest of this one empty.
       Lab's own print style keeps every output whole; these rules let long outputs flow. */
    body .jp-OutputArea-child { break-inside: auto; }
    body .jp-OutputArea, body .jp-OutputArea-child, body .jp-OutputArea-output, body .jp-InputArea,
    body .jp-InputArea-editor, body .jp-RenderedHTMLCommon { overflow: visible; }
    body .jp-OutputArea-child, body .jp-InputArea { display: flex; }
    body .jp-OutputArea-output, body .jp-InputArea-editor { display: block; flex: 1 1 auto; min-width: 0; }
    body .jp-Cell-outputWrapper > *, body .jp-Cell-inputWrapper > * { min-width: 0; }
    img, svg, tr { break-inside: avoid; }
    h1, h2, h3 { break-after: avoid; }
    pre { font-size: 8pt; }
    body .jp-InputPrompt, body .jp-OutputPrompt { flex: 0 0 5em; min-width: 0; width: 5em; font-size: 7pt; }
    .segkit-nav { display: none; }
"""

_OFFLINE_TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block extra_css %}
<style type="text/css">
  html:root { --jp-ui-font-family: __FONTS__; --jp-content-font-family: __FONTS__;
               --jp-code-font-family: __CODE_FONTS__; --jp-code-font-family-default: __CODE_FONTS__; }
  body.jp-Notebook { max-width: 1100px; margin: 0 auto; }
  .jp-RenderedImage img, .jp-RenderedMarkdown img { max-width: 100%; height: auto; }
  .jp-RenderedHTMLCommon table { table-layout: auto; }
  .jp-RenderedHTMLCommon td, .jp-RenderedHTMLCommon th { overflow-wrap: break-word; }
  .jp-RenderedMarkdown table { border-collapse: collapse; margin: 0.5em 0; }
  .jp-RenderedMarkdown th, .jp-RenderedMarkdown td { padding: 2px 8px; border-bottom: 1px solid #ddd; }
  pre { white-space: pre-wrap; overflow-wrap: break-word; word-break: normal; }
  .segkit-nav { font: 13px sans-serif; padding: 6px 0 10px 0; }
  @page { size: {{ resources.segkit_page[0] }}mm {{ resources.segkit_page[1] }}mm; margin: 14mm __MARGIN__mm; }
  @media print { __PRINT__ }
{%- if resources.segkit_print %}
  __PRINT__
  body.jp-Notebook { width: {{ resources.segkit_page[0] - 2 * __MARGIN__ }}mm; }
{%- endif %}
</style>
{%- if resources.segkit_print %}
<script>__FIT_TABLES__</script>
{%- endif %}
{% endblock extra_css %}
{%- block body_header -%}
{{ super() }}
{%- if resources.segkit_nav -%}<div class="segkit-nav">{{ resources.segkit_nav }}</div>{%- endif -%}
{%- endblock body_header -%}
"""
for _key, _value in (("__CODE_FONTS__", CODE_FONT_STACK), ("__FONTS__", FONT_STACK), ("__PRINT__", _PRINT_RULES),
                     ("__MARGIN__", str(_SIDE_MARGIN_MM)), ("__FIT_TABLES__", _FIT_TABLES_JS)):
    _OFFLINE_TEMPLATE = _OFFLINE_TEMPLATE.replace(_key, _value)


_BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "msedge",
                  "microsoft-edge")


def browser_locations(env: Mapping[str, str] | None = None, system: str | None = None) -> list[Path]:
    """Where Chrome, Edge and Chromium are usually installed on this operating system.

    Windows: ``%ProgramFiles%``, ``%ProgramFiles(x86)%`` and ``%LocalAppData%`` with
    ``Google/Chrome/Application/chrome.exe`` and ``Microsoft/Edge/Application/msedge.exe``
    (Edge ships with Windows 10 and 11); macOS: the apps in ``/Applications``; Linux: the
    distribution and snap paths.
    """
    env = os.environ if env is None else env
    system = system or platform.system()
    if system == "Windows":
        roots = [env.get(k) for k in ("PROGRAMFILES", "PROGRAMFILES(X86)", "LOCALAPPDATA")]
        apps = (("Google", "Chrome", "Application", "chrome.exe"), ("Microsoft", "Edge", "Application", "msedge.exe"),
                ("Chromium", "Application", "chrome.exe"))
        return [Path(root, *app) for app in apps for root in roots if root]
    if system == "Darwin":
        return [Path("/Applications", *app) for app in (
            ("Google Chrome.app", "Contents", "MacOS", "Google Chrome"), ("Chromium.app", "Contents", "MacOS", "Chromium"),
            ("Microsoft Edge.app", "Contents", "MacOS", "Microsoft Edge"))]
    return [Path(p) for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome",
                              "/snap/bin/chromium")]


def find_chromium(explicit: str | os.PathLike | None = None) -> str | None:
    """Path of a Chromium, Chrome or Edge binary for printing the PDF.

    Looks at ``explicit``, ``$SEGKIT_CHROMIUM``, then the usual install folders of this
    operating system (`browser_locations`), then the PATH.
    """
    candidates = [explicit, os.environ.get("SEGKIT_CHROMIUM"), *browser_locations()]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return str(c)
    for name in _BROWSER_NAMES:
        hit = shutil.which(name)
        if hit:
            return hit
    return None


def cjk_font_installed() -> bool:
    """Whether the browser will find a CJK font for the Chinese paragraphs.

    Asks fontconfig (what Chromium uses on Linux) when ``fc-list`` exists; elsewhere
    matplotlib's font list (Windows ships Microsoft YaHei, macOS PingFang).
    """
    if shutil.which("fc-list"):
        try:
            res = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=30)
            return bool(res.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    from segkit.report.style import find_cjk_font

    return find_cjk_font() is not None


def _offline_copy(nb):
    """Copy of ``nb`` without widget state; a widget's output becomes `WIDGET_NOTE`.

    A widget's ``text/plain`` is its repr (``VBox(children=(IntSlider(...``), which means
    nothing on a static page, so it is replaced by the note; other outputs of the cell (a
    static figure shown before the widget) are kept.
    """
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data")
            if data and _WIDGET_MIME in data:
                data.clear()
                data["text/plain"] = WIDGET_NOTE
    return nb


def _exporter():
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"segkit_offline.html.j2": _OFFLINE_TEMPLATE})])
    exporter.template_file = "segkit_offline.html.j2"
    exporter.embed_images = True
    return exporter


def _page_mm(page_size: str) -> tuple[float, float]:
    size = {k.lower(): v for k, v in PAGE_SIZES.items()}.get(str(page_size).lower())
    if size is None:
        raise ValueError(f"page_size={page_size!r} is not a known paper size; use one of {', '.join(PAGE_SIZES)}")
    return size


def notebook_to_html(nb_path: str | Path, html_path: str | Path, title: str | None = None,
                     nav_html: str | None = None, page_size: str = "A4", for_print: bool = False) -> Path:
    """Convert an executed notebook to one self-contained, offline HTML page.

    Args:
        nb_path: the ``.ipynb`` (or an ``nbformat`` notebook object).
        html_path: where to write the page.
        title: page title (defaults to the notebook stem).
        nav_html: optional HTML inserted at the top (e.g. a link back to ``index.html``).
        page_size: paper size when printed (`PAGE_SIZES`).
        for_print: lay the page out at the paper's width on screen too (the page `html_to_pdf`
            prints), so wide tables are scaled to what fits on paper.
    """
    import nbformat

    page = _page_mm(page_size)
    nb = nb_path if hasattr(nb_path, "cells") else nbformat.read(str(nb_path), as_version=4)
    nb = _offline_copy(nb)
    name = title or (Path(nb_path).stem if not hasattr(nb_path, "cells") else "report")
    nb.metadata["title"] = name
    resources = {"metadata": {"name": name}, "segkit_nav": nav_html or "", "segkit_page": page,
                 "segkit_print": for_print}
    body, _ = _exporter().from_notebook_node(nb, resources=resources)
    out = Path(html_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda fh: fh.write(body))
    return out


def notebook_page(nb: str | Path, out_dir: str | Path, page_size: str = "A4") -> Path:
    """``<out_dir>/html/<stem>.html`` of one executed notebook, with a link back to the report index."""
    nb = Path(nb)
    return notebook_to_html(nb, Path(out_dir) / "html" / f"{nb.stem}.html", title=nb.stem, page_size=page_size,
                            nav_html='<a href="../index.html">&larr; report index</a>')


class PageWriter:
    """Writes each notebook's page in a background thread as soon as the notebook has run, so the
    pages are ready when the last notebook ends (the kernel process does the notebook's work; this
    process mostly waits on it meanwhile). A context manager; `pages()` waits for them in order."""

    def __init__(self, out_dir: str | Path, page_size: str = "A4") -> None:
        from concurrent.futures import ThreadPoolExecutor

        _page_mm(page_size)  # a wrong size fails before any notebook runs
        self.out_dir, self.page_size = Path(out_dir), page_size
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="segkit-pages")
        self._futures: list = []

    def add(self, nb: str | Path) -> None:
        self._futures.append(self._pool.submit(notebook_page, nb, self.out_dir, self.page_size))

    def pages(self) -> list[Path]:
        return [f.result() for f in self._futures]

    def __enter__(self) -> "PageWriter":
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


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
body {{ font-family: {FONT_STACK}; max-width: 980px; margin: 2em auto; padding: 0 1em; color: #222; }}
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
    atomic_write(path, lambda fh: fh.write(page))  # a full disk must not leave a 0-byte index.html
    return path


REPORT_MARKER = ".segkit-report"
# what the index of a report written before the marker says (the page and the failure page)
_OLD_INDEX_SIGNS = ("Generated by segkit on", "so this folder holds no current report")


def _is_report_dir(out: Path) -> bool:
    if (out / REPORT_MARKER).is_file():
        return True
    index = out / "index.html"
    text = index.read_text(encoding="utf-8", errors="replace") if index.is_file() else ""
    return any(sign in text for sign in _OLD_INDEX_SIGNS)


def claim_report_dir(out_dir: str | Path) -> Path:
    """Make `out_dir` a report folder (marked `REPORT_MARKER`) unless it holds someone else's files.

    A report replaces and deletes its own pages there (`clear_report`), so it writes only into a
    new or empty folder or one a report made.

    Raises:
        ValueError: the folder holds files and no report made it (they are left as they are).
    """
    out = Path(out_dir)
    if out.is_dir() and not _is_report_dir(out):
        theirs = sorted(p.name for p in out.iterdir())
        if theirs:
            shown = ", ".join(theirs[:4]) + (", ..." if len(theirs) > 4 else "")
            raise ValueError(f"{out} is not a segkit report folder and holds files ({shown}) that a report would "
                             "replace or delete; choose a new or empty folder for the report (--out)")
    out.mkdir(parents=True, exist_ok=True)
    (out / REPORT_MARKER).write_text("a segkit report folder: segkit replaces and deletes its pages\n",
                                     encoding="utf-8")
    return out


def clear_report(out_dir: str | Path, notebooks: Sequence[str] = ()) -> list[Path]:
    """Remove a previous report's pages before a new run: ``index.html``, ``html/*.html``,
    ``report_full.html``, ``report.pdf`` and the executed copies of `notebooks` (stems).
    Only in a folder `claim_report_dir` accepted.

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
<body style="font-family: {FONT_STACK}; max-width: 980px; margin: 2em auto; padding: 0 1em;">
<h1>{esc(title)}: failed</h1>
<p>The report run of {datetime.now().strftime('%Y-%m-%d %H:%M')} failed, so this folder holds no current report
(the previous run's pages were removed). Fix the error and run it again.</p>
<pre style="white-space: pre-wrap; background: #fff4f4; padding: 1em;">{esc(message)}</pre>
</body></html>
"""
    path = out / "index.html"
    atomic_write(path, lambda fh: fh.write(page))  # a full disk must not leave a 0-byte index.html
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
            "the PDF report needs Chromium, Chrome or Edge: install one (Debian/Ubuntu: `apt-get install chromium`; "
            "on Windows Edge or Chrome in its usual folder is found) or point SEGKIT_CHROMIUM at the binary. "
            "The HTML report was written anyway."
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
                  figures_dir: str | Path | None = None, log=None, page_size: str = "A4",
                  pages: Sequence[Path] | None = None) -> dict[str, object]:
    """HTML per executed notebook, ``index.html``, and ``report.pdf`` (when ``pdf`` and Chromium exist).

    ``pages``: the notebooks' pages when already written (`PageWriter`), one per executed notebook.

    ``page_size`` is the PDF's paper (`PAGE_SIZES`, A4 by default). Without a CJK font the
    Chinese paragraphs would print as empty boxes, so that is logged as a warning.

    Returns:
        {"html": [paths], "index": path, "pdf": path or None, "pdf_error": message or None}.
    """
    if log is None:
        def log(msg: str) -> None:
            print(msg, flush=True)
    _page_mm(page_size)  # a wrong size fails before any work
    out = Path(out_dir)
    if executed and not cjk_font_installed():
        log("warning: no CJK font found: the Chinese paragraphs will show as empty boxes in the HTML and PDF; "
            "install one (Debian/Ubuntu: apt-get install fonts-noto-cjk; conda: font-ttf-noto-cjk) and rerun")
    entries, written = [], []
    if pages is not None and len(pages) != len(executed):
        raise ValueError(f"{len(pages)} pages for {len(executed)} executed notebooks")
    for i, nb in enumerate(executed):
        nb = Path(nb)
        page = pages[i] if pages is not None else notebook_page(nb, out, page_size)
        written.append(page)
        entries.append((f"html/{page.name}", nb.stem, _first_heading(nb)))
        log(f"html: {page}")
    result: dict[str, object] = {"html": written, "index": None, "pdf": None, "pdf_error": None}
    if pdf and executed:
        merged = merge_notebooks(executed)
        full_html = notebook_to_html(merged, out / "report_full.html", title=title, page_size=page_size,
                                     for_print=True)
        try:
            result["pdf"] = html_to_pdf(full_html, out / "report.pdf")
            log(f"pdf: {result['pdf']}")
        except (FileNotFoundError, RuntimeError) as exc:
            result["pdf_error"] = str(exc)
            log(f"warning: no PDF: {exc}")
    result["index"] = write_index(out, entries, title, tables_dir=tables_dir, pdf_name="report.pdf", note=note,
                                  figures_dir=figures_dir)
    log(f"index: {result['index']}")
    return result
