"""Comparing the models: the FLOPs of a ConvLSTM forecast, and which Table 8 differences are real — lesson 10
(``ex10_comparing_models``).

* ``convlstm_rollout_flops`` — FLOPs (2 per multiply–add, the unit of :mod:`stlearn.complexity`) of one test-time
  forecast of :class:`stlearn.models.ConvLSTM`; the reference is the hand count of lesson 10, which the tests
  compare with :func:`stlearn.complexity.rollout_flops` on real models.
* ``significant_pairs`` — an answer read off the shipped Table 8 (:func:`stlearn.table8.load_shipped_results`):
  the forecasters measurably better or worse than ConvLSTM at CSI-50 by the paired bootstrap of lesson 9
  (the interval of the difference excludes 0). Judged by :func:`_assess_pairs` from the shipped file, in the
  checker's process.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from .._core import Case, CheckSpec, Mistake, run_check
from ._draw import named_specs, randint
from .convlstm_basics import exact_count, whole_number

# --------------------------------------------------------------------------------------------
# Exercise 1 — FLOPs of a ConvLSTM forecast
# --------------------------------------------------------------------------------------------


def convlstm_rollout_flops(
    in_channels: int,
    frame_size: tuple[int, int],
    patch_size: int,
    hidden_channels: list[int],
    kernel_size: int,
    input_len: int,
    pred_len: int,
) -> int:
    r"""FLOPs of ``ConvLSTM(...).predict(inputs, pred_len)`` for one sequence of ``input_len`` frames.

    The cells run on the patch grid (H/p, W/p) with :math:`p^2 C` input channels; per step, layer l convolves
    :math:`[X, H^l_{t-1}]` (:math:`C^{l-1} + C^l` channels) into :math:`4C^l` gate pre-activations and the 1 × 1
    head maps :math:`H^{L-1}_t` back to :math:`p^2 C` channels; the rollout has input_len + pred_len − 1 steps
    (each step predicts the next frame). 2 FLOPs per multiply–add: what :func:`stlearn.complexity.rollout_flops`
    counts.  Reference of lesson 10's exercise.
    """
    p = patch_size
    grid = (frame_size[0] // p) * (frame_size[1] // p)
    patch_channels = p * p * in_channels
    per_step, below = 0, patch_channels
    for c in hidden_channels:
        per_step += 2 * kernel_size * kernel_size * (below + c) * 4 * c * grid
        below = c
    per_step += 2 * below * patch_channels * grid
    return per_step * (input_len + pred_len - 1)


def _flops(
    gates: int = 4,
    recurrent: bool = True,
    square: bool = True,
    head: bool = True,
    patch: str = "both",
    inputs_from: str = "below",
    steps: str = "all",
    per_mac: int = 2,
):
    """A wrong count: ``patch`` "both" (right), "none" (full frame) or "grid" (grid but C_in channels);
    ``inputs_from`` "below" (right) or "patch" (every layer reads p²C channels); ``steps`` "all" (right),
    "one", "plus_one" (input_len + pred_len) or "pred" (pred_len)."""

    def fn(in_channels, frame_size, patch_size, hidden_channels, kernel_size, input_len, pred_len):
        p = 1 if patch == "none" else patch_size
        grid = (frame_size[0] // p) * (frame_size[1] // p)
        patch_channels = in_channels if patch in ("none", "grid") else p * p * in_channels
        kk = kernel_size * kernel_size if square else kernel_size
        per_step, below = 0, patch_channels
        for c in hidden_channels:
            per_step += per_mac * kk * (below + (c if recurrent else 0)) * gates * c * grid
            below = c if inputs_from == "below" else patch_channels
        if head:
            per_step += per_mac * hidden_channels[-1] * patch_channels * grid
        n = {"all": input_len + pred_len - 1, "one": 1, "plus_one": input_len + pred_len, "pred": pred_len}[steps]
        return per_step * n

    return fn


def _flops_cases(gen: torch.Generator) -> list[Case]:
    # the first case tells every listed mistake apart; the second is lesson 10's model (10 → 10)
    cases = [
        Case("C = 1, 24×16 frames, p = 2, hidden [6, 10], k = 3, 5 → 3 frames", (1, (24, 16), 2, [6, 10], 3, 5, 3),
             torch.float64),
        Case("lesson 10's ConvLSTM: C = 1, 64×64, p = 4, hidden [32, 32], k = 3, 10 → 10",
             (1, (64, 64), 4, [32, 32], 3, 10, 10), torch.float64),
    ]
    for _ in range(6):
        p = (1, 2, 4)[randint(gen, 0, 2)]
        c_in = randint(gen, 1, 3)
        frame = (p * randint(gen, 2, 8), p * randint(gen, 2, 8))
        hidden = [randint(gen, 2, 24) for _ in range(randint(gen, 1, 3))]
        k = (1, 3, 5)[randint(gen, 0, 2)]
        n_in, n_out = randint(gen, 1, 10), randint(gen, 1, 10)
        label = f"C = {c_in}, {frame[0]}×{frame[1]} frames, p = {p}, hidden {hidden}, k = {k}, {n_in} → {n_out} frames"
        cases.append(Case(label, (c_in, frame, p, hidden, k, n_in, n_out), torch.float64))
    cases.append(Case("one layer, no patching, 1 × 1 kernels, 1 → 1 frame (one step)", (2, (5, 7), 1, [3], 1, 1, 1),
                      torch.float64))
    return cases


_CONVLSTM_ROLLOUT_FLOPS = CheckSpec(
    "convlstm_rollout_flops",
    convlstm_rollout_flops,
    _flops_cases,
    [
        Mistake(
            _flops(per_mac=1),
            "you counted multiply–adds (MACs): stlearn.complexity counts 2 FLOPs per multiply–add, "
            "FLOPs = 2·k²·C_in·C_out·H·W per convolution",
        ),
        Mistake(
            _flops(gates=1),
            "you counted one gate: each layer's convolution produces the four gates' pre-activations at once, "
            "C_out = 4·C^l",
        ),
        Mistake(
            _flops(recurrent=False),
            "you left out the recurrent convolution W_h * H^l_{t-1}: per step each layer convolves its input AND "
            "its own previous hidden state, C_in = C^{l-1} + C^l (stlearn runs them as one convolution over "
            "[X, H])",
        ),
        Mistake(
            _flops(steps="one"),
            "that is the cost of one step: the forecast runs input_len + pred_len − 1 steps (every step reads a "
            "frame and predicts the next one)",
        ),
        Mistake(
            _flops(steps="plus_one"),
            "one step too many: frames 0 … T − 2 each predict the next frame, so a forecast of pred_len frames "
            "from input_len runs input_len + pred_len − 1 steps (19 for 10 → 10), not input_len + pred_len",
        ),
        Mistake(
            _flops(steps="pred"),
            "you counted only the forecast steps: the cells run on the input frames too (the encoder part of "
            "the rollout), input_len + pred_len − 1 steps in all",
        ),
        Mistake(
            _flops(head=False),
            "you forgot the output head: every step also runs a 1 × 1 convolution from the top layer's C^{L-1} "
            "channels back to the p²·C patch channels (k = 1 in the formula)",
        ),
        Mistake(
            _flops(patch="none"),
            "the cells run on the patch grid, not on the full frame: patching with p turns an H × W frame of C "
            "channels into an (H/p) × (W/p) grid of p²·C channels (lesson 1)",
        ),
        Mistake(
            _flops(patch="grid"),
            "the patch grid has p²·C channels, not C: patching moves each p × p block of pixels into the "
            "channels — the first layer's input and the head's output both have p²·C channels",
        ),
        Mistake(
            _flops(inputs_from="patch"),
            "only the first layer reads the patched frame: layer l ≥ 1 reads H^{l-1}_t, so its C_in is "
            "C^{l-1} + C^l",
        ),
        Mistake(
            _flops(square=False),
            "a k × k kernel costs k² multiply–adds per (output, input) channel pair and pixel, not k",
        ),
    ],
    validators=[whole_number("FLOP count")],
    assess=exact_count(convlstm_rollout_flops),
    failure_note="per step and layer 2·k²·(C^{l-1} + C^l)·4C^l·(H/p)(W/p), plus the 1 × 1 head; "
    "input_len + pred_len − 1 steps",
)


def check_convlstm_rollout_flops(fn: Callable[..., int], seed: int | None = None) -> None:
    r"""Check ``convlstm_rollout_flops(in_channels, frame_size, patch_size, hidden_channels, kernel_size, input_len,
    pred_len)``: the FLOPs (2 per multiply–add) of one ConvLSTM forecast, as ``stlearn.complexity.rollout_flops``.

    Recognises: MACs instead of FLOPs, one gate instead of four, no recurrent convolution, one step only,
    input_len + pred_len steps, pred_len steps, no output head, the full frame instead of the patch grid,
    C instead of p²·C patch channels, every layer reading the patched frame, k instead of k².
    Exercise of lesson 10 (``ex10_comparing_models.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_CONVLSTM_ROLLOUT_FLOPS, fn, seed)


