"""The course's graded exercises, read from the source notebooks: lesson, notebook, title and points.

Every check cell of a source notebook carries its exercise's lesson (cell metadata
``stlearn.lesson``) and points (``nbgrader.points``); the title is the heading of the exercise's
explanation (``## Exercise 2 — the forget gate``). The course map lists them per lesson
(:func:`course_table`), so the table cannot drift from the notebooks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .student import exercise_dir

__all__ = ["Entry", "by_lesson", "course_table", "exercises"]

_HEADING = re.compile(r"^##\s+Exercise\s+\d+\s*[—–-]\s*(.+?)\s*$", re.M)


@dataclass(frozen=True)
class Entry:
    """One graded exercise (listed on the course map, lesson 0)."""

    lesson: int
    notebook: str
    exercise: str
    title: str
    points: float
    kind: str  # "write" (a function), "train" (a model), "answer" (read a figure or predict, then verify)


def _title(cells: list, index: int) -> str:
    for cell in reversed(cells[:index]):
        if cell.cell_type == "markdown":
            match = _HEADING.search(cell.source)
            if match:
                return re.sub(r"\s*\(lesson \d+\)$", "", match.group(1))
    return ""


def exercises(source_dir: Path | str | None = None) -> list[Entry]:
    """Every exercise of the source notebooks, in notebook order (the course map's table, lesson 0).

    Raises ValueError for a check cell without its lesson: the table must say where each exercise belongs.
    """
    out = []
    for path in sorted(Path(source_dir or exercise_dir()).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for k, cell in enumerate(nb.cells):
            meta = cell.metadata.get("stlearn", {})
            if meta.get("role") != "check":
                continue
            lesson = meta.get("lesson")
            if not isinstance(lesson, int):
                raise ValueError(f"{path.name}: the check cell of {meta.get('exercise')!r} has no stlearn.lesson")
            points = float(cell.metadata.get("nbgrader", {}).get("points", 1))
            title = _title(nb.cells, k)
            out.append(Entry(lesson, path.stem, meta["exercise"], title, points, meta.get("kind", "write")))
    return out


def by_lesson(source_dir: Path | str | None = None) -> dict[int, list[Entry]]:
    """The exercises grouped by lesson, lessons in order (lesson 0, the course map)."""
    groups: dict[int, list[Entry]] = {}
    for entry in sorted(exercises(source_dir), key=lambda e: e.lesson):
        groups.setdefault(entry.lesson, []).append(entry)
    return groups


_KIND = {"write": "", "train": " · trains a model", "answer": " · read & answer"}


def course_table(source_dir: Path | str | None = None) -> str:
    """A Markdown table: per lesson its exercises (title, points, kind) and the notebooks they are in (lesson 0).

    The notebooks are linked relative to ``notebooks/`` (where the course map is).
    """
    rows = ["| Lesson | Exercises (points) | Notebook | Points |", "|---:|---|---|---:|"]
    total = 0.0
    for lesson, entries in by_lesson(source_dir).items():
        items = "; ".join(f"{e.title} ({e.points:g}{_KIND.get(e.kind, '')})" for e in entries)
        notebooks = ", ".join(sorted({f"[{e.notebook}](student/{e.notebook}.ipynb)" for e in entries}))
        points = sum(e.points for e in entries)
        total += points
        rows.append(f"| {lesson} | {items} | {notebooks} | {points:g} |")
    count = len(exercises(source_dir))
    rows.append(f"| | **{count} exercises** | | **{total:g}** |")
    return "\n".join(rows)
