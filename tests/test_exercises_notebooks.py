"""The exercise notebooks: sources well formed, student versions generated and not drifted, and
every student check failing on its stub with the hint.

The sources themselves run under nbval with the rest of the notebooks
(``pytest notebooks --nbval-lax``); the student versions are excluded there
(``notebooks/student/conftest.py``) and executed here instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

import stlearn
from stlearn.exercises import CHECKS
from stlearn.exercises.student import BEGIN, END, exercise_dir, make_student, stub_source, student_dir

REPO = Path(stlearn.__file__).resolve().parents[1]
SOURCES = sorted(exercise_dir().glob("*.ipynb"))
NAMES = [p.name for p in SOURCES]


def roles(nb):
    out = []
    for cell in nb.cells:
        meta = cell.metadata.get("stlearn", {})
        if meta.get("role"):
            out.append((meta["role"], meta.get("exercise")))
    return out


HINT_TITLES = ("Hint 1 — a nudge", "Hint 2 — the idea", "Hint 3 — the shape of the code")


def _solution_lines(source):
    """The reference solution's lines worth hiding (not blank, not trivial)."""
    region = source.split(BEGIN, 1)[1].split(END, 1)[0]
    return [line.strip() for line in region.splitlines() if len(line.strip()) >= 12]


def test_the_sources_cover_every_checker_once_and_every_lesson_twice():
    exercises = []
    lessons: dict[int, int] = {}
    for path in SOURCES:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        pairs = roles(nb)
        solutions = [ex for role, ex in pairs if role == "solution"]
        # each solution cell is followed by its check cell (explore cells come before the solution)
        assert [p for p in pairs if p[0] != "explore"] == [(r, ex) for ex in solutions for r in ("solution", "check")]
        exercises += solutions
        for cell in nb.cells:
            meta = cell.metadata.get("stlearn", {})
            if meta.get("role") == "check":
                lessons[meta["lesson"]] = lessons.get(meta["lesson"], 0) + 1
    assert sorted(exercises) == sorted(CHECKS)
    assert len(exercises) >= 30
    assert {lesson: n for lesson, n in lessons.items() if n >= 2} == lessons and set(lessons) >= set(range(1, 11))


@pytest.mark.parametrize("path", SOURCES, ids=NAMES)
def test_source_layout(path):
    nb = nbformat.read(path, as_version=4)
    first, last = nb.cells[0], nb.cells[-1]
    assert first.cell_type == "markdown" and "accompan" in first.source and "lesson" in first.source
    texts = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert any(f"stlearn check notebooks/student/{path.name}" in text for text in texts)  # how to check yourself
    assert last.cell_type == "markdown" and last.source.startswith("## Done")
    for k, cell in enumerate(nb.cells):
        meta = cell.metadata.get("stlearn", {})
        if meta.get("role") == "solution":
            ex = meta["exercise"]
            assert cell.source.count(BEGIN) == 1 and cell.source.count(END) == 1
            assert f"def {ex}(" in cell.source
            assert meta["hint"]
            assert cell.metadata["nbgrader"] == {
                "grade": False,
                "grade_id": ex,
                "locked": False,
                "schema_version": 3,
                "solution": True,
                "task": False,
            }
            explanation = next(c for c in reversed(nb.cells[:k]) if c.cell_type == "markdown")
            assert "$" in explanation.source  # the equation
            # three hints behind <details>, in order, none of them giving away a line of the solution
            opened = [explanation.source.find(f"<summary>{title}</summary>") for title in HINT_TITLES]
            assert -1 not in opened and opened == sorted(opened), f"{ex}: the three layered hints"
            hints = explanation.source[opened[0] :] + "\n" + meta["hint"]
            for line in _solution_lines(cell.source):
                assert line not in hints, f"{ex}: a hint gives away the code {line!r}"
            assert not any(code in meta["hint"] for code in ("torch.", "F.", ".view(", " = ", "return ")), ex
        elif meta.get("role") == "explore":
            assert cell.cell_type == "code" and "def " not in cell.source.split("\n", 1)[0]
        elif meta.get("role") == "check":
            assert meta["lesson"] in range(1, 11) and meta.get("kind", "write") in ("write", "train", "answer")
            assert cell.metadata["nbgrader"]["grade"] is True
            assert cell.metadata["nbgrader"]["grade_id"] == f"check_{meta['exercise']}"
            assert f"check_{meta['exercise']}({meta['exercise']})" in cell.source
        elif cell.cell_type == "code":
            assert "stlearn" not in cell.source  # only the check and explore cells use stlearn


