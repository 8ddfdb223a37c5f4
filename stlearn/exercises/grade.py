"""Grading exercise submissions: ``stlearn grade SUBMISSION.ipynb [MORE ...]`` or :func:`grade`.

Nothing the grader trusts runs beside the learner's code. For each submission:

1. Its source notebook is found among the sources (:func:`stlearn.exercises.student.exercise_dir`):
   by the file name (``ex03_convlstm_gates_alice.ipynb``, ``alice/ex03_convlstm_gates.ipynb``), by
   notebook metadata ``stlearn.notebook`` only when it *is* one of the sources' names (never used
   as a path), else by its exercise ids. The student is named from the path alone: the rest of
   the file name (``alice``) or, for ``alice/ex03_convlstm_gates.ipynb``, the folder.
2. The graded notebook is rebuilt from the **source's** cells; only the submission's solution
   cells (cell metadata ``stlearn.exercise`` / ``nbgrader.grade_id``) are taken from it. Its check
   cells and extra cells are ignored.
3. A :class:`~stlearn.exercises.sandbox.Sandbox` (bubblewrap: no project files, no other
   submissions, no network, a scrubbed environment, limits on memory, CPU, processes and output)
   runs the set-up cells and the solution cells, nothing else (not the *explore* cells, metadata
   ``stlearn.role = "explore"``, which use stlearn to show the real model or data a question asks
   about). For each exercise the grader draws
   fresh inputs in its own process, sends them as plain data, and receives what the learner's
   function returned, raised and changed, as plain data (:mod:`stlearn.exercises.worker`).
4. The verdict is reached **in the grader's process** (:func:`stlearn.exercises._core.judge`):
   the reference and the known mistakes never enter the sandbox, so there is nothing there to
   reach, patch or read; no scan of the learner's code is needed, and none is made.
5. Every time limit holds: an exercise's solution cell and its check share ``timeout`` seconds;
   set-up cells get ``setup_timeout`` each. A timeout or a crash (``os._exit``, a segfault, out of
   memory) costs the exercise whose cell caused it, once: that cell is never run again, a fresh
   sandbox is started and the cells that had run are replayed (each under its own limit) so the
   later exercises keep their state.
6. An exercise scores its points (``nbgrader.points`` of the source's check cell, default 1) when
   the verdict passes; the feedback is the judge's message.

Used by instructors for the exercises of lesson 1, 3, 5-7 and 9.
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import nbformat

from ._core import draw_cases, encode_cases, judge
from .checks import SPECS
from .sandbox import Limits, Sandbox, SandboxUnavailable, find_sandbox
from .student import exercise_dir

__all__ = [
    "ExerciseResult",
    "SubmissionResult",
    "format_report",
    "grade",
    "grade_submission",
    "main_grade",
    "student_name",
    "write_csv",
    "write_json",
]

UNSAFE_WARNING = (
    "UNSAFE: graded WITHOUT a sandbox (--unsafe): the submissions' code ran with your user's rights, "
    "could read and write your files and reach the network; grade untrusted work only with bubblewrap"
)


@dataclass
class ExerciseResult:
    """One exercise of one submission (an exercise of lesson 1, 3, 5-7 and 9)."""

    exercise: str
    points: float
    max_points: float
    status: str  # pass, fail, error, timeout, crash, missing
    feedback: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class SubmissionResult:
    """A graded submission: per-exercise results and the total (exercises of lesson 1, 3, 5-7 and 9)."""

    submission: str
    student: str
    notebook: str
    exercises: list[ExerciseResult]
    seconds: float = 0.0
    error: str = ""
    sandbox: str = "bubblewrap"

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
    if not isinstance(st, dict):
        st = {}
    if st.get("role") in ("solution", "check") and isinstance(st.get("exercise"), str):
        return st["role"], st["exercise"]
    nb = meta.get("nbgrader", {})
    if not isinstance(nb, dict):
        return None, None
    grade_id = nb.get("grade_id")
    if isinstance(grade_id, str) and nb.get("solution"):
        return "solution", grade_id
    if isinstance(grade_id, str) and nb.get("grade"):
        return "check", grade_id.removeprefix("check_")
    return None, None


def _explore(cell: Any) -> bool:
    """A cell that looks at the real model or data with stlearn (a figure to read): never run when grading."""
    meta = cell.get("metadata", {}).get("stlearn", {})
    return isinstance(meta, dict) and meta.get("role") == "explore"


def _sources(source_dir: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(source_dir.glob("*.ipynb"))}


def student_name(path: Path | str, source_stems: Iterable[str]) -> str:
    """The student a submission belongs to, from its path only (never from what is inside the file).

    ``ex03_convlstm_gates_alice.ipynb`` → ``alice``; ``alice/ex03_convlstm_gates.ipynb`` → ``alice``;
    anything else → the file's stem.  Used by ``stlearn grade`` (exercises of lesson 1, 3, 5-7 and 9).
    """
    path = Path(path)
    for stem in sorted(source_stems, key=len, reverse=True):
        if path.stem == stem and path.parent.name:
            return path.parent.name
        if path.stem.startswith(stem + "_") and len(path.stem) > len(stem) + 1:
            return path.stem[len(stem) + 1 :]
    return path.stem


def _find_source(submission: nbformat.NotebookNode, path: Path, source_dir: Path) -> Path:
    sources = _sources(source_dir)
    for stem in sorted(sources, key=len, reverse=True):
        if path.stem == stem or path.stem.startswith(stem + "_"):
            return sources[stem]
    meta = submission.metadata.get("stlearn", {})
    name = meta.get("notebook") if isinstance(meta, dict) else None
    if isinstance(name, str) and name in sources:  # a name from the list, never a path
        return sources[name]
    ids = {ex for cell in submission.cells for role, ex in [_role(cell)] if role == "solution"}
    for candidate in sources.values():
        nb = nbformat.read(candidate, as_version=4)
        if ids and ids <= {ex for cell in nb.cells for role, ex in [_role(cell)] if role == "solution"}:
            return candidate
    raise FileNotFoundError(f"no source notebook in {source_dir} matches {path.name}")


# --------------------------------------------------------------------------------------------
# the plan: which cells run, and what each exercise is worth
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
        if role == "solution" and ex not in solutions and cell.get("cell_type") == "code":
            solutions[ex] = cell
        elif role == "check":
            checks.setdefault(ex, []).append(str(cell.get("source", "")))
    steps: list[_Step] = []
    info: dict[str, dict] = {}
    for cell in source.cells:
        if cell.cell_type != "code" or _explore(cell):
            continue
        role, ex = _role(cell)
        if role == "solution":
            sub = solutions.get(ex)
            info.setdefault(ex, {"points": 1.0, "notes": []})
            code = None if sub is None else str(sub.get("source", ""))
            steps.append(_Step("solution", ex, code))
        elif role == "check":
            if ex not in SPECS:
                raise ValueError(f"the source's check cell names an exercise stlearn has no check for: {ex!r}")
            points = float(cell.metadata.get("nbgrader", {}).get("points", 1))
            entry = info.setdefault(ex, {"points": points, "notes": []})
            entry["points"] = points
            submitted = checks.get(ex, [])
            if not submitted:
                entry["notes"].append("check cell deleted in the submission (graded all the same)")
            elif any(s.strip() != cell.source.strip() for s in submitted):
                entry["notes"].append("check cell edited in the submission (ignored)")
            steps.append(_Step("check", ex, None))
        else:
            steps.append(_Step("setup", None, cell.source))
    return steps, info


# --------------------------------------------------------------------------------------------
# grading one submission
# --------------------------------------------------------------------------------------------


@dataclass
class _Ran:
    """A cell that ran without a timeout or a crash: replayed in a fresh sandbox."""

    code: str
    exercise: str | None
    limit: float


def _error_text(reply: dict) -> str:
    error = reply.get("error") or {}
    if not isinstance(error, dict):
        return "an error"
    text = f"{error.get('type', 'Error')}: {error.get('message', '')}{error.get('where', '')}"
    if "No module named 'stlearn" in text:
        text += " (stlearn, its reference solutions and checkers are not there when you are graded: use torch)"
    return text


class _Grading:
    """The state of one submission's grading: the sandbox, the results, what to replay."""

    def __init__(self, sandbox: Sandbox, results: dict[str, ExerciseResult], setup_timeout: float) -> None:
        self.sandbox = sandbox
        self.results = results
        self.setup_timeout = setup_timeout
        self.replay: list[_Ran] = []
        self.decided: set[str] = set()

    def charge(self, ex: str, status: str, feedback: str) -> None:
        """A timeout or crash caused by ``ex``'s cell: no credit for it, once."""
        result = self.results[ex]
        result.status, result.points, result.feedback = status, 0.0, feedback
        self.decided.add(ex)

    def restart(self) -> bool:
        """A fresh sandbox with the state rebuilt; a replayed cell that now fails is charged and dropped."""
        while True:
            if not self.sandbox.start(self.setup_timeout):
                return False
            for item in list(self.replay):
                reply = self.sandbox.request({"op": "run", "code": item.code}, item.limit)
                if reply.get("status") in ("timeout", "crash"):
                    self.replay.remove(item)
                    if item.exercise is not None:
                        what = "ran out of time" if reply["status"] == "timeout" else "crashed"
                        self.charge(
                            item.exercise,
                            reply["status"],
                            f"the solution cell of {item.exercise} {what} when it was run again after a restart "
                            "(to rebuild the state for later exercises): it must behave the same every time",
                        )
                    break
            else:
                return True


