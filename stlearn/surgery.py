r"""Gate surgery: change one gate of a trained model during a rollout and watch the forecast (lesson 4).

A :class:`Surgery` names an edit, a gate (or state), the layers and the steps it acts on.
:func:`run_surgery` runs the model at test time (true frames for steps t < input_len, its own
predictions after) with **every** cell on its trace path (:mod:`stlearn.gates`), handing the edit to
the cells' ``trace`` (:class:`stlearn.cells.GateEdit`) at the chosen (step, layer) only. The
unmodified run is the same call with ``surgery=None``, so an identity edit (scale 1, bias 0) gives
bit-identical predictions; the models' fast ``forward`` is not involved and unchanged.

The edits, for a gate or state :math:`g` of layer :math:`l` at step :math:`t` (all channels and pixels, or only
the selected ones: see *Where* below):

* ``"clamp"``: :math:`g \leftarrow v` — the computed value is replaced by the constant v, after the
  activation; every later line of the step uses v. E.g. clamping :math:`f_t` to 0 gives
  :math:`C_t = i_t \odot \tilde C_t`.
* ``"scale"``: :math:`g \leftarrow s\,g`, after the activation.
* ``"bias"``: δ is added **inside** the activation, to the pre-activation — for the forget gate
  :math:`f_t = \sigma(W_{xf} * X_t + W_{hf} * H_{t-1} + W_{cf} \odot C_{t-1} + b_f + \delta)`, exactly as
  if the bias :math:`b_f` were :math:`b_f + \delta` at those steps. The gate stays in its range. Gates only
  (i, f, c_tilde / g, o and the primed gates), not the states C, M, H.
* ``"zero_m"`` (PredRNN, PredRNN-V2): :math:`M^l_t \leftarrow 0` right after its update, so the
  layer's output fusion and the next reader of M (the layer above, or layer 0 at the next step) see 0.
* ``"cut_zigzag"`` (PredRNN, PredRNN-V2): the same weights run with ``zigzag=False`` at every step
  and layer: layer l reads its own :math:`M^l_{t-1}` instead of :math:`M^{l-1}_t` (layer 0 instead of
  :math:`M^{L-1}_{t-1}`) — the memory no longer travels up the stack and back down.

Where: by default an edit acts on every channel and pixel of :math:`g`. ``channels`` restricts it to some
channels, ``region`` to a rectangle of the cells' grid (rows r₀ ≤ r < r₁, columns c₀ ≤ c < c₁, in grid cells
of the patched frame: 16 × 16 for 64 × 64 frames with patch 4) or to a boolean (H, W) mask. With the selection
:math:`S` (channels × pixels), clamp becomes :math:`g \leftarrow v` on :math:`S`, :math:`g` elsewhere; scale
:math:`g \leftarrow s\,g` on :math:`S`; bias adds δ to the pre-activation on :math:`S` only. Outside :math:`S`
the edited step computes what the unmodified step computes (later steps differ, as the edit's effect spreads).
Lessons 4-6 (GateSurgery, its channel and region controls).

Steps: step t reads :math:`X_t` and predicts :math:`\hat x_{t+1}`. ``"encoder"`` = the steps that
read true frames (t < input_len), ``"forecast"`` = those that read the model's own predictions
(t ≥ input_len), ``"all"``, or explicit step numbers.

Resuming (what lesson 4's widget does on every control change): an edit first acts at step
:math:`t_0 = \min(\text{steps})`, so steps t < t₀ compute exactly what the unmodified run computed.
``run_surgery(..., baseline=unmodified)`` takes the states after step t₀ − 1, the predictions and the
records of steps t < t₀ from an unmodified result of the same model and frames and runs only steps
t ≥ t₀ — the same numbers, bit for bit, as the full edited rollout (a forecast edit re-runs only the
forecast steps).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .cells import ConvLSTMCell, GateEdit, STLSTMCell
from .models.base import ModelTrace, TraceSpec, _Tracer
from .models.patching import patch_frames, unpatch_frames

Tensor = torch.Tensor

__all__ = ["EDITS", "Surgery", "SurgeryResult", "run_surgery", "surgery_selection", "surgery_targets"]

#: the edits :class:`Surgery` knows
EDITS = ("clamp", "bias", "scale", "zero_m", "cut_zigzag")

# what each cell computes, with the range of its activation ("state": not a gate, no bias)
_CONVLSTM = {"i": (0.0, 1.0), "f": (0.0, 1.0), "c_tilde": (-1.0, 1.0), "o": (0.0, 1.0), "c": "state", "h": "state"}
_STLSTM = {
    "i": (0.0, 1.0), "f": (0.0, 1.0), "g": (-1.0, 1.0), "c": "state",
    "i_prime": (0.0, 1.0), "f_prime": (0.0, 1.0), "g_prime": (-1.0, 1.0), "m": "state",
    "o": (0.0, 1.0), "h": "state",
}  # fmt: skip


def surgery_targets(model: torch.nn.Module) -> dict[str, Any]:
    """The gates and states of ``model`` that a :class:`Surgery` may edit: name → (low, high) range or "state".

    ConvLSTM: ``i, f, c_tilde, o`` and the states ``c, h``; PredRNN / PredRNN-V2 (ST-LSTM):
    ``i, f, g, i_prime, f_prime, g_prime, o`` and ``c, m, h``. Other models raise TypeError.

    Taught in lesson 4 ("Gate surgery").
    """
    cells = list(getattr(model, "cell_list", []))
    if cells and all(isinstance(c, ConvLSTMCell) for c in cells):
        return dict(_CONVLSTM)
    if cells and all(isinstance(c, STLSTMCell) for c in cells):
        return dict(_STLSTM)
    raise TypeError(
        f"gate surgery works on ConvLSTM, PredRNN and PredRNN-V2 (ConvLSTM or ST-LSTM cells); "
        f"got {type(model).__name__}"
    )


@dataclass(frozen=True)
class Surgery:
    """One intervention: ``edit`` of ``gate`` by ``value`` in ``layers`` at ``steps``.

    Args:
        edit: one of :data:`EDITS`; see the module docstring for the equation of each.
        gate: the gate or state to edit (:func:`surgery_targets`); None for ``zero_m`` (it edits
            ``m``) and ``cut_zigzag``.
        value: v (clamp), δ (bias) or s (scale); unused by ``zero_m`` and ``cut_zigzag``.
        layers: a layer index, a sequence of them, or None for every layer.
        steps: ``"all"``, ``"encoder"`` (t < input_len), ``"forecast"`` (t ≥ input_len), a step
            number or a sequence of them.
        channels: None (every channel), a channel index or a sequence of them (checked against the layers'
            hidden channels when the surgery runs).
        region: None (every pixel), a rectangle ``((r0, r1), (c0, c1))`` of grid rows r0 ≤ r < r1 and columns
            c0 ≤ c < c1, or a boolean (H, W) mask over the grid (stored as nested tuples); checked against the
            grid when the surgery runs.

    Taught in lesson 4 ("Gate surgery"); channels and regions in lessons 4-6.
    """

    edit: str
    gate: str | None = None
    value: float = 0.0
    layers: int | Sequence[int] | None = None
    steps: str | int | Sequence[int] = "all"
    channels: int | Sequence[int] | None = None
    region: Any = None

    def __post_init__(self) -> None:
        if self.edit not in EDITS:
            raise ValueError(f"Surgery: 'edit' must be one of {EDITS}, got {self.edit!r}")
        if self.edit in ("zero_m", "cut_zigzag"):
            if self.gate not in (None, "m"):
                raise ValueError(f"Surgery: edit {self.edit!r} takes no gate (it acts on M), got gate={self.gate!r}")
        elif not isinstance(self.gate, str):
            raise ValueError(f"Surgery: edit {self.edit!r} needs a gate name, e.g. gate='f'; got {self.gate!r}")
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)) or not math.isfinite(self.value):
            raise ValueError(f"Surgery: 'value' must be a finite number, got {self.value!r}")
        if self.edit == "cut_zigzag" and (self.layers is not None or self.steps != "all"):
            raise ValueError("Surgery: 'cut_zigzag' acts on every step and layer; leave layers=None, steps='all'")
        if self.edit == "cut_zigzag" and (self.channels is not None or self.region is not None):
            raise ValueError("Surgery: 'cut_zigzag' reroutes the whole memory; leave channels=None, region=None")
        object.__setattr__(self, "channels", _normalise_channels(self.channels))
        object.__setattr__(self, "region", _normalise_region(self.region))

    @property
    def selective(self) -> bool:
        """True when the edit acts on some channels or a region only (lessons 4-6)."""
        return self.channels is not None or self.region is not None

    @property
    def target(self) -> str | None:
        """The gate or state the edit changes (``"m"`` for zero_m, None for cut_zigzag)."""
        return "m" if self.edit == "zero_m" else self.gate

    def describe(self) -> str:
        """The edit as one line of text, e.g. ``f ← 0 (clamp), layers [0], steps forecast``."""
        where = f"layers {'all' if self.layers is None else self.layers}, steps {self.steps}"
        if self.channels is not None:
            where += f", channels {list(self.channels)}"
        if self.region is not None and not isinstance(self.region[0][0], bool):
            (r0, r1), (c0, c1) = self.region
            where += f", rows {r0}–{r1 - 1} × cols {c0}–{c1 - 1}"
        elif self.region is not None:
            where += f", {sum(map(sum, self.region))} masked grid cells"
        if self.edit == "cut_zigzag":
            return "zigzag cut: layer l reads its own M^l_{t-1} (every step and layer)"
        if self.edit == "zero_m":
            return f"M ← 0 after its update, {where}"
        what = {
            "clamp": f"{self.gate} ← {self.value:g}",
            "scale": f"{self.gate} ← {self.value:g}·{self.gate}",
            "bias": f"{self.gate} = act(pre-activation {self.value:+g})",
        }[self.edit]
        return f"{what} ({self.edit}), {where}"


def _normalise_channels(channels: Any) -> tuple[int, ...] | None:
    """None, or the sorted distinct channel indices (each an int ≥ 0)."""
    if channels is None:
        return None
    wanted = [channels] if isinstance(channels, (int, np.integer)) and not isinstance(channels, bool) else channels
    if isinstance(wanted, (str, bytes)) or not isinstance(wanted, (Sequence, np.ndarray)) or len(wanted) == 0:
        raise ValueError(f"Surgery: 'channels' must be None, a channel index or a list of them, got {channels!r}")
    for c in wanted:
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 0:
            raise ValueError(f"Surgery: 'channels' must hold channel indices ≥ 0, got {c!r} in {channels!r}")
    return tuple(sorted({int(c) for c in wanted}))


def _normalise_region(region: Any) -> Any:
    """None, a rectangle ((r0, r1), (c0, c1)) with 0 ≤ r0 < r1 and 0 ≤ c0 < c1, or a boolean mask as nested tuples."""
    if region is None:
        return None
    expected = "None, a rectangle ((row0, row1), (col0, col1)) of grid cells, or a boolean (H, W) mask"
    if isinstance(region, (torch.Tensor, np.ndarray)):
        mask = region.detach().cpu().numpy() if isinstance(region, torch.Tensor) else region
        if mask.ndim != 2 or mask.dtype != np.bool_:
            raise ValueError(f"Surgery: 'region' must be {expected}; got an array of shape {mask.shape}, {mask.dtype}")
        if not mask.any():
            raise ValueError("Surgery: the 'region' mask selects no grid cell")
        return tuple(tuple(bool(v) for v in row) for row in mask)
    try:
        (r0, r1), (c0, c1) = region
    except (TypeError, ValueError):
        raise ValueError(f"Surgery: 'region' must be {expected}, got {region!r}") from None
    for v in (r0, r1, c0, c1):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"Surgery: 'region' must be {expected}; its bounds must be integers, got {region!r}")
    if not (0 <= r0 < r1 and 0 <= c0 < c1):
        raise ValueError(
            f"Surgery: 'region' rows {r0}…{r1} and columns {c0}…{c1} must satisfy 0 ≤ start < stop "
            "(rows start ≤ r < stop, like a slice)"
        )
    return ((int(r0), int(r1)), (int(c0), int(c1)))


def _region_mask(where: str, region: Any, grid: tuple[int, int]) -> Tensor | None:
    """The (H, W) boolean mask of ``region`` on a grid of ``grid`` cells (None: every pixel)."""
    if region is None:
        return None
    gh, gw = grid
    if isinstance(region[0][0], bool):
        mask = torch.tensor(region, dtype=torch.bool)
        if tuple(mask.shape) != (gh, gw):
            raise ValueError(f"{where}: the 'region' mask is {tuple(mask.shape)}; the cells' grid is ({gh}, {gw})")
        return mask
    (r0, r1), (c0, c1) = region
    if r1 > gh or c1 > gw:
        raise ValueError(
            f"{where}: 'region' rows {r0}…{r1 - 1}, columns {c0}…{c1 - 1} do not fit the cells' grid of "
            f"{gh} × {gw} (rows 0 … {gh - 1}, columns 0 … {gw - 1})"
        )
    mask = torch.zeros(gh, gw, dtype=torch.bool)
    mask[r0:r1, c0:c1] = True
    return mask


def surgery_selection(model: torch.nn.Module, surgery: Surgery, layer: int, grid: tuple[int, int]) -> Tensor | None:
    """The boolean (1, C, H, W) selection of ``surgery`` in ``layer`` (None: every channel and pixel).

    ``grid`` is the cells' (H, W): the frame size over the patch size. Taught in lesson 4 (channel and region
    edits; lessons 5 and 6 use them).
    """
    where = "run_surgery"
    if not surgery.selective:
        return None
    n_ch = model.cell_list[layer].hidden_channels  # type: ignore[index]
    sel = torch.ones(1, n_ch, *grid, dtype=torch.bool)
    if surgery.channels is not None:
        bad = [c for c in surgery.channels if c >= n_ch]
        if bad:
            raise ValueError(
                f"{where}: channel {bad[0]} does not exist in layer {layer}; it has channels 0 … {n_ch - 1}"
            )
        on = torch.zeros(n_ch, dtype=torch.bool)
        on[list(surgery.channels)] = True
        sel &= on[None, :, None, None]
    mask = _region_mask(where, surgery.region, grid)
    if mask is not None:
        sel &= mask[None, None]
    return sel


class _Edit(GateEdit):
    """The cells' hook for one :class:`Surgery` (it is only handed to the chosen steps and layers).

    ``select`` (a boolean (1, C, H, W) tensor, or None for everything) restricts the edit to some channels and
    pixels; the unselected ones keep the computed value.
    """

    def __init__(self, kind: str, target: str, value: float, select: Tensor | None = None) -> None:
        self.kind, self.target, self.value, self.select = kind, target, float(value), select

    def pre(self, name: str, z: Tensor) -> Tensor:
        if self.kind == "bias" and name == self.target:
            if self.select is not None:
                # z_g ← z_g + δ on the selection S only
                return z + self.value * self.select.to(z.dtype)
            # z_g ← z_g + δ: the whole pre-activation of gate g moves by δ (as if its bias were b_g + δ)
            return z + self.value
        return z

    def post(self, name: str, value: Tensor) -> Tensor:
        if name != self.target:
            return value
        if self.kind == "clamp":
            if self.select is not None:
                # g ← v on S, g elsewhere
                return torch.where(self.select, torch.full_like(value, self.value), value)
            # g ← v at every channel and pixel (zero_m: M^l_t ← 0)
            return torch.full_like(value, self.value)
        if self.kind == "scale":
            if self.select is not None:
                # g ← s·g on S, g elsewhere
                return torch.where(self.select, value * self.value, value)
            # g ← s·g
            return value * self.value
        return value


class _SurgeryTracer(_Tracer):
    """Every (step, layer) on the trace path; the edit goes to the chosen ones only."""

    def __init__(self, n_steps: int, n_layers: int, edits: dict[int, GateEdit], steps: frozenset, layers: frozenset):
        super().__init__("run_surgery", TraceSpec(), n_steps, n_layers)
        self.edits, self.edit_steps, self.edit_layers = edits, steps, layers

    def call(self, t: int, layer: int, cell: torch.nn.Module, *args: Any) -> Any:
        chosen = t in self.edit_steps and layer in self.edit_layers
        out, record = cell.trace(*args, edit=self.edits.get(layer) if chosen else None)  # type: ignore[operator]
        self.records[(t, layer)] = record
        return out


@dataclass(frozen=True)
class SurgeryResult:
    """What :func:`run_surgery` returns (lesson 4).

    Attributes:
        predictions: the forecast, (B, T − input_len, C, H, W) (not clipped).
        next_frames: every one-step prediction :math:`\\hat x_1 … \\hat x_{T-1}`, (B, T − 1, C, H, W).
        trace: the (edited) record of every step and layer.
        steps: the steps the edit acted on; ``layers``: the layers.

    An unmodified result (``surgery=None``) also keeps the state after every step (private), so
    that ``run_surgery(..., baseline=result)`` can resume from it.
    """

    predictions: Tensor
    next_frames: Tensor
    trace: ModelTrace
    steps: tuple[int, ...]
    layers: tuple[int, ...]
    _resume: Any = field(default=None, repr=False, compare=False)

    def resumable_by(self, model: torch.nn.Module) -> SurgeryResult:
        """This unmodified run, to be resumed (``run_surgery(model, ..., baseline=...)``) by ``model``: a copy of the
        model that made it (same class, weights and zigzag switch) — lesson 4's GateSurgery runs edits ahead on a
        copy and shares the unmodified runs between the two. Raises ValueError for a model that would compute
        something else."""
        res = self._resume
        if res is None:
            raise TypeError("resumable_by: only an unmodified run (surgery=None) can be resumed")
        if model is res.model:
            return self
        mine, theirs = res.model.state_dict(), model.state_dict()
        same = (type(model) is type(res.model) and getattr(model, "zigzag", None) == getattr(res.model, "zigzag", None)
                and mine.keys() == theirs.keys()
                and all(mine[k].shape == theirs[k].shape and torch.equal(mine[k], theirs[k])
                        for k in mine))  # fmt: skip
        if not same:
            raise ValueError(
                f"resumable_by: this run was made by a {type(res.model).__name__} with other weights (or another "
                f"zigzag switch) than the given {type(model).__name__}: resumed, it would mix two models"
            )
        return SurgeryResult(self.predictions, self.next_frames, self.trace, self.steps, self.layers,
                             _Resume(model, res.frames, res.input_len, res.states, res.outputs))  # fmt: skip


@dataclass(frozen=True)
class _Resume:
    """What an unmodified run keeps to be resumed: its model, frames, input_len, states and outputs per step."""

    model: torch.nn.Module
    frames: Tensor
    input_len: int
    states: list[Any]  # states[t]: the recurrent state after step t
    outputs: list[Tensor]  # outputs[t]: x̂_{t+1} in patch space


def _copy_state(state: Any) -> Any:
    """A copy of the state's lists and tuples (the cells return new tensors; ``_step`` reassigns list items)."""
    if isinstance(state, (list, tuple)):
        return type(state)(_copy_state(s) for s in state)
    return state


