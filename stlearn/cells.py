r"""ConvLSTM and ST-LSTM cells, each with a fast path and a trace path.

* ``cell(x, ...)`` — the **fast** path: the convolutions of all gates fused — ConvLSTM runs
  **one** convolution over the stacked input :math:`[X_t, H_{t-1}]` (since
  :math:`W_x * X + W_h * H = [W_x, W_h] * [X, H]`), the ST-LSTM two (over :math:`[X_t, H]` and
  :math:`[X_t, M]`) — the gate arithmetic inlined, no intermediates kept. Models use it for
  training. (With layer norm, which normalises each convolution separately, it runs one
  convolution per input.) The parameters stay those of the official code (``conv_x``,
  ``conv_h`` …); the stacked weights are concatenated at call time, which autograd handles.
* ``cell.trace(x, ...)`` — the **trace** path: the same step computed by calling the
  :mod:`stlearn.gates` functions one by one; it returns every intermediate as a named record
  (:class:`ConvLSTMTrace`, :class:`STLSTMTrace`). The lessons' heatmaps and diagrams read it.

The two paths agree to rounding (tested: 1e-12 in float64, 1e-5 in float32) and both carry
gradients. ConvLSTM is taught in lessons 2-4, the ST-LSTM in lesson 5.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from . import gates
from ._checks import check_frame_size, check_frame_tensor, check_kernel_size, check_positive_int

Tensor = torch.Tensor

__all__ = ["ConvLSTMCell", "ConvLSTMTrace", "GateEdit", "STLSTMCell", "STLSTMTrace"]


class GateEdit:
    """The trace path's edit hook; this base changes nothing (gate surgery, lesson 4: :mod:`stlearn.surgery`).

    ``pre(name, z)`` receives the input-convolution term of gate ``name`` (e.g. :math:`W_{xf} * X_t`) before
    the gate adds the rest of its pre-activation, so ``z + δ`` shifts the whole pre-activation by δ;
    ``post(name, value)`` receives each computed value (gate or state) and returns what the cell uses from
    then on. Only :meth:`ConvLSTMCell.trace` and :meth:`STLSTMCell.trace` call it; the fast path never does.

    Taught in lesson 4 ("Gate surgery").
    """

    def pre(self, name: str, z: Tensor) -> Tensor:
        return z

    def post(self, name: str, value: Tensor) -> Tensor:
        return value


#: the edit of an ordinary trace: none
_NO_EDIT = GateEdit()


class _Record:
    """Mixin for the trace records: dict view and detaching."""

    def as_dict(self) -> dict[str, Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    def detach(self):
        return type(self)(**{k: v.detach() for k, v in self.as_dict().items()})


@dataclass(frozen=True)
class ConvLSTMTrace(_Record):
    r"""Every intermediate of one ConvLSTM step, each (B, C, H, W).

    ``i`` input gate :math:`i_t`, ``f`` forget gate :math:`f_t`, ``c_tilde`` candidate
    :math:`\tilde C_t`, ``c`` cell :math:`C_t`, ``o`` output gate :math:`o_t`, ``h`` hidden :math:`H_t`.
    """

    i: Tensor
    f: Tensor
    c_tilde: Tensor
    c: Tensor
    o: Tensor
    h: Tensor


@dataclass(frozen=True)
class STLSTMTrace(_Record):
    r"""Every intermediate of one ST-LSTM step, each (B, C, H, W).

    Temporal half: ``i``, ``f``, ``g``, ``c`` (:math:`C^l_t`). Spatial half: ``i_prime``,
    ``f_prime``, ``g_prime``, ``m`` (:math:`M^l_t`). Output: ``o``, ``h`` (:math:`H^l_t`).
    PredRNN-V2's memory increments are derived: :attr:`delta_c` = i ⊙ g, :attr:`delta_m` = i' ⊙ g'.
    """

    i: Tensor
    f: Tensor
    g: Tensor
    c: Tensor
    i_prime: Tensor
    f_prime: Tensor
    g_prime: Tensor
    m: Tensor
    o: Tensor
    h: Tensor

    @property
    def delta_c(self) -> Tensor:
        r""":math:`\Delta C^l_t = i_t \odot g_t` (PredRNN-V2, lesson 7)."""
        return self.i * self.g

    @property
    def delta_m(self) -> Tensor:
        r""":math:`\Delta M^l_t = i'_t \odot g'_t` (PredRNN-V2, lesson 7)."""
        return self.i_prime * self.g_prime


def _conv_block(
    in_channels: int, out_channels: int, kernel_size: int, layer_norm: bool, frame_size: tuple[int, int] | None
) -> nn.Sequential:
    """Bias-free 'same' convolution, optionally followed by LayerNorm over (C, H, W).

    ``nn.Sequential`` so the state-dict keys read ``conv_x.0.weight`` (and ``conv_x.1.*`` with
    layer norm), as in the official PredRNN and OpenSTL code.
    """
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
    if not layer_norm:
        return nn.Sequential(conv)
    assert frame_size is not None
    return nn.Sequential(conv, nn.LayerNorm([out_channels, *frame_size]))


class _Cell(nn.Module):
    """Shared argument checks of the two cells."""

    in_channels: int
    hidden_channels: int
    frame_size: tuple[int, int] | None

    def init_state(self, x: Tensor) -> Tensor:
        """A zero state (B, C_hidden, H, W) on ``x``'s device and dtype (the models start from zeros)."""
        check_frame_tensor(type(self).__name__ + ".init_state", "x", x)
        b, _, h, w = x.shape
        return x.new_zeros(b, self.hidden_channels, h, w)

    def _check_input(self, where: str, x: Tensor) -> None:
        check_frame_tensor(where, "x", x)
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"{where}: input 'x' must have {self.in_channels} channels (B, {self.in_channels}, H, W), "
                f"got shape {tuple(x.shape)}"
            )
        if self.frame_size is not None and tuple(x.shape[2:]) != self.frame_size:
            raise ValueError(
                f"{where}: input 'x' must have frame size (H, W) = {self.frame_size} as the cell was built for "
                f"(peephole / layer-norm weights are per pixel), got {tuple(x.shape[2:])}"
            )
        # under torch.autocast the activations are bf16/fp16 while the weights stay float32: allowed
        if self.conv_x[0].weight.dtype != x.dtype and not torch.is_autocast_enabled(x.device.type):  # type: ignore[index]
            raise TypeError(
                f"{where}: input 'x' has dtype {x.dtype} but the cell's weights are "
                f"{self.conv_x[0].weight.dtype}; convert with cell.to({x.dtype})"  # type: ignore[index]
            )

    def _check_state(self, where: str, x: Tensor, name: str, s: Tensor) -> None:
        ref_shape = (x.shape[0], self.hidden_channels, x.shape[2], x.shape[3])
        check_frame_tensor(where, name, s)
        if tuple(s.shape) != ref_shape:
            raise ValueError(
                f"{where}: state '{name}' must have shape (B, C_hidden, H, W) = {ref_shape}, got {tuple(s.shape)}"
            )
        dtype_differs = s.dtype != x.dtype and not torch.is_autocast_enabled(x.device.type)
        if dtype_differs or s.device != x.device:
            raise TypeError(f"{where}: state '{name}' is {s.dtype} on {s.device} but 'x' is {x.dtype} on {x.device}")


