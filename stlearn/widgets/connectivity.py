r"""ConnectivityExplorer: which input pixels a forecast pixel depends on, models side by side (lesson 10)."""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import ipywidgets as widgets
import matplotlib
import numpy as np

from ..connectivity import Influence, InfluenceProbe
from ..errors import InputError
from ..models.base import lesson_pass
from ._ahead import ComputeAhead, neighbours, one_step_plan
from ._strips import BlitImage, check_sequences, one_sequence, sequence_source
from ._watch import WeightsWatch

__all__ = ["ConnectivityExplorer"]

#: decades of |∂ŷ/∂x| shown below each row's largest value
DECADES = 3.0
GAP = 2
#: (sequence, lead, pixel) whose influence maps the view keeps (~0.65 MB each for two models on 64 × 64 frames)
KEPT_PIXELS = 32
#: settings computed ahead after each update: the next step of each control (lead, row, col, sequence)
AHEAD = 4


class ConnectivityExplorer:
    r"""Pick a forecast pixel and a lead time; see, per model, how strongly each input pixel influences it.

    Top row: the ten input frames and, on the right, the true frame at the lead time, with the chosen pixel
    marked. Then one row per model: :math:`\log_{10}` of :math:`|\partial \hat x_{10+L}(y, x) / \partial x_s|`
    over the input frames s = 0 … 9 (:class:`~stlearn.connectivity.InfluenceProbe`), relative to that row's
    largest value and cut :data:`DECADES` decades below it, a circle around the pixel holding 90 % of the
    row's gradient mass, and the model's forecast at the lead time on the right. The line under each row
    reads it: the share of the mass in the last input frame and in the last three, and the 90 % radius.

    One backward pass per model per change of pixel or lead time, the models' passes side by side on the
    machine's cores (the maps of the last :data:`KEPT_PIXELS` pixels are kept: going back costs none); a sequence
    seen for the first time runs one forward pass per model first (its graph kept). While the learner looks, the
    pixels, lead times and sequences (those seen before) one step away are computed ahead in the background
    (:class:`~stlearn.widgets._ahead.ComputeAhead`; the next step of the last move first): stepping a control shows
    maps already computed, a jump computes them then. Only image data and lines are redrawn (blitting; the input
    frames are a layer kept per sequence and lead time); the read-outs are HTML under the picture.

    Args:
        models: label → model (e.g. ``{"ConvLSTM": load_pretrained("moving_digits", "convlstm"), "PredRNN": ...}``).
        frames: sequences (N, T, [1,] H, W) — a :class:`~stlearn.data.SequenceDataset`, array or tensor.
        sequences: the indices offered in the sequence picker.
        input_len: input frames (the rest of each sequence is forecast).
        ahead: compute the neighbouring pixels and lead times in the background (False: only what is asked for).

    Controls ``sequence``, ``lead``, ``row``, ``col``: setting ``.value`` from Python does what the slider does.
    :attr:`influences` holds the last :class:`~stlearn.connectivity.Influence` per model.

    Taught in lesson 10 ("Which inputs does a forecast use?").
    """

    def __init__(self, models: Mapping[str, Any], frames: Any, sequences: Sequence[int] = (0,), input_len: int = 10,
                 ahead: bool = True):  # fmt: skip
        where = "ConnectivityExplorer"
        if not isinstance(models, Mapping) or not models:
            raise InputError(f"{where}: 'models' must be a non-empty dict label → model, got {type(models).__name__}")
        self.models = dict(models)
        self.source = sequence_source(where, frames)
        self.sequences = check_sequences(where, self.source, sequences)
        first = one_sequence(self.source, self.sequences[0])
        t_total, _, h, w = first.shape[1:]
        if isinstance(input_len, bool) or not isinstance(input_len, int) or not 1 <= input_len < t_total:
            raise InputError(f"{where}: 'input_len' must be an integer in 1 … {t_total - 1}, got {input_len!r}")
        self.input_len, self.h, self.w = input_len, h, w
        self._probes: dict[tuple[int, str], InfluenceProbe] = {}
        with lesson_pass():
            for name in self.models:  # check every model now, not at the first slider move
                self._probe(self.sequences[0], name)
        self.influences: dict[str, Influence] = {}
        workers = min(len(self.models), os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="influence") if workers > 1 else None
        #: (sequence, lead, y, x) → each model's Influence: the last KEPT_PIXELS asked for or computed ahead
        self.maps = ComputeAhead(self._compute_maps, KEPT_PIXELS, background=ahead, compute_ahead=self._maps_one_thread)
        self._shown: tuple[int, int, int, int] | None = None

        rows = 1 + len(self.models)
        self.canvas = BlitImage((12.6, 1.2 * rows + 0.2), dpi=80)
        fig = self.canvas.figure
        grid = fig.add_gridspec(rows, 2, width_ratios=[input_len * (w + GAP), 1.6 * w], wspace=0.03, hspace=0.3)
        self.mosaic_width = input_len * (w + GAP) - GAP
        self.strips, self.sides, self.marks, self.circles, self.texts, self.side_marks = [], [], [], [], [], []
        blank = np.full((h, self.mosaic_width), np.nan)
        for r in range(rows):
            ax = fig.add_subplot(grid[r, 0])
            side = fig.add_subplot(grid[r, 1])
            if r == 0:
                im = ax.imshow(blank, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                label = "inputs"
            else:
                cmap = matplotlib.colormaps["magma"].with_extremes(bad=(1, 1, 1, 0))
                im = ax.imshow(blank, cmap=cmap, vmin=-DECADES, vmax=0, interpolation="nearest")
                label = list(self.models)[r - 1]
            self.strips.append(im)
            self.sides.append(side.imshow(np.zeros((h, w)), cmap="gray", vmin=0, vmax=1, interpolation="nearest"))
            for a in (ax, side):
                a.set_xticks([])
                a.set_yticks([])
                for spine in a.spines.values():
                    spine.set_visible(False)
            ax.set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center", weight="bold")
            (mark,) = ax.plot([], [], "+", color="#00e5ff", ms=6, mew=1.2)
            (circle,) = ax.plot([], [], "-", color="#00e5ff", lw=0.8)
            (side_mark,) = side.plot([], [], "+", color="#ff3d00", ms=8, mew=1.5)
            self.marks.append(mark)
            self.circles.append(circle)
            self.side_marks.append(side_mark)
            if r == 0:
                for s in range(input_len):
                    ax.text(s * (w + GAP) + w / 2, h + 1, f"s = {s}", fontsize=7, ha="center", va="top")
        fig.subplots_adjust(left=0.075, right=0.99, top=0.97, bottom=0.06)
        # the frames change with the sequence and the lead time only (a layer, kept per (sequence, lead)); the maps and
        # marks with the pixel.
        # The read-outs are HTML beside the picture: matplotlib texts would cost more to draw than a backward pass.
        self.canvas.layers = [[self.strips[0], *self.sides]]
        self.canvas.animated = [*self.strips[1:], *self.marks, *self.circles, *self.side_marks]
        self._lut = (matplotlib.colormaps["magma"](np.linspace(0, 1, 256)) * 255).round().astype(np.uint8)
        # the caption does not change (the pixel and the lead time are in the read-out under the picture)
        self.caption = widgets.HTML(
            f"<span style='font-size:90%'>Influence of the {input_len} input frames s = 0 … {input_len - 1} on the "
            "forecast pixel marked + at lead time L (right: the truth, then each model's forecast). Rows: "
            f"log<sub>10</sub> |∂ŷ/∂x| relative to the row's largest, {DECADES:.0f} decades (black: that or less); "
            "circle: 90 % of the row's gradient mass.</span>"
        )
        self.readout = widgets.HTML()

        style = {"description_width": "initial"}
        self.sequence = widgets.Dropdown(options=self.sequences, value=self.sequences[0], description="sequence")
        self.lead = widgets.IntSlider(1, 1, t_total - input_len, description="lead time L", style=style)
        target = first[0, input_len, 0].numpy()
        y0, x0 = np.unravel_index(int(np.argmax(target)), target.shape)
        self.row = widgets.IntSlider(int(y0), 0, h - 1, description="row y", style=style)
        self.col = widgets.IntSlider(int(x0), 0, w - 1, description="col x", style=style)
        self._first = True
        self._frames_key: tuple[int, int] | None = None
        self.canvas.watch = WeightsWatch(self.models.values())  # the view draws nothing once they change
        self._update_observer = self.canvas.guard(self._update)
        for control in (self.sequence, self.lead, self.row, self.col):
            control.observe(self._update_observer, names="value")
        self._update_observer()
        self.widget = widgets.VBox(
            [widgets.HBox([self.sequence, self.lead]), widgets.HBox([self.row, self.col]), self.caption,
             self.canvas.image, self.readout, self.canvas.error],
            layout=widgets.Layout(align_items="flex-start"),
        )  # fmt: skip

    def _probe(self, index: int, name: str) -> InfluenceProbe:
        key = (index, name)
        if key not in self._probes:
            self._probes[key] = InfluenceProbe(self.models[name], one_sequence(self.source, index), self.input_len)
        return self._probes[key]

    def _compute_maps(self, key: tuple[int, int, int, int]) -> list[Influence]:
        """Each model's influence maps of pixel (y, x) at ``lead`` on sequence ``index``: one backward pass per model,
        the models side by side on the machine's cores (each on one thread, as lesson_pass runs it; autograd runs a
        CPU backward on the thread that asks for it)."""
        index, lead, y, x = key
        probes = [self._probe(index, name) for name in self.models]

        def backward(probe: InfluenceProbe) -> Influence:
            with lesson_pass():
                return probe(lead, y, x)

        pool = self._pool
        return list(pool.map(backward, probes)) if pool else [backward(probes[0])]

    def _maps_one_thread(self, key: tuple[int, int, int, int]) -> list[Influence]:
        """:meth:`_compute_maps` in the background: the models one after the other, on the background's thread (the
        machine's other core paints the picture)."""
        index, lead, y, x = key
        return [self._probes[(index, name)](lead, y, x) for name in self.models]

    def _ready(self, index: int) -> bool:
        """Whether sequence ``index`` has its probes built and their forward passes serve every lead."""
        probes = [self._probes.get((index, name)) for name in self.models]
        return all(p is not None and p.all_leads_kept for p in probes)

    def _plan_ahead(self, key: tuple[int, int, int, int]) -> None:
        """Compute the pixels, lead times and sequences one step from ``key`` in the background, the next step of the
        last move first (only on sequences whose forward passes serve every lead, with their probes built: a sequence
        not seen yet costs its forward passes when chosen)."""
        index, lead, y, x = key
        if not self._ready(index):
            return
        shown = self._shown or key
        last = shown if shown[0] == index else key
        steps = {
            "lead": [(index, v, y, x) for v in neighbours(range(1, self.lead.max + 1), lead, last[1])],
            "row": [(index, lead, v, x) for v in neighbours(range(self.h), y, last[2])],
            "col": [(index, lead, y, v) for v in neighbours(range(self.w), x, last[3])],
            "sequence": [(s, lead, y, x) for s in neighbours(self.sequences, index, shown[0]) if self._ready(s)],
        }
        moved = [name for name, k in (("sequence", 0), ("lead", 1), ("row", 2), ("col", 3)) if shown[k] != key[k]]
        self.maps.plan(one_step_plan(steps, moved, AHEAD))  # each setting: a backward pass per model

    def _colours(self, rel: np.ndarray) -> np.ndarray:
        """The mosaic of ``rel`` (log10 relative influence, ≤ 0) as RGBA bytes: colour-mapped here with a lookup table
        (matplotlib would normalise and colour-map a masked float array at every draw); gaps transparent."""
        levels = len(self._lut) - 1
        index = ((np.maximum(rel, -DECADES) + DECADES) * (levels / DECADES)).round().astype(np.intp)
        frames = np.take(self._lut.view(np.uint32)[:, 0], index)  # (input_len, h, w): one RGBA pixel per item
        out = np.zeros((self.h, self.input_len, self.w + GAP), np.uint32)  # each frame and the gap after it
        out[:, :, : self.w] = frames.transpose(1, 0, 2)
        return out.reshape(self.h, -1)[:, : self.mosaic_width].view(np.uint8).reshape(self.h, self.mosaic_width, 4)

    def _mosaic(self, maps: np.ndarray) -> np.ndarray:
        out = np.full((self.h, self.mosaic_width), np.nan)
        for s in range(self.input_len):
            out[:, s * (self.w + GAP) : s * (self.w + GAP) + self.w] = maps[s]
        return out

    def _circle(self, radius: float) -> tuple[np.ndarray, np.ndarray]:
        """A circle of ``radius`` px around the pixel on every input frame, cut at each frame's edges."""
        a = np.linspace(0, 2 * np.pi, 49)
        cx, cy = self.col.value + radius * np.cos(a), self.row.value + radius * np.sin(a)
        inside = (cx >= -0.5) & (cx <= self.w - 0.5) & (cy >= -0.5) & (cy <= self.h - 0.5)
        cx, cy = np.where(inside, cx, np.nan), np.where(inside, cy, np.nan)
        xs = np.concatenate([np.append(cx + s * (self.w + GAP), np.nan) for s in range(self.input_len)])
        ys = np.concatenate([np.append(cy, np.nan) for _ in range(self.input_len)])
        return xs, ys

    def _update(self) -> None:
        index, lead, y, x = self.sequence.value, self.lead.value, self.row.value, self.col.value
        frames_changed = self._frames_key != (index, lead)
        lines = []
        with lesson_pass():
            probes = [self._probe(index, name) for name in self.models]
            found = self.maps.get((index, lead, y, x))
            for r, (name, probe, inf) in enumerate(zip(self.models, probes, found, strict=True), start=1):
                self.influences[name] = inf
                peak = inf.maps.max()
                rel = np.log10(np.maximum(inf.maps / peak, 1e-12)) if peak > 0 else np.full_like(inf.maps, -np.inf)
                self.strips[r].set_data(self._colours(rel))
                radius = inf.radius(0.9)
                self.circles[r].set_data(*self._circle(radius))
                if frames_changed:
                    self.sides[r].set_data(np.clip(probe.forecast(lead)[0].detach().numpy(), 0, 1))
                lines.append(
                    f"<b>{html.escape(name)}</b>: last input frame {inf.share_last(1):.0%} of Σ|∂ŷ/∂x|, last 3 frames "
                    f"{inf.share_last(3):.0%}; 90 % of it within {radius:.1f} px of the pixel; forecast {inf.value:.2f}"
                )
        if frames_changed:
            seq = one_sequence(self.source, index)[0, :, 0].numpy()
            self.strips[0].set_data(self._mosaic(seq[: self.input_len]))
            self.sides[0].set_data(seq[self.input_len + lead - 1])
        marks_x = [x + s * (self.w + GAP) for s in range(self.input_len)]
        for r in range(len(self.strips)):
            self.marks[r].set_data(marks_x, [y] * self.input_len)
            self.side_marks[r].set_data([x], [y])
        # the read-out before the picture: the browser lays it out while the kernel draws
        where = f"sequence {index}, forecast pixel (y, x) = ({y}, {x}) at lead {lead}"
        self.readout.value = f"<div style='font-size:90%'>{where}<br>" + "<br>".join(lines) + "</div>"
        self.canvas.layer_keys = [(index, lead)]
        if self._first:
            self.canvas.render()
            self._first = False
        else:
            self.canvas.render_changed(0 if frames_changed else None)
        self._frames_key = (index, lead)
        self._plan_ahead((index, lead, y, x))
        self._shown = (index, lead, y, x)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
