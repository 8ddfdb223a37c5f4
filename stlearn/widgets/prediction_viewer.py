"""PredictionViewer: inputs, ground truth and each model's forecast side by side, with a metric per lead time."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from .. import metrics
from ._strips import BlitImage, FrameStrip, check_sequences, frame_style, one_sequence, sequence_source
from ._watch import WeightsWatch

__all__ = ["PredictionViewer"]

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _forecasters(where: str, models: Any) -> dict[str, Callable[[torch.Tensor, int], torch.Tensor]]:
    """name → f(inputs (1, T_in, C, H, W), pred_len) for models (``.predict``) or plain callables."""
    if isinstance(models, torch.nn.Module) or (callable(models) and not isinstance(models, Mapping)):
        models = {getattr(models, "name", "") or type(models).__name__: models}
    if not isinstance(models, Mapping) or not models:
        raise TypeError(f"{where}: 'models' must be a model or a dict name → model, got {type(models).__name__}")
    out = {}
    for name, m in models.items():
        if hasattr(m, "predict"):
            out[str(name)] = m.predict
        elif callable(m):
            out[str(name)] = m
        else:
            raise TypeError(f"{where}: model {name!r} must have .predict(inputs, pred_len) or be callable")
    if len(out) > len(_COLOURS):
        raise ValueError(f"{where}: at most {len(_COLOURS)} models side by side, got {len(out)}")
    return out


class PredictionViewer:
    """Inputs, ground truth and each model's predictions as frame strips, plus a metric per lead time.

    The figure has one row of input frames, one of ground-truth future frames and one per model
    (its forecast, clipped to [0, 1], with the MSE per frame under each frame), and below them the
    chosen metric against the lead time for every model on this sequence: MSE per frame (sum over
    the pixels), SSIM, and for radar CSI at a dBZ threshold (:mod:`stlearn.metrics`). Each model
    forecasts a sequence once (cached); switching metric only redraws lines.

    Args:
        models: one model or a dict name → model (anything with ``predict(inputs, pred_len)``, or a
            callable with that signature, e.g. a persistence baseline).
        frames: sequences (N, T, [1,] H, W) — a :class:`~stlearn.data.SequenceDataset`, array or tensor.
        sequences: the indices offered in the sequence picker.
        input_len: input frames; the other T − input_len are forecast.
        kind: ``"moving_digits"`` (grey) or ``"radar"`` (dBZ in the radar colours, CSI offered).
        cmap: a matplotlib colour map for non-radar frames (default grey).
        thresholds: dBZ thresholds offered for CSI (radar only).

    ``viewer.sequence.value = 3`` or ``viewer.metric.value = "ssim"`` from Python does what the
    mouse does. Lesson 4 ("Training and reading a ConvLSTM") shows the pretrained ConvLSTM with it;
    lessons 9 and 10 compare models on radar and digits.
    """

    def __init__(self, models: Any, frames: Any, sequences: Sequence[int] = (0, 1, 2, 3), *, input_len: int = 10,
                 kind: str = "moving_digits", cmap: Any = None,
                 thresholds: Sequence[float] = (30.0, 40.0, 50.0)) -> None:  # fmt: skip
        where = "PredictionViewer"
        self.forecasters = _forecasters(where, models)
        self.source = sequence_source(where, frames)
        seqs = check_sequences(where, self.source, sequences)
        self.style = frame_style(where, kind, cmap)
        self.input_len = int(input_len)
        self.thresholds = tuple(float(t) for t in thresholds)
        self._cache: dict[int, dict[str, Any]] = {}
        self.runs = 0  # forecasts computed (one per model and sequence)
        first = self.result_of(seqs[0])
        total = first["frames"].shape[0]
        if not 1 <= self.input_len < total:
            raise ValueError(f"{where}: 'input_len' must satisfy 1 ≤ input_len < T = {total}, got {input_len!r}")
        options = [("MSE per frame", "mse"), ("SSIM", "ssim")]
        if kind == "radar":
            options += [(f"CSI ≥ {t:g} dBZ", f"csi{k}") for k, t in enumerate(self.thresholds)]
        row = widgets.Layout(width="260px")
        desc = {"description_width": "70px"}
        self.sequence = widgets.Dropdown(options=[(f"sequence {k}", k) for k in seqs], value=seqs[0],
                                         description="sequence", layout=row, style=desc)  # fmt: skip
        self.metric = widgets.Dropdown(options=options, value="mse", description="metric", layout=row, style=desc)
        self.summary = widgets.HTML()
        self._build_figure(first)
        # the view draws nothing once a model's weights change (plain forecasting functions are not watched)
        self.canvas.watch = WeightsWatch(self.forecasters.values())
        guard = self.canvas.guard
        self.sequence.observe(guard(self._update), names="value")
        self.metric.observe(guard(self._update), names="value")
        self._update()
        self.widget = widgets.VBox(
            [widgets.HBox([self.sequence, self.metric]), self.canvas.error, self.canvas.image, self.summary,
             self.plot.image],
            layout=widgets.Layout(align_items="flex-start"),
        )

    # -- data ----------------------------------------------------------------------------------

    def result_of(self, index: int) -> dict[str, Any]:
        """Frames, forecasts and per-lead metrics of sequence ``index`` (computed once, then cached)."""
        if index in self._cache:
            return self._cache[index]
        if len(self._cache) >= 8:
            self._cache.pop(next(iter(self._cache)))
        x = one_sequence(self.source, index)  # (1, T, 1, H, W)
        inputs, target = x[:, : self.input_len], x[:, self.input_len :]
        preds, scores = {}, {}
        for name, forecast in self.forecasters.items():
            with torch.no_grad():
                p = forecast(inputs, target.shape[1]).clamp(0, 1).to(torch.float32)
            self.runs += 1
            if p.shape != target.shape:
                raise ValueError(
                    f"PredictionViewer: model {name!r} returned {tuple(p.shape)}, expected {tuple(target.shape)}"
                )
            preds[name] = p[0, :, 0].numpy()
            s = {
                "mse": metrics.mse_per_frame(p, target, reduction="lead").numpy(),
                "ssim": metrics.ssim(p, target, reduction="lead").numpy(),
            }
            if self.style.kind == "radar":
                csi = metrics.categorical_scores(p, target, self.thresholds)["csi"]  # (T_out, K)
                s.update({f"csi{k}": csi[:, k] for k in range(len(self.thresholds))})
            scores[name] = s
        self._cache[index] = {"frames": x[0, :, 0].numpy(), "predictions": preds, "scores": scores}
        return self._cache[index]

    # -- drawing -------------------------------------------------------------------------------

    def _build_figure(self, first: dict[str, Any]) -> None:
        # two pictures: the strips (redrawn when the sequence changes) and the metric plot (small, redrawn often)
        names = list(self.forecasters)
        t_in = self.input_len
        t_out = first["frames"].shape[0] - t_in
        cols = max(t_in, t_out)
        n_rows = 2 + len(names)
        row_h = 1.05
        self.canvas = BlitImage((10.2, row_h * n_rows + 0.2))
        fig = self.canvas.figure
        right = 0.9 if self.style.kind == "radar" else 0.99
        shape = first["frames"].shape[1:]
        labels = ["inputs", "ground truth", *names]
        self.strips: dict[str, FrameStrip] = {}
        for r, label in enumerate(labels):
            n = t_in if label == "inputs" else t_out
            bottom = 1 - (r + 1) * row_h / (row_h * n_rows + 0.2)
            width = (right - 0.12) * n / cols
            ax = fig.add_axes((0.12, bottom + 0.04 / n_rows, width, 0.8 / n_rows))
            self.strips[label] = FrameStrip(ax, self.style, n, shape, label)
        self.strips["inputs"].set(np.zeros((t_in, *shape)), [f"t={t}" for t in range(t_in)])
        self.strips["ground truth"].set(np.zeros((t_out, *shape)), [f"t={t_in + t}" for t in range(t_out)])
        if self.style.kind == "radar":
            bar = fig.add_axes((0.93, 0.1, 0.012, 0.7))
            fig.colorbar(self.strips["inputs"].image, cax=bar, label="dBZ", extend="min")
            bar.tick_params(labelsize=7)
        # a sequence change redraws only the frames and the forecasts' labels over a saved background
        self.canvas.animated = [s.image for s in self.strips.values()]
        self.canvas.animated += [t for name in names for t in self.strips[name].texts]
        self.plot = BlitImage((7.6, 2.4))
        self.ax_metric = self.plot.figure.add_axes((0.09, 0.2, 0.66, 0.68))
        lead = np.arange(1, t_out + 1)
        self.lines = {
            name: self.ax_metric.plot(lead, np.zeros(t_out), marker="o", ms=3, color=_COLOURS[k], label=name)[0]
            for k, name in enumerate(names)
        }
        self.ax_metric.set_xlabel("lead time (frames after the last input)", fontsize=8)
        self.ax_metric.set_xticks(lead)
        self.ax_metric.tick_params(labelsize=7)
        self.ax_metric.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        self.metric_title = self.ax_metric.set_title("", fontsize=9)
        # the lines and the title change with the sequence, the y axis (scale, label) with the metric
        self.plot.animated = [*self.lines.values(), self.metric_title]
        self.plot.layers = [[self.ax_metric.yaxis]]
        self.shown: int | None = None  # the sequence the strips show
        self._plot_stale = False

    def _update(self) -> None:
        res = self.result_of(self.sequence.value)
        if self.shown != self.sequence.value:
            self._draw_strips(res)
            self.shown = self.sequence.value
        self._draw_metric(res)

    def _draw_strips(self, res: dict[str, Any]) -> None:
        frames, t_in = res["frames"], self.input_len
        self.strips["inputs"].set(frames[:t_in])
        self.strips["ground truth"].set(frames[t_in:])
        for name, pred in res["predictions"].items():
            self.strips[name].set(pred, [f"MSE {v:.0f}" for v in res["scores"][name]["mse"]])
        # the strips depend on the sequence alone: a sequence seen before shows the picture drawn then
        # (the artists above are set all the same, so a later redraw starts from the right state)
        if "strips_png" in res:
            self.canvas.image.value = res["strips_png"]
        else:
            self.canvas.render_changed()
            res["strips_png"] = self.canvas.image.value

    def _draw_metric(self, res: dict[str, Any]) -> None:
        key = self.metric.value
        label = dict((v, k) for k, v in self.metric.options)[key]
        values = [res["scores"][name][key] for name in res["predictions"]]
        for name, v in zip(res["predictions"], values, strict=True):
            self.lines[name].set_ydata(v)
        finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.zeros(0)
        before = (self.ax_metric.get_ylim(), self.ax_metric.get_ylabel())
        if key == "mse":
            self.ax_metric.set_ylim(0, max(1.0, float(finite.max()) * 1.1) if finite.size else 1.0)
        else:
            self.ax_metric.set_ylim(0, 1)
        better = "lower is better" if key == "mse" else "higher is better"
        self.metric_title.set_text(f"{label} per lead time, sequence {self.sequence.value} ({better})")
        self.ax_metric.set_ylabel(label, fontsize=8)
        rescaled = (self.ax_metric.get_ylim(), self.ax_metric.get_ylabel()) != before
        parts = []
        for name in res["predictions"]:
            v = res["scores"][name][key]
            mean = np.nanmean(v) if np.isfinite(v).any() else float("nan")
            parts.append(f"{name}: {mean:.3g}")
        undefined = " (CSI undefined where no pixel reaches the threshold)" if key.startswith("csi") else ""
        self.summary.value = (
            f"<b>sequence {self.sequence.value}</b>: mean {label} over the {len(values[0])} forecast frames — "
            + ", ".join(parts) + undefined
        )
        pictures = res.setdefault("plot_png", {})  # likewise per (sequence, metric)
        if key in pictures:
            self.plot.image.value = pictures[key]
            self._plot_stale = True  # the saved backgrounds may show another scale than the axes now have
        else:
            self.plot.render_changed(0 if (rescaled or self._plot_stale) else None)
            self._plot_stale = False
            pictures[key] = self.plot.image.value

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
