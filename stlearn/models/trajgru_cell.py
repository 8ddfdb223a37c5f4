r"""The TrajGRU cell (Shi et al., NeurIPS 2017): a ConvGRU whose recurrent connections follow learned flows.

A ConvGRU's state-to-state convolution looks at a fixed neighbourhood of each pixel. TrajGRU
instead predicts, from :math:`X_t` and :math:`H_{t-1}`, L flow fields :math:`(U_l, V_l)` and
gathers :math:`H_{t-1}` along them — each pixel reads L positions that move with the weather:

.. math::
    F &= \mathrm{act}(W_{xf} * X_t + W_{hf} * H_{t-1}) \qquad (U, V) = W_{f} * F \quad (2L \text{ channels}) \\
    \tilde H_l &= \mathrm{warp}(H_{t-1}, U_l, V_l) \qquad l = 1 … L \\
    r_t &= \sigma(W_{xr} * X_t + W_{hr} * [\tilde H_1 … \tilde H_L]) \\
    u_t &= \sigma(W_{xu} * X_t + W_{hu} * [\tilde H_1 … \tilde H_L]) \\
    H'_t &= \mathrm{act}(W_{xh} * X_t + r_t \odot (W_{hh} * [\tilde H_1 … \tilde H_L])) \\
    H_t &= u_t \odot H_{t-1} + (1 - u_t) \odot H'_t

with act the leaky ReLU (slope 0.2), :math:`W_{h\cdot}` 1×1 convolutions over the L warped
copies, and warp a bilinear sampling of :math:`H_{t-1}` at (grid − flow). As in the official code
the flow convolution :math:`W_f` starts at zero, so a fresh cell warps by the identity.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_frame_tensor, check_kernel_size, check_positive_int
from ..cells import _Record

Tensor = torch.Tensor

__all__ = ["TrajGRUCell", "TrajGRUTrace", "warp"]


def warp(h: Tensor, flow: Tensor) -> Tensor:
    r"""Sample ``h`` at (grid − flow), bilinearly, zero outside the frame.

    .. math:: \mathrm{warp}(H, U, V)[y, x] = H[y - V[y, x],\ x - U[y, x]]

    Args:
        h: (N, C, H, W) states.
        flow: (N, 2, H, W) flow in pixels, channel 0 = U (along x), channel 1 = V (along y).

    Returns:
        (N, C, H, W); zero flow returns ``h`` (to rounding).

    Taught in lesson 8 (TrajGRU: the warp along each learned flow).
    """
    check_frame_tensor("warp", "h", h)
    check_frame_tensor("warp", "flow", flow)
    n, _, height, width = h.shape
    if flow.shape != (n, 2, height, width):
        raise ValueError(
            f"warp: argument 'flow' must have shape (N, 2, H, W) = ({n}, 2, {height}, {width}), got {tuple(flow.shape)}"
        )
    ys = torch.arange(height, dtype=h.dtype, device=h.device).view(1, height, 1)
    xs = torch.arange(width, dtype=h.dtype, device=h.device).view(1, 1, width)
    # sampling position (x − U, y − V), then normalised to [−1, 1] (−1 ↔ pixel 0, +1 ↔ the last pixel)
    sx = (xs - flow[:, 0]) * (2.0 / max(width - 1, 1)) - 1.0
    sy = (ys - flow[:, 1]) * (2.0 / max(height - 1, 1)) - 1.0
    grid = torch.stack([sx, sy], dim=-1)
    return F.grid_sample(h, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


@dataclass(frozen=True)
class TrajGRUTrace(_Record):
    r"""Every intermediate of one TrajGRU step.

    ``flows`` (B, L, 2, H, W): the L flow fields (U, V) in pixels; ``r`` reset gate, ``u`` update
    gate, ``h_tilde`` candidate :math:`H'_t`, ``h`` new state :math:`H_t`, each (B, C, H, W).

    Read by lesson 8's figures and TrajGRUFlowExplorer (the learned flows).
    """

    flows: Tensor
    r: Tensor
    u: Tensor
    h_tilde: Tensor
    h: Tensor


class TrajGRUCell(nn.Module):
    r"""TrajGRU cell: ConvGRU with L learned, warped recurrent links.

    Parameters: ``i2h`` (3C, C_in, k, k) for r, u, h; ``i2f`` (F, C_in, 5, 5) and ``h2f``
    (F, C, 5, 5) for the flow features; ``flows`` (2L, F, 5, 5), zero-initialised; ``h2h``
    (3C, L·C, 1, 1) for r, u, h. All with biases (as the official code).

    Args:
        in_channels: channels of :math:`X_t`; 0 for a cell without input (the top of the forecaster).
        hidden_channels: C.
        links: L, the number of flow fields (warped copies of :math:`H_{t-1}`).
        kernel_size: odd kernel size of the input convolution ``i2h``.
        flow_channels: channels of the flow features F (32 in the official code).
        flow_kernel_size: odd kernel size of the flow convolutions (5 in the official code).
        negative_slope: slope of the leaky ReLU (0.2).

    Taught in lesson 8 (TrajGRU gate by gate); compared in lessons 9 and 10.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        links: int = 5,
        kernel_size: int = 3,
        flow_channels: int = 32,
        flow_kernel_size: int = 5,
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        where = "TrajGRUCell"
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 0:
            raise ValueError(
                f"{where}: 'in_channels' must be a non-negative integer (0 = no input), got {in_channels!r}"
            )
        self.in_channels = in_channels
        self.hidden_channels = c = check_positive_int(where, "hidden_channels", hidden_channels)
        self.links = check_positive_int(where, "links", links)
        k = check_kernel_size(where, kernel_size)
        fk = check_kernel_size(where, flow_kernel_size)
        check_positive_int(where, "flow_channels", flow_channels)
        self.negative_slope = float(negative_slope)
        if in_channels:
            self.i2h: nn.Conv2d | None = nn.Conv2d(in_channels, 3 * c, k, padding=k // 2)
            self.i2f: nn.Conv2d | None = nn.Conv2d(in_channels, flow_channels, fk, padding=fk // 2)
        else:
            self.i2h = self.i2f = None
        self.h2f = nn.Conv2d(c, flow_channels, fk, padding=fk // 2)
        self.flows = nn.Conv2d(flow_channels, 2 * self.links, fk, padding=fk // 2)
        nn.init.zeros_(self.flows.weight)
        nn.init.zeros_(self.flows.bias)
        self.h2h = nn.Conv2d(self.links * c, 3 * c, kernel_size=1)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, hidden_channels={self.hidden_channels}, links={self.links}"

    def _check(self, where: str, x: Tensor | None, h: Tensor) -> None:
        check_frame_tensor(where, "h", h)
        if h.shape[1] != self.hidden_channels:
            raise ValueError(
                f"{where}: state 'h' must have {self.hidden_channels} channels (B, C, H, W), got {tuple(h.shape)}"
            )
        if (x is None) != (self.in_channels == 0):
            raise ValueError(
                f"{where}: this cell was built with in_channels={self.in_channels}; "
                + ("pass x=None" if self.in_channels == 0 else "it needs an input 'x'")
            )
        if x is not None:
            check_frame_tensor(where, "x", x)
            expected = (h.shape[0], self.in_channels, h.shape[2], h.shape[3])
            if tuple(x.shape) != expected:
                raise ValueError(
                    f"{where}: input 'x' must have shape (B, C_in, H, W) = {expected}, got {tuple(x.shape)}"
                )

    def _step(self, x: Tensor | None, h: Tensor, keep: bool) -> tuple[Tensor, TrajGRUTrace | None]:
        b, c, height, width = h.shape
        act = self.negative_slope
        # F = act(W_xf * X_t + W_hf * H_{t−1})
        feat = self.h2f(h) if x is None else self.i2f(x) + self.h2f(h)  # type: ignore[misc]
        feat = F.leaky_relu(feat, act)
        # (U_l, V_l), l = 1 … L = W_f * F
        flows = self.flows(feat).view(b * self.links, 2, height, width)
        # H̃_l = warp(H_{t−1}, U_l, V_l): L copies of the state, each gathered along its flow
        copies = h.unsqueeze(1).expand(b, self.links, c, height, width).reshape(b * self.links, c, height, width)
        warped = warp(copies, flows).view(b, self.links * c, height, width)
        h_r, h_u, h_h = self.h2h(warped).chunk(3, dim=1)
        if x is None:
            x_r = x_u = x_h = 0.0
        else:
            x_r, x_u, x_h = self.i2h(x).chunk(3, dim=1)  # type: ignore[misc]
        # r_t = σ(W_xr * X_t + W_hr * [H̃_1 … H̃_L])
        r = torch.sigmoid(x_r + h_r)
        # u_t = σ(W_xu * X_t + W_hu * [H̃_1 … H̃_L])
        u = torch.sigmoid(x_u + h_u)
        # H'_t = act(W_xh * X_t + r_t ⊙ (W_hh * [H̃_1 … H̃_L]))
        h_tilde = F.leaky_relu(x_h + r * h_h, act)
        # H_t = u_t ⊙ H_{t−1} + (1 − u_t) ⊙ H'_t
        h_new = u * h + (1 - u) * h_tilde
        if not keep:
            return h_new, None
        record = TrajGRUTrace(flows=flows.view(b, self.links, 2, height, width), r=r, u=u, h_tilde=h_tilde, h=h_new)
        return h_new, record

    def forward(self, x: Tensor | None, h: Tensor) -> Tensor:
        """Fast path: :math:`H_t` from ``x`` (B, C_in, H, W) or None, and ``h`` = :math:`H_{t-1}` (B, C, H, W)."""
        self._check("TrajGRUCell", x, h)
        return self._step(x, h, keep=False)[0]

    def trace(self, x: Tensor | None, h: Tensor) -> tuple[Tensor, TrajGRUTrace]:
        """The same step, also returning its :class:`TrajGRUTrace`: ``(H_t, record)``."""
        self._check("TrajGRUCell.trace", x, h)
        h_new, record = self._step(x, h, keep=True)
        assert record is not None
        return h_new, record
