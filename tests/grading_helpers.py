"""Shared by the grader's tests: build a submission from a source notebook, as a learner's saved notebook looks."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from stlearn.exercises.sandbox import find_sandbox
from stlearn.exercises.student import exercise_dir

SANDBOX_MISSING = find_sandbox()
if SANDBOX_MISSING and os.environ.get("CI"):
    raise RuntimeError(f"the grading sandbox is required under CI, but {SANDBOX_MISSING}")
needs_sandbox = pytest.mark.skipif(SANDBOX_MISSING is not None, reason=str(SANDBOX_MISSING))


def make_submission(
    folder: Path,
    source: str,
    student: str,
    solutions: dict[str, str] | None = None,
    drop_checks: tuple[str, ...] = (),
    edit_checks: dict[str, str] | None = None,
    in_folder: bool = False,
) -> Path:
    """``folder/<source>_<student>.ipynb`` (or ``folder/<student>/<source>.ipynb``) with some solutions replaced."""
    nb = nbformat.read(exercise_dir() / f"{source}.ipynb", as_version=4)
    kept = []
    for cell in nb.cells:
        meta = cell.metadata.get("stlearn", {})
        ex = meta.get("exercise")
        if meta.get("role") == "solution" and solutions and ex in solutions:
            cell.source = solutions[ex]
        if meta.get("role") == "check":
            if ex in drop_checks:
                continue
            if edit_checks and ex in edit_checks:
                cell.source = edit_checks[ex]
        kept.append(cell)
    nb.cells = kept
    if in_folder:
        (folder / student).mkdir(parents=True, exist_ok=True)
        path = folder / student / f"{source}.ipynb"
    else:
        path = folder / f"{source}_{student}.ipynb"
    nbformat.write(nb, path)
    return path


def by_name(result):
    return {e.exercise: e for e in result.exercises}


def learner(fn):
    """``fn`` as if defined in a notebook (the checkers refuse stlearn's own functions)."""

    def wrapped(*args):
        return fn(*args)

    wrapped.__module__ = "__main__"
    return wrapped


def stub(*args):
    """A student notebook's unwritten exercise."""
    raise NotImplementedError("Write it. Hint: think")
