r"""What the five models share: the call interface, the sampling-mask rollout, and tracing.

Every model maps frames (B, T, C, H, W) in [0, 1] to a forecast of the frames that follow:

* ``model(frames, mask=None, input_len=10, trace=False)`` — one training (or evaluation) pass over
  a whole sequence; returns a :class:`ModelOutput` with the forecast, the loss and, on request,
  the per-step, per-layer gate records.
* ``model.predict(inputs, pred_len)`` — inference only: ``pred_len`` frames after ``inputs``.

The four recurrent-rollout models (ConvLSTM, PredRNN, PredRNN-V2, MIM) run one step per frame,
t = 0 … T−2: step t reads an input frame :math:`X_t` and predicts :math:`\hat x_{t+1}`. Which
:math:`X_t` they read is what scheduled sampling is about (lesson 4):

.. math:: X_t = m_t \, x_t + (1 - m_t) \, \hat x_t

with one mask value :math:`m_t \in [0, 1]` per sample and step. ``mask`` has shape (B, T−2):
column j is :math:`m_{t}` for t = j + 1 (step 0 always reads the true first frame, and step T−1
does not exist). ``mask=None`` is test-time behaviour: true frames for the encoder
(t < input_len), the model's own predictions after; all ones is full teacher forcing.
:mod:`stlearn.training.schedules` builds the masks of PredRNN's two schedules.

Taught in lesson 4 (training a ConvLSTM: teacher forcing, scheduled sampling) and used by every
model lesson after it (6-9).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import (
    check_divisible,
    check_frame_size,
    check_mask,
    check_positive_int,
    check_sequence,
)
from ..errors import InputError
from .patching import patch_frames, unpatch_frames

Tensor = torch.Tensor


def _values_checked(t: Tensor, training: bool) -> bool:
    """Whether to look at a tensor's values (NaN/Inf, mask range) at a model's entry.

    Always on the CPU (the lessons, the widgets, CPU training: one pass, microseconds to a millisecond).
    Not while a CUDA graph is captured or ``torch.compile`` traces (reading a value there is not allowed
    or breaks the graph), nor for a CUDA tensor in training mode (it would synchronise every step; the
    training pool's frames are uint8 / 255, finite by construction), nor for a meta tensor (lesson 10
    counts FLOPs on shapes alone: there are no values to read).
    """
    if torch.compiler.is_compiling() or t.is_meta:
        return False
    if t.is_cuda:
        return not torch.cuda.is_current_stream_capturing() and not training
    return True

__all__ = ["ModelOutput", "ModelTrace", "RolloutModel", "SpatioTemporalModel", "TraceSpec", "lesson_pass"]


def _flushing_denormals() -> bool:
    """Whether this thread flushes denormal floats to zero now (then a denormal times 1 reads as 0)."""
    return float(torch.tensor(1e-39) * 1.0) == 0.0


#: lesson_pass's bookkeeping: the passes running now (in any thread) and the thread count before the first of them
_PASSES = {"running": 0, "threads": 1}
_PASSES_LOCK = threading.Lock()


@contextmanager
def lesson_pass() -> Iterator[None]:
    """Run a lesson-size model pass, or a view's update, on one torch thread with denormal floats flushed to zero
    (both restored after).

    The tensors are small (32 channels, 16×16 patches): a second thread gains little, and on a busy
    2-core machine (the browser paints on the other core, other jobs run) the threads of one operation
    wait for each other (a pass, or a metric over ten 64×64 frames, took 10× longer). Saturated gates
    (σ of a large negative pre-activation) and their gradients reach denormal floats, which the CPU
    computes with slowly: flushed (as training does, :mod:`stlearn.training.loop`), lesson 5's gate surgery
    ran in 52 ms instead of 59-87 and lesson 10's two backward passes in 39 ms instead of 60, for
    differences below 1e-38. Passes may run at once in several threads (lesson 10's two models side by side,
    a view computing ahead in the background): torch's thread count is process-wide, so the first pass to start
    sets it to one and the last to end restores it; the denormal setting is each thread's own. Every view from
    lesson 1 on, and the checkers that run the shipped models (exercises of lessons 3, 4 and 6).
    """
    flushed = _flushing_denormals()
    with _PASSES_LOCK:
        if _PASSES["running"] == 0:
            _PASSES["threads"] = torch.get_num_threads()
            torch.set_num_threads(1)
        _PASSES["running"] += 1
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if not flushed:
            torch.set_flush_denormal(False)
        with _PASSES_LOCK:
            _PASSES["running"] -= 1
            if _PASSES["running"] == 0:
                torch.set_num_threads(_PASSES["threads"])


# ---------------------------------------------------------------------------------------------
# Outputs and traces
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceSpec:
    """Which steps and layers to trace (``None`` = all of them); negative indices count from the end.

    Tracing keeps every gate activation of a traced (step, layer) in memory; limiting it to the
    steps and layers a figure shows keeps long or wide runs affordable.

    Taught in lesson 3 (gate heatmaps) and used by the visualisations of lessons 5-10.
    """

    steps: tuple[int, ...] | None = None
    layers: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        for what in ("steps", "layers"):
            value = getattr(self, what)
            if value is None:
                continue
            if isinstance(value, int):
                value = (value,)
            if not isinstance(value, Sequence) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in value
            ):
                raise TypeError(f"TraceSpec: '{what}' must be None or a sequence of integers, got {value!r}")
            object.__setattr__(self, what, tuple(value))


@dataclass(frozen=True)
class ModelTrace:
    """Per-step, per-layer records of one run: ``trace[t, l]`` is the record of step t, layer l.

    A record is the cell's own dataclass (:class:`~stlearn.cells.ConvLSTMTrace`,
    :class:`~stlearn.cells.STLSTMTrace`, :class:`~stlearn.models.mim_block.MIMBlockTrace`,
    :class:`~stlearn.models.trajgru_cell.TrajGRUTrace`), each field (B, C, H, W) in patch space.
    Step t of a rollout model reads :math:`X_t` and predicts :math:`\\hat x_{t+1}`; step t of
    TrajGRU reads frame t (encoder, t < input_len) or produces frame t (forecaster).

    Taught in lesson 3 (gate heatmaps) and lessons 5-10 (state and memory visualisations).
    """

    records: dict[tuple[int, int], Any]

    @property
    def steps(self) -> tuple[int, ...]:
        """The traced steps, in order."""
        return tuple(sorted({t for t, _ in self.records}))

    @property
    def layers(self) -> tuple[int, ...]:
        """The traced layers, in order."""
        return tuple(sorted({layer for _, layer in self.records}))

    def __getitem__(self, key: tuple[int, int]) -> Any:
        if key not in self.records:
            raise KeyError(f"step/layer {key} was not traced; traced steps {self.steps}, layers {self.layers}")
        return self.records[key]

    def __len__(self) -> int:
        return len(self.records)

    def stack(self, name: str, layer: int) -> Tensor:
        """Field ``name`` of layer ``layer`` over all traced steps: (n_steps, B, C, H, W)."""
        return torch.stack([getattr(self[t, layer], name) for t in self.steps])


class _Tracer:
    """Decides per (step, layer) whether a cell runs its fast path or its trace path."""

    def __init__(self, where: str, spec: TraceSpec | None, n_steps: int, n_layers: int) -> None:
        self.enabled = spec is not None
        self.records: dict[tuple[int, int], Any] = {}
        if spec is not None:
            self.steps = self._resolve(where, "step", spec.steps, n_steps)
            self.layers = self._resolve(where, "layer", spec.layers, n_layers)

    @staticmethod
    def _resolve(where: str, what: str, wanted: tuple[int, ...] | None, n: int) -> frozenset[int]:
        if wanted is None:
            return frozenset(range(n))
        out = set()
        for i in wanted:
            j = i + n if i < 0 else i
            if not 0 <= j < n:
                raise IndexError(f"{where}: trace {what} {i} is out of range: this run has {n} {what}s (0 … {n - 1})")
            out.add(j)
        return frozenset(out)

    def wants(self, t: int, layer: int) -> bool:
        return self.enabled and t in self.steps and layer in self.layers

    def call(self, t: int, layer: int, cell: nn.Module, *args: Any) -> Any:
        """``cell.trace(*args)`` (keeping the record) where traced, else the fast ``cell(*args)``."""
        if not self.wants(t, layer):
            return cell(*args)
        out, record = cell.trace(*args)  # type: ignore[operator]
        self.records[(t, layer)] = record
        return out

    def result(self) -> ModelTrace | None:
        return ModelTrace(self.records) if self.enabled else None


@dataclass
class ModelOutput:
    """What a model's forward pass returns.

    Attributes:
        predictions: the forecast, (B, T − input_len, C, H, W).
        next_frames: for the rollout models, every one-step prediction
            :math:`\\hat x_1 … \\hat x_{T-1}`, (B, T − 1, C, H, W) (encoder steps included);
            ``None`` for TrajGRU's encoder–forecaster.
        loss: the family's training loss (a scalar with a graph).
        loss_terms: its parts, detached, for logging: always ``"mse"``; PredRNN-V2 adds ``"decouple"``.
        trace: ``None``, or the :class:`ModelTrace` asked for with ``trace=``.

    Taught in lesson 4 (training a ConvLSTM) and used by lessons 6-10.
    """

    predictions: Tensor
    next_frames: Tensor | None
    loss: Tensor
    loss_terms: dict[str, Tensor]
    trace: ModelTrace | None = None


@dataclass
class _Run:
    """One pass in patch space, before the loss: what :meth:`SpatioTemporalModel._run` returns."""

    predictions: Tensor
    next_frames: Tensor | None
    aux: dict[str, list[Tensor]] = field(default_factory=dict)
    trace: ModelTrace | None = None


# ---------------------------------------------------------------------------------------------
# The shared interface
# ---------------------------------------------------------------------------------------------


def hidden_list(where: str, hidden_channels: object) -> list[int]:
    """``hidden_channels`` as a list of positive ints, one per layer (or scale); shared check (lesson 10)."""
    if isinstance(hidden_channels, (int, str)) or not isinstance(hidden_channels, Sequence) or not hidden_channels:
        raise ValueError(
            f"{where}: 'hidden_channels' must be a non-empty list of positive integers, one per layer, "
            f"e.g. [32, 32]; got {hidden_channels!r}"
        )
    return [check_positive_int(where, "hidden_channels", h) for h in hidden_channels]


class SpatioTemporalModel(nn.Module):
    """Base of the five models: argument checks, patching, ``forward`` → :class:`ModelOutput`, ``predict``.

    Subclasses set :attr:`name` (the registry key), :attr:`num_layers`, :attr:`config` (their
    constructor arguments as a JSON-able dict, so ``build_model(model.name, **model.config)``
    rebuilds them) and implement ``_run`` (one pass in patch space) and ``_loss``.

    Taught in lesson 4 (the training interface) and lesson 10 (comparing models).
    """

    name: ClassVar[str] = ""
    num_layers: int
    config: dict[str, Any]

    def __init__(
        self, in_channels: int, frame_size: int | Sequence[int], patch_size: int, fixed_frame_size: bool
    ) -> None:
        super().__init__()
        where = type(self).__name__
        self.in_channels = check_positive_int(where, "in_channels", in_channels)
        self.frame_size = check_frame_size(where, frame_size)
        self.patch_size = check_positive_int(where, "patch_size", patch_size)
        check_divisible(where, "frame_size", self.frame_size, self.patch_size, "patch_size")
        #: channels of a patched frame, p·p·C
        self.patch_channels = self.patch_size**2 * self.in_channels
        #: (H/p, W/p): the grid the cells run on
        self.grid_size = (self.frame_size[0] // self.patch_size, self.frame_size[1] // self.patch_size)
        #: True when per-pixel weights (peepholes, layer norm) tie the model to ``frame_size``
        self.fixed_frame_size = bool(fixed_frame_size)

    # -- checks ------------------------------------------------------------------------------

    def _check_frames(self, where: str, name: str, frames: object, training: bool = False) -> Tensor:
        check_sequence(where, name, frames, self.in_channels)
        assert isinstance(frames, Tensor)
        size = (frames.shape[3], frames.shape[4])
        if self.fixed_frame_size and size != self.frame_size:
            raise ValueError(
                f"{where}: argument '{name}' must have frame size (H, W) = {self.frame_size}, as the model was "
                f"built for (its peephole / layer-norm weights are per pixel), got {size}"
            )
        check_divisible(where, name, size, self.patch_size, "patch_size")
        self._check_frame_size(where, name, size)
        if frames.shape[0] == 0 or frames.shape[1] == 0:
            raise InputError(
                f"{where}: argument '{name}' {tuple(frames.shape)} has no "
                f"{'sequences' if frames.shape[0] == 0 else 'frames'}; pass at least one sequence (B ≥ 1) of at "
                "least one frame (T ≥ 1)"
            )
        if _values_checked(frames, training) and not bool(torch.isfinite(frames).all()):
            bad = int((~torch.isfinite(frames)).sum())
            raise InputError(
                f"{where}: argument '{name}' holds {bad} NaN/Inf value(s) of {frames.numel()}; frames must be finite "
                "pixels in [0, 1] (check how they were loaded or computed)"
            )
        weight = next(self.parameters())
        if frames.dtype != weight.dtype or frames.device != weight.device:
            raise TypeError(
                f"{where}: argument '{name}' is {frames.dtype} on {frames.device} but the model's weights are "
                f"{weight.dtype} on {weight.device}; use model.to(...) or frames.to(...) so they agree"
            )
        return frames

    def _check_frame_size(self, where: str, name: str, size: tuple[int, int]) -> None:
        """Hook for further size constraints (TrajGRU's down-sampling)."""

    # -- the two entry points -----------------------------------------------------------------

    def forward(
        self,
        frames: Tensor,
        mask: Tensor | None = None,
        input_len: int = 10,
        trace: bool | TraceSpec = False,
    ) -> ModelOutput:
        """One pass over a whole sequence: forecast, loss and (optionally) the gate records.

        Args:
            frames: (B, T, C, H, W), values in [0, 1]; the first ``input_len`` are the inputs, the
                rest the targets (the rollout models also learn from the encoder steps).
            mask: (B, T − 2) sampling mask, see the module docstring; ``None`` = test time.
                TrajGRU checks but ignores it (its forecaster reads no frames).
            input_len: number of input frames, 1 ≤ input_len < T.
            trace: ``False``, ``True`` (all steps and layers) or a :class:`TraceSpec`.

        Returns:
            :class:`ModelOutput`.
        """
        where = f"{type(self).__name__}.forward"
        training = self.training and torch.is_grad_enabled()
        self._check_frames(where, "frames", frames, training)
        batch, total_len = frames.shape[:2]
        if isinstance(input_len, bool) or not isinstance(input_len, int) or not 1 <= input_len < total_len:
            raise ValueError(
                f"{where}: 'input_len' must be an integer with 1 ≤ input_len < T, where T = {total_len} is the "
                f"number of frames in 'frames' {tuple(frames.shape)}; got {input_len!r}"
            )
        if mask is not None:
            mask = check_mask(where, "mask", mask, (batch, total_len - 2), frames)
            if _values_checked(mask, training) and mask.numel():
                lo, hi = torch.aminmax(mask)
                if not (0.0 <= float(lo) and float(hi) <= 1.0):  # NaN fails too
                    raise InputError(
                        f"{where}: 'mask' values must lie in [0, 1] (1 = feed the true frame, 0 = the model's own "
                        f"prediction), got values in [{float(lo):.4g}, {float(hi):.4g}]"
                    )
        if trace is True:
            trace = TraceSpec()
        elif trace is False or trace is None:
            trace = None
        elif not isinstance(trace, TraceSpec):
            raise TypeError(f"{where}: 'trace' must be False, True or a TraceSpec, got {type(trace).__name__}")
        x = patch_frames(frames, self.patch_size)
        tracer = _Tracer(where, trace, self._num_steps(total_len), self.num_layers)
        run = self._run(x, mask, input_len, total_len, tracer, with_loss=True)
        loss, terms = self._loss(x, run, input_len)
        return ModelOutput(
            predictions=unpatch_frames(run.predictions, self.patch_size),
            next_frames=None if run.next_frames is None else unpatch_frames(run.next_frames, self.patch_size),
            loss=loss,
            loss_terms=terms,
            trace=run.trace,
        )

    def predict(self, inputs: Tensor, pred_len: int) -> Tensor:
        """Forecast ``pred_len`` frames after ``inputs`` (B, T_in, C, H, W): (B, pred_len, C, H, W).

        Runs without gradients, in eval mode (restored afterwards), feeding back its own
        predictions after the inputs — the test-time behaviour.
        """
        where = f"{type(self).__name__}.predict"
        self._check_frames(where, "inputs", inputs)
        check_positive_int(where, "pred_len", pred_len)
        input_len = inputs.shape[1]
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                x = patch_frames(inputs, self.patch_size)
                tracer = _Tracer(where, None, 0, 0)
                run = self._run(x, None, input_len, input_len + pred_len, tracer, with_loss=False)
        finally:
            self.train(was_training)
        return unpatch_frames(run.predictions, self.patch_size)

    # -- for subclasses --------------------------------------------------------------------------

    def _num_steps(self, total_len: int) -> int:
        """Number of recurrent steps of a sequence of ``total_len`` frames (the trace's step range)."""
        raise NotImplementedError

    def _run(
        self, x: Tensor, mask: Tensor | None, input_len: int, total_len: int, tracer: _Tracer, with_loss: bool
    ) -> _Run:
        """One pass over patched frames ``x`` (B, T_x, p·p·C, h, w); T_x may be just ``input_len``.

        ``with_loss=False`` (``predict``) may skip what only the loss needs.
        """
        raise NotImplementedError

    def _loss(self, x: Tensor, run: _Run, input_len: int) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError


class RolloutModel(SpatioTemporalModel):
    r"""The recurrent rollout of the PredRNN family: one step per frame, :math:`\hat x_{t+1}` from step t.

    Subclasses build ``cell_list`` and the output head ``conv_last`` and implement ``_init_state``
    (zero states for a batch) and ``_step`` (one time step through the stack, returning the top
    layer's hidden state). States live only in the rollout, never on the module, so consecutive
    calls may use different batch sizes.

    Loss: the mean squared error over all T − 1 one-step predictions, encoder steps included,
    in patch space (as the official PredRNN code).

    Taught in lesson 4 (the rollout and its sampling mask) and lesson 6 (PredRNN's stack).
    """

    conv_last: nn.Conv2d

    def _num_steps(self, total_len: int) -> int:
        return total_len - 1

    def _init_state(self, x0: Tensor) -> Any:
        raise NotImplementedError

    def _step(
        self, x: Tensor, state: Any, t: int, tracer: _Tracer, aux: dict[str, list[Tensor]] | None
    ) -> tuple[Tensor, Any]:
        """One time step through the stack: ``(H^{L−1}_t, new state)``; ``aux`` collects loss terms (or is None)."""
        raise NotImplementedError

    def _run(
        self, x: Tensor, mask: Tensor | None, input_len: int, total_len: int, tracer: _Tracer, with_loss: bool
    ) -> _Run:
        state = self._init_state(x[:, 0])
        aux: dict[str, list[Tensor]] | None = defaultdict(list) if with_loss else None
        outputs: list[Tensor] = []
        x_gen = x[:, 0]  # placeholder, never read: step 0 always takes the true first frame
        for t in range(total_len - 1):
            if t == 0 or (mask is None and t < input_len):
                net = x[:, t]
            elif mask is None:
                net = x_gen
            else:
                m = mask[:, t - 1].view(-1, 1, 1, 1)
                # X_t = m_t·x_t + (1 − m_t)·x̂_t
                net = m * x[:, t] + (1 - m) * x_gen
            h_top, state = self._step(net, state, t, tracer, aux)
            # x̂_{t+1} = W_{1×1} * H^{L−1}_t   (bias-free, no output activation)
            x_gen = self.conv_last(h_top)
            outputs.append(x_gen)
        next_frames = torch.stack(outputs, dim=1)
        return _Run(next_frames[:, input_len - 1 :], next_frames, dict(aux or {}), tracer.result())

    def _loss(self, x: Tensor, run: _Run, input_len: int) -> tuple[Tensor, dict[str, Tensor]]:
        assert run.next_frames is not None
        # L = mean over t = 1 … T−1 of ‖x̂_t − x_t‖² / (number of values), in patch space
        mse = F.mse_loss(run.next_frames, x[:, 1:])
        return mse, {"mse": mse.detach()}
