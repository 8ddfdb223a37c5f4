r"""One checker per exercise: ``check_<name>(fn)`` prints "✓ <name>: correct on N cases" or raises
``AssertionError`` with feedback that names the mistake.

Each checker compares the learner's function with the reference on freshly drawn random inputs
(a new seed on every call) and edge cases (float32 and float64, batch 1, odd frame sizes,
pre-activations of ±50), and recognises common mistakes by running known wrong variants
(see :mod:`stlearn.exercises._core`).  Exercises by notebook:

* ``ex01_data_and_metrics`` (lessons 1 and 9): patch_frames, csi, mse_per_frame
* ``ex03_convlstm_gates`` (lesson 3): input_gate, forget_gate, cell_candidate, cell_update,
  output_gate, hidden_state, convlstm_step
* ``ex05_st_lstm`` (lessons 5 and 6): spatial_memory, st_output, zigzag_step
* ``ex07_predrnn_v2`` (lesson 7): decoupling_loss, reverse_schedule
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from .. import gates
from . import references as ref
from ._core import Case, CheckSpec, Mistake, run_check
from .worker import Adapter, ToyCell

Tensor = torch.Tensor

__all__ = [
    "CHECKS",
    "SPECS",
    "check_cell_candidate",
    "check_cell_update",
    "check_convlstm_step",
    "check_csi",
    "check_decoupling_loss",
    "check_forget_gate",
    "check_hidden_state",
    "check_input_gate",
    "check_mse_per_frame",
    "check_output_gate",
    "check_patch_frames",
    "check_reverse_schedule",
    "check_spatial_memory",
    "check_st_output",
    "check_zigzag_step",
]


# --------------------------------------------------------------------------------------------
# drawing inputs
# --------------------------------------------------------------------------------------------


def _randn(gen: torch.Generator, shape: tuple[int, ...], dtype: torch.dtype, scale: float = 1.0) -> Tensor:
    return torch.randn(shape, generator=gen, dtype=torch.float64).mul(scale).to(dtype)


def _randint(gen: torch.Generator, low: int, high: int) -> int:
    """An integer in [low, high]."""
    return int(torch.randint(low, high + 1, (1,), generator=gen))


def _extreme(gen: torch.Generator, shape: tuple[int, ...], dtype: torch.dtype, size: float = 50.0) -> Tensor:
    """Values of ±50 (random signs): saturate σ and tanh; two of them overflow a hand-made exp in float32."""
    signs = torch.randint(0, 2, shape, generator=gen).to(torch.float64) * 2 - 1
    return (signs * size).to(dtype)


#: (label, B, C, H, W, dtype, extreme) of the frame-tensor exercises. C == W in the third case makes
#: a (C,) bias broadcast silently along the width instead of failing.
_FRAME_CASES = [
    ("float32, 2×3 channels, 5×7 frames", 2, 3, 5, 7, torch.float32, False),
    ("float64, batch 1, 4 channels, 6×6 frames", 1, 4, 6, 6, torch.float64, False),
    ("float32, 5 channels, 3×5 frames", 2, 5, 3, 5, torch.float32, False),
    ("float64, 3 samples, 2 channels, 7×5 frames", 3, 2, 7, 5, torch.float64, False),
    ("float32, pre-activations of ±50", 2, 3, 4, 4, torch.float32, True),
    ("float64, batch 1, pre-activations of ±50", 1, 2, 3, 3, torch.float64, True),
]


def _no_nan(case: Case, out: Any) -> str | None:
    if isinstance(out, Tensor) and out.is_floating_point() and not torch.isfinite(out).all():
        return (
            "returns NaN or inf for large pre-activations (±50 and beyond): a hand-made exp overflows; "
            "use torch.sigmoid and torch.tanh, which are stable"
        )
    return None


def _range(low: float, high: float, what: str, fix: str) -> Callable[[Case, Any], str | None]:
    def validator(case: Case, out: Any) -> str | None:
        if not isinstance(out, Tensor) or not out.is_floating_point() or not torch.isfinite(out).all():
            return None
        if out.max() > high + 1e-6:
            return f"your {what} returns values above {high:g}: {fix}"
        if out.min() < low - 1e-6:
            return f"your {what} returns values below {low:g}: {fix}"
        return None

    return validator


# --------------------------------------------------------------------------------------------
# ConvLSTM gates — lesson 3 (ex03_convlstm_gates)
# --------------------------------------------------------------------------------------------


def _gate_cases(gen: torch.Generator) -> list[Case]:
    """(x_part, h_part, state, peephole (C, H, W), bias (C,)) per case."""
    cases = []
    for label, b, c, h, w, dtype, extreme in _FRAME_CASES:
        shape = (b, c, h, w)
        x = _extreme(gen, shape, dtype) if extreme else _randn(gen, shape, dtype, 2.0)
        hp = _extreme(gen, shape, dtype) if extreme else _randn(gen, shape, dtype, 2.0)
        state = _randn(gen, shape, dtype, 1.5)
        peep = _randn(gen, (c, h, w), dtype)
        bias = _randn(gen, (c,), dtype)
        cases.append(Case(label, (x, hp, state, peep, bias), dtype))
    return cases


def _sigmoid_gate_spec(name: str, what: str, ref_fn: Callable[..., Tensor], state: str, bias: str) -> CheckSpec:
    """Input, forget and output gates share their shape: σ(x + h + w ⊙ state + b)."""

    def z(x, h, s, w, b):
        return x + h + w * s + b.view(1, -1, 1, 1)

    mistakes = [
        Mistake(lambda *a: z(*a), f"your {what} returns values above 1: did you forget the sigmoid?"),
        Mistake(
            lambda *a: torch.tanh(z(*a)),
            f"your {what} uses tanh: gates use the sigmoid σ (values in (0, 1), a fraction to let through); "
            "tanh is for the candidate and the hidden state",
        ),
        Mistake(
            lambda x, h, s, w, b: torch.sigmoid(x + h + b.view(1, -1, 1, 1)),
            f"you left out the peephole term {_peep(name)}: add the peephole weight times the cell state",
        ),
        Mistake(
            lambda x, h, s, w, b: torch.sigmoid(x + h + w * s),
            f"you left out the bias {bias}: add it, reshaped to (1, C, 1, 1)",
        ),
        Mistake(
            lambda x, h, s, w, b: torch.sigmoid(x + h + w * s + b),
            f"you added the bias {bias} of shape (C,) as it is, so it broadcasts along the *width* (the last "
            f"axis), not the channels: use {bias}.view(1, -1, 1, 1)",
        ),
        Mistake(
            lambda x, h, s, w, b: torch.sigmoid(x + h + s + b.view(1, -1, 1, 1)),
            f"the peephole multiplies the cell state by its weight: {_peep(name)}, not {state} alone",
        ),
        Mistake(
            lambda *a: 1 - torch.sigmoid(z(*a)),
            f"your {what} returns 1 − σ(z): use σ(z) itself",
        ),
        Mistake(
            lambda x, h, s, w, b: torch.sigmoid(x + h + torch.matmul(w, s) + b.view(1, -1, 1, 1)),
            f"⊙ in {_peep(name)} is the element-wise (Hadamard) product, w * c; you used a matrix product "
            "(@ or torch.matmul), which only runs at all when the frames are square",
        ),
        Mistake(
            lambda x, h, s, w, b: torch.sigmoid(x + h - w * s + b.view(1, -1, 1, 1)),
            f"a wrong sign: the peephole term is added, + {_peep(name)}",
        ),
    ]
    validators = [_no_nan, _range(0.0, 1.0, what, "did you forget the sigmoid?")]
    return CheckSpec(name, ref_fn, _gate_cases, mistakes, validators)


def _peep(name: str) -> str:
    return {"input_gate": "W_ci ⊙ C_{t-1}", "forget_gate": "W_cf ⊙ C_{t-1}", "output_gate": "W_co ⊙ C_t"}[name]


_INPUT_GATE = _sigmoid_gate_spec(
    "input_gate", "input gate", lambda x, h, s, w, b: gates.input_gate(x, h, s, w, b), "C_{t-1}", "b_i"
)
_FORGET_GATE = _sigmoid_gate_spec(
    "forget_gate", "forget gate", lambda x, h, s, w, b: gates.forget_gate(x, h, s, w, b), "C_{t-1}", "b_f"
)
_OUTPUT_GATE = _sigmoid_gate_spec(
    "output_gate", "output gate", lambda x, h, s, w, b: gates.output_gate(x, h, s, w, b), "C_t", "b_o"
)


def check_input_gate(fn: Callable[..., Tensor], seed: int | None = None) -> None:
    r"""Check ``input_gate(x_i, h_i, c_prev, w_ci, b_i)`` = σ(x_i + h_i + w_ci ⊙ c_prev + b_i).

    Recognises: no sigmoid, tanh instead of sigmoid, missing peephole, missing bias, a (C,) bias
    broadcast along the width, peephole without its weight, 1 − σ, NaN at ±50, in-place edits.
    Exercise of lesson 3 (``ex03_convlstm_gates.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_INPUT_GATE, fn, seed)


