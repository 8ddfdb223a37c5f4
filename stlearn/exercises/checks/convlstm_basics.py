"""A ConvLSTM's receptive field and its parameter count — lesson 2 (``ex02_lstm_to_convlstm``).

Both answers are whole numbers read off the equations of lesson 2; the references agree with the package:
:func:`stlearn.connectivity.convlstm_lead1_reach` (the reach of the lead-1 forecast, i.e. of the top hidden
state at the last input step) and :func:`stlearn.complexity.count_parameters` of a real
:class:`stlearn.cells.ConvLSTMCell` (the tests build the cells and measure the receptive field with autograd).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ...connectivity import convlstm_lead1_reach
from .. import worker
from .._core import Case, CheckSpec, Mistake, run_check
from ._draw import named_specs, randint

_KERNELS = (1, 3, 5, 7)


def exact_count(reference: Callable[..., int]) -> Callable[[Case, Any], str | None]:
    """An ``assess`` for a count: equal to the reference's integer exactly (no tolerance), shown as integers.

    A float with an integral value is accepted (``38144.0``); a bool, a string or a tensor is not a count.
    Used by the counting exercises of lessons 2 and 10.
    """

    def assess(case: Case, out: Any) -> str | None:
        if isinstance(out, bool) or not isinstance(out, int | float):
            what = out.type_name if isinstance(out, worker.Other) else type(out).__name__
            return f"returns a {what}; return a whole number (a Python int)"
        expected = int(reference(*case.args))
        if out == expected:
            return None
        shown = f"{int(out):,}" if out == int(out) else f"{out:,.6g}"
        return f"returns {shown}; expected {expected:,}"

    return assess


def whole_number(what: str) -> Callable[[Case, Any], str | None]:
    """A validator: a count is a positive whole number (a float with a fraction means a / where // was meant)."""

    def validator(case: Case, out: Any) -> str | None:
        if isinstance(out, bool) or not isinstance(out, int | float):
            return None  # compare() has already said what type it is
        if out != int(out):
            return f"returns {out:g}, not a whole number: a {what} is a count — use // (or integers) where you used /"
        if out < 1:
            return f"returns {out:g}: a {what} is at least 1"
        return None

    return validator


# --------------------------------------------------------------------------------------------
# Exercise 1 — the receptive field after t steps
# --------------------------------------------------------------------------------------------


def receptive_field(num_layers: int, kernel_size: int, steps: int) -> int:
    """Side length (pixels) of the region of X_1 that can influence one pixel of the top H after ``steps`` steps.

    Lesson 2's rule, radius ⌊k/2⌋·(L + d) with the delay d = t − 1 of the first frame, as
    :func:`stlearn.connectivity.convlstm_lead1_reach` computes it; the side is 2·radius + 1.
    Reference of lesson 2's exercise.
    """
    radius = int(convlstm_lead1_reach(int(num_layers), int(kernel_size), int(steps))[0])
    return 2 * radius + 1


def _field_cases(gen: torch.Generator) -> list[Case]:
    # the first case tells every listed mistake apart (each gives another wrong number there)
    cases = [Case("L = 3 layers, k = 5, t = 5 steps", (3, 5, 5), torch.float64)]
    for _ in range(6):
        layers, k, t = randint(gen, 1, 4), _KERNELS[randint(gen, 1, 3)], randint(gen, 2, 12)
        cases.append(Case(f"L = {layers} layer(s), k = {k}, t = {t} steps", (layers, k, t), torch.float64))
    cases += [
        Case("L = 1 layer, k = 3, t = 1 step (one input convolution only)", (1, 3, 1), torch.float64),
        Case("L = 2 layers, k = 7, t = 1 step", (2, 7, 1), torch.float64),
        Case("L = 1 layer, k = 3, t = 6 steps", (1, 3, 6), torch.float64),
        Case("L = 2 layers, k = 1 (1 × 1 kernels), t = 4 steps", (2, 1, 4), torch.float64),
    ]
    return cases


_RECEPTIVE_FIELD = CheckSpec(
    "receptive_field",
    receptive_field,
    _field_cases,
    [
        Mistake(
            lambda L, k, t: k * (L + t - 1) + 1,
            "your region grows by k per convolution: a k × k convolution reaches ⌊k/2⌋ pixels on each side, so "
            "it widens the region by 2·⌊k/2⌋ = k − 1 pixels, not k (the centre pixel is already counted)",
        ),
        Mistake(
            lambda L, k, t: (k - 1) * L + 1,
            "your region does not grow with time: every step back also crosses the recurrent convolution "
            "W_h * H_{t-1}, so the first frame, t − 1 steps before the last, is reached through L + (t − 1) "
            "convolutions, not L",
        ),
        Mistake(
            lambda L, k, t: (k - 1) * t + 1,
            "you counted the steps but not the stacked layers: layer l reads H^{l-1}_t through its own k × k "
            "convolution, so each layer above the first adds k − 1 more (L + t − 1 convolutions in all)",
        ),
        Mistake(
            lambda L, k, t: (k - 1) * (L + t) + 1,
            "one recurrent convolution too many: X_1 is read at step 1, so it is t − 1 steps (recurrent "
            "convolutions) before step t, not t — the delay of the first frame is d = t − 1",
        ),
        Mistake(
            lambda L, k, t: (k - 1) * (L + t - 2) + 1,
            "one convolution too few: the input convolution W_x * X_1 of the first layer counts too — "
            "L convolutions up the stack (one per layer) plus t − 1 recurrent ones back in time",
        ),
        Mistake(
            lambda L, k, t: (k // 2) * (L + t - 1),
            "that is the radius (how far from the pixel the region reaches on one side); the question asks for "
            "the side length of the square region: 2·radius + 1",
        ),
        Mistake(
            lambda L, k, t: (k - 1) * (L + t - 1),
            "almost: the side of a square that reaches r pixels on both sides of a pixel is 2r + 1 — the pixel "
            "itself counts too",
        ),
    ],
    validators=[whole_number("side length")],
    assess=exact_count(receptive_field),
    failure_note="lesson 2: radius = ⌊k/2⌋·(L + d), and the first frame is d = t − 1 steps back",
)


def check_receptive_field(fn: Callable[[int, int, int], int], seed: int | None = None) -> None:
    r"""Check ``receptive_field(num_layers, kernel_size, steps)``: the side (k − 1)(L + t − 1) + 1 of the region.

    Recognises: k per convolution instead of k − 1, no growth with time (the recurrent W_h * H convolutions
    forgotten), the stacked layers forgotten, t instead of t − 1 steps back, the input convolution
    forgotten, the radius instead of the side, the side without its centre pixel, a non-whole number.
    Exercise of lesson 2 (``ex02_lstm_to_convlstm.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_RECEPTIVE_FIELD, fn, seed)


# --------------------------------------------------------------------------------------------
# Exercise 2 — parameters of one ConvLSTM layer
# --------------------------------------------------------------------------------------------


def convlstm_param_count(
    in_channels: int, hidden_channels: int, kernel_size: int, peephole: bool, height: int, width: int
) -> int:
    """Parameters of ``ConvLSTMCell(in_channels, hidden_channels, kernel_size, (height, width), peephole)``.

    W_x: (4C, C_in, k, k) and W_h: (4C, C, k, k), both bias-free; one bias b of 4C (b_i, b_f, b_c, b_o);
    with peepholes W_ci, W_cf, W_co of (C, H, W) each.  Reference of lesson 2's exercise.
    """
    c, k = hidden_channels, kernel_size
    count = 4 * c * (in_channels + c) * k * k + 4 * c
    if peephole:
        count += 3 * c * height * width
    return count


def _count(gates: int = 4, biases: int = 1, recurrent: bool = True, square: bool = True, peep: str = "pixel"):
    """A wrong count: ``peep`` is how the peepholes are counted ("pixel" right, "none", "channel", "four", "always")."""

    def fn(in_channels, hidden_channels, kernel_size, peephole, height, width):
        c, k = hidden_channels, kernel_size
        inputs = in_channels + (c if recurrent else 0)
        count = gates * c * inputs * (k * k if square else k) + biases * gates * c
        if peephole or peep == "always":
            count += {"pixel": 3 * c * height * width, "none": 0, "channel": 3 * c,
                      "four": 4 * c * height * width, "always": 3 * c * height * width}[peep]  # fmt: skip
        return count

    return fn


def _param_cases(gen: torch.Generator) -> list[Case]:
    # the first two cases tell every listed mistake apart (with and without peepholes)
    cases = [
        Case("C_in = 3, C = 8, k = 3, peepholes on 5×7 frames", (3, 8, 3, True, 5, 7), torch.float64),
        Case("C_in = 2, C = 6, k = 5, no peepholes (frame 9×11)", (2, 6, 5, False, 9, 11), torch.float64),
    ]
    for trial in range(6):
        c_in, c, k = randint(gen, 1, 16), randint(gen, 2, 64), _KERNELS[randint(gen, 0, 3)]
        h, w = randint(gen, 4, 64), randint(gen, 4, 64)
        peephole = trial % 2 == 0
        label = f"C_in = {c_in}, C = {c}, k = {k}, {'peepholes on' if peephole else 'no peepholes'}, {h}×{w} frames"
        cases.append(Case(label, (c_in, c, k, peephole, h, w), torch.float64))
    cases += [
        Case("lesson 2: 1 → 32 channels, 3 × 3, no peepholes (38 144)", (1, 32, 3, False, 64, 64), torch.float64),
        Case("lesson 2: 1 → 32 channels, 3 × 3, peepholes on 64 × 64", (1, 32, 3, True, 64, 64), torch.float64),
        Case("16 → 64 channels, 5 × 5, no peepholes (frame 16×16)", (16, 64, 5, False, 16, 16), torch.float64),
        Case("C_in = 1, C = 1, 1 × 1 kernels, peepholes on 4×4 frames", (1, 1, 1, True, 4, 4), torch.float64),
    ]
    return cases


_CONVLSTM_PARAM_COUNT = CheckSpec(
    "convlstm_param_count",
    convlstm_param_count,
    _param_cases,
    [
        Mistake(
            _count(gates=1),
            "you counted one gate: every convolution produces all four pre-activations at once (i, f, C̃, o), so "
            "W_x has 4C output channels, W_h too, and the bias has 4C entries",
        ),
        Mistake(
            _count(recurrent=False),
            "you left out the recurrent convolution W_h * H_{t-1}: its kernels are (4C, C, k, k) — the layer "
            "convolves its input (C_in channels) and its own previous hidden state (C channels)",
        ),
        Mistake(
            _count(biases=0),
            "you forgot the biases: b_i, b_f, b_c, b_o, C each — 4C numbers (stlearn keeps one bias vector of "
            "4C; the convolutions themselves are bias-free)",
        ),
        Mistake(
            _count(biases=2),
            "you counted a bias on each convolution: W_x * X + W_h * H + b has ONE bias per gate (4C in all) — "
            "stlearn's convolutions are bias-free and the cell keeps a single bias vector",
        ),
        Mistake(
            _count(peep="none"),
            "with peephole=True the cell also has W_ci, W_cf and W_co: one weight per channel AND pixel, "
            "(C, H, W) each — 3·C·H·W numbers that depend on the frame size",
        ),
        Mistake(
            _count(peep="channel"),
            "your peepholes have one weight per channel, (C,) as in the FC-LSTM: in ConvLSTM they are "
            "Hadamard products with the (C, H, W) cell state, so each is a (C, H, W) map — 3·C·H·W numbers",
        ),
        Mistake(
            _count(peep="four"),
            "there are three peepholes, not four: W_ci, W_cf and W_co (the candidate C̃ has none)",
        ),
        Mistake(
            _count(peep="always"),
            "with peephole=False the cell has no W_ci, W_cf, W_co: count the 3·C·H·W peephole weights only when "
            "peephole is True",
        ),
        Mistake(
            _count(square=False),
            "a k × k kernel has k² weights per (output, input) channel pair, not k",
        ),
    ],
    validators=[whole_number("parameter count")],
    assess=exact_count(convlstm_param_count),
    failure_note="W_x (4C, C_in, k, k), W_h (4C, C, k, k), one bias of 4C, and with peepholes 3 maps of (C, H, W)",
)


def check_convlstm_param_count(fn: Callable[..., int], seed: int | None = None) -> None:
    r"""Check ``convlstm_param_count(in_channels, hidden_channels, kernel_size, peephole, height, width)``.

    The count is :math:`4C(C_\text{in} + C)k^2 + 4C` (+ :math:`3CHW` with peepholes), what
    ``count_parameters`` gives for a real :class:`stlearn.cells.ConvLSTMCell`. Recognises: one gate instead
    of four, no recurrent convolution, no bias, a bias per convolution, peepholes left out, per channel,
    four of them, or counted without ``peephole``, k instead of k², a non-whole number.
    Exercise of lesson 2 (``ex02_lstm_to_convlstm.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_CONVLSTM_PARAM_COUNT, fn, seed)


#: This module's exercises, their arguments named for the feedback.
SPECS: list[CheckSpec] = named_specs(
    (_RECEPTIVE_FIELD, ("num_layers", "kernel_size", "steps")),
    (_CONVLSTM_PARAM_COUNT, ("in_channels", "hidden_channels", "kernel_size", "peephole", "height", "width")),
)
