r"""How big and how costly a model is: parameters, FLOPs of a rollout (measured), and time.

The seed says ConvLSTM's architecture "is simple" and PredRNN's "is complex due to the use of
dual memory mechanisms". This module turns that into numbers:

* :func:`count_parameters` — trainable numbers in the model (works on ``meta`` models too, so
  the papers' 4 × 128-channel sizes cost no memory);
* :func:`rollout_flops` — the floating-point operations of one test-time forecast
  (``model.predict``), **counted while it runs** by :class:`torch.utils.flop_counter.FlopCounterMode`,
  with the split per recurrent step and per sub-module;
* :func:`measure_flops` — the same count for any callable (a single cell step, say);
* :func:`time_rollout` — wall-clock time of a forecast (and optionally a training step),
  after warm-up, median of a few repeats.

What is counted: every convolution, transposed convolution and matrix product, at
2 FLOPs per multiply–add. A 'same' convolution with kernel k from C_in to C_out channels on an
H × W grid costs

.. math:: \mathrm{FLOPs} = 2 \, k^2 \, C_\text{in} \, C_\text{out} \, H \, W

(stride s divides H·W by s²). The element-wise gate arithmetic (σ, tanh, ⊙, +), layer norm and
TrajGRU's bilinear warping (``grid_sample``) are not counted: for these models they are a few
operations per state value, against 2·k²·C_in per output value for a convolution (≥ 576 at
lesson size), so the count is the models' cost to within a few per cent.

Taught in lesson 10 (comparing the models: complexity); the GPU benchmarks reuse
:func:`rollout_flops`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ._checks import check_int

Tensor = torch.Tensor

__all__ = ["conv_flops", "count_parameters", "measure_flops", "rollout_flops", "time_rollout"]


def _check_model(where: str, model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{where}: 'model' must be a torch.nn.Module (e.g. from stlearn.models.build_model), "
                        f"got {type(model).__name__}")
    return model


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``model``: the sum of ``p.numel()``.

    Works on models built on the ``meta`` device (no memory), e.g. the paper's PredRNN
    (4 × 128 channels, kernel 5, patch 4): 23 838 720.

    Taught in lesson 10 (comparing the models: complexity).
    """
    _check_model("count_parameters", model)
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def conv_flops(in_channels: int, out_channels: int, kernel_size: int, height: int, width: int, stride: int = 1) -> int:
    r"""The hand formula for one 2-D convolution: :math:`2 k^2 C_\text{in} C_\text{out} H_\text{out} W_\text{out}`.

    ``height``, ``width`` are the input's; with 'same' padding the output is (⌈H/s⌉, ⌈W/s⌉).
    Used to check :func:`rollout_flops` against paper and pencil.

    Taught in lesson 10 (comparing the models: complexity).
    """
    where = "conv_flops"
    values = [check_int(where, n, v) for n, v in (("in_channels", in_channels), ("out_channels", out_channels),
                                                  ("kernel_size", kernel_size), ("height", height),
                                                  ("width", width), ("stride", stride))]
    c_in, c_out, k, h, w, s = values
    return 2 * k * k * c_in * c_out * (-(-h // s)) * (-(-w // s))


def measure_flops(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """FLOPs (2 per multiply–add of convolutions and matrix products) of ``fn(*args, **kwargs)``, counted as it runs.

    Example: ``measure_flops(cell, x, state)`` for one ConvLSTM cell step.

    Taught in lesson 10 (comparing the models: complexity).
    """
    if not callable(fn):
        raise TypeError(f"measure_flops: 'fn' must be callable (a module or function), got {type(fn).__name__}")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        fn(*args, **kwargs)
    return int(counter.get_total_flops())


def _step_markers(model: nn.Module) -> list[nn.Module]:
    """Modules whose every call starts a new recurrent step (empty when the model has none we know)."""
    cells = getattr(model, "cell_list", None)
    if isinstance(cells, nn.ModuleList) and len(cells) > 0:
        return [cells[0]]  # the rollout models: layer 0 runs once per step
    encoder, forecaster = getattr(model, "encoder", None), getattr(model, "forecaster", None)
    if isinstance(encoder, nn.ModuleList) and isinstance(forecaster, nn.ModuleList) and encoder and forecaster:
        return [encoder[0], forecaster[-1]]  # TrajGRU: encoder bottom scale, forecaster top scale
    return []


def _parts(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's sub-modules one level down, module lists opened: ``cell_list.0``, ``conv_last`` …"""
    out = []
    for name, child in model.named_children():
        if isinstance(child, (nn.ModuleList, nn.ModuleDict)):
            out.extend((f"{name}.{sub}", grandchild) for sub, grandchild in child.named_children())
        else:
            out.append((name, child))
    return out


def _example_inputs(where: str, model: nn.Module, batch: int, length: int, generator_seed: int = 0) -> Tensor:
    channels = getattr(model, "in_channels", None)
    frame_size = getattr(model, "frame_size", None)
    if channels is None or frame_size is None:
        raise TypeError(
            f"{where}: 'model' must be a stlearn model with 'in_channels' and 'frame_size' "
            f"(stlearn.models.build_model(...)), got {type(model).__name__}"
        )
    weight = next(model.parameters())
    shape = (batch, length, channels, *frame_size)
    if weight.device.type == "meta":
        return torch.empty(shape, dtype=weight.dtype, device="meta")
    gen = torch.Generator().manual_seed(generator_seed)
    return torch.rand(shape, generator=gen, dtype=torch.float64).to(weight.dtype).to(weight.device)


def _check_lengths(where: str, batch: object, seq_len: object, input_len: object) -> tuple[int, int, int]:
    b = check_int(where, "batch", batch)
    t = check_int(where, "seq_len", seq_len, 2)
    n = check_int(where, "input_len", input_len)
    if n >= t:
        raise ValueError(f"{where}: 'input_len' must be smaller than 'seq_len' (1 ≤ input_len < seq_len), "
                         f"got input_len={n}, seq_len={t}")
    return b, t, n


def rollout_flops(model: nn.Module, batch: int = 1, seq_len: int = 20, input_len: int = 10) -> dict[str, Any]:
    """FLOPs of one test-time forecast ``model.predict(inputs, seq_len - input_len)``, counted as it runs.

    The inputs are ``batch`` random sequences of ``input_len`` frames at the model's frame size
    (FLOPs do not depend on the values). A model on the ``meta`` device is counted without
    computing anything — use it for the papers' sizes.

    Returns a dict:

    * ``"flops"`` — total (2 per multiply–add), ``"macs"`` — multiply–adds (flops / 2);
    * ``"per_step"`` — FLOPs of each recurrent step, in order (19 steps for the rollout models,
      which step through frames 0 … 18; 20 for TrajGRU: 10 encoder + 10 forecaster steps);
      empty for a model whose steps this function does not know;
    * ``"per_module"`` — FLOPs per sub-module (``"cell_list.0"``, ``"conv_last"``, …);
    * ``"by_operator"`` — FLOPs per aten operator (``"convolution"`` …);
    * ``"parameters"``, ``"batch"``, ``"seq_len"``, ``"input_len"``, ``"frame_size"``.

    Taught in lesson 10 (comparing the models: complexity); ``benchmarks`` reuse it on the GPU.
    """
    where = "rollout_flops"
    _check_model(where, model)
    if not hasattr(model, "predict"):
        raise TypeError(f"{where}: 'model' must have a predict(inputs, pred_len) method (a stlearn model), "
                        f"got {type(model).__name__}")
    batch, seq_len, input_len = _check_lengths(where, batch, seq_len, input_len)
    inputs = _example_inputs(where, model, batch, input_len)
    counter = FlopCounterMode(display=False)
    marks: list[int] = []
    per_module: dict[str, int] = {}
    started: dict[str, int] = {}
    handles = []

    def total() -> int:
        return int(counter.get_total_flops())

    for marker in _step_markers(model):
        handles.append(marker.register_forward_pre_hook(lambda mod, args: marks.append(total())))
    for name, part in _parts(model):
        per_module[name] = 0

        def pre(mod: nn.Module, args: Any, name: str = name) -> None:
            started[name] = total()

        def post(mod: nn.Module, args: Any, out: Any, name: str = name) -> None:
            per_module[name] += total() - started.pop(name)

        handles.append(part.register_forward_pre_hook(pre))
        handles.append(part.register_forward_hook(post))
    try:
        with counter:
            model.predict(inputs, seq_len - input_len)  # type: ignore[operator]
    finally:
        for h in handles:
            h.remove()
    flops = total()
    per_step = []
    if marks:
        bounds = [*sorted(marks), flops]
        bounds[0] = 0  # anything before the first step (there is nothing: patching is a reshape)
        per_step = [bounds[i + 1] - bounds[i] for i in range(len(bounds) - 1)]
    by_op = {str(op).split(".")[-1]: int(v) for op, v in counter.get_flop_counts().get("Global", {}).items()}
    return {
        "flops": flops,
        "macs": flops // 2,
        "per_step": per_step,
        "per_module": {k: v for k, v in per_module.items()},
        "by_operator": by_op,
        "parameters": count_parameters(model),
        "batch": batch,
        "seq_len": seq_len,
        "input_len": input_len,
        "frame_size": tuple(model.frame_size)  # type: ignore[arg-type],
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_time(fn: Callable[[], Any], device: torch.device, warmup: int, repeats: int) -> list[float]:
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def time_rollout(
    model: nn.Module,
    batch: int = 1,
    seq_len: int = 20,
    input_len: int = 10,
    repeats: int = 3,
    warmup: int = 1,
    train_step: bool = False,
) -> dict[str, Any]:
    """Wall-clock seconds of one forecast (``model.predict``), and optionally of one training step.

    Runs ``warmup`` untimed calls, then ``repeats`` timed ones, and reports the median (on a GPU
    it synchronises before reading the clock). The training step is ``model(frames, mask=ones)``
    (teacher forcing) then ``loss.backward()``, no optimizer update; the model's weights and
    gradients are left as they were.

    Returns ``{"inference_s": median, "inference_all_s": [...], "train_step_s": median or None,
    "train_step_all_s": [...], "batch", "seq_len", "input_len", "repeats", "device", "threads"}``.
    Timings depend on the machine and on what else runs on it: print them, never assert on them.

    Taught in lesson 10 (comparing the models: speed measured live).
    """
    where = "time_rollout"
    _check_model(where, model)
    batch, seq_len, input_len = _check_lengths(where, batch, seq_len, input_len)
    repeats = check_int(where, "repeats", repeats)
    warmup = check_int(where, "warmup", warmup, 0)
    if not isinstance(train_step, bool):
        raise TypeError(f"{where}: 'train_step' must be True or False, got {train_step!r}")
    frames = _example_inputs(where, model, batch, seq_len)
    if frames.device.type == "meta":
        raise ValueError(f"{where}: a model on the 'meta' device cannot be timed; build it on the CPU or a GPU")
    device = frames.device
    inputs = frames[:, :input_len]
    inference = _median_time(lambda: model.predict(inputs, seq_len - input_len), device, warmup, repeats)  # type: ignore[operator]
    training: list[float] = []
    if train_step:
        mask = frames.new_ones(batch, seq_len - 2)
        saved = [(p, p.grad) for p in model.parameters()]
        was_training = model.training
        model.train()

        def step() -> None:
            for p in model.parameters():
                p.grad = None
            out = model(frames, mask=mask, input_len=input_len)
            out.loss.backward()

        try:
            training = _median_time(step, device, warmup, repeats)
        finally:
            for p, g in saved:
                p.grad = g
            model.train(was_training)
    return {
        "inference_s": statistics.median(inference),
        "inference_all_s": inference,
        "train_step_s": statistics.median(training) if training else None,
        "train_step_all_s": training,
        "batch": batch,
        "seq_len": seq_len,
        "input_len": input_len,
        "repeats": repeats,
        "device": str(device),
        "threads": torch.get_num_threads(),
    }
