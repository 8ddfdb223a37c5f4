r"""TrajGRU in the encoder–forecaster of the HKO-7 benchmark (Shi et al., NeurIPS 2017), lesson-sized.

The frames are patched (p×p space-to-depth, the first down-sampling), then S scales, s = 0 … S−1:

* **encoder**, for t = 0 … input_len−1: :math:`X^0_t` = patched frame t;
  :math:`X^s_t = \mathrm{act}(W_{\downarrow s} * H^{s-1}_t)` (stride-2 convolution);
  :math:`H^s_t = \mathrm{TrajGRU}^{\mathrm{enc}}_s(X^s_t, H^s_{t-1})`.
* **forecaster**, for t = input_len … T−1, starting from the encoder's last states, top scale
  first: :math:`H^{S-1}_t = \mathrm{TrajGRU}^{\mathrm{fc}}_{S-1}(\varnothing, H^{S-1}_{t-1})`;
  :math:`H^s_t = \mathrm{TrajGRU}^{\mathrm{fc}}_s(\mathrm{act}(W_{\uparrow s} \circledast H^{s+1}_t), H^s_{t-1})`
  (stride-2 transposed convolution); :math:`\hat x_t = W_{1\times1} * H^0_t`, un-patched.

The forecaster reads no frames, so no sampling mask applies (a ``mask`` is checked, then ignored).
Loss: the mean squared error of the forecast frames. The official network has three scales and
a convolutional stem; this one keeps the structure at lesson size and shares the PredRNN
family's patching and output head, so lesson 10 compares like with like.

Deviations from the official HKO-7 code (MXNet, ``nowcasting/encoder_forecaster.py``), found in
review and taught in lesson 8:

* **upsampling channels**: the official forecaster's upsampling from scale s to s−1 outputs the
  channel count of scale s (``num_filter=NUM_FILTER[i]``), so the finer TrajGRU's input has the
  coarser scale's width; here ``up[s−1]`` outputs ``hidden_channels[s−1]``, the finer scale's width
  (a transposed convolution (C_s → C_{s−1}, 4×4, stride 2)).
* **loss**: plain MSE of the forecast frames; HKO-7 trained with the *balanced* (rain-rate weighted)
  MSE + MAE, which weighs heavy echoes more.
* the stem and head: patching and a 1×1 head instead of a strided convolution stem and a
  transposed-convolution + convolution head.

:func:`trajgru_sequence_trace` keeps one traced pass over a sequence for lesson 8's figures and
:class:`~stlearn.widgets.TrajGRUFlowExplorer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_divisible, check_positive_int
from .base import SpatioTemporalModel, _Run, _Tracer, hidden_list
from .trajgru_cell import TrajGRUCell

Tensor = torch.Tensor

__all__ = ["TrajGRU", "TrajGRUSequenceTrace", "trajgru_sequence_trace"]


class TrajGRU(SpatioTemporalModel):
    """TrajGRU encoder–forecaster with S scales (``len(hidden_channels)``).

    Trace: step t < input_len is the encoder reading frame t, step t ≥ input_len the forecaster
    producing frame t; layer s is scale s (0 = finest). Records are
    :class:`~stlearn.models.trajgru_cell.TrajGRUTrace`.

    Args:
        in_channels: channels C of a frame.
        frame_size: (H, W); H/p and W/p must be divisible by 2^(S−1).
        patch_size: p of the frame patching.
        hidden_channels: state channels per scale, finest first, e.g. [32, 64].
        links: number of flow fields L per scale (an int for all scales, or one per scale).
        kernel_size: odd kernel size of the cells' input convolutions.
        flow_channels: channels of the flow-generator features (32 as the official code).
        negative_slope: leaky ReLU slope (0.2).

    Taught in lesson 8 (TrajGRU and MIM, gate by gate); compared in lessons 9 and 10.
    """

    name = "trajgru"

    def __init__(
        self,
        in_channels: int = 1,
        frame_size: int | Sequence[int] = (64, 64),
        patch_size: int = 4,
        hidden_channels: Sequence[int] = (32, 48),
        links: int | Sequence[int] = 5,
        kernel_size: int = 3,
        flow_channels: int = 32,
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__(in_channels, frame_size, patch_size, fixed_frame_size=False)
        where = type(self).__name__
        hidden = hidden_list(where, hidden_channels)
        scales = self.num_layers = len(hidden)
        if isinstance(links, int) and not isinstance(links, bool):
            links = [links] * scales
        if not isinstance(links, Sequence) or len(links) != scales:
            raise ValueError(f"{where}: 'links' must be an int or one int per scale ({scales}), got {links!r}")
        links = [check_positive_int(where, "links", n) for n in links]
        self._check_frame_size(where, "frame_size", self.frame_size)
        cell = {"kernel_size": kernel_size, "flow_channels": flow_channels, "negative_slope": negative_slope}
        self.negative_slope = float(negative_slope)
        self.encoder = nn.ModuleList(
            TrajGRUCell(self.patch_channels if s == 0 else hidden[s], hidden[s], links[s], **cell)
            for s in range(scales)
        )
        # down[s−1]: scale s−1 → s, stride 2
        self.down = nn.ModuleList(
            nn.Conv2d(hidden[s - 1], hidden[s], kernel_size=3, stride=2, padding=1) for s in range(1, scales)
        )
        self.forecaster = nn.ModuleList(
            TrajGRUCell(0 if s == scales - 1 else hidden[s], hidden[s], links[s], **cell) for s in range(scales)
        )
        # up[s−1]: scale s → s−1, stride 2
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(hidden[s], hidden[s - 1], kernel_size=4, stride=2, padding=1) for s in range(1, scales)
        )
        self.conv_last = nn.Conv2d(hidden[0], self.patch_channels, kernel_size=1, bias=False)
        self.config = {
            "in_channels": self.in_channels,
            "frame_size": list(self.frame_size),
            "patch_size": self.patch_size,
            "hidden_channels": hidden,
            "links": links,
            "kernel_size": kernel_size,
            "flow_channels": flow_channels,
            "negative_slope": self.negative_slope,
        }

    def _check_frame_size(self, where: str, name: str, size: tuple[int, int]) -> None:
        factor = self.patch_size * 2 ** (self.num_layers - 1)
        check_divisible(
            where, name, size, factor, f"patch_size·2^(S−1) (the down-sampling of S = {self.num_layers} scales)"
        )

    def _num_steps(self, total_len: int) -> int:
        return total_len

    def _run(
        self, x: Tensor, mask: Tensor | None, input_len: int, total_len: int, tracer: _Tracer, with_loss: bool
    ) -> _Run:
        act = self.negative_slope
        b, _, _, gh, gw = x.shape
        h = [x.new_zeros(b, cell.hidden_channels, gh >> s, gw >> s) for s, cell in enumerate(self.encoder)]
        for t in range(input_len):
            inp = x[:, t]
            for s, cell in enumerate(self.encoder):
                if s > 0:
                    # X^s_t = act(W_↓ * H^{s−1}_t), stride 2
                    inp = F.leaky_relu(self.down[s - 1](inp), act)
                # H^s_t = TrajGRU_enc(X^s_t, H^s_{t−1})
                h[s] = tracer.call(t, s, cell, inp, h[s])
                inp = h[s]
        outputs = []
        for t in range(input_len, total_len):
            inp = None
            for s in reversed(range(self.num_layers)):
                # H^s_t = TrajGRU_fc(X^s_t, H^s_{t−1}), no input at the top scale
                h[s] = tracer.call(t, s, self.forecaster[s], inp, h[s])
                if s > 0:
                    # X^{s−1}_t = act(W_↑ ⊛ H^s_t), stride-2 transposed convolution
                    inp = F.leaky_relu(self.up[s - 1](h[s]), act)
            # x̂_t = W_{1×1} * H^0_t   (bias-free, no output activation)
            outputs.append(self.conv_last(h[0]))
        return _Run(predictions=torch.stack(outputs, dim=1), next_frames=None, trace=tracer.result())

    def _loss(self, x: Tensor, run: _Run, input_len: int) -> tuple[Tensor, dict[str, Tensor]]:
        # L = mean squared error of the forecast frames x̂_t, t = input_len … T−1 (patch space)
        mse = F.mse_loss(run.predictions, x[:, input_len:])
        return mse, {"mse": mse.detach()}


@dataclass(frozen=True)
class TrajGRUSequenceTrace:
    """One traced pass of a TrajGRU over one sequence, every array float32 NumPy (lesson 8).

    Attributes:
        frames: the true frames (T, H, W) in [0, 1].
        predictions: the forecast :math:`\\hat x_t` of steps t = input_len … T−1, (T − input_len, H, W),
            not clipped.
        flows: one array per scale s, (T, L_s, 2, h_s, w_s): the L flow fields (U, V) of step t, in
            pixels of that scale's grid (channel 0 = U along x, 1 = V along y).
        h: one array per scale, (T, C_s, h_s, w_s): the state :math:`H^s_t` after step t.
        r, u, h_tilde: reset gate, update gate and candidate :math:`H'_t` per scale, like ``h``.
        input_len: encoder steps (they read frames 0 … input_len−1); the forecaster steps read none.
        cell_size: frame pixels per grid pixel of each scale (patch size · 2^s).

    Built by :func:`trajgru_sequence_trace`; read by :mod:`stlearn.viz.flow` and
    :class:`~stlearn.widgets.TrajGRUFlowExplorer`. Taught in lesson 8.
    """

    frames: np.ndarray
    predictions: np.ndarray
    flows: list[np.ndarray]
    h: list[np.ndarray]
    r: list[np.ndarray]
    u: list[np.ndarray]
    h_tilde: list[np.ndarray]
    input_len: int
    cell_size: list[int]

    @property
    def num_steps(self) -> int:
        return self.frames.shape[0]

    @property
    def num_scales(self) -> int:
        return len(self.flows)

    def h_prev(self, t: int, scale: int) -> np.ndarray:
        """:math:`H^s_{t-1}`, the state step t warps (zeros at t = 0), (C_s, h_s, w_s)."""
        if t == 0:
            return np.zeros_like(self.h[scale][0])
        return self.h[scale][t - 1]

    def shown_frame(self, t: int) -> tuple[np.ndarray, str]:
        """The frame to draw step t's flows over, and what it is.

        Encoder step t reads frame t. A forecaster step reads no frame; its state last saw frame
        t − 1: the true one at t = input_len, its own forecast after.
        """
        if t < self.input_len:
            return self.frames[t], f"frame {t} (read by step {t})"
        if t == self.input_len:
            return self.frames[t - 1], f"frame {t - 1} (last input; step {t} reads none)"
        return np.clip(self.predictions[t - 1 - self.input_len], 0, 1), f"forecast x̂_{t - 1} (step {t} reads none)"


def trajgru_sequence_trace(model: TrajGRU, frames: Any, input_len: int = 10) -> TrajGRUSequenceTrace:
    """Run a TrajGRU (eval mode, no gradients) over one sequence with every step and scale traced (lesson 8).

    Args:
        model: a :class:`TrajGRU` (e.g. ``load_pretrained("moving_digits", "trajgru")``).
        frames: one sequence (T, [1,] H, W), uint8 or float in [0, 1], single-channel.
        input_len: encoder steps; the forecaster produces frames input_len … T−1.

    Returns:
        A :class:`TrajGRUSequenceTrace`.
    """
    where = "trajgru_sequence_trace"
    if not isinstance(model, TrajGRU):
        raise TypeError(
            f"{where}: 'model' must be a TrajGRU (load_pretrained(..., 'trajgru')), got {type(model).__name__}"
        )
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
    tr = out.trace

    def stack(name: str, s: int) -> np.ndarray:
        return np.stack([getattr(tr[t, s], name)[0].numpy() for t in tr.steps])

    scales = list(tr.layers)
    return TrajGRUSequenceTrace(
        frames=x[:, 0].numpy(),
        predictions=out.predictions[0, :, 0].numpy(),
        flows=[stack("flows", s) for s in scales],
        h=[stack("h", s) for s in scales],
        r=[stack("r", s) for s in scales],
        u=[stack("u", s) for s in scales],
        h_tilde=[stack("h_tilde", s) for s in scales],
        input_len=input_len,
        cell_size=[model.patch_size * 2**s for s in scales],
    )
