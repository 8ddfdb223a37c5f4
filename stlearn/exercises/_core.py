"""The machinery shared by every exercise checker (all exercise notebooks use it).

A checker runs the learner's function and the reference on several freshly drawn cases (random
inputs from a new seed on every call, plus edge cases), and when an output differs it also runs a
list of *known wrong variants* of the solution: the first variant that the learner's output
matches names the mistake, with a message that teaches. Inputs are cloned before the call and
compared afterwards, so an in-place edit of an argument is caught and named. Nothing is written
to stderr: warnings raised by the learner's code are silenced while it runs.
"""

from __future__ import annotations

import math
import secrets
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

Tensor = torch.Tensor

__all__ = ["Case", "CheckSpec", "Mistake", "run_check"]


@dataclass
class Mistake:
    """A known wrong solution and the lesson to teach when the learner's output matches it.

    Used by the checkers of the exercises of lesson 1, 3, 5, 6, 7 and 9.
    """

    fn: Callable[..., Any]
    message: str


@dataclass
class Case:
    """One set of arguments, described for the feedback (e.g. "float64, batch 1, 5×7 frames").

    Used by the checkers of the exercises of lesson 1, 3, 5, 6, 7 and 9.
    """

    label: str
    args: tuple
    dtype: torch.dtype = torch.float32


@dataclass
class CheckSpec:
    """Everything one checker needs.

    Args:
        name: the function's name in the notebook (and the exercise id).
        reference: the correct solution.
        make_cases: ``gen -> list[Case]``, drawing inputs from the given generator.
        mistakes: known wrong variants, most specific first.
        validators: ``(case, output) -> message or None``, for mistakes that no single variant
            captures (values outside (0, 1) without an exact match, NaN at ±50, ...).
        returns_tensor: the output must be a tensor (a loss needs its gradient), not a float.
        failure_note: added to feedback that names no known mistake.

    One per exercise of lesson 1, 3, 5, 6, 7 and 9 (see :mod:`stlearn.exercises.checks`).
    """

    name: str
    reference: Callable[..., Any]
    make_cases: Callable[[torch.Generator], list[Case]]
    mistakes: list[Mistake] = field(default_factory=list)
    validators: list[Callable[[Case, Any], str | None]] = field(default_factory=list)
    returns_tensor: bool = False
    failure_note: str = ""


# --------------------------------------------------------------------------------------------
# comparing outputs
# --------------------------------------------------------------------------------------------


def _tolerances(dtype: torch.dtype) -> tuple[float, float]:
    """(rtol, atol): loose enough for a different but correct formula, tight enough for a slip."""
    if dtype == torch.float64:
        return 1e-7, 1e-9
    return 1e-4, 1e-5