# --------------------------------------------------------------------------------------------
# Exercise 2 — which differences from ConvLSTM are real (an answer)
# --------------------------------------------------------------------------------------------

#: the score the question is about, and the reference forecaster of the shipped paired differences
METRIC = "csi_50"
REFERENCE = "convlstm"
#: metrics where a lower value is better
_LOWER_IS_BETTER = {"mse_frame"}


@functools.cache
def _shipped() -> dict[str, Any]:
    from ...table8 import load_shipped_results

    return load_shipped_results()


def _labels() -> dict[str, str]:
    from ...table8 import LABELS

    return dict(LABELS)


def _orient(metric: str, value: float, low: float, high: float) -> tuple[float, float, float]:
    """(Δ, low, high) turned so that positive means 'better than ConvLSTM'."""
    if metric in _LOWER_IS_BETTER:
        return -value, -high, -low
    return value, low, high


def _pair(name: str, better: bool) -> tuple[str, str]:
    labels = _labels()
    return (labels[name], labels[REFERENCE]) if better else (labels[REFERENCE], labels[name])


def paired_pairs(metric: str = METRIC) -> frozenset[tuple[str, str]]:
    """(better, worse) pairs with ConvLSTM whose paired-bootstrap interval of the difference excludes 0 (lesson 9)."""
    out = set()
    for name, diff in _shipped()["vs_convlstm"].items():
        _, low, high = _orient(metric, *diff[metric])
        if low > 0 or high < 0:
            out.add(_pair(name, low > 0))
    return frozenset(out)


