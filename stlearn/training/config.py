"""A training run's configuration: the :class:`TrainConfig` dataclass, its TOML files, its schedules.

A run is described by a :class:`TrainConfig` (a small TOML file under ``configs/``): model and its
size, data set, iterations, batch, learning rate, sampling schedule, seed, device. The learning rate
and the sampling schedule are functions of the run's progress ``k / iterations``.

Taught in lesson 4 (training a ConvLSTM); the configurations of the shipped models are in ``configs/``.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from . import schedules

SAMPLING = ("teacher", "scheduled", "reverse", "none")
CAPTURE = ("none", "cudagraph")
# settings that may change when a run is resumed (how the run is executed, not what it computes)
RUNTIME_ONLY = frozenset({"iterations", "threads", "device", "capture", "compile"})


@dataclass
class TrainConfig:
    """Everything that defines a training run (lesson 4). Load one with :func:`load_config`.

    ``sampling``: ``"teacher"`` (true frames everywhere), ``"scheduled"`` (PredRNN's scheduled
    sampling), ``"reverse"`` (PredRNN-V2's reverse scheduled sampling) or ``"none"`` (test-time
    inputs: own predictions after the encoder). ``sampling_config`` overrides the schedule's
    constants, either as iterations (``stop_iteration``, ``tau1``, ``tau2``, ``alpha``: the papers' are
    for 80 000 iterations) or as fractions of this run's budget (``stop_fraction``, ``tau1_fraction``,
    ``tau2_fraction``, ``alpha_fraction``), so the schedule, like the learning-rate decay, is a function
    of the run's progress k / iterations and a run of any length ends decayed.

    ``amp``: bf16 autocast on the run's device (CUDA, or a CPU with native bf16 such as AVX512-BF16
    or AMX; on other CPUs it is emulated and slower — measure first).

    ``time_budget``: seconds of wall-clock time for the whole run (start-up, capture and validation
    included). The run then plans its length from its measured speed — at most ``iterations``, re-planned
    at every validation — and the schedules follow the planned length, so a run stopped by its deadline
    still ends with the learning rate decayed and the sampling schedule run down. Without it the run is
    exactly ``iterations`` long (and bit-for-bit reproducible on one device).

    ``reverse_input``: after each step, a second optimizer step on the time-reversed batch (the official
    PredRNN Moving MNIST scripts' ``reverse_input``: twice the sequences per iteration, the same mask).

    ``capture``: ``"cudagraph"`` records the whole training step (forward, backward, gradient clipping,
    Adam) once as a CUDA graph and replays it — one launch per step instead of thousands (CUDA only).
    ``compile``: the forward and backward through ``torch.compile`` (minutes to compile, then faster
    steps: for long CPU runs; :mod:`stlearn.training.step`).
    """

    model: str
    dataset: str
    model_config: dict[str, Any] = field(default_factory=dict)
    data_config: dict[str, Any] = field(default_factory=dict)
    iterations: int = 1000
    batch_size: int = 8
    lr: float = 1e-3
    lr_final_fraction: float = 1.0
    sampling: str = "reverse"
    sampling_config: dict[str, Any] = field(default_factory=dict)
    input_len: int = 10
    pred_len: int = 10
    seed: int = 0
    device: str = "cpu"
    amp: bool = False
    grad_clip: float | None = 1.0
    val_every: int = 100
    val_sequences: int = 32
    threads: int | None = None
    time_budget: float | None = None
    reverse_input: bool = False
    capture: str = "none"
    compile: bool = False

    def __post_init__(self) -> None:
        if self.sampling not in SAMPLING:
            raise ValueError(f"TrainConfig: 'sampling' must be one of {SAMPLING}, got {self.sampling!r}")
        for name in ("iterations", "batch_size", "input_len", "pred_len", "val_every", "val_sequences"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TrainConfig: '{name}' must be a positive integer, got {value!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"TrainConfig: 'lr' must be a positive number, got {self.lr!r}")
        if self.capture not in CAPTURE:
            raise ValueError(f"TrainConfig: 'capture' must be one of {CAPTURE}, got {self.capture!r}")
        if self.capture == "cudagraph" and not self.device.startswith("cuda"):
            raise ValueError("TrainConfig: capture = 'cudagraph' needs device = 'cuda'")
        if self.time_budget is not None and not (
            isinstance(self.time_budget, (int, float)) and math.isfinite(self.time_budget) and self.time_budget > 0
        ):
            raise ValueError(f"TrainConfig: 'time_budget' must be positive seconds, got {self.time_budget!r}")
        schedule_constants(self)  # raises on unknown or mixed schedule keys

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_config(path: str | Path, **overrides: Any) -> TrainConfig:
    """Read a TOML training configuration; keyword arguments override its values."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no training configuration at {path}")
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; known keys are {sorted(known)}")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**raw)


