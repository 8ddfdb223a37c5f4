r"""MIMMemoryExplorer: MIM's non-stationary and stationary memories on a real sequence, step by step (lesson 8)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from ..errors import InputTypeError
from ..viz.flow import MIM_QUANTITIES
from ._labels import axes_title, figure_text
from ._strips import BlitImage, check_sequences, sequence_source
from ._watch import WeightsWatch

__all__ = ["MIMMemoryExplorer"]

#: the curves of the bottom panel: mean |·| per step of these record fields
CURVES = {"diff": "|H_t − H_t-1| (MIM-N in)", "n": "|N_t| non-stationary", "s": "|S_t| stationary",
          "t": "|T_t| (MIM-S out)"}  # fmt: skip
COLOURS = {"diff": "#1f77b4", "n": "#d62728", "s": "#2ca02c", "t": "#9467bd"}


class MIMMemoryExplorer:
    r"""Sequence, step, MIM block, quantity and channel controls over one traced MIM pass.

    Top row, for step t: the frame the model read (its own prediction from step input_len on), the
    chosen quantity's channel-mean :math:`|\cdot|` and one channel of it. Quantities
    (:data:`stlearn.viz.flow.MIM_QUANTITIES`): MIM-N's input :math:`H^{l-1}_t - H^{l-1}_{t-1}`, its
    output :math:`D_t` and memory :math:`N_t` (non-stationary), MIM-S's memory :math:`S_t`
    (stationary) and output :math:`T_t`, :math:`C_t`, :math:`H_t` and the MIM-N/MIM-S gates. Bottom:
    the mean :math:`|\cdot|` of the MIM-N input, :math:`N_t`, :math:`S_t` and :math:`T_t` over the whole
    sequence, a marker at step t.

    The model runs once per sequence (:func:`~stlearn.models.mim_sequence_trace`, cached); every
    control afterwards swaps image data, texts and the marker over a saved background
    (:class:`~stlearn.widgets._strips.BlitImage`; the curves are a layer, drawn once per sequence and block and
    kept).

    Args:
        model: a MIM (``load_pretrained("moving_digits", "mim")``).
        frames: sequences (N, T, [1,] H, W) — a SequenceDataset, array or tensor.
        sequences: the indices offered in the sequence picker.
        input_len: input frames (the rest are forecast).

    Taught in lesson 8 ("TrajGRU and MIM"), section "Explore MIM's memories".
    """

    def __init__(self, model: torch.nn.Module, frames: Any, sequences: Sequence[int] = (0, 1, 2, 3),
                 input_len: int = 10) -> None:  # fmt: skip
        from ..models import MIM

        where = "MIMMemoryExplorer"
        if not isinstance(model, MIM):
            name = getattr(model, "name", "") or type(model).__name__
            raise InputTypeError(f"{where} supports MIM models (load_pretrained(..., 'mim')); got {name}")
        self.model = model
        self.frames = sequence_source(where, frames)
        self.input_len = input_len
        self._cache: dict[int, Any] = {}
        self.runs = 0
        seqs = check_sequences(where, self.frames, sequences)
        tr = self.trace_of(seqs[0])
        row = widgets.Layout(width="320px")
        desc = {"description_width": "70px"}
        self.sequence = widgets.Dropdown(options=[(f"sequence {k}", k) for k in seqs], value=seqs[0],
                                         description="sequence", layout=row, style=desc)  # fmt: skip
        self.step = widgets.IntSlider(value=input_len - 1, min=0, max=tr.num_steps - 1, description="step t",
                                      layout=row, style=desc)  # fmt: skip
        self.layer = widgets.Dropdown(options=[(f"MIM block {k}", k) for k in range(1, tr.num_layers)], value=1,
                                      description="layer", layout=row, style=desc)  # fmt: skip
        self.quantity = widgets.Dropdown(options=[(v, k) for k, v in MIM_QUANTITIES.items()], value="n",
                                         description="quantity", layout=row, style=desc)  # fmt: skip
        channels = tr.records[1]["n"].shape[1]
        self.channel = widgets.IntSlider(value=0, min=0, max=channels - 1, description="channel", layout=row,
                                         style=desc)  # fmt: skip
        self.headline = widgets.HTML()
        self._build_figure(tr)
        self.canvas.watch = WeightsWatch([self.model])  # the view draws nothing once its weights change
        guard = self.canvas.guard
        self.sequence.observe(guard(self._on_curves), names="value")
        self.layer.observe(guard(self._on_curves), names="value")
        for control in (self.step, self.quantity, self.channel):
            control.observe(guard(self._update), names="value")
        self._on_curves()
        column = widgets.Layout(min_width="330px", overflow="visible")
        controls = widgets.HBox(
            [widgets.VBox([self.sequence, self.layer], layout=column),
             widgets.VBox([self.step, self.quantity], layout=column),
             widgets.VBox([self.channel], layout=column)],
            layout=widgets.Layout(align_items="flex-start", flex_flow="row wrap"),
        )  # fmt: skip
        self.widget = widgets.VBox([controls, self.headline, self.canvas.image, self.canvas.error],
                                   layout=widgets.Layout(align_items="flex-start"))  # fmt: skip

    # -- data ----------------------------------------------------------------------------------

    def trace_of(self, index: int) -> Any:
        """The traced pass over sequence ``index`` (computed on first use, then cached)."""
        from ..models.mim import mim_sequence_trace

        if index not in self._cache:
            check_sequences("MIMMemoryExplorer.trace_of", self.frames, [index])
            if len(self._cache) >= 8:
                self._cache.pop(next(iter(self._cache)))
            self._cache[index] = mim_sequence_trace(self.model, self.frames[index], self.input_len)
            self.runs += 1
        return self._cache[index]

    @property
    def trace(self) -> Any:
        return self.trace_of(self.sequence.value)

    def current_map(self) -> np.ndarray:
        """The (h, w) map on display: ``quantity`` of the chosen block at (step, channel)."""
        return self.trace.records[self.layer.value][self.quantity.value][self.step.value, self.channel.value]

    def curves(self) -> dict[str, np.ndarray]:
        """Mean |·| per step (steps,) of the MIM-N input, N_t, S_t and T_t of the chosen block."""
        rec = self.trace.records[self.layer.value]
        return {q: np.abs(rec[q]).mean(axis=(1, 2, 3)) for q in CURVES}

    # -- drawing -------------------------------------------------------------------------------

    def _build_figure(self, tr: Any) -> None:
        self.canvas = BlitImage((9.6, 4.8))
        fig = self.canvas.figure
        axes = [fig.add_axes((0.02 + 0.25 * k, 0.47, 0.22, 0.44)) for k in range(3)]
        gh, gw = tr.records[1]["n"].shape[-2:]
        self.im_read = axes[0].imshow(np.zeros_like(tr.frames[0]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        self.im_mean = axes[1].imshow(np.zeros((gh, gw)), cmap="magma", vmin=0, vmax=1, interpolation="nearest")
        self.im_chan = axes[2].imshow(np.zeros((gh, gw)), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
        self.titles = [axes_title(ax, fontsize=8) for ax in axes]
        self.side = figure_text(fig, 0.77, 0.88, fontsize=8, va="top", family="monospace")
        self.plot = fig.add_axes((0.07, 0.08, 0.9, 0.28))
        self.plot.tick_params(labelsize=7)
        self.plot.set_xlabel("step t", fontsize=8, labelpad=1)
        self.lines = {q: self.plot.plot([], [], color=COLOURS[q], lw=1.4, label=name)[0] for q, name in CURVES.items()}
        self.plot.legend(fontsize=7, loc="upper left", ncol=4, frameon=False)
        self.input_marker = self.plot.axvline(tr.input_len - 0.5, color="0.6", ls=":", lw=1)
        self.marker = self.plot.axvline(0, color="k", lw=1.2)
        self.axes = axes
        spines = [sp for ax in axes for sp in ax.spines.values()]
        self.canvas.animated = [self.im_read, self.im_mean, self.im_chan, *spines, *self.titles, self.side, self.marker]
        self.canvas.layers = [[self.plot]]  # the curves: kept per (sequence, block)

    def _on_curves(self) -> None:
        """Sequence or block changed: new curves (the plot layer is redrawn), then the maps."""
        curves = self.curves()
        steps = np.arange(len(next(iter(curves.values()))))
        for q, line in self.lines.items():
            line.set_data(steps, curves[q])
        self.plot.set_xlim(-0.5, steps[-1] + 0.5)
        self.plot.set_ylim(0, 1.15 * max(float(c.max()) for c in curves.values()) or 1.0)
        self.canvas.layer_keys = [(self.sequence.value, self.layer.value)]
        self._curves_changed = True
        self._update()

    def _update(self) -> None:
        tr, t, layer, q, k = self.trace, self.step.value, self.layer.value, self.quantity.value, self.channel.value
        rec = tr.records[layer]
        self.im_read.set_data(tr.read[t])
        self.titles[0].set_text(f"read X_t (frame {t})" if t < tr.input_len else f"read x̂_{t} (fed back)")
        values = rec[q]
        mean_abs = np.abs(values[t]).mean(0)
        self.im_mean.set_data(mean_abs)
        self.im_mean.set_clim(0, float(np.abs(values).mean(1).max()) or 1.0)
        chan = values[t, k]
        limit = float(np.abs(values[:, k]).max()) or 1.0
        self.im_chan.set_data(chan)
        self.im_chan.set_clim(-limit, limit)
        shape = tuple(values.shape[1:])
        self.titles[1].set_text(f"{MIM_QUANTITIES[q]}\nmean |·| over channels, (C, h, w) = {shape}")
        self.titles[2].set_text(f"channel {k}, scale ±{limit:.2f}")
        lines = [f"step {t}, block {layer}", ""]
        for name in ("diff", "d", "n", "s", "t", "c"):
            lines.append(f"mean|{name:<4s}| {np.abs(rec[name][t]).mean():.4f}")
        lines.append(f"mean n_f    {rec['n_f'][t].mean():.3f}")
        lines.append(f"mean s_f    {rec['s_f'][t].mean():.3f}")
        self.side.set_text("\n".join(lines))
        self.marker.set_xdata([t, t])
        phase = "input phase" if t < tr.input_len else "forecast phase: the model reads its own prediction"
        # the text before the picture: the browser lays it out while the kernel draws
        self.headline.value = f"<b>sequence {self.sequence.value}, step t = {t}</b> ({phase}), MIM block {layer}"
        changed = 0 if getattr(self, "_curves_changed", False) else None
        self._curves_changed = False
        self.canvas.render_changed(changed)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