def _check_baseline(where: str, baseline: Any, model: torch.nn.Module, frames: Tensor, input_len: int) -> _Resume:
    if not isinstance(baseline, SurgeryResult) or baseline._resume is None:
        raise TypeError(
            f"{where}: 'baseline' must be the result of run_surgery(model, frames, None, input_len) "
            f"(the unmodified run), got {type(baseline).__name__}"
        )
    res = baseline._resume
    if res.model is not model or res.input_len != input_len:
        raise ValueError(f"{where}: 'baseline' was computed with another model or input_len")
    if res.frames.shape != frames.shape or not torch.equal(res.frames, frames):
        raise ValueError(f"{where}: 'baseline' was computed on other frames")
    return res


def _resolve_layers(where: str, layers: Any, n_layers: int) -> frozenset[int]:
    if layers is None:
        return frozenset(range(n_layers))
    wanted = [layers] if isinstance(layers, int) and not isinstance(layers, bool) else layers
    if isinstance(wanted, (str, bytes)) or not isinstance(wanted, Sequence) or not wanted:
        raise ValueError(f"{where}: 'layers' must be None, a layer index or a list of them, got {layers!r}")
    out = set()
    for k in wanted:
        if isinstance(k, bool) or not isinstance(k, int) or not -n_layers <= k < n_layers:
            raise ValueError(f"{where}: layer {k!r} does not exist; the model has layers 0 … {n_layers - 1}")
        out.add(k % n_layers)
    return frozenset(out)


