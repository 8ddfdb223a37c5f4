"""A training run's configuration: the :class:`TrainConfig` dataclass, its TOML files, its schedules.

A run is described by a :class:`TrainConfig` (a small TOML file under ``configs/``): model and its
size, data set, iterations, batch, learning rate, sampling schedule, seed, device. The learning rate
and the sampling schedule are functions of the run's progress ``k / iterations``.

Taught in lesson 4 (training a ConvLSTM); the configurations of the shipped models are in ``configs/``.
"""

from __future__ import annotations

import importlib
import inspect
import math
import tomllib
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from . import schedules

SAMPLING = ("teacher", "scheduled", "reverse", "none")
CAPTURE = ("none", "cudagraph")
# settings that may change when a run is resumed (how the run is executed, not what it computes); two of
# them are checked further by check_resume: a new 'iterations' that changes the schedule needs extend=True
# (--extend), another CPU thread count (which changes the floating-point sums) needs inexact=True (--inexact)
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
        validate(self)  # the one schema: types, ranges and names of every key (CLI and train() alike)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_config(path: str | Path, **overrides: Any) -> TrainConfig:
    """Read a TOML training configuration; keyword arguments (not ``None``) override its values.

    Every problem is a :class:`~stlearn.errors.ConfigError` of one line naming the file, the key
    and what was expected (the checks are :func:`validate`'s, the same ones :func:`train` applies).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no training configuration at {path}: the file does not exist (see configs/README.md)")
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path} cannot be read: {e}") from None
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"{path}: unknown keys {sorted(unknown)}; known keys are {sorted(known)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    missing = [k for k in ("model", "dataset") if k not in raw and k not in given]
    if missing:
        raise ConfigError(f"{path}: missing required keys {missing} (e.g. model = \"predrnn\", dataset = \"radar\")")
    raw.update(given)
    try:
        return TrainConfig(**raw)
    except ConfigError as e:
        key = getattr(e, "key", None)
        where = " (given on the command line)" if key in given else ""
        raise ConfigError(f"{path}: {str(e).removeprefix('TrainConfig: ')}{where}") from None


# ---------------------------------------------------------------------------------------------
# the schema: one check per key, used by TrainConfig itself (so by load_config and train alike)
# ---------------------------------------------------------------------------------------------


def _fail(key: str, message: str) -> ConfigError:
    error = ConfigError(f"TrainConfig: {message}")
    error.key = key  # type: ignore[attr-defined]
    return error


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


#: key -> (kind, lower bound or choices, what is expected) for the scalar keys
_SCALARS: dict[str, tuple[str, Any, str]] = {
    "iterations": ("int", 1, "a positive integer"),
    "batch_size": ("int", 1, "a positive integer"),
    "input_len": ("int", 1, "a positive integer"),
    "pred_len": ("int", 1, "a positive integer"),
    "val_every": ("int", 1, "a positive integer"),
    "val_sequences": ("int", 1, "a positive integer"),
    "seed": ("int", 0, "an integer ≥ 0"),
    "threads": ("int?", 1, "a positive integer (or absent: torch's default)"),
    "lr": ("float", "positive", "a positive number, e.g. 1e-3"),
    "lr_final_fraction": ("float", "fraction", "a number in [0, 1] (the learning rate at the end over lr)"),
    "grad_clip": ("float?", "positive", "a positive number (or absent: no clipping)"),
    "time_budget": ("float?", "positive", "positive seconds (or absent: exactly 'iterations')"),
    "amp": ("bool", None, "true or false"),
    "reverse_input": ("bool", None, "true or false"),
    "compile": ("bool", None, "true or false"),
    "sampling": ("choice", SAMPLING, f"one of {SAMPLING}"),
    "capture": ("choice", CAPTURE, f"one of {CAPTURE}"),
    "device": ("str", None, "a torch device such as 'cpu', 'cuda' or 'cuda:1'"),
    "model": ("str", None, "a model name"),
    "dataset": ("str", None, "a data set name"),
}


def _check_scalar(config: TrainConfig, key: str) -> None:
    kind, bound, expected = _SCALARS[key]
    value = getattr(config, key)
    optional = kind.endswith("?")
    kind = kind.rstrip("?")
    if optional and value is None:
        return
    ok = True
    if kind == "int":
        ok = _is_int(value) and value >= bound
    elif kind == "float":
        ok = _is_number(value) and (value > 0 if bound == "positive" else 0 <= value <= 1)
        if ok:
            setattr(config, key, float(value))
    elif kind == "bool":
        ok = isinstance(value, bool)
    elif kind in ("choice", "str"):
        ok = isinstance(value, str) and (kind == "str" or value in bound)
    if not ok:
        raise _fail(key, f"'{key}' must be {expected}, got {value!r} ({type(value).__name__})")


def _accepted(fn: Any) -> set[str]:
    return {
        n for n, p in inspect.signature(fn).parameters.items()
        if n != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }  # fmt: skip


#: what the sampling schedules accept in sampling_config (besides the fractions)
_SCHEDULE_FN = {"scheduled": schedules.scheduled_sampling_mask, "reverse": schedules.reverse_scheduled_sampling_mask}
_SCHEDULE_INTERNAL = {"iteration", "batch_size", "total_len", "input_len", "generator", "device", "dtype"}


def _check_nested(config: TrainConfig) -> None:
    """model_config, data_config and sampling_config: tables whose keys the model, data set and schedule accept."""
    from ..models import MODELS
    from .batches import DATASETS

    for key in ("model_config", "data_config", "sampling_config"):
        value = getattr(config, key)
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise _fail(key, f"'{key}' must be a table of named values, e.g. {key} = {{ ... }}, got {value!r}")
    if config.model not in MODELS:
        raise _fail("model", f"'model' must be one of {sorted(MODELS)}, got {config.model!r}")
    if config.dataset not in DATASETS:
        raise _fail("dataset", f"'dataset' must be one of {sorted(DATASETS)}, got {config.dataset!r}")
    accepted = _accepted(MODELS[config.model].__init__)
    unknown = sorted(set(config.model_config) - accepted)
    if unknown:
        raise _fail("model_config", f"model_config has keys {unknown} that {config.model} does not take; "
                                    f"it takes {sorted(accepted)}")  # fmt: skip
    module, _, cfg_name = DATASETS[config.dataset]
    cfg_cls = getattr(importlib.import_module(module), cfg_name)
    accepted = {f.name for f in fields(cfg_cls)}
    unknown = sorted(set(config.data_config) - accepted)
    if unknown:
        raise _fail("data_config", f"data_config has keys {unknown} that the {config.dataset} data set does not take; "
                                   f"it takes {sorted(accepted)}")  # fmt: skip
    try:
        data = cfg_cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.data_config.items()})
    except (TypeError, ValueError) as e:
        raise _fail("data_config", f"data_config does not describe a {config.dataset} data set: {e}") from None
    frames = getattr(data, "input_frames", None), getattr(data, "output_frames", None)
    if None not in frames and frames[0] + frames[1] != config.input_len + config.pred_len:
        raise _fail("input_len", f"input_len + pred_len = {config.input_len + config.pred_len} but the data set "
                                 f"makes {frames[0] + frames[1]}-frame sequences "
                                 "(data_config input_frames + output_frames)")  # fmt: skip
    if config.sampling in _SCHEDULE_FN:
        accepted = _accepted(_SCHEDULE_FN[config.sampling]) - _SCHEDULE_INTERNAL
        accepted |= set(_FRACTION_KEYS[config.sampling])
        unknown = sorted(set(config.sampling_config) - accepted)
        if unknown:
            raise _fail("sampling_config", f"sampling_config has keys {unknown} that sampling = '{config.sampling}' "
                                           f"does not take; it takes {sorted(accepted)}")  # fmt: skip
        for k, v in config.sampling_config.items():
            if not _is_number(v) or v < 0:
                raise _fail("sampling_config", f"sampling_config.{k} must be a number ≥ 0, got {v!r}")
    elif config.sampling_config:
        raise _fail("sampling_config", f"sampling = '{config.sampling}' has no schedule: remove sampling_config "
                                       f"{sorted(config.sampling_config)} "
                                       "(only 'scheduled' and 'reverse' read it)")  # fmt: skip


def validate(config: TrainConfig) -> None:
    """Check every key of ``config`` (types, ranges, names, nested tables); raise one :class:`ConfigError`.

    The single schema of a training run: :class:`TrainConfig` calls it on construction, so
    :func:`load_config` (the CLI) and :func:`~stlearn.training.train` check the same things.
    Numbers given as integers where a float is expected (``lr = 1``) become floats.
    """
    for key in _SCALARS:
        _check_scalar(config, key)
    try:
        torch.device(config.device)
    except (RuntimeError, ValueError):
        raise _fail("device", f"'device' must be a torch device such as 'cpu' or 'cuda', got {config.device!r}") \
            from None
    if config.capture == "cudagraph" and not config.device.startswith("cuda"):
        raise _fail("capture", "capture = 'cudagraph' needs device = 'cuda'")
    _check_nested(config)
    schedule_constants(config)  # raises on mixed or out-of-range schedule fractions


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
            raise _fail("sampling_config", f"sampling_config.{key} must be a fraction in (0, 1], got {value!r}")
        if fractions[key] in raw:
            raise _fail("sampling_config", f"sampling_config has both {key!r} and {fractions[key]!r}; give one")
    n = config.iterations if iterations is None else iterations
    out = {k: v for k, v in raw.items() if k not in fractions}
    for key in used:
        out[fractions[key]] = raw[key] * n if key == "alpha_fraction" else max(1, round(raw[key] * n))
    if "stop_fraction" in used and "rate" not in out:
        out["rate"] = out.get("start", 1.0) / out["stop_iteration"]
    return out


def differing_keys(saved: dict[str, Any], config: TrainConfig, ignore: frozenset[str] = RUNTIME_ONLY) -> list[str]:
    """The configuration keys (outside ``ignore``) in which a checkpoint's recorded ``saved`` config differs
    from ``config``; a key the saved run predates counts as its default value. Lesson 4 (resuming a run)."""
    # the defaults of the fields, not a validated TrainConfig: a data set whose sequences are not 10 + 10 frames
    # (the occluder toy) has no valid config with the default lengths
    defaults = {f.name: f.default_factory() if f.default is MISSING else f.default
                for f in fields(TrainConfig) if f.default is not MISSING or f.default_factory is not MISSING}
    full = {**defaults, "model": config.model, "dataset": config.dataset, **saved}
    now = config.to_dict()
    return sorted(k for k in now.keys() | full.keys() if k not in ignore and full.get(k) != now.get(k))


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


def length_matters(config: TrainConfig) -> list[str]:
    """What in ``config`` depends on its length ``iterations``: the lr decay, schedules given as fractions."""
    out = []
    if config.lr_final_fraction != 1.0:
        out.append(f"the learning rate decays to lr_final_fraction = {config.lr_final_fraction} over the run")
    used = [k for k in config.sampling_config if k in _FRACTION_KEYS.get(config.sampling, {})]
    if used:
        out.append(f"the sampling schedule is given as fractions of the run ({', '.join(used)})")
    return out


def check_resume(
    checkpoint: Any, config: TrainConfig, saved: TrainConfig, training: dict[str, Any], extend: bool, inexact: bool
) -> None:
    """The two resume rules beyond "same configuration" (:data:`RUNTIME_ONLY`); raise :class:`ConfigError`.

    * A new ``iterations`` is accepted when nothing depends on the length (constant lr, schedules in
      iterations): the run then continues exactly. When the lr decay or a fractional schedule would be
      spread over the new length, it needs ``extend`` (``--extend``): an explicit choice, since the
      result is then not the run one would get training at the new length from the start.
    * Another CPU thread count changes the order of floating-point sums, so the resumed run would not
      continue bit for bit: refused unless ``inexact`` (``--inexact``); resume with the same ``threads``.
    """
    if config.iterations != saved.iterations and not extend and config.time_budget is None:
        why = length_matters(saved)
        if why:
            raise ConfigError(
                f"{checkpoint} was planned for iterations = {saved.iterations}, not {config.iterations}, and "
                f"{'; '.join(why)}: resuming with the new length changes the schedule of the rest of the run. "
                "Pass --extend (train(extend=True)) to do that on purpose, or resume with "
                f"iterations = {saved.iterations}"
            )
    if torch.device(config.device).type != "cpu" or inexact:
        return
    before = training.get("threads_used") or saved.threads
    now = torch.get_num_threads()
    if before is not None and int(before) != now:
        raise ConfigError(
            f"{checkpoint} was trained with {before} CPU thread(s), this resume would use {now}: another thread "
            "count changes the floating-point sums, so the run would not continue bit for bit. Resume with "
            f"--threads {before} (threads = ... in the configuration), or pass --inexact (train(inexact=True)) "
            "to accept it"
        )
