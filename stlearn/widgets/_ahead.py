"""Computing ahead: the states a view will likely show next, computed in the background while the learner looks.

A key press moves a control one step, and then the learner looks at the picture. :class:`ComputeAhead` uses
that pause: after each update the view names the states one step away (the next pixel, the next value of an
edit, the next channel), and one background thread computes them, one at a time, the continuation of the last
move first, until the view names others. A state computed ahead is shown without a model pass; one that was
not (a jump) is computed when asked for, as before. The results are the same either way: the same function
computes them, on one torch thread (:func:`~stlearn.models.base.lesson_pass`).

Used by the views whose update is a model pass: GateSurgery (lessons 4-6, an edited forecast) and
ConnectivityExplorer (lesson 10, two backward passes). A view whose work ahead is drawing (matplotlib, which is
not thread-safe) does it on the kernel's own event loop instead, between messages: :class:`LoopAhead` (lessons 4-6, 8).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from ..models.base import lesson_pass

__all__ = ["ComputeAhead", "LoopAhead", "later", "neighbours", "one_step_plan"]


class ComputeAhead:
    """Values of ``compute(key)``, kept for the last ``keep`` keys, some computed ahead in a background thread.

    * :meth:`get` — the value of a key: kept, being computed in the background (then it waits for it), or
      computed now in the calling thread;
    * :meth:`plan` — the keys to compute in the background next, in this order (replaces the previous plan).
      The thread starts :attr:`PAUSE` seconds after the plan (the browser paints the picture just sent first)
      and stops between two keys when a new plan comes. A plan is ignored while a computation costs less than
      :attr:`MIN_COST` seconds (asked for, it answers in time anyway; done ahead, it would only compete
      with the browser's paint for the same cores).

    ``background=False``, or ``STLEARN_AHEAD=0`` in the environment, computes only what is asked for.
    ``compute_ahead`` (default ``compute``) is what the background thread calls. ``computed`` counts the calls
    of either (in any thread), ``ahead`` those the background made, ``hits`` the :meth:`get` calls answered by a
    value computed ahead. A key whose computation raised is not kept (the next :meth:`get` computes it again, in
    the caller's thread, and raises there). Lessons 4-6 and 10.
    """

    #: seconds between a plan and the start of its work: the browser decodes and paints the picture just sent first
    #: (measured in the browser: key press → painted 60-100 ms; background work starting 50 ms after the send slowed
    #: the paint of cheap updates by 20-50 ms)
    PAUSE = 0.15
    #: seconds a computation must take for computing ahead to pay (:attr:`cost`; lesson 4's occluder toy takes ~5 ms,
    #: its ConvLSTM on moving digits ~14 ms, lesson 10's backward passes ~50 ms on an idle 2-core machine)
    MIN_COST = 0.010
    #: seconds the background thread waits for a new plan before it ends (a view no longer used is then freed)
    IDLE = 30.0

    def __init__(self, compute: Callable[[Any], Any], keep: int = 32, *, background: bool = True,
                 compute_ahead: Callable[[Any], Any] | None = None) -> None:  # fmt: skip
        self._compute = compute
        self._compute_ahead = compute_ahead or compute  # the background's way (e.g. one thread, not a pool's two)
        self.keep = keep
        # STLEARN_AHEAD=0 in the environment turns computing ahead off everywhere (a busy shared machine; benchmarks)
        self.background = background and os.environ.get("STLEARN_AHEAD", "1") != "0"
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._made_ahead: set[Hashable] = set()
        self._running: dict[Hashable, threading.Event] = {}
        self._plan: list[Hashable] = []
        self._planned_at = 0.0
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.computed = self.ahead = self.hits = 0
        self._costs: deque[float] = deque(maxlen=3)
        _LIVE.add(self)

    @property
    def cost(self) -> float | None:
        """Seconds the fastest of the last three computations took (None before the first): the least a machine
        busy with other work (the browser, a neighbour) made of it."""
        with self._lock:
            return min(self._costs, default=None)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._values

    def peek(self, key: Hashable) -> Any:
        """The value kept under ``key``, or None: never computes nor waits, and counts no hit (a view drawing ahead
        what it already has: lesson 4's GateSurgery)."""
        with self._lock:
            return self._values.get(key)

    def get(self, key: Hashable) -> Any:
        """The value of ``key`` (computed now if it was neither kept nor being computed)."""
        with self._lock:
            while key in self._running:  # the background thread is on it: wait rather than compute it twice
                self._lock.wait()
            if key in self._values:
                self._values.move_to_end(key)
                if key in self._made_ahead:
                    self._made_ahead.discard(key)
                    self.hits += 1
                return self._values[key]
            self._plan = [k for k in self._plan if k != key]
        value = self._run(key)
        with self._lock:
            self._store(key, value)
        return value

    def plan(self, keys: Sequence[Hashable]) -> None:
        """Compute ``keys`` (those not kept) in the background, in this order, instead of the previous plan; nothing
        while a computation is cheaper than :attr:`MIN_COST`."""
        if not self.background:
            return
        with self._lock:
            cost = self.cost  # (the lock is re-entrant)
            if self._stopped or (cost is not None and cost < self.MIN_COST):  # cheap: asked for is in time
                self._plan = []
                return
            self._plan = [k for k in dict.fromkeys(keys) if k not in self._values and k not in self._running]
            self._planned_at = time.monotonic()
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="stlearn-ahead", daemon=True)
                self._thread.start()
            self._lock.notify_all()

    def stop(self, timeout: float = 5.0) -> None:
        """Plan nothing more and wait (at most ``timeout`` seconds) for the computation in progress: at exit, so that
        no model pass is cut off while the interpreter shuts down."""
        end = time.monotonic() + timeout
        with self._lock:
            self._stopped = True
            self._plan = []
            self._lock.notify_all()
            while self._running and time.monotonic() < end:
                self._lock.wait(max(end - time.monotonic(), 0.0))

    def clear(self) -> None:
        """Forget every kept value (tests: a view that must compute everything again)."""
        with self._lock:
            self._values.clear()
            self._made_ahead.clear()

    def wait(self, timeout: float = 30.0) -> bool:
        """Wait until the plan is done (tests, benchmarks); False if it is not done within ``timeout`` seconds."""
        end = time.monotonic() + timeout
        with self._lock:
            while self._plan or self._running:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def _run(self, key: Hashable, compute: Callable[[Any], Any] | None = None) -> Any:
        start = time.perf_counter()
        with lesson_pass():
            value = (compute or self._compute)(key)
        with self._lock:
            self.computed += 1
            self._costs.append(time.perf_counter() - start)
        return value

    def _store(self, key: Hashable, value: Any) -> None:
        self._values[key] = value
        self._values.move_to_end(key)
        while len(self._values) > self.keep:
            old, _ = self._values.popitem(last=False)
            self._made_ahead.discard(old)

    def _work(self) -> None:
        while True:
            with self._lock:
                while True:
                    if self._stopped or (not self._plan and time.monotonic() - self._planned_at > self.IDLE):
                        self._thread = None  # idle for long (or stopped): end; the next plan starts a new thread
                        return
                    pause = self._planned_at + self.PAUSE - time.monotonic()
                    if self._plan and pause <= 0:
                        break
                    self._lock.wait(pause if self._plan else self.IDLE)
                key = self._plan.pop(0)
                done = self._running[key] = threading.Event()
            try:
                value = self._run(key, self._compute_ahead)
            except Exception:  # shown when the learner gets there: get() computes it again and raises in the view
                value = _FAILED
            with self._lock:
                if value is not _FAILED:
                    self._store(key, value)
                    self._made_ahead.add(key)
                    self.ahead += 1
                del self._running[key]
                done.set()
                self._lock.notify_all()


_FAILED = object()

#: every ComputeAhead alive, stopped at exit
_LIVE: weakref.WeakSet[ComputeAhead] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for ahead in list(_LIVE):
        ahead.stop()


def later(delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle | None:
    """Run ``callback`` ``delay`` seconds from now on the event loop running in this thread (in Jupyter, the kernel's:
    it runs between two messages, in the thread that runs the views' callbacks), or do nothing and return None where
    no loop runs (plain Python; tests call the callback themselves) or ``STLEARN_AHEAD=0``. Its exceptions are
    dropped: work done ahead is redone, and raises, when the learner asks for it. Cancel it with the handle's
    ``cancel()``. Lessons 4-6 and 8, through :class:`LoopAhead` (a view drawing ahead while the learner looks)."""
    if os.environ.get("STLEARN_AHEAD", "1") == "0":
        return None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no loop runs in this thread
        return None

    def run() -> None:
        try:
            callback()
        except Exception:  # done ahead only: the view's own update does it again and shows the error
            pass

    return loop.call_later(delay, run)


class LoopAhead:
    """Drawing ahead on the kernel's event loop, one piece a turn: :meth:`start` runs ``one()`` :attr:`~ComputeAhead.
    PAUSE` seconds later (the browser paints the picture just sent first), and again in the next turn of the loop
    while it did a piece (returns true), so that a key press in between is served first; while ``waiting()`` says the
    next piece is not ready yet (runs the background has not made), it looks again every ``retry`` seconds, at most
    ``tries`` looks. :meth:`cancel` (the view's next update) drops what is pending. Nothing runs where no loop runs
    (:func:`later`). Lessons 4-6 (GateSurgery's next sequences) and 8 (TrajGRUFlowExplorer's next rows)."""

    def __init__(self) -> None:
        self._timer: asyncio.TimerHandle | None = None

    def start(self, one: Callable[[], Any], waiting: Callable[[], bool] = lambda: False, *, retry: float = 0.1,
              tries: int = 1) -> None:  # fmt: skip
        self.cancel()
        self._timer = later(ComputeAhead.PAUSE, lambda: self._turn(one, waiting, retry, tries))

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _turn(self, one: Callable[[], Any], waiting: Callable[[], bool], retry: float, tries: int) -> None:
        self._timer = None
        if one():
            self._timer = later(0.0, lambda: self._turn(one, waiting, retry, tries))
        elif tries > 1 and waiting():
            self._timer = later(retry, lambda: self._turn(one, waiting, retry, tries - 1))


def neighbours(options: Sequence[Any], value: Any, previous: Any = None) -> list[Any]:
    """The options next to ``value`` in ``options``: the one in the direction of the last move (from ``previous``)
    first, then the other one (lessons 4-6 and 10: what a view computes ahead)."""
    items = list(options)
    if value not in items:
        return []
    k = items.index(value)
    after, before = items[k + 1 : k + 2], items[max(k - 1, 0) : k]
    backwards = previous in items and items.index(previous) > k
    return before + after if backwards else after + before


def one_step_plan(steps: Mapping[Any, Sequence[Hashable]], moved: Sequence[Any], limit: int) -> list[Hashable]:
    """What to compute ahead, from each control's keys one step away (``steps``: control → keys, the continuation
    of its last move first): the first key of the controls that ``moved``, then the first of every other control,
    then the rest; at most ``limit`` (a longer plan would still run when the next key press comes). Lessons 4-6, 10.
    """
    order = [*moved, *(c for c in steps if c not in moved)]
    keys = [steps[c][0] for c in order if steps[c]] + [k for c in order for k in steps[c][1:]]
    return keys[:limit]
