r"""Figures to hover and zoom (plotly): read a value under the mouse instead of guessing it from a colour.

* :func:`gate_map_hover` — every channel of one gate (or memory) at one step and layer as a grid of heatmaps;
  hovering a cell reads "channel c, row y, col x: value" (lessons 3 and 5);
* :func:`lead_time_curves` — a score per lead time for several forecasters, one panel per score; hover reads
  forecaster, lead time and value, drag zooms, a legend click hides a forecaster in every panel (lessons 9, 10);
* :func:`loss_curves` — training loss and validation MSE against the iteration for several training logs
  (lesson 10; lesson 4 draws one log with matplotlib, :func:`stlearn.viz.loss_curve`).

Each returns a :class:`plotly.graph_objects.Figure`; as a cell's last line JupyterLab draws it with the
plotly extension that ships in the ``plotly`` package (``jupyterlab-plotly``: plotly.js comes with it, no
network needed). Static figures stay matplotlib.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import InputError, InputTypeError
from .heatmaps import GATE_STYLE, gate_limits

__all__ = ["gate_map_hover", "lead_time_curves", "loss_curves"]

#: matplotlib colour map → plotly colour scale (the gate styles of :data:`~stlearn.viz.heatmaps.GATE_STYLE`)
_COLORSCALES = {"viridis": "Viridis", "RdBu_r": "RdBu_r", "magma": "Magma"}

#: line colours per forecaster (the tab10 colours lesson 9's matplotlib figure uses)
_COLOURS = {
    "trajgru": "#9467bd", "convlstm": "#1f77b4", "mim": "#bcbd22", "predrnn": "#ff7f0e", "predrnn_v2": "#d62728",
    "persistence": "#000000", "optical_flow": "#2ca02c", "historical average": "#7f7f7f",
}  # fmt: skip
_BASELINES = ("persistence", "optical_flow", "optical flow", "historical average")


def _colour(name: str, label: str) -> str | None:
    """The forecaster's colour, by registry name or by label ("PredRNN-V2" → predrnn_v2); None if it has none."""
    for key in (name, label, label.lower().replace("-", "_").replace(" ", "_")):
        if key in _COLOURS:
            return _COLOURS[key]
    return None


def _gate_maps(trace: Any, gate: str, layer: int, step: int, sample: int) -> tuple[np.ndarray, int]:
    """(C, h, w) float array of ``gate`` from a SequenceTrace or a ModelTrace, and the input length (or None)."""
    from ..models.base import ModelTrace
    from ..probe import SequenceTrace

    where = "gate_map_hover"
    if isinstance(trace, SequenceTrace):
        if not 0 <= layer < trace.num_layers:
            raise InputError(f"{where}: 'layer' must be in 0 … {trace.num_layers - 1}, got {layer!r}")
        fields = trace.records[layer]
        if gate not in fields:
            raise InputError(f"{where}: gate {gate!r} is not in the trace; its fields are {sorted(fields)}")
        if not 0 <= step < trace.num_steps:
            raise InputError(f"{where}: 'step' must be in 0 … {trace.num_steps - 1}, got {step!r}")
        if sample != 0:
            raise InputError(f"{where}: a SequenceTrace holds one sequence; 'sample' must be 0, got {sample!r}")
        return np.asarray(fields[gate][step], dtype=np.float64), trace.input_len
    if isinstance(trace, ModelTrace):
        if (step, layer) not in trace.records:
            raise InputError(
                f"{where}: step {step}, layer {layer} was not traced; traced steps {trace.steps}, layers {trace.layers}"
            )
        record = trace[step, layer].as_dict()
        if gate not in record:
            raise InputError(f"{where}: gate {gate!r} is not in the record; its fields are {sorted(record)}")
        value = record[gate]
        if not 0 <= sample < value.shape[0]:
            raise InputError(f"{where}: 'sample' must be in 0 … {value.shape[0] - 1}, got {sample!r}")
        return value[sample].detach().to(torch.float64).cpu().numpy(), None
    raise InputTypeError(
        f"{where}: 'trace' must be a SequenceTrace (stlearn.probe.trace_sequence) or a model's ModelTrace "
        f"(model(frames, trace=True).trace), got {type(trace).__name__}"
    )


