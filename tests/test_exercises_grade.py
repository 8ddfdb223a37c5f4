"""The grader: partial scores with feedback, the class sheet, finding sources and students, --unsafe.

Submissions are built from the source notebooks by replacing solution cells (and deleting or
editing check cells), as a learner's saved notebook would look. The attacks are in
``test_grading_adversarial.py``.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import nbformat
import pytest
from grading_helpers import by_name, make_submission, needs_sandbox

from stlearn.__main__ import main
from stlearn.exercises import grade as grading
from stlearn.exercises.grade import ExerciseResult, SubmissionResult, grade, grade_submission, student_name, write_csv
from stlearn.exercises.sandbox import SandboxUnavailable
from stlearn.exercises.student import exercise_dir

ROOT = Path(__file__).resolve().parents[1]

NO_ABS = """
def decoupling_loss(adapter, delta_c, delta_m):
    a = F.normalize(adapter(delta_c).flatten(2), dim=2)
    b = F.normalize(adapter(delta_m).flatten(2), dim=2)
    return (a * b).sum(dim=2).mean()
"""


@needs_sandbox
def test_one_planted_mistake_gives_a_partial_score_with_feedback_csv_and_json(tmp_path, capsys):
    path = make_submission(tmp_path, "ex07_predrnn_v2", "alice", {"decoupling_loss": NO_ABS})
    out_csv, out_json = tmp_path / "class.csv", tmp_path / "class.json"
    rc = main(["grade", str(path), "--csv", str(out_csv), "--json", str(out_json), "--timeout", "60"])
    assert rc == 0
    table = capsys.readouterr().out
    assert "score 1/2" in table and "ex07_predrnn_v2_alice.ipynb" in table and "UNSAFE" not in table
    assert "take the absolute value of each cosine" in table
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert [(r["student"], r["exercise"], r["points"], r["status"]) for r in rows] == [
        ("alice", "decoupling_loss", "0", "fail"),
        ("alice", "reverse_schedule", "1", "pass"),
    ]
    assert rows[0]["feedback"].startswith("take the absolute value of each cosine")
    assert rows[1]["feedback"] == "✓ reverse_schedule: correct on 12 cases"
    data = json.loads(out_json.read_text(encoding="utf-8"))
    sub = data["submissions"][0]
    assert (sub["student"], sub["notebook"], sub["score"], sub["max_score"], sub["sandbox"]) == (
        "alice",
        "ex07_predrnn_v2",
        1,
        2,
        "bubblewrap",
    )


OUTPUT_WRONG = "def output_gate(x_o, h_o, c_t, w_co, b_o):\n    return x_o + h_o + w_co * c_t + b_o.view(1, -1, 1, 1)\n"
UPDATE_OK = "def cell_update(f_t, c_prev, i_t, c_tilde):\n    return f_t * c_prev + i_t * c_tilde\n"


@needs_sandbox
def test_check_cells_of_the_submission_are_ignored_deleted_or_edited(tmp_path):
    path = make_submission(
        tmp_path,
        "ex03_convlstm_gates",
        "frank",
        {"cell_update": UPDATE_OK, "output_gate": OUTPUT_WRONG},
        drop_checks=("cell_update",),
        edit_checks={"output_gate": 'print("✓ output_gate: correct on 6 cases")'},
    )
    r = by_name(grade_submission(path))
    assert r["cell_update"].status == "pass" and "check cell deleted" in r["cell_update"].notes[0]
    assert r["output_gate"].status == "fail" and "did you forget the sigmoid?" in r["output_gate"].feedback
    assert "check cell edited" in r["output_gate"].notes[0]


def test_missing_solution_and_unknown_notebook(tmp_path):
    nb = nbformat.read(exercise_dir() / "ex07_predrnn_v2.ipynb", as_version=4)
    nb.cells = [c for c in nb.cells if c.metadata.get("stlearn", {}).get("exercise") != "reverse_schedule"]
    nb.metadata.pop("stlearn", None)
    path = tmp_path / "renamed.ipynb"  # found by its solution ids, not by its name
    nbformat.write(nb, path)
    assert grading._find_source(nb, path, exercise_dir()).name == "ex07_predrnn_v2.ipynb"
    plan, _ = grading._plan(nbformat.read(exercise_dir() / "ex07_predrnn_v2.ipynb", as_version=4), nb)
    assert [s.kind for s in plan] == ["setup", "solution", "check", "solution", "check"]
    assert plan[3].code is None


def test_notebook_metadata_is_never_a_path(tmp_path):
    nb = nbformat.read(exercise_dir() / "ex07_predrnn_v2.ipynb", as_version=4)
    for bad in ("../00_course_map", "/etc/passwd", "ex07_predrnn_v2/../ex01_data_and_metrics"):
        nb.metadata["stlearn"] = {"notebook": bad}
        path = tmp_path / "homework.ipynb"
        nbformat.write(nb, path)
        # not the course map (0/0 and no rows): the source is found by the solution ids
        assert grading._find_source(nb, path, exercise_dir()).name == "ex07_predrnn_v2.ipynb"
    nb.metadata["stlearn"] = {"notebook": "ex01_data_and_metrics"}  # a source's name is used
    assert grading._find_source(nb, tmp_path / "homework.ipynb", exercise_dir()).stem == "ex01_data_and_metrics"


def test_students_are_named_from_the_path_only():
    stems = ["ex01_data_and_metrics", "ex07_predrnn_v2"]
    assert student_name("subs/ex07_predrnn_v2_alice.ipynb", stems) == "alice"
    assert student_name("subs/bob/ex07_predrnn_v2.ipynb", stems) == "bob"
    assert student_name("subs/carol/homework.ipynb", stems) == "homework"


def test_an_unreadable_notebook_is_recorded_under_its_student(tmp_path):
    (tmp_path / "zoe").mkdir()
    path = tmp_path / "zoe" / "ex07_predrnn_v2.ipynb"
    path.write_text("{ not a notebook", encoding="utf-8")
    result = grade_submission(path, unsafe=True)  # fails before any code runs
    assert result.error and result.student == "zoe" and result.exercises == []
    assert "NOT GRADED" in grading.format_report([result])
    write_csv([result], tmp_path / "class.csv")
    rows = list(csv.DictReader((tmp_path / "class.csv").open(encoding="utf-8")))
    assert rows[0]["student"] == "zoe" and rows[0]["status"] == "not graded"


def _result(student: str, notebook: str, points: dict[str, float], feedback: str = "") -> SubmissionResult:
    exercises = [ExerciseResult(ex, p, 1.0, "pass" if p else "fail", feedback) for ex, p in points.items()]
    return SubmissionResult(f"{student}.ipynb", student, notebook, exercises)


def test_the_class_sheet_is_merged_so_a_rerun_updates_and_never_erases(tmp_path):
    sheet = tmp_path / "class.csv"
    write_csv([_result("alice", "ex07_predrnn_v2", {"decoupling_loss": 0, "reverse_schedule": 1})], sheet)
    write_csv([_result("bob", "ex07_predrnn_v2", {"decoupling_loss": 1, "reverse_schedule": 1})], sheet)
    write_csv([_result("alice", "ex01_data_and_metrics", {"csi": 1})], sheet)
    write_csv([_result("alice", "ex07_predrnn_v2", {"decoupling_loss": 1, "reverse_schedule": 1})], sheet)  # regrade
    rows = {(r["student"], r["notebook"], r["exercise"]): r["points"] for r in csv.DictReader(sheet.open())}
    assert rows == {
        ("alice", "ex01_data_and_metrics", "csi"): "1",
        ("alice", "ex07_predrnn_v2", "decoupling_loss"): "1",
        ("alice", "ex07_predrnn_v2", "reverse_schedule"): "1",
        ("bob", "ex07_predrnn_v2", "decoupling_loss"): "1",
        ("bob", "ex07_predrnn_v2", "reverse_schedule"): "1",
    }
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".class.csv")]  # no temporary left behind


def test_formula_characters_are_escaped_in_the_class_sheet(tmp_path):
    evil = '=HYPERLINK("http://x.example","click")'
    sheet = tmp_path / "class.csv"
    write_csv([_result(evil, "ex07_predrnn_v2", {"reverse_schedule": 0}, feedback="-1+2 @SUM(A1)")], sheet)
    row = next(csv.DictReader(sheet.open(encoding="utf-8")))
    assert row["student"] == "'" + evil and row["feedback"] == "'-1+2 @SUM(A1)"
    assert row["points"] == "0"


def test_a_file_that_is_not_a_class_sheet_is_not_overwritten(tmp_path):
    other = tmp_path / "marks.csv"
    other.write_text("name,mark\nalice,17\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not a class sheet"):
        write_csv([_result("bob", "ex07_predrnn_v2", {"reverse_schedule": 1})], other)
    assert other.read_text(encoding="utf-8") == "name,mark\nalice,17\n"


def test_a_missing_output_folder_is_reported_before_grading(tmp_path, capsys):
    path = make_submission(tmp_path, "ex07_predrnn_v2", "alice")
    t0 = time.monotonic()
    rc = main(["grade", str(path), "--csv", str(tmp_path / "nope" / "class.csv")])
    assert rc == 2 and time.monotonic() - t0 < 5  # nothing was graded
    err = capsys.readouterr().err
    assert "does not exist" in err and "nothing was graded" in err


def test_without_a_sandbox_grading_refuses_unless_unsafe(tmp_path, monkeypatch, capsys):
    path = make_submission(tmp_path, "ex07_predrnn_v2", "alice")
    monkeypatch.setattr(grading, "find_sandbox", lambda: "bubblewrap is not installed (test)")
    with pytest.raises(SandboxUnavailable, match="--unsafe"):
        grade([path])
    assert main(["grade", str(path)]) == 2
    assert "cannot grade safely" in capsys.readouterr().err
    rc = main(["grade", str(path), "--unsafe", "--timeout", "60"])
    captured = capsys.readouterr()
    assert rc == 0 and "UNSAFE" in captured.err and "UNSAFE" in captured.out and "score 2/2" in captured.out


@needs_sandbox
def test_parallel_workers_grade_every_submission_in_order(tmp_path):
    paths = [make_submission(tmp_path, "ex07_predrnn_v2", name) for name in ("p1", "p2", "p3")]
    results = grade(paths, jobs=2)
    assert [r.student for r in results] == ["p1", "p2", "p3"]
    assert all(r.score == 2 for r in results)


def test_the_reference_solutions_are_not_in_the_learners_tree():
    """JupyterLab opens notebooks/ (scripts/course.sh): no notebook there holds a reference solution."""
    assert "--ServerApp.root_dir=notebooks" in (ROOT / "scripts" / "course.sh").read_text()
    for path in (ROOT / "notebooks").rglob("*.ipynb"):
        assert "### BEGIN SOLUTION" not in path.read_text(encoding="utf-8"), path
    assert sorted(p.name for p in exercise_dir().glob("*.ipynb"))  # the sources live in the package
    assert not str(exercise_dir().resolve()).startswith(str((ROOT / "notebooks").resolve()))


def test_the_empty_tmp_is_mounted_before_anything_is_bound_under_it():
    # bwrap mounts in order: a --tmpfs /tmp after the binds hid a virtual environment under /tmp (a fresh clone in
    # /tmp: every submission "did not start")
    from stlearn.exercises import sandbox

    cmd = sandbox._bwrap_command(Path("/tmp/stlearn-submission-x"))
    tmpfs = cmd.index("--tmpfs")
    assert cmd[tmpfs + 1] == "/tmp"
    binds = [k for k, arg in enumerate(cmd) if arg in ("--bind", "--ro-bind", "--symlink")]
    assert binds and all(k > tmpfs for k in binds)
