r"""A stack of ConvLSTM cells with the PredRNN family's output head.

.. math::
    H^0_t, C^0_t &= \mathrm{ConvLSTM}(X_t;\ H^0_{t-1}, C^0_{t-1}) \\
    H^l_t, C^l_t &= \mathrm{ConvLSTM}(H^{l-1}_t;\ H^l_{t-1}, C^l_{t-1}) \qquad l = 1 … L-1 \\
    \hat x_{t+1} &= W_{1\times1} * H^{L-1}_t

Each layer keeps its own memory :math:`C^l`, which flows only forward in time — the contrast with
PredRNN's zigzag memory (lesson 6). The cells are :class:`stlearn.cells.ConvLSTMCell`, with the
seed's per-pixel peepholes by default; ``peephole=False, bias=False`` gives OpenSTL's
"ConvLSTM-S" (whose checkpoints :func:`stlearn.interop.load_openstl_convlstm` loads).
The head is the PredRNN family's (1×1 convolution, no bias, no output activation), so the
models of lesson 10 differ only in their recurrent core.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..cells import ConvLSTMCell
from .base import RolloutModel, _Tracer, hidden_list

Tensor = torch.Tensor

__all__ = ["ConvLSTM"]


class ConvLSTM(RolloutModel):
    """ConvLSTM forecaster (Shi et al., 2015): stacked :class:`~stlearn.cells.ConvLSTMCell` on patched frames.

    Args:
        in_channels: channels C of a frame.
        frame_size: (H, W) of a frame (required to match with peepholes or layer norm, whose
            weights are per pixel).
        patch_size: p of :func:`~stlearn.models.patching.patch_frames`; the cells see (H/p, W/p).
        hidden_channels: hidden channels per layer; the list length is the number of layers.
        kernel_size: odd kernel size of every convolution.
        peephole: the seed's :math:`W_{c\\cdot} \\odot C` terms (the ablation switch of lesson 3).
        bias: gate biases :math:`b_i, b_f, b_c, b_o`.
        forget_bias: constant added inside the forget gate (0.0 in the seed and in OpenSTL).
        layer_norm: LayerNorm after each convolution (OpenSTL's option).

    Taught in lesson 2 (from LSTM to ConvLSTM), lesson 3 (gates, peephole ablation) and lesson 4
    (training it); compared with the others in lessons 9-10.
    """

    name = "convlstm"

    def __init__(
        self,
        in_channels: int = 1,
        frame_size: int | Sequence[int] = (64, 64),
        patch_size: int = 4,
        hidden_channels: Sequence[int] = (32, 32),
        kernel_size: int = 3,
        peephole: bool = True,
        bias: bool = True,
        forget_bias: float = 0.0,
        layer_norm: bool = False,
    ) -> None:
        super().__init__(in_channels, frame_size, patch_size, fixed_frame_size=peephole or layer_norm)
        hidden = hidden_list(type(self).__name__, hidden_channels)
        self.num_layers = len(hidden)
        cell_size = self.grid_size if (peephole or layer_norm) else None
        self.cell_list = nn.ModuleList(
            ConvLSTMCell(
                self.patch_channels if layer == 0 else hidden[layer - 1],
                hidden[layer],
                kernel_size,
                frame_size=cell_size,
                peephole=peephole,
                bias=bias,
                forget_bias=forget_bias,
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
            "peephole": bool(peephole),
            "bias": bool(bias),
            "forget_bias": float(forget_bias),
            "layer_norm": bool(layer_norm),
        }

    def _init_state(self, x0: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        h = [cell.init_state(x0) for cell in self.cell_list]
        return h, list(h)

    def _step(
        self, x: Tensor, state: tuple[list[Tensor], list[Tensor]], t: int, tracer: _Tracer, aux: dict | None
    ) -> tuple[Tensor, tuple[list[Tensor], list[Tensor]]]:
        h, c = state
        inp = x
        for layer, cell in enumerate(self.cell_list):
            # H^l_t, C^l_t = ConvLSTM(H^{l−1}_t; H^l_{t−1}, C^l_{t−1})   with H^{−1}_t = X_t
            h[layer], c[layer] = tracer.call(t, layer, cell, inp, (h[layer], c[layer]))
            inp = h[layer]
        return h[-1], (h, c)