def gate_map_hover(
    trace: Any,
    gate: str,
    layer: int = 0,
    step: int = 9,
    *,
    sample: int = 0,
    channels: Sequence[int] | None = None,
    columns: int = 8,
) -> Any:
    """A gate's (or memory's) channels at one step and layer as heatmaps; hover reads channel, row, col and value.

    Args:
        trace: a :class:`~stlearn.probe.SequenceTrace` (:func:`stlearn.probe.trace_sequence`) or the
            :class:`~stlearn.models.ModelTrace` of ``model(frames, trace=True)``.
        gate: the record field — ConvLSTM ``"i"``, ``"f"``, ``"c_tilde"``, ``"c"``, ``"o"``, ``"h"``; ST-LSTM also
            ``"g"``, ``"i_prime"``, ``"f_prime"``, ``"g_prime"``, ``"m"``.
        layer, step: which record (step t reads :math:`X_t`).
        sample: the sequence of a batched ModelTrace.
        channels: the channels to draw (default: all).
        columns: heatmaps per row.

    Rows and columns are the cells of the patch grid (16 × 16 for 64 × 64 frames and patch 4: each cell a 4 × 4 block
    of pixels). The colour scale is the one of :func:`stlearn.viz.gate_grid` (sigmoid gates in [0, 1], tanh ones in
    [−1, 1], the memories symmetric about 0), shared by all panels. Returns a :class:`plotly.graph_objects.Figure`.

    Taught in lesson 3 (the ConvLSTM gates) and lesson 5 (the ST-LSTM gates and the memory M).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    for name, value in (("layer", layer), ("step", step), ("sample", sample), ("columns", columns)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise InputError(f"gate_map_hover: '{name}' must be an integer, got {value!r}")
    if columns < 1:
        raise InputError(f"gate_map_hover: 'columns' must be ≥ 1, got {columns}")
    maps, input_len = _gate_maps(trace, gate, int(layer), int(step), int(sample))
    n_chan, h, w = maps.shape
    chans = list(range(n_chan)) if channels is None else [int(c) for c in channels]
    bad = [c for c in chans if not 0 <= c < n_chan]
    if not chans or bad:
        raise InputError(f"gate_map_hover: 'channels' must be a non-empty list in 0 … {n_chan - 1}, got {list(chans)}")
    lo, hi = gate_limits(gate, maps[chans])
    name, _, cmap, _, _ = GATE_STYLE.get(gate, (gate, gate, "RdBu_r", None, None))
    cols = min(columns, len(chans))
    rows = -(-len(chans) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"channel {c}" for c in chans],
                        horizontal_spacing=0.012, vertical_spacing=0.06 if rows > 1 else 0.1)  # fmt: skip
    for k, c in enumerate(chans):
        fig.add_trace(
            go.Heatmap(
                z=maps[c], coloraxis="coloraxis",
                hovertemplate=f"channel {c}, row %{{y}}, col %{{x}}: %{{z:.4f}}<extra></extra>",
            ),
            row=k // cols + 1, col=k % cols + 1,
        )  # fmt: skip
    fig.update_xaxes(showticklabels=False, constrain="domain")
    fig.update_yaxes(showticklabels=False, autorange="reversed", scaleanchor="x", constrain="domain")
    for k in range(len(chans)):  # each panel square: its y axis anchored to its own x axis
        fig.layout[f"yaxis{'' if k == 0 else k + 1}"].scaleanchor = f"x{'' if k == 0 else k + 1}"
    reads = ""
    if input_len is not None:
        reads = " (reads the true frame)" if step < input_len else " (reads its own forecast)"
    fig.update_layout(
        title={"text": f"{name} <b>{gate}</b>, step {step}{reads}, layer {layer}: (C, h, w) = ({n_chan}, {h}, {w}) — "
               "hover a cell to read it", "font": {"size": 13}},
        coloraxis={"colorscale": _COLORSCALES.get(cmap, cmap), "cmin": lo, "cmax": hi, "colorbar": {"thickness": 12}},
        height=120 + 118 * rows, margin={"l": 10, "r": 10, "t": 70, "b": 10},  # as wide as the notebook
    )  # fmt: skip
    fig.update_annotations(font_size=9)
    return fig


def _curves_from(results: Any) -> tuple[dict[str, dict[str, list[float]]], dict[str, str]]:
    """name → metric → values per lead, and name → label, from a table8 result or a plain mapping."""
    if isinstance(results, Mapping) and "rows" in results and isinstance(results["rows"], Mapping):
        from ..table8 import LABELS

        curves = {k: dict(r["per_lead"]) for k, r in results["rows"].items() if r.get("status") == "evaluated"}
        return curves, {k: LABELS.get(k, k) for k in curves}
    if not isinstance(results, Mapping) or not results:
        raise InputTypeError(
            "lead_time_curves: 'results' must be the result of stlearn.table8 (lesson_results / evaluate_table8) or a "
            f"non-empty dict forecaster → {{metric: values per lead time}}, got {type(results).__name__}"
        )
    curves = {}
    for name, per_metric in results.items():
        if not isinstance(per_metric, Mapping):
            raise InputTypeError(
                f"lead_time_curves: results[{name!r}] must be a dict metric → values per lead time, "
                f"got {type(per_metric).__name__}"
            )
        curves[str(name)] = dict(per_metric)
    return curves, {k: k for k in curves}


def lead_time_curves(
    results: Any,
    metrics: Sequence[str] | None = None,
    *,
    minutes_per_frame: float | None = None,
    titles: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Any:
    """Scores per lead time, one panel per score, one line per forecaster; hover, zoom, legend toggles (plotly).

    Args:
        results: a :mod:`stlearn.table8` result (``lesson_results`` / ``evaluate_table8``: every evaluated row's
            ``per_lead``; lead times in minutes of 6) or a dict forecaster → {metric: values per lead time}.
        metrics: the panels (default: ``mse_frame, csi_30, csi_40, csi_50`` for a table8 result, else every metric
            the first forecaster has).
        minutes_per_frame: the x axis in minutes (default 6 for a table8 result; else lead times 1, 2, …).
        titles: metric → panel title.
        title: the figure title.

    Baselines (persistence, optical flow, historical average) are dashed. Returns a
    :class:`plotly.graph_objects.Figure`. Taught in lesson 9 (Table 8 per lead time) and lesson 10.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    is_table8 = isinstance(results, Mapping) and "rows" in results
    curves, labels = _curves_from(results)
    if not curves:
        raise InputError("lead_time_curves: no evaluated forecaster in 'results'")
    if metrics is None:
        metrics = ["mse_frame", "csi_30", "csi_40", "csi_50"] if is_table8 else list(next(iter(curves.values())))
    metrics = list(metrics)
    missing = [(n, m) for n in curves for m in metrics if m not in curves[n]]
    if not metrics or missing:
        raise InputError(f"lead_time_curves: metrics {metrics} missing for (forecaster, metric) {missing[:4]}")
    if minutes_per_frame is None and is_table8:
        from ..table8 import MINUTES_PER_FRAME

        minutes_per_frame = MINUTES_PER_FRAME
    default_titles = {"mse_frame": "MSE per frame ↓", "csi_30": "CSI-30 ↑", "csi_40": "CSI-40 ↑", "csi_50": "CSI-50 ↑",
                      "ssim": "SSIM ↑", "psnr": "PSNR ↑", "mae_frame": "MAE per frame ↓"}  # fmt: skip
    titles = {**default_titles, **(titles or {})}
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[titles.get(m, m) for m in metrics],
                        horizontal_spacing=0.06)  # fmt: skip
    unit = "min" if minutes_per_frame else ""
    for j, metric in enumerate(metrics):
        for name, per_metric in curves.items():
            values = np.asarray(per_metric[metric], dtype=float)
            lead = np.arange(1, len(values) + 1) * (minutes_per_frame or 1)
            label = labels[name]
            dashed = name in _BASELINES or label in _BASELINES
            fig.add_trace(
                go.Scatter(
                    x=lead, y=values, mode="lines+markers", name=label, legendgroup=label, showlegend=j == 0,
                    line={"color": _colour(name, label), "dash": "dash" if dashed else "solid",
                          "width": 2},
                    marker={"size": 5},
                    hovertemplate=f"{label}, lead %{{x}} {unit}: {metric} %{{y:.4g}}<extra></extra>",
                ),
                row=1, col=j + 1,
            )  # fmt: skip
        fig.update_xaxes(title_text=f"lead time ({unit})" if unit else "lead time (frames)", row=1, col=j + 1)
    fig.update_layout(
        title={"text": title or "scores per lead time — hover to read, drag to zoom, double-click to reset, "
               "click a legend entry to hide it", "font": {"size": 13}},
        height=380, legend={"orientation": "h", "y": -0.25}, margin={"l": 50, "r": 20, "t": 70, "b": 40},
        hovermode="closest",
    )  # fmt: skip
    return fig


