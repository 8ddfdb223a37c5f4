"""The machinery shared by every exercise checker: draw cases, observe the learner's function, judge.

A check has three steps, and only the middle one touches the learner's code:

1. **draw** — the checker draws several fresh cases (random inputs from a new seed on every call,
   plus edge cases) in its own process;
2. **observe** — :func:`stlearn.exercises.worker.observe` calls the learner's function on them and
   reports, as plain data, what it returned, raised and changed (and, for a loss, its gradient). In
   a notebook's check cell that happens in the learner's kernel; when grading it happens in the
   sandbox, and only the data comes back;
3. **judge** — :func:`judge` compares those observations with the reference, in the checker's
   process. When an output differs it also runs a list of *known wrong variants* of the solution:
   the first variant that the learner's output matches names the mistake, with a message that
   teaches. An in-place edit of an argument is caught and named; torch's own errors are translated
   into what was expected.

So a notebook's check and the grader reach the same verdict from the same observations, and the
grader never trusts a verdict computed beside the learner's code.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from . import worker

Tensor = torch.Tensor

__all__ = ["Case", "CheckSpec", "Mistake", "Verdict", "draw_cases", "encode_cases", "judge", "run_check"]


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
        grad_args: positions of the arguments whose gradient the result must carry (a loss): the
            judge compares the learner's gradient with the reference's.
        arg_names: the arguments' names, for the feedback.
        assess: ``(case, output) -> message or None``, for exercises judged by a criterion rather than
            by equality with the reference: a forecast that must beat persistence, an answer read
            off a figure that any channel the data supports makes right, a number within a
            tolerance. When given, it replaces the comparison with ``reference`` (which may then be
            None); the known mistakes are still tried, by equality, to name what went wrong.

    One per exercise of lesson 1, 3, 5, 6, 7 and 9 (see :mod:`stlearn.exercises.checks`).
    """

    name: str
    reference: Callable[..., Any] | None
    make_cases: Callable[[torch.Generator], list[Case]]
    mistakes: list[Mistake] = field(default_factory=list)
    validators: list[Callable[[Case, Any], str | None]] = field(default_factory=list)
    returns_tensor: bool = False
    failure_note: str = ""
    grad_args: tuple[int, ...] = ()
    arg_names: tuple[str, ...] = ()
    assess: Callable[[Case, Any], str | None] | None = None


@dataclass
class Verdict:
    """The judge's decision on one exercise: passed or not, and the feedback (exercises of lesson 1, 3, 5-7 and 9)."""

    passed: bool
    message: str
    not_written: bool = False


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
    return isinstance(x, Tensor) and x.ndim == 0


def _first_mismatch(o: Tensor, e: Tensor, rtol: float, atol: float) -> str:
    close = torch.isclose(o, e, rtol=rtol, atol=atol, equal_nan=True)
    bad = (~close).nonzero()
    if bad.numel() == 0:
        return ""
    index = tuple(int(i) for i in bad[0])
    return (
        f"; first at index {index}: yours {float(o[index]):.6g}, expected {float(e[index]):.6g} "
        f"({int(bad.shape[0])} of {o.numel()} values differ)"
    )


def compare(out: Any, expected: Any, dtype: torch.dtype) -> str | None:
    """None when ``out`` matches ``expected``, else a short reason for the learner.

    Tensors must match in shape, dtype and values (rtol 1e-4 in float32, 1e-7 in float64); tuples
    and lists item by item; numbers (and 0-d tensors) as floats, nan matching nan.  Used by every
    exercise checker (lesson 1, 3, 5, 6, 7 and 9).
    """
    rtol, atol = _tolerances(dtype)
    if isinstance(out, worker.Other):
        return f"returns a {out.type_name}" + ("; return a plain torch.Tensor" if "tensor" in out.type_name else "")
    if isinstance(expected, set | frozenset):
        return _compare_sets(out, expected)
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
        if e.is_floating_point() and e.abs().max() > 0 and torch.allclose(o, -e, rtol=rtol, atol=atol):
            return "returns the expected values with the opposite sign: check the signs in your formula"
        largest = (o - e).abs().nan_to_num(math.inf).max().item()
        return f"returns wrong values (largest difference {largest:.3g}{_first_mismatch(o, e, rtol, atol)})"
    # scalars: a Python number or a 0-d tensor
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
    if e != 0 and math.isclose(o, -e, rel_tol=max(rtol, 1e-6), abs_tol=atol):
        return f"returns {o:.6g}; expected {e:.6g}: the opposite sign — check the signs in your formula"
    return f"returns {o:.6g}; expected {e:.6g}"


