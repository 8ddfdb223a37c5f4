r"""Training and reading a ConvLSTM: the sampled rollout, a forecaster trained in the notebook, and a gate
surgery predicted then verified — lesson 4 (``ex04_training_convlstm``).

* ``rollout(step, frames, mask, input_len)`` — the encoder–forecaster loop of the rollout models with
  the scheduled-sampling mask, :math:`X_t = m_t\,x_t + (1 - m_t)\,\hat x_t`, as
  :class:`stlearn.models.base.RolloutModel` runs it.
* ``forecast(inputs)`` — a tiny ConvLSTM the learner trains on moving squares; judged on a fresh
  held-out batch against persistence, a blank frame and the best constant frame (:func:`make_batch` is
  the checker's copy of the notebook's data generator).
* ``forget_clamp_answer()`` — the first lead time that an edit :math:`f \leftarrow 0` in layer 1 during
  the forecast changes, and the factor by which it raises the forecast's mean MSE per frame, compared
  with :func:`stlearn.surgery.run_surgery` on the shipped moving-digits ConvLSTM.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .. import worker
from .._core import Case, CheckSpec, Mistake, run_check
from ..worker import ToyStep
from ._draw import named_specs, randint, randn

Tensor = torch.Tensor

__all__ = [
    "check_forecast",
    "check_forget_clamp_answer",
    "check_rollout",
    "forget_clamp_numbers",
    "make_batch",
    "rollout_reference",
]


# --------------------------------------------------------------------------------------------
# exercise 1: the rollout with the sampling mask
# --------------------------------------------------------------------------------------------


def rollout_reference(step: Callable[..., Any], frames: Tensor, mask: Tensor | None, input_len: int) -> Tensor:
    r"""All T − 1 one-step predictions :math:`\hat x_1 \dots \hat x_{T-1}` of a rollout, (B, T − 1, C, H, W).

    Step t = 0 … T − 2 reads :math:`X_t` and predicts :math:`\hat x_{t+1}`: step 0 reads :math:`x_0`;
    with ``mask`` (B, T − 2), step t ≥ 1 reads :math:`m_t x_t + (1 - m_t)\hat x_t` with
    :math:`m_t` = ``mask[:, t - 1]``; with ``mask=None`` (test time) the true frame for t < input_len
    and the model's own prediction after. The loop of :meth:`stlearn.models.base.RolloutModel._run`,
    with the model's step handed in as ``step(x, state) -> (prediction, state)``. Lesson 4.
    """
    state, preds = None, []
    for t in range(frames.shape[1] - 1):
        if t == 0 or (mask is None and t < input_len):
            x = frames[:, t]
        elif mask is None:
            x = preds[-1]
        else:
            m = mask[:, t - 1].view(-1, 1, 1, 1)
            x = m * frames[:, t] + (1 - m) * preds[-1]
        pred, state = step(x, state)
        preds.append(pred)
    return torch.stack(preds, dim=1)


def _rollout(
    rule: str = "mask",
    frame_shift: int = 0,
    lag: int = 0,
    keep_state: bool = True,
    forecast_only: bool = False,
    extra_step: bool = False,
) -> Callable[..., Tensor]:
    """A wrong rollout a learner writes (the keyword names the slip)."""

    def fn(step, frames, mask, input_len):
        total = frames.shape[1]
        state, preds = None, []
        for t in range(total if extra_step else total - 1):
            if t == 0:
                x = frames[:, 0]
            else:
                true = frames[:, min(t + frame_shift, total - 1)]
                guess = preds[max(t - 1 - lag, 0)]
                if rule == "teacher":
                    m = 1.0
                elif rule == "test_time" or mask is None:
                    m = 1.0 if t < input_len else 0.0
                elif rule == "inverted":
                    m = 1 - mask[:, t - 1].view(-1, 1, 1, 1)
                elif rule == "encoder_true":
                    m = 1.0 if t < input_len else mask[:, t - 1].view(-1, 1, 1, 1)
                elif rule == "from_forecast":
                    m = 1.0 if t < input_len else mask[:, t - input_len].view(-1, 1, 1, 1)
                else:
                    m = mask[:, t - 1].view(-1, 1, 1, 1)
                x = m * true + (1 - m) * guess
            pred, new_state = step(x, state)
            state = new_state if keep_state else None
            preds.append(pred)
        out = torch.stack(preds, dim=1)
        return out[:, input_len - 1 :] if forecast_only else out

    return fn


def _rand(gen: torch.Generator, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    return torch.rand(shape, generator=gen, dtype=torch.float64).to(dtype)


def _toy_step(gen: torch.Generator, channels: int, hidden: int, dtype: torch.dtype) -> ToyStep:
    return ToyStep(
        randn(gen, (hidden, channels, 3, 3), dtype, 0.6),
        randn(gen, (hidden, hidden, 3, 3), dtype, 0.25),
        randn(gen, (channels, hidden, 1, 1), dtype, 0.7),
    )


def _mixed_mask(gen: torch.Generator, batch: int, total: int, input_len: int, dtype: torch.dtype) -> Tensor:
    """Bernoulli(½) draws; sample 0 has a 0 and a 1 among the encoder columns and among the forecaster columns.

    Its first encoder column is 0 and its first forecaster column 1, so reading column t − input_len instead of
    t − 1 differs at step input_len.
    """
    mask = (torch.rand(batch, total - 2, generator=gen, dtype=torch.float64) < 0.5).to(dtype)
    enc = list(range(0, input_len - 1))  # column j is step j + 1: encoder steps 1 … input_len − 1
    dec = list(range(input_len - 1, total - 2))
    if enc:
        mask[0, enc[0]] = 0.0
        if len(enc) >= 2:
            mask[0, enc[-1]] = 1.0
    if dec:
        mask[0, dec[0]] = 1.0
        if len(dec) >= 2:
            mask[0, dec[-1]] = 0.0
    return mask


def _rollout_cases(gen: torch.Generator) -> list[Case]:
    # (label, B, T, input_len, C, hidden, H, W, dtype, mask kind)
    specs = [
        ("float32, 2 sequences of 8 frames, input_len 4, a drawn mask", 2, 8, 4, 1, 4, 6, 7, torch.float32, "mixed"),
        ("float64, 3 sequences of 7 frames, 2 channels, input_len 3, a drawn mask", 3, 7, 3, 2, 3, 5, 5,
         torch.float64, "mixed"),
        ("float32, mask=None (test time), input_len 5", 2, 8, 5, 1, 4, 5, 6, torch.float32, "none"),
        ("float64, batch 1, a mask of ones (teacher forcing)", 1, 6, 3, 1, 3, 4, 5, torch.float64, "ones"),
        ("float32, the test-time mask: ones for the encoder, zeros after", 2, 7, 4, 1, 4, 5, 5, torch.float32,
         "inference"),
        ("float64, a mask of zeros (every step after 0 reads its own prediction)", 2, 6, 2, 1, 3, 4, 4,
         torch.float64, "zeros"),
        ("float64, T = 3, input_len 1 (the smallest rollout), a drawn mask", 3, 3, 1, 1, 3, 4, 4, torch.float64,
         "mixed"),
        ("float32, 4 sequences of 9 frames, input_len 5, a drawn mask", 4, 9, 5, 1, 4, 5, 5, torch.float32, "mixed"),
    ]  # fmt: skip
    cases = []
    for label, b, total, input_len, c, hidden, h, w, dtype, kind in specs:
        step = _toy_step(gen, c, hidden, dtype)
        frames = _rand(gen, (b, total, c, h, w), dtype)
        if kind == "none":
            mask = None
        elif kind == "ones":
            mask = torch.ones(b, total - 2, dtype=dtype)
        elif kind == "zeros":
            mask = torch.zeros(b, total - 2, dtype=dtype)
        elif kind == "inference":
            mask = (torch.arange(1, total - 1) < input_len).to(dtype).expand(b, -1).clone()
        else:
            mask = _mixed_mask(gen, b, total, input_len, dtype)
        cases.append(Case(label, (step, frames, mask, input_len), dtype))
    return cases


def _frame_count(case: Case, out: Any) -> str | None:
    """Name a wrong number of returned frames (a shape no listed mistake reproduces exactly)."""
    frames, input_len = case.args[1], case.args[3]
    total = frames.shape[1]
    if not isinstance(out, Tensor) or out.ndim != 5 or out.shape[1] == total - 1:
        return None
    n = out.shape[1]
    if n == total:
        return (
            f"returns {n} = T frames: there are T − 1 steps, t = 0 … T − 2 (step t predicts x̂_(t+1); the last "
            "frame x_(T−1) has no successor to predict) — return x̂_1 … x̂_(T−1)"
        )
    if n == total - 2:
        return (
            f"returns {n} = T − 2 frames: the mask has T − 2 columns because step 0 always reads x_0, but there "
            "are T − 1 steps (t = 0 … T − 2), each predicting one frame — return all T − 1 predictions"
        )
    if n == total - input_len:
        return (
            f"returns {n} = T − input_len frames, the forecast only: return all T − 1 one-step predictions "
            "x̂_1 … x̂_(T−1) (the training loss uses the encoder steps' predictions too)"
        )
    return None


_ROLLOUT = CheckSpec(
    "rollout",
    rollout_reference,
    _rollout_cases,
    [
        Mistake(
            _rollout("teacher"),
            "every step reads the true frame x_t — that is teacher forcing, whatever the mask says: step t ≥ 1 "
            "reads X_t = m_t·x_t + (1 − m_t)·x̂_t, with m_t = mask[:, t − 1]",
        ),
        Mistake(
            _rollout("test_time"),
            "you used the test-time rule (true frames for t < input_len, your predictions after) and ignored the "
            "mask: when a mask is given, step t ≥ 1 reads m_t·x_t + (1 − m_t)·x̂_t; only mask=None means the "
            "test-time rule",
        ),
        Mistake(
            _rollout("inverted"),
            "the mask is inverted: m_t = 1 means the TRUE frame x_t (teacher forcing is a mask of ones), m_t = 0 "
            "the model's own prediction x̂_t",
        ),
        Mistake(
            _rollout("encoder_true"),
            "your encoder steps (t < input_len) always read the true frame: the mask covers them too (column j "
            "is step t = j + 1, for every step after step 0) — reverse scheduled sampling (lesson 7) puts zeros "
            "there",
        ),
        Mistake(
            _rollout("from_forecast"),
            "off by input_len − 1 in the mask's column: column j is step t = j + 1 for ALL steps (encoder "
            "included), so step t reads mask[:, t − 1], not mask[:, t − input_len]",
        ),
        Mistake(
            _rollout(lag=1),
            "step t must mix x_t with x̂_t, the prediction the step just before (step t − 1) made — the last "
            "one in your list; you fed an older prediction, x̂_(t−1)",
        ),
        Mistake(
            _rollout(frame_shift=1),
            "step t reads x_(t+1), the very frame it must predict: it reads x_t (frames[:, t]) and predicts "
            "x̂_(t+1)",
        ),
        Mistake(
            _rollout(keep_state=False),
            "the state is not carried: pass the state that step t returned to step t + 1 (None only at step 0) "
            "— without it the model has no memory of the earlier frames",
        ),
        Mistake(
            _rollout(forecast_only=True),
            "you returned the forecast only (the predictions of steps input_len − 1 … T − 2): return all T − 1 "
            "one-step predictions x̂_1 … x̂_(T−1), the training loss uses every one",
        ),
        Mistake(
            _rollout(extra_step=True),
            "you ran T steps and returned T frames: there are T − 1 steps, t = 0 … T − 2 (the last frame "
            "x_(T−1) has no successor to predict)",
        ),
    ],
    validators=[_frame_count],
    failure_note="step 0 reads x_0; step t ≥ 1 reads mask[:, t − 1]·x_t + (1 − mask[:, t − 1])·x̂_t, or with "
    "mask=None x_t for t < input_len and x̂_t after; pass each returned state to the next step",
)


def check_rollout(fn: Callable[..., Tensor], seed: int | None = None) -> None:
    r"""Check ``rollout(step, frames, mask, input_len)`` → the T − 1 one-step predictions, (B, T − 1, C, H, W).

    Cases: drawn masks (zeros and ones on encoder and forecaster steps), ``mask=None``, masks of ones, of
    zeros and the test-time mask, T = 3, float32 and float64. Recognises: teacher forcing (the mask
    ignored), the test-time rule (the mask ignored the other way), an inverted mask, encoder steps that
    ignore the mask, mask column t − input_len, an older prediction fed back, x_(t+1) read, the state not
    carried, only the forecast or T frames returned, in-place edits.  Exercise of lesson 4
    (``ex04_training_convlstm.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_ROLLOUT, fn, seed)