def grade_submission(
    submission: Path | str,
    source_dir: Path | str | None = None,
    timeout: float = 60.0,
    setup_timeout: float = 300.0,
    unsafe: bool = False,
    limits: Limits | None = None,
) -> SubmissionResult:
    """Grade one submitted notebook in a sandbox; the verdicts are reached in this process.

    ``timeout`` is each exercise's budget (its solution cell and its check together); set-up
    cells get ``setup_timeout`` each.  Raises :class:`SandboxUnavailable` when no sandbox can run
    and ``unsafe`` is False.  Used by instructors for the exercises of lesson 1, 3, 5-7 and 9.
    """
    if not unsafe:
        reason = find_sandbox()
        if reason is not None:
            raise SandboxUnavailable(f"cannot grade safely: {reason}; or pass --unsafe (no isolation)")
    start = time.monotonic()
    path = Path(submission)
    src_dir = Path(source_dir) if source_dir else exercise_dir()
    student = student_name(path, _sources(src_dir))
    label = "UNSAFE (no sandbox)" if unsafe else "bubblewrap"
    try:
        sub_nb = nbformat.read(path, as_version=4)
        source_path = _find_source(sub_nb, path, src_dir)
        steps, info = _plan(nbformat.read(source_path, as_version=4), sub_nb)
    except Exception as exc:
        return SubmissionResult(str(path), student, "", [], time.monotonic() - start, f"{exc}", label)
    results = {
        ex: ExerciseResult(ex, 0.0, entry["points"], "fail", "", list(entry["notes"])) for ex, entry in info.items()
    }
    solution_errors: dict[str, str] = {}
    spent: dict[str, float] = {}
    with Sandbox(path, unsafe=unsafe, limits=limits) as sandbox:
        state = _Grading(sandbox, results, setup_timeout)
        if not state.restart():
            return SubmissionResult(
                str(path), student, source_path.stem, [], time.monotonic() - start, "the sandbox did not start", label
            )
        for step in steps:
            ex = step.exercise
            if step.kind == "setup":
                reply = sandbox.request({"op": "run", "code": step.code or ""}, setup_timeout)
                if reply.get("status") in ("timeout", "crash"):
                    state.restart()
                else:
                    state.replay.append(_Ran(step.code or "", None, setup_timeout))
                continue
            assert ex is not None
            if ex in state.decided:
                continue
            result = results[ex]
            if step.kind == "solution":
                if step.code is None:
                    result.status = "missing"
                    result.feedback = f"the solution cell of {ex} is missing from the submission"
                    state.decided.add(ex)
                    continue
                t0 = time.monotonic()
                reply = sandbox.request({"op": "run", "code": step.code}, timeout)
                spent[ex] = time.monotonic() - t0
                status = reply.get("status")
                if status in ("ok", "error"):
                    state.replay.append(_Ran(step.code, ex, timeout))  # what it defined before an error counts
                    if status == "error":
                        solution_errors[ex] = _error_text(reply)
                else:
                    state.charge(
                        ex,
                        str(status),
                        f"the solution cell of {ex} ran longer than {timeout:g} s (an infinite loop?)"
                        if status == "timeout"
                        else f"the sandbox died while running the solution cell of {ex} (exit(), os._exit, a crash, "
                        "out of memory?)",
                    )
                    state.restart()
                continue
            _check(state, ex, max(1.0, timeout - spent.get(ex, 0.0)), timeout, solution_errors.get(ex))
    ordered = [results[ex] for ex in info]
    return SubmissionResult(str(path), student, source_path.stem, ordered, time.monotonic() - start, "", label)


