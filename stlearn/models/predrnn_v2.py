r"""PredRNN-V2: PredRNN plus the memory decoupling loss (Wang et al., TPAMI 2022).

Every ST-LSTM step writes an increment into each memory,

.. math:: \Delta C^l_t = i_t \odot g_t, \qquad \Delta M^l_t = i'_t \odot g'_t,

and V2 pushes the two apart: one shared 1×1 convolution (the *adapter*, C→C, no bias) maps both
into a common space, and the loss penalises the absolute cosine similarity of the two, per sample
and channel, over the pixels. The training loss becomes

.. math:: \mathcal L = \mathrm{MSE} + \beta \, \mathcal L_{\mathrm{decouple}}, \qquad \beta = 0.1.

The forward computation of the frames is exactly PredRNN's; only the loss (and one adapter) differ.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import _Run, _Tracer
from .predrnn import PredRNN

Tensor = torch.Tensor

__all__ = ["PredRNNV2", "decoupling_term"]


def decoupling_term(adapter: Callable[[Tensor], Tensor], delta_c: Tensor, delta_m: Tensor) -> Tensor:
    r"""Decoupling term of one (step, layer): mean |cos| between the adapted memory increments.

    .. math::
        a &= \mathrm{normalize}(W_{\mathrm{adapter}} * \Delta C^l_t) \qquad
        b = \mathrm{normalize}(W_{\mathrm{adapter}} * \Delta M^l_t) \\
        \ell^l_t &= \frac{1}{B\,C} \sum_{b, c} \Big| \sum_{\text{pixels}} a \, b \Big|

    where normalize scales each (sample, channel) map to unit length over its H·W pixels.
    Identical increments give 1, orthogonal ones 0.

    Args:
        adapter: the shared 1×1 convolution (any callable (B, C, H, W) → (B, C, H, W)).
        delta_c: :math:`\Delta C^l_t = i_t \odot g_t`, (B, C, H, W).
        delta_m: :math:`\Delta M^l_t = i'_t \odot g'_t`, (B, C, H, W).

    Returns:
        A scalar tensor in [0, 1].

    Taught in lesson 7 (PredRNN-V2: decoupling the memories).
    """
    # a = normalize(W_adapter * ΔC) over the H·W pixels of each (sample, channel)
    a = F.normalize(adapter(delta_c).flatten(2), dim=2)
    # b = normalize(W_adapter * ΔM)
    b = F.normalize(adapter(delta_m).flatten(2), dim=2)
    # ℓ = mean over (sample, channel) of |cos(a, b)| = |Σ_pixels a·b|
    return (a * b).sum(dim=2).abs().mean()


class PredRNNV2(PredRNN):
    """PredRNN-V2: PredRNN's network, a shared adapter, and loss = MSE + β·decoupling loss.

    Official parameter names (``adapter.weight`` besides PredRNN's), so
    :func:`stlearn.interop.load_predrnn` loads thuml/predrnn-pytorch V2 checkpoints.
    ``loss_terms`` holds ``"mse"`` and ``"decouple"`` (the mean of :func:`decoupling_term` over
    all steps and layers). Train it with the reverse scheduled sampling masks of
    :func:`stlearn.training.schedules.reverse_scheduled_sampling_mask`.

    Args:
        in_channels, frame_size, patch_size, hidden_channels, kernel_size, layer_norm, zigzag:
            as :class:`~stlearn.models.predrnn.PredRNN`.
        decouple_beta: β, the weight of the decoupling loss (0.1 for Moving MNIST, 0.01 for KTH).

    Taught in lesson 7 (PredRNN-V2); compared in lessons 9-10.
    """

    name = "predrnn_v2"

    def __init__(
        self,
        in_channels: int = 1,
        frame_size: int | Sequence[int] = (64, 64),
        patch_size: int = 4,
        hidden_channels: Sequence[int] = (32, 32),
        kernel_size: int = 3,
        layer_norm: bool = False,
        zigzag: bool = True,
        decouple_beta: float = 0.1,
    ) -> None:
        super().__init__(in_channels, frame_size, patch_size, hidden_channels, kernel_size, layer_norm, zigzag)
        hidden = self.config["hidden_channels"]
        if len(set(hidden)) != 1:
            raise ValueError(
                f"{type(self).__name__}: the shared adapter maps every layer's ΔC and ΔM, so all "
                f"'hidden_channels' must be equal, got {hidden}"
            )
        self.adapter = nn.Conv2d(hidden[0], hidden[0], kernel_size=1, bias=False)
        self.decouple_beta = float(decouple_beta)
        self.config["decouple_beta"] = self.decouple_beta

    def _layer(self, t: int, layer: int, tracer: _Tracer, aux: dict | None, *args: Tensor) -> tuple[Tensor, ...]:
        if tracer.wants(t, layer):
            out = tracer.call(t, layer, self.cell_list[layer], *args)
            record = tracer.records[(t, layer)]
            delta_c, delta_m = record.delta_c, record.delta_m
        else:
            *out, delta_c, delta_m = self.cell_list[layer](*args, return_deltas=True)
        if aux is not None:  # the loss needs it; predict() does not
            aux["decouple"].append(decoupling_term(self.adapter, delta_c, delta_m))
        return tuple(out)

    def _loss(self, x: Tensor, run: _Run, input_len: int) -> tuple[Tensor, dict[str, Tensor]]:
        mse, terms = super()._loss(x, run, input_len)
        # L_decouple = mean of ℓ^l_t over all steps t and layers l
        decouple = torch.stack(run.aux["decouple"]).mean()
        # L = MSE + β·L_decouple
        loss = mse + self.decouple_beta * decouple
        terms["decouple"] = decouple.detach()
        return loss, terms