# --------------------------------------------------------------------------------------------
# exercise 2: a forecaster trained in the notebook
# --------------------------------------------------------------------------------------------

#: the toy of the training exercise (the same constants as the notebook's set-up cell)
N_PAST, N_FUTURE, SIZE, SQUARE = 6, 4, 16, 3
#: the forecast's MSE must be at most this share of the best trivial forecast's
MARGIN = 0.5
HELD_OUT = 64


def make_batch(n: int, seed: int) -> Tensor:
    """``n`` sequences of a bright 3 × 3 square moving at constant velocity: (n, 10, 1, 16, 16) float32 in {0, 1}.

    Each sequence picks one of the 8 directions (one pixel per frame along a row, a column or a
    diagonal) and a start that keeps the square inside the frame for all 10 frames. The same
    ``(n, seed)`` give the same tensor: the checker's copy of the generator in the set-up cell of
    ``ex04_training_convlstm.ipynb`` (a test keeps the two identical). Exercise of lesson 4.
    """
    g = torch.Generator().manual_seed(seed)
    directions = torch.tensor([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)])
    v = directions[torch.randint(0, len(directions), (n,), generator=g)]  # (n, 2): pixels per frame
    total, free = N_PAST + N_FUTURE, SIZE - SQUARE
    low = (-v * (total - 1)).clamp(min=0)  # the start that keeps the square inside until the last frame
    high = free - (v * (total - 1)).clamp(min=0)
    start = low + (torch.rand(n, 2, generator=g) * (high - low + 1)).floor().long()
    corner = start[:, None, :] + v[:, None, :] * torch.arange(total)[None, :, None]  # (n, T, 2): top-left
    pixels = torch.arange(SIZE)
    rows = (pixels >= corner[..., 0:1]) & (pixels < corner[..., 0:1] + SQUARE)  # (n, T, SIZE)
    cols = (pixels >= corner[..., 1:2]) & (pixels < corner[..., 1:2] + SQUARE)
    return (rows[..., :, None] & cols[..., None, :]).float()[:, :, None]  # (n, T, 1, SIZE, SIZE)


