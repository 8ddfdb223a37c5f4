"""The grader: partial scores with feedback, tampering gets no credit, timeouts and crashes cost one exercise.

Submissions are built from the source notebooks by replacing solution cells (and deleting or
editing check cells), as a learner's saved notebook would look.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nbformat
import pytest

from stlearn.__main__ import main
from stlearn.exercises import grade as grading
from stlearn.exercises.grade import grade_submission, scan_solution
from stlearn.exercises.student import exercise_dir


def make_submission(
    tmp_path: Path,
    source: str,
    student: str,
    solutions: dict[str, str] | None = None,
    drop_checks: tuple[str, ...] = (),
    edit_checks: dict[str, str] | None = None,
) -> Path:
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
    path = tmp_path / f"{source}_{student}.ipynb"
    nbformat.write(nb, path)
    return path


def by_name(result):
    return {e.exercise: e for e in result.exercises}


NO_ABS = '''
def decoupling_loss(adapter, delta_c, delta_m):
    a = F.normalize(adapter(delta_c).flatten(2), dim=2)
    b = F.normalize(adapter(delta_m).flatten(2), dim=2)
    return (a * b).sum(dim=2).mean()
'''


def test_one_planted_mistake_gives_a_partial_score_with_feedback_csv_and_json(tmp_path, capsys):
    path = make_submission(tmp_path, "ex07_predrnn_v2", "alice", {"decoupling_loss": NO_ABS})
    out_csv, out_json = tmp_path / "class.csv", tmp_path / "class.json"
    rc = main(["grade", str(path), "--csv", str(out_csv), "--json", str(out_json), "--timeout", "60"])
    assert rc == 0
    table = capsys.readouterr().out
    assert "score 1/2" in table and "ex07_predrnn_v2_alice.ipynb" in table
    assert "take the absolute value of each cosine" in table
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert [(r["exercise"], r["points"], r["status"]) for r in rows] == [
        ("decoupling_loss", "0", "fail"),
        ("reverse_schedule", "1", "pass"),
    ]
    assert rows[0]["feedback"].startswith("decoupling_loss: take the absolute value of each cosine")
    assert rows[1]["feedback"] == "✓ reverse_schedule: correct on 12 cases"
    data = json.loads(out_json.read_text(encoding="utf-8"))
    sub = data["submissions"][0]
    assert (sub["student"], sub["notebook"], sub["score"], sub["max_score"]) == (
        "alice",
        "ex07_predrnn_v2",
        1,
        2,
    )
    assert sub["exercises"][0]["status"] == "fail"


PATCH_CHECKER = '''
import stlearn.exercises.checks as _c
_c.check_cell_candidate = lambda f: print("✓ cell_candidate: correct on 6 cases")
def forget_gate(x_f, h_f, c_prev, w_cf, b_f):
    return torch.sigmoid(x_f + h_f + w_cf * c_prev + b_f.view(1, -1, 1, 1))
'''
IMPORT_REFERENCE = '''
from stlearn.gates import input_gate as _reference
def input_gate(x_i, h_i, c_prev, w_ci, b_i):
    return _reference(x_i, h_i, c_prev, w_ci, b_i)
'''
PATCH_TORCH = '''
torch.allclose = lambda *args, **kwargs: True
def hidden_state(o_t, c_t):
    return o_t * c_t
'''
# a stub whose cell also patches its own checker, in a way the test lets slip past the scan: the check
# cell imports the checker afresh, so the patch must not help
SLIPS_PAST = "# slips past the scan"
STUB = (
    f"{SLIPS_PAST}\nimport stlearn.exercises as _e\nimport stlearn.exercises.checks as _c\n"
    "_e.check_cell_candidate = _c.check_cell_candidate = lambda f: print('✓ cell_candidate: correct on 6 cases')\n"
    'def cell_candidate(x_c, h_c, b_c):\n    raise NotImplementedError("not yet")\n'
)
UPDATE_OK = "def cell_update(f_t, c_prev, i_t, c_tilde):\n    return f_t * c_prev + i_t * c_tilde\n"
OUTPUT_WRONG = "def output_gate(x_o, h_o, c_t, w_co, b_o):\n    return x_o + h_o + w_co * c_t + b_o.view(1, -1, 1, 1)\n"


def test_tampering_gets_no_credit_for_the_exercises_concerned(tmp_path, monkeypatch):
    scan = grading.scan_solution
    monkeypatch.setattr(grading, "scan_solution", lambda source: None if SLIPS_PAST in source else scan(source))
    path = make_submission(
        tmp_path,
        "ex03_convlstm_gates",
        "mallory",
        {
            "input_gate": IMPORT_REFERENCE,
            "forget_gate": PATCH_CHECKER,
            "cell_candidate": STUB,
            "cell_update": UPDATE_OK,
            "output_gate": OUTPUT_WRONG,
            "hidden_state": PATCH_TORCH,
        },
        drop_checks=("cell_update", "cell_candidate"),
        edit_checks={"output_gate": 'print("✓ output_gate: correct on 6 cases")'},
    )
    result = grade_submission(path, timeout=60)
    r = by_name(result)
    assert r["input_gate"].status == "tampered" and "imports `stlearn.gates`" in r["input_gate"].feedback
    assert r["forget_gate"].status == "tampered" and "stlearn.exercises.checks" in r["forget_gate"].feedback
    assert r["hidden_state"].status == "tampered" and "torch.allclose" in r["hidden_state"].feedback
    # the deleted check still ran (from the source, with a fresh checker): the stub fails despite its
    # patch; the correct update passes
    assert r["cell_candidate"].status == "fail" and "not written yet" in r["cell_candidate"].feedback
    assert "check cell deleted" in r["cell_candidate"].notes[0]
    assert r["cell_update"].status == "pass" and "check cell deleted" in r["cell_update"].notes[0]
    # the edited check was ignored
    assert r["output_gate"].status == "fail" and "did you forget the sigmoid?" in r["output_gate"].feedback
    assert "check cell edited" in r["output_gate"].notes[0]
    # the full step calls input_gate, which was never defined (its cell did not run)
    assert r["convlstm_step"].points == 0
    assert result.score == 1 and result.max_score == 7
    table = grading.format_report([result])
    assert "score 1/7" in table and "tampered" in table


LOOP = "def patch_frames(frames, p):\n    while True:\n        pass\n"
CRASH = "import os\n\ndef csi(pred, obs, threshold):\n    os._exit(1)\n"


def test_infinite_loop_and_kernel_crash_cost_only_their_exercise(tmp_path):
    path = make_submission(tmp_path, "ex01_data_and_metrics", "bob", {"patch_frames": LOOP, "csi": CRASH})
    result = grade_submission(path, timeout=5)
    r = by_name(result)
    assert r["patch_frames"].status == "timeout" and "infinite loop" in r["patch_frames"].feedback
    assert r["csi"].status == "crash" and "kernel died" in r["csi"].feedback
    assert r["mse_per_frame"].status == "pass"
    assert result.score == 1


def test_missing_solution_and_unknown_notebook(tmp_path):
    nb = nbformat.read(exercise_dir() / "ex07_predrnn_v2.ipynb", as_version=4)
    nb.cells = [c for c in nb.cells if c.metadata.get("stlearn", {}).get("exercise") != "reverse_schedule"]
    nb.metadata.pop("stlearn")
    path = tmp_path / "renamed.ipynb"  # found by its solution ids, not by its name
    nbformat.write(nb, path)
    assert grading._find_source(nb, path, exercise_dir()).name == "ex07_predrnn_v2.ipynb"
    plan, _ = grading._plan(nbformat.read(exercise_dir() / "ex07_predrnn_v2.ipynb", as_version=4), nb)
    assert [s.kind for s in plan] == ["setup", "solution", "check", "solution", "check"]
    assert plan[3].code is None
    stray = tmp_path / "stray.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), stray)
    result = grade_submission(stray)
    assert result.error and result.exercises == []
    assert "NOT GRADED" in grading.format_report([result])


@pytest.mark.parametrize(
    "source",
    [
        "from stlearn.gates import input_gate",
        "import stlearn",
        "import importlib; importlib.import_module('x')",
        "__import__('os')",
        "import sys; sys.modules",
        "f = input_gate.__globals__",
        "exec('x = 1')",
        "getattr(torch, 'x')  # fine\nname = 'stl' 'earn'",
        "%time x = 1",
        "torch.allclose = None",
        "t = torch\nt.allclose = None",
        "object.__setattr__(torch, 'allclose', None)",
        "F.normalize = None",
        "import numpy as np2\nnp2.isclose = None",
        "setattr(torch, 'allclose', None)",
        "builtins = None",
    ],
)
def test_scan_rejects_ways_to_reach_the_reference_or_the_checker(source):
    assert scan_solution(source) is not None


@pytest.mark.parametrize(
    "source",
    [
        "def input_gate(x, h, c, w, b):\n    return torch.sigmoid(x + h + w * c + b[:, None, None])",
        "import math\nimport torch.nn.functional as F\n\ndef f(x):\n    y = x.clone()\n    y[0] = 1\n    return y",
        "def zigzag_step(cells, x, h, c, m):\n    out = [None] * len(h)\n    out[0] = x\n    return out",
        "def broken(:\n    pass",  # a syntax error fails when it runs, with its own message
    ],
)
def test_scan_accepts_ordinary_solutions(source):
    assert scan_solution(source) is None
