r"""The zigzag memory flow: which M states reach which, and what a cut costs the trained model — lesson 6 (``ex06``).

* ``m_influencers(t, l, num_layers, zigzag)`` (write): the set of every (s, k) ≠ (t, l) such that
  :math:`M^k_s` influences :math:`M^l_t` in a PredRNN of ``num_layers`` layers, with the zigzag
  (``zigzag=True``) or with the cut of lesson 6 (``zigzag=False``: each layer keeps its own M). Every
  step reads a true frame, so no path runs through a predicted frame. The closed form:

  - zigzag: M visits every cell in the order the cells run, so every cell that runs before (t, l) is
    upstream: all layers of the steps s < t, and the layers k < l of step t;
  - cut: :math:`M^k_s` stays in layer k but writes :math:`H^k_s`, which climbs the stack and moves
    forward in time; cell (t, l) reads :math:`H^{l-1}_t` (its input) and :math:`M^l_{t-1}`: so every
    (s, k) with s ≤ t and k ≤ l.

  ``tests/test_exercises_zigzag.py`` proves the rule equal to autograd on real PredRNNs of 1-4 layers.
* ``cut_factor_lead1()`` (answer): the factor by which cutting the zigzag of the pretrained PredRNN
  multiplies its error at lead time 1 (the table of lesson 6's section 4, 32 test sequences).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import torch

from .. import worker
from .._core import Case, CheckSpec, Mistake, run_check
from ._draw import named_specs, randint

Pairs = set[tuple[int, int]]


# ------------------------------------------------------------------ which M states reach M^l_t


def m_influencers(t: int, l: int, num_layers: int, zigzag: bool) -> Pairs:  # noqa: E741 (the lesson's l)
    r"""Every (s, k) ≠ (t, l) such that :math:`M^k_s` influences :math:`M^l_t` (true frames at every step).

    Zigzag: the cells that run before (t, l) — every layer of the steps s < t, the layers k < l of
    step t. Cut (``zigzag=False``): every (s, k) with s ≤ t and k ≤ l, through the layer's own M and
    through H (up the stack and forward in time).  Exercise of lesson 6 (``ex06_zigzag_memory.ipynb``).
    """
    if zigzag:
        return {(s, k) for s in range(t + 1) for k in range(num_layers) if s * num_layers + k < t * num_layers + l}
    return {(s, k) for s in range(t + 1) for k in range(l + 1) if (s, k) != (t, l)}


def _influence_cases(gen: torch.Generator) -> list[Case]:
    def case(what: str, t: int, l: int, layers: int, zigzag: bool) -> Case:  # noqa: E741
        wiring = "zigzag" if zigzag else "cut (zigzag=False)"
        return Case(f"{what}: M^{l}_{t} in a {layers}-layer PredRNN, {wiring}", (t, l, layers, zigzag))

    cases = []
    # first a zigzag and a cut case where every known mistake gives its own answer: a middle layer of a
    # stack of 3-5 layers, a step ≥ 2
    for zigzag in (True, False):
        layers = randint(gen, 3, 5)
        cases.append(case("a middle layer", randint(gen, 2, 6), randint(gen, 1, layers - 2), layers, zigzag))
    for zigzag in (True, False):
        layers = randint(gen, 2, 4)
        cases.append(case("the bottom layer", randint(gen, 1, 5), 0, layers, zigzag))
        cases.append(case("the top layer", randint(gen, 1, 5), layers - 1, layers, zigzag))
        cases.append(case("step 0", 0, randint(gen, 0, layers - 1), layers, zigzag))
        cases.append(case("one layer", randint(gen, 1, 4), 0, 1, zigzag))
    layers = randint(gen, 2, 4)
    cases.append(case("the first cell", 0, 0, layers, True))
    for _ in range(2):
        layers = randint(gen, 2, 5)
        zigzag = bool(randint(gen, 0, 1))
        cases.append(case("random", randint(gen, 0, 7), randint(gen, 0, layers - 1), layers, zigzag))
    return cases


def _vertical_only(t, l, num_layers, zigzag):  # noqa: E741
    return {(t, k) for k in range(l)} if zigzag else m_influencers(t, l, num_layers, zigzag)


def _cut_without_h(t, l, num_layers, zigzag):  # noqa: E741
    return {(s, l) for s in range(t)} if not zigzag else m_influencers(t, l, num_layers, zigzag)


def _same_layer(t, l, num_layers, zigzag):  # noqa: E741
    return {(s, l) for s in range(t)}


def _all_up_to_t(t, l, num_layers, zigzag):  # noqa: E741
    return {(s, k) for s in range(t + 1) for k in range(num_layers) if (s, k) != (t, l)}


_M_INFLUENCERS = CheckSpec(
    "m_influencers",
    m_influencers,
    _influence_cases,
    [
        Mistake(
            _vertical_only,
            "with the zigzag you kept only the climb within step t: layer 0 at step t reads M^{L-1}_{t-1}, the "
            "top layer's memory of the previous step, so the memory of every cell of every earlier step (every "
            "layer, not only those below l) arrives at M^l_t through the bottom of step t",
        ),
        Mistake(
            _cut_without_h,
            "with the cut (zigzag=False) each layer's M stays in its layer, but M^k_s also writes H^k_s, and H "
            "climbs the stack (H^k_s is the input of layer k+1) and moves forward in time (H^k_s feeds step "
            "s+1 of layer k); the spatial gates of cell (t, l) read its input H^{l-1}_t: so the M of every lower "
            "layer k < l, at every step s ≤ t, reaches M^l_t too",
        ),
        Mistake(
            _same_layer,
            "you treated M like C, a memory that stays in its layer: with the zigzag M climbs the stack within "
            "a step and returns from the top layer to the bottom at the next one (M^{L-1}_{t-1} → M^0_t), so "
            "the cells of the other layers are upstream too (and even with the cut the lower layers reach M^l_t "
            "through H)",
        ),
        Mistake(
            lambda t, layer, n, zigzag: m_influencers(t, layer, n, True),
            "you gave the zigzag's answer for the cut (zigzag=False): there M^l reads M^l_{t-1}, its own layer's "
            "memory, and nothing flows down the stack — no layer above l can reach M^l_t",
        ),
        Mistake(
            lambda t, layer, n, zigzag: m_influencers(t, layer, n, False),
            "you gave the cut's answer for the zigzag: with the zigzag, layer 0 reads the TOP layer's memory "
            "M^{L-1}_{t-1}, so the layers above l at the earlier steps are upstream of M^l_t too",
        ),
        Mistake(
            _all_up_to_t,
            "your set holds cells that cannot reach M^l_t: the layers above l at step t run after layer l (M^l_t "
            "is written before they are), and with the cut no path leads down the stack at all",
        ),
        Mistake(
            lambda t, layer, n, zigzag: m_influencers(t, layer, n, zigzag) | {(t, layer)},
            "leave out (t, l) itself: the question asks which OTHER M states influence M^l_t",
        ),
        Mistake(
            lambda *args: {(s, k + 1) for s, k in m_influencers(*args)},
            "count the layers from 0, as the lesson does: layer 0 is the bottom (it reads the frame) and layer "
            "L−1 the top; your pairs use layers 1 … L",
        ),
        Mistake(
            lambda *args: {(s + 1, k) for s, k in m_influencers(*args)},
            "count the steps from 0, as the lesson does: step 0 reads the first frame; your pairs use steps 1 … t+1",
        ),
    ],
    [
        lambda case, out: (
            "return pairs (s, k): s the step, k the layer — e.g. {(0, 1), (2, 0)}"
            if isinstance(out, set | frozenset) and any(not (isinstance(p, tuple) and len(p) == 2) for p in out)
            else None
        ),
        lambda case, out: (
            "your set holds a pair with a step after t: a cell cannot be influenced by one that runs later"
            if isinstance(out, set | frozenset)
            and any(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], int) and p[0] > case.args[0] for p in out)
            else None
        ),
    ],
    failure_note=(
        "the set of every (s, k) other than (t, l) from which a path of the computation — through M, H or C — "
        "leads to M^l_t"
    ),
)


def check_m_influencers(fn: Callable[..., Any], seed: int | None = None) -> None:
    r"""Check ``m_influencers(t, l, num_layers, zigzag)``: the (s, k) whose :math:`M^k_s` influences :math:`M^l_t`.

    Recognises: with the zigzag only the climb within step t, with the cut no path through H,
    M treated like C (its own layer only), the zigzag's answer for the cut and the cut's for the
    zigzag, layers above l at step t included, (t, l) itself included, layers or steps counted from
    1, a list instead of a set, steps after t.  Exercise of lesson 6 (``ex06_zigzag_memory.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_M_INFLUENCERS, fn, seed)


