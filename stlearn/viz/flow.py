r"""TrajGRU's learned flows and MIM's memories, drawn from one traced pass (lesson 8).

* :func:`flow_arrows` — one flow field :math:`(U_l, V_l)` as arrows over a frame, in frame pixels;
* :func:`flow_figure` — the L flows of one step and scale, each over the frame the step reads;
* :func:`warp_figure` — one channel of :math:`H_{t-1}` before and after :math:`\mathrm{warp}(H_{t-1}, U_l, V_l)`;
* :func:`mim_memory_figure` — MIM-N's input :math:`H^{l-1}_t - H^{l-1}_{t-1}`, its memory :math:`N_t`,
  MIM-S's memory :math:`S_t` and output :math:`T_t` as heatmaps over a real sequence.

Every function takes the traces of :func:`stlearn.models.trajgru_sequence_trace` /
:func:`stlearn.models.mim_sequence_trace` and returns its figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["MIM_QUANTITIES", "arrow_grid", "flow_arrows", "flow_figure", "mim_memory_figure", "warp_figure", "warped"]

#: MIM block record fields lesson 8 draws, with their labels (MIMMemoryExplorer's menu)
MIM_QUANTITIES = {
    "diff": "MIM-N input: H_t − H_t-1 of the layer below",
    "d": "MIM-N output D_t",
    "n": "non-stationary memory N_t",
    "s": "stationary memory S_t",
    "t": "MIM-S output T_t (replaces f⊙C)",
    "c": "temporal memory C_t",
    "h": "hidden state H_t",
    "n_f": "MIM-N forget gate",
    "n_i": "MIM-N input gate",
    "s_f": "MIM-S forget gate",
    "s_i": "MIM-S input gate",
    "s_o": "MIM-S output gate",
}
#: short row labels of :func:`mim_memory_figure`
MIM_SHORT = {"diff": "$H^{l-1}_t - H^{l-1}_{t-1}$", "d": "$D_t$", "n": "$N_t$", "s": "$S_t$", "t": "$T_t$",
             "c": "$C_t$", "h": "$H_t$"}  # fmt: skip


def arrow_grid(grid: tuple[int, int], cell_size: int, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrow positions: the centres of every ``stride``-th grid cell, in frame pixels, and their grid indices.

    Returns ``(X, Y, index)``: X, Y (n,) frame coordinates; ``index`` (n, 2) the (row, col) of each cell.
    Lesson 8 (where TrajGRUFlowExplorer puts its arrows).
    """
    h, w = grid
    rows, cols = np.arange(stride // 2, h, stride), np.arange(stride // 2, w, stride)
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    centre = (cell_size - 1) / 2.0
    return cc.ravel() * cell_size + centre, rr.ravel() * cell_size + centre, np.stack([rr.ravel(), cc.ravel()], 1)


def flow_arrows(ax: Any, flow: np.ndarray, cell_size: int, stride: int = 1, **style: Any) -> Any:
    r"""Draw one flow field (2, h, w) — U along x, V along y, in grid pixels — as arrows over a frame.

    The warp reads :math:`H[y - V, x - U]`: the content at :math:`(x - U, y - V)` arrives at
    :math:`(x, y)`. Each arrow starts at that source and ends at the cell centre, so it points the way
    the state moves; its length is :math:`(U, V)` × ``cell_size`` frame pixels (no rescaling). Returns
    the :class:`~matplotlib.quiver.Quiver` (``set_UVC`` moves it; lesson 8's widget does). Lesson 8.
    """
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[0] != 2:
        raise ValueError(f"flow_arrows: 'flow' must be (2, h, w) = (U, V) maps, got shape {flow.shape}")
    x, y, idx = arrow_grid(flow.shape[1:], cell_size, stride)
    u, v = flow[0][idx[:, 0], idx[:, 1]] * cell_size, flow[1][idx[:, 0], idx[:, 1]] * cell_size
    kw = {"color": "#ff5a36", "width": 0.006, "headwidth": 3.5, "headlength": 4, "headaxislength": 3.5}
    kw.update(style)
    # pivot "tip": the arrow ends at the cell it is drawn for, starting at the source (x − U, y − V)
    return ax.quiver(x, y, u, v, angles="xy", scale_units="xy", scale=1, pivot="tip", **kw)


def warped(h_prev: np.ndarray, flow: np.ndarray) -> np.ndarray:
    r""":math:`\mathrm{warp}(H_{t-1}, U, V)` of a (C, h, w) state along one (2, h, w) flow (the model's warp).

    Lesson 8 draws it (a state channel before and after the warp).
    """
    from ..models.trajgru_cell import warp

    h = torch.as_tensor(np.asarray(h_prev, np.float32))[None]
    f = torch.as_tensor(np.asarray(flow, np.float32))[None]
    return warp(h, f)[0].numpy()


def _frame_axes(ax: Any, frame: np.ndarray) -> None:
    ax.imshow(frame, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def flow_figure(trace: Any, step: int, scale: int = 0, stride: int | None = None) -> Any:
    """The L flows of ``step`` at ``scale``, each as arrows over the frame that step reads (lesson 8).

    Titles give each link's mean arrow length in frame pixels; the caption the flows' shape.
    """
    import matplotlib.pyplot as plt

    flows = trace.flows[scale][step]  # (L, 2, h, w)
    links, _, h, w = flows.shape
    cell = trace.cell_size[scale]
    stride = stride or max(1, h // 8)
    frame, what = trace.shown_frame(step)
    fig, axes = plt.subplots(1, links, figsize=(2.0 * links, 2.35))
    for k, ax in enumerate(np.atleast_1d(axes)):
        _frame_axes(ax, frame)
        flow_arrows(ax, flows[k], cell, stride)
        length = np.hypot(flows[k, 0], flows[k, 1]).mean() * cell
        ax.set_title(f"link l = {k + 1}: mean |(U, V)| {length:.1f} px", fontsize=8)
    fig.suptitle(
        f"TrajGRU step {step}, scale {scale} ({h}×{w} grid, 1 cell = {cell} px): the L = {links} flows over {what};\n"
        f"flows (B, L, 2, h, w) = (1, {links}, 2, {h}, {w}); each arrow: where that cell's state is gathered from",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def warp_figure(trace: Any, step: int, scale: int = 0, link: int = 0, channel: int | None = None) -> Any:
    r"""One channel of :math:`H_{t-1}`, of :math:`\mathrm{warp}(H_{t-1}, U_l, V_l)` and their difference (lesson 8).

    ``channel`` None picks the channel where the warp changes most. One symmetric colour scale for the
    three maps; the flow's arrows drawn over the warped one.
    """
    import matplotlib.pyplot as plt

    h_prev = trace.h_prev(step, scale)
    flow = trace.flows[scale][step, link]
    after = warped(h_prev, flow)
    change = after - h_prev
    if channel is None:
        channel = int(np.abs(change).reshape(change.shape[0], -1).sum(1).argmax())
    maps = [h_prev[channel], after[channel], change[channel]]
    limit = float(max(np.abs(m).max() for m in maps)) or 1.0
    fig, axes = plt.subplots(1, 3, figsize=(7.2, 2.7))
    names = ["$H_{t-1}$", rf"warp$(H_{{t-1}}, U_{{{link + 1}}}, V_{{{link + 1}}})$", "warped − $H_{t-1}$"]
    for ax, m, name in zip(axes, maps, names, strict=True):
        im = ax.imshow(m, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    flow_arrows(axes[1], flow, 1, max(1, flow.shape[1] // 8), color="k")
    fig.colorbar(im, ax=list(axes), shrink=0.8)
    fig.suptitle(
        f"step {step}, scale {scale}, channel {channel}: each (h, w) = {tuple(h_prev.shape[1:])}; "
        f"mean |change| {np.abs(change[channel]).mean():.3f}",
        fontsize=9,
    )
    return fig


def mim_memory_figure(trace: Any, layer: int = 1, steps: Sequence[int] | None = None,
                      quantities: Sequence[str] = ("diff", "n", "s", "t")) -> Any:  # fmt: skip
    r"""Heatmaps over a real sequence: the frame read, then each quantity's channel-mean |·| (lesson 8).

    Rows: the frame step t read, then for MIM block ``layer`` each record field in ``quantities``
    (default MIM-N's input :math:`H^{l-1}_t - H^{l-1}_{t-1}`, the non-stationary memory :math:`N_t`,
    the stationary memory :math:`S_t`, MIM-S's output :math:`T_t`), averaged over channels of
    :math:`|\cdot|`; one colour scale per row over the whole sequence.
    """
    import matplotlib.pyplot as plt

    if not 1 <= layer < trace.num_layers:
        raise ValueError(
            f"mim_memory_figure: 'layer' must be a MIM block, 1 … {trace.num_layers - 1} (layer 0 is an ST-LSTM), "
            f"got {layer!r}"
        )
    rec = trace.records[layer]
    unknown = [q for q in quantities if q not in rec]
    if unknown:
        raise ValueError(f"mim_memory_figure: unknown quantities {unknown}; the record has {sorted(rec)}")
    steps = list(steps) if steps is not None else list(range(1, trace.num_steps, max(1, trace.num_steps // 6)))
    size = (1.45 * len(steps) + 1.6, 1.45 * (1 + len(quantities)))
    fig, axes = plt.subplots(1 + len(quantities), len(steps), figsize=size, squeeze=False)
    for col, t in enumerate(steps):
        ax = axes[0, col]
        ax.imshow(trace.read[t], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"step {t}" + (" (fed back)" if t >= trace.input_len else ""), fontsize=8)
    for row, q in enumerate(quantities, start=1):
        mean_abs = np.abs(rec[q]).mean(1)  # (steps, h, w)
        top = float(mean_abs.max()) or 1.0
        for col, t in enumerate(steps):
            axes[row, col].imshow(mean_abs[t], cmap="magma", vmin=0, vmax=top, interpolation="nearest")
        axes[row, 0].set_ylabel(f"|{MIM_SHORT.get(q, q)}|", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("frame read", fontsize=8)
    c, h, w = rec[quantities[0]].shape[1:]
    fig.suptitle(
        f"MIM block {layer}: mean |·| over the {c} channels, each map (h, w) = ({h}, {w}); one colour scale per row",
        fontsize=9,
    )
    fig.tight_layout()
    return fig
