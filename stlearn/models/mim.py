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

Deviations from the official TensorFlow code (``src/models/mim.py`` and ``src/layers/`` of the
MIM repository), found in review and taught in lesson 8:

* **layer 0** is PredRNN's ST-LSTM (:class:`~stlearn.cells.STLSTMCell`: ``conv_x`` with 7C outputs,
  separate input weights for the temporal and the primed gates, and ``conv_o``, a 3×3 convolution of
  :math:`[C_t, M_t]` into the output gate). The TF code's layer 0 (``SpatioTemporalLSTMCellv2``)
  shares one 4C input convolution between both halves (:math:`i_x, g_x, f_x, o_x`), reads H and M
  through 4C convolutions each, and has no ``conv_o``: :math:`o = \sigma(o_x + o_t + o_s)`.
* **no layer norm**: the TF ``mim()`` defaults to ``tln=True`` (a layer norm after every
  convolution of every cell); nothing here normalises.
* **peepholes start at zero**: MIM-N's and MIM-S's per-pixel peepholes are
  :class:`~stlearn.cells.ConvLSTMCell` weights initialised to 0; the TF ``tf.get_variable`` calls
  for ``c_t_weight`` and ``oc_weight`` give no initializer, so TF's default, Glorot uniform, applies.

:func:`mim_sequence_trace` keeps one traced pass over a sequence for lesson 8's figures and
:class:`~stlearn.widgets.MIMMemoryExplorer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..cells import STLSTMCell
from .base import RolloutModel, _Tracer, hidden_list
from .mim_block import MIMBlock

Tensor = torch.Tensor

__all__ = ["MIM", "MIMSequenceTrace", "mim_sequence_trace"]


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

    Taught in lesson 8 (TrajGRU and MIM, gate by gate); compared in lessons 9 and 10.
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


@dataclass(frozen=True)
class MIMSequenceTrace:
    """One traced pass of a MIM over one sequence, every array float32 NumPy (lesson 8).

    Attributes:
        frames: the true frames (T, H, W) in [0, 1].
        read: what step t read, (T − 1, H, W): :math:`x_t` for t < input_len, else the fed-back :math:`\\hat x_t`.
        predictions: :math:`\\hat x_{t+1}` of step t, (T − 1, H, W) (not clipped).
        records: one dict per layer: record field → (steps, C, h, w) in patch space. Layer 0 has the
            ST-LSTM fields (``"i"``, ``"f"``, ``"g"``, ``"c"``, ``"m"``, ``"h"``, …), the MIM blocks
            (layers ≥ 1) the :class:`~stlearn.models.mim_block.MIMBlockTrace` fields: ``"diff"`` (MIM-N's
            input), ``"n"``, ``"d"`` (MIM-N), ``"s"``, ``"t"`` (MIM-S), the gates, ``"c"``, ``"h"``, …
        input_len: number of input frames.

    Built by :func:`mim_sequence_trace`; read by :class:`~stlearn.widgets.MIMMemoryExplorer`. Lesson 8.
    """

    frames: np.ndarray
    read: np.ndarray
    predictions: np.ndarray
    records: list[dict[str, np.ndarray]]
    input_len: int

    @property
    def num_steps(self) -> int:
        return self.read.shape[0]

    @property
    def num_layers(self) -> int:
        return len(self.records)


def mim_sequence_trace(model: MIM, frames: Any, input_len: int = 10) -> MIMSequenceTrace:
    """Run a MIM (eval mode, no gradients) over one sequence with every step and layer traced (lesson 8).

    Args:
        model: a :class:`MIM` (e.g. ``load_pretrained("moving_digits", "mim")``).
        frames: one sequence (T, [1,] H, W), uint8 or float in [0, 1], single-channel.
        input_len: input frames; after them the model reads its own predictions (test time).

    Returns:
        A :class:`MIMSequenceTrace`.
    """
    where = "mim_sequence_trace"
    if not isinstance(model, MIM):
        raise TypeError(f"{where}: 'model' must be a MIM (load_pretrained(..., 'mim')), got {type(model).__name__}")
    x = frames if isinstance(frames, torch.Tensor) else torch.as_tensor(np.asarray(frames))
    if x.dtype == torch.uint8:
        x = x.to(torch.float32) / 255.0
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"{where}: 'frames' must be one single-channel sequence (T, [1,] H, W), got {tuple(x.shape)}")
    x = x.to(torch.float32)
    if isinstance(input_len, bool) or not isinstance(input_len, int) or not 1 <= input_len < x.shape[0]:
        raise ValueError(
            f"{where}: 'input_len' must be an integer in [1, T−1] = [1, {x.shape[0] - 1}], got {input_len!r}"
        )
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x[None], trace=True, input_len=input_len)
    finally:
        model.train(was_training)
    nxt = out.next_frames[0, :, 0].numpy()  # x̂_1 … x̂_{T−1}
    truth = x[:, 0].numpy()
    read = np.concatenate([truth[:input_len], nxt[input_len - 1 : -1]], axis=0)
    tr = out.trace
    records = []
    for layer in tr.layers:
        names = tr[tr.steps[0], layer].as_dict().keys()
        records.append({n: np.stack([getattr(tr[t, layer], n)[0].numpy() for t in tr.steps]) for n in names})
    return MIMSequenceTrace(truth, read, nxt, records, input_len)
