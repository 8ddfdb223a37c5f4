"""GateExplorer: a trained ConvLSTM's (lesson 3) or PredRNN's (lesson 5) gates on real sequences, beside the frames."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.patches import Rectangle

from ..probe import SequenceTrace, trace_sequence
from ..viz.heatmaps import GATE_STYLE, gate_limits
from ._labels import axes_title
from ._strips import BlitImage, ColourBarLayer, check_gate_model, check_sequences, sequence_source
from ._watch import WeightsWatch

__all__ = ["GateExplorer"]

#: dropdown labels of the record fields (ConvLSTM, lesson 3)
GATE_LABELS = {
    "i": "input gate i_t",
    "f": "forget gate f_t",
    "c_tilde": "candidate C̃_t",
    "c": "cell state C_t",
    "o": "output gate o_t",
    "h": "hidden state H_t",
}

#: dropdown labels of the ST-LSTM record fields (PredRNN, lesson 5), in the order of the equations
ST_GATE_LABELS = {
    "i": "input gate i_t",
    "f": "forget gate f_t",
    "g": "candidate g_t",
    "i_prime": "spatial input i'_t",
    "f_prime": "spatial forget f'_t",
    "g_prime": "spatial cand. g'_t",
    "o": "output gate o_t",
    "c": "temporal mem. C_t",
    "m": "spatiotemp. mem. M_t",
    "h": "hidden state H_t",
}


def labels_for(fields: Any) -> dict[str, str]:
    """The gate labels matching a trace's record fields (lesson 3; ST-LSTM ones, lesson 5, when there is an ``m``)."""
    names = set(fields)
    labels = ST_GATE_LABELS if "m" in names else GATE_LABELS
    missing = set(labels) - names
    if missing:
        raise ValueError(
            "GateExplorer: the model's trace records must be ConvLSTM or ST-LSTM records "
            f"(fields {list(GATE_LABELS)} or {list(ST_GATE_LABELS)}); missing {sorted(missing)} in {sorted(names)}"
        )
    return labels


