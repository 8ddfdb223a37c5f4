"""PredRNN-V2: the decoupling loss and reverse scheduled sampling — lesson 7 (``ex07_predrnn_v2``)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .. import references as ref
from .._core import Case, CheckSpec, Mistake, run_check
from ..worker import Adapter
from ._draw import named_specs, randint, randn

Tensor = torch.Tensor


def _decouple_cases(gen: torch.Generator) -> list[Case]:
    specs = [
        ("float32, 2 samples, 3 channels, 5×7 frames", 2, 3, 5, 7, torch.float32, "random"),
        ("float64, batch 1, 4 channels, 6×6 frames", 1, 4, 6, 6, torch.float64, "random"),
        ("float32, 3 samples, 2 channels, 3×5 frames", 3, 2, 3, 5, torch.float32, "random"),
        ("float64, identical increments (loss 1)", 2, 3, 4, 4, torch.float64, "same"),
        ("float64, opposite increments (loss 1)", 2, 2, 5, 3, torch.float64, "opposite"),
        ("float32, batch 1, 5 channels, 9×5 frames", 1, 5, 9, 5, torch.float32, "random"),
    ]
    cases = []
    for label, b, c, h, w, dtype, kind in specs:
        shape = (b, c, h, w)
        dc = torch.sigmoid(randn(gen, shape, dtype)) * torch.tanh(randn(gen, shape, dtype, 2.0))
        if kind == "same":
            dm = dc.clone()
        elif kind == "opposite":
            dm = -dc
        else:
            dm = torch.sigmoid(randn(gen, shape, dtype)) * torch.tanh(randn(gen, shape, dtype, 2.0))
        adapter = Adapter(randn(gen, (c, c, 1, 1), dtype, 0.7))
        cases.append(Case(label, (adapter, dc, dm), dtype))
    return cases


def _decouple(dim: int = 2, absolute: bool = True, adapt: bool = True, normalize: bool = True, red: str = "mean"):
    def fn(adapter, dc, dm):
        a = adapter(dc) if adapt else dc
        b = adapter(dm) if adapt else dm
        if dim == 0:  # one cosine per sample, over all its channels and pixels
            cos = (F.normalize(a.flatten(1), dim=1) * F.normalize(b.flatten(1), dim=1)).sum(dim=1)
        elif dim == 2:
            a, b = a.flatten(2), b.flatten(2)
            if normalize:
                a, b = F.normalize(a, dim=2), F.normalize(b, dim=2)
            cos = (a * b).sum(dim=2)
        else:
            cos = (F.normalize(a, dim=1) * F.normalize(b, dim=1)).sum(dim=1)
        cos = cos.abs() if absolute else cos
        return cos.sum() if red == "sum" else cos.mean()

    return fn


_DECOUPLING_LOSS = CheckSpec(
    "decoupling_loss",
    ref.decoupling_loss,
    _decouple_cases,
    [
        Mistake(
            _decouple(absolute=False),
            "take the absolute value of each cosine before averaging: a negative similarity is coupling too "
            "(ΔM = −ΔC must cost as much as ΔM = ΔC)",
        ),
        Mistake(
            _decouple(dim=1),
            "normalise each (sample, channel) map over its H·W pixels (flatten(2), dim=2), not over the channels",
        ),
        Mistake(
            _decouple(adapt=False),
            "apply the shared adapter to both increments first: a = normalize(adapter(ΔC)), b = normalize(adapter(ΔM))",
        ),
        Mistake(
            _decouple(normalize=False),
            "normalise a and b to unit length over the pixels: the loss is a cosine similarity, not a raw dot product",
        ),
        Mistake(
            _decouple(red="sum"),
            "average the |cos| over samples and channels (mean), do not sum them",
        ),
        Mistake(
            _decouple(dim=0),
            "one cosine per (sample, channel), not one per sample: flatten only the pixels (flatten(2)) and "
            "normalise over dim=2, so each channel's map is compared with the same channel's",
        ),
    ],
    returns_tensor=True,
    grad_args=(1, 2),
)


def check_decoupling_loss(fn: Callable[..., Tensor], seed: int | None = None) -> None:
    r"""Check ``decoupling_loss(adapter, delta_c, delta_m)``: mean over (B, C) of |cos| over pixels.

    Recognises: no absolute value (also |mean| instead of mean |·|), normalising over channels, no
    adapter, no normalisation, a sum instead of a mean, a float instead of a tensor, in-place
    edits.  Exercise of lesson 7 (``ex07_predrnn_v2.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_DECOUPLING_LOSS, fn, seed)