def significant_pairs() -> frozenset[tuple[str, str]]:
    """The answer: the forecasters measurably better or worse than ConvLSTM at CSI-50, as (better, worse) pairs.

    Reference of lesson 10's exercise, derived from the shipped Table 8 (``table8.json``).
    """
    return paired_pairs(METRIC)


def _by_point_estimate() -> frozenset[tuple[str, str]]:
    out = set()
    for name, diff in _shipped()["vs_convlstm"].items():
        value, _, _ = _orient(METRIC, *diff[METRIC])
        if value != 0:
            out.add(_pair(name, value > 0))
    return frozenset(out)


def _by_separate_intervals() -> frozenset[tuple[str, str]]:
    rows = _shipped()["rows"]
    _, ref_low, ref_high = _orient(METRIC, *rows[REFERENCE]["intervals"][METRIC])
    out = set()
    for name in _shipped()["vs_convlstm"]:
        _, low, high = _orient(METRIC, *rows[name]["intervals"][METRIC])
        if low > ref_high or high < ref_low:
            out.add(_pair(name, low > ref_high))
    return frozenset(out)


def _reversed() -> frozenset[tuple[str, str]]:
    return frozenset((worse, better) for better, worse in significant_pairs())


def _models_only() -> frozenset[tuple[str, str]]:
    from ...table8 import BASELINES

    baselines = {_labels()[b] for b in BASELINES}
    return frozenset(p for p in significant_pairs() if not baselines & set(p))


def _all_before_convlstm() -> frozenset[tuple[str, str]]:
    ref = _labels()[REFERENCE]
    return frozenset((a if b == ref else b, ref) for a, b in significant_pairs())


def _better_only() -> frozenset[tuple[str, str]]:
    ref = _labels()[REFERENCE]
    return frozenset(p for p in significant_pairs() if p[1] == ref)


def _mse_answer() -> frozenset[tuple[str, str]]:
    return paired_pairs("mse_frame")


_PAIR_MISTAKES = [
    Mistake(
        _reversed,
        "your pairs are the wrong way round: write each pair as (better, worse) — a forecaster measurably ahead "
        "of ConvLSTM gives (forecaster, \"ConvLSTM\"), one measurably behind gives (\"ConvLSTM\", forecaster)",
    ),
    Mistake(
        _by_point_estimate,
        "you ranked the point estimates: a difference counts only when its paired bootstrap interval excludes "
        "0. One forecaster's Δ interval at CSI-50 contains 0 — the test split cannot tell it from ConvLSTM, "
        "whichever mean is larger — so it makes no pair",
    ),
    Mistake(
        _by_separate_intervals,
        "you compared the separate intervals: overlapping separate intervals do not mean 'no difference'. The "
        "paired bootstrap (lesson 9) resamples the same test sequences for both forecasters, so how hard a "
        "sequence is cancels out — read the interval of Δ = forecaster − ConvLSTM and ask whether it excludes 0",
    ),
    Mistake(
        _models_only,
        "the two baselines are forecasters in the table too: the question asks about every forecaster compared "
        "with ConvLSTM, persistence and optical flow included — read their Δ intervals as well",
    ),
    Mistake(
        _all_before_convlstm,
        "a pair is (better, worse): a forecaster whose Δ interval lies entirely below 0 is measurably WORSE than "
        "ConvLSTM at CSI-50 (higher is better), so its pair is (\"ConvLSTM\", forecaster)",
    ),
    Mistake(
        _better_only,
        "you listed only the forecasters measurably better than ConvLSTM: a Δ interval entirely below 0 is a "
        "real difference too — add (\"ConvLSTM\", forecaster) for each one measurably worse",
    ),
    Mistake(
        _mse_answer,
        "that is the answer for the MSE column: the question is about CSI-50, the critical success index at "
        "50 dBZ (higher is better)",
    ),
]


