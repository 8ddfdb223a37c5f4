"""Reading the trained ConvLSTM's gates: which forget channel follows the digits — lesson 3 (``ex03_convlstm_gates``).

The answer is read off the shipped moving-digits ConvLSTM (``data/checkpoints/moving_digits/convlstm.pt``):
the checker traces it on a fixed set of test sequences, in its own process, and accepts every channel
the data supports (:func:`forget_digit_correlation`, :data:`THRESHOLD`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import torch

from .. import worker
from .._core import Case, CheckSpec, Mistake, run_check
from ._draw import named_specs

Tensor = torch.Tensor

#: the test sequences the statistic is computed on (the notebook's explore cell shows the same ones)
SEQUENCES = tuple(range(16))
#: the input steps: each reads a true frame (from step 10 on the model reads its own predictions)
STEPS = tuple(range(10))
#: the layer whose forget gate the question is about
LAYER = 0
#: a 4×4 patch cell is "digit" when its brightest pixel exceeds this (lesson 3's ``digit`` mask)
DIGIT_LEVEL = 0.2
#: channels of layer 0 in the shipped model (2 layers × 32 channels)
CHANNELS = 32
#: a channel counts as following the digits when its correlation with the digit mask is at least this
THRESHOLD = 0.35


@functools.cache
def forget_digit_correlation() -> Tensor:
    r"""Per channel of layer 0's forget gate, the correlation of :math:`f_t` with the digit mask: (C,) float64.

    The shipped moving-digits ConvLSTM is traced on test sequences :data:`SEQUENCES` over the input
    steps :data:`STEPS`; a patch cell of the 16 × 16 grid is 1 in the mask when its brightest pixel is
    above :data:`DIGIT_LEVEL` (the digit patches of lesson 3), else 0. The Pearson correlation of each
    channel's :math:`f_t` with that mask is taken over all steps, sequences and cells: near +1, the
    channel is high (keeps memory) exactly where the digits are and follows them as they move; near −1,
    it is low there (erases) and high on the background. Computed once per process (about a second).
    Exercise 8 of lesson 3 (``ex03_convlstm_gates.ipynb``).
    """
    from ...data import load_moving_digits_test
    from ...models import TraceSpec, patch_frames
    from ...models.base import lesson_pass
    from ...training.pretrained import load_pretrained

    model = load_pretrained("moving_digits", "convlstm")
    test = load_moving_digits_test()
    batch = torch.stack([test[i] for i in SEQUENCES])
    with torch.no_grad(), lesson_pass():
        out = model(batch, trace=TraceSpec(steps=STEPS, layers=(LAYER,)))
    f = out.trace.stack("f", LAYER).double()  # (steps, B, C, 16, 16)
    patched = patch_frames(batch, model.patch_size)[:, list(STEPS)]  # (B, steps, p·p, 16, 16)
    mask = (patched.amax(dim=2) > DIGIT_LEVEL).double().transpose(0, 1)[:, :, None]  # (steps, B, 1, 16, 16)
    dims = (0, 1, 3, 4)
    f_c = f - f.mean(dim=dims, keepdim=True)
    m_c = mask - mask.mean()
    # r_c = Σ (f − f̄)(m − m̄) / sqrt(Σ (f − f̄)² · Σ (m − m̄)²), over steps, sequences and cells
    return (f_c * m_c).sum(dim=dims) / (f_c.pow(2).sum(dim=dims).sqrt() * m_c.pow(2).sum().sqrt())


def supported_channels() -> frozenset[int]:
    """The channels the check accepts: correlation with the digit mask ≥ :data:`THRESHOLD` (lesson 3)."""
    corr = forget_digit_correlation()
    return frozenset(int(k) for k in range(len(corr)) if float(corr[k]) >= THRESHOLD)


_LIST = (
    "return ONE channel, a single int (e.g. `return 7`): the check accepts any channel the data supports, "
    "so pick one of them"
)
_LOWEST = (
    "that channel's forget gate is the most ANTI-correlated with the digits: it is low (it erases) on the digit "
    "patches and high on the background, so its map shows the digits as dark holes — it keeps the background's "
    "memory, not the digit's. The question asks for a channel whose f_t is HIGH where the digit is"
)
_OFF_BY_ONE = (
    "off by one: channels are numbered from 0 (the first panel is channel 0, as in f_t[0, 0]); the channel you "
    "meant is one lower"
)


def _range_message(channels: int) -> str:
    return f"layer 0's forget gate has {channels} channels, numbered 0 … {channels - 1}"


def _as_channel(out: Any) -> int | str:
    """The answer as a channel index, or the message saying why it is not one."""
    if isinstance(out, list | tuple | set | frozenset) or (isinstance(out, Tensor) and out.numel() > 1):
        return _LIST
    if isinstance(out, bool):
        return "returns a bool; return one channel index, an int"
    if isinstance(out, Tensor) and out.numel() == 1:
        out = out.item()
    if isinstance(out, float):
        if not math.isfinite(out) or out != int(out):
            return f"returns {out!r}; a channel is a whole number: return an int"
        out = int(out)
    if isinstance(out, str):
        return f"returns the str {out!r}; return the channel as an int, without quotes"
    if not isinstance(out, int):
        what = out.type_name if isinstance(out, worker.Other) else type(out).__name__
        return f"returns a {what}; return one channel index, an int"
    return out


def _assess_channel(case: Case, out: Any) -> str | None:
    k = _as_channel(out)
    if isinstance(k, str):
        return k
    corr = forget_digit_correlation()
    if not 0 <= k < len(corr):
        return f"{_range_message(len(corr))}: {k} is not one of them"
    accepted = supported_channels()
    if k in accepted:
        return None
    r = float(corr[k])
    counted_from_one = k - 1 in accepted
    if k == int(corr.argmin()):
        note = f" (If you counted the panels from 1, {_OFF_BY_ONE.split(': ', 1)[1]}.)" if counted_from_one else ""
        return f"{_LOWEST} (channel {k}: correlation {r:+.2f}).{note}"
    if counted_from_one:
        return f"{_OFF_BY_ONE} (channel {k} itself: correlation {r:+.2f})."
    if r < 0:
        return (
            f"channel {k}'s forget gate is LOWER on the digits than on the background (correlation {r:+.2f}): it "
            "erases where the digit is; look for a channel that is high on the digit and follows it"
        )
    return (
        f"channel {k} follows the digits only weakly (correlation {r:+.2f}, below {THRESHOLD}): it may light up on a "
        "digit in one frame, but over the 16 sequences it is not consistently brighter on the digits than on the "
        "background; pick a channel whose bar is above the dashed line"
    )


_POSITION_CHANNEL = CheckSpec(
    "position_channel",
    None,
    lambda gen: [Case("your answer", ())],
    [
        Mistake(lambda: int(forget_digit_correlation().argmin()), _LOWEST),
        Mistake(lambda: int(forget_digit_correlation().argmax()) + 1, _OFF_BY_ONE),
        Mistake(lambda: len(forget_digit_correlation()), _range_message(CHANNELS)),
        Mistake(lambda: sorted(supported_channels()), _LIST),
    ],
    assess=_assess_channel,
)


def check_position_channel(fn: Callable[[], int], seed: int | None = None) -> None:
    r"""Check ``position_channel() -> int``: a channel of layer 0's forget gate that follows the digits.

    Accepted: every channel whose :math:`f_t` correlates with the digit mask at ≥ 0.35 over the
    input steps of test sequences 0–15 (:func:`forget_digit_correlation`, computed here from the
    shipped model). Recognises: the most anti-correlated channel (high on the background), the
    best channel counted from 1, a channel out of range, a list of channels, a str or bool, and
    says how well any other channel correlates.  Exercise of lesson 3 (``ex03_convlstm_gates.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_POSITION_CHANNEL, fn, seed)


#: This module's exercise.
SPECS: list[CheckSpec] = named_specs((_POSITION_CHANNEL, ()))