def _resolve_steps(where: str, steps: Any, n_steps: int, input_len: int) -> frozenset[int]:
    named = {
        "all": range(n_steps),
        "encoder": range(min(input_len, n_steps)),  # steps that read true frames
        "forecast": range(input_len, n_steps),  # steps that read the model's own predictions
    }
    if isinstance(steps, str):
        if steps not in named:
            raise ValueError(f"{where}: 'steps' must be 'all', 'encoder', 'forecast' or step numbers, got {steps!r}")
        return frozenset(named[steps])
    wanted = [steps] if isinstance(steps, int) and not isinstance(steps, bool) else steps
    if not isinstance(wanted, Sequence) or not wanted:
        raise ValueError(f"{where}: 'steps' must be 'all', 'encoder', 'forecast' or step numbers, got {steps!r}")
    for t in wanted:
        if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < n_steps:
            raise ValueError(f"{where}: step {t!r} does not exist; this run has steps 0 … {n_steps - 1}")
    return frozenset(wanted)


def _check_surgery(where: str, model: torch.nn.Module, surgery: Surgery) -> None:
    targets = surgery_targets(model)
    name = type(model).__name__
    if surgery.edit in ("zero_m", "cut_zigzag") and not hasattr(model, "zigzag"):
        raise ValueError(
            f"{where}: {name} has no spatiotemporal memory M, so {surgery.edit!r} does not apply; "
            "it is for PredRNN and PredRNN-V2"
        )
    if surgery.edit == "cut_zigzag":
        if not model.zigzag:  # type: ignore[attr-defined]
            raise ValueError(f"{where}: this {name} already runs without the zigzag (zigzag=False)")
        return
    gate = surgery.target
    if gate not in targets:
        raise ValueError(f"{where}: {name} has no gate or state {gate!r}; it has {sorted(targets)}")
    kind = targets[gate]
    if surgery.edit == "bias" and kind == "state":
        raise ValueError(
            f"{where}: 'bias' shifts a gate's pre-activation, and {gate!r} is a state, not a gate; "
            "use 'clamp' or 'scale' on it"
        )
    if surgery.edit == "clamp" and kind != "state" and not kind[0] <= surgery.value <= kind[1]:
        raise ValueError(
            f"{where}: gate {gate!r} takes values in [{kind[0]:g}, {kind[1]:g}]; cannot clamp it to {surgery.value:g}"
        )