@dataclass
class _HeldOut(Case):
    """A held-out batch: the inputs go to the learner's forecast, the future frames stay here."""

    target: Tensor | None = None


def _forecast_cases(gen: torch.Generator) -> list[Case]:
    seed = randint(gen, 1_000_000, 2**31 - 2)
    batch = make_batch(HELD_OUT, seed)
    one = make_batch(1, seed + 1)
    return [
        _HeldOut(f"{HELD_OUT} held-out sequences (make_batch({HELD_OUT}, {seed}))", (batch[:, :N_PAST],),
                 target=batch[:, N_PAST:]),
        _HeldOut(f"one sequence, batch of 1 (make_batch(1, {seed + 1}))", (one[:, :N_PAST],), target=one[:, N_PAST:]),
    ]  # fmt: skip


def _persistence(inputs: Tensor) -> Tensor:
    return inputs[:, -1:].repeat(1, N_FUTURE, 1, 1, 1)


def _blank(inputs: Tensor) -> Tensor:
    return torch.zeros(inputs.shape[0], N_FUTURE, *inputs.shape[2:], dtype=inputs.dtype)


def _input_mean(inputs: Tensor) -> Tensor:
    return inputs.mean(dim=1, keepdim=True).repeat(1, N_FUTURE, 1, 1, 1)


