"""A learner checks their own exercise notebook: ``stlearn check notebooks/student/ex03_convlstm_gates.ipynb``.

A thin layer over ``pytest --nbval-lax NOTEBOOK``: nbval runs every cell in a fresh kernel, in
order, and carries on after a cell fails; this module listens to the cells' results and prints, per
exercise, ✓ or ✗ with the check's feedback (the first lines of its message), then the score.
Nothing in the notebook is changed or saved. The same verdicts as the check cells give when run by
hand; the instructor's grade comes from ``stlearn grade``, which runs the same checks in a sandbox.

Used by the learner for the exercises of every lesson (1-10); the course map and each exercise
notebook say how.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

__all__ = ["CellResult", "NotebookReport", "check_notebooks", "main_check"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)): ?(.*)$")


@dataclass
class CellResult:
    """One exercise's check cell as nbval ran it (``stlearn check``, exercises of lessons 1-10)."""

    exercise: str
    points: float
    passed: bool
    feedback: str = ""


@dataclass
class NotebookReport:
    """The exercises of one notebook, checked (``stlearn check``, exercises of lessons 1-10)."""

    notebook: str
    exercises: list[CellResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # a set-up cell that failed, a notebook nbval could not read

    @property
    def score(self) -> float:
        return sum(e.points for e in self.exercises if e.passed)

    @property
    def max_score(self) -> float:
        return sum(e.points for e in self.exercises)


def error_message(traceback_text: str) -> str:
    """The exception's type and message from an IPython traceback (colours removed), or the last line.

    Used by ``stlearn check`` (exercises of lessons 1-10).
    """
    lines = _ANSI.sub("", traceback_text).rstrip().splitlines()
    for k in range(len(lines) - 1, -1, -1):
        match = _ERROR_LINE.match(lines[k])
        if match:
            name, first = match.groups()
            rest = "\n".join(lines[k + 1 :]).rstrip()
            text = first + ("\n" + rest if rest else "")
            return text if name == "AssertionError" else f"{name}: {text}"
    return lines[-1].strip() if lines else ""


class _Listener:
    """A pytest plugin object: records each nbval cell's outcome by the cell's exercise metadata."""

    def __init__(self) -> None:
        self.reports: dict[str, NotebookReport] = {}

    def _report(self, item: Any) -> NotebookReport:
        path = str(getattr(item, "fspath", item.nodeid.split("::")[0]))
        return self.reports.setdefault(path, NotebookReport(path))

    def pytest_runtest_makereport(self, item: Any, call: Any) -> None:
        cell = getattr(item, "cell", None)
        if cell is None or call.when != "call":
            return
        report = self._report(item)
        meta = cell.metadata.get("stlearn", {})
        failed = call.excinfo is not None
        text = ""
        if failed:
            exc = call.excinfo.value
            text = error_message(str(getattr(exc, "inner_traceback", "") or "")) or str(exc)
        if meta.get("role") == "check":
            points = float(cell.metadata.get("nbgrader", {}).get("points", 1))
            report.exercises.append(CellResult(meta["exercise"], points, not failed, text))
        elif failed and meta.get("role") != "solution":
            first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
            report.problems.append(f"a cell that is not an exercise failed ({first[:60]!r}): {text.splitlines()[0]}")

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.reports.setdefault(report.nodeid, NotebookReport(report.nodeid)).problems.append(
                "could not be read as a notebook"
            )


def _format(report: NotebookReport, out: TextIO) -> None:
    out.write(f"\n{report.notebook}\n")
    width = max([8, *(len(e.exercise) for e in report.exercises)])
    for e in report.exercises:
        mark = "✓" if e.passed else "✗"
        lines = e.feedback.strip().splitlines() if not e.passed else []
        head = lines[0] if lines else ""
        out.write(f"  {mark} {e.exercise:<{width}}  {e.points if e.passed else 0:g}/{e.points:g}  {head}\n")
        for line in lines[1:4]:
            out.write(f"    {' ' * width}  {line.strip()}\n")
    for problem in report.problems:
        out.write(f"  ! {problem}\n")
    if report.exercises:
        done = sum(e.passed for e in report.exercises)
        out.write(f"  {done} of {len(report.exercises)} exercises pass: {report.score:g}/{report.max_score:g} points\n")


def check_notebooks(paths: Sequence[Path | str], out: TextIO | None = None) -> list[NotebookReport]:
    """Run each notebook under ``pytest --nbval-lax`` and report every exercise's check (lessons 1-10).

    Raises FileNotFoundError for a path that is not an existing ``.ipynb`` file (before running anything).
    """
    import pytest

    files = [Path(p) for p in paths]
    for p in files:
        if p.suffix != ".ipynb" or not p.is_file():
            raise FileNotFoundError(f"{p}: expected an exercise notebook (.ipynb), e.g. notebooks/student/ex03_*.ipynb")
    listener = _Listener()
    args = ["--nbval-lax", "--nbval-cell-timeout=300", "-q", "-p", "no:cacheprovider", "--tb=no", "-o", "addopts="]
    pytest_output = io.StringIO()  # pytest's own progress lines would only repeat the table, less clearly
    with contextlib.redirect_stdout(pytest_output):
        pytest.main([*args, *[str(p) for p in files]], plugins=[listener])
    nothing = ["nothing ran"]
    reports = [listener.reports.get(str(p.resolve())) or NotebookReport(str(p), problems=nothing) for p in files]
    for report, p in zip(reports, files, strict=True):
        report.notebook = str(p)  # as the learner typed it
    if any(report.problems == nothing for report in reports):
        sys.stderr.write(pytest_output.getvalue())  # why nothing ran (a kernel that did not start, ...)
    if out is not None:
        for report in reports:
            _format(report, out)
    return reports


def main_check(args: Any) -> int:
    """``stlearn check NOTEBOOK ...``: exit 0 when every exercise passes, 1 otherwise (lessons 1-10)."""
    try:
        reports = check_notebooks(args.notebooks, out=sys.stdout)
    except FileNotFoundError as exc:
        print(f"stlearn check: {exc}", file=sys.stderr)
        return 2
    ok = all(r.exercises and all(e.passed for e in r.exercises) and not r.problems for r in reports)
    return 0 if ok else 1