def _check(state: _Grading, ex: str, budget: float, timeout: float, solution_error: str | None) -> None:
    """Probe the learner's function in the sandbox and judge the observations here."""
    spec = SPECS[ex]
    result = state.results[ex]
    seed = secrets.randbits(31)
    cases = draw_cases(spec, seed)
    request = {"op": "probe", "function": spec.name, "cases": encode_cases(cases), "grad_args": list(spec.grad_args)}
    reply = state.sandbox.request(request, budget)
    status = reply.get("status")
    state.decided.add(ex)
    before = f"the solution cell raised {solution_error}; then " if solution_error else ""
    if status == "timeout":
        state.charge(
            ex, "timeout", f"{before}the check of {ex} ran past the exercise's {timeout:g} s: an infinite loop?"
        )
        state.restart()
        return
    if status == "crash":
        state.charge(ex, "crash", f"{before}the sandbox died while checking {ex} (exit(), os._exit, out of memory?)")
        state.restart()
        return
    if status == "missing":
        result.status, result.feedback = "fail", f"{before}{reply.get('message', '')}"
        return
    if status != "ok" or not isinstance(reply.get("observations"), list):
        result.status, result.feedback = (
            "error",
            f"{before}the check of {ex} got no observations ({_error_text(reply)})",
        )
        return
    try:
        verdict = judge(spec, cases, reply["observations"], seed)
    except Exception as exc:  # malformed data from the sandbox: no credit, and say so
        result.status, result.feedback = "error", f"the observations of {ex} could not be judged ({exc})"
        return
    if verdict.passed:
        result.status, result.points, result.feedback = "pass", result.max_points, verdict.message
    else:
        result.status, result.feedback = "fail", before + verdict.message.removeprefix(f"{spec.name}: ")