def _without_channel(inputs: Tensor) -> Tensor:
    return _persistence(inputs)[:, :, 0]


_PERSISTENCE = (
    "your forecast is the last input frame repeated: that IS persistence, the baseline to beat — train a model and "
    "return its forecast"
)
_BLANK = (
    "your forecast is blank (all zeros): on this toy a blank frame already beats persistence (the square is in "
    "9 of 256 pixels; persistence is wrong twice, where the square was and where it went), but it forecasts "
    "nothing — a model that learned only that the frames are mostly black (or an untrained one, clamped to 0); "
    "train it longer or with a higher learning rate"
)
_CONSTANT = (
    "your forecast is (nearly) the same value everywhere ({value:.3g}): an untrained model, or one that learned "
    "only the mean brightness (the best constant frame); train it — more iterations, a working learning rate — "
    "and check that the training loss falls below {best:.3g}, the best constant frame's"
)
_INPUT_MEAN = (
    "your forecast is the average of the input frames: a blurred trail where the square was, not where it goes"
)
_COPY = "your forecast copies input frames: forecast the 4 frames that FOLLOW the inputs"
_SHAPE = (
    "returns shape {got}; expected {expected} = (B, 4, 1, 16, 16): the next 4 frames of each sequence, with the "
    "channel axis"
)