def run_surgery(
    model: torch.nn.Module,
    frames: Tensor,
    surgery: Surgery | None = None,
    input_len: int = 10,
    *,
    baseline: SurgeryResult | None = None,
) -> SurgeryResult:
    """Test-time rollout of ``model`` over ``frames`` with ``surgery`` applied (None: unmodified).

    Args:
        model: a ConvLSTM, PredRNN or PredRNN-V2 (:mod:`stlearn.models`).
        frames: (B, T, C, H, W) in [0, 1]; the first ``input_len`` are read, T − input_len are forecast
            (the remaining true frames are only needed by the caller to score the forecast).
        surgery: the edit, or None for the unmodified run (same computation path, so an identity edit
            reproduces it bit for bit).
        input_len: frames read before the model feeds back its own predictions.
        baseline: optionally the unmodified result (``surgery=None``) of the same model, frames and
            input_len: the steps before the edit's first step are taken from it instead of being run
            again (same result bit for bit; ``cut_zigzag`` always runs every step).

    Returns:
        A :class:`SurgeryResult`. Runs in eval mode without gradients; the model is left as it was.

    Taught in lesson 4 ("Gate surgery"); lessons 5-7 use it on PredRNN's memories.
    """
    where = "run_surgery"
    surgery_targets(model)  # the model must have editable cells
    if surgery is not None and not isinstance(surgery, Surgery):
        raise TypeError(f"{where}: 'surgery' must be a Surgery or None, got {type(surgery).__name__}")
    model._check_frames(where, "frames", frames)  # type: ignore[operator]
    total_len = frames.shape[1]
    if isinstance(input_len, bool) or not isinstance(input_len, int) or not 1 <= input_len < total_len:
        raise ValueError(f"{where}: 'input_len' must satisfy 1 ≤ input_len < T = {total_len}, got {input_len!r}")
    n_steps, n_layers = total_len - 1, model.num_layers
    edits: dict[int, GateEdit] = {}
    steps, layers, cut = frozenset(), frozenset(), False
    if surgery is not None:
        _check_surgery(where, model, surgery)
        steps = _resolve_steps(where, surgery.steps, n_steps, input_len)
        layers = _resolve_layers(where, surgery.layers, n_layers)
        cut = surgery.edit == "cut_zigzag"
        if not cut:
            grid = (frames.shape[-2] // model.patch_size, frames.shape[-1] // model.patch_size)
            kind = "clamp" if surgery.edit == "zero_m" else surgery.edit
            for k in layers:
                sel = surgery_selection(model, surgery, k, grid)
                value = 0.0 if surgery.edit == "zero_m" else surgery.value  # zero_m: M ← 0 whatever 'value' says
                edits[k] = _Edit(kind, surgery.target, value, sel)  # type: ignore[arg-type]
    start = 0
    if baseline is not None:
        resume = _check_baseline(where, baseline, model, frames, input_len)
        # steps before the edit's first step compute exactly what the unmodified run computed
        start = 0 if cut else min(steps, default=n_steps)
    tracer = _SurgeryTracer(n_steps, n_layers, edits, steps, layers)
    p = model.patch_size
    was_training, zigzag = model.training, getattr(model, "zigzag", None)
    model.eval()
    try:
        if cut:
            # same weights, M kept inside each layer: M^l_{t−1} → M^l_t
            model.zigzag = False
        with torch.no_grad():
            x = patch_frames(frames, p)
            if start == 0:
                state, outputs, states = model._init_state(x[:, 0]), [], []  # type: ignore[operator]
            else:
                state, outputs = _copy_state(resume.states[start - 1]), list(resume.outputs[:start])
                states = list(resume.states[:start])
            # the rollout of RolloutModel._run at test time (mask None, no loss terms), from step `start` on
            for t in range(start, n_steps):
                # X_t = x_t for t < input_len, else the model's own x̂_t
                net = x[:, t] if t < input_len else outputs[-1]
                h_top, state = model._step(net, state, t, tracer, None)  # type: ignore[operator]
                # x̂_{t+1} = W_{1×1} * H^{L−1}_t
                outputs.append(model.conv_last(h_top))
                if surgery is None:
                    states.append(_copy_state(state))
    finally:
        model.train(was_training)
        if zigzag is not None:
            model.zigzag = zigzag
    records = tracer.records
    if start > 0:
        records = {k: v for k, v in baseline.trace.records.items() if k[0] < start} | records  # type: ignore[union-attr]
    next_frames = torch.stack(outputs, dim=1)
    keep = _Resume(model, frames, input_len, states, outputs) if surgery is None else None
    return SurgeryResult(
        predictions=unpatch_frames(next_frames[:, input_len - 1 :], p),
        next_frames=unpatch_frames(next_frames, p),
        trace=ModelTrace(records),
        steps=tuple(sorted(steps)),
        layers=tuple(sorted(layers)),
        _resume=keep,
    )