def _shape(t: Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def _is_scalar_like(x: Any) -> bool:
    if isinstance(x, bool):
        return False
    if isinstance(x, int | float):
        return True
    if isinstance(x, Tensor) and x.ndim == 0:
        return True
    try:
        import numpy as np

        return isinstance(x, np.generic | np.ndarray) and np.ndim(x) == 0
    except ImportError:  # pragma: no cover
        return False


def compare(out: Any, expected: Any, dtype: torch.dtype) -> str | None:
    """None when ``out`` matches ``expected``, else a short reason for the learner.

    Tensors must match in shape, dtype and values (rtol 1e-4 in float32, 1e-7 in float64); tuples
    and lists item by item; numbers (and 0-d tensors) as floats, nan matching nan.  Used by every
    exercise checker (lesson 1, 3, 5, 6, 7 and 9).
    """
    rtol, atol = _tolerances(dtype)
    if isinstance(expected, tuple | list):
        if not isinstance(out, tuple | list):
            return f"returns a {type(out).__name__}; expected a tuple of {len(expected)} values"
        if len(out) != len(expected):
            return f"returns {len(out)} values; expected {len(expected)}"
        for k, (o, e) in enumerate(zip(out, expected, strict=True)):
            reason = compare(o, e, dtype)
            if reason is not None:
                return f"value {k} of the result {reason}"
        return None
    if isinstance(expected, Tensor) and expected.ndim > 0:
        if not isinstance(out, Tensor):
            return f"returns a {type(out).__name__}; expected a tensor of shape {_shape(expected)}"
        if out.shape != expected.shape:
            return (
                f"returns shape {_shape(out)}; expected {_shape(expected)} (a broadcasting slip? check the "
                "shapes of the terms you combine: a (C,) bias must become (1, C, 1, 1))"
            )
        if out.dtype != expected.dtype:
            return (
                f"returns {out.dtype} for {expected.dtype} inputs; keep the inputs' dtype "
                "(use Python numbers or dtype=x.dtype for constants)"
            )
        o, e = out.detach(), expected.detach()
        if not torch.isfinite(o).all() and torch.isfinite(e).all():
            return "returns NaN or infinite values"
        if torch.allclose(o, e, rtol=rtol, atol=atol, equal_nan=True):
            return None
        return f"returns wrong values (largest difference {(o - e).abs().nan_to_num(math.inf).max().item():.3g})"
    # scalars: a Python number, a 0-d tensor or a NumPy scalar
    if not _is_scalar_like(out):
        what = f"shape {_shape(out)}" if isinstance(out, Tensor) else type(out).__name__
        return f"returns a {what}; expected a single number"
    o, e = float(out), float(expected)
    if math.isnan(e):
        return None if math.isnan(o) else f"returns {o:.6g}; expected nan (undefined)"
    if math.isnan(o):
        return f"returns nan; expected {e:.6g}"
    if math.isclose(o, e, rel_tol=max(rtol, 1e-6), abs_tol=atol):
        return None
    return f"returns {o:.6g}; expected {e:.6g}"


# --------------------------------------------------------------------------------------------
# copying inputs and detecting in-place edits
# --------------------------------------------------------------------------------------------


def _clone(x: Any) -> Any:
    if isinstance(x, Tensor):
        return x.detach().clone()
    if isinstance(x, list):
        return [_clone(v) for v in x]
    if isinstance(x, tuple):
        return tuple(_clone(v) for v in x)
    return x  # modules, numbers: shared (modules are not the learner's to change)


def _changed(before: Any, after: Any) -> bool:
    if isinstance(before, Tensor):
        return not (
            isinstance(after, Tensor)
            and after.shape == before.shape
            and torch.equal(after.detach().nan_to_num(0.0), before.nan_to_num(0.0))
        )
    if isinstance(before, list | tuple):
        if not isinstance(after, list | tuple) or len(after) != len(before):
            return True
        return any(_changed(b, a) for b, a in zip(before, after, strict=True))
    return False


# --------------------------------------------------------------------------------------------
# running a check
# --------------------------------------------------------------------------------------------


def _call(fn: Callable[..., Any], args: tuple) -> tuple[Any, BaseException | None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            try:
                return fn(*args), None
            except NotImplementedError:
                raise
            except Exception as exc:
                return None, exc


def _where(exc: BaseException) -> str:
    """' (in line N: `code`)' for the learner's last frame in the traceback (not stlearn's, not torch's)."""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if "stlearn" not in f.filename.replace("\\", "/").split("/")[-3:-1]
        and "site-packages" not in f.filename
        and "/torch/" not in f.filename
    ]
    if not frames:
        return ""
    frame = frames[-1]
    code = f": `{frame.line.strip()}`" if frame.line else ""
    return f" (in {frame.name}, line {frame.lineno}{code})"


def _diagnose(spec: CheckSpec, case: Case, out: Any, reason: str) -> tuple[int, str]:
    """Name the mistake behind a wrong output: a known variant (priority 1), a validator (2), or the bare reason (4)."""
    for mistake in spec.mistakes:
        wrong, wrong_exc = _call(mistake.fn, _clone(case.args))
        if wrong_exc is None and compare(out, wrong, case.dtype) is None:
            return 1, mistake.message
    note = f" ({spec.failure_note})" if spec.failure_note else ""
    for validator in spec.validators:
        message = validator(case, out)
        if message:
            return 2, message + note
    return 4, reason + note


def _fail(name: str, message: str, case: Case | None, index: int, total: int, seed: int) -> AssertionError:
    where = f"\n  (case {index + 1} of {total}: {case.label}; seed {seed})" if case is not None else ""
    return AssertionError(f"{name}: {message}{where}")


def run_check(spec: CheckSpec, fn: Any, seed: int | None = None, arg_names: Sequence[str] = ()) -> None:
    """Check ``fn`` against ``spec``: print a confirmation, or raise AssertionError with feedback.

    ``seed`` fixes the random cases (tests use it); by default every call draws a new one, so a
    function that only returns the right answer for one fixed input cannot pass.  The engine of
    every ``check_<name>`` of the exercises of lesson 1, 3, 5, 6, 7 and 9.
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not these frames
    name = spec.name
    if not callable(fn):
        raise AssertionError(f"{name}: expected your function `{name}`, got a {type(fn).__name__}")
    module = getattr(fn, "__module__", "") or ""
    if module == "stlearn" or module.startswith("stlearn."):
        raise AssertionError(
            f"{name}: this is stlearn's own function ({module}), not yours: write `{name}` yourself "
            "in the solution cell"
        )
    if seed is None:
        seed = secrets.randbits(31)
    gen = torch.Generator().manual_seed(seed)
    cases = spec.make_cases(gen)
    total = len(cases)
    failures: list[tuple[int, str, int]] = []  # (priority, message, case index)
    for index, case in enumerate(cases):
        args = _clone(case.args)
        before = _clone(case.args)
        list_ids = [[id(v) for v in a] if isinstance(a, list) else None for a in args]
        try:
            out, exc = _call(fn, args)
        except NotImplementedError as err:
            hint = str(err).strip() or "replace `raise NotImplementedError` with your code"
            raise _fail(name, f"not written yet. {hint}", None, index, total, seed) from None
        for k, (b, a) in enumerate(zip(before, args, strict=True)):
            if _changed(b, a) or (isinstance(a, list) and list_ids[k] != [id(v) for v in a]):
                arg = f"'{arg_names[k]}'" if k < len(arg_names) else f"number {k + 1}"
                raise _fail(
                    name,
                    f"your function changed its argument {arg} in place (e.g. `x *= ...`, `x.add_(...)`, "
                    "`x[...] = ...` or `lst[l] = ...`); the caller still needs it: compute new tensors "
                    "(and new lists) instead",
                    case,
                    index,
                    total,
                    seed,
                )
        expected = spec.reference(*_clone(case.args))
        if exc is not None:
            # a known mistake may still explain the error on other cases; keep looking
            message = f"your function raised {type(exc).__name__}: {exc}{_where(exc)}"
            if "must match the size" in str(exc) or "shape" in str(exc):
                message += (
                    " (a shape slip: check the padding of convolutions, padding=k // 2, and how biases and "
                    "peepholes broadcast)"
                )
            failures.append((3, message, index))
            continue
        if spec.returns_tensor and not isinstance(out, Tensor):
            failures.append(
                (0, f"returns a {type(out).__name__}; return a tensor (no .item()): training needs its gradient", index)
            )
            continue
        reason = compare(out, expected, case.dtype)
        if reason is None:
            continue
        priority, message = _diagnose(spec, case, out, reason)
        failures.append((priority, message, index))
    if failures:
        failures.sort(key=lambda f: f[0])
        _, message, index = failures[0]
        raise _fail(name, message, cases[index], index, total, seed)
    print(f"✓ {name}: correct on {total} cases")
