"""One command, one report: ``python -m benchmarks`` (this module).

Usage:
    python -m benchmarks [--only cells,models,widgets,notebooks,data,overhead,official,gpu,latency] [--quick]
                         [--threads 2] [--paper convlstm,predrnn,predrnn_v2] [--cpu-time] [--out benchmarks/results]

Writes ``report.json`` and ``report.md`` (the machine it ran on, every section's table and the
issue's targets, met or not) under ``--out``; the sections also leave their own files there
(``cells.md``, ``widgets.md``, …). Sections:

* ``cells`` — one cell step, fast vs trace vs per-input vs per-gate convolutions, interleaved
  (:mod:`benchmarks.bench_cells`);
* ``models`` — every model at lesson and paper size: training step, 10 → 10 inference, peak
  memory, fast / trace / unfused (:mod:`benchmarks.bench_models`);
* ``widgets`` — update latency of every widget action (:mod:`benchmarks.bench_widgets`);
* ``notebooks`` — every lesson ``notebooks/NN_*.ipynb`` executed in a fresh kernel, and the total;
* ``data`` — data generation per sequence (:mod:`benchmarks.bench_data`);
* ``overhead`` — trace / fast / unfused where only the number of operations counts (tiny models, one
  thread): the CPU's stand-in for the launch-bound eager GPU ratios (:mod:`benchmarks.bench_overhead`);
* ``official`` — stlearn's training iteration (fp32 and bf16) against a re-statement of the official
  thuml/predrnn-pytorch loop, interleaved, with a fidelity check (:mod:`benchmarks.bench_official`);
* ``gpu`` — only with CUDA: bf16, channels-last, ``torch.compile``, CUDA graphs, FLOPs and the
  fraction of peak (:mod:`benchmarks.bench_gpu`);
* ``latency`` — key press to painted picture of every widget slider, in JupyterLab in headless chromium
  (:mod:`benchmarks.bench_latency`, ``latency.md``); not with ``--quick``, skipped without a browser.

``--quick`` runs tiny settings (what ``tests/test_benchmarks.py`` checks runs); no section asserts
timings. A full run takes about 10 minutes on two idle cores; progress goes to stdout. On a
machine shared with other work, use ``--threads 1 --cpu-time`` for the cell comparisons (CPU
time leaves out the time spent waiting for a core; with 2 threads on a loaded machine OpenMP's
barriers make wall-clock times meaningless) — the models table always has both clocks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from .machine import machine_info

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = ("cells", "models", "widgets", "notebooks", "data", "overhead", "official", "gpu", "latency")

# the targets
COURSE_S, LESSON_S, WIDGET_MS, TRACE_RATIO, GPU_STEP_MS, OFFICIAL_RATIO = 240.0, 45.0, 100.0, 1.5, 50.0, 0.5


def _progress(msg: str) -> None:
    print(msg, flush=True)


def section_notebooks(quick: bool, threads: int) -> dict:
    """Execute each lesson in a fresh kernel (nbclient), timing kernel start to last cell."""
    import nbclient
    import nbformat

    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if quick:
        paths = paths[:1]
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import stlearn\nx = 1 + 1")])
        tmp = Path(tempfile.mkdtemp()) / "00_quick.ipynb"
        nbformat.write(nb, tmp)
        paths = [tmp]
    env_threads = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(threads)  # the kernels inherit it: a 2-core laptop
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    rows = []
    try:
        for path in paths:
            _progress(f"  notebooks: {path.name} …")
            nb = nbformat.read(path, as_version=4)
            t0 = time.perf_counter()
            error = None
            try:
                client = nbclient.NotebookClient(
                    nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
                )
                client.execute()
            except Exception as exc:
                error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:300] if str(exc) else ''}"
            seconds = time.perf_counter() - t0
            rows.append({"notebook": path.name, "seconds": seconds, "error": error})
            _progress(f"    {seconds:.1f} s" + (f" FAILED {error}" if error else ""))
    finally:
        if env_threads is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = env_threads
    return {"rows": rows, "total_s": sum(r["seconds"] for r in rows)}


def _run_section(name: str, args, out: Path) -> dict | list:
    if name == "cells":
        from . import bench_cells

        return bench_cells.run(args.quick, progress=_progress)
    if name == "models":
        from . import bench_models

        paper = [p for p in args.paper.split(",") if p]
        return bench_models.run(args.quick, args.threads, paper, progress=_progress)
    if name == "widgets":
        from . import bench_widgets

        bench_widgets.main((["--quick"] if args.quick else []) + ["--out", str(out)])
        return json.loads((out / "widgets.json").read_text())
    if name == "notebooks":
        return section_notebooks(args.quick, args.threads)
    if name == "data":
        from . import bench_data

        bench_data.main((["--quick"] if args.quick else []) + ["--out", str(out)])
        return json.loads((out / "data.json").read_text())
    if name == "overhead":
        from . import bench_overhead

        return bench_overhead.run(args.quick, progress=_progress)
    if name == "official":
        from . import bench_official

        result = bench_official.run(args.quick, progress=_progress, compiled=not args.quick)
        bench_official.write(result, out)
        return result
    if name == "latency":
        from . import bench_latency

        missing = bench_latency.browser_missing()
        if args.quick or missing:
            _progress(f"latency: skipped ({'--quick' if args.quick else missing})")
            return {"skipped": "--quick" if args.quick else missing}
        result = bench_latency.run(list(bench_latency.LESSONS), 9, progress=_progress)
        bench_latency.write(result, out, machine_info())
        return {**result, "widgets": bench_latency.by_widget(result["rows"])}
    if name == "gpu":
        from . import bench_gpu

        rows = bench_gpu.run(args.quick, progress=_progress)
        if not args.quick:  # what a report on a machine without CUDA shows (saved_gpu)
            (out / "gpu.json").write_text(json.dumps({"machine": machine_info(), "rows": rows}, indent=1))
        return rows
    raise ValueError(name)


def saved_gpu(folder: Path = RESULTS) -> dict | None:
    """The GPU section of the last run on a CUDA machine (``gpu.json``: machine and rows), or None.

    CI and laptops have no GPU: their reports carry the saved GPU measurements, labelled with the
    machine that made them, rather than none.
    """
    path = folder / "gpu.json"
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())
    return saved if isinstance(saved, dict) and saved.get("rows") else None


def targets(report: dict) -> list[dict]:
    """The issue's targets that this report measured: what, target, measured, met."""
    out = []
    s = report["sections"]
    if "notebooks" in s:
        nb = s["notebooks"]
        out.append({"what": "whole course", "target": f"≤ {COURSE_S:.0f} s", "value": f"{nb['total_s']:.0f} s",
                    "met": nb["total_s"] <= COURSE_S})  # fmt: skip
        worst = max(nb["rows"], key=lambda r: r["seconds"], default=None)
        if worst:
            out.append({"what": f"slowest lesson ({worst['notebook']})", "target": f"≤ {LESSON_S:.0f} s",
                        "value": f"{worst['seconds']:.1f} s", "met": worst["seconds"] <= LESSON_S})  # fmt: skip
    if "widgets" in s and s["widgets"].get("rows"):
        worst = max(s["widgets"]["rows"], key=lambda r: r["wall_median_ms"])
        out.append({"what": f"slowest widget median ({worst['widget']} {worst['control']})",
                    "target": f"≤ {WIDGET_MS:.0f} ms", "value": f"{worst['wall_median_ms']:.0f} ms",
                    "met": worst["wall_median_ms"] <= WIDGET_MS})  # fmt: skip
    if s.get("latency", {}).get("widgets"):
        worst = max(s["latency"]["widgets"], key=lambda w: w["worst_median_ms"])
        what = f"slowest key press to painted picture, browser ({worst['widget']} {worst['worst_control']})"
        out.append({"what": what,
                    "target": f"≤ {WIDGET_MS:.0f} ms", "value": f"{worst['worst_median_ms']:.0f} ms",
                    "met": worst["worst_median_ms"] <= WIDGET_MS})  # fmt: skip
    if "cells" in s:
        rows = s["cells"]
        clock = "cpu_median_ms" if report.get("cpu_time") else "median_ms"
        med = {(r["case"], r["mode"], r["path"]): r[clock] for r in rows}
        keys = {(c, m) for c, m, _ in med}
        trace = max(med[(c, m, "trace")] / med[(c, m, "fast")] for c, m in keys)
        out.append({"what": "cell trace / fast (worst case)", "target": f"≤ {TRACE_RATIO}", "value": f"{trace:.2f}",
                    "met": trace <= TRACE_RATIO})  # fmt: skip
        # fusion saves kernel launches and memory traffic, not FLOPs: judged apart where the lessons run and at the
        # paper's size, where the fast path's share of the machine's matrix-product peak says how much is left
        for size in ("lesson", "paper"):
            sized = [(c, m) for c, m in keys if (size == "paper") == ("paper" in c)]
            if not sized:
                continue
            c, m = min(sized, key=lambda k: med[(*k, "unfused")] / med[(*k, "fast")])
            unf = med[(c, m, "unfused")] / med[(c, m, "fast")]
            value = f"{unf:.2f} ({c} {m})"
            if size == "paper":
                row = next(r for r in rows if (r["case"], r["mode"], r["path"]) == (c, m, "fast"))
                share = row["conv_gflop"] / (row[clock] / 1e3) / row["sgemm_gflops"]
                value += f"; fast path at {share:.0%} of the sgemm peak"
            out.append({"what": f"cell unfused / fast, {size} size (worst case)", "target": "clearly > 1 (≥ 1.1)",
                        "value": value, "met": unf >= 1.1})  # fmt: skip
    if "official" in s:
        clock = "cpu_ratio" if report.get("cpu_time") else "ratio"
        best = min((r for r in s["official"]["rows"] if r["variant"].startswith("stlearn")), key=lambda r: r[clock])
        out.append({"what": f"stlearn / official PredRNN train iteration, CPU (best: {best['variant']})",
                    "target": f"≤ {OFFICIAL_RATIO}", "value": f"{best[clock]:.2f}",
                    "met": best[clock] <= OFFICIAL_RATIO})  # fmt: skip
        fid = s["official"]["fidelity"]
        out.append({"what": "stlearn loss = official loss (same weights, batch, mask; fp32)", "target": "≤ 1e-5",
                    "value": f"{fid['loss_diff']:.1e}", "met": fid["ok"]})  # fmt: skip
    if s.get("gpu"):
        rows = [r for r in s["gpu"] if "train_ms" in r]
        where = report.get("gpu_machine", {}).get("gpu") or "GPU"
        best = [r for r in rows if r["model"] == "predrnn" and r["batch"] == 16]
        if best:
            b = min(best, key=lambda r: r["train_ms"])
            out.append({"what": f"{where}: PredRNN 4×128 b16 train step (best: {b['variant']})",
                        "target": f"≤ {GPU_STEP_MS:.0f} ms", "value": f"{b['train_ms']:.1f} ms",
                        "met": b["train_ms"] <= GPU_STEP_MS})  # fmt: skip
        ms = {(r["model"], r["batch"], r["variant"]): r["train_ms"] for r in rows}
        base = {(m, b): t for (m, b, v), t in ms.items() if v == "fp32"}
        for path, target, ok in (("trace", f"≤ {TRACE_RATIO}", lambda v: v <= TRACE_RATIO),
                                 ("unfused", "clearly > 1 (≥ 1.1)", lambda v: v >= 1.1)):  # fmt: skip
            ratios = {(m, b): t / base[(m, b)] for (m, b, v), t in ms.items() if v == path and (m, b) in base}
            if ratios:
                (m, b), worst = (max if path == "trace" else min)(ratios.items(), key=lambda kv: kv[1])
                value = f"{worst:.2f} ({m} b{b})"
                if path == "trace" and s.get("overhead") and not report.get("gpu_machine", {}).get("here"):
                    # a saved GPU run may predate the code measured here: show this run's launch-bound stand-in
                    stand_in = max(r["ratio"] for r in s["overhead"] if r["variant"] == "trace")
                    when = report["gpu_machine"].get("date_utc", "?")
                    value += f"; saved run of {when}, CPU stand-in now {stand_in:.2f}"
                out.append({"what": f"{where}: {path} / fast, eager fp32 train step (worst case)", "target": target,
                            "value": value, "met": ok(worst)})  # fmt: skip
    return out


