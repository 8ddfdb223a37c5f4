"""CellExplorer: the live cell diagram, one gate in focus, its values at one pixel (lessons 3 and 5).

Lesson 3 draws the ConvLSTM cell; lesson 5 the ST-LSTM cell of PredRNN.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.patches import Rectangle

from ..probe import layer_terms, trace_sequence
from ..viz.diagram import CELL_PARTS, ST_CELL_PARTS, draw_convlstm_cell, draw_stlstm_cell, focus_cell
from ..viz.heatmaps import GATE_STYLE, gate_limits
from ._canvas import FigureImage
from ._labels import axes_title
from ._strips import BlitImage, ColourBarLayer, check_gate_model
from ._watch import WeightsWatch
from .gate_explorer import labels_for

__all__ = ["CellExplorer"]

EQUATIONS = {
    "i": r"$i_t = \sigma(W_{xi} * X_t + W_{hi} * H_{t-1} + W_{ci} \odot C_{t-1} + b_i)$",
    "f": r"$f_t = \sigma(W_{xf} * X_t + W_{hf} * H_{t-1} + W_{cf} \odot C_{t-1} + b_f)$",
    "c_tilde": r"$\tilde{C}_t = \tanh(W_{xc} * X_t + W_{hc} * H_{t-1} + b_c)$",
    "c": r"$C_t = f_t \odot C_{t-1} + i_t \odot \tilde{C}_t$",
    "o": r"$o_t = \sigma(W_{xo} * X_t + W_{ho} * H_{t-1} + W_{co} \odot C_t + b_o)$",
    "h": r"$H_t = o_t \odot \tanh(C_t)$",
}

#: the ST-LSTM's equations as the official PredRNN code computes them (lesson 5)
ST_EQUATIONS = {
    "i": r"$i_t = \sigma(W_{xi} * X_t + W_{hi} * H^l_{t-1})$",
    "f": r"$f_t = \sigma(W_{xf} * X_t + W_{hf} * H^l_{t-1} + 1)$",
    "g": r"$g_t = \tanh(W_{xg} * X_t + W_{hg} * H^l_{t-1})$",
    "i_prime": r"$i'_t = \sigma(W'_{xi} * X_t + W_{mi} * M^{l-1}_t)$",
    "f_prime": r"$f'_t = \sigma(W'_{xf} * X_t + W_{mf} * M^{l-1}_t + 1)$",
    "g_prime": r"$g'_t = \tanh(W'_{xg} * X_t + W_{mg} * M^{l-1}_t)$",
    "o": r"$o_t = \sigma(W_{xo} * X_t + W_{ho} * H^l_{t-1} + W_{co} * [C^l_t, M^l_t])$",
    "c": r"$C^l_t = f_t \odot C^l_{t-1} + i_t \odot g_t$",
    "m": r"$M^l_t = f'_t \odot M^{l-1}_t + i'_t \odot g'_t$",
    "h": r"$H^l_t = o_t \odot \tanh(W_{1\times 1} * [C^l_t, M^l_t])$",
}


class CellExplorer:
    """The ConvLSTM cell drawn once; a gate dropdown puts one part in focus, a step slider and a
    pixel picker choose where to read the numbers that flow through it.

    Beside the diagram: the focused gate's equation, the shapes of everything in it, its heatmap at
    the chosen step and channel (patch space) with the probed pixel marked, and the values there —
    each term of the sum (:math:`W_{x\\cdot} * X_t`, :math:`W_{h\\cdot} * H_{t-1}`, the peephole,
    the bias) and the result, computed by :func:`stlearn.probe.layer_terms` through
    :mod:`stlearn.gates`. Model passes are made once per layer and cached; an update redraws the map, the probe's
    box and the title over a saved background (:class:`~stlearn.widgets._strips.BlitImage`), the colour bar only when
    its scale changes (~3 ms, not a whole figure's ~25 ms).

    With a PredRNN (or PredRNN-V2) it draws the ST-LSTM instead (:func:`~stlearn.viz.draw_stlstm_cell`)
    and offers its ten parts: :math:`i, f, g`, the primed :math:`i', f', g'`, :math:`o`, the memories
    :math:`C` and :math:`M`, and :math:`H`; the numbers come from :func:`stlearn.probe.stlstm_terms`
    (e.g. :math:`W'_{xf} * X_t`, :math:`W_{mf} * M^{l-1}_t` and the forget bias +1 for :math:`f'_t`,
    or :math:`W_{1\times1} * [C, M]` for :math:`H`).

    Args:
        model: a ConvLSTM or PredRNN (e.g. the pretrained ones).
        frames: one sequence (T, [1,] H, W).
        input_len: input frames.

    Lesson 3 ("ConvLSTM gate by gate"), section "The live cell diagram"; lesson 5 ("PredRNN's
    ST-LSTM") for the ST-LSTM.
    """

    def __init__(self, model: torch.nn.Module, frames: Any, input_len: int = 10) -> None:
        check_gate_model("CellExplorer", model)
        self.model = model
        self.trace = trace_sequence(model, frames, input_len)
        self._terms: dict[int, dict[str, np.ndarray]] = {}
        #: record field → label; True for an ST-LSTM (PredRNN) model
        self.labels = labels_for(self.trace.records[0])
        self.st = "m" in self.labels
        self.parts = ST_CELL_PARTS if self.st else CELL_PARTS
        self.equations = ST_EQUATIONS if self.st else EQUATIONS
        steps, channels, gh, gw = self.trace.records[0]["i"].shape
        layers = self.trace.num_layers
        row = widgets.Layout(width="300px")
        desc = {"description_width": "70px"}
        self.gate = widgets.Dropdown(options=[(v, k) for k, v in self.labels.items()], value="i",
                                     description="gate", layout=row, style=desc)  # fmt: skip
        self.layer = widgets.Dropdown(options=[(f"layer {k}", k) for k in range(layers)], value=0,
                                      description="layer", layout=row, style=desc)  # fmt: skip
        self.step = widgets.IntSlider(value=input_len - 1, min=0, max=steps - 1, description="step t",
                                      layout=row, style=desc)  # fmt: skip
        self.channel = widgets.IntSlider(value=0, min=0, max=channels - 1, description="channel",
                                         layout=row, style=desc)  # fmt: skip
        self.probe_y = widgets.IntSlider(value=gh // 2, min=0, max=gh - 1, description="pixel y",
                                         layout=row, style=desc)  # fmt: skip
        self.probe_x = widgets.IntSlider(value=gw // 2, min=0, max=gw - 1, description="pixel x",
                                         layout=row, style=desc)  # fmt: skip
        self._build_figure(gh, gw)
        self.canvas.watch = WeightsWatch([self.model])  # the view draws nothing once its weights change
        for part in self.parts:  # draw the diagram once per focus now, so a gate switch only swaps PNGs
            self._show_diagram(part)
        for control in (self.gate, self.layer, self.step, self.channel, self.probe_y, self.probe_x):
            control.observe(self.canvas.guard(self._update), names="value")
        self._update()
        controls = widgets.HBox([widgets.VBox([self.gate, self.layer, self.step]),
                                 widgets.VBox([self.channel, self.probe_y, self.probe_x])],
                                layout=widgets.Layout(align_items="flex-start"))  # fmt: skip
        top = widgets.Layout(align_items="flex-start")
        numbers = widgets.HBox([self.canvas.image, self.values], layout=top)
        right = widgets.VBox([self.equation, self.shapes, numbers], layout=top)
        pictures = widgets.HBox([self.diagram.image, right], layout=top)
        self.widget = widgets.VBox([controls, pictures, self.canvas.error], layout=top)

    def terms(self, layer: int) -> dict[str, np.ndarray]:
        """Every term of every gate of ``layer`` over all steps (computed once, then cached)."""
        if layer not in self._terms:
            self._terms[layer] = layer_terms(self.model, self.trace, layer)
        return self._terms[layer]

    def _build_figure(self, gh: int, gw: int) -> None:
        # two images: the diagram (one cached PNG per gate in focus) and the numbers (redrawn)
        if self.st:
            self.diagram = FigureImage((6.2, 4.5))
            self.drawing = draw_stlstm_cell(self.diagram.figure.add_axes((0.0, 0.0, 1.0, 1.0)), focus="i")
        else:
            self.diagram = FigureImage((6.0, 4.3))
            self.drawing = draw_convlstm_cell(self.diagram.figure.add_axes((0.0, 0.0, 1.0, 0.95)), focus="i")
        self._diagram_png: dict[str, bytes] = {}
        # the numbers: the gate's map (a small figure) and texts the browser renders (cheaper than Agg text); an
        # update redraws the map, the probe's box, the spines and the title over a saved background, and the colour
        # bar (a layer) only when the colour scale changes (a scale seen before is restored)
        self.canvas = BlitImage((3.0, 2.9))
        fig = self.canvas.figure
        self.ax_map = fig.add_axes((0.03, 0.03, 0.72, 0.78))
        self.im = self.ax_map.imshow(np.zeros((gh, gw)), cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        self.ax_map.set_xticks([])
        self.ax_map.set_yticks([])
        self.map_title = axes_title(self.ax_map, fontsize=8)  # drawn from kept line bitmaps
        self.marker = Rectangle((0, 0), 1, 1, fill=False, ec="#ff3030", lw=1.5)
        self.ax_map.add_patch(self.marker)
        bar = fig.add_axes((0.77, 0.03, 0.04, 0.78))
        bar.tick_params(labelsize=7)
        self.colour_bar = ColourBarLayer(self.canvas, self.im, fig.colorbar(self.im, cax=bar))
        self.canvas.animated = [self.im, self.marker, *self.ax_map.spines.values(), self.map_title]  # (zorder)
        self.equation = widgets.HTMLMath()
        self.shapes = widgets.HTML()
        self.values = widgets.HTML()
        self.diagram.image.layout = widgets.Layout(max_width="48%", height="auto", object_fit="contain")

    def _show_diagram(self, gate: str) -> None:
        """Put ``gate`` in focus: recolour the drawing once per gate, then reuse its PNG."""
        if gate not in self._diagram_png:
            focus_cell(self.drawing, gate)
            self.diagram.render()
            self._diagram_png[gate] = self.diagram.image.value
        self.diagram.image.value = self._diagram_png[gate]

    def _shapes(self, gate: str, layer: int) -> str:
        if self.st:
            return self._st_shapes(gate, layer)
        cell = self.model.cell_list[layer]
        c, cin, k = cell.hidden_channels, cell.in_channels, cell.kernel_size
        gh, gw = self.trace.records[layer]["i"].shape[-2:]
        state = f"(1, {c}, {gh}, {gw})"
        if gate == "c":
            return f"shapes: f_t, C_t-1, i_t, C̃_t, C_t  {state}\nelement-wise products, no weights"
        if gate == "h":
            return f"shapes: o_t, C_t, H_t  {state}\nelement-wise products, no weights"
        lines = [f"shapes: X_t (1, {cin}, {gh}, {gw})   H_t-1 {state}",
                 f"        W_x ({c}, {cin}, {k}, {k})   W_h ({c}, {c}, {k}, {k})   b ({c},)"]  # fmt: skip
        if gate != "c_tilde" and cell.peephole:
            lines.append(f"        W_c ({c}, {gh}, {gw}) per pixel   →  result {state}")
        else:
            lines.append(f"        →  result {state}")
        return "\n".join(lines)

    def _st_shapes(self, gate: str, layer: int) -> str:
        cell = self.model.cell_list[layer]
        c, cin, k = cell.hidden_channels, cell.in_channels, cell.kernel_size
        gh, gw = self.trace.records[layer]["i"].shape[-2:]
        state, both = f"(1, {c}, {gh}, {gw})", f"(1, {2 * c}, {gh}, {gw})"
        x = f"X_t (1, {cin}, {gh}, {gw})"
        if gate in ("c", "m"):
            name = "f_t, C_t-1, i_t, g_t, C_t" if gate == "c" else "f'_t, M^l-1_t, i'_t, g'_t, M^l_t"
            return f"shapes: {name}  {state}\nelement-wise products, no weights"
        if gate == "h":
            return (f"shapes: o_t {state}   [C_t, M_t] {both}\n"
                    f"        W_1x1 ({c}, {2 * c}, 1, 1)  (conv_last)   →  H_t {state}")  # fmt: skip
        if gate == "o":
            return (f"shapes: {x}   H_t-1 {state}\n"
                    f"        [C_t, M_t] {both}\n"
                    f"        W_xo ({c}, {cin}, {k}, {k})   W_ho ({c}, {c}, {k}, {k})\n"
                    f"        W_co ({c}, {2 * c}, {k}, {k}) (conv_o)   →  result {state}")  # fmt: skip
        if gate in ("i", "f", "g"):
            return (f"shapes: {x}   H_t-1 {state}\n"
                    f"        W_x ({c}, {cin}, {k}, {k}), a slice of conv_x ({7 * c}, {cin}, {k}, {k})\n"
                    f"        W_h ({c}, {c}, {k}, {k}), a slice of conv_h ({4 * c}, {c}, {k}, {k})\n"
                    f"        no bias  →  result {state}")  # fmt: skip
        return (f"shapes: {x}   M^l-1_t {state}\n"
                f"        W'_x ({c}, {cin}, {k}, {k}), a slice of conv_x ({7 * c}, {cin}, {k}, {k})\n"
                f"        W_m ({c}, {c}, {k}, {k}), a slice of conv_m ({3 * c}, {c}, {k}, {k})\n"
                f"        no bias  →  result {state}")  # fmt: skip

    def _st_values(self, gate: str, tm: dict[str, np.ndarray], at: tuple[int, ...]) -> str:
        v = {name: float(a[at]) for name, a in tm.items()}
        name = self.labels[gate].split()[-1]
        rule = "─" * 30
        if gate in ("i", "f", "g", "i_prime", "f_prime", "g_prime", "o"):
            base = gate.replace("_prime", "")
            if gate.endswith("_prime"):
                rows = [(f"W'_x{base} * X_t", v[f"x_{gate}"]), (f"W_m{base} * M^l-1_t", v[f"m_{gate}"])]
            else:
                rows = [(f"W_x{base} * X_t", v[f"x_{gate}"]), (f"W_h{base} * H_t-1", v[f"h_{gate}"])]
            if base == "f":
                rows.append(("forget bias", v[f"b_{gate}"]))
            if gate == "o":
                rows.append(("W_co * [C_t, M_t]", v["cm_o"]))
            z = sum(value for _, value in rows)
            fn = "tanh" if base == "g" else "σ"
            rows += [("", None), ("sum z", z), (f"{fn}(z) = {name}", v[gate])]
            lines = [rule if value is None else f"{label:<22}{value:+8.3f}" for label, value in rows]
            if gate.endswith("_prime"):
                lines.append(f"(M^l-1_t = {v['m_in']:+.3f})")
            return "\n".join(lines)
        if gate in ("c", "m"):
            p, old, new = ("", "C_t-1", "C_t") if gate == "c" else ("'", "M^l-1_t", "M^l_t")
            keep, mem = ("f", "c_prev") if gate == "c" else ("f_prime", "m_in")
            inp, cand = ("i", "g") if gate == "c" else ("i_prime", "g_prime")
            rows = [(f"f{p}_t", v[keep]), (old, v[mem]), (f"i{p}_t", v[inp]), (f"g{p}_t", v[cand]), ("", None),
                    (f"f{p}_t · {old} (kept)", v[keep] * v[mem]), (f"i{p}_t · g{p}_t (written)", v[inp] * v[cand]),
                    (f"{new} = sum", v[gate])]  # fmt: skip
        else:
            rows = [("o_t", v["o"]), ("C_t (this channel)", v["c"]), ("M_t (this channel)", v["m"]),
                    ("W_1x1 * [C_t, M_t]", v["fused"]), ("tanh(W_1x1 * [C, M])", np.tanh(v["fused"])), ("", None),
                    ("H_t = o_t · tanh(…)", v["h"])]  # fmt: skip
        return "\n".join(rule if value is None else f"{label:<22}{value:+8.3f}" for label, value in rows)

    def _values(self, gate: str, tm: dict[str, np.ndarray], at: tuple[int, ...]) -> str:
        if self.st:
            return self._st_values(gate, tm, at)
        v = {name: float(a[at]) for name, a in tm.items()}
        if gate in ("i", "f", "o", "c_tilde"):
            g = "c" if gate == "c_tilde" else gate
            state = "C_t  " if gate == "o" else "C_t-1"
            rows = [(f"W_x{g} * X_t", v["x_" + g]), (f"W_h{g} * H_t-1", v["h_" + g])]
            if gate != "c_tilde":
                rows.append((f"W_c{g} ⊙ {state}", v["p_" + g]))
            rows.append((f"b_{g}", v["b_" + g]))
            z = sum(value for _, value in rows)
            fn = "tanh" if gate == "c_tilde" else "σ"
            rows += [("", None), ("sum z", z), (f"{fn}(z) = {self.labels[gate].split()[-1]}", v[gate])]
            lines = ["─" * 26 if value is None else f"{name:<17}{value:+8.3f}" for name, value in rows]
            if gate != "c_tilde":
                lines.append(f"({state.strip()} = {v['c'] if gate == 'o' else v['c_prev']:+.3f})")
            return "\n".join(lines)
        if gate == "c":
            return "\n".join([
                f"f_t      {v['f']:+8.3f}    C_t-1 {v['c_prev']:+8.3f}",
                f"i_t      {v['i']:+8.3f}    C̃_t   {v['c_tilde']:+8.3f}",
                "─" * 26,
                f"f_t·C_t-1  (kept)     {v['f'] * v['c_prev']:+8.3f}",
                f"i_t·C̃_t    (written)  {v['i'] * v['c_tilde']:+8.3f}",
                f"C_t = sum             {v['c']:+8.3f}",
            ])  # fmt: skip
        return "\n".join([
            f"o_t           {v['o']:+8.3f}",
            f"C_t           {v['c']:+8.3f}",
            f"tanh(C_t)     {np.tanh(v['c']):+8.3f}",
            "─" * 26,
            f"H_t = o_t·tanh(C_t)  {v['h']:+8.3f}",
        ])  # fmt: skip

    def _update(self) -> None:
        gate, layer, t = self.gate.value, self.layer.value, self.step.value
        k, y, x = self.channel.value, self.probe_y.value, self.probe_x.value
        tm = self.terms(layer)
        self.channel.max = tm["i"].shape[1] - 1  # layers may differ in width
        k = self.channel.value
        self._show_diagram(gate)
        colour = self.parts[gate]
        values = tm[gate][t, k]
        _, _, cmap, _, _ = GATE_STYLE[gate]
        self.im.set_data(values)
        scale_changed = self.colour_bar.set(cmap, *gate_limits(gate, tm[gate][:, k]))
        self.marker.set_xy((x - 0.5, y - 0.5))
        self.map_title.set_text(f"{self.labels[gate]}\nstep {t}, layer {layer}, channel {k}")
        # the texts before the map: the browser lays them out while the kernel draws
        self.equation.value = f"<div style='color:{colour};font-size:15px'>{self.equations[gate]}</div>"
        shapes = html.escape(self._shapes(gate, layer))
        self.shapes.value = f"<pre style='font-size:11px;color:#444;margin:0'>{shapes}</pre>"
        numbers = f"at pixel (y, x) = ({y}, {x}):\n" + self._values(gate, tm, (t, k, y, x))
        self.values.value = f"<pre style='font-size:12.5px;line-height:1.35;margin:0'>{html.escape(numbers)}</pre>"
        self.canvas.render_changed(0 if scale_changed else None)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
