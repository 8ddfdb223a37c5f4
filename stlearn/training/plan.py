"""How long a run is: a fixed number of iterations, or as many as fit in a time budget.

The learning rate and the sampling schedules are functions of the run's progress ``k / N``
(:mod:`stlearn.training.config`). With a fixed length, ``N = iterations``. With a ``time_budget``
(seconds of wall clock for the whole run), :class:`Plan` measures the run's speed and sets ``N`` to
what fits before the deadline — the training steps and the validations still to come — re-planning
every :data:`CALIBRATE_AT` iterations (when several runs share one GPU, each one's speed changes as
the others start and finish), so that the run ends at the end of its plan, schedules run down, before
its deadline. ``N`` never exceeds ``iterations``.

Runs that share a machine can also share a length: with ``peers`` (a folder), each run writes the
length it fits into ``<peers>/<name>.plan`` and plans the shortest of them all, so the models of one
data set train for the same number of iterations — as many as the slowest of them fits in the window —
and a faster model that finishes early leaves its share of the GPU to the others. A shared length only
ever shrinks (a peer that finished at a length cannot grow it again), so speeds that rise later leave
time unused rather than lengths unequal.

Lesson 4 explains the schedules; the time budget is what lets ten runs share a short GPU window.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path

#: iterations between re-plans; the speed is measured from the first of them on (after the start-up:
#: CUDA graph capture, allocator warm-up) and from each validation on
CALIBRATE_AT = 20
#: share of the remaining time the plan fills (the rest absorbs speed changes)
FILL = 0.97


class Plan:
    """The planned length of a run and its deadline.

    Args:
        iterations: the configured length (an upper bound when ``time_budget`` is set).
        time_budget: seconds for the whole run, or None for a fixed length.
        planned: the length a resumed run had planned (from its checkpoint).
        spent: wall-clock seconds the run had already used before this process (resume).
        clock: seconds from an arbitrary start (``time.perf_counter``; the tests pass a simulated one).
        peers: a folder shared with the runs that must end at the same length (``stlearn train --pace``).
        name: this run's file name in ``peers``.
        val_every: iterations between validations (each costs time the plan keeps for it).
    """

    def __init__(self, iterations: int, time_budget: float | None = None, planned: int | None = None,
                 spent: float = 0.0, clock: Callable[[], float] = time.perf_counter,
                 peers: str | Path | None = None, name: str = "run", val_every: int = 100) -> None:  # fmt: skip
        self.clock = clock
        self.peers, self.name = (Path(peers) if peers is not None else None), name
        self.max_iterations = iterations
        self.time_budget = time_budget
        self.iterations = iterations if time_budget is None or planned is None else min(planned, iterations)
        self.spent = spent
        self._t0 = clock()
        self._mark: tuple[int, float] | None = None
        self.val_every = val_every
        # seconds one validation and save take: a guess until the first one is measured
        self.val_cost = 0.0 if time_budget is None else min(20.0, 0.03 * time_budget)

    @property
    def timed(self) -> bool:
        return self.time_budget is not None

    def elapsed(self) -> float:
        """Wall-clock seconds of the whole run so far (earlier processes included)."""
        return self.spent + self.clock() - self._t0

    def remaining(self) -> float:
        return math.inf if self.time_budget is None else self.time_budget - self.elapsed()

    def mark(self, done: int) -> None:
        """Start measuring the speed from iteration ``done`` on (after start-up, after a validation)."""
        self._mark = (done, self.clock())

    def validated(self, seconds: float) -> None:
        """A validation (and save) took ``seconds``: keep that much time for each one still to come."""
        self.val_cost = seconds

    def replan(self, done: int) -> int:
        """Refit the planned length to the time left at the speed measured since the last :meth:`mark`.

        ``n`` more iterations cost ``n / rate`` seconds of steps and ``n / val_every`` validations, and
        the last validation and save must fit too: ``n = (remaining − val_cost) / (1/rate + val_cost/val_every)``.
        """
        if self.time_budget is None or self._mark is None:
            return self.iterations
        k0, t0 = self._mark
        dt = self.clock() - t0
        if done <= k0 or dt <= 0:
            return self.iterations
        rate = (done - k0) / dt
        left = max(0.0, self.remaining() - self.val_cost) * FILL
        fit = min(self.max_iterations, done + math.floor(left / (1.0 / rate + self.val_cost / self.val_every)))
        shared = self._shortest_of_peers(fit)
        if self.peers is not None:  # a shared length never grows back: finished peers stay at it
            shared = min(shared, self.iterations)
        self.iterations = max(done + 1, shared)
        return self.iterations

    def _shortest_of_peers(self, fit: int) -> int:
        """Publish ``fit`` in the peers folder and return the shortest length any peer has published."""
        if self.peers is None:
            return fit
        self.peers.mkdir(parents=True, exist_ok=True)
        mine = self.peers / f"{self.name}.plan"
        tmp = mine.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(str(fit))
        os.replace(tmp, mine)  # a peer never reads half a number
        lengths = []
        for path in self.peers.glob("*.plan"):
            try:
                lengths.append(int(path.read_text()))
            except (OSError, ValueError):
                continue
        return min([fit, *lengths])

    def over(self, done: int, clock: bool = True) -> bool:
        """True when the run should stop after iteration ``done``: its planned length or (``clock``) its deadline.

        Data-parallel ranks pass ``clock=False``: their clocks differ, so they stop on the planned length
        only, which rank 0 sets for all of them at each validation.
        """
        return done >= self.iterations or (clock and self.late())

    def late(self) -> bool:
        """Only the last validation and save still fit before the deadline."""
        return self.remaining() <= self.val_cost
