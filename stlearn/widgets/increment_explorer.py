r"""Where ΔC and ΔM agree: per-pixel cosine contributions of several models, per step, layer and sample (lesson 7)."""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets
import numpy as np

from ..probe import MemoryIncrements, cosine_contributions
from ._canvas import FigureImage
from ._labels import BitmapText, figure_text

__all__ = ["IncrementExplorer"]


class IncrementExplorer:
    r"""One row per model: the channels where ΔC and ΔM are most alike, as per-pixel maps, and all channels' |cos|.

    For the chosen sample, step and layer each row shows the ``channels`` channels with the largest
    :math:`|\cos(\Delta C_c, \Delta M_c)|` as maps of :math:`\kappa_c(p) = a_c(p)\,b_c(p)`
    (:func:`stlearn.probe.cosine_contributions`; red = same sign, blue = opposite; each map sums
    to its channel's cosine), then every channel's :math:`|\cos|`, sorted, on a log axis — the
    values the decoupling loss averages. All maps share one symmetric colour scale.

    Args:
        increments: label → :class:`~stlearn.probe.MemoryIncrements` of the same sequences
            (same (N, steps, layers, C, h, w)), e.g. the adapted increments of PredRNN-V2 and the
            raw ones of PredRNN.
        channels: maps per row (default: 6, or C if fewer).

    Controls ``sample``, ``step``, ``layer``: setting ``.value`` from Python does what the slider
    does. Only image data, colour limits and texts change after the first draw; the
    cosines are computed from the stored increments (no model run). Display with ``.widget`` or as
    a cell's last line.

    Taught in lesson 7 (PredRNN-V2: ΔC and ΔM before and after the decoupling loss).
    """

    def __init__(self, increments: Mapping[str, MemoryIncrements], channels: int | None = None) -> None:
        where = "IncrementExplorer"
        if not isinstance(increments, Mapping) or not increments:
            raise ValueError(f"{where}: 'increments' must be a non-empty dict label → MemoryIncrements")
        for name, inc in increments.items():
            if not isinstance(inc, MemoryIncrements):
                raise TypeError(
                    f"{where}: increments[{name!r}] must be a MemoryIncrements "
                    f"(stlearn.probe.memory_increments), got {type(inc).__name__}"
                )
        shapes = {inc.delta_c.shape for inc in increments.values()}
        if len(shapes) != 1:
            raise ValueError(f"{where}: all increments need the same (N, steps, layers, C, h, w), got {sorted(shapes)}")
        self.increments = dict(increments)
        n_seq, n_steps, n_layers, n_chan, h, w = shapes.pop()
        channels = min(6, n_chan) if channels is None else channels
        if isinstance(channels, bool) or not isinstance(channels, int) or not 1 <= channels <= n_chan:
            raise ValueError(f"{where}: 'channels' must be an integer in [1, {n_chan}], got {channels!r}")
        self.n_channels = channels
        self.input_len = next(iter(self.increments.values())).input_len
        rows = len(self.increments)
        self.h, self.w = h, w
        self.canvas = FigureImage((1.25 * channels + 0.3, 1.45 * rows + 0.6), dpi=80)
        fig = self.canvas.figure
        grid = fig.add_gridspec(rows, 1, hspace=0.5)
        # one mosaic image per row (channels maps side by side, a NaN column between): few axes, fast redraws
        self.mosaic_width = channels * (w + 1) - 1
        self.maps = []
        self.row_titles = []
        for r, name in enumerate(self.increments):
            ax = fig.add_subplot(grid[r])
            blank = np.full((h, self.mosaic_width), np.nan)
            self.maps.append(ax.imshow(blank, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest", aspect="equal"))
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            # one text per row, drawn from cached line bitmaps (a Text renders glyph by glyph: ~2/3 of an update):
            # label, mean |cos|, channels left to right
            title = BitmapText(-0.5, -0.8, name, fontsize=7, va="bottom", transform=ax.transData, clip_on=False)
            ax.add_artist(title)
            self.row_titles.append(title)
        fig.subplots_adjust(left=0.02, right=0.98, top=0.84, bottom=0.03)
        self.caption = figure_text(fig, 0.5, 0.98, ha="center", va="top", fontsize=9)  # where suptitle goes
        style = {"description_width": "initial"}
        self.sample = widgets.IntSlider(0, 0, n_seq - 1, description="sequence", style=style)
        self.step = widgets.IntSlider(
            min(self.input_len - 1, n_steps - 1), 0, n_steps - 1, description="step t", style=style
        )
        self.layer = widgets.ToggleButtons(options=list(range(n_layers)), value=0, description="layer", style=style)
        self._update_observer = self.canvas.guard(self._update)
        for control in (self.sample, self.step, self.layer):
            control.observe(self._update_observer, names="value")
        self._update_observer()
        self.widget = widgets.VBox(
            [widgets.HBox([self.sample, self.step]), self.layer, self.canvas.image, self.canvas.error],
            layout=widgets.Layout(align_items="flex-start"),
        )

    def kappa(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """κ maps (C, h, w) and signed cosines (C,) of one model at the current sample, step and layer."""
        inc = self.increments[name]
        s, t, layer = self.sample.value, self.step.value, self.layer.value
        k = cosine_contributions(inc.delta_c[s, t, layer], inc.delta_m[s, t, layer])
        return k, k.sum(axis=(1, 2))

    def _update(self) -> None:
        limit = 0.0
        h, w = self.h, self.w
        for r, name in enumerate(self.increments):
            k, cos = self.kappa(name)
            order = np.argsort(-np.abs(cos))
            mosaic = np.full((h, self.mosaic_width), np.nan)
            top = order[: self.n_channels]
            for slot, ch in enumerate(top):
                mosaic[:, slot * (w + 1) : slot * (w + 1) + w] = k[ch]
            self.maps[r].set_data(mosaic)
            limit = max(limit, float(np.nanmax(np.abs(mosaic))))
            listed = ", ".join(f"{ch} ({cos[ch]:+.2g})" for ch in top)
            self.row_titles[r].set_text(f"{name}: mean |cos| {np.abs(cos).mean():.4f}; channel (cos): {listed}")
        limit = limit or 1.0
        for im in self.maps:
            im.set_clim(-limit, limit)
        t = self.step.value
        reads = "true frame" if t < self.input_len else "its own prediction"
        self.caption.set_text(
            f"sequence {self.sample.value}, step {t} (reads {reads}), layer {self.layer.value}: "
            f"κ = a·b, scale ±{limit:.3f}"
        )
        self.canvas.render()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
