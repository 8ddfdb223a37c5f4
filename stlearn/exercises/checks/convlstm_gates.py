"""ConvLSTM gates and step — lesson 3 (``ex03_convlstm_gates``)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ... import gates
from .. import references as ref
from .._core import Case, CheckSpec, Mistake, run_check
from ._draw import FRAME_CASES, in_range, named_specs, no_nan, randn, saturating

Tensor = torch.Tensor


def _gate_cases(gen: torch.Generator) -> list[Case]:
    """(x_part, h_part, state, peephole (C, H, W), bias (C,)) per case."""
    cases = []
    for label, b, c, h, w, dtype, extreme in FRAME_CASES:
        shape = (b, c, h, w)
        x = saturating(gen, shape, dtype) if extreme else randn(gen, shape, dtype, 2.0)
        hp = saturating(gen, shape, dtype) if extreme else randn(gen, shape, dtype, 2.0)
        state = randn(gen, shape, dtype, 1.5)
        peep = randn(gen, (c, h, w), dtype)
        bias = randn(gen, (c,), dtype)
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
    validators = [no_nan, in_range(0.0, 1.0, what, "did you forget the sigmoid?")]
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
    [no_nan, in_range(-1.0, 1.0, "candidate", "did you forget the tanh?")],
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
    for label, b, c, h, w, dtype, extreme in FRAME_CASES:
        shape = (b, c, h, w)
        scale = 50.0 if extreme else 2.0
        f_t = torch.sigmoid(randn(gen, shape, dtype, scale))
        c_prev = randn(gen, shape, dtype, 2.0)
        i_t = torch.sigmoid(randn(gen, shape, dtype, scale))
        c_tilde = torch.tanh(randn(gen, shape, dtype, scale))
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
    for label, b, c, h, w, dtype, extreme in FRAME_CASES:
        shape = (b, c, h, w)
        o_t = torch.sigmoid(randn(gen, shape, dtype, 2.0))
        c_t = saturating(gen, shape, dtype, 100.0) if extreme else randn(gen, shape, dtype, 2.0)
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
    [no_nan, in_range(-1.0, 1.0, "hidden state", "did you forget the tanh on C_t?")],
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
        x = randn(gen, (b, cin, h, w), dtype)
        h_prev = torch.tanh(randn(gen, (b, c, h, w), dtype))
        c_prev = randn(gen, (b, c, h, w), dtype, 1.5)
        w_x = randn(gen, (4 * c, cin, k, k), dtype, 0.5)
        w_h = randn(gen, (4 * c, c, k, k), dtype, 0.5)
        peeps = [randn(gen, (c, h, w), dtype) for _ in range(3)]
        bias = randn(gen, (4 * c,), dtype)
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


#: This module's exercises, their arguments named for the feedback.
SPECS: list[CheckSpec] = named_specs(
    (_INPUT_GATE, ("x_i", "h_i", "c_prev", "w_ci", "b_i")),
    (_FORGET_GATE, ("x_f", "h_f", "c_prev", "w_cf", "b_f")),
    (_OUTPUT_GATE, ("x_o", "h_o", "c_t", "w_co", "b_o")),
    (_CELL_CANDIDATE, ("x_c", "h_c", "b_c")),
    (_CELL_UPDATE, ("f_t", "c_prev", "i_t", "c_tilde")),
    (_HIDDEN_STATE, ("o_t", "c_t")),
    (_CONVLSTM_STEP, ("x", "h_prev", "c_prev", "w_x", "w_h", "w_ci", "w_cf", "w_co", "b")),
)