class ConvLSTMCell(_Cell):
    r"""The seed's ConvLSTM cell (Shi et al., 2015), peepholes by Hadamard product.

    .. math::
        i_t &= \sigma(W_{xi} * X_t + W_{hi} * H_{t-1} + W_{ci} \odot C_{t-1} + b_i) \\
        f_t &= \sigma(W_{xf} * X_t + W_{hf} * H_{t-1} + W_{cf} \odot C_{t-1} + b_f) \\
        C_t &= f_t \odot C_{t-1} + i_t \odot \tanh(W_{xc} * X_t + W_{hc} * H_{t-1} + b_c) \\
        o_t &= \sigma(W_{xo} * X_t + W_{ho} * H_{t-1} + W_{co} \odot C_t + b_o) \\
        H_t &= o_t \odot \tanh(C_t)

    Parameters: ``conv_x.0.weight`` (4C, C_in, k, k) and ``conv_h.0.weight`` (4C, C, k, k) hold
    the four gates' kernels stacked in the order i, f, c̃, o (OpenSTL's order); ``bias`` (4C,)
    holds :math:`b_i, b_f, b_c, b_o`; ``w_ci``, ``w_cf``, ``w_co`` (C, H, W) are the peepholes,
    one weight per channel and pixel, initialised to zero (so training decides what they add).

    Args:
        in_channels: channels of :math:`X_t`.
        hidden_channels: channels C of :math:`H_t` and :math:`C_t`.
        kernel_size: odd kernel size k of both convolutions (padding k//2 keeps H×W).
        frame_size: (H, W); required with peepholes or layer norm (their weights are per pixel).
        peephole: include the :math:`W_{c\cdot} \odot C` terms (the seed's equations).
            ``False`` gives the common peephole-free ConvLSTM (OpenSTL's "ConvLSTM-S").
        bias: learn :math:`b_i, b_f, b_c, b_o`; ``False`` is OpenSTL's bias-free variant.
        forget_bias: a constant added inside the forget gate (0.0 in the seed; 1.0 is a common choice).
        layer_norm: LayerNorm after each convolution, as OpenSTL's option.

    Taught in lesson 2 (from LSTM to ConvLSTM) and lesson 3 (gate by gate).
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        kernel_size: int = 3,
        frame_size: int | tuple[int, int] | None = None,
        peephole: bool = True,
        bias: bool = True,
        forget_bias: float = 0.0,
        layer_norm: bool = False,
    ) -> None:
        super().__init__()
        where = "ConvLSTMCell"
        self.in_channels = check_positive_int(where, "in_channels", in_channels)
        self.hidden_channels = check_positive_int(where, "hidden_channels", hidden_channels)
        self.kernel_size = check_kernel_size(where, kernel_size)
        if frame_size is None and (peephole or layer_norm):
            raise ValueError(
                f"{where}: 'frame_size' (H, W) is required with peephole=True or layer_norm=True "
                "(their weights are per pixel); pass frame_size=(H, W) or peephole=False"
            )
        self.frame_size = None if frame_size is None else check_frame_size(where, frame_size)
        self.peephole = bool(peephole)
        self.forget_bias = float(forget_bias)
        self.layer_norm = bool(layer_norm)
        c = self.hidden_channels
        self.conv_x = _conv_block(in_channels, 4 * c, kernel_size, layer_norm, self.frame_size)
        self.conv_h = _conv_block(c, 4 * c, kernel_size, layer_norm, self.frame_size)
        self.bias = nn.Parameter(torch.zeros(4 * c)) if bias else None
        if self.peephole:
            assert self.frame_size is not None
            self.w_ci = nn.Parameter(torch.zeros(c, *self.frame_size))
            self.w_cf = nn.Parameter(torch.zeros(c, *self.frame_size))
            self.w_co = nn.Parameter(torch.zeros(c, *self.frame_size))
        else:
            self.register_parameter("w_ci", None)
            self.register_parameter("w_cf", None)
            self.register_parameter("w_co", None)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, hidden_channels={self.hidden_channels}, kernel_size={self.kernel_size}, "
            f"frame_size={self.frame_size}, peephole={self.peephole}, bias={self.bias is not None}, "
            f"forget_bias={self.forget_bias}, layer_norm={self.layer_norm}"
        )

    def _states(self, where: str, x: Tensor, state: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor]:
        self._check_input(where, x)
        if state is None:
            zero = self.init_state(x)
            return zero, zero
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise TypeError(f"{where}: 'state' must be a pair (H_prev, C_prev) or None, got {type(state).__name__}")
        h, c = state
        self._check_state(where, x, "H_prev", h)
        self._check_state(where, x, "C_prev", c)
        return h, c

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """Fast path: ``(H_t, C_t)`` from ``x`` (B, C_in, H, W) and ``state = (H_{t-1}, C_{t-1})`` (zeros if None)."""
        h_prev, c_prev = self._states("ConvLSTMCell", x, state)
        if self.layer_norm:
            z = self.conv_x(x) + self.conv_h(h_prev)
            if self.bias is not None:
                z = z + self.bias.view(1, -1, 1, 1)
        else:
            # W_x * X + W_h * H + b = [W_x, W_h] * [X, H] + b: one convolution for all gates and both inputs
            w = torch.cat([self.conv_x[0].weight, self.conv_h[0].weight], dim=1)  # type: ignore[index]
            z = F.conv2d(torch.cat([x, h_prev], dim=1), w, self.bias, padding=self.kernel_size // 2)
        z_i, z_f, z_c, z_o = z.chunk(4, dim=1)
        if self.peephole:
            z_i = z_i + self.w_ci * c_prev
            z_f = z_f + self.w_cf * c_prev
        if self.forget_bias:
            z_f = z_f + self.forget_bias
        c = torch.sigmoid(z_f) * c_prev + torch.sigmoid(z_i) * torch.tanh(z_c)
        if self.peephole:
            z_o = z_o + self.w_co * c
        h = torch.sigmoid(z_o) * torch.tanh(c)
        return h, c

    def _input_terms(self, x: Tensor, h_prev: Tensor) -> tuple[Tensor, Tensor]:
        """The trace path's :math:`W_x * X_t` and :math:`W_h * H_{t-1}` (all four gates each), kept apart.

        Two convolutions; or, when X and H have the same number of channels (every layer above the
        first), one *grouped* convolution over :math:`[X_t, H_{t-1}]` with kernels :math:`[W_x; W_h]`:
        with ``groups=2`` the first 4C output channels see only X and the last 4C only H. Same
        arithmetic, one call instead of two (on a GPU each call costs launches, not only FLOPs).
        """
        if self.layer_norm or x.shape[1] != h_prev.shape[1]:
            return self.conv_x(x), self.conv_h(h_prev)
        w = torch.cat([self.conv_x[0].weight, self.conv_h[0].weight], dim=0)  # type: ignore[index]
        both = F.conv2d(torch.cat([x, h_prev], dim=1), w, padding=self.kernel_size // 2, groups=2)
        x_terms, h_terms = both.chunk(2, dim=1)
        return x_terms, h_terms

    def trace(
        self, x: Tensor, state: tuple[Tensor, Tensor] | None = None, edit: GateEdit | None = None
    ) -> tuple[tuple[Tensor, Tensor], ConvLSTMTrace]:
        """Trace path: the same step through :mod:`stlearn.gates`, returning ``((H_t, C_t), record)``.

        ``edit`` (a :class:`GateEdit`, lesson 4's gate surgery) may change each gate and state; None changes nothing.
        """
        e = _NO_EDIT if edit is None else edit
        h_prev, c_prev = self._states("ConvLSTMCell.trace", x, state)
        x_terms, h_terms = self._input_terms(x, h_prev)
        x_i, x_f, x_c, x_o = x_terms.chunk(4, dim=1)
        h_i, h_f, h_c, h_o = h_terms.chunk(4, dim=1)
        b_i = b_f = b_c = b_o = None
        if self.bias is not None:
            b_i, b_f, b_c, b_o = self.bias.chunk(4)
        i = e.post("i", gates.input_gate(e.pre("i", x_i), h_i, c_prev, self.w_ci, b_i))
        f = e.post("f", gates.forget_gate(e.pre("f", x_f), h_f, c_prev, self.w_cf, b_f, forget_bias=self.forget_bias))
        c_tilde = e.post("c_tilde", gates.cell_candidate(e.pre("c_tilde", x_c), h_c, b_c))
        c = e.post("c", gates.cell_update(f, c_prev, i, c_tilde))
        o = e.post("o", gates.output_gate(e.pre("o", x_o), h_o, c, self.w_co, b_o))
        h = e.post("h", gates.hidden_state(o, c))
        return (h, c), ConvLSTMTrace(i=i, f=f, c_tilde=c_tilde, c=c, o=o, h=h)


class STLSTMCell(_Cell):
    r"""The spatiotemporal LSTM of PredRNN, exactly as the official code computes it.

    .. math::
        i_t &= \sigma(W_{xi} * X_t + W_{hi} * H^l_{t-1}) &
        i'_t &= \sigma(W'_{xi} * X_t + W_{mi} * M^{l-1}_t) \\
        f_t &= \sigma(W_{xf} * X_t + W_{hf} * H^l_{t-1} + 1) &
        f'_t &= \sigma(W'_{xf} * X_t + W_{mf} * M^{l-1}_t + 1) \\
        g_t &= \tanh(W_{xg} * X_t + W_{hg} * H^l_{t-1}) &
        g'_t &= \tanh(W'_{xg} * X_t + W_{mg} * M^{l-1}_t) \\
        C^l_t &= f_t \odot C^l_{t-1} + i_t \odot g_t &
        M^l_t &= f'_t \odot M^{l-1}_t + i'_t \odot g'_t \\
        o_t &= \sigma(W_{xo} * X_t + W_{ho} * H^l_{t-1} + W_{co} * [C^l_t, M^l_t]) \\
        H^l_t &= o_t \odot \tanh(W_{1\times1} * [C^l_t, M^l_t])

    All convolutions are bias-free. Parameters, with the official keys:
    ``conv_x.0.weight`` (7C, C_in, k, k) in the order i, f, g, i', f', g', o;
    ``conv_h.0.weight`` (4C, C, k, k): i, f, g, o; ``conv_m.0.weight`` (3C, C, k, k): i', f', g';
    ``conv_o.0.weight`` (C, 2C, k, k); ``conv_last.weight`` (C, 2C, 1, 1); with layer norm also
    ``conv_*.1.weight/bias``. The C-gates never see M; the M-gates never see H.

    Args:
        in_channels: channels of :math:`X_t` (the patched frame for layer 0, :math:`H^{l-1}_t` above).
        hidden_channels: C, shared by H, C and M.
        kernel_size: odd k (padding k//2).
        frame_size: (H, W); required with ``layer_norm``.
        layer_norm: LayerNorm([·, H, W]) after each convolution (off in the Moving MNIST recipe).
        forget_bias: the constant in both forget gates (+1.0 in the official code).

    Taught in lesson 5 (PredRNN's ST-LSTM); stacked with the zigzag memory in lesson 6.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        kernel_size: int = 3,
        frame_size: int | tuple[int, int] | None = None,
        layer_norm: bool = False,
        forget_bias: float = gates.ST_FORGET_BIAS,
    ) -> None:
        super().__init__()
        where = "STLSTMCell"
        self.in_channels = check_positive_int(where, "in_channels", in_channels)
        self.hidden_channels = check_positive_int(where, "hidden_channels", hidden_channels)
        self.kernel_size = check_kernel_size(where, kernel_size)
        if frame_size is None and layer_norm:
            raise ValueError(f"{where}: 'frame_size' (H, W) is required with layer_norm=True")
        self.frame_size = None if frame_size is None else check_frame_size(where, frame_size)
        self.layer_norm = bool(layer_norm)
        self.forget_bias = float(forget_bias)
        c, k = self.hidden_channels, self.kernel_size
        self.conv_x = _conv_block(in_channels, 7 * c, k, layer_norm, self.frame_size)
        self.conv_h = _conv_block(c, 4 * c, k, layer_norm, self.frame_size)
        self.conv_m = _conv_block(c, 3 * c, k, layer_norm, self.frame_size)
        self.conv_o = _conv_block(2 * c, c, k, layer_norm, self.frame_size)
        self.conv_last = nn.Conv2d(2 * c, c, kernel_size=1, bias=False)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, hidden_channels={self.hidden_channels}, kernel_size={self.kernel_size}, "
            f"frame_size={self.frame_size}, layer_norm={self.layer_norm}, forget_bias={self.forget_bias}"
        )

    def _states(
        self, where: str, x: Tensor, h: Tensor | None, c: Tensor | None, m: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        self._check_input(where, x)
        out = []
        for name, s in (("H_prev", h), ("C_prev", c), ("M_in", m)):
            if s is None:
                s = self.init_state(x)
            else:
                self._check_state(where, x, name, s)
            out.append(s)
        return out[0], out[1], out[2]

    def forward(
        self,
        x: Tensor,
        h: Tensor | None = None,
        c: Tensor | None = None,
        m: Tensor | None = None,
        return_deltas: bool = False,
    ) -> tuple[Tensor, ...]:
        r"""Fast path: ``(H^l_t, C^l_t, M^l_t)`` from ``x``, ``H^l_{t-1}``, ``C^l_{t-1}``, ``M^{l-1}_t``.

        Missing states start at zero. ``return_deltas=True`` appends PredRNN-V2's
        :math:`\Delta C = i \odot g` and :math:`\Delta M = i' \odot g'`.
        """
        h_prev, c_prev, m_in = self._states("STLSTMCell", x, h, c, m)
        if self.layer_norm:
            x_i, x_f, x_g, x_ip, x_fp, x_gp, x_o = self.conv_x(x).chunk(7, dim=1)
            h_i, h_f, h_g, h_o = self.conv_h(h_prev).chunk(4, dim=1)
            m_i, m_f, m_g = self.conv_m(m_in).chunk(3, dim=1)
            z_i, z_f, z_g, z_o = x_i + h_i, x_f + h_f, x_g + h_g, x_o + h_o
            z_ip, z_fp, z_gp = x_ip + m_i, x_fp + m_f, x_gp + m_g
        else:
            # two convolutions instead of three: [W_x, W_h] * [X, H] for i, f, g, o and
            # [W'_x, W_m] * [X, M] for i', f', g' (the C-gates never see M, the M-gates never see H)
            c_hid, pad = self.hidden_channels, self.kernel_size // 2
            wx = self.conv_x[0].weight  # type: ignore[index]
            w_h = torch.cat([torch.cat([wx[: 3 * c_hid], wx[6 * c_hid :]]), self.conv_h[0].weight], dim=1)  # type: ignore[index]
            w_m = torch.cat([wx[3 * c_hid : 6 * c_hid], self.conv_m[0].weight], dim=1)  # type: ignore[index]
            z_i, z_f, z_g, z_o = F.conv2d(torch.cat([x, h_prev], dim=1), w_h, padding=pad).chunk(4, dim=1)
            z_ip, z_fp, z_gp = F.conv2d(torch.cat([x, m_in], dim=1), w_m, padding=pad).chunk(3, dim=1)
        delta_c = torch.sigmoid(z_i) * torch.tanh(z_g)
        c_new = torch.sigmoid(z_f + self.forget_bias) * c_prev + delta_c
        delta_m = torch.sigmoid(z_ip) * torch.tanh(z_gp)
        m_new = torch.sigmoid(z_fp + self.forget_bias) * m_in + delta_m
        mem = torch.cat([c_new, m_new], dim=1)
        o = torch.sigmoid(z_o + self.conv_o(mem))
        h_new = o * torch.tanh(self.conv_last(mem))
        if return_deltas:
            return h_new, c_new, m_new, delta_c, delta_m
        return h_new, c_new, m_new

    def trace(
        self,
        x: Tensor,
        h: Tensor | None = None,
        c: Tensor | None = None,
        m: Tensor | None = None,
        edit: GateEdit | None = None,
    ) -> tuple[tuple[Tensor, Tensor, Tensor], STLSTMTrace]:
        """Trace path through :mod:`stlearn.gates`: ``((H^l_t, C^l_t, M^l_t), record)``.

        ``edit`` (a :class:`GateEdit`, lesson 4's gate surgery) may change each gate and memory; None changes nothing.
        """
        e = _NO_EDIT if edit is None else edit
        h_prev, c_prev, m_in = self._states("STLSTMCell.trace", x, h, c, m)
        x_i, x_f, x_g, x_ip, x_fp, x_gp, x_o = self.conv_x(x).chunk(7, dim=1)
        h_i, h_f, h_g, h_o = self.conv_h(h_prev).chunk(4, dim=1)
        m_i, m_f, m_g = self.conv_m(m_in).chunk(3, dim=1)
        # temporal memory: the ConvLSTM gates without peepholes, forget bias +1
        i = e.post("i", gates.input_gate(e.pre("i", x_i), h_i))
        f = e.post("f", gates.forget_gate(e.pre("f", x_f), h_f, forget_bias=self.forget_bias))
        g = e.post("g", gates.cell_candidate(e.pre("g", x_g), h_g))
        c_new = e.post("c", gates.cell_update(f, c_prev, i, g))
        # spatiotemporal memory: the primed gates read M from the layer below
        i_p = e.post("i_prime", gates.spatial_input_gate(e.pre("i_prime", x_ip), m_i))
        f_p = e.post("f_prime", gates.spatial_forget_gate(e.pre("f_prime", x_fp), m_f, forget_bias=self.forget_bias))
        g_p = e.post("g_prime", gates.spatial_candidate(e.pre("g_prime", x_gp), m_g))
        m_new = e.post("m", gates.spatial_memory_update(f_p, m_in, i_p, g_p))
        # output fusion over [C, M]
        w_co = self.conv_o if self.layer_norm else self.conv_o[0].weight
        o = e.post("o", gates.st_output_gate(e.pre("o", x_o), h_o, c_new, m_new, w_co))
        h_new = e.post("h", gates.st_hidden_state(o, c_new, m_new, self.conv_last.weight))
        record = STLSTMTrace(i=i, f=f, g=g, c=c_new, i_prime=i_p, f_prime=f_p, g_prime=g_p, m=m_new, o=o, h=h_new)
        return (h_new, c_new, m_new), record
