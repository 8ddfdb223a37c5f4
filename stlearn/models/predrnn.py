r"""PredRNN: stacked ST-LSTM cells with the zigzag spatiotemporal memory, as the official code.

.. math::
    H^0_t, C^0_t, M^0_t &= \mathrm{STLSTM}(X_t;\ H^0_{t-1}, C^0_{t-1}, M^{L-1}_{t-1}) \\
    H^l_t, C^l_t, M^l_t &= \mathrm{STLSTM}(H^{l-1}_t;\ H^l_{t-1}, C^l_{t-1}, M^{l-1}_t) \qquad l = 1 … L-1 \\
    \hat x_{t+1} &= W_{1\times1} * H^{L-1}_t

The temporal memories :math:`C^l` move forward in time inside each layer, as in ConvLSTM. The
spatiotemporal memory :math:`M` is **one** tensor, zero at t = 0, that zigzags: up the stack
within a step, then from the top layer back to the bottom layer at the next step. Hence all
layers must have the same number of hidden channels.

``zigzag=False`` is the ablation of lesson 6: each layer keeps its own :math:`M^l`, carried only
forward in time (:math:`M^l_{t-1} \to M^l_t`), never up the stack nor back to the bottom.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..cells import STLSTMCell
from .base import RolloutModel, _Tracer, hidden_list

Tensor = torch.Tensor

__all__ = ["PredRNN"]

_State = tuple[list[Tensor], list[Tensor], list[Tensor]]


class PredRNN(RolloutModel):
    """PredRNN (Wang et al., NeurIPS 2017 / TPAMI 2022) with the official parameter names.

    State-dict keys are those of thuml/predrnn-pytorch (``cell_list.{i}.conv_x.0.weight`` …,
    ``conv_last.weight``), so :func:`stlearn.interop.load_predrnn` loads official checkpoints.

    Args:
        in_channels: channels C of a frame.
        frame_size: (H, W) of a frame (required to match with layer norm).
        patch_size: p; layer 0 reads the patched frame with p·p·C channels on a (H/p, W/p) grid.
        hidden_channels: hidden channels per layer (all equal with the zigzag); length = layers.
        kernel_size: odd kernel size of the cells' convolutions.
        layer_norm: LayerNorm after each convolution (off in the Moving MNIST recipe).
        zigzag: the zigzag memory flow; ``False`` keeps M inside each layer (lesson 6's ablation).

    Taught in lesson 5 (its ST-LSTM cell) and lesson 6 (the zigzag memory flow); compared in 8-9.
    """

    name = "predrnn"

    def __init__(
        self,
        in_channels: int = 1,
        frame_size: int | Sequence[int] = (64, 64),
        patch_size: int = 4,
        hidden_channels: Sequence[int] = (32, 32),
        kernel_size: int = 3,
        layer_norm: bool = False,
        zigzag: bool = True,
    ) -> None:
        super().__init__(in_channels, frame_size, patch_size, fixed_frame_size=layer_norm)
        where = type(self).__name__
        hidden = hidden_list(where, hidden_channels)
        if zigzag and len(set(hidden)) != 1:
            raise ValueError(
                f"{where}: the zigzag memory M passes through every layer, so all 'hidden_channels' must be "
                f"equal, got {hidden}; use equal sizes (or zigzag=False)"
            )
        self.num_layers = len(hidden)
        self.zigzag = bool(zigzag)
        cell_size = self.grid_size if layer_norm else None
        self.cell_list = nn.ModuleList(
            STLSTMCell(
                self.patch_channels if layer == 0 else hidden[layer - 1],
                hidden[layer],
                kernel_size,
                frame_size=cell_size,
                layer_norm=layer_norm,
            )
            for layer in range(self.num_layers)
        )
        self.conv_last = nn.Conv2d(hidden[-1], self.patch_channels, kernel_size=1, bias=False)
        self.config = {
            "in_channels": self.in_channels,
            "frame_size": list(self.frame_size),
            "patch_size": self.patch_size,
            "hidden_channels": hidden,
            "kernel_size": kernel_size,
            "layer_norm": bool(layer_norm),
            "zigzag": self.zigzag,
        }

    def _init_state(self, x0: Tensor) -> _State:
        zeros = [cell.init_state(x0) for cell in self.cell_list]
        # H, C and M all start at zero; m[l] is the memory layer l wrote last
        return list(zeros), list(zeros), list(zeros)

    def _memory_in(self, m: list[Tensor], layer: int) -> Tensor:
        """The memory that layer ``layer`` reads at this step."""
        if not self.zigzag:
            # ablation: M^l_{t−1} → M^l_t, the memory stays in its layer
            return m[layer]
        if layer == 0:
            # zigzag, bottom layer: the top layer's memory of the previous step, M^{L−1}_{t−1}
            return m[-1]
        # zigzag, up the stack: the memory the layer below wrote at this step, M^{l−1}_t
        return m[layer - 1]

    def _layer(self, t: int, layer: int, tracer: _Tracer, aux: dict | None, *args: Tensor) -> tuple[Tensor, ...]:
        """One cell call, fast or traced; PredRNN-V2 overrides it to collect ΔC and ΔM."""
        return tracer.call(t, layer, self.cell_list[layer], *args)

    def _step(self, x: Tensor, state: _State, t: int, tracer: _Tracer, aux: dict | None) -> tuple[Tensor, _State]:
        h, c, m = state
        inp = x
        for layer in range(self.num_layers):
            m_in = self._memory_in(m, layer)
            # H^l_t, C^l_t, M^l_t = ST-LSTM(H^{l−1}_t; H^l_{t−1}, C^l_{t−1}, M_in)   with H^{−1}_t = X_t
            h[layer], c[layer], m[layer] = self._layer(t, layer, tracer, aux, inp, h[layer], c[layer], m_in)
            inp = h[layer]
        return h[-1], (h, c, m)
