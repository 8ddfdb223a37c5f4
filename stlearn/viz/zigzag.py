r"""PredRNN's zigzag memory flow as a diagram: a layers × steps grid of ST-LSTM cells (lesson 6).

* :func:`memory_path` — the order in which the cells write the spatiotemporal memory M, and where
  each cell's input M comes from (``PredRNN._memory_in`` in words);
* :func:`memory_flow` — one traced pass of a PredRNN over one sequence, reduced to what the
  diagram shows: the size of M (and C) at every hop and the map of M;
* :class:`ZigzagDiagram` — the grid drawn once (cells, M arrows, C arrows), then re-coloured for
  any hop; :class:`~stlearn.widgets.ZigzagFlow` animates it;
* :func:`zigzag_figure` — the static diagram of one hop (or just the wiring) for the lesson.

Three wirings are drawn: ``"zigzag"`` (PredRNN: M goes up the stack within a step, then from the
top layer back to the bottom layer at the next step), ``"cut"`` (``zigzag=False``: each layer keeps
its own M, carried forward in time only) and ``"convlstm"`` (no M at all: only the layer-local C).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
import torch
from matplotlib.collections import PatchCollection
from matplotlib.colors import Normalize, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

from .._checks import check_positive_int
from ..probe import trace_sequence

__all__ = ["WIRINGS", "MemoryFlow", "ZigzagDiagram", "memory_flow", "memory_path", "zigzag_figure"]

#: the memory wirings the diagram knows
WIRINGS = ("zigzag", "cut", "convlstm")

Hop = tuple[int, int]

# colours: M path (orange), C path (blue), done / to come
_M_ON, _M_DONE, _M_LATER = "#d95f02", "#e6a46e", "#eeeeee"
_C_COLOUR = "#4a7bb7"
_CMAP = "YlOrBr"


def _check_wiring(where: str, wiring: str) -> str:
    if wiring not in WIRINGS:
        raise ValueError(f"{where}: 'wiring' must be one of {WIRINGS}, got {wiring!r}")
    return wiring


def memory_path(num_steps: int, num_layers: int, wiring: str = "zigzag") -> list[tuple[Hop, Hop | None]]:
    r"""The cells in the order they run, each with the cell whose M it reads: ``[((t, l), source), ...]``.

    Zigzag: :math:`M^{l-1}_t \to M^l_t` up the stack, and :math:`M^{L-1}_{t-1} \to M^0_t` from the top
    back to the bottom; cut: :math:`M^l_{t-1} \to M^l_t`. ``source`` is ``None`` where the memory
    read is the zero initial state (t = 0) — and always for ``"convlstm"``, which has no M.

    Taught in lesson 6 ("The zigzag memory flow").
    """
    where = "memory_path"
    steps = check_positive_int(where, "num_steps", num_steps)
    layers = check_positive_int(where, "num_layers", num_layers)
    _check_wiring(where, wiring)
    path: list[tuple[Hop, Hop | None]] = []
    for t in range(steps):
        for layer in range(layers):
            if wiring == "convlstm":
                source = None
            elif wiring == "cut":
                source = (t - 1, layer) if t else None
            elif layer:
                source = (t, layer - 1)
            else:
                source = (t - 1, layers - 1) if t else None
            path.append(((t, layer), source))
    return path


@dataclass(frozen=True)
class MemoryFlow:
    """What one traced PredRNN pass tells about its memories, all NumPy (float32).

    Attributes:
        m_mean: mean :math:`|M^l_t|` over channels and pixels, (steps, layers).
        m_norm: Frobenius norm :math:`\\|M^l_t\\|` (one sample), (steps, layers).
        c_mean: mean :math:`|C^l_t|`, (steps, layers).
        m_maps: mean over channels of :math:`|M^l_t|`, (steps, layers, h, w) on the patch grid.
        m_shape: the (C, h, w) of one memory tensor.
        frames, read, predictions: as in :class:`~stlearn.probe.SequenceTrace` (T or T − 1, H, W).
        wiring: ``"zigzag"`` or ``"cut"`` — how the traced model routed M.
        input_len: input frames.

    Lesson 6's ZigzagFlow reads it.
    """

    m_mean: np.ndarray
    m_norm: np.ndarray
    c_mean: np.ndarray
    m_maps: np.ndarray
    m_shape: tuple[int, int, int]
    frames: np.ndarray
    read: np.ndarray
    predictions: np.ndarray
    wiring: str
    input_len: int

    @property
    def num_steps(self) -> int:
        return self.m_mean.shape[0]

    @property
    def num_layers(self) -> int:
        return self.m_mean.shape[1]

    def frame_mse(self) -> np.ndarray:
        """Squared error summed over each predicted frame (prediction clipped to [0, 1]), (steps,)."""
        pred = np.clip(self.predictions, 0, 1)
        return ((pred - self.frames[1:]) ** 2).reshape(pred.shape[0], -1).sum(axis=1)


def _check_predrnn(where: str, model: Any) -> None:
    if not hasattr(model, "_memory_in") or not hasattr(model, "zigzag"):
        raise TypeError(
            f"{where}: 'model' must be a PredRNN (a model with the zigzag memory M, e.g. "
            f"load_pretrained('moving_digits', 'predrnn')), got {type(model).__name__}"
        )


def memory_flow(model: torch.nn.Module, frames: Any, input_len: int = 10) -> MemoryFlow:
    """Run a PredRNN once over one sequence (traced, no gradients) and measure M at every hop.

    Args:
        model: a :class:`~stlearn.models.PredRNN` (or PredRNN-V2); its ``zigzag`` flag decides the wiring.
        frames: one sequence (T, [1,] H, W), uint8 or float in [0, 1].
        input_len: input frames; after them the model reads its own predictions.

    Taught in lesson 6 ("The zigzag memory flow").
    """
    _check_predrnn("memory_flow", model)
    tr = trace_sequence(model, frames, input_len)
    m = np.stack([rec["m"] for rec in tr.records], axis=1)  # (steps, layers, C, h, w)
    c = np.stack([rec["c"] for rec in tr.records], axis=1)
    steps, layers = m.shape[:2]
    return MemoryFlow(
        m_mean=np.abs(m).mean(axis=(2, 3, 4)),
        m_norm=np.sqrt((m.astype(np.float64) ** 2).reshape(steps, layers, -1).sum(axis=2)).astype(np.float32),
        c_mean=np.abs(c).mean(axis=(2, 3, 4)),
        m_maps=np.abs(m).mean(axis=2),
        m_shape=tuple(m.shape[2:]),  # type: ignore[arg-type]
        frames=tr.frames,
        read=tr.read,
        predictions=tr.predictions,
        wiring="zigzag" if model.zigzag else "cut",
        input_len=input_len,
    )


class ZigzagDiagram:
    r"""The layers × steps grid of ST-LSTM cells with the paths of M and C, drawn once on ``ax``.

    Columns are steps t (left to right), rows are layers l (layer 0 at the bottom). Orange arrows
    carry M (in the chosen ``wiring``), thin blue arrows carry each layer's C forward in time.
    :meth:`show` colours the cells by a value (e.g. mean |M|), writes it in each cell and marks a
    hop: the path up to it in orange, the hop itself framed with a thick arrow, the rest grey.
    Cells and arrows are one collection each, so a hop only changes colour arrays, one frame's
    and one arrow's position, and the cell texts — cheap enough to animate.

    Taught in lesson 6 ("The zigzag memory flow").
    """

    def __init__(self, ax: Any, num_steps: int, num_layers: int, wiring: str = "zigzag",
                 show_c: bool = True, fontsize: float = 7.0) -> None:  # fmt: skip
        self.ax = ax
        self.num_steps = check_positive_int("ZigzagDiagram", "num_steps", num_steps)
        self.num_layers = check_positive_int("ZigzagDiagram", "num_layers", num_layers)
        self.wiring = _check_wiring("ZigzagDiagram", wiring)
        self.path = memory_path(num_steps, num_layers, wiring)
        #: the cells in the order they run (the animation's hops)
        self.order: list[Hop] = [hop for hop, _ in self.path]
        self._cmap = matplotlib.colormaps[_CMAP]
        self.norm = Normalize(0, 1)
        w, h = 0.56, 0.5
        self._w, self._h = w, h
        # the cells, in path order: one collection
        self.cells = PatchCollection(
            [Rectangle((t - w / 2, layer - h / 2), w, h) for t, layer in self.order],
            facecolors="white", edgecolors="#555555", linewidths=0.8, zorder=3,
        )  # fmt: skip
        ax.add_collection(self.cells)
        self.labels = [ax.text(t, layer, "", ha="center", va="center", fontsize=fontsize, zorder=5)
                       for t, layer in self.order]  # fmt: skip
        # temporal memory C^l_{t-1} → C^l_t: horizontal, a little above the cell centres
        self.c_arrows = None
        if show_c and num_steps > 1:
            xy = np.array([(t - 1 + w / 2, layer + 0.13) for t in range(1, num_steps) for layer in range(num_layers)])
            self.c_arrows = ax.quiver(xy[:, 0], xy[:, 1], np.full(len(xy), 1 - w), np.zeros(len(xy)), angles="xy",
                                      scale_units="xy", scale=1, units="inches", color=_C_COLOUR, width=0.016,
                                      headwidth=4, headlength=4, headaxislength=3.5, zorder=2)  # fmt: skip
        # spatiotemporal memory M: one arrow per (cell, source) of the wiring, in path order
        self._m_rank: list[int] = []
        starts, ends = [], []
        for k, ((t, layer), source) in enumerate(self.path):
            if source is None:
                continue
            start, end = self._arrow_ends((t, layer), source)
            starts.append(start)
            ends.append(end)
            self._m_rank.append(k)
        self._m_starts, self._m_ends = starts, ends
        self.m_arrows = None
        if starts:
            s, e = np.array(starts), np.array(ends)
            self.m_arrows = ax.quiver(s[:, 0], s[:, 1], e[:, 0] - s[:, 0], e[:, 1] - s[:, 1], angles="xy",
                                      scale_units="xy", scale=1, units="inches", color=_M_LATER, width=0.03,
                                      headwidth=3.5, headlength=3.5, headaxislength=3, zorder=1)  # fmt: skip
        # the current hop: a thick frame and a thick arrow, moved from hop to hop
        self.frame = Rectangle((0, 0), w, h, fill=False, ec="black", lw=2.6, zorder=6, visible=False)
        ax.add_patch(self.frame)
        self.arrow = FancyArrowPatch((0, 0), (0, 1), arrowstyle="-|>", mutation_scale=11, color=_M_ON, lw=3,
                                     zorder=6, visible=False)  # fmt: skip
        ax.add_patch(self.arrow)
        ax.set_xlim(-0.6, num_steps - 0.4)
        ax.set_ylim(-0.42, num_layers - 0.58)
        ax.set_xticks(range(num_steps))
        ax.set_xticklabels([str(t) for t in range(num_steps)], fontsize=fontsize + 1)
        ax.set_yticks(range(num_layers))
        ax.set_yticklabels([f"layer {k}" for k in range(num_layers)], fontsize=fontsize + 1)
        ax.tick_params(length=0, pad=1)
        for side in ("top", "right", "left", "bottom"):
            ax.spines[side].set_visible(False)
        ax.set_xlabel("step t", fontsize=fontsize + 1, labelpad=1)

    def _arrow_ends(self, cell: Hop, source: Hop) -> tuple[tuple[float, float], tuple[float, float]]:
        (t, layer), (st, sl) = cell, source
        w, h = self._w, self._h
        if self.wiring == "cut":  # horizontal, a little below the C arrows
            return (st + w / 2, layer - 0.13), (t - w / 2, layer - 0.13)
        if st == t:  # up the stack
            return (t, sl + h / 2), (t, layer - h / 2)
        # top of step t−1 back to the bottom of step t: corner to corner, between the columns
        return (st + w / 2, sl - h / 2), (t - w / 2, layer + h / 2)

    def show(self, values: np.ndarray | None = None, hop: int | None = None, fmt: str = "{:.2f}",
             vmax: float | None = None, reveal: bool = True) -> None:  # fmt: skip
        """Colour and label the cells by ``values`` (steps, layers) and mark hop number ``hop`` of the path.

        ``hop=None`` shows the whole path as done (the static wiring) and frames no cell. With
        ``reveal=True`` the cells after ``hop`` stay blank; with ``False`` every cell shows its value
        and only the arrows and the frame tell how far M has come (what the widget animates).
        """
        self.check_hop(hop)
        self.paint(values, None if hop is None or not reveal else hop, fmt, vmax)
        self.mark(hop)

    def check_hop(self, hop: int | None) -> None:
        n = len(self.order)
        if hop is not None and (isinstance(hop, bool) or not isinstance(hop, int | np.integer) or not 0 <= hop < n):
            raise ValueError(f"ZigzagDiagram: 'hop' must be None or an integer in 0 … {n - 1}, got {hop!r}")

    def paint(self, values: np.ndarray | None, upto: int | None = None, fmt: str = "{:.2f}",
              vmax: float | None = None) -> None:  # fmt: skip
        """Colour and label the cells by ``values`` (steps, layers): all of them, or those up to hop ``upto``."""
        n = len(self.order)
        self.check_hop(upto)
        if values is not None:
            values = np.asarray(values)
            if values.shape != (self.num_steps, self.num_layers):
                raise ValueError(
                    f"ZigzagDiagram.show: 'values' must have shape (steps, layers) = "
                    f"{(self.num_steps, self.num_layers)}, got {values.shape}"
                )
            self.norm.vmax = float(vmax if vmax is not None else max(values.max(), 1e-12))
        last = n - 1 if upto is None else upto
        faces = np.ones((n, 4))
        for k, cell in enumerate(self.order):
            label = self.labels[k]
            if values is not None and k <= last:
                level = 0.75 * float(self.norm(values[cell]))
                faces[k] = self._cmap(level)
                label.set_text(fmt.format(values[cell]))
                label.set_color("white" if level > 0.5 else "black")
            else:
                label.set_text("")
        self.cells.set_facecolor(faces)

    def mark(self, hop: int | None) -> None:
        """Mark hop ``hop``: the M arrows up to it orange, the rest grey, a frame and a thick arrow on it."""
        self.check_hop(hop)
        current = len(self.order) - 1 if hop is None else hop
        if self.m_arrows is not None:
            done, later = to_rgba(_M_DONE), to_rgba(_M_LATER)
            self.m_arrows.set_color([done if k <= current else later for k in self._m_rank])
        self.frame.set_visible(hop is not None)
        self.arrow.set_visible(False)
        if hop is not None:
            t, layer = self.order[hop]
            self.frame.set_xy((t - self._w / 2, layer - self._h / 2))
            if hop in self._m_rank:
                j = self._m_rank.index(hop)
                self.arrow.set_positions(self._m_starts[j], self._m_ends[j])
                self.arrow.set_visible(True)


def zigzag_figure(flow: MemoryFlow | None = None, hop: int | None = None, *, num_steps: int = 6,
                  num_layers: int = 2, wiring: str = "zigzag", title: str | None = None) -> Figure:  # fmt: skip
    """The static diagram: the wiring alone, or one traced pass with mean |M| in every cell.

    Args:
        flow: a :class:`MemoryFlow` (its steps, layers and wiring are used), or ``None`` for the
            bare wiring of ``num_steps`` × ``num_layers`` cells in ``wiring``.
        hop: mark the path up to this hop (``None``: the whole path).
        title: figure title (default: the wiring and the tensor shape).

    Returns:
        The :class:`matplotlib.figure.Figure`. Taught in lesson 6 ("The zigzag memory flow").
    """
    if flow is not None:
        num_steps, num_layers, wiring = flow.num_steps, flow.num_layers, flow.wiring
    width, height = max(5.0, 0.62 * num_steps + 1.2), 0.7 * num_layers + 1.3
    fig = Figure(figsize=(width, height))
    # fixed margins in inches: labels left, step axis below, title above
    ax = fig.add_axes((0.8 / width, 0.55 / height, 1 - 0.9 / width, 1 - 1.1 / height))
    diagram = ZigzagDiagram(ax, num_steps, num_layers, wiring, show_c=True)
    diagram.show(None if flow is None else flow.m_mean, hop)
    if title is None:
        names = {"zigzag": "PredRNN: M zigzags (orange), C stays in its layer (blue)",
                 "cut": "zigzag cut: each layer keeps its own M (orange) and C (blue)",
                 "convlstm": "ConvLSTM: only the layer-local memory C (blue)"}  # fmt: skip
        title = names[wiring]
        if flow is not None:
            title += f"\nmean |M| per cell, M: (C, h, w) = {flow.m_shape}"
    ax.set_title(title, fontsize=9)
    return fig
