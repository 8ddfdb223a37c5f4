"""Student versions of the exercise notebooks: ``stlearn make-student``.

Reads every ``stlearn/exercises/source/*.ipynb`` (the sources, with the reference solution between
nbgrader's ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers) and writes
``notebooks/student/<same name>``: each solution region replaced by a stub that raises
``NotImplementedError`` with the exercise's hint (cell metadata ``stlearn.hint``), all outputs and
execution counts cleared, everything else (explanations, check cells, metadata) kept. The output
is deterministic, so the committed student notebooks can be compared with a fresh build
(``make_student(check=True)``, ``stlearn make-student --check``).

Used for the exercises of lesson 1, 3, 5, 6, 7 and 9.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

__all__ = ["exercise_dir", "make_student", "stub_source", "student_dir", "student_notebook"]

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
_REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*$", re.M | re.S)


def _repo() -> Path:
    return Path(__file__).resolve().parents[2]


def exercise_dir() -> Path:
    """``stlearn/exercises/source`` (the source notebooks, with the reference solutions: kept out of
    ``notebooks/``, which JupyterLab shows learners).  Exercises of lesson 1, 3, 5-7 and 9."""
    return Path(__file__).resolve().parent / "source"


def student_dir() -> Path:
    """``notebooks/student`` of the repository (the generated notebooks).  Exercises of lesson 1, 3, 5-7 and 9."""
    return _repo() / "notebooks" / "student"


def stub_source(source: str, name: str, hint: str) -> str:
    """Replace every solution region of a cell by ``# YOUR CODE HERE`` and a ``NotImplementedError``.

    The stub keeps the indentation of the ``### BEGIN SOLUTION`` line.  Used for the exercises of
    lesson 1, 3, 5-7 and 9.
    """
    if BEGIN not in source:
        raise ValueError(f"make-student: the solution cell of '{name}' has no '{BEGIN}' marker")
    message = f"Write {name}. Hint: {hint}" if hint else f"Write {name}."

    def stub(match: re.Match[str]) -> str:
        indent = match.group(1)
        return f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError({message!r})"

    out, count = _REGION.subn(stub, source)
    if count == 0 or BEGIN in out or END in out:
        raise ValueError(f"make-student: unbalanced solution markers in the cell of '{name}'")
    return out


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student version of one source notebook (a new object; the source is not changed).

    Used for the exercises of lesson 1, 3, 5-7 and 9.
    """
    out = copy.deepcopy(nb)
    for cell in out.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)
        meta = cell.metadata.get("stlearn", {})
        if meta.get("role") == "solution":
            cell.source = stub_source(cell.source, meta["exercise"], meta.get("hint", ""))
        elif BEGIN in cell.source:
            raise ValueError(f"make-student: a solution region outside a solution cell: {cell.source[:60]!r}")
    out.metadata.setdefault("stlearn", {})["student"] = True
    return out


def _render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def make_student(
    source_dir: Path | str | None = None, out_dir: Path | str | None = None, check: bool = False
) -> list[Path]:
    """Write (or, with ``check=True``, compare) the student version of every source notebook.

    Returns the student notebooks written; with ``check=True`` the ones that are missing or differ
    from a fresh build (an empty list means no drift).  Exercises of lesson 1, 3, 5-7 and 9.
    """
    src = Path(source_dir) if source_dir else exercise_dir()
    dst = Path(out_dir) if out_dir else student_dir()
    sources = sorted(src.glob("*.ipynb"))
    if not sources:
        raise FileNotFoundError(f"make-student: no notebooks in {src}")
    changed: list[Path] = []
    for path in sources:
        text = _render(student_notebook(nbformat.read(path, as_version=4)))
        target = dst / path.name
        if check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                changed.append(target)
            continue
        dst.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        changed.append(target)
    if check:
        expected = {p.name for p in sources}
        changed += [p for p in sorted(dst.glob("*.ipynb")) if p.name not in expected]
    return changed
