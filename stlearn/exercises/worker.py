"""What runs beside the learner's code: it executes cells and calls the learner's function on given inputs.

This module is the only part of stlearn that runs in the learner's process while grading, and it
holds nothing worth stealing: no reference solution, no checker, no expected value. It imports only
the standard library, NumPy and torch (and IPython, to run cells), so the grader copies this one
file into the sandbox, where ``stlearn`` itself is not installed.

Everything that crosses between the grader and this worker is plain data: JSON with arrays as
NumPy ``.npy`` bytes in base64, read back with ``allow_pickle=False`` — never pickle. The grader
decides every verdict in its own process from that data (:mod:`stlearn.exercises._core`); this
worker only reports what the learner's function returned, raised, changed and (for a loss) what
gradient it has.

* :func:`encode` / :func:`decode` — values ↔ plain data (tensors, numbers, lists, tuples, and the
  callables the exercises hand to learners: :class:`Adapter`, :class:`ToyCell` and :class:`ToyStep`);
* :func:`observe` — call a function on every case and describe what happened, as plain data;
* :func:`serve` — the sandbox loop: JSON requests in, JSON replies out (``python worker.py``).

The same :func:`observe` runs in the learner's own notebook when a check cell calls a checker, so
a notebook's check and the grader judge the same observations. Used by the exercises of lessons
1, 3, 5-7 and 9.
"""

from __future__ import annotations

import base64
import io
import json
import linecache
import math
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["Adapter", "ToyCell", "ToyStep", "decode", "encode", "observe", "serve"]

_MAX_TEXT = 2000  # characters of a message or repr that cross back
_Tensor = torch.Tensor
_type = type
_FLOAT_DTYPES = {"float32": torch.float32, "float64": torch.float64}


# --------------------------------------------------------------------------------------------
# the callables handed to learners' functions
# --------------------------------------------------------------------------------------------


class Adapter:
    """A 1×1 convolution C→C without bias, as PredRNN-V2's shared adapter: ``adapter(x)`` (lesson 7)."""

    def __init__(self, weight: torch.Tensor) -> None:
        self.weight = weight

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight)

    def __repr__(self) -> str:
        return f"adapter(1×1 convolution, {self.weight.shape[0]} channels)"


class ToyCell:
    """A stand-in recurrent cell for the zigzag exercise: ``cell(inp, h_prev, c_prev, m_in) -> (h, c, m)``.

    Not the ST-LSTM (that would hand out the answers of lesson 5's exercises): every output depends
    on every input through its own 3×3 convolution, so any wrong wiring of the stack changes the
    result. Exercise of lesson 6 (``zigzag_step``).
    """

    def __init__(self, w_in: torch.Tensor, w_h: torch.Tensor, w_m: torch.Tensor, w_c: torch.Tensor) -> None:
        self.w_in, self.w_h, self.w_m, self.w_c = w_in, w_h, w_m, w_c

    def __call__(self, inp: torch.Tensor, h_prev: torch.Tensor, c_prev: torch.Tensor, m_in: torch.Tensor):
        z = F.conv2d(inp, self.w_in, padding=1) + F.conv2d(h_prev, self.w_h, padding=1)
        m = torch.tanh(z + F.conv2d(m_in, self.w_m, padding=1))
        c = 0.5 * c_prev + torch.tanh(z + F.conv2d(c_prev, self.w_c, padding=1))
        h = torch.tanh(c + m)
        return h, c, m

    def __repr__(self) -> str:
        return f"cell({self.w_in.shape[1]} → {self.w_in.shape[0]} channels)"


