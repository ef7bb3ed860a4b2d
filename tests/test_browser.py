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

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("SEGKIT_CHROMIUM", "/usr/bin/chromium")
# Playwright adds --headless itself and takes the profile dir through launch_persistent_context.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.xdist_group("browser"),
    pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"Chromium not found at {CHROMIUM} (apt-get install chromium)"),
]


def _browser(tmp_path: Path):
    sync_api = pytest.importorskip("playwright.sync_api")
    pw = sync_api.sync_playwright().start()
    ctx = pw.chromium.launch_persistent_context(str(tmp_path / "chromium-profile"), executable_path=CHROMIUM,
                                                args=FLAGS, headless=True, viewport={"width": 1280, "height": 900})
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


@pytest.fixture()
def built_report(tmp_path_factory, synthetic_root) -> Path:
    """A small real report: quickstart + stitching notebooks through `segkit report` (PDF included)."""
    from segkit.cli import main

    root = tmp_path_factory.mktemp("report")
    nbs = root / "notebooks"
    nbs.mkdir()
    for name in ("00_quickstart", "07_module_stitching"):
        shutil.copy(REPO / "notebooks" / f"{name}.ipynb", nbs)
    rc = main(["report", "--notebooks", str(nbs), "--data", str(synthetic_root), "--out", str(root / "out"),
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
                               ("html/07_module_stitching.html", "07_module_stitching", "Stitching")],
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
        assert links == ["html/00_quickstart.html", "html/07_module_stitching.html"]
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
        started = "() => Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt'))" \
                  ".some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))"
        for attempt in range(3):
            page.locator(".jp-Notebook").first.click()  # focus the notebook
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            try:
                page.wait_for_function(started, timeout=60_000, polling=1000)
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