# --------------------------------------------------------------------------------------------
# reports
# --------------------------------------------------------------------------------------------


def _short(text: str, width: int = 100) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def format_report(results: Sequence[SubmissionResult]) -> str:
    """The terminal table: per submission, one line per exercise (points, result, feedback).

    Used by ``stlearn grade`` (exercises of lesson 1, 3, 5-7 and 9).
    """
    out = io.StringIO()
    if any(r.sandbox != "bubblewrap" for r in results):
        out.write(f"!!! {UNSAFE_WARNING}\n\n")
    for res in results:
        if res.error:
            out.write(f"{res.submission}: NOT GRADED — {res.error}\n\n")
            continue
        out.write(f"{res.submission}  [{res.notebook}]  score {res.score:g}/{res.max_score:g}  ({res.seconds:.1f} s)\n")
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
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


def _cell(text: Any) -> str:
    """A CSV field a spreadsheet shows as text: a leading =, +, -, @ ... (a formula) gets a quote in front."""
    text = str(text)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename: never half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _rows(results: Iterable[SubmissionResult]) -> list[dict[str, str]]:
    rows = []
    for res in results:
        if res.error:
            rows.append(
                {"student": res.student, "submission": res.submission, "notebook": res.notebook, "exercise": "",
                 "points": "", "max_points": "", "status": "not graded", "feedback": res.error, "notes": ""}
            )  # fmt: skip
        for e in res.exercises:
            rows.append(
                {
                    "student": res.student,
                    "submission": res.submission,
                    "notebook": res.notebook,
                    "exercise": e.exercise,
                    "points": f"{e.points:g}",
                    "max_points": f"{e.max_points:g}",
                    "status": e.status,
                    "feedback": e.feedback,
                    "notes": "; ".join([*e.notes, *([UNSAFE_WARNING] if res.sandbox != "bubblewrap" else [])]),
                }
            )
    return [{k: _cell(v) for k, v in row.items()} for row in rows]


