"""Argument checks that turn bad input into errors a learner can act on.

Every public function in :mod:`stlearn` validates its tensors here *before* torch sees
them, so a wrong shape reads "argument 'h_i' must have shape (B, C, H, W) = (2, 8, 16, 16)
like 'x_i', got (2, 8, 16, 15)" instead of a broadcasting traceback from deep inside torch.
The checks only compare shapes, dtypes and devices: they cost microseconds.
"""

from __future__ import annotations

import numpy as np
import torch

from .errors import CheckpointError, InputError, InputTypeError

Tensor = torch.Tensor


def _shape(t: Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def check_frame_tensor(where: str, name: str, t: object) -> Tensor:
    """``t`` must be a floating-point tensor of rank 4, laid out (B, C, H, W)."""
    if not isinstance(t, torch.Tensor):
        raise InputTypeError(
            f"{where}: argument '{name}' must be a torch.Tensor of shape (B, C, H, W), got {type(t).__name__}"
        )
    if t.ndim != 4:
        raise InputError(
            f"{where}: argument '{name}' must have 4 dimensions (B, C, H, W), got {t.ndim} with shape {_shape(t)}"
        )
    if not t.is_floating_point():
        raise InputTypeError(
            f"{where}: argument '{name}' must be a floating-point tensor (float32 or float64), got {t.dtype}"
        )
    return t


def check_like(where: str, ref_name: str, ref: Tensor, name: str, t: object) -> Tensor:
    """``t`` must be a (B, C, H, W) tensor with the same shape, dtype and device as ``ref``."""
    check_frame_tensor(where, name, t)
    assert isinstance(t, torch.Tensor)
    if t.shape != ref.shape:
        raise InputError(
            f"{where}: argument '{name}' must have shape (B, C, H, W) = {_shape(ref)} "
            f"like '{ref_name}', got {_shape(t)}"
        )
    if t.dtype != ref.dtype:
        raise InputTypeError(
            f"{where}: argument '{name}' has dtype {t.dtype} but '{ref_name}' has {ref.dtype}; "
            "use one dtype for all tensors of a step"
        )
    if t.device != ref.device:
        raise InputError(f"{where}: argument '{name}' is on {t.device} but '{ref_name}' is on {ref.device}")
    return t


def check_peephole(where: str, name: str, w: object, ref_name: str, ref: Tensor) -> Tensor:
    """A peephole weight is a per-location, per-channel map of shape (C, H, W)."""
    if not isinstance(w, torch.Tensor):
        raise InputTypeError(
            f"{where}: peephole weight '{name}' must be a torch.Tensor of shape (C, H, W), got {type(w).__name__}"
        )
    expected = tuple(ref.shape[1:])
    if tuple(w.shape) != expected:
        raise InputError(
            f"{where}: peephole weight '{name}' must have shape (C, H, W) = "
            f"{'(' + ', '.join(map(str, expected)) + ')'} to match '{ref_name}', got {_shape(w)}"
        )
    if w.dtype != ref.dtype:
        raise InputTypeError(f"{where}: peephole weight '{name}' has dtype {w.dtype} but '{ref_name}' has {ref.dtype}")
    return w


def check_bias(where: str, name: str, b: object, ref_name: str, ref: Tensor) -> Tensor:
    """A gate bias is one number per hidden channel: shape (C,)."""
    if not isinstance(b, torch.Tensor):
        raise InputTypeError(f"{where}: bias '{name}' must be a torch.Tensor of shape (C,), got {type(b).__name__}")
    if tuple(b.shape) != (ref.shape[1],):
        raise InputError(
            f"{where}: bias '{name}' must have shape (C,) = ({ref.shape[1]},) to match '{ref_name}', got {_shape(b)}"
        )
    if b.dtype != ref.dtype:
        raise InputTypeError(f"{where}: bias '{name}' has dtype {b.dtype} but '{ref_name}' has {ref.dtype}")
    return b


def check_conv_weight(where: str, name: str, w: object, in_channels: int, out_channels: int) -> Tensor:
    """A convolution weight of shape (C_out, C_in, k, k) with an odd k (so 'same' padding exists)."""
    if not isinstance(w, torch.Tensor):
        raise InputTypeError(
            f"{where}: weight '{name}' must be a torch.Tensor of shape (C_out, C_in, k, k), got {type(w).__name__}"
        )
    if w.ndim != 4 or w.shape[0] != out_channels or w.shape[1] != in_channels or w.shape[2] != w.shape[3]:
        raise InputError(
            f"{where}: weight '{name}' must have shape (C_out, C_in, k, k) = ({out_channels}, {in_channels}, k, k), "
            f"got {_shape(w)}"
        )
    if w.shape[2] % 2 == 0:
        raise InputError(f"{where}: weight '{name}' needs an odd kernel size for 'same' padding, got {w.shape[2]}")
    return w


def check_int(where: str, name: str, value: object, minimum: int = 1) -> int:
    """``value`` must be an integer (Python or NumPy, not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer ≥ {minimum}"
        raise InputError(f"{where}: '{name}' must be {kind}, got {value!r}")
    return int(value)


def check_positive_int(where: str, name: str, value: object) -> int:
    return check_int(where, name, value, 1)


def check_kernel_size(where: str, value: object) -> int:
    check_positive_int(where, "kernel_size", value)
    assert isinstance(value, int)
    if value % 2 == 0:
        raise InputError(f"{where}: 'kernel_size' must be odd so that padding k//2 keeps the frame size, got {value}")
    return value


def check_frame_size(where: str, value: object) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
    ):
        raise InputError(f"{where}: 'frame_size' must be (H, W) with positive integers, got {value!r}")
    return (int(value[0]), int(value[1]))


# ---------------------------------------------------------------------------------------------
# Sequences of frames (the models, lessons 4 and 6-10)
# ---------------------------------------------------------------------------------------------


def check_sequence(where: str, name: str, t: object, channels: int | None = None) -> Tensor:
    """``t`` must be a floating-point tensor of rank 5, laid out (B, T, C, H, W), with ``channels`` channels."""
    if not isinstance(t, torch.Tensor):
        raise InputTypeError(
            f"{where}: argument '{name}' must be a torch.Tensor of shape (B, T, C, H, W), got {type(t).__name__}"
        )
    if t.ndim != 5:
        raise InputError(
            f"{where}: argument '{name}' must have 5 dimensions (B, T, C, H, W), got {t.ndim} with shape {_shape(t)}"
        )
    if not t.is_floating_point():
        raise InputTypeError(
            f"{where}: argument '{name}' must be a floating-point tensor (float32 or float64), got {t.dtype}"
        )
    if channels is not None and t.shape[2] != channels:
        raise InputError(
            f"{where}: argument '{name}' must have {channels} channel(s) in dimension 2 of (B, T, C, H, W), "
            f"got shape {_shape(t)}"
        )
    return t


def check_divisible(where: str, name: str, size: tuple[int, int], divisor: int, divisor_name: str) -> None:
    """A frame size (H, W) must be divisible by ``divisor`` (a patch size, a down-sampling factor)."""
    if size[0] % divisor or size[1] % divisor:
        raise InputError(
            f"{where}: the frame size (H, W) = ({size[0]}, {size[1]}) of '{name}' must be divisible by "
            f"{divisor_name} = {divisor}"
        )


def check_mask(where: str, name: str, mask: object, expected: tuple[int, ...], ref: Tensor) -> Tensor:
    """A sampling mask: a tensor of exactly the ``expected`` shape, returned in ``ref``'s dtype and device."""
    shape = "(" + ", ".join(str(s) for s in expected) + ")"
    if not isinstance(mask, torch.Tensor):
        raise InputTypeError(
            f"{where}: argument '{name}' must be a torch.Tensor of shape (B, T-2) = {shape}, got {type(mask).__name__}"
        )
    if tuple(mask.shape) != expected:
        raise InputError(f"{where}: argument '{name}' must have shape (B, T-2) = {shape}, got {_shape(mask)}")
    return mask.to(device=ref.device, dtype=ref.dtype)


# ---------------------------------------------------------------------------------------------
# Weights read from a file (checkpoints, official state dicts)
# ---------------------------------------------------------------------------------------------


def check_weights(source: str, state: object, reference: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
    """A state dict read from ``source``: names → tensors, floating point and finite everywhere.

    The course's models hold floating-point weights only, so an integer tensor (weights rounded or
    re-cast on the way) is refused, not converted; another float precision (official float64 files)
    is fine and is cast on loading. With ``reference`` (the model's own ``state_dict()``) a tensor
    the model holds in another kind (an integer buffer) must match it. One pass of ``isfinite`` over
    the weights (milliseconds for the course's models).
    """
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise CheckpointError(
            f"{source}: the weights must be a mapping of parameter names to tensors, got {type(state).__name__}"
        )
    for name, t in state.items():
        if not isinstance(t, torch.Tensor):
            raise CheckpointError(f"{source}: weight '{name}' is a {type(t).__name__}, not a tensor")
        own = reference.get(name) if reference is not None else None
        if t.is_floating_point() != (own.is_floating_point() if own is not None else True):
            kind = own.dtype if own is not None else "floating point"
            raise CheckpointError(
                f"{source}: weight '{name}' is {t.dtype} but the model's is {kind}; integer (rounded or re-cast) "
                "weights are refused, not converted: use the original file"
            )
        if t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise CheckpointError(
                f"{source}: weight '{name}' holds {bad} NaN/Inf value(s) of {t.numel()}; a diverged or damaged "
                "run — use an earlier checkpoint or retrain (lower lr, keep grad_clip)"
            )
    return state  # type: ignore[return-value]


def describe_load_error(e: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` failed, in stlearn's words.

    torch's own message is not passed on: it advises retrying with ``weights_only=False``, which would
    run whatever code the file holds.
    """
    text = str(e)
    if "Unsupported global" in text:  # a class or function to unpickle: code, not weights
        return (
            "it holds pickled Python objects besides tensors, which stlearn never unpickles (that could run code); "
            "ask for a plain state dict (torch.save(model.state_dict(), path))"
        )
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    detail = "" if not lines or "weights_only" in text else f": {lines[0][:160]}"
    return f"truncated, corrupted, or not a torch file ({type(e).__name__}{detail})"
