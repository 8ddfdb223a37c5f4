"""Grading exercise submissions: ``stlearn grade SUBMISSION.ipynb [MORE ...]`` or :func:`grade`.

How a submission is graded:

1. Its source notebook is found in ``notebooks/exercises`` (notebook metadata ``stlearn.notebook``,
   else the file name, e.g. ``ex03_convlstm_gates_alice.ipynb``, else its exercise ids). The student
   is the rest of the file name (``alice``) or, for ``alice/ex03_convlstm_gates.ipynb``, the folder.
2. The graded notebook is rebuilt from the **source's** cells; only the submission's solution
   cells (matched by cell metadata ``stlearn.exercise`` / ``nbgrader.grade_id``) are substituted.
   The submission's check cells and any extra cells are ignored, so deleting or editing a check
   changes nothing.
3. Each solution cell is scanned before it runs. A cell that reaches for ``stlearn`` (the
   reference or the checker), the import machinery or the interpreter's internals, or assigns to
   an attribute (``torch.allclose = ...``, ``t.allclose = ...``), is not run and its exercise gets
   no credit.
4. The cells run one by one in a Jupyter kernel (nbclient) with a per-cell timeout. Every check
   cell first drops all ``stlearn`` modules from ``sys.modules`` and imports the checker afresh
   from its files, so earlier monkey-patching cannot reach it. A timeout (an infinite loop) or a
   kernel crash (``os._exit``, a segfault) costs only the exercise concerned: the kernel is
   restarted and the cells that had run (set-up and solution cells) are replayed.
5. An exercise scores its points (``nbgrader.points`` of the source's check cell, default 1) when
   its check passes; the feedback is the checker's message.

Used by instructors for the exercises of lesson 1, 3, 5, 6, 7 and 9.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import nbformat

from .student import exercise_dir

__all__ = [
    "ExerciseResult",
    "SubmissionResult",
    "format_report",
    "grade",
    "grade_submission",
    "main_grade",
    "scan_solution",
    "write_csv",
    "write_json",
]

#: Run before every check cell in the kernel: the checker and the references are imported afresh.
PURGE = (
    "import sys as _stlearn_sys\n"
    "for _stlearn_m in [m for m in list(_stlearn_sys.modules) if m == 'stlearn' or m.startswith('stlearn.')]:\n"
    "    del _stlearn_sys.modules[_stlearn_m]\n"
    "del _stlearn_sys\n"
)

_FORBIDDEN_MODULES = {"stlearn", "importlib", "sys", "builtins", "gc", "inspect", "ctypes", "runpy", "pkgutil"}
_FORBIDDEN_NAMES = {
    "__import__",
    "exec",
    "eval",
    "compile",
    "globals",
    "locals",
    "vars",
    "setattr",
    "delattr",
    "__builtins__",
    "get_ipython",
    "stlearn",
    "sys",
    "importlib",
    "builtins",
}
_FORBIDDEN_ATTRS = {
    "__dict__",
    "__globals__",
    "__code__",
    "__closure__",
    "__builtins__",
    "__subclasses__",
    "__setattr__",
    "__delattr__",
    "__getattribute__",
    "__loader__",
    "__spec__",
    "modules",
    "sys",
    "builtins",
    "importlib",
    "stlearn",
}


@dataclass
class ExerciseResult:
    """One exercise of one submission (an exercise of lessons 1, 3, 5-7 and 9)."""

    exercise: str
    points: float
    max_points: float
    status: str  # pass, fail, error, timeout, crash, tampered, missing
    feedback: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class SubmissionResult:
    """A graded submission: per-exercise results and the total (exercises of lessons 1, 3, 5-7 and 9)."""

    submission: str
    student: str
    notebook: str
    exercises: list[ExerciseResult]
    seconds: float = 0.0
    error: str = ""

    @property
    def score(self) -> float:
        return sum(e.points for e in self.exercises)

    @property
    def max_score(self) -> float:
        return sum(e.max_points for e in self.exercises)


# --------------------------------------------------------------------------------------------
# reading notebooks
# --------------------------------------------------------------------------------------------


def _role(cell: Any) -> tuple[str | None, str | None]:
    """(role, exercise) of a cell from its metadata: stlearn's, else nbgrader's."""
    meta = cell.get("metadata", {})
    st = meta.get("stlearn", {})
    if st.get("role") in ("solution", "check") and st.get("exercise"):
        return st["role"], st["exercise"]
    nb = meta.get("nbgrader", {})
    grade_id = nb.get("grade_id")
    if grade_id and nb.get("solution"):
        return "solution", grade_id
    if grade_id and nb.get("grade"):
        return "check", grade_id.removeprefix("check_")
    return None, None


def _find_source(submission: nbformat.NotebookNode, path: Path, source_dir: Path) -> Path:
    name = submission.metadata.get("stlearn", {}).get("notebook")
    if name and (source_dir / f"{name}.ipynb").exists():
        return source_dir / f"{name}.ipynb"
    candidates = sorted(source_dir.glob("*.ipynb"), key=lambda p: -len(p.stem))
    for candidate in candidates:
        if path.stem.startswith(candidate.stem):
            return candidate
    ids = {ex for cell in submission.cells for role, ex in [_role(cell)] if role == "solution"}
    for candidate in candidates:
        nb = nbformat.read(candidate, as_version=4)
        if ids and ids <= {ex for cell in nb.cells for role, ex in [_role(cell)] if role == "solution"}:
            return candidate
    raise FileNotFoundError(f"no source notebook in {source_dir} matches {path.name}")


# --------------------------------------------------------------------------------------------
# scanning solution cells
# --------------------------------------------------------------------------------------------


def _python_source(source: str) -> str:
    """IPython syntax (magics, ``!shell``) turned into the Python it runs, for the scan."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # pragma: no cover - IPython is installed with Jupyter
        return source