# ------------------------------------------------------------------ what cutting the zigzag costs at lead 1

#: the lesson's section 4: the first 32 test sequences, 10 inputs, 10 lead times
NUM_SEQUENCES = 32
#: an answer within this relative distance of the data's factor is right (it is read off a table with one decimal)
TOLERANCE = 0.02
#: a wrong answer within this relative distance of a known mistake's value is named as that mistake
MISTAKE_TOLERANCE = 0.015


#: the rows of the lesson's table
ROWS = ("PredRNN", "zigzag cut", "M zeroed")


@functools.cache
def lead_row(name: str, num_sequences: int = NUM_SEQUENCES) -> tuple[float, ...]:
    """One row of lesson 6's section-4 table: MSE per frame by lead time (1 … 10), the first 32 test sequences.

    ``name`` is one of :data:`ROWS`: the pretrained PredRNN, a copy with ``zigzag = False`` (the cut) or a
    copy whose ``_memory_in`` returns zeros (M zeroed), exactly as the lesson (``06_zigzag_memory.ipynb``)
    builds them. Computed on first use, one thread (as the lesson), then kept. ``num_sequences`` is for
    the tests (the exercise reads the lesson's 32).
    """
    import copy

    from ...data import load_moving_digits_test
    from ...metrics import mse_per_frame
    from ...models.base import lesson_pass
    from ...training.pretrained import load_pretrained

    if name not in ROWS:
        raise KeyError(f"lead_row: no row {name!r}; the rows are {ROWS}")
    model = load_pretrained("moving_digits", "predrnn")
    if name == "zigzag cut":
        model = copy.deepcopy(model)
        model.zigzag = False
    elif name == "M zeroed":
        model = copy.deepcopy(model)
        model._memory_in = lambda m, layer: torch.zeros_like(m[layer])
    test = load_moving_digits_test()
    batch = torch.stack([test[i] for i in range(num_sequences)])
    with lesson_pass():
        pred = model.predict(batch[:, :10], 10).clamp(0, 1)
    return tuple(float(v) for v in mse_per_frame(pred, batch[:, 10:], reduction="lead"))