class ToyStep:
    """A stand-in for one step of a rollout model: ``step(x, state) -> (prediction, state)``, ``state=None`` first.

    Not a ConvLSTM (the rollout exercise is about the loop, not the cell): the new state is
    ``tanh(conv3×3(x) + conv3×3(state))`` (no state term at the first step, ``state=None``) and the
    prediction of the next frame a 1×1 convolution of it, with the frame's channels. Every output
    depends on the input frame and on the whole history of states, so feeding the wrong frame or
    dropping the state changes the result. Exercise of lesson 4 (``rollout``).
    """

    def __init__(self, w_x: torch.Tensor, w_h: torch.Tensor, w_out: torch.Tensor) -> None:
        self.w_x, self.w_h, self.w_out = w_x, w_h, w_out

    def __call__(self, x: torch.Tensor, state: torch.Tensor | None):
        z = F.conv2d(x, self.w_x, padding=self.w_x.shape[-1] // 2)
        if state is not None:
            z = z + F.conv2d(state, self.w_h, padding=self.w_h.shape[-1] // 2)
        state = torch.tanh(z)
        return F.conv2d(state, self.w_out), state

    def __repr__(self) -> str:
        return f"step(frame of {self.w_x.shape[1]} channels, state of {self.w_x.shape[0]} channels)"


# --------------------------------------------------------------------------------------------
# values <-> plain data
# --------------------------------------------------------------------------------------------


def _array_bytes(array: np.ndarray) -> str:
    buf = io.BytesIO()
    np.save(buf, array if array.flags.c_contiguous else array.copy(), allow_pickle=False)  # 0-d stays 0-d
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _array(text: str) -> np.ndarray:
    return np.load(io.BytesIO(base64.b64decode(text.encode("ascii"))), allow_pickle=False)


def _short(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def _number(x: float) -> str | float:
    return x if math.isfinite(x) else repr(x)  # JSON has no nan/inf


def encode(value: Any) -> dict:
    """``value`` as plain data: tensors (as .npy bytes), numbers, strings, None, lists, tuples, sets, callables.

    Anything else becomes ``{"t": "other", "type": ..., "repr": ...}`` (its type named, never pickled).
    Used by every exercise's check (lessons 1-10).
    """
    kind = _type(value)
    if kind is _Tensor:
        t = value.detach()
        if t.dtype == torch.bfloat16 or t.dtype == torch.float16 or t.is_complex() or t.device.type != "cpu":
            return {"t": "other", "type": f"tensor ({t.dtype}, {t.device})", "repr": ""}
        return {"t": "tensor", "npy": _array_bytes(t.contiguous().numpy())}
    if isinstance(value, _Tensor):  # a subclass: may behave differently from a tensor
        return {"t": "other", "type": f"{kind.__module__}.{kind.__qualname__} (a tensor subclass)", "repr": ""}
    if kind is bool:
        return {"t": "bool", "v": value}
    if kind is int:
        return {"t": "int", "v": value} if abs(value) < 2**53 else {"t": "float", "v": _number(float(value))}
    if kind is float:
        return {"t": "float", "v": _number(value)}
    if isinstance(value, np.generic) and np.ndim(value) == 0 and np.issubdtype(_type(value), np.number):
        return {"t": "float", "v": _number(float(value))}
    if value is None:
        return {"t": "none"}
    if kind is str:
        return {"t": "str", "v": _short(value)}
    if kind is list or kind is tuple:
        return {"t": kind.__name__, "items": [encode(v) for v in value]}
    if kind is set or kind is frozenset:
        return {"t": "set", "items": [encode(v) for v in sorted(value, key=repr)]}
    if kind is Adapter:
        return {"t": "adapter", "weight": encode(value.weight)}
    if kind is ToyCell:
        return {"t": "toycell", "w": [encode(w) for w in (value.w_in, value.w_h, value.w_m, value.w_c)]}
    if kind is ToyStep:
        return {"t": "toystep", "w": [encode(w) for w in (value.w_x, value.w_h, value.w_out)]}
    try:
        text = _short(repr(value))
    except Exception:  # a repr that raises is the learner's problem, not the grader's
        text = ""
    return {"t": "other", "type": f"{kind.__module__}.{kind.__qualname__}", "repr": text}


class Other:
    """A value that did not cross as data: its type name and repr (what the learner's function returned)."""

    def __init__(self, type_name: str, text: str = "") -> None:
        self.type_name, self.text = type_name, text

    def __repr__(self) -> str:
        return f"<{self.type_name}>"


def decode(tree: Any) -> Any:
    """The value :func:`encode` described (an :class:`Other` for what did not cross as data).  Lessons 1-10."""
    if not isinstance(tree, dict) or "t" not in tree:
        raise ValueError("not an encoded value")
    t = tree["t"]
    if t == "tensor":
        array = _array(tree["npy"])
        if array.dtype.kind not in "biuf":
            raise ValueError(f"an array of dtype {array.dtype} is not a tensor the exercises use")
        return torch.from_numpy(array.copy())
    if t in ("bool", "int", "str"):
        return tree["v"]
    if t == "float":
        return float(tree["v"])
    if t == "none":
        return None
    if t in ("list", "tuple"):
        items = [decode(v) for v in tree["items"]]
        return items if t == "list" else tuple(items)
    if t == "set":
        try:
            return frozenset(decode(v) for v in tree["items"])
        except TypeError:  # an item that cannot be in a set (crafted data)
            return Other("set")
    if t == "adapter":
        return Adapter(decode(tree["weight"]))
    if t == "toycell":
        return ToyCell(*(decode(w) for w in tree["w"]))
    if t == "toystep":
        return ToyStep(*(decode(w) for w in tree["w"]))
    if t == "other":
        return Other(str(tree.get("type", "?")), str(tree.get("repr", "")))
    raise ValueError(f"unknown encoded kind {t!r}")


# --------------------------------------------------------------------------------------------
# observing a call
# --------------------------------------------------------------------------------------------


def _is_own_frame(filename: str) -> bool:
    """A frame of the learner's code: not this file, not stlearn, not torch, NumPy or the standard library."""
    name = filename.replace("\\", "/")
    if name == __file__.replace("\\", "/") or "/site-packages/" in name or "/torch/" in name:
        return False
    if "/stlearn/" in name or name.startswith(sys.prefix) or name.startswith(sys.base_prefix):
        return False
    return True


def where(exc: BaseException) -> str:
    """' (in NAME, line N: `code`)' for the learner's last frame in the traceback, or ''."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _is_own_frame(f.filename)]
    if not frames:
        return ""
    frame = frames[-1]
    line = frame.line or linecache.getline(frame.filename, frame.lineno or 0).strip()
    code = f": `{line.strip()}`" if line else ""
    return f" (in {frame.name}, line {frame.lineno}{code})"


def _exception(exc: BaseException) -> dict:
    return {"type": _type(exc).__name__, "message": _short(str(exc)), "where": _short(where(exc))}


def _clone(x: Any) -> Any:
    if _type(x) is _Tensor:
        return x.detach().clone()
    if isinstance(x, list):
        return [_clone(v) for v in x]
    if isinstance(x, tuple):
        return tuple(_clone(v) for v in x)
    return x  # numbers, callables: not the learner's to change


def _tensors_after(args: Sequence[Any]) -> list[dict]:
    """The tensor and list arguments after the call, as data (the judge compares them with its copies)."""
    out = []
    for a in args:
        if _type(a) is _Tensor or isinstance(a, list | tuple):
            out.append(encode(a))
        else:
            out.append({"t": "none"})
    return out


def observe(fn: Callable[..., Any], cases: Sequence[dict], grad_args: Sequence[int] = ()) -> list[dict]:
    """Call ``fn(*args)`` for every encoded case; per case, plain data about what happened.

    Each observation has ``out`` (the encoded result, or None), ``error`` (type, message and the
    learner's line, or None), ``after`` (the tensor and list arguments after the call), ``lists_rebuilt``
    (per list argument: were its items replaced?) and, when ``grad_args`` is given, ``grads``: the
    gradient of the (scalar) result with respect to those arguments, or None where it has none.
    A ``NotImplementedError`` (the student notebook's stub) stops the loop: the exercise is not written.
    The learner's side of every exercise's check (lessons 1-10).
    """
    observations = []
    for case in cases:
        args = list(decode(case))
        if grad_args:
            for k in grad_args:
                args[k] = args[k].detach().requires_grad_(True)
        list_ids = [[id(v) for v in a] if isinstance(a, list) else None for a in args]
        obs: dict[str, Any] = {"out": None, "error": None, "grads": None}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                if grad_args:
                    with torch.enable_grad():
                        out = fn(*args)
                else:
                    with torch.no_grad():
                        out = fn(*args)
            except NotImplementedError as exc:
                obs["error"] = _exception(exc)
                observations.append(obs)
                break
            except Exception as exc:
                obs["error"] = _exception(exc)
                out = None
        if obs["error"] is None:
            obs["out"] = encode(out)
            if grad_args:
                obs["grads"] = _gradients(out, [args[k] for k in grad_args])
        obs["after"] = _tensors_after([a.detach() if _type(a) is _Tensor else a for a in args])
        obs["lists_rebuilt"] = [
            ids is not None and ids != [id(v) for v in a] for ids, a in zip(list_ids, args, strict=True)
        ]
        observations.append(obs)
    return observations


def _gradients(out: Any, leaves: list[torch.Tensor]) -> dict:
    """{'status': 'ok', 'grads': [...]} or {'status': why there is no gradient}."""
    if _type(out) is not _Tensor or out.numel() != 1:
        return {"status": "not a one-element tensor"}
    if not out.requires_grad:
        return {"status": "no graph"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            grads = torch.autograd.grad(out.sum(), leaves, allow_unused=True)
    except Exception as exc:
        return {"status": "backward failed", "error": _exception(exc)}
    return {
        "status": "ok",
        "grads": [{"t": "none"} if g is None else encode(g.detach()) for g in grads],
    }


# --------------------------------------------------------------------------------------------
# the sandbox loop
# --------------------------------------------------------------------------------------------


def _run_cell(shell: Any, code: str) -> dict:
    result = shell.run_cell(code, store_history=False, silent=True)
    exc = result.error_before_exec or result.error_in_exec
    if exc is None:
        return {"status": "ok"}
    return {"status": "error", "error": _exception(exc)}


def _probe(shell: Any, request: dict) -> dict:
    name = request["function"]
    fn = shell.user_ns.get(name)
    if fn is None:
        return {"status": "missing", "message": f"no function `{name}` is defined"}
    if not callable(fn):
        return {"status": "missing", "message": f"`{name}` is a {_type(fn).__name__}, not a function"}
    observations = observe(fn, request["cases"], tuple(request.get("grad_args", ())))
    return {"status": "ok", "observations": observations}


def _restore_builtins(snapshot: dict) -> None:
    """Undo a learner's edits of the builtins (``builtins.isinstance = ...``) before the worker uses them."""
    import builtins

    for key, value in snapshot.items():
        if builtins.__dict__.get(key) is not value:
            builtins.__dict__[key] = value


def serve() -> None:
    """Answer the grader: one JSON request per line on stdin, one JSON reply per line on the original stdout.

    Requests: ``{"op": "run", "code": ...}`` (a set-up or solution cell, IPython syntax) and
    ``{"op": "probe", "function": ..., "cases": [...], "grad_args": [...]}``. The learner's own output
    (prints, warnings, anything written to file descriptors 1 and 2) goes to /dev/null: the grader
    needs none of it, and unbounded output cannot reach it.  Runs in the sandbox when exercises of lessons 1-10
    are graded.
    """
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdin = open(os.devnull, encoding="utf-8")  # lives as long as the process
    sys.stdout = sys.stderr = open(os.devnull, "w", encoding="utf-8")
    import builtins

    from IPython.core.interactiveshell import InteractiveShell

    snapshot = dict(builtins.__dict__)
    shell = InteractiveShell.instance(colors="nocolor")
    shell.showtraceback = lambda *a, **k: None  # errors travel as data, not as printed tracebacks
    torch.set_num_threads(1)
    replies.write(json.dumps({"status": "ready"}) + "\n")
    replies.flush()
    for line in requests:
        _restore_builtins(snapshot)
        request = json.loads(line)
        try:
            if request["op"] == "run":
                reply = _run_cell(shell, request["code"])
            elif request["op"] == "probe":
                reply = _probe(shell, request)
            else:
                reply = {"status": "bad request"}
        except BaseException as exc:  # a learner's SystemExit/KeyboardInterrupt is data too
            reply = {"status": "error", "error": _exception(exc)}
        _restore_builtins(snapshot)
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


if __name__ == "__main__":
    serve()
