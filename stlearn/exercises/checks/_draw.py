"""Drawing the checkers' inputs: random tensors from a generator, ±50 pre-activations, shared validators.

Used by the checkers of every lesson's exercises (:mod:`stlearn.exercises.checks`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .._core import Case, CheckSpec

Tensor = torch.Tensor


def randn(gen: torch.Generator, shape: tuple[int, ...], dtype: torch.dtype, scale: float = 1.0) -> Tensor:
    return torch.randn(shape, generator=gen, dtype=torch.float64).mul(scale).to(dtype)


def randint(gen: torch.Generator, low: int, high: int) -> int:
    """An integer in [low, high]."""
    return int(torch.randint(low, high + 1, (1,), generator=gen))


def saturating(gen: torch.Generator, shape: tuple[int, ...], dtype: torch.dtype, size: float = 50.0) -> Tensor:
    """Values of ±50 (random signs): saturate σ and tanh; two of them overflow a hand-made exp in float32."""
    signs = torch.randint(0, 2, shape, generator=gen).to(torch.float64) * 2 - 1
    return (signs * size).to(dtype)


#: (label, B, C, H, W, dtype, extreme) of the frame-tensor exercises. C == W in the third case makes
#: a (C,) bias broadcast silently along the width instead of failing.
FRAME_CASES = [
    ("float32, 2×3 channels, 5×7 frames", 2, 3, 5, 7, torch.float32, False),
    ("float64, batch 1, 4 channels, 6×6 frames", 1, 4, 6, 6, torch.float64, False),
    ("float32, 5 channels, 3×5 frames", 2, 5, 3, 5, torch.float32, False),
    ("float64, 3 samples, 2 channels, 7×5 frames", 3, 2, 7, 5, torch.float64, False),
    ("float32, pre-activations of ±50", 2, 3, 4, 4, torch.float32, True),
    ("float64, batch 1, pre-activations of ±50", 1, 2, 3, 3, torch.float64, True),
]


def no_nan(case: Case, out: Any) -> str | None:
    if isinstance(out, Tensor) and out.is_floating_point() and not torch.isfinite(out).all():
        return (
            "returns NaN or inf for large pre-activations (±50 and beyond): a hand-made exp overflows; "
            "use torch.sigmoid and torch.tanh, which are stable"
        )
    return None


def in_range(low: float, high: float, what: str, fix: str) -> Callable[[Case, Any], str | None]:
    def validator(case: Case, out: Any) -> str | None:
        if not isinstance(out, Tensor) or not out.is_floating_point() or not torch.isfinite(out).all():
            return None
        if out.max() > high + 1e-6:
            return f"your {what} returns values above {high:g}: {fix}"
        if out.min() < low - 1e-6:
            return f"your {what} returns values below {low:g}: {fix}"
        return None

    return validator


def named_specs(*pairs: tuple[CheckSpec, tuple[str, ...]]) -> list[CheckSpec]:
    """The specs with their arguments' names set (the feedback names the argument a function changed)."""
    for spec, names in pairs:
        spec.arg_names = names
    return [spec for spec, _ in pairs]
