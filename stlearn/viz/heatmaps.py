r"""Gate heatmaps: one panel per channel, a colour bar, the tensor's shape in the title.

The colour scale is fixed by what the gate can take: sigmoid gates :math:`i_t, f_t, o_t` in
[0, 1] (viridis), :math:`\tilde C_t` and :math:`H_t` in [−1, 1] (diverging, white at 0), the
unbounded cell :math:`C_t` symmetric about 0. Lessons 2 and 3 draw with it; lesson 3's
:class:`~stlearn.widgets.GateExplorer` uses the same styles, and lesson 5 adds the ST-LSTM's
:math:`g_t`, primed gates :math:`i'_t, f'_t, g'_t` and memory :math:`M_t` (unbounded, like :math:`C_t`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["GATE_STYLE", "gate_grid", "gate_limits"]

#: record field → (name, symbol in mathtext, colour map, vmin, vmax); None limits: symmetric from the data.
GATE_STYLE: dict[str, tuple[str, str, str, float | None, float | None]] = {
    "i": ("input gate", r"$i_t$", "viridis", 0.0, 1.0),
    "f": ("forget gate", r"$f_t$", "viridis", 0.0, 1.0),
    "c_tilde": ("candidate", r"$\tilde{C}_t$", "RdBu_r", -1.0, 1.0),
    "c": ("cell state", r"$C_t$", "RdBu_r", None, None),
    "o": ("output gate", r"$o_t$", "viridis", 0.0, 1.0),
    "h": ("hidden state", r"$H_t$", "RdBu_r", -1.0, 1.0),
    # PredRNN's ST-LSTM (lesson 5): g_t is the candidate; the primed gates write the memory M
    "g": ("candidate", r"$g_t$", "RdBu_r", -1.0, 1.0),
    "i_prime": ("spatial input gate", r"$i'_t$", "viridis", 0.0, 1.0),
    "f_prime": ("spatial forget gate", r"$f'_t$", "viridis", 0.0, 1.0),
    "g_prime": ("spatial candidate", r"$g'_t$", "RdBu_r", -1.0, 1.0),
    "m": ("spatiotemporal memory", r"$M_t$", "RdBu_r", None, None),
}


def gate_limits(name: str, values: Any = None) -> tuple[float, float]:
    """(vmin, vmax) of the colour scale for record field ``name`` (lesson 3).

    Bounded gates get their range; the cell state (or an unknown name) a range symmetric about 0
    that covers ``values``.
    """
    style = GATE_STYLE.get(name)
    if style is not None and style[3] is not None and style[4] is not None:
        return style[3], style[4]
    m = 1.0 if values is None else float(np.nanmax(np.abs(np.asarray(values)))) or 1.0
    return -m, m


def gate_grid(
    maps: Any,
    name: str = "i",
    *,
    channels: list[int] | None = None,
    labels: list[str] | None = None,
    columns: int = 8,
    title: str | None = None,
    cell_inches: float = 1.15,
) -> Any:
    """Heatmaps of one gate: a (C, H, W) tensor, one panel per channel, with a colour bar.

    Args:
        maps: (C, H, W) (or (1, C, H, W)) values of record field ``name``.
        name: the record field (``"i"``, ``"f"``, ``"c_tilde"``, ``"c"``, ``"o"``, ``"h"``) — it picks
            the colour scale and the label; any other name gets a symmetric diverging scale.
        channels: which channels to draw (default: the first ``columns``).
        labels: panel titles instead of "channel k" (e.g. when the panels are different tensors).
        columns: panels per row.
        title: figure title (default: the gate's name and the full tensor shape).

    Returns:
        The :class:`matplotlib.figure.Figure`.

    Lesson 3 draws every gate of the pretrained ConvLSTM with it; lesson 2 its receptive fields.
    """
    import matplotlib.pyplot as plt

    if isinstance(maps, torch.Tensor):
        maps = maps.detach().cpu().numpy()
    a = np.asarray(maps, dtype=np.float64)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 3:
        raise ValueError(f"gate_grid: 'maps' must be (C, H, W), got shape {a.shape}")
    chans = list(range(min(columns, a.shape[0]))) if channels is None else list(channels)
    if labels is not None and len(labels) != len(chans):
        raise ValueError(f"gate_grid: {len(labels)} labels for {len(chans)} panels")
    label, symbol, cmap, _, _ = GATE_STYLE.get(name, (name, name, "RdBu_r", None, None))
    vmin, vmax = gate_limits(name, a[chans])
    cols = min(columns, len(chans))
    rows = -(-len(chans) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * cell_inches + 0.9, rows * cell_inches + 0.55), squeeze=False)
    image = None
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= len(chans):
            ax.axis("off")
            continue
        image = ax.imshow(a[chans[k]], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_title(labels[k] if labels is not None else f"channel {chans[k]}", fontsize=7)
    fig.subplots_adjust(left=0.01, right=0.86, bottom=0.02, top=0.78 if rows == 1 else 0.86, wspace=0.08, hspace=0.3)
    bar = fig.add_axes((0.88, 0.1, 0.02, 0.65 if rows == 1 else 0.72))
    fig.colorbar(image, cax=bar)
    bar.tick_params(labelsize=7)
    fig.suptitle(title or f"{label} {symbol}: shape (C, H, W) = {tuple(a.shape)}", fontsize=9)
    return fig
