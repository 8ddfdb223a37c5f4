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
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_divisible, check_positive_int
from .base import SpatioTemporalModel, _Run, _Tracer, hidden_list
from .trajgru_cell import TrajGRUCell

Tensor = torch.Tensor

__all__ = ["TrajGRU"]


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

    Taught in lesson 10 (TrajGRU among the models of Table 8).
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
