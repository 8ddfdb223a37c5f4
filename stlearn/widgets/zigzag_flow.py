"""ZigzagFlow: PredRNN's memory M travelling through the stack, hop by hop, with real magnitudes (lesson 6)."""

from __future__ import annotations

import copy
import html
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from ..viz.zigzag import MemoryFlow, ZigzagDiagram, _check_predrnn, memory_flow, memory_path
from ._canvas import FigureImage
from ._images import NearestImages
from ._labels import axes_title
from ._strips import check_sequences, sequence_source
from ._watch import WeightsWatch

__all__ = ["ZigzagFlow"]

#: what the cells can show: label → (MemoryFlow field, number format)
QUANTITIES = {
    "mean |M|": ("m_mean", "{:.2f}"),
    "norm ‖M‖": ("m_norm", "{:.0f}"),
    "mean |C|": ("c_mean", "{:.2f}"),
}

#: wiring toggle: label → value of the model's ``zigzag`` flag
WIRING_LABELS = {"zigzag (as trained)": "zigzag", "cut (zigzag=False)": "cut"}


class ZigzagFlow:
    r"""The layers × steps grid of a PredRNN's ST-LSTM cells, with M's path animated hop by hop.

    Each hop is one cell call, in the order the code runs them (``PredRNN._memory_in``): up the
    stack within a step, then from the top layer back to the bottom layer at the next step. Every
    cell shows the real size of what it wrote (mean :math:`|M^l_t|` by default) from one traced
    pass of the model; the M arrows turn orange up to the current hop, which gets a thick frame and
    arrow. Below: the path's values as a curve, the map of :math:`|M^l_t|` (mean over channels) at
    the current hop, and the frame step t read, its prediction and the truth.

    The wiring toggle runs a copy of the model with ``zigzag = False`` (each layer keeps its own M,
    no retraining) on the same sequence, so the diagram, the numbers and the prediction's error
    can be compared. Each (sequence, wiring) is traced once and cached; the ``Play`` button and the
    hop slider only recolour the drawn diagram. Set ``flow.hop.value = 7`` from Python to do what the
    slider does.

    Args:
        model: a PredRNN (e.g. ``load_pretrained("moving_digits", "predrnn")``).
        frames: sequences (N, T, [1,] H, W) — a :class:`~stlearn.data.SequenceDataset`, array or tensor.
        sequences: the indices offered in the sequence picker.
        input_len: input frames (the rest are forecast).

    Lesson 6 ("The zigzag memory flow").
    """

    def __init__(self, model: torch.nn.Module, frames: Any, sequences: Sequence[int] = (0, 1, 2, 3),
                 input_len: int = 10) -> None:  # fmt: skip
        _check_predrnn("ZigzagFlow", model)
        self.model = model
        self.frames = sequence_source("ZigzagFlow", frames)
        seqs = check_sequences("ZigzagFlow", self.frames, sequences)
        self.input_len = input_len
        self._cut: torch.nn.Module | None = None
        self._cache: dict[tuple[int, str], MemoryFlow] = {}
        self.runs = 0  # model passes so far (one per sequence and wiring)
        first = "zigzag" if model.zigzag else "cut"
        fl = self.flow_of(seqs[0], first)
        row = widgets.Layout(width="300px")
        desc = {"description_width": "70px"}
        n_hops = fl.num_steps * fl.num_layers
        self.sequence = widgets.Dropdown(options=[(f"sequence {k}", k) for k in seqs], value=seqs[0],
                                         description="sequence", layout=row, style=desc)  # fmt: skip
        self.wiring = widgets.ToggleButtons(options=list(WIRING_LABELS.items()), value=first,
                                            description="M flow", style={"description_width": "70px",
                                                                         "button_width": "140px"})  # fmt: skip
        self.quantity = widgets.Dropdown(options=list(QUANTITIES), value="mean |M|", description="cells show",
                                         layout=row, style=desc)  # fmt: skip
        self.hop = widgets.IntSlider(value=self.input_len * fl.num_layers - 1, min=0, max=n_hops - 1,
                                     description="hop", layout=widgets.Layout(width="420px"), style=desc)  # fmt: skip
        self.play = widgets.Play(value=self.hop.value, min=0, max=n_hops - 1, interval=350, description="play")
        # a Python-side link, so that setting either from Python (tests) moves the other too
        self._link = widgets.link((self.play, "value"), (self.hop, "value"))
        self._backgrounds: dict[tuple, Any] = {}  # static parts, drawn once per (sequence, wiring, quantity)
        self._build_figure(fl)
        self.canvas.watch = WeightsWatch([self.model])  # the view draws nothing once its weights change
        guard = self.canvas.guard
        self.sequence.observe(guard(self._on_heavy), names="value")
        self.wiring.observe(guard(self._on_heavy), names="value")
        self.quantity.observe(guard(self._redraw), names="value")
        self.hop.observe(guard(self._update), names="value")
        self.headline = widgets.HTML()
        self._redraw()
        controls = widgets.VBox(
            [
                widgets.HBox([self.sequence, self.quantity]),
                self.wiring,
                widgets.HBox([self.play, self.hop]),
            ]
        )
        self.widget = widgets.VBox(
            [controls, self.headline, self.canvas.image, self.canvas.error],
            layout=widgets.Layout(align_items="flex-start"),
        )

    # -- data ----------------------------------------------------------------------------------

    def model_for(self, wiring: str) -> torch.nn.Module:
        """The model run for ``wiring``: the given one, or a copy with the other ``zigzag`` flag."""
        want = wiring == "zigzag"
        if bool(self.model.zigzag) == want:
            return self.model
        if self._cut is None:
            self._cut = copy.deepcopy(self.model)
            self._cut.zigzag = want  # same weights, the memory routed the other way
        return self._cut

    def flow_of(self, index: int, wiring: str) -> MemoryFlow:
        """The traced pass over sequence ``index`` with ``wiring`` (computed on first use, then cached)."""
        if wiring not in WIRING_LABELS.values():
            raise ValueError(f"ZigzagFlow: wiring must be one of {tuple(WIRING_LABELS.values())}, got {wiring!r}")
        key = (index, wiring)
        if key not in self._cache:
            check_sequences("ZigzagFlow.flow_of", self.frames, [index])
            if len(self._cache) >= 8:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = memory_flow(self.model_for(wiring), self.frames[index], self.input_len)
            self.runs += 1
        return self._cache[key]

    @property
    def flow(self) -> MemoryFlow:
        """The traced pass on display."""
        return self.flow_of(self.sequence.value, self.wiring.value)

    def current_cell(self) -> tuple[int, int]:
        """(step t, layer l) of the hop on display."""
        return self.diagram.order[self.hop.value]

    # -- drawing -------------------------------------------------------------------------------

    def _build_figure(self, fl: MemoryFlow) -> None:
        self.canvas = FigureImage((11.0, 4.5))
        fig = self.canvas.figure
        steps, layers = fl.num_steps, fl.num_layers
        # the grid takes the top; room for one diagram per wiring, swapped by visibility
        self.diagrams: dict[str, ZigzagDiagram] = {}
        for wiring in WIRING_LABELS.values():
            ax = fig.add_axes((0.07, 0.56, 0.92, 0.35))
            self.diagrams[wiring] = ZigzagDiagram(ax, steps, layers, wiring, fontsize=6.5)
        self.diagram = self.diagrams[fl.wiring]
        self.diagram_title = fig.text(0.5, 0.965, "", ha="center", va="top", fontsize=9)
        # the path as a curve
        self.ax_path = fig.add_axes((0.05, 0.1, 0.3, 0.28))
        (self.path_line,) = self.ax_path.plot([], [], color="#d95f02", lw=1.2, marker=".", ms=3)
        (self.path_dot,) = self.ax_path.plot([], [], "o", color="black", ms=6, mfc="none", mew=1.5)
        self.ax_path.axvline(self.input_len * layers - 0.5, color="#999999", lw=0.8, ls="--")
        self.ax_path.set_xlim(-0.5, steps * layers - 0.5)
        self.ax_path.set_xlabel("hop (cells in the order they run)", fontsize=8)
        self.ax_path.tick_params(labelsize=7)
        self.path_title = self.ax_path.set_title("", fontsize=8.5)
        gh, gw = fl.m_maps.shape[-2:]
        blank = np.zeros_like(fl.frames[0])
        boxes = [(0.39 + 0.155 * k, 0.02, 0.135, 0.34) for k in range(4)]
        axes = [fig.add_axes(b) for b in boxes]
        self.im_m = axes[0].imshow(np.zeros((gh, gw)), cmap="YlOrBr", vmin=0, vmax=1, interpolation="nearest")
        self.im_read = axes[1].imshow(blank, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        self.im_pred = axes[2].imshow(blank, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        self.im_true = axes[3].imshow(blank, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
        # titles drawn from cached line bitmaps (a Text renders glyph by glyph: most of a hop's redraw)
        self.titles = [axes_title(ax, fontsize=8) for ax in axes]
        self.image_axes = axes
        self._images = NearestImages()  # the four images, drawn from kept resampling plans

    def _on_heavy(self) -> None:
        self.flow  # noqa: B018 — the one heavy step: a model pass, then cached
        self._redraw()

    def _dynamic(self) -> list[Any]:
        """The artists a hop changes, drawn over the cached background."""
        d = self.diagram
        arrows = [] if d.m_arrows is None else [d.m_arrows]
        return [*arrows, d.frame, d.arrow, self.path_dot, self.im_m, self.im_read, self.im_pred, self.im_true,
                *self.titles]  # fmt: skip

    def _redraw(self) -> None:
        """Sequence, wiring or quantity changed: set the static parts, draw them once as the background."""
        fl = self.flow
        wiring = self.wiring.value
        for name, diagram in self.diagrams.items():
            diagram.ax.set_visible(name == wiring)
        self.diagram = self.diagrams[wiring]
        field, fmt = QUANTITIES[self.quantity.value]
        values = getattr(fl, field)
        # one scale for both wirings of this sequence (when both were run), so the two compare
        other = self._cache.get((self.sequence.value, "cut" if wiring == "zigzag" else "zigzag"))
        vmax = float(max(values.max(), getattr(other, field).max() if other is not None else 0.0))
        # the static parts of this view: every cell coloured and labelled, the path's curve, the titles
        self.diagram.paint(values, None, fmt=fmt, vmax=vmax)
        path = memory_path(fl.num_steps, fl.num_layers, wiring)
        self._ordered = np.array([values[cell] for cell, _ in path])
        self.path_line.set_data(np.arange(len(self._ordered)), self._ordered)
        self.ax_path.set_ylim(0, 1.1 * vmax)
        self.path_title.set_text(f"{self.quantity.value} along the path (dashed: forecast starts)")
        how = "M zigzags through the stack" if wiring == "zigzag" else "zigzag cut: each layer keeps its own M"
        self.diagram_title.set_text(f"{how}; cells show {self.quantity.value} of what they wrote, M: (C, h, w) = "
                                    f"{fl.m_shape}")  # fmt: skip
        self.im_m.set_clim(0, float(fl.m_maps.max()))
        key = (self.sequence.value, wiring, self.quantity.value, round(vmax, 6))
        if key not in self._backgrounds:
            for artist in self._dynamic():
                artist.set_animated(True)
            canvas = self.canvas.figure.canvas
            canvas.draw()  # everything that is not animated: axes, ticks, C arrows, labels
            if len(self._backgrounds) >= 16:
                self._backgrounds.pop(next(iter(self._backgrounds)))
            self._backgrounds[key] = canvas.copy_from_bbox(self.canvas.figure.bbox)
        self._background = self._backgrounds[key]
        self._update()

    def _render(self) -> None:
        """Restore the background, draw the changed artists on it, send the PNG (blitting)."""
        fig = self.canvas.figure
        canvas = fig.canvas
        canvas.restore_region(self._background)
        renderer = canvas.get_renderer()
        for artist in self._dynamic():
            if self._images.draws(artist):
                self._images.draw(artist, renderer)
            else:
                fig.draw_artist(artist)
        self.canvas.send()

    def _update(self) -> None:
        """A hop: move the marks and swap the images; everything else is in the background."""
        fl = self.flow
        hop = self.hop.value
        self.diagram.mark(hop)
        t, layer = self.diagram.order[hop]
        source = memory_path(fl.num_steps, fl.num_layers, self.wiring.value)[hop][1]
        self.path_dot.set_data([hop], [self._ordered[hop]])
        m_map = fl.m_maps[t, layer]
        self.im_m.set_data(m_map)
        self.titles[0].set_text(f"|M^{layer}_{t}| (mean over C)\n(h, w) = {m_map.shape}")
        self.im_read.set_data(fl.read[t])
        self.titles[1].set_text(f"read X_{t}" if t < fl.input_len else f"read x̂_{t} (fed back)")
        pred = np.clip(fl.predictions[t], 0, 1)
        self.im_pred.set_data(pred)
        mse = float(fl.frame_mse()[t])
        self.titles[2].set_text(f"prediction x̂_{t + 1}\nMSE {mse:.1f}")
        self.im_true.set_data(fl.frames[t + 1])
        self.titles[3].set_text(f"ground truth x_{t + 1}")
        if source is None:
            came = "zeros (the initial state)"
        else:
            came = f"M^{source[1]}_{source[0]} (mean |M| {fl.m_mean[source]:.3f})"
        stage = "input phase" if t < fl.input_len else "forecast phase"
        # the text before the picture: the browser lays it out while the kernel draws
        self.headline.value = (
            f"<b>hop {hop + 1}/{len(self.diagram.order)}: step t = {t}, layer {layer}</b> ({stage}) reads "
            f"{html.escape(came)} and writes M^{layer}_{t}: mean |M| {fl.m_mean[t, layer]:.3f}, "
            f"‖M‖ {fl.m_norm[t, layer]:.1f}; mean |C^{layer}_{t}| {fl.c_mean[t, layer]:.3f}"
        )
        self._render()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
