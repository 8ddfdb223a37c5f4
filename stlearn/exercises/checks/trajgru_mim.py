r"""TrajGRU's warp and MIM's stationary module — lesson 8 (``ex08_trajgru_mim``).

* ``warp(h, flow)``: :math:`\mathrm{warp}(H, U, V)[y, x] = H[y - V_{y,x},\ x - U_{y,x}]`, bilinear, zero
  outside the frame; the reference is stlearn's own :func:`stlearn.models.trajgru_cell.warp`, the
  function TrajGRU's cell calls for each of its L links.
* ``mim_s_step(d_t, c_prev, s_prev, w_x, w_h, w_ci, w_cf, w_co)``: MIM-S, the peephole ConvLSTM with
  forget bias +1 that reads :math:`D_t` as its input and :math:`C_{t-1}` as its hidden state, keeps
  its memory :math:`S_t` and outputs :math:`T_t`, which stands in :math:`C_t` where an ST-LSTM has
  :math:`f_t \odot C_{t-1}` (``MIMBlock.mim_s`` of :mod:`stlearn.models.mim_block`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ... import gates
from ...models.trajgru_cell import warp as _stlearn_warp
from .._core import Case, CheckSpec, Mistake, run_check
from ._draw import named_specs, no_nan, randn, saturating

Tensor = torch.Tensor


# ------------------------------------------------------------------ the warp


def warp(h: Tensor, flow: Tensor) -> Tensor:
    r"""TrajGRU's warp: ``h`` (N, C, H, W) sampled at (x − U, y − V), bilinear, zero outside; flow (N, 2, H, W).

    stlearn's own :func:`stlearn.models.trajgru_cell.warp`.  Exercise of lesson 8 (``ex08_trajgru_mim.ipynb``).
    """
    return _stlearn_warp(h, flow)


def _warp_cases(gen: torch.Generator) -> list[Case]:
    # (label, N, C, H, W, dtype, flow): "random" flows of a few pixels (fractional, some reaching outside
    # the frame), "zero", "integer" shifts, "far" (most positions outside)
    specs = [
        ("float32, 2 samples, 3 channels, 5×7 grid, random flow", 2, 3, 5, 7, torch.float32, "random"),
        ("float64, batch 1, 2 channels, 6×4 grid, random flow", 1, 2, 6, 4, torch.float64, "random"),
        ("float32, 3 samples, 1 channel, 8×8 grid, random flow", 3, 1, 8, 8, torch.float32, "random"),
        ("float64, 2 samples, 2 channels, 4×5 grid, zero flow (the identity)", 2, 2, 4, 5, torch.float64, "zero"),
        ("float32, batch 1, 4 channels, 6×9 grid, integer flow (a shift)", 1, 4, 6, 9, torch.float32, "integer"),
        ("float64, 2 samples, 3 channels, 7×6 grid, flow of up to 10 cells", 2, 3, 7, 6, torch.float64, "far"),
        ("float64, 3 samples, 1 channel, 2×3 grid, random flow", 3, 1, 2, 3, torch.float64, "random"),
    ]
    cases = []
    for label, n, c, height, width, dtype, kind in specs:
        h = randn(gen, (n, c, height, width), dtype)
        shape = (n, 2, height, width)
        if kind == "zero":
            flow = torch.zeros(shape, dtype=dtype)
        elif kind == "integer":
            flow = torch.randint(-2, 3, shape, generator=gen).to(dtype)
        elif kind == "far":
            flow = randn(gen, shape, dtype, 5.0)
        else:
            flow = randn(gen, shape, dtype, 1.3)
        cases.append(Case(label, (h, flow), dtype))
    return cases


def _warp_variant(
    sign: float = -1.0,
    swap_uv: bool = False,
    grid_yx: bool = False,
    align_corners: bool = True,
    normalise: str = "corners",
    mode: str = "bilinear",
    padding: str = "zeros",
):
    def fn(h, flow):
        _, _, height, width = h.shape
        u, v = (flow[:, 1], flow[:, 0]) if swap_uv else (flow[:, 0], flow[:, 1])
        xs = torch.arange(width, dtype=h.dtype).view(1, 1, width)
        ys = torch.arange(height, dtype=h.dtype).view(1, height, 1)
        px, py = xs + sign * u, ys + sign * v
        if normalise == "corners":
            sx, sy = px * 2.0 / max(width - 1, 1) - 1.0, py * 2.0 / max(height - 1, 1) - 1.0
        elif normalise == "size":
            sx, sy = px * 2.0 / width - 1.0, py * 2.0 / height - 1.0
        else:  # pixels, not normalised
            sx, sy = px, py
        grid = torch.stack([sy, sx] if grid_yx else [sx, sy], dim=-1)
        return F.grid_sample(h, grid, mode=mode, padding_mode=padding, align_corners=align_corners)

    return fn


_WARP = CheckSpec(
    "warp",
    warp,
    _warp_cases,
    [
        Mistake(
            _warp_variant(swap_uv=True),
            "U and V are swapped: channel 0 of the flow is U, the displacement along x (the width, the last "
            "axis), channel 1 is V, along y (the height)",
        ),
        Mistake(
            _warp_variant(sign=1.0),
            "the flow's sign is flipped: you read H at (x + U, y + V); the warp GATHERS from where the state "
            "comes from, warp(H, U, V)[y, x] = H[y − V, x − U] (so a positive U moves the content to the right)",
        ),
        Mistake(
            _warp_variant(grid_yx=True),
            "grid_sample's grid holds (x, y) in its last axis — the horizontal coordinate first — not (y, x) "
            "like a tensor index",
        ),
        Mistake(
            _warp_variant(align_corners=False),
            "grid_sample's default is align_corners=False, where −1 and +1 are the outer edges of the border "
            "pixels; your normalisation 2·x/(W − 1) − 1 puts −1 and +1 on the centres of the first and last "
            "pixels, which is align_corners=True: pass it (a zero flow must return h unchanged)",
        ),
        Mistake(
            _warp_variant(normalise="size"),
            "with align_corners=True, −1 and +1 are the centres of the first and last pixel: normalise x by "
            "W − 1 (2·x/(W − 1) − 1), not by W (a zero flow must return h unchanged)",
        ),
        Mistake(
            _warp_variant(normalise="none"),
            "grid_sample reads the sampling positions normalised to [−1, 1] (−1 the first pixel, +1 the last), "
            "not in pixels: convert x − U and y − V before sampling",
        ),
        Mistake(
            _warp_variant(mode="nearest"),
            "a fractional flow needs bilinear interpolation between the four nearest pixels (mode='bilinear'), "
            "not the nearest pixel: the flows are real numbers, and their gradient must flow during training",
        ),
        Mistake(
            _warp_variant(padding="border"),
            "positions outside the frame give zero (padding_mode='zeros'), not the nearest border pixel: the "
            "state that would come from outside the grid is unknown",
        ),
    ],
    [no_nan],
    failure_note="warp(H, U, V)[y, x] = H[y − V, x − U], bilinear between pixels, zero outside the frame",
)


def check_warp(fn: Callable[..., Tensor], seed: int | None = None) -> None:
    r"""Check ``warp(h, flow)``: :math:`H[y - V, x - U]`, bilinear, zero outside (stlearn's TrajGRU warp).

    Recognises: U and V swapped, the flow's sign flipped, the grid's (x, y) order reversed,
    align_corners=False with the (W − 1) normalisation, a normalisation by W, no normalisation,
    nearest instead of bilinear, border instead of zero padding, in-place edits.  Exercise of
    lesson 8 (``ex08_trajgru_mim.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_WARP, fn, seed)


# ------------------------------------------------------------------ MIM-S, the stationary module


def mim_s_step(
    d_t: Tensor, c_prev: Tensor, s_prev: Tensor, w_x: Tensor, w_h: Tensor, w_ci: Tensor, w_cf: Tensor, w_co: Tensor
) -> tuple[Tensor, Tensor]:
    r"""MIM-S: :math:`(T_t, S_t) = \text{MIM-S}(D_t;\ C_{t-1}, S_{t-1})`, a peephole ConvLSTM with forget bias +1.

    Input :math:`x = D_t`, hidden state :math:`h = C_{t-1}`, memory :math:`c = S_{t-1}`; ``w_x`` and
    ``w_h`` (4C, C, k, k) hold the kernels of i, f, the candidate and o, in that order, no bias;
    peepholes (C, H, W).  Exercise of lesson 8 (``ex08_trajgru_mim.ipynb``).
    """
    pad = w_x.shape[-1] // 2
    x_i, x_f, x_c, x_o = F.conv2d(d_t, w_x, padding=pad).chunk(4, dim=1)
    h_i, h_f, h_c, h_o = F.conv2d(c_prev, w_h, padding=pad).chunk(4, dim=1)
    i = gates.input_gate(x_i, h_i, s_prev, w_ci)
    f = gates.forget_gate(x_f, h_f, s_prev, w_cf, forget_bias=gates.ST_FORGET_BIAS)
    s_t = gates.cell_update(f, s_prev, i, gates.cell_candidate(x_c, h_c))
    o = gates.output_gate(x_o, h_o, s_t, w_co)
    return gates.hidden_state(o, s_t), s_t


def _mim_s_cases(gen: torch.Generator) -> list[Case]:
    # (label, B, C, H, W, k, dtype, extreme)
    specs = [
        ("float32, 2 samples, 3 channels, 5×7 grid, k=3", 2, 3, 5, 7, 3, torch.float32, False),
        ("float64, batch 1, 2 channels, 6×6 grid, k=5", 1, 2, 6, 6, 5, torch.float64, False),
        ("float32, 3 samples, 4 channels, 4×5 grid, k=3", 3, 4, 4, 5, 3, torch.float32, False),
        ("float64, 2 samples, 1 channel, 7×4 grid, k=1", 2, 1, 7, 4, 1, torch.float64, False),
        ("float32, D_t of ±50 (saturated gates)", 2, 2, 4, 4, 3, torch.float32, True),
        ("float64, batch 1, 3 channels, 3×5 grid, k=3", 1, 3, 3, 5, 3, torch.float64, False),
    ]
    cases = []
    for label, b, c, height, width, k, dtype, extreme in specs:
        shape = (b, c, height, width)
        d_t = saturating(gen, shape, dtype) if extreme else torch.tanh(randn(gen, shape, dtype, 1.5))
        c_prev = randn(gen, shape, dtype, 1.5)
        s_prev = randn(gen, shape, dtype, 1.5)
        w_x = randn(gen, (4 * c, c, k, k), dtype, 0.5)
        w_h = randn(gen, (4 * c, c, k, k), dtype, 0.5)
        peepholes = [randn(gen, (c, height, width), dtype, 0.7) for _ in range(3)]
        cases.append(Case(label, (d_t, c_prev, s_prev, w_x, w_h, *peepholes), dtype))
    return cases


def _mim_s_variant(
    roles: str = "right",
    forget: str = "s",
    bias: float = gates.ST_FORGET_BIAS,
    o_peep: str = "new",
    out_act=torch.tanh,
    cand=torch.tanh,
    peepholes: bool = True,
    swap_out: bool = False,
):
    def fn(d_t, c_prev, s_prev, w_x, w_h, w_ci, w_cf, w_co):
        hid, mem = (c_prev, s_prev) if roles == "right" else (s_prev, c_prev)
        pad = w_x.shape[-1] // 2
        x_i, x_f, x_c, x_o = F.conv2d(d_t, w_x, padding=pad).chunk(4, dim=1)
        h_i, h_f, h_c, h_o = F.conv2d(hid, w_h, padding=pad).chunk(4, dim=1)
        p = 1.0 if peepholes else 0.0
        i = torch.sigmoid(x_i + h_i + p * w_ci * mem)
        f = torch.sigmoid(x_f + h_f + p * w_cf * mem + bias)
        kept = mem if forget == "s" else c_prev
        s_t = f * kept + i * cand(x_c + h_c)
        o = torch.sigmoid(x_o + h_o + p * w_co * (s_t if o_peep == "new" else mem))
        t_t = o * out_act(s_t)
        return (s_t, t_t) if swap_out else (t_t, s_t)

    return fn


_MIM_S_STEP = CheckSpec(
    "mim_s_step",
    mim_s_step,
    _mim_s_cases,
    [
        Mistake(
            _mim_s_variant(roles="swapped"),
            "the roles of C_{t-1} and S_{t-1} are swapped: MIM-S treats the old temporal memory C_{t-1} as its "
            "HIDDEN STATE (it enters through the convolution W_h *), and S_{t-1} is its own memory (the peepholes "
            "and the forget gate act on it)",
        ),
        Mistake(
            _mim_s_variant(forget="c"),
            "the forget gate multiplies MIM-S's own memory: S_t = f ⊙ S_{t-1} + i ⊙ g, not f ⊙ C_{t-1} — "
            "replacing the ST-LSTM's f_t ⊙ C_{t-1} is the whole point of MIM-S (C_{t-1} enters only through W_h *)",
        ),
        Mistake(
            _mim_s_variant(bias=0.0),
            "you left out the forget bias: MIM's modules add a constant +1 inside the forget gate, "
            "f = σ(W_xf * D_t + W_hf * C_{t-1} + W_cf ⊙ S_{t-1} + 1)",
        ),
        Mistake(
            _mim_s_variant(peepholes=False),
            "MIM-S is a PEEPHOLE ConvLSTM: add W_ci ⊙ S_{t-1} in i, W_cf ⊙ S_{t-1} in f and W_co ⊙ S_t in o "
            "(they start at zero in a fresh MIM, not in a trained one)",
        ),
        Mistake(
            _mim_s_variant(o_peep="old"),
            "the output gate's peephole looks at the NEW memory: o = σ(W_xo * D_t + W_ho * C_{t-1} + W_co ⊙ S_t), "
            "computed after S_t, not with S_{t-1}",
        ),
        Mistake(
            _mim_s_variant(out_act=lambda z: z),
            "T_t = o ⊙ tanh(S_t): did you forget the tanh? (it is what bounds |T_t| below 1)",
        ),
        Mistake(
            _mim_s_variant(cand=torch.sigmoid),
            "the candidate written into S_t uses tanh, not the sigmoid: g = tanh(W_xc * D_t + W_hc * C_{t-1})",
        ),
        Mistake(
            _mim_s_variant(swap_out=True),
            "you returned (S_t, T_t): return (T_t, S_t), the output first (as MIM-S(D_t; C_{t-1}, S_{t-1}) = "
            "(T_t, S_t))",
        ),
    ],
    [no_nan],
    failure_note="i, f, g, o from W_x * D_t + W_h * C_{t-1} (order i, f, g, o), peepholes on S, forget bias +1",
)


def check_mim_s_step(fn: Callable[..., tuple[Tensor, Tensor]], seed: int | None = None) -> None:
    r"""Check ``mim_s_step(d_t, c_prev, s_prev, w_x, w_h, w_ci, w_cf, w_co) -> (T_t, S_t)`` (MIM-S, lesson 8).

    Recognises: C_{t-1} and S_{t-1} in each other's roles, f ⊙ C_{t-1} instead of f ⊙ S_{t-1}, no
    forget bias, no peepholes, the output peephole on S_{t-1}, no tanh on T_t, a sigmoid candidate,
    swapped outputs, NaN at ±50, in-place edits.  Exercise of lesson 8 (``ex08_trajgru_mim.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_MIM_S_STEP, fn, seed)


#: This module's exercises, their arguments named for the feedback.
SPECS: list[CheckSpec] = named_specs(
    (_WARP, ("h", "flow")),
    (_MIM_S_STEP, ("d_t", "c_prev", "s_prev", "w_x", "w_h", "w_ci", "w_cf", "w_co")),
)