def write_csv(results: Iterable[SubmissionResult], path: Path | str) -> None:
    """The class sheet, one row per (student, notebook, exercise), merged with what ``path`` already holds.

    A re-run replaces the rows of the (student, notebook, exercise) it graded and keeps every other
    row; the file is written whole or not at all; fields a spreadsheet would run as formulas are
    quoted.  A file that is not a class sheet is never overwritten (ValueError).  Exercises of
    lesson 1, 3, 5-7 and 9.
    """
    path = Path(path)
    new = _rows(results)
    old: list[dict[str, str]] = []
    if path.exists():
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames != _CSV_FIELDS:
                raise ValueError(
                    f"{path} is not a class sheet written by stlearn grade (its columns differ): not touched"
                )
            old = list(reader)
    key = lambda row: (row["student"], row["notebook"], row["exercise"])  # noqa: E731
    graded = {(row["student"], row["notebook"]) for row in new}
    kept = [row for row in old if (row["student"], row["notebook"]) not in graded]
    merged = sorted(kept + new, key=key)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(merged)
    _atomic_write(path, out.getvalue())


def write_json(results: Iterable[SubmissionResult], path: Path | str) -> None:
    """The full results as JSON: per submission its score and every exercise's result and feedback.

    Written whole or not at all.  Exercises of lesson 1, 3, 5-7 and 9.
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
                "sandbox": r.sandbox,
                "error": r.error,
                "exercises": [asdict(e) for e in r.exercises],
            }
            for r in results
        ]
    }
    _atomic_write(Path(path), json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def _check_output(path: Path | str | None, what: str) -> None:
    if not path:
        return
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise FileNotFoundError(f"--{what}: the folder {folder} does not exist (create it first); nothing was graded")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"--{what}: cannot write into {folder}; nothing was graded")
    if Path(path).is_dir():
        raise IsADirectoryError(f"--{what}: {path} is a folder; give a file name; nothing was graded")


def grade(
    submissions: Iterable[Path | str],
    source_dir: Path | str | None = None,
    timeout: float = 60.0,
    csv_path: Path | str | None = None,
    json_path: Path | str | None = None,
    out: TextIO | None = None,
    jobs: int = 1,
    unsafe: bool = False,
    setup_timeout: float = 300.0,
) -> list[SubmissionResult]:
    """Grade several submissions (``jobs`` at a time), print the table to ``out``, write CSV/JSON.

    The output folders are checked before anything is graded, and no sandbox means no grading
    unless ``unsafe`` (:class:`SandboxUnavailable`).  The Python entry point of ``stlearn grade``.
    Exercises of lesson 1, 3, 5-7 and 9.
    """
    _check_output(csv_path, "csv")
    _check_output(json_path, "json")
    if not unsafe and (reason := find_sandbox()) is not None:
        raise SandboxUnavailable(f"cannot grade safely: {reason}; or pass --unsafe (no isolation)")
    paths = list(submissions)

    def one(p: Path | str) -> SubmissionResult:
        return grade_submission(p, source_dir, timeout, setup_timeout, unsafe)

    if jobs > 1 and len(paths) > 1:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(one, paths))
    else:
        results = [one(p) for p in paths]
    if out is not None:
        out.write(format_report(results))
    if csv_path:
        write_csv(results, csv_path)
    if json_path:
        write_json(results, json_path)
    return results


def main_grade(args: Any) -> int:
    """``stlearn grade``: exit 0 when every submission was graded, 2 when one could not be (or nothing was).

    Exercises of lesson 1, 3, 5-7 and 9.
    """
    unsafe = bool(getattr(args, "unsafe", False))
    if unsafe:
        print(UNSAFE_WARNING, file=sys.stderr)
    try:
        results = grade(
            args.submissions,
            args.source_dir,
            args.timeout,
            args.csv,
            args.json,
            out=sys.stdout,
            jobs=max(1, int(getattr(args, "jobs", 1) or 1)),
            unsafe=unsafe,
        )
    except (SandboxUnavailable, OSError, ValueError) as exc:
        print(f"stlearn grade: {exc}", file=sys.stderr)
        return 2
    if unsafe:
        print(UNSAFE_WARNING, file=sys.stderr)
    return 2 if any(r.error for r in results) else 0