def check_forget_gate(fn: Callable[..., Tensor], seed: int | None = None) -> None:
    r"""Check ``forget_gate(x_f, h_f, c_prev, w_cf, b_f)`` = σ(x_f + h_f + w_cf ⊙ c_prev + b_f).

    Recognises the same mistakes as :func:`check_input_gate`.  Exercise of lesson 3.
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_FORGET_GATE, fn, seed)


def check_output_gate(fn: Callable[..., Tensor], seed: int | None = None) -> None:
    r"""Check ``output_gate(x_o, h_o, c_t, w_co, b_o)`` = σ(x_o + h_o + w_co ⊙ c_t + b_o).

    Recognises the same mistakes as :func:`check_input_gate` (the step exercise catches a
    peephole on C_{t-1}).  Exercise of lesson 3.
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_OUTPUT_GATE, fn, seed)


def _candidate_cases(gen: torch.Generator) -> list[Case]:
    return [Case(c.label, (c.args[0], c.args[1], c.args[4]), c.dtype) for c in _gate_cases(gen)]


_CELL_CANDIDATE = CheckSpec(
    "cell_candidate",
    lambda x, h, b: gates.cell_candidate(x, h, b),
    _candidate_cases,
    [
        Mistake(
            lambda x, h, b: torch.sigmoid(x + h + b.view(1, -1, 1, 1)),
            "your candidate uses the sigmoid: the candidate C̃_t uses tanh (values in (−1, 1)), so that new "
            "content can also lower the cell; σ is for the gates",
        ),
        Mistake(
            lambda x, h, b: x + h + b.view(1, -1, 1, 1),
            "your candidate returns values above 1: did you forget the tanh?",
        ),
        Mistake(lambda x, h, b: torch.tanh(x + h), "you left out the bias b_c"),
        Mistake(
            lambda x, h, b: torch.tanh(x + h + b),
            "you added the bias b_c of shape (C,) as it is, so it broadcasts along the width (the last axis), "
            "not the channels: use b_c.view(1, -1, 1, 1)",
        ),
    ],
    [_no_nan, _range(-1.0, 1.0, "candidate", "did you forget the tanh?")],
)


