"""Training at a glance: the loss curve of a run and what each rollout step reads (lesson 4).

* :func:`loss_curve` — training loss and validation MSE against the iteration, from the JSON-lines
  log that :func:`stlearn.training.train` writes (``data/checkpoints/<ds>/<model>.log.jsonl``) or the
  records it hands to ``on_log``;
* :func:`read_pattern` — a sampling mask as a grid of steps: which steps read the true frame
  :math:`x_t` and which the model's own prediction :math:`\\hat x_t`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["load_log", "loss_curve", "read_pattern"]


def load_log(log: Any) -> list[dict[str, Any]]:
    """Training records as a list of dicts, from a JSON-lines path or an iterable of dicts (lesson 4).

    Each record holds at least ``"iteration"``; :func:`stlearn.training.train` also writes ``"loss"``
    (running mean of the training loss), ``"mse"`` (the last batch's), ``"val_mse_per_frame"``,
    ``"val_mse_per_pixel"`` and ``"seconds"``.
    """
    if isinstance(log, (str, Path)):
        path = Path(log)
        if not path.is_file():
            raise FileNotFoundError(f"load_log: no training log at {path}")
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        try:
            records = [json.loads(line) for line in lines]
        except json.JSONDecodeError as exc:
            raise ValueError(f"load_log: {path} is not a JSON-lines log ({exc})") from None
    elif isinstance(log, Iterable) and not isinstance(log, (bytes, Mapping)):
        records = list(log)
    else:
        raise TypeError(
            f"load_log: 'log' must be a path to a .jsonl log or a list of records (dicts), got {type(log).__name__}"
        )
    for k, r in enumerate(records):
        if not isinstance(r, Mapping) or "iteration" not in r:
            raise ValueError(f"load_log: record {k} must be a dict with an 'iteration', got {r!r}")
    return [dict(r) for r in records]


def loss_curve(log: Any, *, ax: Any | None = None, title: str | None = None) -> Any:
    """Training loss (left axis) and validation MSE per frame (right axis) against the iteration.

    The training loss is the MSE per pixel of the one-step predictions *under the run's sampling
    mask* (the running mean the log keeps); the validation MSE is per frame (sum over a frame's
    pixels) of the test-time forecast, the number the lessons compare. Their scales differ, hence two
    axes. Records without one of the keys are skipped for that curve.

    Args:
        log: a JSON-lines path (``data/checkpoints/<ds>/<model>.log.jsonl``) or records (dicts
            from ``train(..., on_log=records.append)``), see :func:`load_log`.
        ax: draw into these axes (a new figure if None).
        title: the axes title (default: number of records).

    Returns:
        The :class:`matplotlib.figure.Figure`.

    Taught in lesson 4 ("A few live training steps", "The pretrained model's training log").
    """
    import matplotlib.pyplot as plt

    records = load_log(log)
    if not records:
        raise ValueError("loss_curve: the log has no records yet")
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.0, 3.4))
    fig = ax.figure

    def series(key: str) -> tuple[np.ndarray, np.ndarray]:
        kept = [(r["iteration"], r[key]) for r in records if r.get(key) is not None]
        if not kept:
            return np.zeros(0), np.zeros(0)
        it, v = zip(*kept, strict=True)
        return np.asarray(it, dtype=float), np.asarray(v, dtype=float)

    it, loss = series("loss")
    lines = []
    if len(it):
        lines += ax.plot(it, loss, marker=".", color="#1f77b4", label="training loss (MSE/pixel, under the mask)")
    ax.set_xlabel("iteration")
    ax.set_ylabel("training loss", color="#1f77b4")
    ax.tick_params(axis="y", colors="#1f77b4")
    vit, val = series("val_mse_per_frame")
    if len(vit):
        ax2 = ax.twinx()
        lines += ax2.plot(vit, val, marker="s", ms=3, color="#d62728", label="validation MSE/frame (test-time rollout)")
        ax2.set_ylabel("validation MSE per frame", color="#d62728")
        ax2.tick_params(axis="y", colors="#d62728")
    if lines:
        ax.legend(lines, [ln.get_label() for ln in lines], fontsize=8, loc="upper center",
                  bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    ax.set_title(title or f"training log: {len(records)} records", fontsize=10)
    fig.tight_layout()
    return fig


def read_pattern(masks: Mapping[str, Any], input_len: int, *, ax: Any | None = None) -> Any:
    r"""What each rollout step reads, one row per mask: true frame :math:`x_t` or own prediction :math:`\hat x_t`.

    Args:
        masks: row label → one sample's mask, shape (T − 2,) (column j is step t = j + 1, as the
            models take it; step 0 always reads :math:`x_0`), or None for the test-time rule
            (true frames for t < input_len, own predictions after).
        input_len: number of input frames (a line marks the start of the forecast).
        ax: axes to draw into (a new figure if None).

    Returns:
        The :class:`matplotlib.figure.Figure`.

    Taught in lesson 4 ("Teacher forcing and scheduled sampling").
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    if not masks:
        raise ValueError("read_pattern: 'masks' must name at least one mask")
    labels, given = list(masks), {}
    for label, m in masks.items():
        if m is None:
            continue
        a = m.detach().cpu().numpy() if isinstance(m, torch.Tensor) else np.asarray(m)
        if a.ndim != 1:
            raise ValueError(f"read_pattern: mask {label!r} must be one sample's mask (T − 2,), got {a.shape}")
        given[label] = np.concatenate([[1.0], a.astype(float)])  # step 0 always reads x_0
    lengths = {len(a) for a in given.values()}
    if len(lengths) != 1:
        raise ValueError(f"read_pattern: give at least one mask (T − 2,), all of one length; got lengths {lengths}")
    n = lengths.pop()
    test_rule = (np.arange(n) < input_len).astype(float)  # mask=None: truth before input_len, own guesses after
    grid = np.stack([given.get(label, test_rule) for label in labels])
    if ax is None:
        fig, ax = plt.subplots(figsize=(0.42 * n + 2.4, 0.5 * len(labels) + 1.1))
    fig = ax.figure
    ax.imshow(grid, cmap=ListedColormap(["#f4a261", "#2a9d8f"]), vmin=0, vmax=1, aspect="auto")
    for r in range(len(labels)):
        for t in range(n):
            text = f"$x_{{{t}}}$" if grid[r, t] >= 0.5 else f"$\\hat x_{{{t}}}$"
            ax.text(t, r, text, ha="center", va="center", fontsize=8, color="white")
    ax.axvline(input_len - 0.5, color="black", lw=1.5)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xticks(range(n), [str(t) for t in range(n)], fontsize=7)
    ax.set_xlabel(f"step t (reads $X_t$, predicts $\\hat x_{{t+1}}$); forecast from step {input_len} on", fontsize=8)
    ax.set_title(r"what each step reads: green = true frame $x_t$, orange = own prediction $\hat x_t$", fontsize=9)
    fig.tight_layout()
    return fig
