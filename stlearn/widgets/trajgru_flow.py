r"""TrajGRUFlowExplorer: a trained TrajGRU's L learned flows over the frames it reads, and one warp (lesson 8)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.patches import Rectangle

from ..errors import InputTypeError
from ..viz.flow import arrow_grid, warped
from ._ahead import LoopAhead, neighbours
from ._arrows import fast_quiver
from ._labels import axes_title
from ._strips import BlitImage, check_sequences, sequence_source
from ._watch import WeightsWatch

__all__ = ["TrajGRUFlowExplorer"]


class TrajGRUFlowExplorer:
    r"""Sequence, step, scale, link and channel controls over one traced TrajGRU pass.

    Top row: the L flow fields :math:`(U_l, V_l)` of step t at the chosen scale, each as arrows over
    the frame the step reads (a forecaster step reads none: its state last saw frame t − 1), the
    chosen link framed. Bottom row, for that link: one channel of :math:`H_{t-1}`, of
    :math:`\mathrm{warp}(H_{t-1}, U_l, V_l)` and their difference, and the flow's length
    :math:`|(U_l, V_l)|` in frame pixels. The read-out above the figure gives the shapes, each link's mean
    flow length and the chosen one's numbers (text the browser lays out: the figure's titles stay the same from
    step to step, so they are drawn from kept bitmaps).

    The model runs once per sequence (:func:`~stlearn.models.trajgru_sequence_trace`, cached);
    step, link and channel only swap image data and arrows (one warp of a (C, h, w) state), redrawn
    over a saved background (:class:`~stlearn.widgets._strips.BlitImage`); the top row's frames and arrows are a
    layer kept per (sequence, step, scale), so a link or channel change redraws only the bottom row, the titles
    and the frame around the chosen link; a scale change rebuilds the arrows. While the learner looks, the kernel
    draws the top rows of the two steps next to the shown one (the continuation of the last step first), then of the
    neighbouring sequences whose pass is cached (:meth:`draw_ahead`, run by :class:`~stlearn.widgets._ahead.LoopAhead`
    on the kernel's event loop): a step key or a sequence seen before then restores its row instead of drawing it.
    Set ``.value`` of any control from Python to do what the mouse does.

    Args:
        model: a TrajGRU (``load_pretrained("moving_digits", "trajgru")``).
        frames: sequences (N, T, [1,] H, W) — a SequenceDataset, array or tensor.
        sequences: the indices offered in the sequence picker.
        input_len: encoder steps (the rest are forecast).

    Taught in lesson 8 ("TrajGRU and MIM"), section "Explore the flows".
    """

    def __init__(self, model: torch.nn.Module, frames: Any, sequences: Sequence[int] = (0, 1, 2, 3),
                 input_len: int = 10) -> None:  # fmt: skip
        from ..models import TrajGRU

        where = "TrajGRUFlowExplorer"
        if not isinstance(model, TrajGRU):
            name = getattr(model, "name", "") or type(model).__name__
            raise InputTypeError(f"{where} supports TrajGRU models (load_pretrained(..., 'trajgru')); got {name}")
        self.model = model
        self.frames = sequence_source(where, frames)
        self.input_len = input_len
        self._cache: dict[int, Any] = {}
        self.runs = 0
        seqs = check_sequences(where, self.frames, sequences)
        tr = self.trace_of(seqs[0])
        self.links = max(f.shape[1] for f in tr.flows)
        row = widgets.Layout(width="290px")
        desc = {"description_width": "70px"}
        self.sequence = widgets.Dropdown(options=[(f"sequence {k}", k) for k in seqs], value=seqs[0],
                                         description="sequence", layout=row, style=desc)  # fmt: skip
        self.step = widgets.IntSlider(value=input_len - 1, min=0, max=tr.num_steps - 1, description="step t",
                                      layout=row, style=desc)  # fmt: skip
        self.scale = widgets.Dropdown(options=[(f"scale {s} ({f.shape[-2]}×{f.shape[-1]})", s)
                                               for s, f in enumerate(tr.flows)],
                                      value=0, description="scale", layout=row, style=desc)  # fmt: skip
        self.link = widgets.Dropdown(options=[(f"link l = {k + 1}", k) for k in range(tr.flows[0].shape[1])],
                                     value=0, description="link", layout=row, style=desc)  # fmt: skip
        self.channel = widgets.IntSlider(value=0, min=0, max=tr.h[0].shape[1] - 1, description="channel",
                                         layout=row, style=desc)  # fmt: skip
        self.headline = widgets.HTML()
        self._build_figure(tr)
        self.canvas.watch = WeightsWatch([self.model])  # the view draws nothing once its weights change
        guard = self.canvas.guard
        self.sequence.observe(guard(self._on_sequence), names="value")
        self.scale.observe(guard(self._on_scale), names="value")
        for control in (self.step, self.link, self.channel):
            control.observe(guard(self._update), names="value")
        self._on_scale()
        column = widgets.Layout(min_width="300px", overflow="visible")
        controls = widgets.HBox(
            [widgets.VBox([self.sequence, self.scale], layout=column),
             widgets.VBox([self.step, self.link], layout=column),
             widgets.VBox([self.channel], layout=column)],
            layout=widgets.Layout(align_items="flex-start", flex_flow="row wrap"),
        )  # fmt: skip
        self.widget = widgets.VBox([controls, self.headline, self.canvas.image, self.canvas.error],
                                   layout=widgets.Layout(align_items="flex-start"))  # fmt: skip

    # -- data ----------------------------------------------------------------------------------

    def trace_of(self, index: int) -> Any:
        """The traced pass over sequence ``index`` (computed on first use, then cached)."""
        from ..models.trajgru import trajgru_sequence_trace

        if index not in self._cache:
            check_sequences("TrajGRUFlowExplorer.trace_of", self.frames, [index])
            if len(self._cache) >= 8:
                self._cache.pop(next(iter(self._cache)))
            self._cache[index] = trajgru_sequence_trace(self.model, self.frames[index], self.input_len)
            self.runs += 1
        return self._cache[index]

    @property
    def trace(self) -> Any:
        return self.trace_of(self.sequence.value)

    def current_warp(self) -> tuple[np.ndarray, np.ndarray]:
        r"""(:math:`H_{t-1}`, :math:`\mathrm{warp}(H_{t-1}, U_l, V_l)`), (C, h, w) each: current step, scale, link."""
        tr, t, s = self.trace, self.step.value, self.scale.value
        h_prev = tr.h_prev(t, s)
        return h_prev, warped(h_prev, tr.flows[s][t, self.link.value])

    # -- drawing -------------------------------------------------------------------------------

    def _build_figure(self, tr: Any) -> None:
        n = self.links
        self.canvas = BlitImage((max(1.75 * n, 7.2), 4.4))  # two rows of maps, their titles (the text is above)
        fig = self.canvas.figure
        height, width = tr.frames.shape[1:]
        self.extent = (-0.5, width - 0.5, height - 0.5, -0.5)
        top = [fig.add_axes((0.01 + k * 0.98 / n, 0.555, 0.98 / n - 0.01, 0.397)) for k in range(n)]
        bottom = [fig.add_axes((0.01 + k * 0.245, 0.042, 0.23, 0.397)) for k in range(4)]
        blank = np.zeros((height, width))
        self.im_frames = [ax.imshow(blank, cmap="gray", vmin=0, vmax=1, interpolation="nearest") for ax in top]
        self.im_maps = [ax.imshow(np.zeros((2, 2)), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest",
                                  extent=self.extent) for ax in bottom[:3]]  # fmt: skip
        self.im_length = bottom[3].imshow(np.zeros((2, 2)), cmap="viridis", vmin=0, vmax=1, interpolation="nearest",
                                          extent=self.extent)  # fmt: skip
        for ax in (*top, *bottom):
            ax.set_xticks([])
            ax.set_yticks([])
        self.top, self.bottom = top, bottom
        self.top_titles = [axes_title(ax, fontsize=8) for ax in top]
        self.bottom_titles = [axes_title(ax, fontsize=8) for ax in bottom]
        # the chosen link's frame: one rectangle moved over the top row (the row itself stays kept)
        self.highlight = Rectangle((0, 0), 1, 1, transform=fig.transFigure, fill=False, edgecolor="#c00000",
                                   linewidth=2.0, clip_on=False)  # fmt: skip
        fig.add_artist(self.highlight)
        self.quivers: list[Any] = []
        self.warp_quiver: Any = None
        self._ahead = LoopAhead()  # draw_ahead on the event loop, cancelled by the next update
        self._last_step = self.step.value
        self._shown_sequence = self._last_sequence = self.sequence.value  # (the last move's direction: neighbours())
        self._full = True  # the next update draws everything (first draw, a scale with another number of links)
        self._busy = False  # set while a scale change rebuilds the arrows: the controls' updates wait

    def _on_sequence(self) -> None:
        self.trace_of(self.sequence.value)
        self._update()

    def _on_scale(self) -> None:
        """A new grid: new arrow positions (rebuilt), new link and channel ranges; a full draw if the number of
        links changes (the figure under the layers shows another number of frames), else only the rows."""
        tr, s = self.trace, self.scale.value
        links, _, h, w = tr.flows[s].shape[1:]
        self._busy = True
        try:
            if len(self.link.options) != links:
                self.link.options = [(f"link l = {k + 1}", k) for k in range(links)]
            self.channel.max = tr.h[s].shape[1] - 1
        finally:
            self._busy = False
        for q in (*self.quivers, self.warp_quiver):
            if q is not None:
                q.remove()
        cell = tr.cell_size[s]
        self._stride = max(1, h // 8)
        x, y, self._index = arrow_grid((h, w), cell, self._stride)
        zeros = np.zeros_like(x)
        style = {"angles": "xy", "scale_units": "xy", "scale": 1, "pivot": "tip", "width": 0.007, "headwidth": 3.5,
                 "headlength": 4, "headaxislength": 3.5}  # fmt: skip
        # arrows drawn as one path each field (FastQuiver: a Quiver's draw makes a path per arrow)
        self.quivers = [fast_quiver(ax, x, y, zeros, zeros, color="#ff5a36", **style) for ax in self.top[:links]]
        self.warp_quiver = fast_quiver(self.bottom[1], x, y, zeros, zeros, color="k", **style)
        shown = [k < links for k in range(len(self.top))]
        if shown != [ax.get_visible() for ax in self.top]:
            for ax, visible in zip(self.top, shown, strict=True):
                ax.set_visible(visible)
            self._full = True
        # the top row (the links' arrows over the frame) is a layer: link and channel changes redraw only the
        # bottom row, the titles and the chosen link's frame
        frames = self.top[:links]
        self.canvas.layers = [[*(ax.images[0] for ax in frames), *self.quivers,
                               *(sp for ax in frames for sp in ax.spines.values())]]  # fmt: skip
        self.canvas.animated = [*self.im_maps, self.im_length, self.warp_quiver,
                                *(sp for ax in self.bottom for sp in ax.spines.values()), *self.top_titles[:links],
                                self.highlight, *self.bottom_titles]  # fmt: skip
        self._update()

    def _update(self) -> None:
        if self._busy:
            return
        self._ahead.cancel()
        tr, t, s, link = self.trace, self.step.value, self.scale.value, self.link.value
        top = (self.sequence.value, t, s)
        top_changed = self._full or self.canvas.layer_keys != [top]
        self.canvas.layer_keys = [top]
        if self._full or (top_changed and not self.canvas.layer_kept(0)):
            self._set_top(tr, t, s)
        self._set_link(link)
        numbers = self._set_bottom(tr, t, s, link, self.channel.value)
        if self._full:
            self._full = False
            self.canvas.render()
        else:
            self.canvas.render_changed(0 if top_changed else None)
        # the read-out after the picture (measured in the browser: sent first, its layout there slowed the kernel's
        # drawing of this figure on 2 cores, ~8 ms later picture; it lands a few ms after the picture)
        self.headline.value = self._readout(tr, t, s, link, numbers)
        direction = 1 if t >= self._last_step else -1
        self._last_step = t
        if self.sequence.value != self._shown_sequence:
            self._last_sequence, self._shown_sequence = self._shown_sequence, self.sequence.value
        self._ahead.start(lambda: self.draw_ahead(direction, limit=1))  # one row a turn

    def draw_ahead(self, direction: int = 1, limit: int | None = None) -> list[tuple[int, int]]:
        """Draw and keep the top rows of steps t + direction and t − direction, then of the neighbouring sequences
        at step t (only those whose pass is cached: no model pass here), those not kept yet, at most ``limit``, at the
        scale shown, without sending a picture; returns the (sequence, step) rows drawn. The shown picture stays
        that of step t (the top row's artists, as after a kept row was restored, may hold another row's data: the
        next update prepares them when it draws the row)."""
        seq, t, s = self.sequence.value, self.step.value, self.scale.value
        if self._full or self.canvas.layer_keys != [(seq, t, s)]:
            return []  # nothing shown yet, or the shown row is not the one the controls name
        options = [v for _, v in self.sequence.options]
        rows = [(seq, t + direction), (seq, t - direction)]
        rows += [(k, t) for k in neighbours(options, seq, self._last_sequence) if k in self._cache]
        drawn: list[tuple[int, int]] = []
        for k, u in rows:
            if limit is not None and len(drawn) >= limit:
                break
            tr = self._cache[k]
            if 0 <= u < tr.num_steps and not self.canvas.layer_kept(0, [(k, u, s)]):
                self._set_top(tr, u, s)
                if self.canvas.keep_layer(0, [(k, u, s)]):
                    drawn.append((k, u))
        return drawn

    def _set_top(self, tr: Any, t: int, s: int) -> None:
        """The top row (a layer, kept per sequence, step and scale): the frame and each link's arrows."""
        flows, cell = tr.flows[s][t], tr.cell_size[s]
        frame, _ = tr.shown_frame(t)
        rows, cols = self._index[:, 0], self._index[:, 1]
        for j, (im, q) in enumerate(zip(self.im_frames, self.quivers, strict=False)):
            im.set_data(frame)
            q.set_UVC(flows[j, 0][rows, cols] * cell, flows[j, 1][rows, cols] * cell)

    def _set_link(self, link: int) -> None:
        """The top row's titles and the frame around the chosen link (drawn over the kept row)."""
        for j, title in enumerate(self.top_titles):
            title.set_text(("▶ " if j == link else "") + f"l = {j + 1}")
            title.set_color("#c00000" if j == link else "black")
        self.highlight.set_bounds(*self.top[link].get_position().bounds)

    def _set_bottom(self, tr: Any, t: int, s: int, link: int, k: int) -> dict[str, Any]:
        """The bottom row for link ``link`` and channel ``k`` (H_t-1, its warp, the change, the flow's length);
        returns its numbers for the read-out."""
        flows, cell = tr.flows[s][t], tr.cell_size[s]
        rows, cols = self._index[:, 0], self._index[:, 1]
        h_prev = tr.h_prev(t, s)
        after = warped(h_prev, flows[link])
        change = after - h_prev
        limit = float(max(np.abs(h_prev[k]).max(), np.abs(after[k]).max())) or 1.0
        for im, m in zip(self.im_maps, (h_prev[k], after[k], change[k]), strict=True):
            im.set_data(m)
            im.set_clim(-limit, limit)
        self.warp_quiver.set_UVC(flows[link, 0][rows, cols] * cell, flows[link, 1][rows, cols] * cell)
        length = np.hypot(flows[link, 0], flows[link, 1]) * cell
        self.im_length.set_data(length)
        self.im_length.set_clim(0, float(length.max()) or 1.0)
        # titles without numbers (the read-out has them): each drawn from a kept bitmap after its first time
        self.bottom_titles[0].set_text(f"H_t-1, channel {k}")
        self.bottom_titles[1].set_text(f"warp(H_t-1, U_{link + 1}, V_{link + 1}), channel {k}")
        self.bottom_titles[2].set_text("warped − H_t-1")
        self.bottom_titles[3].set_text(f"|(U_{link + 1}, V_{link + 1})| in frame pixels")
        return {"limit": limit, "change": float(np.abs(change[k]).mean()), "max": float(length.max()),
                "channels": h_prev.shape[0]}  # fmt: skip

    def _readout(self, tr: Any, t: int, s: int, link: int, numbers: dict[str, Any]) -> str:
        """The HTML above the figure: where we are, the shapes, each link's mean flow length, the chosen one's."""
        flows, cell = tr.flows[s][t], tr.cell_size[s]
        _, what = tr.shown_frame(t)
        links, _, h, w = flows.shape
        phase = "encoder: reads a frame" if t < tr.input_len else "forecaster: reads no frame"
        means = np.hypot(flows[:, 0], flows[:, 1]).mean(axis=(1, 2)) * cell
        per_link = ", ".join((f"<b>{m:.1f}</b>" if j == link else f"{m:.1f}") for j, m in enumerate(means))
        return (
            f"<b>sequence {self.sequence.value}, step t = {t}</b> ({phase}), scale {s}, link {link + 1}<br>"
            f"arrows over {html.escape(what)}; grid {h}×{w}, 1 cell = {cell} px; "
            f"flows (B, L, 2, h, w) = (1, {links}, 2, {h}, {w}); "
            f"H_t-1 (C, h, w) = ({numbers['channels']}, {h}, {w})<br>"
            f"mean flow length per link, l = 1 … {links}: {per_link} px; link {link + 1}: longest arrow "
            f"{numbers['max']:.1f} px, warped − H_t-1 mean |·| {numbers['change']:.3f} (channel "
            f"{self.channel.value}); maps ±{numbers['limit']:.2f}"
        )

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
