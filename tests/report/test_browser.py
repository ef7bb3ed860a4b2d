"""The report in a real browser, and the quickstart notebook in JupyterLab, both offline.

Headless Debian Chromium (/usr/bin/chromium) driven by Playwright; no browser download.
Skipped with a reason when Chromium is missing. Screenshots go to each test's tmp dir.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SEGKIT_CHROMIUM", "/usr/bin/chromium")
# Playwright adds --headless itself and takes the profile dir through launch_persistent_context.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"Chromium not found at {CHROMIUM} (apt-get install chromium)"),
]


def _browser(tmp_path: Path, env: dict[str, str] | None = None):
    sync_api = pytest.importorskip("playwright.sync_api")
    pw = sync_api.sync_playwright().start()
    ctx = pw.chromium.launch_persistent_context(str(tmp_path / "chromium-profile"), executable_path=CHROMIUM,
                                                args=FLAGS, headless=True, viewport={"width": 1280, "height": 900},
                                                env=env)
    return pw, ctx


def _watch(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: errors.append(f"requestfailed: {r.url}"))
    return errors


def _images_loaded(page) -> tuple[int, list[str]]:
    page.evaluate("() => Promise.all(Array.from(document.images).map(i => { i.loading = 'eager'; "
                  "return i.complete ? null : new Promise(r => { i.onload = i.onerror = r; }); }))")
    broken = page.evaluate("() => Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
                           ".map(i => i.src.slice(0, 80))")
    return page.evaluate("() => document.images.length"), broken


# class names a dataset may hold: each runs script if a page carries it as markup
_HOSTILE_CLASSES = ["background", '<img src=x onerror="window.xssRan=1">', "<script>window.xssRan=2</script>"]


@pytest.fixture(scope="module")
def built_report(tmp_path_factory) -> Path:
    """A small real report through `segkit report` (PDF included): the quickstart and dataset-analysis
    notebooks on a user's dataset whose classes.txt holds markup (user data, shown as text)."""
    from segkit.cli import main
    from segkit.data import make_synthetic_wirerope

    root = tmp_path_factory.mktemp("report")
    data = make_synthetic_wirerope(root / "data", n_images=24, size=64, seed=0)
    (data / "synthetic.json").unlink()  # the user's own dataset now
    (data / "classes.txt").write_text("".join(f"{c}\n" for c in _HOSTILE_CLASSES), encoding="utf-8")
    nbs = root / "notebooks"
    nbs.mkdir()
    for name in ("00_quickstart", "01_dataset_analysis"):
        shutil.copy(REPO / "notebooks" / f"{name}.ipynb", nbs)
    rc = main(["report", "--notebooks", str(nbs), "--data", str(data), "--out", str(root / "out"),
               "--figures", str(root / "figures"), "--runs", str(root / "runs"), "-p", "smoke", "true",
               "-p", "epochs", "1"])
    assert rc == 0
    # a figure for the index gallery, written the way notebooks write them
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from segkit.report.export import write_index
    from segkit.report.style import save_figure

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    save_figure(fig, "line", root / "figures", close=True)
    write_index(root / "out", [("html/00_quickstart.html", "00_quickstart", "Quickstart"),
                               ("html/01_dataset_analysis.html", "01_dataset_analysis", "Dataset")],
                "test report", tables_dir=root / "out" / "tables", pdf_name="report.pdf",
                figures_dir=root / "figures")
    return root / "out"


def test_report_html_and_pdf(built_report, tmp_path):
    """index.html and a notebook page open without console errors, every image loads; the PDF's pages render."""
    pw, ctx = _browser(tmp_path)
    try:
        page = ctx.new_page()
        errors = _watch(page)
        page.goto((built_report / "index.html").as_uri())
        page.wait_for_load_state("load")
        n, broken = _images_loaded(page)
        assert n >= 1 and not broken, broken
        page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
        links = page.eval_on_selector_all("ol.nb a", "els => els.map(e => e.getAttribute('href'))")
        assert links == ["html/00_quickstart.html", "html/01_dataset_analysis.html"]
        page.click("text=00_quickstart")
        page.wait_for_load_state("load")
        assert page.title() == "00_quickstart"
        n, broken = _images_loaded(page)
        assert n >= 2 and not broken, broken  # the sample overlays and the prediction
        assert page.locator("h1", has_text="Quickstart").count() == 1
        page.screenshot(path=str(tmp_path / "notebook.png"), full_page=False)
        assert not errors, errors
    finally:
        ctx.close()
        pw.stop()
    assert (tmp_path / "index.png").stat().st_size > 5000 and (tmp_path / "notebook.png").stat().st_size > 5000
    _pdf_pages_render(built_report, tmp_path)