def check_cell_candidate(fn: Callable[..., Tensor], seed: int | None = None) -> None:
    r"""Check ``cell_candidate(x_c, h_c, b_c)`` = tanh(x_c + h_c + b_c).

    Recognises: sigmoid instead of tanh, no activation, missing bias, bias along the width, NaN
    from a hand-made tanh at ±50, in-place edits.  Exercise of lesson 3.
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_CELL_CANDIDATE, fn, seed)


def _update_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, b, c, h, w, dtype, extreme in _FRAME_CASES:
        shape = (b, c, h, w)
        scale = 50.0 if extreme else 2.0
        f_t = torch.sigmoid(_randn(gen, shape, dtype, scale))
        c_prev = _randn(gen, shape, dtype, 2.0)
        i_t = torch.sigmoid(_randn(gen, shape, dtype, scale))
        c_tilde = torch.tanh(_randn(gen, shape, dtype, scale))
        label = label.replace("pre-activations of ±50", "saturated gates")
        cases.append(Case(label, (f_t, c_prev, i_t, c_tilde), dtype))
    return cases


_CELL_UPDATE = CheckSpec(
    "cell_update",
    lambda f, c, i, g: gates.cell_update(f, c, i, g),
    _update_cases,
    [
        Mistake(
            lambda f, c, i, g: i * c + f * g,
            "swapped gate order: the forget gate f_t multiplies the old cell C_{t-1}, the input gate i_t "
            "multiplies the candidate C̃_t",
        ),
        Mistake(
            lambda f, c, i, g: c + i * g,
            "you kept all of C_{t-1}: multiply it by the forget gate, f_t ⊙ C_{t-1}",
        ),
        Mistake(
            lambda f, c, i, g: f * c + g,
            "you wrote all of the candidate: multiply it by the input gate, i_t ⊙ C̃_t",
        ),
        Mistake(
            lambda f, c, i, g: torch.tanh(f * c + i * g),
            "no tanh in the cell update: C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t; the tanh comes later, in H_t",
        ),
        Mistake(
            lambda f, c, i, g: f * c * i * g,
            "the two terms are added: C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t",
        ),
        Mistake(
            lambda f, c, i, g: f * c - i * g,
            "a wrong sign: the two terms are added, C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t (the candidate's own sign "
            "already lets it lower the cell)",
        ),
        Mistake(
            lambda f, c, i, g: torch.matmul(f, c) + torch.matmul(i, g),
            "⊙ is the element-wise (Hadamard) product, f_t * c_prev; you used a matrix product (@ or torch.matmul)",
        ),
    ],
)


def check_cell_update(fn: Callable[..., Tensor], seed: int | None = None) -> None:
    r"""Check ``cell_update(f_t, c_prev, i_t, c_tilde)`` = f_t ⊙ c_prev + i_t ⊙ c_tilde.

    Recognises: swapped gates, missing forget or input gate, an extra tanh, a product instead of
    a sum, in-place edits of ``c_prev`` (``c_prev *= f_t``).  Exercise of lesson 3.
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_CELL_UPDATE, fn, seed)


def _hidden_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, b, c, h, w, dtype, extreme in _FRAME_CASES:
        shape = (b, c, h, w)
        o_t = torch.sigmoid(_randn(gen, shape, dtype, 2.0))
        c_t = _extreme(gen, shape, dtype, 100.0) if extreme else _randn(gen, shape, dtype, 2.0)
        cases.append(Case(label.replace("pre-activations of ±50", "cell values of ±100"), (o_t, c_t), dtype))
    return cases


_HIDDEN_STATE = CheckSpec(
    "hidden_state",
    lambda o, c: gates.hidden_state(o, c),
    _hidden_cases,
    [
        Mistake(lambda o, c: o * c, "you forgot the tanh: H_t = o_t ⊙ tanh(C_t)"),
        Mistake(
            lambda o, c: o * torch.sigmoid(c),
            "H_t squashes the cell with tanh, not the sigmoid: H_t = o_t ⊙ tanh(C_t) (values in (−1, 1))",
        ),
        Mistake(
            lambda o, c: torch.tanh(o * c),
            "the tanh goes on C_t alone, before the output gate: H_t = o_t ⊙ tanh(C_t), not tanh(o_t ⊙ C_t)",
        ),
        Mistake(lambda o, c: o + torch.tanh(c), "the output gate multiplies: H_t = o_t ⊙ tanh(C_t), not a sum"),
    ],
    [_no_nan, _range(-1.0, 1.0, "hidden state", "did you forget the tanh on C_t?")],
)