def scan_solution(source: str) -> str | None:
    """Why a solution cell may not run (reaching the reference, the checker or the interpreter), or None.

    Used by the grader for the exercises of lessons 1, 3, 5-7 and 9.
    """
    try:
        tree = ast.parse(_python_source(source))
    except SyntaxError:
        return None  # it fails when it runs, with the learner's own error message
    module_names = {"torch", "F", "np", "numpy", "math", "nn"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                if name.split(".")[0] in _FORBIDDEN_MODULES:
                    return f"it imports `{name}`"
            module_names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Name) and node.id in _FORBIDDEN_NAMES:
            return f"it uses `{node.id}`"
        elif isinstance(node, ast.Attribute) and node.attr in _FORBIDDEN_ATTRS:
            return f"it uses the attribute `.{node.attr}`"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "stlearn" in node.value:
            return "it names `stlearn` in a string"
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            root = target
            while isinstance(root, ast.Attribute | ast.Subscript):
                root = root.value
            if isinstance(target, ast.Attribute):
                what = "a module" if isinstance(root, ast.Name) and root.id in module_names else "an attribute"
                return f"it assigns to `{ast.unparse(target)}`, changing {what} (solutions never need to)"
    return None


# --------------------------------------------------------------------------------------------
# running cells in a kernel
# --------------------------------------------------------------------------------------------


