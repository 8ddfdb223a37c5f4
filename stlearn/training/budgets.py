"""How long each shipped model was trained, and whether two of them were trained alike (lessons 3-10).

A comparison of two trained models says something about their architectures only when both had the
same training budget. The shipped checkpoints record theirs (``pretrained_info(...).training``);
this module reads it, so the lessons state training lengths and budget caveats from the files
instead of from the text:

>>> from stlearn.training.budgets import compare_budgets, training_budget
>>> training_budget("moving_digits", "convlstm").describe()        # e.g. '1 000 iterations of batch 8'
>>> print(compare_budgets("moving_digits", ["convlstm", "predrnn_v2"]))

Taught in lesson 10 (comparing the models); lessons 3-7 quote the training length with it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from .config import TrainConfig, schedule_constants
from .pretrained import pretrained_info

__all__ = [
    "LABELS",
    "Budget",
    "BudgetComparison",
    "compare_budgets",
    "grouped",
    "sampling_constants",
    "training_budget",
]

#: How the lessons spell each model's name.
LABELS = {"convlstm": "ConvLSTM", "predrnn": "PredRNN", "predrnn_v2": "PredRNN-V2", "mim": "MIM", "trajgru": "TrajGRU"}


def grouped(n: float) -> str:
    """An integer with its thousands grouped by spaces, as the lessons print them: 6000 → '6 000' (lesson 3 on)."""
    return f"{round(n):,}".replace(",", " ")


@dataclass(frozen=True)
class Budget:
    """One shipped model's training budget, read from its checkpoint (lesson 10; quoted from lesson 3 on)."""

    dataset: str
    model: str
    iterations: int
    batch_size: int
    device: str
    seconds: float
    amp: bool

    @property
    def sequences(self) -> int:
        """Training sequences seen: iterations × batch size."""
        return self.iterations * self.batch_size

    def describe(self) -> str:
        """'6 000 iterations of batch 16' (lesson 3 on)."""
        return f"{grouped(self.iterations)} iterations of batch {self.batch_size}"


def training_budget(dataset: str, model: str) -> Budget:
    """The training budget of the shipped ``model`` on ``dataset`` (lesson 10; quoted from lesson 3 on)."""
    training = pretrained_info(dataset, model).training
    config = training.get("config", {})
    return Budget(
        dataset=dataset,
        model=model,
        iterations=int(training["iterations_done"]),
        batch_size=int(config["batch_size"]),
        device=str(training.get("device", config.get("device", "cpu"))),
        seconds=float(training.get("seconds", 0.0)),
        amp=bool(config.get("amp", False)),
    )


@dataclass(frozen=True)
class BudgetComparison:
    """Whether a set of shipped models had the same training budget, and which had which (lesson 10, lesson 7)."""

    budgets: dict[str, Budget]

    @property
    def groups(self) -> list[tuple[tuple[int, int], list[str]]]:
        """(iterations, batch size) → the models trained so, largest budget first."""
        out: dict[tuple[int, int], list[str]] = {}
        for name, b in self.budgets.items():
            out.setdefault((b.iterations, b.batch_size), []).append(name)
        return sorted(out.items(), key=lambda kv: (-kv[0][0] * kv[0][1], -kv[0][0]))

    @property
    def equal(self) -> bool:
        """True when every model had the same iterations and batch size."""
        return len(self.groups) <= 1

    @property
    def ratio(self) -> float:
        """Most training sequences over fewest (1.0 at equal budget)."""
        seen = [b.sequences for b in self.budgets.values()]
        return max(seen) / min(seen) if seen else 1.0

    def __str__(self) -> str:
        def names(models: list[str]) -> str:
            return ", ".join(LABELS.get(m, m) for m in models)

        if self.equal:
            (its, bs), models = self.groups[0]
            each = "both" if len(models) == 2 else "all"
            return (
                f"Equal training budget: {names(models)} {each} trained for {grouped(its)} iterations of batch {bs} "
                f"({grouped(its * bs)} sequences each)."
            )
        parts = [
            f"{names(models)}: {grouped(its)} iterations × batch {bs} = {grouped(its * bs)} sequences"
            for (its, bs), models in self.groups
        ]
        return (
            "NOT an equal-budget comparison — "
            + "; ".join(parts)
            + f" (the largest budget is {self.ratio:.3g}× the smallest). A score difference between models with "
            "different budgets is not evidence about their architectures."
        )


def compare_budgets(dataset: str, models: list[str] | tuple[str, ...]) -> BudgetComparison:
    """The training budgets of ``models`` on ``dataset``, side by side (lesson 10, lesson 7).

    ``str()`` of the result is one sentence: "Equal training budget: ..." or "NOT an equal-budget
    comparison — ...", naming which models had which budget.
    """
    return BudgetComparison({m: training_budget(dataset, m) for m in models})


def sampling_constants(dataset: str, model: str) -> dict[str, Any]:
    """The shipped model's sampling schedule in iterations, as ``stlearn.training.schedules`` takes it (lesson 4).

    Lesson 7 compares PredRNN's schedule with PredRNN-V2's with it.

    A configuration may give the schedule as fractions of the run (``stop_fraction = 0.625``);
    this resolves them against the run's length, so the result can be passed as
    ``scheduled_sampling_probability(k, **constants)`` (or the reverse schedule's functions).
    """
    training = pretrained_info(dataset, model).training
    raw = training["config"]
    known = {f.name for f in fields(TrainConfig)}
    # a run whose length a time budget planned: its schedule's fractions refer to the planned length
    return schedule_constants(TrainConfig(**{k: v for k, v in raw.items() if k in known}),
                              training.get("iterations_planned"))
