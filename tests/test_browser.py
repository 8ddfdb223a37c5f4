"""The lessons in a real browser: JupyterLab in headless Chromium, driven by Playwright.

For each widget lesson: open it in JupyterLab, run all cells, wait for the widgets to render,
then move a slider (and change a dropdown where there is one) with real keyboard/mouse events
and check that what is drawn changed. JavaScript console errors and widget render failures fail
the test. Screenshots land in ``artifacts/screenshots/`` (kept, not committed).

Needs Debian's chromium (``apt-get install chromium``; ``.ci/run`` installs it) and the
``playwright`` Python package (never ``playwright install``: it downloads a browser). Without a
browser the test is skipped with the reason — except under CI (``CI`` set), where that fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from benchmarks import bench_latency as bl

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Lessons with widgets, and how long a run-all may take on 2 CPU cores (seconds).
WIDGET_LESSONS = {
    "00_course_map.ipynb": 60,
    "01_spatiotemporal_data.ipynb": 90,
    "02_lstm_to_convlstm.ipynb": 90,
    "03_convlstm_gates.ipynb": 120,
    "04_training_convlstm.ipynb": 150,
    "05_st_lstm.ipynb": 150,
    "06_zigzag_memory.ipynb": 150,
    "07_predrnn_v2.ipynb": 150,
    "08_trajgru_mim.ipynb": 120,
    "10_comparing_models.ipynb": 150,
}

# Console messages JupyterLab itself prints on a closed network; anything else is a failure.
BENIGN_CONSOLE = ("Failed to load resource", "favicon", "ERR_INTERNET_DISCONNECTED", "net::ERR")


def _browser_available() -> str | None:
    if CHROMIUM is None:
        return "Debian chromium is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed"
    return None


_missing = _browser_available()
if _missing and os.environ.get("CI"):
    raise RuntimeError(f"browser test required under CI, but {_missing}")
pytestmark = [pytest.mark.browser, pytest.mark.skipif(_missing is not None, reason=str(_missing))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on a free loopback port, serving a copy of notebooks/ with fresh settings."""
    tmp = tmp_path_factory.mktemp("lab")
    served = tmp / "notebooks"
    shutil.copytree(ROOT / "notebooks", served, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    port, token = _free_port(), "stlearn-browser-test"
    news = tmp / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false", "checkForUpdates": false}')  # no pop-up over the lesson
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
        f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={served}", "--ServerApp.port_retries=0",
        "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    log = open(tmp / "lab.log", "w")  # closed in teardown
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.3)
    else:
        proc.kill()
    if proc.poll() is not None:
        log.close()
        pytest.fail(f"JupyterLab did not start:\n{(tmp / 'lab.log').read_text()[-3000:]}")
    yield base, token
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        yield b
        b.close()


_run_all = bl.run_all  # run all cells through the menu and wait until every cell has run


def open_lesson(chromium, base: str, token: str, notebook: str, timeout_s: float):
    """A new page with ``notebook`` open and all its cells run, and the list its console errors are collected in."""
    page = bl.open_lesson(chromium, base, token, notebook, timeout_s)
    assert page.locator("text=Error displaying widget").count() == 0, "a widget failed to render"
    return page, page.errors


def close_clean(page, errors: list[str]) -> None:
    """Fail on a traceback in any output or a real console error; close the page."""
    tracebacks = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert tracebacks.count() == 0, tracebacks.first.inner_text()[:2000]
    real_errors = [e for e in errors if not any(b in e for b in BENIGN_CONSOLE)]
    assert not real_errors, f"JavaScript console errors: {real_errors[:5]}"
    page.close()


def _area_png(locator) -> bytes:
    return locator.screenshot(animations="disabled")


def choose_region(where):
    """Choose "a region (rows × cols)" in a GateSurgery's where-menu: its output area, and whether its picture
    changed within 6 s."""
    where.scroll_into_view_if_needed()
    area = where.locator("xpath=ancestor::div[contains(@class,'jp-OutputArea')][1]")
    image = area.locator(".widget-image, img").first
    before = _area_png(image)
    where.select_option(label="a region (rows × cols)")
    return area, _changed(image, before)


def _changed(locator, before: bytes, tries: int = 60) -> bool:
    """Whether ``locator``'s picture differs from ``before`` within ``tries`` × 0.1 s."""
    for _ in range(tries):
        time.sleep(0.1)
        if _area_png(locator) != before:
            return True
    return False


@pytest.mark.parametrize("notebook", sorted(WIDGET_LESSONS))
def test_lesson_widgets_render_and_respond(lab, browser, notebook):
    base, token = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = Path(notebook).stem
    page, errors = open_lesson(browser, base, token, notebook, WIDGET_LESSONS[notebook])

    tracebacks = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert page.locator(".jp-RenderedText:has-text('Traceback')").count() == 0, "a cell raised"
    assert tracebacks.count() == 0, tracebacks.first.inner_text()[:2000]
    sliders = page.locator(".widget-slider .noUi-handle, .widget-slider .slider-handle")
    assert sliders.count() > 0, "no slider rendered (is the ipywidgets front end active?)"
    page.screenshot(path=str(ARTIFACTS / f"{stem}-before.png"), full_page=True)

    # Each widget box with a slider: move it with the keyboard and check its output area changes.
    for k in range(sliders.count()):
        handle = sliders.nth(k)
        area = handle.locator("xpath=ancestor::div[contains(@class,'jp-OutputArea')][1]")
        area.scroll_into_view_if_needed()
        before = _area_png(area)
        handle.click()
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        changed = False
        for _ in range(40):
            time.sleep(0.1)
            if _area_png(area) != before:
                changed = True
                break
        assert changed, f"slider {k} moved but nothing it drives was redrawn"
    dropdowns = page.locator(".widget-dropdown select")
    for k in range(dropdowns.count()):
        select = dropdowns.nth(k)
        area = select.locator("xpath=ancestor::div[contains(@class,'jp-OutputArea')][1]")
        # Read the options from the DOM, not from rendered text: JupyterLab's windowed notebook does not
        # render the text of cells outside the viewport, and ipywidgets writes spaces as no-break spaces.
        options = select.evaluate("s => Array.from(s.options).map(o => o.text)")
        if len(options) < 2:
            continue
        area.scroll_into_view_if_needed()
        before = _area_png(area)
        current = select.evaluate("s => s.selectedIndex")
        index = next(i for i in range(len(options)) if i != current)
        choice = options[index]
        select.select_option(index=index)
        for _ in range(40):
            time.sleep(0.1)
            if _area_png(area) != before:
                break
        else:
            raise AssertionError(f"dropdown {k} changed to {choice!r} but nothing was redrawn")
    page.screenshot(path=str(ARTIFACTS / f"{stem}-after.png"), full_page=True)
    close_clean(page, errors)
