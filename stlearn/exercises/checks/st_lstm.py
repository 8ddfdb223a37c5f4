"""ST-LSTM spatial memory, fused output and the zigzag step — lessons 5 and 6 (``ex05_st_lstm``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from .. import references as ref
from .._core import Case, CheckSpec, Mistake, run_check
from ..worker import ToyCell
from ._draw import FRAME_CASES, named_specs, no_nan, randn, saturating

Tensor = torch.Tensor


def _spatial_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, b, c, h, w, dtype, extreme in FRAME_CASES:
        shape = (b, c, h, w)
        parts = [saturating(gen, shape, dtype) if extreme else randn(gen, shape, dtype, 1.5) for _ in range(6)]
        m_in = randn(gen, shape, dtype, 1.5)
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
    [no_nan],
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
        o_x, o_h = randn(gen, shape, dtype, 1.5), randn(gen, shape, dtype, 1.5)
        c_t, m_t = randn(gen, shape, dtype, 1.5), randn(gen, shape, dtype, 1.5)
        w_co = randn(gen, (c, 2 * c, k, k), dtype, 0.5)
        w_1x1 = randn(gen, (c, 2 * c, 1, 1), dtype, 0.7)
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
    [no_nan],
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
            weights = [randn(gen, (c, n, 3, 3), dtype, 0.4) for n in (c_in, c, c, c)]
            cells.append(ToyCell(*weights))
        x = randn(gen, (b, cin, h, w), dtype)
        hs = [torch.tanh(randn(gen, (b, c, h, w), dtype)) for _ in range(layers)]
        cs = [randn(gen, (b, c, h, w), dtype) for _ in range(layers)]
        m = randn(gen, (b, c, h, w), dtype)
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


#: This module's exercises, their arguments named for the feedback.
SPECS: list[CheckSpec] = named_specs(
    (_SPATIAL_MEMORY, ("x_i", "x_f", "x_g", "m_i", "m_f", "m_g", "m_in")),
    (_ST_OUTPUT, ("o_x", "o_h", "c_t", "m_t", "w_co", "w_1x1")),
    (_ZIGZAG_STEP, ("cells", "x", "h", "c", "m")),
)
