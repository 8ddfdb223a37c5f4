r"""Which inputs does a forecast use? Input-gradient influence maps (lesson 10).

For one forecast pixel :math:`\hat x_{10+L}(y, x)` (lead time L) the influence of every input pixel is the
magnitude of the gradient

.. math:: I_s(u, v) = \left| \frac{\partial \hat x_{10+L}(y, x)}{\partial x_s(u, v)} \right|, \qquad s = 0 … 9,

one backward pass through the whole test-time rollout (the fed-back predictions included), as in Distill's
"Visualizing memorization in RNNs" (Madsen, 2019). Its maps over the ten input frames show how far back
(which s) and how wide (which distance from (y, x)) a model looks.

* :class:`InfluenceProbe` — one forward pass per (model, sequence, lead time) with the graph kept, then one
  backward pass per pixel asked for (what the widget does on every slider move);
* :func:`influence_map` — the same, once;
* :class:`Influence` — the maps and the numbers lesson 10 reads off them: the share of the gradient mass per
  input frame (:meth:`Influence.frame_shares`, :meth:`Influence.share_last`) and the radius around the
  forecast pixel that holds a given share of it (:meth:`Influence.radius`);
* :func:`convlstm_lead1_reach` — the exact receptive field of a ConvLSTM's lead-1 forecast, from the
  equations (the test compares the gradient's support with it).

Taught in lesson 10 ("Which inputs does a forecast use?"); :class:`stlearn.widgets.ConnectivityExplorer`
draws it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .errors import InputError, InputTypeError
from .models.base import RolloutModel
from .models.patching import unpatch_frames

Tensor = torch.Tensor

__all__ = ["Influence", "InfluenceProbe", "convlstm_lead1_reach", "influence_map"]


@dataclass(frozen=True)
class Influence:
    """|∂ forecast pixel / ∂ input pixels| of one forecast pixel, over the input frames (lesson 10).

    Attributes:
        maps: (input_len, H, W) float64, :math:`|\\partial \\hat x_{10+L}(y, x) / \\partial x_s|` summed over
            the input channels; ``maps[s]`` is input frame s (``maps[-1]`` the last one the model saw).
        lead: the lead time L ≥ 1 (1 = the first forecast frame).
        row, col: the forecast pixel (y, x).
        value: the forecast's value there.
    """

    maps: np.ndarray
    lead: int
    row: int
    col: int
    value: float

    @property
    def total(self) -> float:
        """The whole gradient mass Σ_s Σ_uv I_s(u, v)."""
        return float(self.maps.sum())

    def frame_shares(self) -> np.ndarray:
        """Share of the gradient mass in each input frame, (input_len,), summing to 1 (0s for a zero map)."""
        per_frame = self.maps.sum(axis=(1, 2))
        total = per_frame.sum()
        return per_frame / total if total > 0 else np.zeros_like(per_frame)

    def share_last(self, k: int) -> float:
        """Share of the gradient mass in the last ``k`` input frames (1 ≤ k ≤ input_len)."""
        n = self.maps.shape[0]
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
            raise InputError(f"Influence.share_last: 'k' must be an integer in 1 … {n} (input frames), got {k!r}")
        return float(self.frame_shares()[n - k :].sum())

    def distances(self) -> np.ndarray:
        """Euclidean distance (pixels) of every input pixel from the forecast pixel, (H, W)."""
        h, w = self.maps.shape[1:]
        yy, xx = np.mgrid[0:h, 0:w]
        return np.hypot(yy - self.row, xx - self.col)

    def radius(self, share: float = 0.9) -> float:
        """The smallest distance r (pixels) such that input pixels within r of (y, x) hold ``share`` of the mass.

        All input frames are pooled. 0 for a zero map.
        """
        if not 0.0 < share <= 1.0:
            raise InputError(f"Influence.radius: 'share' must lie in (0, 1], got {share!r}")
        # squared distances are integers: the mass per squared distance, accumulated outwards (exact, fast)
        h, w = self.maps.shape[1:]
        yy, xx = np.mgrid[0:h, 0:w]
        squared = ((yy - self.row) ** 2 + (xx - self.col) ** 2).ravel()
        mass = np.bincount(squared, weights=self.maps.sum(axis=0).ravel())
        total = mass.sum()
        if total <= 0:
            return 0.0
        cum = np.cumsum(mass) / total
        k = int(np.searchsorted(cum, share - 1e-12))
        return float(np.sqrt(min(k, len(cum) - 1)))

    def mean_lag(self) -> float:
        """Mass-weighted mean of (input_len − 1 − s): 0 when only the last input frame counts."""
        shares = self.frame_shares()
        lags = np.arange(len(shares))[::-1]
        return float((shares * lags).sum())


def _sequence(where: str, frames: Any) -> Tensor:
    x = frames if isinstance(frames, Tensor) else torch.as_tensor(np.asarray(frames))
    if x.dtype == torch.uint8:
        x = x.to(torch.float32) / 255.0
    if x.ndim == 3:  # (T, H, W)
        x = x[:, None]
    if x.ndim == 4:  # (T, C, H, W)
        x = x[None]
    if x.ndim != 5 or x.shape[0] != 1:
        raise InputError(
            f"{where}: 'frames' must be one sequence (T, H, W), (T, C, H, W) or (1, T, C, H, W), got {tuple(x.shape)}"
        )
    if not torch.is_floating_point(x):
        x = x.to(torch.float32)
    return x


class InfluenceProbe:
    """Influence maps of one model on one sequence: a forward per lead time, a backward per pixel (lesson 10).

    The model is copied and its weights frozen (the shared pretrained model is left as it is), so the backward
    pass computes gradients for the input frames only. The forward pass for lead L runs the test-time rollout
    over the whole sequence once, keeping the output head's result of every step, so that the backward pass of
    lead L visits only the steps up to it (TrajGRU, whose forecaster has no such head per step, runs the
    rollout up to the lead time, kept until another lead time is asked for).

    Args:
        model: a rollout model of :mod:`stlearn.models` (ConvLSTM, PredRNN, PredRNN-V2, MIM; TrajGRU too).
        frames: one sequence (T, [C,] H, W) or (1, T, C, H, W), uint8 or float in [0, 1], with T ≥ input_len + 1;
            the frames after the inputs only give the rollout its length (the forecast never reads them).
        input_len: number of input frames (the influence maps cover them).

    ``probe(lead, row, col)`` returns an :class:`Influence`. Taught in lesson 10.
    """

    def __init__(self, model: torch.nn.Module, frames: Any, input_len: int = 10) -> None:
        where = "InfluenceProbe"
        if not isinstance(model, torch.nn.Module) or not hasattr(model, "patch_size"):
            raise InputTypeError(f"{where}: 'model' must be a model of stlearn.models, got {type(model).__name__}")
        x = _sequence(where, frames)
        if isinstance(input_len, bool) or not isinstance(input_len, int) or not 1 <= input_len < x.shape[1]:
            raise InputError(
                f"{where}: 'input_len' must be an integer with 1 ≤ input_len < T = {x.shape[1]} frames, "
                f"got {input_len!r}"
            )
        weight = next(model.parameters())
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.frames = x.to(dtype=weight.dtype, device=weight.device)
        self.input_len = input_len
        self.max_lead = x.shape[1] - input_len
        self.height, self.width = x.shape[-2:]
        self._lead: int | None = None
        self._inputs: Tensor | None = None
        self._forecast: Tensor | None = None
        self._steps: list[Tensor] | None = None
        #: forward and backward passes run so far (the widget's tests count them)
        self.forwards = 0
        self.backwards = 0

    @property
    def all_leads_kept(self) -> bool:
        """Whether one forward pass serves every lead time (the rollout models, once :meth:`forecast` ran): then
        backward passes for any lead only read the kept graph, and may run in several threads at once."""
        return self._steps is not None

    def _check(self, lead: int, row: int, col: int) -> tuple[int, int, int]:
        where = "InfluenceProbe"
        for name, value, hi in (("lead", lead, self.max_lead), ("row", row, self.height - 1),
                                ("col", col, self.width - 1)):  # fmt: skip
            lo = 1 if name == "lead" else 0
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
                raise InputError(f"{where}: '{name}' must be an integer in {lo} … {hi}, got {value!r}")
        return int(lead), int(row), int(col)

    def _forward(self, lead: int) -> None:
        """The forward pass that lead ``lead`` reads, with its graph (one per sequence for the rollout models)."""
        if self._steps is not None or self._lead == lead:
            return
        inputs = self.frames[:, : self.input_len].clone().requires_grad_(True)
        if isinstance(self.model, RolloutModel):
            # one pass over the whole sequence; the head's output of every step is kept, so the backward pass of
            # lead L starts at step input_len − 2 + L and visits only the steps before it
            steps: list[Tensor] = []
            hook = self.model.conv_last.register_forward_hook(lambda _m, _i, out: steps.append(out))
            try:
                with torch.enable_grad():
                    self.model(torch.cat([inputs, self.frames[:, self.input_len :]], dim=1), input_len=self.input_len)
            finally:
                hook.remove()
            self._steps = steps
        else:  # TrajGRU's forecaster: the rollout up to the lead time (later frames cannot influence it)
            rest = self.frames[:, self.input_len : self.input_len + lead]
            with torch.enable_grad():
                out = self.model(torch.cat([inputs, rest], dim=1), input_len=self.input_len)
            self._forecast, self._lead = out.predictions[0, lead - 1], lead
        self._inputs = inputs
        self.forwards += 1

    def forecast(self, lead: int) -> Tensor:
        """The forecast frame at ``lead`` (C, H, W), with its graph back to the input frames."""
        lead, _, _ = self._check(lead, 0, 0)
        self._forward(lead)
        if self._steps is not None:
            # step t predicts frame t + 1: lead L is step input_len − 2 + L; (1, p·p·C, h, w) → (C, H, W)
            head = self._steps[self.input_len - 2 + lead]
            return unpatch_frames(head[:, None], self.model.patch_size)[0, 0]
        assert self._forecast is not None
        return self._forecast

    def __call__(self, lead: int, row: int, col: int) -> Influence:
        lead, row, col = self._check(lead, row, col)
        forecast = self.forecast(lead)
        pixel = forecast[:, row, col].sum()  # the channels of one pixel (C = 1 in the course)
        (grad,) = torch.autograd.grad(pixel, self._inputs, retain_graph=True)
        self.backwards += 1
        maps = grad[0].abs().sum(dim=1).to(torch.float64).cpu().numpy()  # (input_len, H, W)
        return Influence(maps, lead, row, col, float(pixel.detach()))


def influence_map(model: torch.nn.Module, frames: Any, lead: int, row: int, col: int, input_len: int = 10) -> Influence:
    """The :class:`Influence` of forecast pixel (row, col) at ``lead`` on the input frames, one call (lesson 10)."""
    return InfluenceProbe(model, frames, input_len)(lead, row, col)


def convlstm_lead1_reach(num_layers: int, kernel_size: int, input_len: int) -> np.ndarray:
    """Exact receptive field of a ConvLSTM's lead-1 forecast, in grid cells (patch cells), per input frame.

    Every convolution of a k × k ConvLSTM cell reaches r = (k − 1) / 2 cells; the peepholes, the gates'
    products and the 1 × 1 head are per pixel. So :math:`H^0_t` reaches r cells into :math:`X_t` and
    r more per step back (through :math:`W_h * H^0_{t-1}`); each layer above adds r:
    :math:`H^{l}_t` reaches r (lag + l + 1) cells into :math:`X_{t-\\text{lag}}`. The lead-1 forecast is the head
    of :math:`H^{L-1}` at the last input step, so input frame s (lag = input_len − 1 − s) reaches
    ``r * (input_len - 1 - s + num_layers)`` cells (Chebyshev distance): returned as (input_len,) ints.
    With a patch size p a cell is a p × p block of pixels. Lesson 10; the test checks it against the gradient.
    """
    for name, value in (("num_layers", num_layers), ("kernel_size", kernel_size), ("input_len", input_len)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"convlstm_lead1_reach: '{name}' must be a positive integer, got {value!r}")
    if kernel_size % 2 == 0:
        raise InputError(f"convlstm_lead1_reach: 'kernel_size' must be odd, got {kernel_size}")
    r = (kernel_size - 1) // 2
    lags = np.arange(input_len)[::-1]
    return r * (lags + num_layers)