class _Kernel:
    """A Jupyter kernel that runs code strings one by one and survives timeouts and crashes."""

    def __init__(self, cwd: Path, kernel_name: str) -> None:
        self.cwd = cwd
        self.kernel_name = kernel_name
        self.client: Any = None

    def start(self) -> None:
        from nbclient import NotebookClient

        repo = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = repo + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.setdefault("MPLBACKEND", "Agg")
        client = NotebookClient(
            nbformat.v4.new_notebook(),
            kernel_name=self.kernel_name,
            allow_errors=True,
            interrupt_on_timeout=False,
            resources={"metadata": {"path": str(self.cwd)}},
            shutdown_kernel="immediate",  # a kernel stuck in a loop is killed, not waited for
        )
        client.km = client.create_kernel_manager()
        # the kernel's own log lines (e.g. about TCP transport) stay out of the grader's stderr
        client.start_new_kernel(env=env, stderr=subprocess.DEVNULL)
        client.start_new_kernel_client()
        self.client = client

    def stop(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client._cleanup_kernel()
        except Exception:  # pragma: no cover - a dead kernel may refuse a clean shutdown
            pass

    def run(self, code: str, timeout: float) -> tuple[str, str]:
        """('ok', stdout) | ('error', 'Name: message') | ('timeout', '') | ('crash', '')."""
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        if self.client is None:
            self.start()
        cell = nbformat.v4.new_code_cell(code)
        self.client.nb.cells = [cell]
        self.client.timeout = max(1, round(timeout))
        try:
            self.client.execute_cell(cell, 0)
        except CellTimeoutError:
            return "timeout", ""
        except DeadKernelError:
            return "crash", ""
        except RuntimeError as exc:  # nbclient reports some kernel deaths this way
            if "died" in str(exc).lower() or "dead" in str(exc).lower():
                return "crash", ""
            raise
        text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
        for output in cell.outputs:
            if output.get("output_type") == "error":
                return "error", f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
        return "ok", text


# --------------------------------------------------------------------------------------------
# grading
# --------------------------------------------------------------------------------------------


@dataclass
class _Step:
    kind: str  # setup, solution, check
    exercise: str | None
    code: str | None


def _plan(source: nbformat.NotebookNode, submission: nbformat.NotebookNode) -> tuple[list[_Step], dict]:
    """The cells to run, and per exercise (points, notes)."""
    solutions: dict[str, Any] = {}
    checks: dict[str, list[str]] = {}
    for cell in submission.cells:
        role, ex = _role(cell)
        if role == "solution" and ex not in solutions:
            solutions[ex] = cell
        elif role == "check":
            checks.setdefault(ex, []).append(cell.source)
    steps: list[_Step] = []
    info: dict[str, dict] = {}
    for cell in source.cells:
        if cell.cell_type != "code":
            continue
        role, ex = _role(cell)
        if role == "solution":
            sub = solutions.get(ex)
            info.setdefault(ex, {"points": 1.0, "notes": []})
            steps.append(_Step("solution", ex, None if sub is None else sub.source))
        elif role == "check":
            points = float(cell.metadata.get("nbgrader", {}).get("points", 1))
            entry = info.setdefault(ex, {"points": points, "notes": []})
            entry["points"] = points
            submitted = checks.get(ex, [])
            if not submitted:
                entry["notes"].append("check cell deleted in the submission (the source's check ran)")
            elif any(s.strip() != cell.source.strip() for s in submitted):
                entry["notes"].append("check cell edited in the submission (ignored; the source's check ran)")
            steps.append(_Step("check", ex, PURGE + cell.source))
        else:
            steps.append(_Step("setup", None, cell.source))
    return steps, info


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def grade_submission(
    submission: Path | str,
    source_dir: Path | str | None = None,
    timeout: float = 60.0,
    setup_timeout: float = 300.0,
    kernel_name: str = "python3",
) -> SubmissionResult:
    """Grade one submitted notebook with the check cells of its source notebook.

    ``timeout`` limits each solution and check cell (an infinite loop costs that exercise only);
    set-up cells (imports) get ``setup_timeout``.  Used by instructors for the exercises of
    lessons 1, 3, 5-7 and 9.
    """
    start = time.monotonic()
    path = Path(submission)
    src_dir = Path(source_dir) if source_dir else exercise_dir()
    student = path.stem
    try:
        sub_nb = nbformat.read(path, as_version=4)
        source_path = _find_source(sub_nb, path, src_dir)
    except Exception as exc:
        return SubmissionResult(str(path), student, "", [], time.monotonic() - start, error=f"{exc}")
    if path.stem.startswith(source_path.stem + "_"):
        student = path.stem[len(source_path.stem) + 1 :]  # ex03_convlstm_gates_alice -> alice
    elif path.parent.name and path.stem == source_path.stem:
        student = path.parent.name  # submissions/alice/ex03_convlstm_gates.ipynb -> alice
    source = nbformat.read(source_path, as_version=4)
    steps, info = _plan(source, sub_nb)
    results: dict[str, ExerciseResult] = {
        ex: ExerciseResult(ex, 0.0, entry["points"], "fail", "", list(entry["notes"])) for ex, entry in info.items()
    }
    decided: set[str] = set()
    solution_errors: dict[str, str] = {}
    replay: list[str] = []
    kernel = _Kernel(path.resolve().parent, kernel_name)

    def restart() -> None:
        kernel.stop()
        kernel.start()
        for code in replay:
            kernel.run(code, setup_timeout)

    try:
        kernel.start()
        for step in steps:
            ex = step.exercise
            if step.kind == "setup":
                status, _ = kernel.run(step.code or "", setup_timeout)
                if status in ("timeout", "crash"):
                    restart()
                elif status == "ok":
                    replay.append(step.code or "")
                continue
            assert ex is not None
            result = results[ex]
            if step.kind == "solution":
                if step.code is None:
                    result.status = "missing"
                    result.feedback = f"the solution cell of {ex} is missing from the submission"
                    decided.add(ex)
                    continue
                reason = scan_solution(step.code)
                if reason is not None:
                    result.status = "tampered"
                    result.feedback = (
                        f"no credit for {ex}: the solution cell was not run because {reason}; solutions may not "
                        "reach stlearn (the reference and the checker), the import machinery or the "
                        "interpreter's internals, nor change modules"
                    )
                    decided.add(ex)
                    continue
                status, message = kernel.run(step.code, timeout)
                if status == "ok":
                    replay.append(step.code)
                elif status == "error":
                    replay.append(step.code)  # what it defined before the error still counts
                    solution_errors[ex] = message
                else:
                    result.status = status
                    result.feedback = (
                        f"the solution cell of {ex} ran longer than {timeout:g} s (an infinite loop?)"
                        if status == "timeout"
                        else f"the kernel died while running the solution cell of {ex} (os._exit, a crash?)"
                    )
                    decided.add(ex)
                    restart()
                continue
            # a check cell
            if ex in decided:
                continue
            status, message = kernel.run(step.code or "", timeout)
            decided.add(ex)
            if status == "ok":
                result.status, result.points, result.feedback = "pass", result.max_points, _last_line(message)
            elif status == "error":
                name, _, text = message.partition(": ")
                if name == "AssertionError":
                    result.status, result.feedback = "fail", text
                else:
                    result.status, result.feedback = "error", message
                if ex in solution_errors:
                    result.feedback = (
                        f"the solution cell raised {solution_errors[ex]}; then the check: {result.feedback}"
                    )
            elif status == "timeout":
                result.status = "timeout"
                result.feedback = f"the check of {ex} ran longer than {timeout:g} s: an infinite loop in your function?"
                restart()
            else:
                result.status = "crash"
                result.feedback = f"the kernel died while checking {ex} (os._exit, a segfault, out of memory?)"
                restart()
    finally:
        kernel.stop()
    ordered = [results[ex] for ex in info]
    return SubmissionResult(str(path), student, source_path.stem, ordered, time.monotonic() - start)


# --------------------------------------------------------------------------------------------
# reports
# --------------------------------------------------------------------------------------------


def _short(text: str, width: int = 100) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def format_report(results: Sequence[SubmissionResult]) -> str:
    """The terminal table: per submission, one line per exercise (points, result, feedback).

    Used by ``stlearn grade`` (exercises of lessons 1, 3, 5-7 and 9).
    """
    out = io.StringIO()
    for res in results:
        if res.error:
            out.write(f"{res.submission}: NOT GRADED — {res.error}\n\n")
            continue
        out.write(
            f"{res.submission}  [{res.notebook}]  score {res.score:g}/{res.max_score:g}  ({res.seconds:.1f} s)\n"
        )
        width = max([len("exercise"), *(len(e.exercise) for e in res.exercises)])
        out.write(f"  {'exercise':<{width}}  points  {'result':<8}  feedback\n")
        for e in res.exercises:
            pts = f"{e.points:g}/{e.max_points:g}"
            feedback = _short(e.feedback)
            if e.notes:
                feedback += ("  " if feedback else "") + "[" + "; ".join(e.notes) + "]"
            out.write(f"  {e.exercise:<{width}}  {pts:<6}  {e.status:<8}  {feedback}\n")
        out.write("\n")
    if len(results) > 1:
        graded = [r for r in results if not r.error]
        total = sum(r.score for r in graded)
        possible = sum(r.max_score for r in graded)
        out.write(f"{len(graded)} submissions graded, {total:g}/{possible:g} points in all\n")
    return out.getvalue()


_CSV_FIELDS = ["student", "submission", "notebook", "exercise", "points", "max_points", "status", "feedback", "notes"]


def write_csv(results: Iterable[SubmissionResult], path: Path | str) -> None:
    """One row per (submission, exercise) — the class sheet.  Exercises of lessons 1, 3, 5-7 and 9."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=_CSV_FIELDS)
        writer.writeheader()
        for res in results:
            if res.error:
                row = {"student": res.student, "submission": res.submission, "status": "not graded"}
                writer.writerow({**row, "feedback": res.error})
            for e in res.exercises:
                writer.writerow(
                    {
                        "student": res.student,
                        "submission": res.submission,
                        "notebook": res.notebook,
                        "exercise": e.exercise,
                        "points": f"{e.points:g}",
                        "max_points": f"{e.max_points:g}",
                        "status": e.status,
                        "feedback": e.feedback,
                        "notes": "; ".join(e.notes),
                    }
                )


def write_json(results: Iterable[SubmissionResult], path: Path | str) -> None:
    """The full results as JSON: per submission its score and every exercise's result and feedback.

    Exercises of lessons 1, 3, 5-7 and 9.
    """
    payload = {
        "submissions": [
            {
                "student": r.student,
                "submission": r.submission,
                "notebook": r.notebook,
                "score": r.score,
                "max_score": r.max_score,
                "seconds": round(r.seconds, 2),
                "error": r.error,
                "exercises": [asdict(e) for e in r.exercises],
            }
            for r in results
        ]
    }
    Path(path).write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def grade(
    submissions: Iterable[Path | str],
    source_dir: Path | str | None = None,
    timeout: float = 60.0,
    csv_path: Path | str | None = None,
    json_path: Path | str | None = None,
    out: TextIO | None = None,
) -> list[SubmissionResult]:
    """Grade several submissions, print the table to ``out`` (None: print nothing), write CSV/JSON.

    The Python entry point of ``stlearn grade``.  Exercises of lessons 1, 3, 5-7 and 9.
    """
    results = [grade_submission(s, source_dir, timeout) for s in submissions]
    if out is not None:
        out.write(format_report(results))
    if csv_path:
        write_csv(results, csv_path)
    if json_path:
        write_json(results, json_path)
    return results


def main_grade(args: Any) -> int:
    """``stlearn grade``: exit 0 when every submission was graded, 2 when one could not be.

    Exercises of lessons 1, 3, 5-7 and 9.
    """
    results = grade(args.submissions, args.source_dir, args.timeout, args.csv, args.json, out=sys.stdout)
    return 2 if any(r.error for r in results) else 0