def _compare_sets(out: Any, expected: set | frozenset) -> str | None:
    """None when ``out`` is a set with exactly ``expected``'s items, else which items are missing or extra."""
    if not isinstance(out, set | frozenset):
        what = out.type_name if isinstance(out, worker.Other) else type(out).__name__
        return f"returns a {what}; expected a set, e.g. {{(0, 1), (2, 0)}}"
    missing, extra = sorted(expected - out, key=repr), sorted(out - expected, key=repr)
    if not missing and not extra:
        return None
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {missing[0]!r})")
    if extra:
        parts.append(f"{len(extra)} that should not be there (e.g. {extra[0]!r})")
    return f"returns a set of {len(out)} items, expected {len(expected)}: " + ", ".join(parts)


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
    return x  # callables, numbers: shared (they are not the learner's to change)


def _changed(before: Any, after: Any) -> bool:
    if isinstance(before, Tensor):
        return not (
            isinstance(after, Tensor)
            and after.shape == before.shape
            and after.dtype == before.dtype
            and torch.equal(after.detach().nan_to_num(0.0), before.nan_to_num(0.0))
        )
    if isinstance(before, list | tuple):
        if not isinstance(after, list | tuple) or len(after) != len(before):
            return True
        return any(_changed(b, a) for b, a in zip(before, after, strict=True))
    return False


# --------------------------------------------------------------------------------------------
# what torch's errors mean for the learner
# --------------------------------------------------------------------------------------------

#: (a piece of torch's message, what it means) — the first that appears in the error explains it
_ERRORS = [
    (
        ("mat1 and mat2", "cannot be multiplied", "matmul", "size mismatch, got"),
        "a matrix product (@, torch.matmul, torch.mm) where the equation has ⊙, the element-wise product: write a * b",
    ),
    (
        ("must match the size", "shape", "broadcast"),
        "a shape slip: check the padding of convolutions (padding=k // 2) and how biases and peepholes "
        "broadcast (a (C,) bias must become (1, C, 1, 1))",
    ),
    (
        ("expected scalar type", "found dtype", "expected both", "dtype"),
        "two dtypes were mixed: keep the inputs' dtype (make constants with dtype=x.dtype or use Python numbers)",
    ),
    (
        ("Expected 3D (unbatched) or 4D", "expected 4D", "weight of size"),
        "F.conv2d takes a (B, C_in, H, W) input and a (C_out, C_in, k, k) weight",
    ),
    (
        ("in-place", "a leaf Variable"),
        "an in-place operation (+=, .add_(), x[...] = ...) on an input: compute a new tensor instead",
    ),
    (
        ("not defined",),
        "a name your function uses is not defined: run the cells above it (and define every helper it calls)",
    ),
]


def explain_error(kind: str, message: str) -> str:
    """What a torch or Python error in the learner's function means, or ''.  Exercises of lesson 1, 3, 5-7 and 9."""
    for needles, meaning in _ERRORS:
        if any(n in message for n in needles):
            return meaning
    if kind == "ZeroDivisionError":
        return "a division by zero: which case leaves the denominator at 0, and what should the result be then?"
    if kind == "RecursionError":
        return "your function calls itself without end"
    return ""


# --------------------------------------------------------------------------------------------
# drawing, judging, and the in-notebook check
# --------------------------------------------------------------------------------------------