def lead_table() -> dict[str, tuple[float, ...]]:
    """All rows of lesson 6's section-4 table (:func:`lead_row`), by name."""
    return {name: lead_row(name) for name in ROWS}


def cut_factor_lead1() -> float:
    r"""MSE of the zigzag-cut PredRNN divided by the unmodified PredRNN's, at lead time 1 (lesson 6, section 4)."""
    return lead_row("zigzag cut")[0] / lead_row("PredRNN")[0]


def _factor_mistakes() -> list[tuple[Callable[[], float], str]]:
    def cut(k: int) -> float:
        return lead_row("zigzag cut")[k]

    def base(k: int) -> float:
        return lead_row("PredRNN")[k]

    def mean(name: str) -> float:
        return sum(lead_row(name)) / 10

    return [
        (
            lambda: base(0) / cut(0),
            "you divided PredRNN's error by the cut model's: the factor is the cut's MSE over PredRNN's (above 1 "
            "when the cut makes the forecast worse)",
        ),
        (
            lambda: cut(9) / base(9),
            "that is the factor at lead time 10, the last forecast frame; the question asks for lead time 1, the "
            "first one",
        ),
        (
            lambda: cut(1) / base(1),
            "that is the factor at lead time 2: the table's lead times start at 1 (in the arrays, lead time 1 is "
            "index 0)",
        ),
        (
            lambda: mean("zigzag cut") / mean("PredRNN"),
            "that is the factor of the means over all 10 lead times (the 'mean' column); the question asks for "
            "lead time 1 only",
        ),
        (
            lambda: lead_row("M zeroed")[0] / base(0),
            "that is the 'M zeroed' row (every cell reads M_in = 0); the question is about the 'zigzag cut' row "
            "(every layer reads its own previous M)",
        ),
        (
            lambda: 100.0 * (cut(0) / base(0) - 1.0),
            "that is the increase in percent; give the factor, the cut's MSE divided by PredRNN's (2.0 would "
            "mean twice the error)",
        ),
        (
            lambda: cut(0) / base(0) - 1.0,
            "that is the relative increase (factor − 1); give the factor itself, the cut's MSE divided by "
            "PredRNN's",
        ),
        (
            lambda: cut(0) - base(0),
            "that is the difference of the two MSEs; give their ratio, the cut's MSE divided by PredRNN's",
        ),
    ]