def check_hidden_state(fn: Callable[..., Tensor], seed: int | None = None) -> None:
    r"""Check ``hidden_state(o_t, c_t)`` = o_t ⊙ tanh(c_t).

    Recognises: no tanh, sigmoid instead of tanh, tanh of the product, a sum instead of a
    product, NaN at ±50.  Exercise of lesson 3.
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_HIDDEN_STATE, fn, seed)


# ------------------------------------------------------------------ the full ConvLSTM step


def _step_cases(gen: torch.Generator) -> list[Case]:
    # (label, B, C_in, C, H, W, k, dtype)
    specs = [
        ("float32, 1 input channel, 3 hidden, 6×7 frames, k=3", 2, 1, 3, 6, 7, 3, torch.float32),
        ("float64, batch 1, 2 input channels, 4 hidden, 5×5 frames, k=5", 1, 2, 4, 5, 5, 5, torch.float64),
        ("float32, 3 input channels, 2 hidden, 7×4 frames, k=3", 3, 3, 2, 7, 4, 3, torch.float32),
        ("float64, 1 input channel, 2 hidden, 9×5 frames, k=3", 2, 1, 2, 9, 5, 3, torch.float64),
    ]
    cases = []
    for label, b, cin, c, h, w, k, dtype in specs:
        x = _randn(gen, (b, cin, h, w), dtype)
        h_prev = torch.tanh(_randn(gen, (b, c, h, w), dtype))
        c_prev = _randn(gen, (b, c, h, w), dtype, 1.5)
        w_x = _randn(gen, (4 * c, cin, k, k), dtype, 0.5)
        w_h = _randn(gen, (4 * c, c, k, k), dtype, 0.5)
        peeps = [_randn(gen, (c, h, w), dtype) for _ in range(3)]
        bias = _randn(gen, (4 * c,), dtype)
        cases.append(Case(label, (x, h_prev, c_prev, w_x, w_h, *peeps, bias), dtype))
    return cases


def _step_variant(
    order: str = "ifgo", out_peep_prev: bool = False, peepholes: bool = True, padding: bool = True
) -> Callable[..., tuple[Tensor, Tensor]]:
    def step(x, h_prev, c_prev, w_x, w_h, w_ci, w_cf, w_co, b):
        pad_x = w_x.shape[-1] // 2 if padding else 0
        pad_h = w_h.shape[-1] // 2 if padding else 0
        zx = dict(zip(order, F.conv2d(x, w_x, padding=pad_x).chunk(4, dim=1), strict=True))
        zh = dict(zip(order, F.conv2d(h_prev, w_h, padding=pad_h).chunk(4, dim=1), strict=True))
        bb = dict(zip(order, (v.view(1, -1, 1, 1) for v in b.chunk(4)), strict=True))
        cp = c_prev if padding else c_prev[..., : zx["i"].shape[-2], : zx["i"].shape[-1]]
        scale = 1.0 if peepholes else 0.0
        wci, wcf, wco = (w[..., : cp.shape[-2], : cp.shape[-1]] * scale for w in (w_ci, w_cf, w_co))
        i = torch.sigmoid(zx["i"] + zh["i"] + wci * cp + bb["i"])
        f = torch.sigmoid(zx["f"] + zh["f"] + wcf * cp + bb["f"])
        g = torch.tanh(zx["g"] + zh["g"] + bb["g"])
        c_t = f * cp + i * g
        o = torch.sigmoid(zx["o"] + zh["o"] + wco * (cp if out_peep_prev else c_t) + bb["o"])
        return o * torch.tanh(c_t), c_t

    return step


_CONVLSTM_STEP = CheckSpec(
    "convlstm_step",
    ref.convlstm_step,
    _step_cases,
    [
        Mistake(
            _step_variant(out_peep_prev=True),
            "your output gate's peephole reads C_{t-1}: it must read the new cell C_t "
            "(o_t = σ(... + W_co ⊙ C_t + b_o)), so compute C_t first",
        ),
        Mistake(
            _step_variant(order="ifog"),
            "swapped gate order: the 4C channels of each convolution (and of b) are [i, f, C̃, o], "
            "in that order; you read them as [i, f, o, C̃]",
        ),
        Mistake(
            _step_variant(order="figo"),
            "swapped gate order: the 4C channels are [i, f, C̃, o]; you used the forget gate's channels "
            "for the input gate and the other way round",
        ),
        Mistake(
            _step_variant(order="gifo"),
            "swapped gate order: the 4C channels are [i, f, C̃, o] (the candidate third)",
        ),
        Mistake(
            _step_variant(peepholes=False),
            "you left out the peepholes: the seed's ConvLSTM adds W_ci ⊙ C_{t-1}, W_cf ⊙ C_{t-1} and W_co ⊙ C_t",
        ),
        Mistake(
            lambda *a: tuple(reversed(ref.convlstm_step(*a))),
            "you returned (C_t, H_t): return (H_t, C_t), the hidden state first",
        ),
        Mistake(
            _step_variant(padding=False),
            "your convolutions shrink the frame: pad them with padding=k // 2 (k = w_x.shape[-1]) so that "
            "H and W stay the same",
        ),
    ],
    failure_note="your step calls your gate functions above: make their checks pass first",
)


def check_convlstm_step(fn: Callable[..., tuple[Tensor, Tensor]], seed: int | None = None) -> None:
    r"""Check ``convlstm_step(x, h_prev, c_prev, w_x, w_h, w_ci, w_cf, w_co, b) -> (h_t, c_t)``.

    Recognises: the output peephole on C_{t-1} instead of C_t, three swapped gate orders, no
    peepholes, (C, H) returned instead of (H, C), convolutions without padding, in-place edits.
    Exercise of lesson 3.
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_CONVLSTM_STEP, fn, seed)


# --------------------------------------------------------------------------------------------
# ST-LSTM — lessons 5 and 6 (ex05_st_lstm)
# --------------------------------------------------------------------------------------------


def _spatial_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, b, c, h, w, dtype, extreme in _FRAME_CASES:
        shape = (b, c, h, w)
        parts = [_extreme(gen, shape, dtype) if extreme else _randn(gen, shape, dtype, 1.5) for _ in range(6)]
        m_in = _randn(gen, shape, dtype, 1.5)
        cases.append(Case(label, (*parts, m_in), dtype))
    return cases


def _spatial(bias: float = 1.0, swap: bool = False, cand=torch.tanh, forget: bool = True):
    def fn(x_i, x_f, x_g, m_i, m_f, m_g, m_in):
        i_p = torch.sigmoid(x_i + m_i)
        f_p = torch.sigmoid(x_f + m_f + bias)
        if swap:
            i_p, f_p = f_p, i_p
        g_p = cand(x_g + m_g)
        return (f_p * m_in if forget else m_in) + i_p * g_p

    return fn


_SPATIAL_MEMORY = CheckSpec(
    "spatial_memory",
    ref.spatial_memory,
    _spatial_cases,
    [
        Mistake(
            _spatial(bias=0.0),
            "you left out the forget bias: the ST-LSTM's forget gates add a constant +1 before the sigmoid, "
            "f'_t = σ(W'_xf * X_t + W_mf * M + 1), so that a fresh network remembers",
        ),
        Mistake(
            _spatial(swap=True),
            "swapped gates: the forget gate f'_t multiplies the incoming memory M^{l-1}_t, the input gate i'_t "
            "the candidate g'_t",
        ),
        Mistake(
            _spatial(cand=torch.sigmoid),
            "the spatial candidate g'_t uses tanh, not the sigmoid",
        ),
        Mistake(_spatial(cand=lambda z: z), "did you forget the tanh on the spatial candidate g'_t?"),
        Mistake(
            _spatial(forget=False),
            "you kept all of the incoming memory: multiply M^{l-1}_t by the forget gate f'_t",
        ),
    ],
    [_no_nan],
)