def test_committed_student_notebooks_do_not_drift(tmp_path):
    assert make_student(check=True) == [], "run `stlearn make-student` and commit notebooks/student"
    written = make_student(out_dir=tmp_path)
    assert [p.name for p in written] == NAMES
    for path in written:
        assert path.read_text(encoding="utf-8") == (student_dir() / path.name).read_text(encoding="utf-8")


def test_drift_is_detected(tmp_path):
    make_student(out_dir=tmp_path)
    victim = tmp_path / NAMES[0]
    victim.write_text(victim.read_text(encoding="utf-8").replace("YOUR CODE HERE", "YOUR CODE"), encoding="utf-8")
    (tmp_path / "ex99_stale.ipynb").write_text("{}", encoding="utf-8")
    assert sorted(p.name for p in make_student(out_dir=tmp_path, check=True)) == [NAMES[0], "ex99_stale.ipynb"]


def test_stub_keeps_indentation_and_hint():
    src = "def f(x):\n    '''doc'''\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n"
    out = stub_source(src, "f", "return x")
    stub = "    # YOUR CODE HERE\n    raise NotImplementedError('Write f. Hint: return x')\n"
    assert out == "def f(x):\n    '''doc'''\n" + stub
    with pytest.raises(ValueError, match="no '### BEGIN SOLUTION'"):
        stub_source("def f(): pass", "f", "")


@pytest.mark.parametrize("name", NAMES)
def test_student_version_has_no_solutions_and_no_outputs(name):
    student = nbformat.read(student_dir() / name, as_version=4)
    source = nbformat.read(exercise_dir() / name, as_version=4)
    assert len(student.cells) == len(source.cells)
    for s_cell, cell in zip(student.cells, source.cells, strict=True):
        assert BEGIN not in s_cell.source and END not in s_cell.source
        if s_cell.cell_type == "code":
            assert s_cell.outputs == [] and s_cell.execution_count is None
        role = cell.metadata.get("stlearn", {}).get("role")
        if role == "solution":
            assert "raise NotImplementedError(" in s_cell.source
        else:
            assert s_cell.source == cell.source  # explanations and check cells kept as they are


def test_student_versions_fail_exactly_at_their_checks():
    """Run the student notebooks: set-up and stub cells run, every check fails with its stub's hint.

    The notebooks run one after the other in one kernel (one import of torch instead of one per notebook);
    their cells do not depend on each other, and each check imports its checker itself.
    """
    from nbclient import NotebookClient

    combined = nbformat.v4.new_notebook(metadata=nbformat.read(student_dir() / NAMES[0], as_version=4).metadata)
    hints = {}
    for name in NAMES:
        combined.cells += nbformat.read(student_dir() / name, as_version=4).cells
        for c in nbformat.read(exercise_dir() / name, as_version=4).cells:
            if c.metadata.get("stlearn", {}).get("role") == "solution":
                hints[c.metadata["stlearn"]["exercise"]] = c.metadata["stlearn"]["hint"]
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    client = NotebookClient(
        combined,
        timeout=300,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(student_dir())}},
    )
    client.execute(env=env)
    failed = []
    for cell in combined.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        meta = cell.metadata.get("stlearn", {})
        if meta.get("role") == "check":
            ex = meta["exercise"]
            assert len(errors) == 1, f"the check of {ex} should fail on the stub"
            assert errors[0].ename == "AssertionError"
            assert errors[0].evalue.startswith(f"{ex}: not written yet. Write {ex}. Hint: ")
            assert hints[ex] in errors[0].evalue
            failed.append(ex)
        else:
            assert errors == [], f"a non-check cell failed: {cell.source[:80]!r}"
    assert sorted(failed) == sorted(CHECKS)


def test_every_lesson_points_to_its_exercises():
    """Each lesson 1-10 has an Exercises section linking the student notebooks that hold its exercises."""
    from stlearn.exercises.catalogue import by_lesson

    for lesson, entries in by_lesson().items():
        (path,) = (REPO / "notebooks").glob(f"{lesson:02d}_*.ipynb")
        nb = nbformat.read(path, as_version=4)
        sections = [c.source for c in nb.cells if c.cell_type == "markdown" and "## Exercises" in c.source]
        assert len(sections) == 1, f"{path.name}: one '## Exercises' section"
        for entry in entries:
            assert f"(student/{entry.notebook}.ipynb)" in sections[0], (path.name, entry.exercise)
