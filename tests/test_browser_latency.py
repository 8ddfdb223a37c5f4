"""In a real browser: a key press on a widget reaches a painted picture; the plotly figures render offline and hover.

JupyterLab in headless Debian chromium (as tests/test_browser.py), through the helpers of
``benchmarks/bench_latency.py`` — the benchmark that records the key-press-to-paint times. This test never asserts a
timing: it checks that each measured key press led to a painted update (the measurement works), that the lessons'
plotly figures are drawn by JupyterLab's plotly extension with no network, and that hovering a point or a heatmap
cell shows what the figure's ``hovertemplate`` promises. Screenshots land in ``artifacts/screenshots/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from benchmarks import bench_latency as bl

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
BENIGN_CONSOLE = ("Failed to load resource", "favicon", "ERR_INTERNET_DISCONNECTED", "net::ERR")

_missing = bl.browser_missing()
if _missing and os.environ.get("CI"):
    raise RuntimeError(f"browser test required under CI, but {_missing}")
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.skipif(_missing is not None, reason=str(_missing))]

#: a one-cell notebook: the cell lessons 3 and 5 use (gate_map_hover on the shipped models' traces)
HOVER_CELLS = [
    "from stlearn.data import load_moving_digits_test\n"
    "from stlearn.probe import trace_sequence\n"
    "from stlearn.training.pretrained import load_pretrained\n"
    "from stlearn.viz import gate_map_hover\n"
    "trace = trace_sequence(load_pretrained('moving_digits', 'predrnn'), load_moving_digits_test().frames[0])",
    "gate_map_hover(trace, 'm', layer=1, step=9)",
]


def _notebook(cells: list[str]) -> str:
    return json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "id": f"c{k}", "metadata": {}, "outputs": [],
                   "source": src} for k, src in enumerate(cells)],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5,
    })  # fmt: skip


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lab")
    served = tmp / "notebooks"
    shutil.copytree(ROOT / "notebooks", served, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (served / "hover_gate_map.ipynb").write_text(_notebook(HOVER_CELLS))
    with bl.jupyterlab(served, tmp) as (base, token), bl.chromium() as browser:
        yield base, token, browser


def _real_errors(page) -> list[str]:
    return [e for e in page.errors if not any(b in e for b in BENIGN_CONSOLE)]


def test_a_key_press_reaches_a_painted_picture(lab):
    base, token, browser = lab
    page = bl.open_lesson(browser, base, token, "01_spatiotemporal_data.ipynb", 90)
    found = bl.sliders(page, ROOT / "notebooks" / "01_spatiotemporal_data.ipynb")
    widgets = [f[1] for f in found]
    assert widgets[:1] == ["ForecastPlayer"] and "FrameViewer" in widgets, widgets  # the opener, then the data
    handle = found[widgets.index("FrameViewer")][0]
    before = handle.get_attribute("aria-valuenow")
    presses = bl.press_to_paint(page, handle, 3)
    assert len(presses) == 3 and all(p is not None for p in presses), f"a key press led to no painted update: {presses}"
    assert all(painted > 0 and 0 < arrived <= painted for painted, arrived in presses)
    assert handle.get_attribute("aria-valuenow") != before  # the slider moved: the key press was real
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "latency-01-after-presses.png"))
    assert not _real_errors(page)
    page.close()


def _hover(page, plot, trace: int, point: tuple[float, float]) -> str:
    """Move the mouse over data point (x, y) of trace ``trace`` of a plotly plot; the hover label's text."""
    label = plot.locator(".hoverlayer .hovertext")
    for _ in range(20):  # JupyterLab lays out cells that come into view: the plot may move after the scroll
        plot.scroll_into_view_if_needed()
        time.sleep(0.3)
        xy = plot.evaluate(
            """(gd, [k, x, y]) => {
                const t = gd._fullData[k], fl = gd._fullLayout;
                const xa = fl['xaxis' + t.xaxis.slice(1)], ya = fl['yaxis' + t.yaxis.slice(1)];
                const r = gd.getBoundingClientRect();
                const px = r.left + xa._offset + xa.c2p(x), py = r.top + ya._offset + ya.c2p(y);  // c2p: log axes too
                const hit = document.elementFromPoint(px, py);
                return [px, py, !!hit && gd.contains(hit)];
            }""",
            [trace, *point],
        )
        if not xy[2]:
            continue
        page.mouse.move(xy[0] - 4, xy[1] - 4)
        page.mouse.move(xy[0], xy[1], steps=3)
        for _ in range(10):
            if label.count():
                return label.first.text_content()
            time.sleep(0.1)
    return ""


@pytest.mark.parametrize(("notebook", "plots", "trace", "point", "expect"), [
    ("09_nowcasting_table8.ipynb", 1, 0, ("index", 4), "lead 30 min: mse_frame"),
    ("10_comparing_models.ipynb", 2, 0, ("index", 2), ", iteration "),
    ("hover_gate_map.ipynb", 1, 0, (3, 2), "channel 0, row "),
])  # fmt: skip
def test_plotly_figures_render_offline_and_hover(lab, notebook, plots, trace, point, expect):
    base, token, browser = lab
    page = bl.open_lesson(browser, base, token, notebook, bl.LESSONS.get(notebook, 150))
    assert page.locator(".jp-RenderedText:has-text('Traceback')").count() == 0, "a cell raised"
    figures = page.locator(".js-plotly-plot")
    for _ in range(50):
        if figures.count() >= plots:
            break
        time.sleep(0.2)
    assert figures.count() >= plots, f"{figures.count()} plotly figures drawn, expected {plots}"
    plot = figures.first
    x, y = point
    if x == "index":  # the trace's own point number y
        xs, ys = plot.evaluate(f"gd => [gd._fullData[{trace}].x, gd._fullData[{trace}].y]")
        x, y = xs[y], ys[y]
    text = _hover(page, plot, trace, (x, y))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    plot.screenshot(path=str(ARTIFACTS / f"hover-{Path(notebook).stem}.png"))
    assert expect in text, f"hover label {text!r} lacks {expect!r}"
    if notebook == "hover_gate_map.ipynb":  # the label reads the value of the cell it names
        match = re.fullmatch(r"channel 0, row (\d+), col (\d+): (-?[\d.]+)", text.strip())
        assert match, text
        row, col, value = int(match[1]), int(match[2]), float(match[3])
        assert abs(row - 2) <= 1 and abs(col - 3) <= 1, text
        z = plot.evaluate(f"gd => gd._fullData[0].z[{row}][{col}]")
        assert value == pytest.approx(z, abs=1e-4)
    assert not _real_errors(page), _real_errors(page)[:5]
    page.close()