class GateExplorer:
    """Sequence picker, step slider, layer, gate and channel selectors and a pixel probe.

    The figure shows, for step t: the frame the model read (:math:`X_t`, true for t < 10, its own
    prediction after), its prediction :math:`\\hat x_{t+1}`, the ground truth :math:`x_{t+1}` and
    the heatmap of the chosen gate (one channel, patch space h×w) with a colour bar. The probe marks
    one grid cell (and its p×p patch on the frames) and lists every gate's value there.

    The model runs once per sequence (:func:`~stlearn.probe.trace_sequence`, cached); changing
    step, layer, gate, channel or probe only swaps image data. Set ``explorer.step.value = 12`` (or
    any control) from Python to do what the mouse does.

    With a PredRNN (or PredRNN-V2) the gate menu offers the ST-LSTM set — :math:`i, f, g`, the
    primed :math:`i', f', g'`, :math:`o`, the two memories :math:`C` and :math:`M`, and :math:`H`
    (:data:`ST_GATE_LABELS`) — and the probe lists all ten.

    Args:
        model: a ConvLSTM (e.g. ``load_pretrained("moving_digits", "convlstm")``) or a PredRNN
            (``load_pretrained("moving_digits", "predrnn")``).
        frames: sequences (N, T, [1,] H, W) — a :class:`~stlearn.data.SequenceDataset`, array or tensor.
        sequences: the indices offered in the sequence picker.
        input_len: input frames (the rest are forecast).

    Lesson 3 ("ConvLSTM gate by gate"), section "Explore every gate"; lesson 5 ("PredRNN's ST-LSTM")
    on PredRNN.
    """

    def __init__(self, model: torch.nn.Module, frames: Any, sequences: Sequence[int] = (0, 1, 2, 3),
                 input_len: int = 10) -> None:  # fmt: skip
        check_gate_model("GateExplorer", model)
        self.model = model
        self.frames = sequence_source("GateExplorer", frames)
        self.input_len = input_len
        self.patch = int(getattr(model, "patch_size", 1))
        self._cache: dict[int, SequenceTrace] = {}
        self.runs = 0  # model passes so far (one per sequence)
        seqs = check_sequences("GateExplorer", self.frames, sequences)
        tr = self.trace_of(seqs[0])
        #: record field → dropdown label (ConvLSTM or ST-LSTM set)
        self.labels = labels_for(tr.records[0])
        steps, channels, gh, gw = tr.records[0]["i"].shape
        layers = tr.num_layers
        row = widgets.Layout(width="290px")
        desc = {"description_width": "70px"}
        self.sequence = widgets.Dropdown(options=[(f"sequence {k}", k) for k in seqs], value=seqs[0],
                                         description="sequence", layout=row, style=desc)  # fmt: skip
        self.step = widgets.IntSlider(value=input_len - 1, min=0, max=steps - 1, description="step t",
                                      layout=row, style=desc)  # fmt: skip
        self.layer = widgets.Dropdown(options=[(f"layer {k}", k) for k in range(layers)], value=0,
                                      description="layer", layout=row, style=desc)  # fmt: skip
        self.gate = widgets.Dropdown(options=[(v, k) for k, v in self.labels.items()], value="f",
                                     description="gate", layout=row, style=desc)  # fmt: skip
        self.channel = widgets.IntSlider(value=0, min=0, max=channels - 1, description="channel",
                                         layout=row, style=desc)  # fmt: skip
        self.probe_y = widgets.IntSlider(value=gh // 2, min=0, max=gh - 1, description="probe y", layout=row,
                                         style=desc)  # fmt: skip
        self.probe_x = widgets.IntSlider(value=gw // 2, min=0, max=gw - 1, description="probe x", layout=row,
                                         style=desc)  # fmt: skip
        self.readout = widgets.HTML()
        self._build_figure(tr)
        self.canvas.watch = WeightsWatch([self.model])  # the view draws nothing once its weights change
        guard = self.canvas.guard
        self.sequence.observe(guard(self._on_sequence), names="value")
        for control in (self.step, self.layer, self.gate, self.channel, self.probe_y, self.probe_x):
            control.observe(guard(self._update), names="value")
        self._update()
        column = widgets.Layout(min_width="300px", overflow="visible")
        controls = widgets.HBox(
            [
                widgets.VBox([self.sequence, self.layer, self.gate], layout=column),
                widgets.VBox([self.step, self.channel], layout=column),
                widgets.VBox([self.probe_y, self.probe_x], layout=column),
                self.readout,
            ],
            layout=widgets.Layout(align_items="flex-start", flex_flow="row wrap"),
        )
        self.widget = widgets.VBox(
            [controls, self.headline, self.canvas.image, self.canvas.error],
            layout=widgets.Layout(align_items="flex-start"),
        )

    # -- data ----------------------------------------------------------------------------------

    def trace_of(self, index: int) -> SequenceTrace:
        """The traced pass over sequence ``index`` (computed on first use, then cached)."""
        if index not in self._cache:
            check_sequences("GateExplorer.trace_of", self.frames, [index])
            if len(self._cache) >= 8:
                self._cache.pop(next(iter(self._cache)))
            self._cache[index] = trace_sequence(self.model, self.frames[index], self.input_len)
            self.runs += 1
        return self._cache[index]

    @property
    def trace(self) -> SequenceTrace:
        return self.trace_of(self.sequence.value)

    def current_map(self) -> np.ndarray:
        """The (h, w) map on display: record ``gate`` at (step, layer, channel)."""
        return self.trace.records[self.layer.value][self.gate.value][self.step.value, self.channel.value]

    # -- drawing -------------------------------------------------------------------------------

    def _build_figure(self, tr: SequenceTrace) -> None:
        self.canvas = BlitImage((10.6, 2.85))
        fig = self.canvas.figure
        axes = [fig.add_axes((0.01 + 0.228 * k, 0.03, 0.2, 0.8)) for k in range(4)]
        blank = np.zeros_like(tr.frames[0])
        self.im_read = axes[0].imshow(blank, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        self.im_pred = axes[1].imshow(blank, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        self.im_true = axes[2].imshow(blank, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        gh, gw = tr.records[0]["i"].shape[-2:]
        self.im_gate = axes[3].imshow(np.zeros((gh, gw)), cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        bar_ax = fig.add_axes((0.91, 0.03, 0.012, 0.8))
        bar_ax.tick_params(labelsize=7)
        self.colour_bar = ColourBarLayer(self.canvas, self.im_gate, fig.colorbar(self.im_gate, cax=bar_ax))
        self.titles = [axes_title(ax, fontsize=9) for ax in axes]
        p = self.patch
        self.boxes = [Rectangle((0, 0), p, p, fill=False, ec="#ff3030", lw=1.2) for _ in range(3)]
        for ax, box in zip(axes[:3], self.boxes, strict=True):
            ax.add_patch(box)
        self.box_gate = Rectangle((0, 0), 1, 1, fill=False, ec="#ff3030", lw=1.5)
        axes[3].add_patch(self.box_gate)
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
        self.axes = axes
        # an update redraws the four maps, the probe boxes, the spines and the titles (a full draw's order) over a saved
        # background; the colour bar is a layer of its own, redrawn only when the gate's colour scale changes (and kept
        # per scale: a scale seen before is restored)
        spines = [spine for ax in axes for spine in ax.spines.values()]
        self.canvas.animated = [self.im_read, self.im_pred, self.im_true, self.im_gate, *self.boxes, self.box_gate,
                                *spines, *self.titles]  # fmt: skip (the order of a full draw: zorder)
        self.headline = widgets.HTML()  # rendered by the browser: cheaper than text drawn into the PNG

    def _on_sequence(self) -> None:
        self.trace_of(self.sequence.value)  # the one heavy step: a model pass, then cached
        self._update()

    def _update(self) -> None:
        tr = self.trace
        t, layer, gate, k = self.step.value, self.layer.value, self.gate.value, self.channel.value
        y, x = self.probe_y.value, self.probe_x.value
        stage = "input phase" if t < tr.input_len else "forecast phase: the model reads its own prediction"
        self.im_read.set_data(tr.read[t])
        self.im_pred.set_data(np.clip(tr.predictions[t], 0, 1))
        self.im_true.set_data(tr.frames[t + 1])
        mse = float(((np.clip(tr.predictions[t], 0, 1) - tr.frames[t + 1]) ** 2).sum())
        self.titles[0].set_text(f"read X_t (frame {t})" if t < tr.input_len else f"read x̂_{t} (fed back)")
        self.titles[1].set_text(f"prediction x̂_{t + 1}  MSE {mse:.1f}")
        self.titles[2].set_text(f"ground truth x_{t + 1}")
        record = tr.records[layer][gate]
        self.channel.max = record.shape[1] - 1  # layers may differ in width
        k = self.channel.value
        values = self.current_map()
        cmap = GATE_STYLE[gate][2]
        self.im_gate.set_data(values)
        scale_changed = self.colour_bar.set(cmap, *gate_limits(gate, record))
        shape = tuple(record.shape[1:])
        self.titles[3].set_text(f"{self.labels[gate]}, ch {k}\n(C, h, w) = {shape}")
        p = self.patch
        for box in self.boxes:
            box.set_xy((x * p - 0.5, y * p - 0.5))
        self.box_gate.set_xy((x - 0.5, y - 0.5))
        # the texts before the picture: the browser lays them out while the kernel draws
        self.headline.value = f"<b>sequence {self.sequence.value}, step t = {t}</b> ({stage}), layer {layer}"
        rec = tr.records[layer]
        width = max(18, max(len(v) for v in self.labels.values()) + 1)
        lines = "\n".join(f"{self.labels[g]:<{width}}{rec[g][t, k, y, x]:+.3f}" for g in self.labels)
        self.readout.value = (
            "<pre style='font-size:12px;line-height:1.3;margin:0'>"
            f"<b>probe</b> (y, x) = ({y}, {x}), ch {k}\n{html.escape(lines)}</pre>"
        )
        self.canvas.render_changed(0 if scale_changed else None)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