def _canonical(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _names() -> dict[str, str]:
    """Canonical spelling → the table's label, for every forecaster in the shipped results."""
    labels = _labels()
    return {_canonical(labels[k]): labels[k] for k in _shipped()["rows"]}


def _normalised(out: Any) -> tuple[frozenset[tuple[str, str]] | None, str | None]:
    """(the answer with the table's labels, None) or (None, what is wrong with its form)."""
    if not isinstance(out, set | frozenset):
        return None, (
            f"returns a {type(out).__name__}; return a set of (better, worse) pairs of names, e.g. "
            "{(\"PredRNN\", \"ConvLSTM\")} (an empty set, set(), if no difference is real)"
        )
    names, pairs = _names(), set()
    for item in out:
        if not (isinstance(item, tuple) and len(item) == 2 and all(isinstance(v, str) for v in item)):
            return None, f"the set holds {item!r}: each item must be a pair of names (better, worse)"
        unknown = [v for v in item if _canonical(v) not in names]
        if unknown:
            return None, (
                f"{unknown[0]!r} is not a forecaster of the table: use its names — "
                + ", ".join(repr(v) for v in sorted(names.values()))
            )
        pairs.add((names[_canonical(item[0])], names[_canonical(item[1])]))
    return frozenset(pairs), None


def _interval_text(label: str) -> str:
    labels = _labels()
    name = next(k for k, v in labels.items() if v == label)
    value, low, high = _shipped()["vs_convlstm"][name][METRIC]
    return f"{label} − ConvLSTM at CSI-50: {value:+.4f} [{low:+.4f}, {high:+.4f}]"


def _assess_pairs(case: Case, out: Any) -> str | None:
    answer, problem = _normalised(out)
    if answer is None:
        return problem
    expected = significant_pairs()
    if answer == expected:
        return None
    for mistake in _PAIR_MISTAKES:
        if answer == mistake.fn() != expected:
            return mistake.message
    ref = _labels()[REFERENCE]
    for a, b in sorted(answer):
        if a == b:
            return f"the pair ({a!r}, {b!r}) compares a forecaster with itself"
        if ref not in (a, b):
            return (
                f"the pair ({a!r}, {b!r}) does not involve ConvLSTM: the shipped results hold the paired differences "
                "of every forecaster from ConvLSTM only (the Δ table), and separate intervals cannot settle the rest"
            )
        if (b, a) in answer:
            return f"you have both ({a!r}, {b!r}) and ({b!r}, {a!r}): a real difference has one direction"
    extra = sorted(answer - expected)
    if extra:
        a, b = extra[0]
        other = a if b == ref else b
        if (b, a) in expected:
            return f"({a!r}, {b!r}) is the wrong way round ({_interval_text(other)}): write (better, worse)"
        return f"({a!r}, {b!r}) is not a measurable difference: the interval contains 0 ({_interval_text(other)})"
    a, b = sorted(expected - answer)[0]
    other = a if b == ref else b
    return (
        f"{len(expected - answer)} real difference(s) missing, e.g. one with {other}: its paired interval excludes 0 "
        f"({_interval_text(other)})"
    )


_SIGNIFICANT_PAIRS = CheckSpec(
    "significant_pairs",
    None,
    lambda gen: [Case("your answer", ())],
    _PAIR_MISTAKES,
    failure_note="a pair (better, worse) for each forecaster whose paired Δ interval from ConvLSTM at CSI-50 "
    "excludes 0",
    assess=_assess_pairs,
)


def check_significant_pairs(fn: Callable[[], set], seed: int | None = None) -> None:
    r"""Check ``significant_pairs()``: the (better, worse) pairs with ConvLSTM at CSI-50 that the paired bootstrap
    of the shipped Table 8 separates (the interval of the difference excludes 0: lesson 9's rule).

    Names are read as in the table, case, spaces and hyphens aside ("PredRNN-V2" = "predrnn_v2"). Recognises:
    pairs reversed, point estimates ranked instead of intervals, separate intervals compared instead of the
    paired ones, the baselines left out, a worse forecaster put first, the worse ones left out, the MSE
    column's answer; names pairs without ConvLSTM, unknown names, and each missing or extra pair with its
    interval.  Exercise of lesson 10 (``ex10_comparing_models.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_SIGNIFICANT_PAIRS, fn, seed)


#: This module's exercises, their arguments named for the feedback.
SPECS: list[CheckSpec] = named_specs(
    (
        _CONVLSTM_ROLLOUT_FLOPS,
        ("in_channels", "frame_size", "patch_size", "hidden_channels", "kernel_size", "input_len", "pred_len"),
    ),
    (_SIGNIFICANT_PAIRS, ()),
)