def check_spatial_memory(fn: Callable[..., Tensor], seed: int | None = None) -> None:
    r"""Check ``spatial_memory(x_i, x_f, x_g, m_i, m_f, m_g, m_in)`` = f' ⊙ m_in + i' ⊙ g'.

    with i' = σ(x_i + m_i), f' = σ(x_f + m_f + 1), g' = tanh(x_g + m_g).  Recognises: a missing
    forget bias +1, swapped i'/f', sigmoid or nothing instead of tanh on g', a missing forget
    gate, NaN at ±50, in-place edits of ``m_in``.  Exercise of lesson 5 (``ex05_st_lstm.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_SPATIAL_MEMORY, fn, seed)


def _output_cases(gen: torch.Generator) -> list[Case]:
    specs = [
        ("float32, 3 channels, 5×7 frames, k=3", 2, 3, 5, 7, 3, torch.float32),
        ("float64, batch 1, 2 channels, 6×6 frames, k=5", 1, 2, 6, 6, 5, torch.float64),
        ("float32, 4 channels, 3×5 frames, k=1", 2, 4, 3, 5, 1, torch.float32),
        ("float64, 3 samples, 2 channels, 7×5 frames, k=3", 3, 2, 7, 5, 3, torch.float64),
        ("float32, batch 1, 1 channel, 4×4 frames, k=3", 1, 1, 4, 4, 3, torch.float32),
    ]
    cases = []
    for label, b, c, h, w, k, dtype in specs:
        shape = (b, c, h, w)
        o_x, o_h = _randn(gen, shape, dtype, 1.5), _randn(gen, shape, dtype, 1.5)
        c_t, m_t = _randn(gen, shape, dtype, 1.5), _randn(gen, shape, dtype, 1.5)
        w_co = _randn(gen, (c, 2 * c, k, k), dtype, 0.5)
        w_1x1 = _randn(gen, (c, 2 * c, 1, 1), dtype, 0.7)
        cases.append(Case(label, (o_x, o_h, c_t, m_t, w_co, w_1x1), dtype))
    return cases


def _fusion(order: str = "cm", pad: bool = True, o_act=torch.sigmoid, h_mode: str = "fused", o_mem: bool = True):
    def fn(o_x, o_h, c_t, m_t, w_co, w_1x1):
        cm = torch.cat([c_t, m_t] if order == "cm" else [m_t, c_t], dim=1)
        conv = F.conv2d(cm, w_co, padding=w_co.shape[-1] // 2 if pad else 0)
        o = o_act(o_x + o_h + conv) if o_mem else o_act(o_x + o_h)
        fused = F.conv2d(cm, w_1x1)
        if h_mode == "fused":
            h = o * torch.tanh(fused)
        elif h_mode == "no_tanh":
            h = o * fused
        else:  # "convlstm": tanh(C_t) as in ConvLSTM
            h = o * torch.tanh(c_t)
        return o, h

    return fn


_ST_OUTPUT = CheckSpec(
    "st_output",
    ref.st_output,
    _output_cases,
    [
        Mistake(
            _fusion(order="mc"),
            "wrong concatenation order: you concatenated [M, C]; the official order is [C, M] — "
            "torch.cat([c_t, m_t], dim=1), C first — or official weights read the wrong memory",
        ),
        Mistake(
            _fusion(h_mode="convlstm"),
            "H_t fuses both memories: H_t = o_t ⊙ tanh(W_1x1 * [C_t, M_t]), not tanh(C_t) as in ConvLSTM",
        ),
        Mistake(_fusion(h_mode="no_tanh"), "you forgot the tanh in H_t = o_t ⊙ tanh(W_1x1 * [C_t, M_t])"),
        Mistake(
            _fusion(o_act=lambda z: z),
            "your output gate returns values above 1: did you forget the sigmoid?",
        ),
        Mistake(_fusion(o_act=torch.tanh), "the output gate uses the sigmoid σ, not tanh"),
        Mistake(
            _fusion(o_mem=False),
            "the output gate also looks at both new memories: o_t = σ(o_x + o_h + W_co * [C_t, M_t])",
        ),
        Mistake(
            lambda *a: tuple(reversed(ref.st_output(*a))),
            "you returned (H_t, o_t): return (o_t, H_t)",
        ),
    ],
    [_no_nan],
)


def check_st_output(fn: Callable[..., tuple[Tensor, Tensor]], seed: int | None = None) -> None:
    r"""Check ``st_output(o_x, o_h, c_t, m_t, w_co, w_1x1) -> (o_t, h_t)`` (the output fusion over [C, M]).

    Recognises: [M, C] instead of [C, M], tanh(C_t) instead of the fused memories, a missing tanh,
    a missing or wrong gate activation, an output gate that ignores the memories,
    swapped outputs, in-place edits.  Exercise of lesson 5.
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_ST_OUTPUT, fn, seed)


# ------------------------------------------------------------------ the zigzag step (lesson 6)


def _zigzag_cases(gen: torch.Generator) -> list[Case]:
    # (label, layers, B, C_in, C, H, W, dtype)
    specs = [
        ("float32, 2 layers, 2 samples, 1 input channel, 3 hidden, 5×6 frames", 2, 2, 1, 3, 5, 6, torch.float32),
        ("float64, 3 layers, batch 1, 2 input channels, 2 hidden, 4×4 frames", 3, 1, 2, 2, 4, 4, torch.float64),
        ("float32, 4 layers, 2 samples, 3 input channels, 2 hidden, 3×5 frames", 4, 2, 3, 2, 3, 5, torch.float32),
        ("float64, 3 layers, 2 samples, 1 input channel, 2 hidden, 5×3 frames", 3, 2, 1, 2, 5, 3, torch.float64),
    ]
    cases = []
    for label, layers, b, cin, c, h, w, dtype in specs:
        cells = []
        for layer in range(layers):
            c_in = cin if layer == 0 else c
            weights = [_randn(gen, (c, n, 3, 3), dtype, 0.4) for n in (c_in, c, c, c)]
            cells.append(ToyCell(*weights))
        x = _randn(gen, (b, cin, h, w), dtype)
        hs = [torch.tanh(_randn(gen, (b, c, h, w), dtype)) for _ in range(layers)]
        cs = [_randn(gen, (b, c, h, w), dtype) for _ in range(layers)]
        m = _randn(gen, (b, c, h, w), dtype)
        cases.append(Case(label, (cells, x, hs, cs, m), dtype))
    return cases