def _schedule_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for trial in range(3):
        tau1 = randint(gen, 5, 30) * 1000
        tau2 = tau1 + randint(gen, 5, 30) * 1000
        alpha = float(randint(gen, 10, 60) * 100)
        phase = ("during warm-up", "between τ1 and τ2", "after τ2")
        k_values = (randint(gen, 0, tau1 - 1), randint(gen, tau1 + 1, tau2 - 1), randint(gen, tau2, 2 * tau2))
        for name, k in zip(phase, k_values, strict=True):
            cases.append(Case(f"k={k} ({name}), τ1={tau1}, τ2={tau2}, α={alpha:g}", (k, tau1, tau2, alpha)))
        if trial == 0:
            cases.append(Case(f"k = τ1 = {tau1}", (tau1, tau1, tau2, alpha)))
            cases.append(Case(f"k = τ2 = {tau2}", (tau2, tau1, tau2, alpha)))
            cases.append(Case("k = 0", (0, tau1, tau2, alpha)))
    return cases


def _schedule(
    r_kind: str = "exp",
    e_kind: str = "linear",
    swap_out: bool = False,
    clamp: bool = True,
    start: float = 0.5,
    shift: bool = True,
):
    def fn(k, tau1, tau2, alpha):
        if k < tau1:
            r, e = start, start
        elif k >= tau2 and clamp:
            r, e = 1.0, 0.0
        else:
            d = (k - tau1) if shift else k
            exp_r = 1.0 - 0.5 * math.exp(-d / alpha)
            lin_e = 0.5 - 0.5 * d / (tau2 - tau1)
            r = exp_r if r_kind == "exp" else 0.5 + 0.5 * d / (tau2 - tau1)
            e = lin_e if e_kind == "linear" else 0.5 * math.exp(-d / alpha)
        return (e, r) if swap_out else (r, e)

    return fn


_REVERSE_SCHEDULE = CheckSpec(
    "reverse_schedule",
    ref.reverse_schedule,
    _schedule_cases,
    [
        Mistake(_schedule(swap_out=True), "you returned (e, r): return (r, e), the encoder probability first"),
        Mistake(
            _schedule(r_kind="linear", e_kind="exp"),
            "swapped curves: the encoder probability r rises exponentially, r = 1 − 0.5·exp(−(k − τ1)/α); the "
            "decoder probability e falls linearly, e = 0.5 − 0.5·(k − τ1)/(τ2 − τ1)",
        ),
        Mistake(
            _schedule(r_kind="linear"),
            "the encoder probability rises exponentially between τ1 and τ2: r = 1 − 0.5·exp(−(k − τ1)/α)",
        ),
        Mistake(
            _schedule(e_kind="exp"),
            "the decoder probability falls linearly between τ1 and τ2: e = 0.5 − 0.5·(k − τ1)/(τ2 − τ1)",
        ),
        Mistake(
            _schedule(clamp=False),
            "after τ2 the schedule is constant: r = 1 and e = 0 (a formula used past τ2 gives e < 0, "
            "not a probability)",
        ),
        Mistake(
            _schedule(shift=False),
            "measure the time from τ1: use k − τ1 in both formulas, not k",
        ),
        Mistake(
            _schedule(start=1.0),
            "before τ1 both probabilities are 0.5 (reverse scheduled sampling starts half-and-half), not 1",
        ),
    ],
)


def check_reverse_schedule(fn: Callable[..., tuple[float, float]], seed: int | None = None) -> None:
    r"""Check ``reverse_schedule(k, tau1, tau2, alpha) -> (r, e)`` on random τ1, τ2, α and k in each phase.

    Recognises: swapped outputs, swapped or wrong curves, no clamping after τ2, k instead of
    k − τ1, a start at 1 instead of 0.5.  Exercise of lesson 7.
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_REVERSE_SCHEDULE, fn, seed)


#: This module's exercises, their arguments named for the feedback.
SPECS: list[CheckSpec] = named_specs(
    (_DECOUPLING_LOSS, ("adapter", "delta_c", "delta_m")),
    (_REVERSE_SCHEDULE, ("k", "tau1", "tau2", "alpha")),
)