def draw_cases(spec: CheckSpec, seed: int) -> list[Case]:
    """The cases of one check, drawn from ``seed`` in the checker's process.  Exercises of lesson 1, 3, 5-7 and 9."""
    return spec.make_cases(torch.Generator().manual_seed(seed))


def encode_cases(cases: Sequence[Case]) -> list[dict]:
    """The cases' arguments as plain data for :func:`~stlearn.exercises.worker.observe` (lesson 1, 3, 5-7, 9)."""
    return [worker.encode(tuple(case.args)) for case in cases]


def _call(fn: Callable[..., Any], args: tuple) -> tuple[Any, BaseException | None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            try:
                return fn(*args), None
            except Exception as exc:
                return None, exc


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


def _reference_grads(spec: CheckSpec, case: Case) -> list[Tensor | None]:
    args = list(_clone(case.args))
    for k in spec.grad_args:
        args[k] = args[k].requires_grad_(True)
    with torch.enable_grad():
        loss = spec.reference(*args)
        return list(torch.autograd.grad(loss, [args[k] for k in spec.grad_args], allow_unused=True))


def _check_grads(spec: CheckSpec, case: Case, grads: Any) -> tuple[int, str] | None:
    """None when the learner's gradient matches the reference's, else (priority, message)."""
    names = [spec.arg_names[k] if k < len(spec.arg_names) else f"argument {k + 1}" for k in spec.grad_args]
    status = grads.get("status") if isinstance(grads, dict) else None
    if status != "ok":
        why = {
            "no graph": "it is not connected to the inputs' graph",
            "not a one-element tensor": "it is not a one-element tensor",
            "backward failed": "backward() raised an error",
        }.get(str(status), "it has none")
        return 0, (
            f"your loss has the right value but no gradient ({why}): training needs it — keep it a tensor "
            "computed from the inputs, with no torch.no_grad(), .item(), .detach(), .numpy() or "
            "torch.tensor(...) of a number on the way"
        )
    expected = _reference_grads(spec, case)
    rtol, atol = _tolerances(case.dtype)
    try:
        got = [worker.decode(g) for g in grads["grads"]]
    except (KeyError, TypeError, ValueError):
        return 0, "the gradient of your loss could not be read"
    for name, g, e in zip(names, got, expected, strict=False):
        if e is None:
            continue
        if not isinstance(g, Tensor) or g.shape != e.shape:
            return 1, (
                f"no gradient flows back to {name}: a .detach(), .data or .numpy() on the way cuts it (or {name} "
                "is not used in the loss)"
            )
        if not torch.allclose(g.to(e.dtype), e, rtol=max(rtol, 1e-5), atol=max(atol, 1e-7)):
            return 1, (
                f"your loss has the right value but the wrong gradient with respect to {name}: a step that "
                "detaches part of the computation (.detach(), .data, a value copied into a new tensor)?"
            )
    return None


def _fail(spec: CheckSpec, message: str, case: Case | None, index: int, total: int, seed: int) -> Verdict:
    where = f"\n  (case {index + 1} of {total}: {case.label}; seed {seed})" if case is not None else ""
    return Verdict(False, f"{spec.name}: {message}{where}")


def judge(spec: CheckSpec, cases: Sequence[Case], observations: Sequence[dict], seed: int) -> Verdict:
    """The verdict on ``observations`` of the learner's function (one per case, from ``worker.observe``).

    Runs in the checker's process only: the reference and the known mistakes never meet the
    learner's code. Malformed observations fail the exercise with a plain message.  The engine of
    every ``check_<name>`` of the exercises of lesson 1, 3, 5, 6, 7 and 9.
    """
    total = len(cases)
    failures: list[tuple[int, str, int]] = []  # (priority, message, case index)
    for index, case in enumerate(cases):
        if index >= len(observations):
            failures.append((3, "your function stopped before this case", index))
            break
        obs = observations[index]
        error = obs.get("error") if isinstance(obs, dict) else {"type": "?", "message": "unreadable"}
        if error and error.get("type") == "NotImplementedError":
            hint = str(error.get("message", "")).strip() or "replace `raise NotImplementedError` with your code"
            return Verdict(False, f"{spec.name}: not written yet. {hint}", not_written=True)
        try:
            after = [worker.decode(a) for a in obs.get("after", [])]
        except (TypeError, ValueError, KeyError):
            after = []
        for k, (before, now) in enumerate(zip(case.args, after, strict=False)):
            rebuilt = k < len(obs.get("lists_rebuilt", [])) and obs["lists_rebuilt"][k] is True
            if isinstance(before, Tensor | list | tuple) and (_changed(before, now) or rebuilt):
                arg = f"'{spec.arg_names[k]}'" if k < len(spec.arg_names) else f"number {k + 1}"
                return _fail(
                    spec,
                    f"your function changed its argument {arg} in place (e.g. `x *= ...`, `x.add_(...)`, "
                    "`x[...] = ...` or `lst[l] = ...`); the caller still needs it: compute new tensors "
                    "(and new lists) instead",
                    case,
                    index,
                    total,
                    seed,
                )
        if error:
            message = f"your function raised {error.get('type')}: {error.get('message')}{error.get('where', '')}"
            meaning = explain_error(str(error.get("type")), str(error.get("message")))
            failures.append((3, message + (f" — {meaning}" if meaning else ""), index))
            continue
        try:
            out = worker.decode(obs.get("out"))
        except (TypeError, ValueError, KeyError):
            failures.append((3, "the result of your function could not be read", index))
            continue
        if spec.returns_tensor and not isinstance(out, Tensor):
            what = out.type_name if isinstance(out, worker.Other) else type(out).__name__
            failures.append((0, f"returns a {what}; return a tensor (no .item()): training needs its gradient", index))
            continue
        if spec.assess is not None:
            reason = spec.assess(case, out)
        else:
            reason = compare(out, spec.reference(*_clone(case.args)), case.dtype)
        if reason is None:
            if spec.grad_args:
                bad = _check_grads(spec, case, obs.get("grads"))
                if bad is not None:
                    failures.append((bad[0], bad[1], index))
            continue
        priority, message = _diagnose(spec, case, out, reason)
        failures.append((priority, message, index))
    if failures:
        failures.sort(key=lambda f: f[0])
        _, message, index = failures[0]
        return _fail(spec, message, cases[index], index, total, seed)
    return Verdict(True, f"✓ {spec.name}: correct on {total} cases")


def run_check(spec: CheckSpec, fn: Any, seed: int | None = None, arg_names: Sequence[str] = ()) -> None:
    """Check ``fn`` against ``spec`` in the learner's notebook: print a confirmation, or raise AssertionError.

    ``seed`` fixes the random cases (tests use it); by default every call draws a new one, so a
    function that only returns the right answer for one fixed input cannot pass.  The notebook's
    side of every ``check_<name>`` of the exercises of lesson 1, 3, 5, 6, 7 and 9; the grader
    judges the same way from the sandbox's observations (:mod:`stlearn.exercises.grade`).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not these frames
    if arg_names and not spec.arg_names:
        spec.arg_names = tuple(arg_names)
    name = spec.name
    if not callable(fn):
        raise AssertionError(f"{name}: expected your function `{name}`, got a {type(fn).__name__}")
    module = getattr(fn, "__module__", "") or ""
    if module == "stlearn" or module.startswith("stlearn."):
        raise AssertionError(
            f"{name}: this is stlearn's own function ({module}), not yours: write `{name}` yourself "
            "in the solution cell (stlearn is not there when your notebook is graded)"
        )
    if seed is None:
        seed = secrets.randbits(31)
    cases = draw_cases(spec, seed)
    observations = worker.observe(fn, encode_cases(cases), spec.grad_args)
    verdict = judge(spec, cases, observations, seed)
    if not verdict.passed:
        raise AssertionError(verdict.message)
    print(verdict.message)