def _zigzag(memory: str = "zigzag", inputs: str = "new", out_m: str = "top"):
    def fn(cells, x, h, c, m):
        h_new, c_new, written = [], [], []
        inp, mem = x, m
        for layer, cell in enumerate(cells):
            if memory == "same":
                m_in = m
            elif memory == "zeros":
                m_in = torch.zeros_like(m) if layer == 0 else mem
            else:
                m_in = mem
            if inputs == "frame":
                inp = x
            elif inputs == "old" and layer > 0:
                inp = h[layer - 1]
            h_l, c_l, mem = cell(inp, h[layer], c[layer], m_in)
            h_new.append(h_l)
            c_new.append(c_l)
            written.append(mem)
            inp = h_l
        return h_new, c_new, (written[-1] if out_m == "top" else written[0])

    return fn


_ZIGZAG_STEP = CheckSpec(
    "zigzag_step",
    ref.zigzag_step,
    _zigzag_cases,
    [
        Mistake(
            _zigzag(memory="same"),
            "every layer read the same memory m from the previous step: in the zigzag, layer l reads the "
            "M^{l-1}_t that layer l−1 has just written at this step; only layer 0 reads m",
        ),
        Mistake(
            _zigzag(memory="zeros"),
            "layer 0 must read m, the top layer's memory from the previous step (the zigzag's way back "
            "down), not zeros",
        ),
        Mistake(
            _zigzag(inputs="old"),
            "layer l > 0 reads the NEW hidden state H^{l-1}_t of the layer below (computed at this step), "
            "not h[l-1] from the previous step",
        ),
        Mistake(
            _zigzag(inputs="frame"),
            "only layer 0 reads the frame x; layer l > 0 reads H^{l-1}_t, the new hidden state of the layer below",
        ),
        Mistake(
            _zigzag(out_m="bottom"),
            "return the TOP layer's memory M^{L-1}_t: it is the one that goes back to layer 0 at the next step",
        ),
    ],
)


