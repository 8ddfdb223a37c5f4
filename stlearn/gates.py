r"""One function per gate equation: ConvLSTM (lesson 3) and ST-LSTM / PredRNN (lesson 5).

Notation (the seed's): :math:`*` is a convolution (same padding, stride 1), :math:`\odot` the
Hadamard (element-wise) product, :math:`\sigma` the logistic sigmoid.

Every function takes the *pre-activations* it needs — the outputs of the convolutions, e.g.
``x_i`` :math:`= W_{xi} * X_t` and ``h_i`` :math:`= W_{hi} * H_{t-1}` — and the states, all as
tensors of shape (B, C, H, W), and returns one tensor of that shape.  The cells in
:mod:`stlearn.cells` compute the convolutions once for all gates and call these functions on
the trace path, so the numbers a lesson shows are exactly what these lines compute.

The ConvLSTM gates follow the seed (Shi et al., 2015) with Hadamard peepholes
:math:`W_{c\cdot} \odot C`; the ST-LSTM gates follow the official PredRNN code (Wang et al.,
TPAMI 2022): bias-free convolutions, a constant forget bias of +1 and the fused output.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ._checks import check_bias, check_conv_weight, check_frame_tensor, check_like, check_peephole

Tensor = torch.Tensor

__all__ = [
    "ST_FORGET_BIAS",
    "cell_candidate",
    "cell_update",
    "forget_gate",
    "hidden_state",
    "input_gate",
    "output_gate",
    "spatial_candidate",
    "spatial_forget_gate",
    "spatial_input_gate",
    "spatial_memory_update",
    "st_hidden_state",
    "st_output_gate",
]

#: The constant added inside both ST-LSTM forget gates by the official PredRNN code
#: (it is not a parameter): a gate that starts near :math:`\sigma(1) \approx 0.73`, "remember".
ST_FORGET_BIAS = 1.0


def _pre_activation(
    where: str,
    x_name: str,
    x_part: Tensor,
    h_name: str,
    h_part: Tensor,
    state: Tensor | None = None,
    peephole: Tensor | None = None,
    state_name: str = "c_prev",
    peephole_name: str = "w_c",
    bias: Tensor | None = None,
    bias_name: str = "b",
) -> Tensor:
    """``x_part + h_part (+ peephole ⊙ state) (+ bias)``, every argument checked first."""
    check_frame_tensor(where, x_name, x_part)
    check_like(where, x_name, x_part, h_name, h_part)
    z = x_part + h_part
    if peephole is not None:
        if state is None:
            raise ValueError(f"{where}: a peephole weight '{peephole_name}' needs the cell state '{state_name}'")
        check_like(where, x_name, x_part, state_name, state)
        check_peephole(where, peephole_name, peephole, state_name, state)
        z = z + peephole * state
    if bias is not None:
        check_bias(where, bias_name, bias, x_name, x_part)
        z = z + bias.view(1, -1, 1, 1)
    return z


# ---------------------------------------------------------------------------------------------
# ConvLSTM — lesson 3, "ConvLSTM gate by gate"
# ---------------------------------------------------------------------------------------------


def input_gate(
    x_i: Tensor,
    h_i: Tensor,
    c_prev: Tensor | None = None,
    w_ci: Tensor | None = None,
    b_i: Tensor | None = None,
) -> Tensor:
    r"""Input gate: how much of the new candidate is written into the cell.

    .. math:: i_t = \sigma(W_{xi} * X_t + W_{hi} * H_{t-1} + W_{ci} \odot C_{t-1} + b_i)

    Args:
        x_i: :math:`W_{xi} * X_t`, shape (B, C, H, W).
        h_i: :math:`W_{hi} * H_{t-1}`, shape (B, C, H, W).
        c_prev: :math:`C_{t-1}`, (B, C, H, W); needed only with a peephole.
        w_ci: peephole weight :math:`W_{ci}`, one number per channel and pixel: (C, H, W).
            ``None`` drops the peephole term (the common peephole-free ConvLSTM).
        b_i: bias :math:`b_i`, shape (C,), or ``None`` when the bias lives in the convolution.

    Returns:
        :math:`i_t`, shape (B, C, H, W), values in (0, 1).

    Taught in lesson 3 (``03_convlstm_gates.ipynb``), section "Input gate"; ST-LSTM reuses it
    without peephole for its temporal input gate (lesson 5).
    """
    z = _pre_activation("input_gate", "x_i", x_i, "h_i", h_i, c_prev, w_ci, "c_prev", "w_ci", b_i, "b_i")
    # i_t = σ(W_xi*X_t + W_hi*H_{t-1} + W_ci ⊙ C_{t-1} + b_i)
    return torch.sigmoid(z)


def forget_gate(
    x_f: Tensor,
    h_f: Tensor,
    c_prev: Tensor | None = None,
    w_cf: Tensor | None = None,
    b_f: Tensor | None = None,
    forget_bias: float = 0.0,
) -> Tensor:
    r"""Forget gate: how much of the previous cell state is kept.

    .. math:: f_t = \sigma(W_{xf} * X_t + W_{hf} * H_{t-1} + W_{cf} \odot C_{t-1} + b_f)

    Args:
        x_f: :math:`W_{xf} * X_t`, (B, C, H, W).
        h_f: :math:`W_{hf} * H_{t-1}`, (B, C, H, W).
        c_prev: :math:`C_{t-1}`, (B, C, H, W); needed only with a peephole.
        w_cf: peephole weight :math:`W_{cf}`, (C, H, W), or ``None``.
        b_f: bias :math:`b_f`, (C,), or ``None``.
        forget_bias: a constant added before the sigmoid. The seed's ConvLSTM has none (0.0);
            PredRNN's ST-LSTM uses :data:`ST_FORGET_BIAS` = 1.0 so that a fresh network remembers.

    Returns:
        :math:`f_t`, (B, C, H, W), values in (0, 1).

    Taught in lesson 3, section "Forget gate"; the +1 variant in lesson 5.
    """
    z = _pre_activation("forget_gate", "x_f", x_f, "h_f", h_f, c_prev, w_cf, "c_prev", "w_cf", b_f, "b_f")
    # f_t = σ(W_xf*X_t + W_hf*H_{t-1} + W_cf ⊙ C_{t-1} + b_f [+ forget_bias])
    return torch.sigmoid(z + forget_bias) if forget_bias else torch.sigmoid(z)


def cell_candidate(x_c: Tensor, h_c: Tensor, b_c: Tensor | None = None) -> Tensor:
    r"""Candidate cell state: the new content proposed for the cell.

    .. math:: \tilde{C}_t = \tanh(W_{xc} * X_t + W_{hc} * H_{t-1} + b_c)

    Args:
        x_c: :math:`W_{xc} * X_t`, (B, C, H, W).
        h_c: :math:`W_{hc} * H_{t-1}`, (B, C, H, W).
        b_c: bias :math:`b_c`, (C,), or ``None``.

    Returns:
        :math:`\tilde{C}_t` (called :math:`g_t` in the PredRNN code), (B, C, H, W), values in (-1, 1).

    Taught in lesson 3, section "Candidate"; ST-LSTM's :math:`g_t` in lesson 5.
    """
    z = _pre_activation("cell_candidate", "x_c", x_c, "h_c", h_c, bias=b_c, bias_name="b_c")
    # C̃_t = tanh(W_xc*X_t + W_hc*H_{t-1} + b_c)
    return torch.tanh(z)


def cell_update(f_t: Tensor, c_prev: Tensor, i_t: Tensor, c_tilde: Tensor) -> Tensor:
    r"""Cell state update: keep part of the old memory, write part of the candidate.

    .. math:: C_t = f_t \odot C_{t-1} + i_t \odot \tilde{C}_t

    Args:
        f_t: forget gate, (B, C, H, W).
        c_prev: :math:`C_{t-1}`, (B, C, H, W).
        i_t: input gate, (B, C, H, W).
        c_tilde: candidate :math:`\tilde{C}_t`, (B, C, H, W).

    Returns:
        :math:`C_t`, (B, C, H, W).

    Taught in lesson 3, section "Cell update"; the ST-LSTM temporal memory (lesson 5) is the same line.
    """
    where = "cell_update"
    check_frame_tensor(where, "f_t", f_t)
    for name, t in (("c_prev", c_prev), ("i_t", i_t), ("c_tilde", c_tilde)):
        check_like(where, "f_t", f_t, name, t)
    # C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t
    return f_t * c_prev + i_t * c_tilde


def output_gate(
    x_o: Tensor,
    h_o: Tensor,
    c_t: Tensor | None = None,
    w_co: Tensor | None = None,
    b_o: Tensor | None = None,
) -> Tensor:
    r"""Output gate: how much of the (squashed) cell is exposed as the hidden state.

    .. math:: o_t = \sigma(W_{xo} * X_t + W_{ho} * H_{t-1} + W_{co} \odot C_t + b_o)

    Note the peephole looks at the *new* cell :math:`C_t`, not :math:`C_{t-1}`.

    Args:
        x_o: :math:`W_{xo} * X_t`, (B, C, H, W).
        h_o: :math:`W_{ho} * H_{t-1}`, (B, C, H, W).
        c_t: :math:`C_t` (the updated cell), (B, C, H, W); needed only with a peephole.
        w_co: peephole weight :math:`W_{co}`, (C, H, W), or ``None``.
        b_o: bias :math:`b_o`, (C,), or ``None``.

    Returns:
        :math:`o_t`, (B, C, H, W), values in (0, 1).

    Taught in lesson 3, section "Output gate".
    """
    z = _pre_activation("output_gate", "x_o", x_o, "h_o", h_o, c_t, w_co, "c_t", "w_co", b_o, "b_o")
    # o_t = σ(W_xo*X_t + W_ho*H_{t-1} + W_co ⊙ C_t + b_o)
    return torch.sigmoid(z)


def hidden_state(o_t: Tensor, c_t: Tensor) -> Tensor:
    r"""Hidden state: the gated, squashed cell.

    .. math:: H_t = o_t \odot \tanh(C_t)

    Args:
        o_t: output gate, (B, C, H, W).
        c_t: cell state :math:`C_t`, (B, C, H, W).

    Returns:
        :math:`H_t`, (B, C, H, W), values in (-1, 1).

    Taught in lesson 3, section "Hidden state".
    """
    check_frame_tensor("hidden_state", "o_t", o_t)
    check_like("hidden_state", "o_t", o_t, "c_t", c_t)
    # H_t = o_t ⊙ tanh(C_t)
    return o_t * torch.tanh(c_t)


# ---------------------------------------------------------------------------------------------
# ST-LSTM (PredRNN) — lesson 5, "PredRNN's ST-LSTM"
# The temporal half of the ST-LSTM reuses input_gate, forget_gate(forget_bias=1), cell_candidate
# and cell_update without peepholes; the spatial half below reads the spatiotemporal memory M
# that flows up the stack (the zigzag, lesson 6) instead of H.
# ---------------------------------------------------------------------------------------------


def spatial_input_gate(x_i_prime: Tensor, m_i: Tensor) -> Tensor:
    r"""Spatial input gate: how much of the spatial candidate is written into M.

    .. math:: i'_t = \sigma(W'_{xi} * X_t + W_{mi} * M^{l-1}_t)

    Args:
        x_i_prime: :math:`W'_{xi} * X_t`, (B, C, H, W).
        m_i: :math:`W_{mi} * M^{l-1}_t`, the memory arriving from the layer below, (B, C, H, W).

    Returns:
        :math:`i'_t`, (B, C, H, W), values in (0, 1).

    Taught in lesson 5 (``05_st_lstm.ipynb``), section "The primed gates".
    """
    z = _pre_activation("spatial_input_gate", "x_i_prime", x_i_prime, "m_i", m_i)
    # i'_t = σ(W'_xi*X_t + W_mi*M^{l-1}_t)
    return torch.sigmoid(z)


def spatial_forget_gate(x_f_prime: Tensor, m_f: Tensor, forget_bias: float = ST_FORGET_BIAS) -> Tensor:
    r"""Spatial forget gate: how much of the incoming spatiotemporal memory is kept.

    .. math:: f'_t = \sigma(W'_{xf} * X_t + W_{mf} * M^{l-1}_t + 1)

    Args:
        x_f_prime: :math:`W'_{xf} * X_t`, (B, C, H, W).
        m_f: :math:`W_{mf} * M^{l-1}_t`, (B, C, H, W).
        forget_bias: the constant (+1.0 in the official code, :data:`ST_FORGET_BIAS`).

    Returns:
        :math:`f'_t`, (B, C, H, W), values in (0, 1).

    Taught in lesson 5, section "The primed gates".
    """
    z = _pre_activation("spatial_forget_gate", "x_f_prime", x_f_prime, "m_f", m_f)
    # f'_t = σ(W'_xf*X_t + W_mf*M^{l-1}_t + 1)
    return torch.sigmoid(z + forget_bias)


def spatial_candidate(x_g_prime: Tensor, m_g: Tensor) -> Tensor:
    r"""Spatial candidate: new content proposed for the spatiotemporal memory.

    .. math:: g'_t = \tanh(W'_{xg} * X_t + W_{mg} * M^{l-1}_t)

    Args:
        x_g_prime: :math:`W'_{xg} * X_t`, (B, C, H, W).
        m_g: :math:`W_{mg} * M^{l-1}_t`, (B, C, H, W).

    Returns:
        :math:`g'_t`, (B, C, H, W), values in (-1, 1).

    Taught in lesson 5, section "The primed gates".
    """
    z = _pre_activation("spatial_candidate", "x_g_prime", x_g_prime, "m_g", m_g)
    # g'_t = tanh(W'_xg*X_t + W_mg*M^{l-1}_t)
    return torch.tanh(z)


def spatial_memory_update(f_prime: Tensor, m_prev: Tensor, i_prime: Tensor, g_prime: Tensor) -> Tensor:
    r"""Spatiotemporal memory update, layer :math:`l` at step :math:`t`.

    .. math:: M^l_t = f'_t \odot M^{l-1}_t + i'_t \odot g'_t

    :math:`M^{l-1}_t` comes from the layer below at the same step — or, for the bottom layer,
    from the top layer at the previous step (the zigzag memory flow, lesson 6).

    Args:
        f_prime: spatial forget gate :math:`f'_t`, (B, C, H, W).
        m_prev: incoming memory :math:`M^{l-1}_t`, (B, C, H, W).
        i_prime: spatial input gate :math:`i'_t`, (B, C, H, W).
        g_prime: spatial candidate :math:`g'_t`, (B, C, H, W).

    Returns:
        :math:`M^l_t`, (B, C, H, W).

    Taught in lesson 5, section "Spatiotemporal memory M".
    """
    where = "spatial_memory_update"
    check_frame_tensor(where, "f_prime", f_prime)
    for name, t in (("m_prev", m_prev), ("i_prime", i_prime), ("g_prime", g_prime)):
        check_like(where, "f_prime", f_prime, name, t)
    # M^l_t = f'_t ⊙ M^{l-1}_t + i'_t ⊙ g'_t
    return f_prime * m_prev + i_prime * g_prime


def _conv_cm(where: str, c_t: Tensor, m_t: Tensor, weight: Tensor | Callable[[Tensor], Tensor], name: str) -> Tensor:
    """``weight * [C_t, M_t]`` — C first, then M, as in the official code.

    ``weight`` is a (C, 2C, k, k) kernel, or a module applied to the concatenation (the
    cell's ``conv_o`` when it carries a layer norm).
    """
    check_frame_tensor(where, "c_t", c_t)
    check_like(where, "c_t", c_t, "m_t", m_t)
    cm = torch.cat([c_t, m_t], dim=1)
    if callable(weight) and not isinstance(weight, torch.Tensor):
        return weight(cm)
    channels = c_t.shape[1]
    check_conv_weight(where, name, weight, 2 * channels, channels)
    return F.conv2d(cm, weight, padding=weight.shape[-1] // 2)


def st_output_gate(
    o_x: Tensor, o_h: Tensor, c_t: Tensor, m_t: Tensor, w_co: Tensor | Callable[[Tensor], Tensor]
) -> Tensor:
    r"""ST-LSTM output gate: looks at both new memories through a convolution.

    .. math:: o_t = \sigma(W_{xo} * X_t + W_{ho} * H^l_{t-1} + W_{co} * [C^l_t, M^l_t])

    Args:
        o_x: :math:`W_{xo} * X_t`, (B, C, H, W).
        o_h: :math:`W_{ho} * H^l_{t-1}`, (B, C, H, W).
        c_t: new temporal memory :math:`C^l_t`, (B, C, H, W).
        m_t: new spatiotemporal memory :math:`M^l_t`, (B, C, H, W).
        w_co: convolution weight over the concatenation :math:`[C, M]` (C first), shape
            (C, 2C, k, k) — ``conv_o`` in the official code, applied with padding k//2 — or,
            with layer norm, the cell's ``conv_o`` module itself.

    Returns:
        :math:`o_t`, (B, C, H, W), values in (0, 1).

    Taught in lesson 5, section "Output fusion".
    """
    where = "st_output_gate"
    check_frame_tensor(where, "o_x", o_x)
    check_like(where, "o_x", o_x, "o_h", o_h)
    check_like(where, "o_x", o_x, "c_t", c_t)
    # o_t = σ(W_xo*X_t + W_ho*H_{t-1} + W_co*[C_t, M_t])
    return torch.sigmoid(o_x + o_h + _conv_cm(where, c_t, m_t, w_co, "w_co"))


def st_hidden_state(o_t: Tensor, c_t: Tensor, m_t: Tensor, w_1x1: Tensor) -> Tensor:
    r"""ST-LSTM hidden state: the output gate times the fused, squashed memories.

    .. math:: H^l_t = o_t \odot \tanh(W_{1\times1} * [C^l_t, M^l_t])

    Args:
        o_t: output gate, (B, C, H, W).
        c_t: temporal memory :math:`C^l_t`, (B, C, H, W).
        m_t: spatiotemporal memory :math:`M^l_t`, (B, C, H, W).
        w_1x1: the 1×1 fusion weight, (C, 2C, 1, 1) — ``conv_last`` of the official cell.

    Returns:
        :math:`H^l_t`, (B, C, H, W), values in (-1, 1).

    Taught in lesson 5, section "Output fusion".
    """
    where = "st_hidden_state"
    check_frame_tensor(where, "o_t", o_t)
    check_like(where, "o_t", o_t, "c_t", c_t)
    if isinstance(w_1x1, torch.Tensor) and w_1x1.ndim == 4 and w_1x1.shape[-1] != 1:
        raise ValueError(f"{where}: 'w_1x1' must be a 1×1 convolution weight (C, 2C, 1, 1), got {tuple(w_1x1.shape)}")
    # H_t = o_t ⊙ tanh(W_1x1 * [C_t, M_t])
    return o_t * torch.tanh(_conv_cm(where, c_t, m_t, w_1x1, "w_1x1"))
