"""Time the sandboxed grader: one 15-exercise notebook, and a class of 30 submissions with parallel workers.

Usage:  python -m benchmarks.bench_grading [--quick] [--jobs 2] [--out benchmarks/results]

The 15-exercise notebook is the four source notebooks joined into one (every exercise of the course
in one submission, reference solutions). The class is 30 submissions of the four notebooks in turn,
every third with a planted mistake and every seventh with an endless loop (``--timeout 5``), graded
``--jobs`` at a time. Writes ``grading.json`` and ``grading.md``. Targets (issue 17): ≤ 10 s for the
notebook, ≤ 180 s for the class, on the 2-core machine. Needs bubblewrap.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import nbformat

from stlearn.exercises.grade import grade
from stlearn.exercises.sandbox import find_sandbox
from stlearn.exercises.student import exercise_dir

from .machine import machine_info

NOTEBOOK_S, CLASS_S = 10.0, 180.0

MISTAKE = {
    "ex01_data_and_metrics": ("mse_per_frame", "def mse_per_frame(pred, target):\n    return (pred - target).mean()\n"),
    "ex03_convlstm_gates": ("hidden_state", "def hidden_state(o_t, c_t):\n    return o_t * c_t\n"),
    "ex05_st_lstm": ("spatial_memory", "def spatial_memory(x_i, x_f, x_g, m_i, m_f, m_g, m_in):\n    return m_in\n"),
    "ex07_predrnn_v2": ("reverse_schedule", "def reverse_schedule(k, tau1, tau2, alpha):\n    return 0.5, 0.5\n"),
}  # fmt: skip
LOOP = "def {name}(*args):\n    while True:\n        pass\n"


def _joined_source(folder: Path) -> Path:
    """All source notebooks as one (15 exercises), in a source folder of its own."""
    sources = sorted(exercise_dir().glob("*.ipynb"))
    joined = nbformat.read(sources[0], as_version=4)
    for path in sources[1:]:
        joined.cells += nbformat.read(path, as_version=4).cells
    joined.metadata.setdefault("stlearn", {})["notebook"] = "all_exercises"
    (folder / "source").mkdir()
    target = folder / "source" / "all_exercises.ipynb"
    nbformat.write(joined, target)
    return target


def _class(folder: Path, n: int) -> list[Path]:
    sources = sorted(exercise_dir().glob("*.ipynb"))
    paths = []
    for k in range(n):
        source = sources[k % len(sources)]
        nb = nbformat.read(source, as_version=4)
        for cell in nb.cells:
            meta = cell.metadata.get("stlearn", {})
            if meta.get("role") != "solution":
                continue
            if k % 3 == 1 and meta["exercise"] == MISTAKE[source.stem][0]:
                cell.source = MISTAKE[source.stem][1]
            elif k % 7 == 3 and meta["exercise"] == MISTAKE[source.stem][0]:
                cell.source = LOOP.format(name=meta["exercise"])
        path = folder / f"{source.stem}_student{k:02d}.ipynb"
        nbformat.write(nb, path)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one small class (what the tests run)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    reason = find_sandbox()
    if reason:
        raise SystemExit(f"bench_grading needs the sandbox: {reason}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = _joined_source(folder)
        submission = folder / "all_exercises_alice.ipynb"
        submission.write_bytes(source.read_bytes())
        t0 = time.perf_counter()
        (one,) = grade([submission], source_dir=source.parent, timeout=30)
        notebook_s = time.perf_counter() - t0
        n = 4 if args.quick else 30
        (folder / "class").mkdir()
        paths = _class(folder / "class", n)
        t0 = time.perf_counter()
        results = grade(paths, timeout=5, jobs=args.jobs, csv_path=folder / "class.csv")
        class_s = time.perf_counter() - t0
    statuses: dict[str, int] = {}
    for r in results:
        for e in r.exercises:
            statuses[e.status] = statuses.get(e.status, 0) + 1
    report = {
        "machine": machine_info(),
        "cpus": os.cpu_count(),
        "notebook": {"exercises": len(one.exercises), "score": one.score, "seconds": round(notebook_s, 2)},
        "class": {
            "submissions": n,
            "jobs": args.jobs,
            "seconds": round(class_s, 2),
            "per_submission_s": round(class_s / n, 2),
            "statuses": statuses,
        },
        "targets": {"notebook_s": NOTEBOOK_S, "class_s": CLASS_S},
    }
    if not args.quick:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "grading.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        met = lambda value, target: "yes" if value <= target else "NO"  # noqa: E731
        lines = [
            "# Grading in the sandbox",
            "",
            f"Machine: {report['machine'].get('summary', '?')} (`python -m benchmarks.bench_grading`).",
            "",
            "| what | target | measured | met |",
            "|---|---|---|---|",
            f"| one notebook of {len(one.exercises)} exercises (score {one.score:g}) | ≤ {NOTEBOOK_S:g} s | "
            f"{notebook_s:.1f} s | {met(notebook_s, NOTEBOOK_S)} |",
            f"| {n} submissions, {args.jobs} workers, `--timeout 5` | ≤ {CLASS_S:g} s | {class_s:.1f} s "
            f"({class_s / n:.1f} s each) | {met(class_s, CLASS_S)} |",
            "",
            "Exercise results in the class: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())),
            "",
        ]
        (args.out / "grading.md").write_text("\n".join(lines), encoding="utf-8")
    print(json.dumps({k: report[k] for k in ("notebook", "class")}, indent=1))
    return report


if __name__ == "__main__":
    main()