def loss_curves(logs: Mapping[str, Any], *, title: str | None = None) -> Any:
    """Training loss and validation MSE per frame against the iteration, one line per log (plotly, zoomable).

    Args:
        logs: label → a training log (a ``.log.jsonl`` path or records, see :func:`stlearn.viz.load_log`), e.g.
            the shipped ``data/checkpoints/<data set>/<model>.log.jsonl`` of each model.
        title: the figure title.

    Left: the training loss (MSE per pixel under the run's sampling mask, the running mean the log keeps); right: the
    validation MSE per frame of the test-time forecast. Hover reads the model, the iteration and the value; the log
    axis (y) makes runs of different lengths comparable. Returns a :class:`plotly.graph_objects.Figure`.

    Taught in lesson 10 (the shipped models' training runs, beside their budgets); lesson 4 draws one log
    (:func:`stlearn.viz.loss_curve`).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from .training import load_log

    if not isinstance(logs, Mapping) or not logs:
        raise InputTypeError(f"loss_curves: 'logs' must be a non-empty dict label → log, got {type(logs).__name__}")
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=["training loss (MSE per pixel, under the sampling mask)",
                                        "validation MSE per frame (test-time forecast)"])  # fmt: skip
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    drawn = 0
    for k, (label, log) in enumerate(logs.items()):
        records = load_log(log)
        colour = _colour(str(label), str(label)) or palette[k % len(palette)]
        for col, key in ((1, "loss"), (2, "val_mse_per_frame")):
            kept = [(r["iteration"], r[key]) for r in records if r.get(key) is not None]
            if not kept:
                continue
            it, v = zip(*kept, strict=True)
            fig.add_trace(
                go.Scatter(x=list(it), y=list(v), mode="lines+markers", name=str(label), legendgroup=str(label),
                           showlegend=col == 1 or drawn == 0, line={"color": colour}, marker={"size": 4},
                           hovertemplate=f"{label}, iteration %{{x}}: {key} %{{y:.4g}}<extra></extra>"),
                row=1, col=col,
            )  # fmt: skip
            drawn += 1
    if drawn == 0:
        raise InputError("loss_curves: no record in the logs has a 'loss' or a 'val_mse_per_frame'")
    fig.update_xaxes(title_text="iteration")
    fig.update_yaxes(type="log")
    fig.update_layout(
        title={"text": title or "training runs — hover to read, drag to zoom, double-click to reset",
               "font": {"size": 13}},
        height=380, legend={"orientation": "h", "y": -0.25}, margin={"l": 50, "r": 20, "t": 70, "b": 40},
    )  # fmt: skip
    return fig
