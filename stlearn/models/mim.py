r"""MIM, Memory In Memory (Wang et al., CVPR 2019): an ST-LSTM bottom layer, MIM blocks above.

.. math::
    H^0_t, C^0_t, M &= \mathrm{STLSTM}(X_t;\ H^0_{t-1}, C^0_{t-1}, M) \\
    \mathrm{diff}^1_t &= H^0_t - H^0_{t-1} \quad (\text{zero at } t = 0) \\
    H^l_t, C^l_t, M, D^l_t, N^l_t, S^l_t &= \mathrm{MIM}(H^{l-1}_t, \mathrm{diff}^l_t;\
        H^l_{t-1}, C^l_{t-1}, M, D^l_{t-1}, N^l_{t-1}, S^l_{t-1}), \quad \mathrm{diff}^{l+1}_t = D^l_t \\
    \hat x_{t+1} &= W_{1\times1} * H^{L-1}_t

The spatiotemporal memory M zigzags through all layers as in PredRNN (so hidden sizes are
equal). Every state — H, C, M, and the MIM modules' D, N, S — starts at zero for each sequence
and lives only in the rollout.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..cells import STLSTMCell
from .base import RolloutModel, _Tracer, hidden_list
from .mim_block import MIMBlock

Tensor = torch.Tensor

__all__ = ["MIM"]


class MIM(RolloutModel):
    """MIM forecaster: layer 0 an ST-LSTM, layers 1 … L−1 :class:`~stlearn.models.mim_block.MIMBlock`.

    Trace records: layer 0 an :class:`~stlearn.cells.STLSTMTrace`, the others a
    :class:`~stlearn.models.mim_block.MIMBlockTrace` (with the MIM-N and MIM-S gates and states).

    Args:
        in_channels: channels C of a frame.
        frame_size: (H, W) of a frame (fixed: the MIM modules' peepholes are per pixel).
        patch_size: p of the frame patching.
        hidden_channels: hidden channels per layer, all equal, at least two layers.
        kernel_size: odd kernel size.

    Taught in lesson 10 (comparing the models of Table 8).
    """

    name = "mim"

    def __init__(
        self,
        in_channels: int = 1,
        frame_size: int | Sequence[int] = (64, 64),
        patch_size: int = 4,
        hidden_channels: Sequence[int] = (32, 32),
        kernel_size: int = 3,
    ) -> None:
        super().__init__(in_channels, frame_size, patch_size, fixed_frame_size=True)
        where = type(self).__name__
        hidden = hidden_list(where, hidden_channels)
        if len(hidden) < 2 or len(set(hidden)) != 1:
            raise ValueError(
                f"{where}: 'hidden_channels' must list at least two equal sizes (an ST-LSTM layer, then MIM "
                f"blocks, all passing the zigzag memory M), got {hidden}"
            )
        self.num_layers = len(hidden)
        c = hidden[0]
        self.cell_list = nn.ModuleList(
            [STLSTMCell(self.patch_channels, c, kernel_size)]
            + [MIMBlock(c, c, self.grid_size, kernel_size) for _ in range(1, self.num_layers)]
        )
        self.conv_last = nn.Conv2d(c, self.patch_channels, kernel_size=1, bias=False)
        self.config = {
            "in_channels": self.in_channels,
            "frame_size": list(self.frame_size),
            "patch_size": self.patch_size,
            "hidden_channels": hidden,
            "kernel_size": kernel_size,
        }

    def _init_state(self, x0: Tensor) -> dict[str, list[Tensor]]:
        zero = self.cell_list[0].init_state(x0)
        n = self.num_layers
        # per layer: H, C; the MIM modules' D, N, S (index 0 unused: layer 0 is an ST-LSTM); one zigzag M
        return {"h": [zero] * n, "c": [zero] * n, "d": [zero] * n, "n": [zero] * n, "s": [zero] * n, "m": [zero]}

    def _step(
        self, x: Tensor, state: dict[str, list[Tensor]], t: int, tracer: _Tracer, aux: dict | None
    ) -> tuple[Tensor, dict[str, list[Tensor]]]:
        h, c, d, n, s = state["h"], state["c"], state["d"], state["n"], state["s"]
        h_before = h[0]
        # bottom layer: H^0_t, C^0_t, M = ST-LSTM(X_t; H^0_{t−1}, C^0_{t−1}, M^{L−1}_{t−1})
        h[0], c[0], m = tracer.call(t, 0, self.cell_list[0], x, h[0], c[0], state["m"][0])
        # diff^1_t = H^0_t − H^0_{t−1}, zero at the first step (no previous frame)
        diff = h[0] - h_before if t > 0 else torch.zeros_like(h[0])
        for layer in range(1, self.num_layers):
            # H^l_t, C^l_t, M, D^l_t, N^l_t, S^l_t = MIM(H^{l−1}_t, diff^l_t; previous states, M)
            h[layer], c[layer], m, d[layer], n[layer], s[layer] = tracer.call(
                t, layer, self.cell_list[layer], h[layer - 1], diff, h[layer], c[layer], m, d[layer], n[layer], s[layer]
            )
            # diff^{l+1}_t = D^l_t: the next MIM-N reads this one's output
            diff = d[layer]
        state["m"][0] = m
        return h[-1], state
