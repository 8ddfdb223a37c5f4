"""Key press to painted picture: every lesson widget's latency as the learner feels it, in a real browser.

Usage:  python -m benchmarks.bench_latency [--lessons 01,03,10] [--presses 9] [--rounds 3] [--out benchmarks/results]

For each widget lesson: JupyterLab in headless Debian chromium (Playwright, as tests/test_browser.py), run all
cells, then for every slider of every widget: focus its handle, press ArrowRight (ArrowLeft at the end of its
range) with a real key event — for a dropdown, choose the next option (headless chromium's closed ``<select>``
ignores arrow keys), timed from its ``input`` event — and measure in the page, from the event's time stamp
(``KeyboardEvent.timeStamp``) to the first frame painted after one of the widget's images changed and was
decoded (the new ``src`` seen by a MutationObserver the moment it is set — until 2026-12-06 it was polled once
per frame, which added up to a frame; "painted" = a task queued from the callback of the first
``requestAnimationFrame`` after the decode, which runs after that frame's paint). The first press of each control
is a warm-up and not counted; a lesson's controls are pressed in ``--rounds`` rounds (3 presses of each, then the
next round), so that a few busy seconds on the shared machine do not fall on all the presses of one control.
Between presses the page waits until the update has landed. So the number includes
the comm message to the kernel, the Python callback (model passes, drawing, PNG), the message back, image decoding
and the paint — and the 16 ms frame granularity of the screen.

Writes ``latency.json`` and ``latency.md`` under ``--out`` (per widget and control: n, median, p95, max ms;
the target is a median ≤ 100 ms on 2 cores). Needs chromium and the playwright package; without them the
section is skipped with the reason. Timings are never asserted anywhere; tests/test_browser_latency.py only
checks that each measured key press led to a painted update. After its presses, a dropdown is set back to the
option it showed (not timed): the next controls are measured in the lesson's state, not in one an edit left.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip

#: widget lessons and how long a run-all may take on 2 CPU cores (seconds)
LESSONS = {
    "00_course_map.ipynb": 90,
    "01_spatiotemporal_data.ipynb": 90,
    "02_lstm_to_convlstm.ipynb": 90,
    "03_convlstm_gates.ipynb": 120,
    "04_training_convlstm.ipynb": 150,
    "05_st_lstm.ipynb": 150,
    "06_zigzag_memory.ipynb": 150,
    "07_predrnn_v2.ipynb": 150,
    "08_trajgru_mim.ipynb": 150,
    "10_comparing_models.ipynb": 150,
}
#: the widget classes a cell may build (the name found in the cell's source labels its sliders)
WIDGETS = ("ForecastPlayer", "FrameViewer", "GateExplorer", "CellExplorer", "PredictionViewer", "GateSurgery",
           "ZigzagFlow", "IncrementExplorer", "ConnectivityExplorer", "TrajGRUFlowExplorer",
           "MIMMemoryExplorer")  # fmt: skip
TARGET_MS = 100.0

#: in the page: arm a measurement on one output area; window.__lat.ms is set once the update is painted
_ARM = """(area) => {
  const srcs = () => Array.from(area.querySelectorAll('img')).map(i => i.src);
  const before = srcs();
  const lat = window.__lat = {t0: null, ms: null, arrived: null};
  // the harness waits on this promise (one short message), not by polling the page while the update is on its way
  lat.done = new Promise(resolve => { lat.finish = resolve; });
  const start = e => { if (lat.t0 === null) lat.t0 = e.timeStamp; };
  document.addEventListener('keydown', start, {capture: true, once: true});   // a slider's key press
  document.addEventListener('input', start, {capture: true, once: true});     // a dropdown's option chosen
  // the new image is seen the moment its src is set (or a new <img> is added): a MutationObserver, no polling
  const seen = () => {
    if (lat.t0 === null || lat.arrived !== null) return;
    const imgs = Array.from(area.querySelectorAll('img'));
    const k = imgs.findIndex((img, j) => img.src !== before[j]);
    if (k < 0 && imgs.length === before.length) return;
    watch.disconnect();
    const img = imgs[Math.max(k, 0)];
    lat.arrived = performance.now() - lat.t0;          // the new image is in the page (its src set)
    // decoded, then the next frame: a task queued from its rAF callback runs after that frame's paint
    const painted = () => requestAnimationFrame(() => setTimeout(() => {
      lat.ms = performance.now() - lat.t0;
      lat.finish();
    }, 0));
    (img && img.decode ? img.decode() : Promise.resolve()).then(painted, painted);
  };
  const watch = new MutationObserver(seen);
  watch.observe(area, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
  setTimeout(() => { watch.disconnect(); lat.finish(); }, 5000);  // given up: window.__lat.ms stays null
}"""


def browser_missing() -> str | None:
    """Why the browser measurement cannot run here (None when it can)."""
    if CHROMIUM is None:
        return "Debian chromium is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyterlab(served: Path, tmp: Path):
    """JupyterLab on a free loopback port serving ``served``, with fresh settings: yields (base URL, token)."""
    port, token = _free_port(), "stlearn-latency"
    news = tmp / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True, exist_ok=True)
    news.write_text('{"fetchNews": "false", "checkForUpdates": false}')
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}  # fmt: skip
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", f"--ServerApp.port={port}",
           "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={served}",
           "--ServerApp.port_retries=0", "--LabApp.news_url=",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]  # fmt: skip
    with open(tmp / "lab.log", "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 60
            while True:
                try:
                    urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                    break
                except OSError:
                    if proc.poll() is not None or time.time() > deadline:
                        log_text = (tmp / "lab.log").read_text()[-3000:]
                        raise RuntimeError(f"JupyterLab did not start:\n{log_text}") from None
                    time.sleep(0.3)
            yield base, token
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextmanager
def chromium():
    """Headless Debian chromium through Playwright (never ``playwright install``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def run_all(page, timeout_s: float) -> None:
    """Run all cells through the menu and wait until the kernel is idle and every cell has run."""
    page.wait_for_selector("text=| Idle", timeout=60_000)
    page.click("li.lm-MenuBar-item:has-text('Run')")
    page.click("li.lm-Menu-item:has-text('Run All Cells')")
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        pending = page.locator(".jp-CodeCell .jp-InputPrompt:has-text('[*]')").count()
        unrun = page.locator(".jp-CodeCell .jp-InputPrompt:text-is('[ ]:')").count()
        if pending == 0 and unrun == 0 and page.locator("text=| Idle").count():
            return
        time.sleep(0.5)
    raise AssertionError(f"run-all did not finish within {timeout_s} s")


def open_lesson(browser, base: str, token: str, notebook: str, timeout_s: float):
    """A new page with ``notebook`` open and all its cells run; JavaScript errors collected in ``page.errors``."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(f"{base}/lab/tree/{notebook}?reset&token={token}")
    page.wait_for_selector(".jp-NotebookPanel", timeout=60_000)
    run_all(page, timeout_s)
    return page


def _token(name: str) -> str:
    """An XPath test for an element whose class list holds ``name`` itself (not only a longer name)."""
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


def sliders(page, notebook: Path) -> list[tuple[object, str, str]]:
    """Every widget slider handle and dropdown in the page, with the widget class its cell builds and its label.

    The cell's source is read from ``notebook`` (JupyterLab does not render the text of cells outside the view):
    the cell's position among the notebook's cells in the page is its index in the file.
    """
    sources = ["".join(c["source"]) for c in json.loads(notebook.read_text())["cells"]]
    out = []
    handles = page.locator(".widget-slider .noUi-handle, .widget-dropdown select")
    for k in range(handles.count()):
        handle = handles.nth(k)
        handle.scroll_into_view_if_needed()
        index = handle.evaluate(
            "h => Array.from(document.querySelectorAll('.jp-Notebook-cell')).indexOf(h.closest('.jp-Notebook-cell'))"
        )
        source = sources[index] if 0 <= index < len(sources) else ""
        widget = next((w for w in WIDGETS if f"{w}(" in source), "widget")
        box = "widget-dropdown" if handle.evaluate("h => h.tagName === 'SELECT'") else "widget-slider"
        label = handle.locator(f"xpath=ancestor::div[{_token(box)}][1]").locator(".widget-label")
        out.append((handle, widget, (label.first.text_content() or "").strip() if label.count() else ""))
    return out


def press_to_paint(page, handle, presses: int) -> list[tuple[float, float] | None]:
    """Per key press on ``handle``: ms to the painted update of its output area and ms until the new image was in the
    page (None: no update came)."""
    area = handle.locator(f"xpath=ancestor::div[{_token('jp-OutputArea')}][1]")
    area.scroll_into_view_if_needed()
    out: list[tuple[float, float] | None] = []
    select = handle.evaluate("h => h.tagName === 'SELECT'")
    first = handle.evaluate("h => h.selectedIndex") if select else None
    for _ in range(presses):
        # a slider handle (aria values) or a dropdown's <select> (selected index): one step, back at the end
        now, low, high = handle.evaluate(
            "h => h.tagName === 'SELECT' ? [h.selectedIndex, 0, h.options.length - 1] : "
            "['aria-valuenow', 'aria-valuemin', 'aria-valuemax'].map(a => parseFloat(h.getAttribute(a) || '0'))"
        )
        if high <= low or handle.evaluate("h => h.disabled || h.hasAttribute('disabled')"):
            break  # a one-option menu, or a control the widget switched off (e.g. the gate menu under "zero M")
        area.evaluate(_ARM)
        handle.focus()
        if select:  # headless chromium's closed <select> ignores arrow keys: choose the next option as a user does
            handle.select_option(index=int(now + 1 if now < high else now - 1))
        else:
            page.keyboard.press("ArrowRight" if now < high else "ArrowLeft")
        out.append(tuple(page.evaluate("[window.__lat.ms, window.__lat.arrived]")) if _painted(page) else None)
        page.wait_for_timeout(250)  # let the kernel settle before the next press
    if select and first >= 0 and handle.evaluate("h => h.selectedIndex") != first:  # (-1: a menu with no choice yet)
        # the option it showed before (not timed): an edit that switches other controls off (lesson 5's "cut the
        # zigzag") must not leave them off for the next controls' measurements
        area.evaluate(_ARM)
        handle.select_option(index=first)
        _painted(page)  # or nothing to paint (the same picture)
        page.wait_for_timeout(250)
    return out


def _painted(page) -> bool:
    """Wait (at most 5 s) until the measurement armed with ``_ARM`` saw its update painted; False if none came."""
    # one evaluate that awaits the page's promise: Playwright's wait_for_function would install its poller (a ~4 KB
    # script, ~10 ms of the renderer's main thread) right after the key press, inside the measured time
    return bool(page.evaluate("() => window.__lat.done.then(() => window.__lat.ms !== null)"))


def _cpu_times() -> list[int] | None:
    """The machine's CPU time counters (user, nice, system, idle, iowait, irq, softirq, steal, ...), or None."""
    try:
        return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None


def run(lessons: list[str], presses: int, progress=print, notebooks: Path | None = None, rounds: int = 3) -> dict:
    """Measure every slider of ``lessons``; returns {"rows": [...], "errors": {...}}.

    A lesson's controls are measured in ``rounds`` rounds, each pressing every control in turn a share of its
    ``presses`` (after one warm-up press in the first round): a few seconds in which the machine is busy elsewhere
    (a neighbour on the host, a background task) then touch a few presses of many controls, not all presses of one.
    """
    rows, errors = [], {}
    load_before, cpu_before = os.getloadavg(), _cpu_times()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        served = tmp / "notebooks"
        shutil.copytree(notebooks or ROOT / "notebooks", served, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        with jupyterlab(served, tmp) as (base, token), chromium() as browser:
            for nb in lessons:
                t0 = time.time()
                page = open_lesson(browser, base, token, nb, LESSONS.get(nb, 150))
                progress(f"latency: {nb} ran in {time.time() - t0:.0f} s")
                controls = sliders(page, served / nb)
                measured: list[list] = [[] for _ in controls]
                for r in range(rounds):
                    share = presses // rounds + (r < presses % rounds)
                    for k, (handle, _, _) in enumerate(controls):
                        ms = press_to_paint(page, handle, share + (r == 0))
                        measured[k] += ms[1:] if r == 0 else ms  # the first press of the first round warms up
                for (_, widget, label), ms in zip(controls, measured, strict=True):
                    got = [m[0] for m in ms if m is not None]
                    arrived = [m[1] for m in ms if m is not None]
                    row = {"lesson": nb, "widget": widget, "control": label, "n": len(got),
                           "missed": len(ms) - len(got)}  # fmt: skip
                    if got:
                        row.update(median_ms=statistics.median(got), p95_ms=float(np.percentile(got, 95)),
                                   max_ms=max(got), arrived_median_ms=statistics.median(arrived))  # fmt: skip
                    rows.append(row)
                    progress(f"  {widget} {label}: " + (f"median {row['median_ms']:.0f} ms" if got else "no update"))
                errors[nb] = page.errors
                page.close()
    # the machine's 1-minute load average at the start and the end, and the share of the CPU time the hypervisor
    # gave to other machines (steal): on a shared machine, the times depend on both
    result = {"rows": rows, "errors": errors, "load_average": [load_before[0], os.getloadavg()[0]], "rounds": rounds}
    cpu_after = _cpu_times()
    if cpu_before and cpu_after and len(cpu_before) > 7:
        spent = [b - a for a, b in zip(cpu_before, cpu_after, strict=False)]
        result["steal_share"] = spent[7] / max(sum(spent[:8]), 1)
    return result


def by_widget(rows: list[dict]) -> list[dict]:
    """One line per widget: the median over all its sliders' presses is not kept, so the worst slider's median."""
    out: dict[str, dict] = {}
    for r in rows:
        if "median_ms" not in r:
            continue
        w = out.setdefault(r["widget"], {"widget": r["widget"], "lessons": set(), "worst_median_ms": 0.0, "n": 0})
        w["lessons"].add(r["lesson"][:2])
        w["n"] += r["n"]
        if r["median_ms"] >= w["worst_median_ms"]:
            w["worst_median_ms"], w["worst_control"] = r["median_ms"], r["control"]
    return [{**w, "lessons": sorted(w["lessons"])} for w in out.values()]


def write(result: dict, out: Path, machine: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    report = {"machine": machine, **result, "widgets": by_widget(result["rows"])}
    (out / "latency.json").write_text(json.dumps(report, indent=1))
    lines = [
        "# Key press to painted picture, in the browser",
        "",
        f"Machine: {machine.get('cpu')}, {machine.get('cores')} cores; {machine.get('date_utc')}. JupyterLab in "
        "headless Debian chromium (Playwright); per slider, key presses after one warm-up press, "
        f"in {result.get('rounds', 1)} rounds over the lesson's sliders; from the key event's "
        "time "
        "stamp to the first frame painted after one of the widget's images changed (`benchmarks/bench_latency.py`). "
        f"Target: median ≤ {TARGET_MS:.0f} ms. Load average (1 min) at the start and the end: "
        + " and ".join(f"{v:.1f}" for v in result.get("load_average", [])) + "; "
        + (f"CPU time stolen by the hypervisor during the run: {result['steal_share']:.0%}. "
           if "steal_share" in result else "")
        + ("GateSurgery and ConnectivityExplorer compute ahead, while the learner looks, the settings one step from "
           "the shown ones (a key press steps a control: what is measured here); a jump to a setting not computed "
           "ahead costs their model passes on top (`widgets.md`, the rows run with `ahead=False`)."
           if result.get("ahead", True) else
           "Run with STLEARN_AHEAD=0: no view computes ahead, every step costs its model passes."),
        "",
        "## Per widget (its slowest slider)",
        "",
        "| widget | lessons | presses | slowest slider | its median ms | target met |",
        "|---|---|---:|---|---:|---|",
    ]
    for w in report["widgets"]:
        lines.append(f"| {w['widget']} | {', '.join(w['lessons'])} | {w['n']} | {w['worst_control']} | "
                     f"{w['worst_median_ms']:.0f} | {'yes' if w['worst_median_ms'] <= TARGET_MS else '**no**'} |")
    lines += ["", "## Per slider", "",
              "Image in page: from the key press until the new image's `src` was set (the kernel's answer arrived); "
              "the rest, to the painted frame, is the browser's decoding, layout and paint.", "",
              "| lesson | widget | slider | n | median ms | p95 ms | max ms | image in page, median ms | missed |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in result["rows"]:
        if "median_ms" in r:
            lines.append(f"| {r['lesson'][:2]} | {r['widget']} | {r['control']} | {r['n']} | {r['median_ms']:.0f} | "
                         f"{r['p95_ms']:.0f} | {r['max_ms']:.0f} | {r['arrived_median_ms']:.0f} | {r['missed']} |")
        else:
            lines.append(f"| {r['lesson'][:2]} | {r['widget']} | {r['control']} | 0 | | | | | {r['missed']} |")
    (out / "latency.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    from .machine import machine_info

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lessons", default="", help="comma-separated lesson numbers, e.g. 01,03 (default: all)")
    ap.add_argument("--presses", type=int, default=9, help="measured presses per slider (after one warm-up)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds over a lesson's controls the presses are split into")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--no-ahead", action="store_true",
                    help="views compute nothing ahead (STLEARN_AHEAD=0 in the kernels): the cost of every step")
    args = ap.parse_args(argv)
    if args.no_ahead:
        os.environ["STLEARN_AHEAD"] = "0"  # JupyterLab and its kernels inherit it
    missing = browser_missing()
    if missing:
        print(f"latency: skipped, {missing}")
        return 0
    wanted = [s.strip() for s in args.lessons.split(",") if s.strip()]
    lessons = [nb for nb in LESSONS if not wanted or nb[:2] in wanted]
    result = run(lessons, args.presses, rounds=args.rounds)
    result["ahead"] = not args.no_ahead
    write(result, args.out, machine_info())
    print((args.out / "latency.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
