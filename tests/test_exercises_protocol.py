"""The parts of the exercise protocol that every kind of exercise builds on.

Criterion-judged checks (``assess``), set-valued answers, explore cells the grader never runs, the
catalogue the course map prints, and ``stlearn check`` (the learner's own nbval run, per exercise).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch
from grading_helpers import by_name, learner, needs_sandbox

import stlearn
from stlearn.exercises import _core, worker
from stlearn.exercises._core import Case, CheckSpec, Mistake, judge, run_check
from stlearn.exercises.catalogue import by_lesson, course_table, exercises
from stlearn.exercises.selfcheck import error_message
from stlearn.exercises.student import exercise_dir, student_dir

REPO = Path(stlearn.__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------
# assess: judged by a criterion, mistakes still named
# --------------------------------------------------------------------------------------------


def _within_ten_percent(case, out):
    if not isinstance(out, int | float) or isinstance(out, bool):
        return "answer with a number"
    return None if abs(out - 40.0) <= 4.0 else f"{out:g} is not within 10 % of the measured value"


_ANSWER = CheckSpec(
    "ratio",
    None,
    lambda gen: [Case("your answer", ())],
    mistakes=[Mistake(lambda: 4.0, "you divided by the number of steps: the ratio is of the errors, not per step")],
    assess=_within_ten_percent,
)


@pytest.mark.parametrize("value", [40.0, 37, 43.9])
def test_assess_accepts_what_the_criterion_accepts(value, capsys):
    run_check(_ANSWER, learner(lambda: value), seed=1)
    assert capsys.readouterr().out.startswith("✓ ratio: correct on 1 cases")


def test_assess_names_a_planted_mistake_and_explains_other_answers():
    with pytest.raises(AssertionError, match="you divided by the number of steps"):
        run_check(_ANSWER, learner(lambda: 4.0), seed=1)
    with pytest.raises(AssertionError, match=r"ratio: 55 is not within 10 % of the measured value"):
        run_check(_ANSWER, learner(lambda: 55.0), seed=1)
    with pytest.raises(AssertionError, match="answer with a number"):
        run_check(_ANSWER, learner(lambda: "forty"), seed=1)


def test_assess_stub_is_not_written_yet():
    def ratio():
        raise NotImplementedError("Write ratio. Hint: read the table")

    with pytest.raises(AssertionError, match="ratio: not written yet. Write ratio. Hint: read the table"):
        run_check(_ANSWER, learner(ratio), seed=1)


# --------------------------------------------------------------------------------------------
# sets cross as data and are compared item by item
# --------------------------------------------------------------------------------------------


def test_sets_round_trip_as_frozensets():
    value = {(0, 1), (2, 0), (1, 1)}
    encoded = worker.encode(value)
    assert encoded["t"] == "set"
    assert worker.decode(encoded) == frozenset(value)
    assert worker.decode(worker.encode(frozenset())) == frozenset()


def test_a_crafted_set_of_unhashable_items_is_not_a_set():
    crafted = {"t": "set", "items": [worker.encode([1, 2])]}
    assert isinstance(worker.decode(crafted), worker.Other)


_SET_SPEC = CheckSpec(
    "pairs",
    lambda n: {(k, k + 1) for k in range(int(n))},
    lambda gen: [Case(f"n = {n}", (n,)) for n in (2, 3)],
)


def test_set_answers_are_compared_item_by_item(capsys):
    run_check(_SET_SPEC, learner(lambda n: {(k, k + 1) for k in range(int(n))}), seed=1)
    assert "✓ pairs" in capsys.readouterr().out
    with pytest.raises(AssertionError, match=r"1 missing \(e\.g\. \(1, 2\)\)"):
        run_check(_SET_SPEC, learner(lambda n: {(0, 1)}), seed=1)
    with pytest.raises(AssertionError, match=r"1 that should not be there \(e\.g\. \(5, 6\)\)"):
        run_check(_SET_SPEC, learner(lambda n: {(k, k + 1) for k in range(int(n))} | {(5, 6)}), seed=1)
    with pytest.raises(AssertionError, match="returns a list; expected a set"):
        run_check(_SET_SPEC, learner(lambda n: [(k, k + 1) for k in range(int(n))]), seed=1)


def test_judge_reads_a_set_from_plain_data():
    cases = _SET_SPEC.make_cases(torch.Generator())
    good = [{"out": worker.encode({(k, k + 1) for k in range(n)}), "error": None} for n in (2, 3)]
    assert judge(_SET_SPEC, cases, good, 0).passed
    assert _core.compare(frozenset({(0, 1)}), {(0, 1)}, torch.float32) is None


# --------------------------------------------------------------------------------------------
# explore cells: shown to the learner, never run by the grader
# --------------------------------------------------------------------------------------------


@needs_sandbox
def test_the_grader_never_runs_explore_cells(tmp_path):
    from stlearn.exercises.grade import grade_submission

    sources = tmp_path / "sources"
    sources.mkdir()
    nb = nbformat.read(exercise_dir() / "ex07_predrnn_v2.ipynb", as_version=4)
    explore = nbformat.v4.new_code_cell("import os\nos._exit(3)  # would kill the sandbox if it ran")
    explore.metadata["stlearn"] = {"role": "explore"}
    nb.cells.insert(3, explore)
    nbformat.write(nb, sources / "ex07_predrnn_v2.ipynb")
    submission = tmp_path / "ex07_predrnn_v2_alice.ipynb"
    nbformat.write(nb, submission)
    result = grade_submission(submission, source_dir=sources, timeout=30)
    assert result.error == ""
    statuses = {ex: e.status for ex, e in by_name(result).items()}
    assert statuses == {"decoupling_loss": "pass", "reverse_schedule": "pass"}


# --------------------------------------------------------------------------------------------
# the catalogue the course map prints
# --------------------------------------------------------------------------------------------


def test_every_exercise_has_a_lesson_title_and_points():
    from stlearn.exercises import CHECKS

    entries = exercises()
    assert sorted(e.exercise for e in entries) == sorted(CHECKS)
    for e in entries:
        assert 1 <= e.lesson <= 10 and e.title and e.points > 0 and e.kind in ("write", "train", "answer")
        assert not e.title.startswith("Exercise")


def test_course_table_lists_each_lesson_once_with_its_points():
    table = course_table()
    groups = by_lesson()
    for lesson, entries in groups.items():
        rows = [line for line in table.splitlines() if line.startswith(f"| {lesson} |")]
        assert len(rows) == 1
        assert rows[0].endswith(f"| {sum(e.points for e in entries):g} |")
        for e in entries:
            assert e.title in rows[0]
    total = sum(e.points for e in exercises())
    assert f"**{len(exercises())} exercises**" in table and f"**{total:g}**" in table


def test_a_check_cell_without_its_lesson_is_refused(tmp_path):
    nb = nbformat.read(exercise_dir() / "ex07_predrnn_v2.ipynb", as_version=4)
    for cell in nb.cells:
        cell.metadata.get("stlearn", {}).pop("lesson", None)
    nbformat.write(nb, tmp_path / "ex07_predrnn_v2.ipynb")
    with pytest.raises(ValueError, match="has no stlearn.lesson"):
        exercises(tmp_path)


# --------------------------------------------------------------------------------------------
# stlearn check: the learner's own nbval run, one line per exercise
# --------------------------------------------------------------------------------------------


def test_error_message_keeps_the_assertion_text_without_colours():
    tb = (
        "\x1b[0;31m---------\x1b[0m\n\x1b[0;31mAssertionError\x1b[0m: csi: returns 0.5; expected 0.25\n"
        "  (case 2 of 5: float32; seed 7)"
    )
    assert error_message(tb) == "csi: returns 0.5; expected 0.25\n  (case 2 of 5: float32; seed 7)"
    assert error_message("Traceback ...\nNameError: name 'x' is not defined") == (
        "NameError: name 'x' is not defined"
    )
    assert error_message("") == ""


def _partly_solved(path: Path) -> Path:
    """ex07 with the decoupling loss right and the schedule wrong (e stays at 0.5 forever)."""
    nb = nbformat.read(exercise_dir() / "ex07_predrnn_v2.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("stlearn", {}).get("exercise") == "reverse_schedule" and "def " in cell.source:
            cell.source = "def reverse_schedule(k, tau1, tau2, alpha):\n    return 0.5, 0.5\n"
    nbformat.write(nb, path)
    return path


def test_stlearn_check_reports_each_exercise_with_its_feedback(tmp_path):
    partial = _partly_solved(tmp_path / "ex07_predrnn_v2.ipynb")
    student = student_dir() / "ex07_predrnn_v2.ipynb"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = subprocess.run(
        [sys.executable, "-m", "stlearn", "check", str(student), str(partial)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    out = run.stdout
    student_part, partial_part = out.split(str(partial))
    assert "✗ decoupling_loss   0/1  decoupling_loss: not written yet." in student_part
    assert "0 of 2 exercises pass: 0/2 points" in student_part
    assert "✓ decoupling_loss   1/1" in partial_part
    assert "✗ reverse_schedule  0/1  reverse_schedule:" in partial_part
    assert "1 of 2 exercises pass: 1/2 points" in partial_part
    # the student notebook is read, never written
    assert nbformat.read(student, as_version=4).cells[2].outputs == []


def test_stlearn_check_refuses_what_is_not_a_notebook(tmp_path, capsys):
    from stlearn.__main__ import main

    assert main(["check", str(tmp_path / "missing.ipynb")]) == 2
    assert "expected an exercise notebook (.ipynb)" in capsys.readouterr().err


def test_the_course_test_run_does_not_collect_student_notebooks_but_a_named_one_is():
    def collected(*args):
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "--nbval-lax", "-p", "no:cacheprovider", *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )
        return run.stdout

    assert "notebooks/student" not in collected("notebooks")
    named = collected("notebooks/student/ex07_predrnn_v2.ipynb")
    assert "notebooks/student/ex07_predrnn_v2.ipynb::Cell 0" in named


def test_math_nan_is_a_number_the_protocol_compares():
    assert _core.compare(math.nan, math.nan, torch.float32) is None