def check_zigzag_step(fn: Callable[..., Any], seed: int | None = None) -> None:
    r"""Check ``zigzag_step(cells, x, h, c, m) -> (h_new, c_new, m_new)``: one step through a stack.

    ``cells[l](inp, h_prev, c_prev, m_in)`` returns ``(h, c, m)``; ``h`` and ``c`` are lists of
    per-layer states, ``m`` the top layer's memory of the previous step.  Recognises: every layer
    reading the same m, layer 0 reading zeros, layers reading the previous step's H of the layer
    below, or the frame, returning the bottom layer's M, changing the given lists in place.
    Exercise of lesson 6 (in ``ex05_st_lstm.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_ZIGZAG_STEP, fn, seed)


# --------------------------------------------------------------------------------------------
# PredRNN-V2 — lesson 7 (ex07_predrnn_v2)
# --------------------------------------------------------------------------------------------


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
        dc = torch.sigmoid(_randn(gen, shape, dtype)) * torch.tanh(_randn(gen, shape, dtype, 2.0))
        if kind == "same":
            dm = dc.clone()
        elif kind == "opposite":
            dm = -dc
        else:
            dm = torch.sigmoid(_randn(gen, shape, dtype)) * torch.tanh(_randn(gen, shape, dtype, 2.0))
        adapter = Adapter(_randn(gen, (c, c, 1, 1), dtype, 0.7))
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
        tau1 = _randint(gen, 5, 30) * 1000
        tau2 = tau1 + _randint(gen, 5, 30) * 1000
        alpha = float(_randint(gen, 10, 60) * 100)
        phase = ("during warm-up", "between τ1 and τ2", "after τ2")
        k_values = (_randint(gen, 0, tau1 - 1), _randint(gen, tau1 + 1, tau2 - 1), _randint(gen, tau2, 2 * tau2))
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


# --------------------------------------------------------------------------------------------
# data and metrics — lessons 1 and 9 (ex01_data_and_metrics)
# --------------------------------------------------------------------------------------------


def _patch_cases(gen: torch.Generator) -> list[Case]:
    # (label, B, T, C, H, W, p, dtype)
    specs = [
        ("float32, 2 channels, 8×8 frames, p=4", 2, 3, 2, 8, 8, 4, torch.float32),
        ("float64, batch 1, 3 channels, 6×10 frames, p=2", 1, 2, 3, 6, 10, 2, torch.float64),
        ("float32, 2 channels, 9×6 frames, p=3", 2, 1, 2, 9, 6, 3, torch.float32),
        ("float32, 1 channel, 12×8 frames, p=4", 1, 2, 1, 12, 8, 4, torch.float32),
        ("float64, 3 channels, 4×4 frames, p=1 (unchanged)", 2, 2, 3, 4, 4, 1, torch.float64),
        ("float32, 4 channels, 10×6 frames, p=2", 2, 2, 4, 10, 6, 2, torch.float32),
    ]
    return [Case(label, (_randn(gen, (b, t, c, h, w), dtype), p), dtype) for label, b, t, c, h, w, p, dtype in specs]


def _unshuffle(frames: Tensor, p: int) -> Tensor:
    b, t = frames.shape[:2]
    return F.pixel_unshuffle(frames.flatten(0, 1), p).unflatten(0, (b, t))


def _patch_swapped(frames: Tensor, p: int) -> Tensor:
    b, t, c, h, w = frames.shape
    x = frames.reshape(b, t, c, h // p, p, w // p, p).permute(0, 1, 6, 4, 2, 3, 5)
    return x.reshape(b, t, p * p * c, h // p, w // p)


def _patch_order(order: str) -> Callable[[Tensor, int], Tensor]:
    """The channels in another nesting of (dy, dx, c) than the reference's dy, dx, c (outermost first)."""
    axes = {"dy": 4, "dx": 6, "c": 2}

    def fn(frames: Tensor, p: int) -> Tensor:
        b, t, c, h, w = frames.shape
        first, second, third = (axes[a] for a in order.split(","))
        x = frames.reshape(b, t, c, h // p, p, w // p, p).permute(0, 1, first, second, third, 3, 5)
        return x.reshape(b, t, p * p * c, h // p, w // p)

    return fn


_PATCH_ORDERS = [
    Mistake(
        _patch_order(order),
        f"your channels are ordered ({order.replace(',', ', ')}), outermost first; the reference (official "
        "PredRNN) channel index is (dy·p + dx)·C + c, i.e. (dy, dx, c): permute the split axes to "
        "(B, T, dy, dx, C, H/p, W/p) before the last reshape",
    )
    for order in ("c,dx,dy", "dx,c,dy", "dy,c,dx")
]


def _patch_plain(frames: Tensor, p: int) -> Tensor:
    b, t, c, h, w = frames.shape
    return frames.reshape(b, t, p * p * c, h // p, w // p)


_PATCH_FRAMES = CheckSpec(
    "patch_frames",
    ref.patch_frames,
    _patch_cases,
    [
        Mistake(
            _unshuffle,
            "that is torch's pixel_unshuffle channel order, c·p·p + dy·p + dx; the reference (official PredRNN) "
            "order is (dy·p + dx)·C + c: patch offset first, channel last",
        ),
        Mistake(
            _patch_swapped,
            "you swapped dy and dx: the channel index is (dy·p + dx)·C + c, the row offset dy first",
        ),
        *_PATCH_ORDERS,
        Mistake(
            _patch_plain,
            "a plain reshape mixes pixels from different places: split H into (H/p, dy) and W into (W/p, dx), "
            "permute dy, dx (and C) in front of H/p, W/p, then reshape",
        ),
    ],
)


def check_patch_frames(fn: Callable[[Tensor, int], Tensor], seed: int | None = None) -> None:
    r"""Check ``patch_frames(frames, p)``: (B, T, C, H, W) → (B, T, p·p·C, H/p, W/p), channel (dy·p + dx)·C + c.

    Recognises: pixel_unshuffle's channel order, swapped dy and dx, a reshape without permute,
    wrong shapes, in-place edits.  Exercise of lesson 1 (``ex01_data_and_metrics.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_PATCH_FRAMES, fn, seed)


def _csi_cases(gen: torch.Generator) -> list[Case]:
    specs = [
        ("float32, 2 sequences × 3 lead times, 8×8 frames, threshold 30 dBZ", (2, 3, 1, 8, 8), 30.0, torch.float32),
        ("float64, batch 1, 10×6 frames, threshold 40 dBZ", (1, 2, 1, 10, 6), 40.0, torch.float64),
        ("float32, 4 sequences, 5×7 frames, threshold 20 dBZ", (4, 1, 1, 5, 7), 20.0, torch.float32),
        ("float32, threshold 35 dBZ, many pixels exactly at the threshold", (2, 2, 1, 6, 6), 35.0, torch.float32),
        ("float64, 2 channels, threshold 50 dBZ", (2, 2, 2, 5, 5), 50.0, torch.float64),
        ("float32, nothing reaches 60 dBZ (CSI undefined)", (1, 2, 1, 4, 4), 60.5, torch.float32),
    ]
    cases = []
    for label, shape, thr, dtype in specs:
        # reflectivity in whole dBZ from -10 to 60, so some pixels sit exactly at the threshold
        if "exactly" in label:
            pred = torch.full(shape, thr, dtype=dtype) + torch.randint(-1, 2, shape, generator=gen).to(dtype)
            obs = torch.full(shape, thr, dtype=dtype) + torch.randint(-1, 2, shape, generator=gen).to(dtype)
        else:
            pred = torch.randint(-10, 61, shape, generator=gen).to(dtype)
            obs = (pred + torch.randint(-12, 13, shape, generator=gen).to(dtype)).clamp(-10, 60)
        cases.append(Case(label, (pred, obs, thr), dtype))
    return cases


def _csi_variant(kind: str):
    def fn(pred, obs, thr):
        if kind == "strict":
            pe, oe = pred > thr, obs > thr
        elif kind == "mask":
            oe = obs >= thr
            pe = pred >= oe.to(pred.dtype)
        else:
            pe, oe = pred >= thr, obs >= thr
        tp = int((pe & oe).sum())
        fn_ = int((~pe & oe).sum())
        fp = int((pe & ~oe).sum())
        tn = int((~pe & ~oe).sum())
        if kind == "accuracy":
            return (tp + tn) / (tp + tn + fn_ + fp)
        if kind == "pod":
            return tp / (tp + fn_) if tp + fn_ else math.nan
        if kind == "far":
            return fp / (tp + fp) if tp + fp else math.nan
        if kind == "zero":
            return tp / (tp + fn_ + fp) if tp + fn_ + fp else 0.0
        return tp / (tp + fn_ + fp) if tp + fn_ + fp else math.nan

    return fn


_CSI = CheckSpec(
    "csi",
    ref.csi,
    _csi_cases,
    [
        Mistake(
            _csi_variant("zero"),
            "when no pixel reaches the threshold in either field, CSI is undefined: return nan (math.nan), not 0",
        ),
        Mistake(
            _csi_variant("mask"),
            "your forecast events compare pred with the observed boolean mask (0/1), not with the threshold: "
            "a forecast event is pred ≥ threshold, an observed event obs ≥ threshold",
        ),
        Mistake(
            _csi_variant("strict"),
            "an event is value ≥ threshold: a pixel exactly at the threshold counts (you used >)",
        ),
        Mistake(
            _csi_variant("accuracy"),
            "(TP + TN) / all is the accuracy; CSI ignores the correct negatives: CSI = TP / (TP + FN + FP)",
        ),
        Mistake(_csi_variant("pod"), "TP / (TP + FN) is POD; CSI also counts the false alarms: TP / (TP + FN + FP)"),
        Mistake(_csi_variant("far"), "FP / (TP + FP) is the false alarm ratio; CSI = TP / (TP + FN + FP)"),
    ],
)


def check_csi(fn: Callable[..., float], seed: int | None = None) -> None:
    r"""Check ``csi(pred, obs, threshold)`` = TP / (TP + FN + FP) on reflectivity fields (dBZ), event = value ≥ thr.

    Recognises: comparing pred with the boolean observation mask, > instead of ≥, accuracy, POD
    or FAR instead of CSI, 0 instead of nan when undefined, in-place edits.
    Exercise of lesson 9 (in ``ex01_data_and_metrics.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_CSI, fn, seed)


def _mse_cases(gen: torch.Generator) -> list[Case]:
    specs = [
        ("float32, 2 sequences × 3 frames, 1 channel, 8×8", (2, 3, 1, 8, 8), torch.float32),
        ("float64, batch 1, 2 channels, 5×7", (1, 4, 2, 5, 7), torch.float64),
        ("float32, 3 sequences × 2 frames, 3 channels, 6×6", (3, 2, 3, 6, 6), torch.float32),
        ("float64, 2 sequences × 1 frame, 1 channel, 9×5", (2, 1, 1, 9, 5), torch.float64),
        ("float32, batch 1, 1 frame, 2 channels, 4×4", (1, 1, 2, 4, 4), torch.float32),
    ]
    cases = []
    for label, shape, dtype in specs:
        pred = torch.rand(shape, generator=gen, dtype=torch.float64).to(dtype)
        target = torch.rand(shape, generator=gen, dtype=torch.float64).to(dtype)
        cases.append(Case(label, (pred, target), dtype))
    return cases


_MSE = CheckSpec(
    "mse_per_frame",
    ref.mse_per_frame,
    _mse_cases,
    [
        Mistake(
            lambda p, t: (p - t).pow(2).mean(),
            "that is the MSE per pixel (mean over everything); the literature's MSE per frame SUMS the squared "
            "errors over the C·H·W pixels of each frame, then averages over frames and sequences",
        ),
        Mistake(
            lambda p, t: (p - t).pow(2).sum(),
            "you summed over everything: sum over each frame's pixels (dims 2, 3, 4), then take the mean over "
            "the B·T frames",
        ),
        Mistake(
            lambda p, t: (p - t).pow(2).sum(dim=(3, 4)).mean(),
            "sum over the channels too: a frame's pixels are C·H·W values (sum over dims 2, 3, 4)",
        ),
        Mistake(
            lambda p, t: (p - t).pow(2).sum(dim=(2, 3, 4)).mean().sqrt(),
            "no square root: that would be an RMSE",
        ),
        Mistake(
            lambda p, t: (p - t).abs().sum(dim=(2, 3, 4)).mean(),
            "square the errors: |pred − target| gives the MAE per frame",
        ),
        Mistake(
            lambda p, t: (p - t).pow(2).sum(dim=(2, 3, 4)).mean(dim=0),
            "average over the sequences AND the frames to get one number",
        ),
    ],
)


def check_mse_per_frame(fn: Callable[[Tensor, Tensor], Any], seed: int | None = None) -> None:
    r"""Check ``mse_per_frame(pred, target)``: Σ over a frame's C·H·W pixels of (pred − target)², mean over (B, T).

    Recognises: per-pixel MSE (mean instead of sum per frame), a sum over everything, channels
    left out of the sum, RMSE, MAE, a per-lead-time vector instead of one number, in-place
    edits.  Exercise of lesson 9 (in ``ex01_data_and_metrics.ipynb``, with lesson 1).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_MSE, fn, seed)


#: Every checker by exercise name (the grader and the tests iterate over it).
CHECKS: dict[str, Callable[..., None]] = {
    "patch_frames": check_patch_frames,
    "csi": check_csi,
    "mse_per_frame": check_mse_per_frame,
    "input_gate": check_input_gate,
    "forget_gate": check_forget_gate,
    "cell_candidate": check_cell_candidate,
    "cell_update": check_cell_update,
    "output_gate": check_output_gate,
    "hidden_state": check_hidden_state,
    "convlstm_step": check_convlstm_step,
    "spatial_memory": check_spatial_memory,
    "st_output": check_st_output,
    "zigzag_step": check_zigzag_step,
    "decoupling_loss": check_decoupling_loss,
    "reverse_schedule": check_reverse_schedule,
}

#: Every exercise's check specification by name, its arguments named: what the grader judges with.
SPECS: dict[str, CheckSpec] = {}
for _spec, _names in (
    (_INPUT_GATE, ("x_i", "h_i", "c_prev", "w_ci", "b_i")),
    (_FORGET_GATE, ("x_f", "h_f", "c_prev", "w_cf", "b_f")),
    (_OUTPUT_GATE, ("x_o", "h_o", "c_t", "w_co", "b_o")),
    (_CELL_CANDIDATE, ("x_c", "h_c", "b_c")),
    (_CELL_UPDATE, ("f_t", "c_prev", "i_t", "c_tilde")),
    (_HIDDEN_STATE, ("o_t", "c_t")),
    (_CONVLSTM_STEP, ("x", "h_prev", "c_prev", "w_x", "w_h", "w_ci", "w_cf", "w_co", "b")),
    (_SPATIAL_MEMORY, ("x_i", "x_f", "x_g", "m_i", "m_f", "m_g", "m_in")),
    (_ST_OUTPUT, ("o_x", "o_h", "c_t", "m_t", "w_co", "w_1x1")),
    (_ZIGZAG_STEP, ("cells", "x", "h", "c", "m")),
    (_DECOUPLING_LOSS, ("adapter", "delta_c", "delta_m")),
    (_REVERSE_SCHEDULE, ("k", "tau1", "tau2", "alpha")),
    (_PATCH_FRAMES, ("frames", "p")),
    (_CSI, ("pred", "obs", "threshold")),
    (_MSE, ("pred", "target")),
):
    _spec.arg_names = _names
    SPECS[_spec.name] = _spec