def test_hostile_class_names_show_as_text_and_run_nothing(built_report, tmp_path):
    """A dataset's classes.txt is user data: the quickstart and dataset-analysis pages and the
    index show its names as text (tables, paragraphs, Markdown) and no script of theirs runs."""
    out = built_report
    pages = [out / "index.html", *sorted((out / "html").glob("*.html"))]
    assert len(pages) == 3
    pw, ctx = _browser(tmp_path)
    try:
        for path in pages:
            page = ctx.new_page()
            errors = _watch(page)
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            page.wait_for_timeout(300)  # a failed image load fires its onerror after load
            assert page.evaluate("() => window.xssRan") is None, path.name
            text = page.inner_text("body")
            assert all(name in text for name in _HOSTILE_CLASSES[1:]), path.name  # shown as written
            assert not errors, (path.name, errors)
            page.close()
    finally:
        ctx.close()
        pw.stop()


def _pdf_pages_render(built_report, tmp_path):
    pdf = built_report / "report.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) not installed; the PDF exists but its pages are not rasterised")
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 3  # two notebooks, each starting on a new page
    import numpy as np
    from PIL import Image

    first = np.asarray(Image.open(pages[0]).convert("L"), dtype=float)
    assert first.std() > 5  # not a blank page


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_quickstart_runs_in_jupyterlab(tmp_path):
    """As a user: start JupyterLab, open 00_quickstart.ipynb, Run All, look at the result."""
    pytest.importorskip("jupyterlab")
    work = tmp_path / "work"
    (work / "notebooks").mkdir(parents=True)
    # the user's first edit: a small run (the defaults train 5 epochs on 120 images, minutes on
    # a busy 2-core machine); everything else is the committed notebook
    nb = nbformat.read(REPO / "notebooks" / "00_quickstart.ipynb", as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source += "\nsmoke = True\nthreads = 1\nn_images = 24\nepochs = 1"
    nbformat.write(nb, work / "notebooks" / "00_quickstart.ipynb")
    port, token = _free_port(), secrets.token_hex(16)
    settings = tmp_path / "lab-settings"
    # render every cell (no lazy windowing, so screenshots show outputs) and no news pop-up
    for ext, name, body in (("notebook-extension", "tracker", {"windowingMode": "none"}),
                            ("apputils-extension", "notification", {"fetchNews": "false"})):
        (settings / f"@jupyterlab/{ext}").mkdir(parents=True, exist_ok=True)
        (settings / f"@jupyterlab/{ext}" / f"{name}.jupyterlab-settings").write_text(json.dumps(body))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"),
               IPYTHONDIR=str(tmp_path / "ipy"), JUPYTER_PLATFORM_DIRS="1", JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"))
    log = open(tmp_path / "lab.log", "w")
    lab = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip", "127.0.0.1",
                            f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
                            "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                            "--LabApp.extension_manager=readonly"]
                           + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
                           stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
    pw = ctx = None
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if time.time() > deadline or lab.poll() is not None:
                    pytest.fail(f"JupyterLab did not start: {(tmp_path / 'lab.log').read_text()[-2000:]}")
                time.sleep(1)
        pw, ctx = _browser(tmp_path)
        page = ctx.new_page()
        page.set_default_timeout(120_000)
        page.goto(f"{url}/lab/tree/notebooks/00_quickstart.ipynb?token={token}")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
        # Run > Run All Cells, as a user would; on a loaded machine the first click can be lost
        # while the notebook panel is still settling, so check that execution started and retry.
        # started = two cells queued or run: once only the first (parameters) cell ran, as if the
        # click had hit "Run Selected Cell", and the others never started. Queued cells show [*] at
        # once, so 15 s tells a lost click (a 60 s wait made one lost click cost a minute)
        started = "() => Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt'))" \
                  ".filter(e => /\\[(\\*|\\d+)\\]/.test(e.textContent)).length >= 2"
        for attempt in range(3):
            page.locator(".jp-Notebook").first.click()  # focus the notebook
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            try:
                page.wait_for_function(started, timeout=15_000, polling=500)
                break
            except Exception:
                if attempt == 2:
                    page.screenshot(path=str(tmp_path / "jupyterlab_not_started.png"))
                    pytest.fail(f"Run All Cells did not start the notebook; see {tmp_path / 'jupyterlab_not_started.png'}")
        n_code = json.loads((work / "notebooks" / "00_quickstart.ipynb").read_text())["cells"]
        n_code = sum(c["cell_type"] == "code" for c in n_code)
        # done when every code cell shows an execution number and the kernel is idle
        try:
            page.wait_for_function(
                "n => { const p = Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt'))"
                ".map(e => e.textContent.trim()); return p.length === n && p.every(t => /^\\[\\d+\\]:$/.test(t)); }",
                arg=n_code, timeout=300_000, polling=2000)
        except Exception:
            page.screenshot(path=str(tmp_path / "jupyterlab_stuck.png"))
            prompts = page.eval_on_selector_all(".jp-CodeCell .jp-InputArea-prompt", "els => els.map(e => e.textContent)")
            pytest.fail(f"Run All did not finish in 300 s; prompts {prompts}; screenshot {tmp_path / 'jupyterlab_stuck.png'}")
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")
        slider = page.wait_for_selector(".jupyter-widgets.widget-slider, .widget-hslider", timeout=30_000)
        assert slider.is_visible()
        slider.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.screenshot(path=str(tmp_path / "jupyterlab_widget.png"))
        errors = page.eval_on_selector_all(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                           "els => els.map(e => e.textContent).filter(t => /Traceback|Error:/.test(t))")
        assert not errors, errors
        page.keyboard.press("Control+s")
        page.wait_for_timeout(2000)
        page.screenshot(path=str(tmp_path / "jupyterlab_end.png"))
        saved = json.loads((work / "notebooks" / "00_quickstart.ipynb").read_text())
        outs = [o for c in saved["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
        assert outs and not [o for o in outs if o["output_type"] == "error"]
    finally:
        if ctx is not None:
            ctx.close()
            pw.stop()
        lab.terminate()
        try:
            lab.wait(timeout=20)
        except subprocess.TimeoutExpired:
            lab.kill()
        log.close()
    assert (tmp_path / "jupyterlab_widget.png").stat().st_size > 5000


# ----------------------------------------------------------------------------- fonts and PDF layout

_CJK_PARAGRAPH = "中文段落：改进模型的平均交并比高于基线，但差异在噪声范围内。"

# Draws characters one by one in the paragraph's own font (family stack and size) and
# returns, per character, how many pixels got ink and a hash of them. A missing glyph is
# drawn as the same "tofu" box for every character, so distinct characters with identical
# pixels mean the font stack found no CJK font.
_GLYPHS_JS = """(sel) => {
  const el = Array.from(document.querySelectorAll(sel)).find(e => /[\\u4e00-\\u9fff]/.test(e.textContent));
  const cs = getComputedStyle(el);
  return ['中', '文', '段', '落'].map(ch => {
    const c = document.createElement('canvas'); c.width = 64; c.height = 64;
    const ctx = c.getContext('2d'); ctx.font = `${cs.fontSize} ${cs.fontFamily}`; ctx.fillText(ch, 8, 40);
    const d = ctx.getImageData(0, 0, 64, 64).data; let ink = 0, sig = 0;
    for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) { ink++; sig = (sig * 31 + i * d[i]) % 1000000007; } }
    return [ink, sig];
  });
}"""


def _glyphs(page_uri: str, tmp_path: Path, env: dict[str, str] | None = None) -> list[list[int]]:
    pw, ctx = _browser(tmp_path, env)
    try:
        page = ctx.new_page()
        page.goto(page_uri)
        page.wait_for_load_state("load")
        return page.evaluate(_GLYPHS_JS, ".jp-RenderedMarkdown p")
    finally:
        ctx.close()
        pw.stop()


def test_chinese_paragraphs_render_with_real_glyphs(tmp_path):
    """The report page declares a CJK font stack and Chromium draws the Chinese text with real
    glyphs; with the CJK fonts hidden from fontconfig the same probe sees identical tofu boxes."""
    import nbformat

    from segkit.report.export import notebook_to_html

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# 中文\n\n{_CJK_PARAGRAPH}")]
    page = notebook_to_html(nb, tmp_path / "zh.html")
    assert "Noto Sans CJK SC" in page.read_text(encoding="utf-8") and "Microsoft YaHei" in page.read_text(encoding="utf-8")
    real = _glyphs(page.as_uri(), tmp_path / "with-fonts")
    assert all(ink > 20 for ink, _ in real), real
    assert len({sig for _, sig in real}) == 4, (
        f"Chinese characters render as identical boxes {real}: install a CJK font (apt-get install fonts-noto-cjk; "
        "`make test` does)")
    # the negative control: only DejaVu (no CJK glyphs) visible, the probe must see tofu
    latin = Path("/usr/share/fonts/truetype/dejavu")
    if not latin.is_dir():
        return
    conf = tmp_path / "fonts.conf"
    conf.write_text(f'<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig><dir>{latin}</dir>'
                    f"<cachedir>{tmp_path / 'fc-cache'}</cachedir></fontconfig>")
    tofu = _glyphs(page.as_uri(), tmp_path / "latin-only", env={**os.environ, "FONTCONFIG_FILE": str(conf)})
    assert len({sig for _, sig in tofu}) == 1, tofu


def _pdf_words(pdf: Path) -> list[tuple[int, float, float, float, float, float, str]]:
    """Every word of the PDF: (page, page width, page height, xMin, xMax, yMax, text), from pdftotext -bbox."""
    import html
    import re

    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    words = []
    for i, (w, h, body) in enumerate(re.findall(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', out, re.S)):
        for x0, x1, y1, text in re.findall(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="([\d.]+)">'
                                           r"(.*?)</word>", body):
            words.append((i, float(w), float(h), float(x0), float(x1), float(y1), html.unescape(text)))
    return words


def test_pdf_is_a4_and_nothing_runs_past_the_page(tmp_path):
    """A4 pages; a 20-column table is scaled to fit (its last header and cell are printed, not
    clipped); code wraps at spaces, not inside a word; a widget prints as a short note; every
    word lies inside the page's side margins."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) not installed; `make test` installs it")
    import nbformat
    import pandas as pd

    from segkit.report.export import WIDGET_NOTE, html_to_pdf, notebook_to_html

    wide = pd.DataFrame({f"metric {i} (%)": [10.0 + i, 99.5] for i in range(18)})
    wide.insert(0, "Model", ["deeplabv3plus-mobilenetv2-ag-aspp-mvit-gn", "sff-wadeeplab"])
    wide["error"] = ["RuntimeError: window size 8 does not tile the 4x4 map; use image_size 128", "LASTCELL"]
    code = ('cfg = train_config("quick", epochs=4, batch_size=4, image_size=64, smoke=False, eval_period=1, '
            'num_workers=0, seed=0, note="quick values that are long enough to wrap twice on an A4 page")')
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# Layout\n\n{_CJK_PARAGRAPH}"), nbformat.v4.new_code_cell(code)]
    nb.cells[1].outputs = [
        nbformat.from_dict({"output_type": "execute_result", "execution_count": 1, "metadata": {},
                            "data": {"text/html": wide.to_html(), "text/plain": "table"}}),
        nbformat.from_dict({"output_type": "display_data", "metadata": {},
                            "data": {"text/plain": "VBox(children=(IntSlider(value=0),))",
                                     "application/vnd.jupyter.widget-view+json": {"model_id": "a", "version_major": 2,
                                                                                  "version_minor": 0}}})]
    page = notebook_to_html(nb, tmp_path / "layout.html", for_print=True)
    pdf = html_to_pdf(page, tmp_path / "layout.pdf", timeout=120)
    words = _pdf_words(pdf)
    texts = [w[-1] for w in words]
    _, width, height = words[0][:3]
    assert (round(width), round(height)) == (595, 842)  # A4 in points
    margin = 12 / 25.4 * 72  # 12 mm side margins
    outside = [w for w in words if w[3] < margin / 2 or w[4] > width - margin / 2]
    assert not outside, outside[:5]
    assert texts.count("(%)") == 18, "a metric column is missing from the PDF text (clipped?)"
    for needed in ("error", "LASTCELL", "sff-wadeeplab"):
        assert needed in texts, f"{needed!r} missing from the PDF text (clipped?)"
    for token in ("smoke=False,", "eval_period=1,", "num_workers=0,", "seed=0,", "enough"):
        assert token in texts, f"{token!r} broken inside the word: {texts}"
    assert "VBox(children=(IntSlider(value=0),))" not in " ".join(texts)
    assert " ".join(WIDGET_NOTE.split()[:3]) in " ".join(texts)