def markdown(report: dict) -> str:
    from . import bench_cells, bench_gpu, bench_models, bench_official, bench_overhead

    m = report["machine"]
    lines = [
        "# stlearn benchmarks",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; torch {m['torch']} ({m['torch_threads']} threads); "
        f"GPU: {m['gpu'] or 'none'}; Python {m['python']}; {m['date_utc']}."
        + (" **Quick (tiny) setting: not a measurement.**" if report["quick"] else ""),
        f"Command: `{report['command']}`; took {report['seconds']:.0f} s.",
        "",
    ]
    if report["targets"]:
        lines += ["## Targets", "", "| what | target | measured | met |", "|---|---|---:|---|"]
        lines += [f"| {t['what']} | {t['target']} | {t['value']} | {'yes' if t['met'] else '**no**'} |"
                  for t in report["targets"]]  # fmt: skip
        lines.append("")
    s = report["sections"]
    if "notebooks" in s:
        lines += ["## Lessons (fresh kernel each, nbclient)", "", "| notebook | seconds | error |", "|---|---:|---|"]
        lines += [f"| {r['notebook']} | {r['seconds']:.1f} | {r['error'] or ''} |" for r in s["notebooks"]["rows"]]
        lines += [f"| **whole course** | **{s['notebooks']['total_s']:.1f}** | |", ""]
    if "widgets" in s:
        lines += ["## Widget updates", "", f"Model: {s['widgets'].get('model')}.", ""]
        lines += [
            "| widget | control | n | median ms | p95 ms | max ms | CPU median ms |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r['widget']} | {r['control']} | {r['n']} | {r['wall_median_ms']:.0f} | {r['wall_p95_ms']:.0f} "
            f"| {r['wall_max_ms']:.0f} | {r['cpu_median_ms']:.0f} |"
            for r in s["widgets"]["rows"]
        ]
        lines += ["", f"A sequence seen for the first time: {s['widgets']['first_sequence_pass_ms']:.0f} ms."]
        made = "; ".join(f"{v['view']} ({v['what']}) {v['wall_ms']:.0f} ms" for v in s["widgets"].get("views_made", []))
        if made:
            lines += [f"Made once, when its cell runs (not an update): {made}."]
        lines += [""]
    if s.get("latency", {}).get("widgets"):
        lines += ["## Key press to painted picture (browser; `latency.md` has every slider)", "",
                  "| widget | slowest slider | its median ms |", "|---|---|---:|"]  # fmt: skip
        lines += [f"| {w['widget']} | {w['worst_control']} | {w['worst_median_ms']:.0f} |"
                  for w in s["latency"]["widgets"]]  # fmt: skip
        lines.append("")
    if "cells" in s:
        clock = "cpu_median_ms" if report.get("cpu_time") else "median_ms"
        lines += ["## Cell step (CPU)", "", *bench_cells.markdown(s["cells"], clock), ""]
    if "models" in s:
        lines += ["## Models (CPU)", "", *bench_models.markdown(s["models"]), ""]
    if s.get("overhead"):
        lines += ["## Launch-bound stand-in (CPU)", "", *bench_overhead.markdown(s["overhead"]), ""]
    if s.get("official"):
        lines += ["## stlearn vs the official training loop (CPU)", "", *bench_official.markdown(s["official"]), ""]
    if s.get("gpu"):
        gm = report.get("gpu_machine", {})
        lines += ["## GPU", "", f"Measured on: {gm.get('summary', 'this machine')}"
                  + ("" if gm.get("here") else " (the last run on a CUDA machine, `benchmarks/results/gpu.json`)")
                  + ".", "", *bench_gpu.markdown(s["gpu"]), ""]  # fmt: skip
    if "data" in s:
        lines += ["## Data generation", "", "| data set | ms per sequence |", "|---|---:|"]
        lines += [f"| {k} | {v:.1f} |" for k, v in s["data"]["ms_per_sequence"].items()]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}")
    ap.add_argument("--quick", action="store_true", help="tiny settings, one or two repeats (for the tests)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2: a laptop)")
    ap.add_argument("--paper", default="convlstm,predrnn,predrnn_v2", help="models timed at paper size on CPU")
    ap.add_argument("--cpu-time", action="store_true", help="cell table and targets in CPU time (loaded machine)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        ap.error(f"unknown section(s) {unknown}; choose from {SECTIONS}")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    report: dict = {
        "machine": machine_info(),
        "command": "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:]),
        "quick": args.quick,
        "cpu_time": args.cpu_time,
        "sections": {},
    }
    for name in SECTIONS:
        if name not in only:
            continue
        if name == "gpu" and not torch.cuda.is_available():
            saved = None if args.quick else saved_gpu()
            if saved is None:
                _progress("gpu: no CUDA device, section skipped")
            else:
                report["sections"]["gpu"], report["gpu_machine"] = saved["rows"], saved["machine"]
                _progress(f"gpu: no CUDA device; the report carries the saved run on {saved['machine']['summary']}")
            continue
        if name == "gpu":
            report["gpu_machine"] = {**report["machine"], "here": True}
        _progress(f"{name} …")
        t0 = time.perf_counter()
        report["sections"][name] = _run_section(name, args, args.out)
        _progress(f"{name}: {time.perf_counter() - t0:.0f} s")
    report["seconds"] = time.perf_counter() - t_start
    report["targets"] = targets(report)
    (args.out / "report.json").write_text(json.dumps(report, indent=1, default=str))
    (args.out / "report.md").write_text(markdown(report))
    _progress(f"wrote {args.out / 'report.md'} and report.json ({report['seconds']:.0f} s)")
    return 0