def _mse(a: Tensor, b: Tensor) -> float:
    return float(((a.double() - b.double()) ** 2).mean())


def _baselines(inputs: Tensor, target: Tensor) -> dict[str, float]:
    constant = torch.full_like(target, float(target.mean()))
    return {
        "persistence": _mse(_persistence(inputs), target),
        "blank": _mse(_blank(inputs), target),
        "best constant": _mse(constant, target),
    }


def _assess_forecast(case: Case, out: Any) -> str | None:
    inputs = case.args[0]
    target = getattr(case, "target", None)
    assert target is not None
    expected = tuple(target.shape)
    if isinstance(out, worker.Other) or not isinstance(out, Tensor):
        what = out.type_name if isinstance(out, worker.Other) else type(out).__name__
        return f"returns a {what}; return a torch.Tensor of shape {expected}, the forecast of the next 4 frames"
    if tuple(out.shape) != expected:
        return _SHAPE.format(got=tuple(out.shape), expected=expected)
    if out.dtype != torch.float32:
        return f"returns {out.dtype}; return float32, the dtype of the inputs (and of the model's weights)"
    if not torch.isfinite(out).all():
        return (
            "your forecast holds NaN or infinite values: the training diverged — a learning rate too high? "
            "(Adam with lr around 1e-2 … 1e-3 works here)"
        )
    if torch.equal(out, _persistence(inputs)):
        return _PERSISTENCE
    if torch.equal(out, _input_mean(inputs)):
        return _INPUT_MEAN
    for k in range(N_PAST - N_FUTURE + 1):
        if torch.equal(out, inputs[:, k : k + N_FUTURE]):
            return _COPY
    if not out.any():
        return _BLANK
    base = _baselines(inputs, target)
    if float(out.max() - out.min()) < 1e-3:
        return _CONSTANT.format(value=float(out.mean()), best=base["best constant"])
    if float(out.min()) < -1e-6 or float(out.max()) > 1 + 1e-6:
        return (
            f"your forecast has values in [{float(out.min()):.3g}, {float(out.max()):.3g}]: frames are in [0, 1] — "
            "clamp it (.clamp(0, 1))"
        )
    if target.shape[0] < HELD_OUT:
        return None  # one sequence: the shape and the values' range only, its MSE is too noisy to judge
    mse, best = _mse(out, target), min(base.values())
    if mse <= MARGIN * best:
        return None
    numbers = (
        f"your MSE {mse:.4f}; persistence {base['persistence']:.4f}, blank {base['blank']:.4f}, best constant frame "
        f"{base['best constant']:.4f}; the bar is {MARGIN:g} × {best:.4f} = {MARGIN * best:.4f}"
    )
    if mse < min(base["blank"], base["best constant"]):
        return (
            f"beats persistence but not by enough ({numbers}): it beats every trivial forecast, but the bar is half "
            "the best one's — train longer (more iterations) or tune the learning rate"
        )
    if mse < base["persistence"]:
        return (
            f"beats persistence but not a blank or constant frame ({numbers}): that is easy on this toy — a blank "
            "frame beats persistence too. Your model has not learned the motion yet: an untrained or barely trained "
            "model? Train more iterations and check that the training loss falls well below the best constant frame's"
        )
    return (
        f"does not beat the trivial forecasts ({numbers}): an untrained or barely trained model? Train more "
        "iterations and check that the training loss falls"
    )