_FRACTION_KEYS = {
    "scheduled": {"stop_fraction": "stop_iteration"},
    "reverse": {"tau1_fraction": "tau1", "tau2_fraction": "tau2", "alpha_fraction": "alpha"},
}


def schedule_constants(config: TrainConfig, iterations: int | None = None) -> dict[str, Any]:
    """The sampling schedule's keyword arguments in iterations, fractions of the budget resolved (lesson 4).

    ``iterations``: the run's planned length (default ``config.iterations``; a run with a
    ``time_budget`` passes the length it planned).

    ``stop_fraction = 0.625`` on a 5 000-iteration run is ``stop_iteration = 3125`` with
    ``rate = start / 3125`` (the truth probability reaches 0 exactly there); the reverse schedule's
    ``tau1_fraction``, ``tau2_fraction`` and ``alpha_fraction`` scale the same way.
    """
    raw = dict(config.sampling_config)
    fractions = _FRACTION_KEYS.get(config.sampling, {})
    used = [k for k in raw if k in fractions]
    for key in used:
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise ValueError(f"TrainConfig: sampling_config.{key} must be a fraction in (0, 1], got {value!r}")
        if fractions[key] in raw:
            raise ValueError(f"TrainConfig: sampling_config has both {key!r} and {fractions[key]!r}; give one")
    n = config.iterations if iterations is None else iterations
    out = {k: v for k, v in raw.items() if k not in fractions}
    for key in used:
        out[fractions[key]] = raw[key] * n if key == "alpha_fraction" else max(1, round(raw[key] * n))
    if "stop_fraction" in used and "rate" not in out:
        out["rate"] = out.get("start", 1.0) / out["stop_iteration"]
    return out


def lr_factor(config: TrainConfig, iteration: int, iterations: int | None = None) -> float:
    """The learning rate at ``iteration`` over ``config.lr``: linear from 1 to ``lr_final_fraction`` over the run.

    ``iterations``: the planned length (default ``config.iterations``). Lesson 4.
    """
    n = config.iterations if iterations is None else iterations
    return 1.0 - (1.0 - config.lr_final_fraction) * min(iteration, n) / n


def sampling_mask(
    config: TrainConfig, iteration: int, batch_size: int, generator: torch.Generator, iterations: int | None = None
) -> torch.Tensor | None:
    """The scheduled-sampling mask (B, T−2) of ``iteration`` for this run's schedule (lesson 4, lesson 7).

    ``iterations``: the planned length the schedule's fractions refer to (default ``config.iterations``).
    """
    total = config.input_len + config.pred_len
    if config.sampling == "teacher":
        return torch.ones(batch_size, total - 2)
    if config.sampling == "none":
        return None
    constants = schedule_constants(config, iterations)
    if config.sampling == "scheduled":
        return schedules.scheduled_sampling_mask(
            iteration, batch_size, total, config.input_len, generator=generator, **constants
        )
    return schedules.reverse_scheduled_sampling_mask(
        iteration, batch_size, total, config.input_len, generator=generator, **constants
    )
