r"""PredRNN-V2's two additions drawn: how alike ΔC and ΔM are, and the sampling masks (lesson 7).

* :func:`cosine_histograms` — histograms of the per-channel :math:`|\cos(\Delta C, \Delta M)|`
  of several models on one logarithmic axis, with their means (the decoupling loss's quantity);
* :func:`sampling_mask_grid` — scheduled-sampling masks (samples × steps), one panel per
  iteration, the encoder/decoder boundary marked.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["cosine_histograms", "sampling_mask_grid"]


def cosine_histograms(
    groups: dict[str, Any], *, bins: int = 40, low: float = 1e-4, title: str | None = None, ax: Any = None
) -> Any:
    r"""Histograms of :math:`|\cos|` per channel for several models, log-spaced bins on [``low``, 1].

    Args:
        groups: label → cosines of any shape (e.g. :func:`stlearn.probe.channel_cosines`'
            (N, steps, layers, C)); their absolute values are histogrammed, values below ``low``
            counted in the first bin. The legend gives each group's mean :math:`|\cos|` and count.
        bins: number of bins.
        low: left end of the axis (|cos| is in [0, 1]; a log axis needs a positive start).
        title: axes title.
        ax: draw into this axes (a new figure if None).

    Returns:
        The :class:`matplotlib.figure.Figure`.

    Taught in lesson 7 (PredRNN-V2: ΔC and ΔM before and after the decoupling loss).
    """
    import matplotlib.pyplot as plt

    if not isinstance(groups, dict) or not groups:
        raise ValueError("cosine_histograms: 'groups' must be a non-empty dict label → cosines")
    if not 0 < low < 1:
        raise ValueError(f"cosine_histograms: 'low' must be in (0, 1), got {low}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 3.2))
    else:
        fig = ax.figure
    edges = np.geomspace(low, 1.0, bins + 1)
    for k, (label, values) in enumerate(groups.items()):
        v = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values, dtype=np.float64)
        v = np.abs(v.ravel())
        if v.size == 0:
            raise ValueError(f"cosine_histograms: group {label!r} is empty")
        colour = f"C{k % 10}"  # the default colour cycle, so line plots of the same groups match
        counts, _ = np.histogram(np.clip(v, low, 1.0), edges)
        ax.stairs(counts / v.size, edges, color=colour, lw=1.6, label=f"{label}: mean {v.mean():.3f} (n = {v.size})")
        ax.axvline(v.mean(), color=colour, ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_xlim(low, 1.0)
    ax.set_xlabel(r"$|\cos(\Delta C, \Delta M)|$ of one (sample, step, layer, channel), over the pixels")
    ax.set_ylabel("fraction of channels")
    ax.legend(fontsize=8, loc="upper left")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def sampling_mask_grid(masks: dict[str, Any], input_len: int = 10, *, title: str | None = None) -> Any:
    """Sampling masks side by side: rows = samples, columns = input steps t = 1 … T − 2.

    Black = the true frame (:math:`m_t = 1`), white = the model's own prediction (:math:`m_t = 0`);
    a red line separates encoder steps (t < ``input_len``) from decoder steps.

    Args:
        masks: panel title → (B, T − 2) mask of 0/1, as :mod:`stlearn.training.schedules` builds them.
        input_len: number of input frames (the boundary).
        title: figure title.

    Returns:
        The :class:`matplotlib.figure.Figure`.

    Taught in lesson 7 (reverse scheduled sampling, contrasted with lesson 4's scheduled sampling).
    """
    import matplotlib.pyplot as plt

    if not isinstance(masks, dict) or not masks:
        raise ValueError("sampling_mask_grid: 'masks' must be a non-empty dict title → (B, T - 2) mask")
    arrays = {}
    for name, m in masks.items():
        a = m.detach().cpu().numpy() if isinstance(m, torch.Tensor) else np.asarray(m)
        if a.ndim != 2:
            raise ValueError(f"sampling_mask_grid: mask {name!r} must be (B, T - 2), got shape {a.shape}")
        if not np.isin(a, (0, 1)).all():
            raise ValueError(f"sampling_mask_grid: mask {name!r} must hold only 0 and 1")
        arrays[name] = a
    steps = {a.shape[1] for a in arrays.values()}
    if len(steps) != 1:
        raise ValueError(f"sampling_mask_grid: all masks need the same number of steps, got {sorted(steps)}")
    n_steps = steps.pop()
    if not 1 <= input_len <= n_steps + 1:
        raise ValueError(f"sampling_mask_grid: 'input_len' must be in [1, {n_steps + 1}], got {input_len}")
    n = len(arrays)
    rows = max(a.shape[0] for a in arrays.values())
    fig, axes = plt.subplots(1, n, figsize=(0.12 * n_steps * n + 0.5 * n + 0.4, 0.16 * rows + 1.6), squeeze=False)
    ticks = list(range(0, n_steps, 3))
    for ax, (name, a) in zip(axes[0], arrays.items(), strict=True):
        ax.imshow(a, cmap="gray_r", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        # column j is input step t = j + 1; encoder steps t < input_len are columns j < input_len - 1
        ax.axvline(input_len - 1.5, color="#d1495b", lw=2)
        ax.set_xticks(ticks, [str(j + 1) for j in ticks], fontsize=7)
        ax.set_yticks([])
        ax.set_xlabel("input step t", fontsize=8)
        enc, dec = a[:, : input_len - 1], a[:, input_len - 1 :]
        share = lambda b: f"{b.mean():.0%}" if b.size else "–"  # noqa: E731
        ax.set_title(f"{name}\ntrue: enc {share(enc)}, dec {share(dec)}", fontsize=8)
    axes[0, 0].set_ylabel(f"samples (B = {rows})", fontsize=8)
    fig.suptitle(title or f"sampling masks (B, T − 2) = ({rows}, {n_steps}); black = true frame", fontsize=9)
    fig.tight_layout()
    return fig