_FORECAST = CheckSpec(
    "forecast",
    None,
    _forecast_cases,
    [
        Mistake(_persistence, _PERSISTENCE),
        Mistake(_blank, _BLANK),
        Mistake(_input_mean, _INPUT_MEAN),
        Mistake(
            _without_channel,
            "returns 4-d frames (B, 4, 16, 16): keep the channel axis, (B, 4, 1, 16, 16) — the model's frames are "
            "(B, T, C, H, W)",
        ),
    ],
    assess=_assess_forecast,
)


def check_forecast(fn: Callable[[Tensor], Tensor], seed: int | None = None) -> None:
    r"""Check ``forecast(inputs)``: on a fresh held-out batch its MSE must be ≤ ½ of the best trivial forecast's.

    The batch comes from :func:`make_batch` (the notebook's generator) with a new seed; the trivial
    forecasts are persistence, a blank frame and the best constant frame (a blank frame beats
    persistence on a moving square, so persistence alone is too weak a bar). Recognises: persistence,
    a blank or constant forecast (an untrained model), the inputs' average, copied inputs, a wrong shape
    or dtype, NaN (a diverged training), values outside [0, 1], a forecast that beats persistence but not
    by enough.  Exercise of lesson 4 (``ex04_training_convlstm.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_FORECAST, fn, seed)


# --------------------------------------------------------------------------------------------
# exercise 3: f ← 0 in layer 1 during the forecast, predicted then verified
# --------------------------------------------------------------------------------------------

#: the test sequences of the experiment (lesson 4's ``batch``: the first 16 of the stored test split)
SEQUENCES = 16
#: the accepted distance of the learner's ratio from the real one
RATIO_TOL = 0.02


@functools.cache
def forget_clamp_numbers() -> dict[str, tuple[float, ...]]:
    """MSE per frame by lead time 1 … 10 of the pretrained moving-digits ConvLSTM on the first 16 test sequences.

    Keys: ``"unmodified"``, ``"f0_layer1_forecast"`` (the exercise's edit: f ← 0 in layer 1 at the
    forecast steps 10–18), and the edits behind the recognised mistakes: ``"f0_layer0_forecast"``,
    ``"f0_layer1_all"`` (every step), ``"f1_layer1_forecast"``. Computed once per process with
    :func:`stlearn.surgery.run_surgery` on one thread (about 1 s). Exercise of lesson 4.
    """
    from ...data import load_moving_digits_test
    from ...metrics import mse_per_frame
    from ...models.base import lesson_pass
    from ...surgery import Surgery, run_surgery
    from ...training.pretrained import load_pretrained

    model = load_pretrained("moving_digits", "convlstm")
    test = load_moving_digits_test()
    batch = torch.stack([test[i] for i in range(SEQUENCES)])
    future = batch[:, 10:]

    def lead(surgery: Any, baseline: Any = None) -> tuple[float, ...]:
        out = run_surgery(model, batch, surgery, baseline=baseline)
        return tuple(float(v) for v in mse_per_frame(out.predictions.clamp(0, 1), future, reduction="lead"))

    edits = {
        "f0_layer1_forecast": Surgery("clamp", "f", 0.0, layers=1, steps="forecast"),
        "f0_layer0_forecast": Surgery("clamp", "f", 0.0, layers=0, steps="forecast"),
        "f0_layer1_all": Surgery("clamp", "f", 0.0, layers=1, steps="all"),
        "f1_layer1_forecast": Surgery("clamp", "f", 1.0, layers=1, steps="forecast"),
    }
    with lesson_pass():
        base = run_surgery(model, batch)
        numbers = {"unmodified": lead(None, base)}
        for name, surgery in edits.items():
            numbers[name] = lead(surgery, base if surgery.steps == "forecast" else None)
    return numbers


def _first_changed(edited: tuple[float, ...], base: tuple[float, ...]) -> int:
    for k, (e, b) in enumerate(zip(edited, base, strict=True)):
        if abs(e - b) > 1e-6 * max(abs(b), 1.0):
            return k + 1
    return len(base) + 1


def _ratio(edited: tuple[float, ...], base: tuple[float, ...]) -> float:
    return (sum(edited) / len(edited)) / (sum(base) / len(base))


def _answer_of(name: str) -> tuple[int, float]:
    numbers = forget_clamp_numbers()
    base, edited = numbers["unmodified"], numbers[name]
    return _first_changed(edited, base), _ratio(edited, base)


def _true_answer() -> tuple[int, float]:
    return _answer_of("f0_layer1_forecast")


def _other_layer() -> tuple[int, float]:
    return _answer_of("f0_layer0_forecast")


def _whole_sequence() -> tuple[int, float]:
    return _answer_of("f0_layer1_all")


def _forget_one() -> tuple[int, float]:
    return _answer_of("f1_layer1_forecast")


def _difference() -> tuple[int, float]:
    numbers = forget_clamp_numbers()
    base, edited = numbers["unmodified"], numbers["f0_layer1_forecast"]
    return _first_changed(edited, base), sum(edited) / len(edited) - sum(base) / len(base)


def _from_zero() -> tuple[int, float]:
    lead, ratio = _true_answer()
    return lead - 1, ratio


_OTHER_LAYER = (
    "your ratio is the one of f ← 0 in layer 0 (lesson 4's experiment 1), not layer 1: the question clamps the top "
    "layer's forget gate"
)
_WHOLE = (
    "that is f ← 0 in layer 1 at EVERY step (encoder included): then even lead 1 changes. The question clamps f "
    "during the forecast only (steps 10–18), so the encoder's memory is intact when the forecast starts"
)
_F_ONE = "that is the effect of f ← 1 (nothing forgotten), not f ← 0 (everything forgotten at each forecast step)"
_DIFFERENCE = (
    "that is a difference of MSEs (edited − unmodified); the question asks for the ratio edited / unmodified of "
    "the two mean MSEs"
)
_FROM_ZERO = (
    "your ratio is right, but lead 1 — the first forecast frame, made by step 9 from the true x_9 — does not change: "
    "an edit of the forecast steps 10–18 acts after it. Lead times count from 1 (lead k is frame 9 + k)"
)


def _assess_answer(case: Case, out: Any) -> str | None:
    if not isinstance(out, tuple | list) or len(out) != 2:
        what = out.type_name if isinstance(out, worker.Other) else type(out).__name__
        return f"returns a {what}; return a tuple (first_lead, ratio), e.g. (3, 1.25)"
    lead, ratio = out
    if isinstance(lead, bool) or not isinstance(lead, int | float) or float(lead) != int(lead):
        return f"the first value, {lead!r}, must be a whole lead time, 1 … 10"
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not math.isfinite(ratio):
        return f"the second value, {ratio!r}, must be a number: the ratio of the two mean MSEs"
    lead = int(lead)
    true_lead, true_ratio = _true_answer()

    def near(value: float) -> bool:
        return abs(ratio - value) <= RATIO_TOL

    if lead == true_lead and near(true_ratio):
        return None
    if near(_whole_sequence()[1]):
        return _WHOLE
    if near(_other_layer()[1]):
        return _OTHER_LAYER
    if near(_forget_one()[1]):
        return _F_ONE
    if abs(ratio - _difference()[1]) <= max(0.5, 0.02 * abs(_difference()[1])):
        return _DIFFERENCE
    if lead == true_lead - 1 and near(true_ratio):
        return _FROM_ZERO
    numbers = forget_clamp_numbers()
    base, edited = numbers["unmodified"], numbers["f0_layer1_forecast"]
    if lead != true_lead:
        if lead == 1:
            return (
                "lead 1 does not change: the first forecast frame comes from step 9, which reads the true x_9 "
                "before any edited step (the edit acts at steps 10–18)"
            )
        return (
            f"the first lead time that changes is not {lead}: compare the two printed rows lead by lead — the "
            "edit acts from step 10 on, and step 10 makes the forecast's second frame"
        )
    if ratio > 0 and near(1 / true_ratio):
        return "you divided the wrong way: the ratio is the edited mean MSE / the unmodified mean MSE (above 1 here)"
    per_lead = [e / b for e, b in zip(edited, base, strict=True)]
    if near(sum(per_lead) / len(per_lead)):
        return (
            "that is the mean of the per-lead ratios; the question asks for the ratio of the two mean MSEs "
            "(the printed means over the 10 lead times: edited mean / unmodified mean)"
        )
    if any(near(r) for r in per_lead):
        return (
            "that is the ratio at one lead time; the question asks for the whole forecast's: the mean MSE over "
            "the 10 lead times, edited / unmodified"
        )
    return (
        f"your ratio {ratio:.3g} is not what the surgery gives (within ±{RATIO_TOL:g}): divide the edited run's mean "
        "MSE over the 10 lead times by the unmodified run's (both printed by the explore cell)"
    )


_FORGET_CLAMP = CheckSpec(
    "forget_clamp_answer",
    None,
    lambda gen: [Case("your answer", ())],
    [
        Mistake(_whole_sequence, _WHOLE),
        Mistake(_other_layer, _OTHER_LAYER),
        Mistake(_forget_one, _F_ONE),
        Mistake(_difference, _DIFFERENCE),
        Mistake(_from_zero, _FROM_ZERO),
    ],
    assess=_assess_answer,
)


def check_forget_clamp_answer(fn: Callable[[], tuple[int, float]], seed: int | None = None) -> None:
    r"""Check ``forget_clamp_answer() -> (first_lead, ratio)`` against the real surgery on the pretrained ConvLSTM.

    f ← 0 in layer 1 during the forecast (steps 10–18), first 16 test sequences: the first lead time whose
    MSE changes (exactly) and the ratio of the mean MSE per frame over leads 1–10, edited / unmodified,
    within ±0.02. Recognises: the edit in layer 0, at every step, f ← 1, a difference instead of a ratio,
    lead times counted from 0, lead 1 claimed changed, the ratio inverted, a mean of per-lead ratios, the
    ratio of one lead time.  Exercise of lesson 4 (``ex04_training_convlstm.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_FORGET_CLAMP, fn, seed)


#: This module's exercises, their arguments named for the feedback.
SPECS: list[CheckSpec] = named_specs(
    (_ROLLOUT, ("step", "frames", "mask", "input_len")),
    (_FORECAST, ("inputs",)),
    (_FORGET_CLAMP, ()),
)