def _assess_factor(case: Case, out: Any) -> str | None:
    if out is None:
        return "your function returns None: return the factor, one number (e.g. 2.0 for twice the error)"
    if isinstance(out, bool) or not (
        isinstance(out, int | float) or (isinstance(out, torch.Tensor) and out.ndim == 0)
    ):
        what = out.type_name if isinstance(out, worker.Other) else type(out).__name__
        return f"your answer is a {what}; return one number, the factor (e.g. 2.0 for twice the error)"
    value = float(out)
    if not math.isfinite(value):
        return f"your answer is {value}; return a finite number, the factor read off the table"
    expected = cut_factor_lead1()
    if abs(value - expected) <= TOLERANCE * abs(expected):
        return None
    near = [(abs(value - fn()) / max(abs(fn()), 1e-12), message) for fn, message in _factor_mistakes()]
    distance, message = min(near, key=lambda pair: pair[0])
    if distance <= MISTAKE_TOLERANCE:
        return message
    if value <= 0:
        return f"your answer {value:.4g} is not a factor of two errors: MSEs are positive, so is their ratio"
    return (
        f"your answer {value:.4g} is not the factor the data gives: take the 'zigzag cut' and 'PredRNN' rows "
        "of the table at lead time 1 (the first column) and divide the first by the second"
    )


_CUT_FACTOR_LEAD1 = CheckSpec(
    "cut_factor_lead1",
    None,
    lambda gen: [Case("your answer", ())],
    [Mistake(fn, message) for fn, message in _factor_mistakes()],
    assess=_assess_factor,
)


def check_cut_factor_lead1(fn: Callable[[], float], seed: int | None = None) -> None:
    r"""Check ``cut_factor_lead1()``: the cut PredRNN's MSE over the unmodified one's at lead time 1 (±2 %).

    Computed from the pretrained PredRNN on the lesson's 32 test sequences. Recognises: the inverse
    ratio, the factor at lead time 10 or 2, the factor of the means over all lead times, the "M
    zeroed" row, a percentage, factor − 1, the difference, not a number.  Exercise of lesson 6
    (``ex06_zigzag_memory.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_CUT_FACTOR_LEAD1, fn, seed)


#: This module's exercises, their arguments named for the feedback.
SPECS: list[CheckSpec] = named_specs(
    (_M_INFLUENCERS, ("t", "l", "num_layers", "zigzag")),
    (_CUT_FACTOR_LEAD1, ()),
)
