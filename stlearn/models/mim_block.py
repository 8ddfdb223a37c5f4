r"""The MIM block (Wang et al., CVPR 2019): an ST-LSTM whose forget gate became two memory modules.

An ST-LSTM forgets its temporal memory with one gate, :math:`f_t \odot C_{t-1}`. MIM replaces that
product with a cascade of two small peephole ConvLSTMs that model the *non-stationary* part of
the dynamics separately:

* **MIM-N** reads the change of the hidden state of the layer below,
  :math:`H^{l-1}_t - H^{l-1}_{t-1}` (or the MIM-N output of the layer below), and outputs
  :math:`D^l_t` with its own memory :math:`N^l_t`;
* **MIM-S** reads :math:`D^l_t` and :math:`C^l_{t-1}` (in the place of a hidden state) and outputs
  :math:`T^l_t`, with its own memory :math:`S^l_t`; :math:`T^l_t` replaces :math:`f_t \odot C_{t-1}`.

.. math::
    (i_x, g_x, f_x, o_x) &= W_x * X_t \qquad (i_t, g_t, o_t) = W_h * H_{t-1} \qquad (i_s, g_s, f_s, o_s) = W_m * M \\
    i &= \sigma(i_x + i_t) \quad g = \tanh(g_x + g_t) \quad
    i' = \sigma(i_x + i_s) \quad g' = \tanh(g_x + g_s) \quad f' = \sigma(f_x + f_s + 1) \\
    o &= \sigma(o_x + o_t + o_s) \qquad M_{\mathrm{new}} = f' \odot M + i' \odot g' \\
    (D_t, N_t) &= \text{MIM-N}(\mathrm{diff};\ D_{t-1}, N_{t-1}) \qquad
    (T_t, S_t) = \text{MIM-S}(D_t;\ C_{t-1}, S_{t-1}) \\
    C_t &= T_t + i \odot g \qquad H_t = o \odot \tanh(W_{1\times1} * [C_t, M_{\mathrm{new}}])

MIM-N and MIM-S are :class:`stlearn.cells.ConvLSTMCell` with per-pixel peepholes, bias-free
convolutions and a forget bias of +1 (as the OpenSTL port); their peepholes start at zero (the
official TF code leaves them to TF's default initializer, Glorot uniform — see :mod:`stlearn.models.mim`
for this and the other deviations). All their states belong to the
rollout: nothing is stored on the module (a popular port keeps MIM-S's memory on the module and
crashes on the next batch size).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .. import gates
from .._checks import check_frame_size, check_kernel_size, check_positive_int
from ..cells import ConvLSTMCell, _Cell, _conv_block, _Record

Tensor = torch.Tensor

__all__ = ["MIMBlock", "MIMBlockTrace"]

_States = tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]


@dataclass(frozen=True)
class MIMBlockTrace(_Record):
    r"""Every intermediate of one MIM block step, each (B, C, H, W).

    Block: ``i``, ``g`` (temporal input and candidate), ``i_prime``, ``f_prime``, ``g_prime``
    (spatial gates), ``o``, ``m`` (:math:`M` after this layer), ``c`` (:math:`C_t`), ``h``.
    MIM-N: ``n_i``, ``n_f``, ``n_g``, ``n_o``, ``n`` (its memory :math:`N_t`), ``d`` (its output :math:`D_t`).
    MIM-S: ``s_i``, ``s_f``, ``s_g``, ``s_o``, ``s`` (its memory :math:`S_t`), ``t`` (its output :math:`T_t`).
    ``diff``: MIM-N's input as the block received it — :math:`H^{l-1}_t - H^{l-1}_{t-1}` in layer 1,
    :math:`D^{l-1}_t` above (a record only: the computation never reads it back).

    Read by lesson 8's figures and MIMMemoryExplorer (where MIM's non-stationary memory acts).
    """

    i: Tensor
    g: Tensor
    i_prime: Tensor
    f_prime: Tensor
    g_prime: Tensor
    o: Tensor
    m: Tensor
    c: Tensor
    h: Tensor
    n_i: Tensor
    n_f: Tensor
    n_g: Tensor
    n_o: Tensor
    n: Tensor
    d: Tensor
    s_i: Tensor
    s_f: Tensor
    s_g: Tensor
    s_o: Tensor
    s: Tensor
    t: Tensor
    diff: Tensor


class MIMBlock(_Cell):
    r"""One MIM block (layers ≥ 1 of MIM), with its MIM-N and MIM-S modules.

    Parameters: ``conv_x.0.weight`` (4C, C_in, k, k) in the order i, g, f, o;
    ``conv_h.0.weight`` (3C, C, k, k): i, g, o; ``conv_m.0.weight`` (4C, C, k, k): i, g, f, o;
    ``conv_last.weight`` (C, 2C, 1, 1); ``mim_n.*`` and ``mim_s.*`` (peephole ConvLSTM cells).

    Args:
        in_channels: channels of :math:`X_t = H^{l-1}_t`, also the channels of MIM-N's input.
        hidden_channels: C of H, C, M, D, N, S, T.
        frame_size: (H, W) of the grid (the MIM modules' peepholes are per pixel).
        kernel_size: odd k.

    Taught in lesson 8 (MIM's non-stationary and stationary memories); compared in lessons 9 and 10.
    """

    def __init__(self, in_channels: int, hidden_channels: int, frame_size: int | tuple[int, int], kernel_size: int = 3):
        super().__init__()
        where = "MIMBlock"
        self.in_channels = check_positive_int(where, "in_channels", in_channels)
        self.hidden_channels = c = check_positive_int(where, "hidden_channels", hidden_channels)
        self.kernel_size = k = check_kernel_size(where, kernel_size)
        self.frame_size = check_frame_size(where, frame_size)
        self.conv_x = _conv_block(in_channels, 4 * c, k, False, None)
        self.conv_h = _conv_block(c, 3 * c, k, False, None)
        self.conv_m = _conv_block(c, 4 * c, k, False, None)
        self.conv_last = nn.Conv2d(2 * c, c, kernel_size=1, bias=False)
        lstm = {"frame_size": self.frame_size, "peephole": True, "bias": False, "forget_bias": gates.ST_FORGET_BIAS}
        self.mim_n = ConvLSTMCell(in_channels, c, k, **lstm)
        self.mim_s = ConvLSTMCell(c, c, k, **lstm)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, hidden_channels={self.hidden_channels}, "
            f"kernel_size={self.kernel_size}, frame_size={self.frame_size}"
        )

    def _states(self, where: str, x: Tensor, diff: Tensor, states: tuple[Tensor | None, ...]) -> _States:
        self._check_input(where, x)
        self.mim_n._check_input(where, diff)
        out = []
        for name, s in zip(("H_prev", "C_prev", "M_in", "D_prev", "N_prev", "S_prev"), states, strict=True):
            if s is None:
                s = self.init_state(x)
            else:
                self._check_state(where, x, name, s)
            out.append(s)
        return tuple(out)  # type: ignore[return-value]

    def forward(
        self,
        x: Tensor,
        diff: Tensor,
        h: Tensor | None = None,
        c: Tensor | None = None,
        m: Tensor | None = None,
        d: Tensor | None = None,
        n: Tensor | None = None,
        s: Tensor | None = None,
    ) -> _States:
        r"""Fast path: ``(H_t, C_t, M, D_t, N_t, S_t)``.

        Args:
            x: :math:`X_t = H^{l-1}_t`, (B, C_in, H, W).
            diff: MIM-N's input: :math:`H^{l-1}_t - H^{l-1}_{t-1}` for layer 1, else :math:`D^{l-1}_t`.
            h, c: :math:`H_{t-1}`, :math:`C_{t-1}`; ``m``: the zigzag memory arriving from below;
            d, n: MIM-N's :math:`D_{t-1}, N_{t-1}`; ``s``: MIM-S's :math:`S_{t-1}` (zeros if None).
        """
        h, c, m, d, n, s = self._states("MIMBlock", x, diff, (h, c, m, d, n, s))
        # (D_t, N_t) = MIM-N(diff; D_{t−1}, N_{t−1})
        d, n = self.mim_n(diff, (d, n))
        x_i, x_g, x_f, x_o = self.conv_x(x).chunk(4, dim=1)
        h_i, h_g, h_o = self.conv_h(h).chunk(3, dim=1)
        m_i, m_g, m_f, m_o = self.conv_m(m).chunk(4, dim=1)
        # M_new = σ(f_x + f_s + 1) ⊙ M + σ(i_x + i_s) ⊙ tanh(g_x + g_s)
        m_new = torch.sigmoid(x_f + m_f + gates.ST_FORGET_BIAS) * m + torch.sigmoid(x_i + m_i) * torch.tanh(x_g + m_g)
        # (T_t, S_t) = MIM-S(D_t; C_{t−1}, S_{t−1})
        t_out, s = self.mim_s(d, (c, s))
        # C_t = T_t + σ(i_x + i_t) ⊙ tanh(g_x + g_t)
        c_new = t_out + torch.sigmoid(x_i + h_i) * torch.tanh(x_g + h_g)
        # H_t = σ(o_x + o_t + o_s) ⊙ tanh(W_1×1 * [C_t, M_new])
        h_new = torch.sigmoid(x_o + h_o + m_o) * torch.tanh(self.conv_last(torch.cat([c_new, m_new], dim=1)))
        return h_new, c_new, m_new, d, n, s

    def trace(
        self,
        x: Tensor,
        diff: Tensor,
        h: Tensor | None = None,
        c: Tensor | None = None,
        m: Tensor | None = None,
        d: Tensor | None = None,
        n: Tensor | None = None,
        s: Tensor | None = None,
    ) -> tuple[_States, MIMBlockTrace]:
        """Trace path through :mod:`stlearn.gates` and the modules' traces: ``(states, record)``."""
        h, c, m, d, n, s = self._states("MIMBlock.trace", x, diff, (h, c, m, d, n, s))
        # MIM-N: (D_t, N_t) = ConvLSTM(diff; D_{t−1}, N_{t−1})
        (d, n), rec_n = self.mim_n.trace(diff, (d, n))
        x_i, x_g, x_f, x_o = self.conv_x(x).chunk(4, dim=1)
        h_i, h_g, h_o = self.conv_h(h).chunk(3, dim=1)
        m_i, m_g, m_f, m_o = self.conv_m(m).chunk(4, dim=1)
        # temporal gates: i = σ(i_x + i_t), g = tanh(g_x + g_t)
        i = gates.input_gate(x_i, h_i)
        g = gates.cell_candidate(x_g, h_g)
        # spatial gates, sharing i_x, g_x with the temporal ones: i' = σ(i_x + i_s), g' = tanh(g_x + g_s),
        # f' = σ(f_x + f_s + 1)
        i_p = gates.spatial_input_gate(x_i, m_i)
        g_p = gates.spatial_candidate(x_g, m_g)
        f_p = gates.spatial_forget_gate(x_f, m_f)
        # M_new = f' ⊙ M + i' ⊙ g'
        m_new = gates.spatial_memory_update(f_p, m, i_p, g_p)
        # MIM-S: (T_t, S_t) = ConvLSTM(D_t; C_{t−1}, S_{t−1})
        (t_out, s), rec_s = self.mim_s.trace(d, (c, s))
        # C_t = T_t + i ⊙ g   (T_t stands where an LSTM has f ⊙ C_{t−1})
        c_new = t_out + i * g
        # o = σ(o_x + o_t + o_s)
        o = gates.output_gate(x_o, h_o + m_o)
        # H_t = o ⊙ tanh(W_1×1 * [C_t, M_new])
        h_new = gates.st_hidden_state(o, c_new, m_new, self.conv_last.weight)
        record = MIMBlockTrace(
            i=i, g=g, i_prime=i_p, f_prime=f_p, g_prime=g_p, o=o, m=m_new, c=c_new, h=h_new,
            n_i=rec_n.i, n_f=rec_n.f, n_g=rec_n.c_tilde, n_o=rec_n.o, n=n, d=d,
            s_i=rec_s.i, s_f=rec_s.f, s_g=rec_s.c_tilde, s_o=rec_s.o, s=s, t=t_out, diff=diff,
        )  # fmt: skip
        return (h_new, c_new, m_new, d, n, s), record
