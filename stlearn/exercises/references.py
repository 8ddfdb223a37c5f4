r"""Reference solutions of the exercises that have no single function elsewhere in stlearn.

The gate exercises compare with :mod:`stlearn.gates` directly; the compound exercises (a full
ConvLSTM step, the spatial half of the ST-LSTM, the output fusion, one zigzag step, CSI at one
threshold, MSE per frame as one number) are written here from the same functions, so the
checkers never disagree with the package the lessons teach.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from .. import gates
from ..models.patching import patch_frames as _patch_frames
from ..models.predrnn_v2 import decoupling_term
from ..training.schedules import reverse_sampling_probabilities

Tensor = torch.Tensor

__all__ = [
    "convlstm_step",
    "csi",
    "decoupling_loss",
    "mse_per_frame",
    "patch_frames",
    "reverse_schedule",
    "spatial_memory",
    "st_output",
    "zigzag_step",
]


def convlstm_step(
    x: Tensor,
    h_prev: Tensor,
    c_prev: Tensor,
    w_x: Tensor,
    w_h: Tensor,
    w_ci: Tensor,
    w_cf: Tensor,
    w_co: Tensor,
    b: Tensor,
) -> tuple[Tensor, Tensor]:
    r"""One ConvLSTM step from the gate functions: ``(H_t, C_t)``.

    ``w_x`` (4C, C_in, k, k) and ``w_h`` (4C, C, k, k) hold the four gates' kernels in the order
    [i, f, C̃, o]; ``b`` (4C,) the biases in the same order; peepholes (C, H, W). Padding k // 2.

    Exercise of lesson 3 (``ex03_convlstm_gates.ipynb``).
    """
    zx = F.conv2d(x, w_x, padding=w_x.shape[-1] // 2)
    zh = F.conv2d(h_prev, w_h, padding=w_h.shape[-1] // 2)
    x_i, x_f, x_c, x_o = zx.chunk(4, dim=1)
    h_i, h_f, h_c, h_o = zh.chunk(4, dim=1)
    b_i, b_f, b_c, b_o = b.chunk(4)
    i_t = gates.input_gate(x_i, h_i, c_prev, w_ci, b_i)
    f_t = gates.forget_gate(x_f, h_f, c_prev, w_cf, b_f)
    c_tilde = gates.cell_candidate(x_c, h_c, b_c)
    c_t = gates.cell_update(f_t, c_prev, i_t, c_tilde)
    o_t = gates.output_gate(x_o, h_o, c_t, w_co, b_o)
    return gates.hidden_state(o_t, c_t), c_t


def spatial_memory(
    x_i: Tensor, x_f: Tensor, x_g: Tensor, m_i: Tensor, m_f: Tensor, m_g: Tensor, m_in: Tensor
) -> Tensor:
    r"""The ST-LSTM's spatial half: :math:`M^l_t = f' \odot M^{l-1}_t + i' \odot g'` from pre-activations.

    Exercise of lesson 5 (``ex05_st_lstm.ipynb``).
    """
    i_p = gates.spatial_input_gate(x_i, m_i)
    f_p = gates.spatial_forget_gate(x_f, m_f)
    g_p = gates.spatial_candidate(x_g, m_g)
    return gates.spatial_memory_update(f_p, m_in, i_p, g_p)


def st_output(
    o_x: Tensor, o_h: Tensor, c_t: Tensor, m_t: Tensor, w_co: Tensor, w_1x1: Tensor
) -> tuple[Tensor, Tensor]:
    r"""ST-LSTM output fusion over :math:`[C_t, M_t]`: ``(o_t, H_t)``.  Exercise of lesson 5."""
    o_t = gates.st_output_gate(o_x, o_h, c_t, m_t, w_co)
    return o_t, gates.st_hidden_state(o_t, c_t, m_t, w_1x1)


def zigzag_step(
    cells: Sequence[Callable[..., tuple[Tensor, Tensor, Tensor]]],
    x: Tensor,
    h: Sequence[Tensor],
    c: Sequence[Tensor],
    m: Tensor,
) -> tuple[list[Tensor], list[Tensor], Tensor]:
    r"""One time step through a stack of ST-LSTM cells with the zigzag memory.

    Layer 0 reads the frame and the top layer's memory of the previous step ``m``; layer l reads
    :math:`H^{l-1}_t` and :math:`M^{l-1}_t` just written by the layer below. Returns new lists
    ``(H_t, C_t)`` per layer and the top layer's :math:`M^{L-1}_t`.  Exercise of lesson 6.
    """
    h_new, c_new = [], []
    inp, mem = x, m
    for layer, cell in enumerate(cells):
        h_l, c_l, mem = cell(inp, h[layer], c[layer], mem)
        h_new.append(h_l)
        c_new.append(c_l)
        inp = h_l
    return h_new, c_new, mem


def patch_frames(frames: Tensor, p: int) -> Tensor:
    """(B, T, C, H, W) → (B, T, p·p·C, H/p, W/p), channel (dy·p + dx)·C + c.  Exercise of lesson 1."""
    return _patch_frames(frames, p)


def decoupling_loss(adapter: Callable[[Tensor], Tensor], delta_c: Tensor, delta_m: Tensor) -> Tensor:
    """PredRNN-V2's decoupling term of one (step, layer).  Exercise of lesson 7."""
    return decoupling_term(adapter, delta_c, delta_m)


def reverse_schedule(k: int, tau1: int, tau2: int, alpha: float) -> tuple[float, float]:
    """PredRNN-V2's reverse scheduled sampling ``(r_k, e_k)``.  Exercise of lesson 7."""
    return reverse_sampling_probabilities(k, tau1, tau2, alpha)


def csi(pred: Tensor, obs: Tensor, threshold: float) -> float:
    r"""CSI = TP / (TP + FN + FP) of reflectivity fields (dBZ), an event being value ≥ threshold.

    NaN when no pixel of either field reaches the threshold.  Exercise of lesson 9.
    """
    p_event, o_event = pred >= threshold, obs >= threshold
    tp = int((p_event & o_event).sum())
    fn = int((~p_event & o_event).sum())
    fp = int((p_event & ~o_event).sum())
    return tp / (tp + fn + fp) if tp + fn + fp else math.nan


def mse_per_frame(pred: Tensor, target: Tensor) -> Tensor:
    """Sum of squared errors over each frame's C·H·W pixels, averaged over (B, T).  Exercise of lesson 9."""
    return (pred - target).pow(2).sum(dim=(2, 3, 4)).mean()
