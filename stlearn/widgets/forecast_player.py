"""ForecastPlayer: a trained model's forecast played beside its input and the truth — the course's opening view.

One row per data set (moving digits, radar, …), three panels per row: **input** (the frames the model reads;
after the last one it stays on that frame), **forecast** (blank while the model is still reading, then its
prediction) and **truth** (what really followed). One time slider over the whole sequence, linked to a Play
button: one click plays the ten inputs and then the ten forecast frames against the truth. The forecasts and the
picture of every frame (images and titles blitted over a saved background) are made once, when the view is made;
a frame change only swaps the picture and the caption, so playing or scrubbing costs no model pass and no drawing.
Course map (lesson 0) and lesson 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from .. import metrics
from ..errors import InputError, InputTypeError
from ..models.base import lesson_pass
from ._strips import BlitImage, frame_style, one_sequence, sequence_source

__all__ = ["ForecastPlayer"]

_COLUMNS = ("input", "forecast", "truth")


class ForecastPlayer:
    """Input | forecast | truth of one sequence per row, played frame by frame (lesson 0, lesson 1).

    Args:
        rows: row label → ``(model, frames, kind)``: a model with ``predict(inputs, pred_len)``, sequences
            (N, T, [1,] H, W) (a :class:`~stlearn.data.SequenceDataset`, array or tensor) and ``"moving_digits"``
            (grey) or ``"radar"`` (dBZ colours). Every row must have the same number of frames T.
        sequence: the sequence index shown in every row.
        input_len: frames read; the other T − input_len are forecast.
        interval_ms: time per frame when playing.

    ``player.slider.value = t`` from Python does what the Play button does at frame t; ``player.mse[label]`` holds
    the MSE per frame of each row's forecast per lead time (sum of squared errors over a frame's pixels).
    """

    def __init__(self, rows: Mapping[str, tuple[Any, Any, str]], sequence: int = 0, *, input_len: int = 10,
                 interval_ms: int = 300) -> None:  # fmt: skip
        where = "ForecastPlayer"
        if not isinstance(rows, Mapping) or not rows:
            raise InputTypeError(f"{where}: 'rows' must be a dict label → (model, frames, kind) with at least one row")
        if isinstance(sequence, bool) or not isinstance(sequence, (int, np.integer)):
            raise InputTypeError(f"{where}: 'sequence' must be a sequence index (an integer), got {sequence!r}")
        self.input_len = int(input_len)
        self.frames: dict[str, np.ndarray] = {}
        self.forecasts: dict[str, np.ndarray] = {}
        self.mse: dict[str, np.ndarray] = {}
        self.styles = {}
        for label, spec in rows.items():
            if not (isinstance(spec, tuple) and len(spec) == 3):
                raise InputTypeError(f"{where}: row {label!r} must be (model, frames, kind), got {type(spec).__name__}")
            model, frames, kind = spec
            if not hasattr(model, "predict"):
                raise InputTypeError(f"{where}: row {label!r}: the model must have .predict(inputs, pred_len)")
            source = sequence_source(where, frames)
            if not 0 <= sequence < len(source):
                raise InputError(f"{where}: sequence {sequence} does not exist in row {label!r}; "
                                 f"it has {len(source)} (0 … {len(source) - 1})")  # fmt: skip
            self.styles[label] = frame_style(where, kind)
            x = one_sequence(source, int(sequence))  # (1, T, 1, H, W)
            total = x.shape[1]
            if not 1 <= self.input_len < total:
                raise InputError(f"{where}: 'input_len' must satisfy 1 ≤ input_len < T = {total}, got {input_len!r}")
            # the forecast, once: playing never runs the model
            with torch.no_grad(), lesson_pass():
                p = model.predict(x[:, : self.input_len], total - self.input_len).clamp(0, 1).to(torch.float32)
            self.frames[label] = x[0, :, 0].numpy()
            self.forecasts[label] = p[0, :, 0].numpy()
            self.mse[label] = metrics.mse_per_frame(p, x[:, self.input_len :], reduction="lead").numpy()
        lengths = {len(f) for f in self.frames.values()}
        if len(lengths) != 1:
            raise InputError(f"{where}: every row needs the same number of frames T, got {sorted(lengths)}")
        self.length = lengths.pop()
        self.sequence = int(sequence)
        self._build_figure()
        self.slider = widgets.IntSlider(value=0, min=0, max=self.length - 1, description="frame t",
                                        style={"description_width": "initial"},
                                        layout=widgets.Layout(width="420px"))  # fmt: skip
        self.play = widgets.Play(value=0, min=0, max=self.length - 1, interval=int(interval_ms), repeat=True,
                                 description="play")  # fmt: skip
        widgets.jslink((self.play, "value"), (self.slider, "value"))
        self.caption = widgets.HTML()
        self.slider.observe(self.canvas.guard(self._update), names="value")
        for t in range(self.length - 1, 0, -1):  # every frame drawn now (~20 ms each): playing only swaps pictures
            self._show(t, send=False)  # kept, not sent: the page gets a picture only when it is shown
        self._update()
        self.widget = widgets.VBox(
            [widgets.HBox([self.play, self.slider]), self.caption, self.canvas.error, self.canvas.image],
            layout=widgets.Layout(align_items="flex-start"),
        )

    # -- drawing -------------------------------------------------------------------------------

    def _build_figure(self) -> None:
        labels = list(self.frames)
        n = len(labels)
        self.canvas = BlitImage((7.4, 2.45 * n + 0.1), dpi=80)
        fig = self.canvas.figure
        self.images: dict[tuple[str, str], Any] = {}
        self.titles: dict[tuple[str, str], Any] = {}
        height = 1.0 / n
        for r, label in enumerate(labels):
            style = self.styles[label]
            shape = self.frames[label].shape[1:]
            for c, column in enumerate(_COLUMNS):
                ax = fig.add_axes((0.1 + c * 0.3, 1 - (r + 1) * height + 0.03 * height, 0.27, 0.8 * height))
                self.images[label, column] = style.imshow(ax, shape)
                self.titles[label, column] = ax.set_title(column, fontsize=9)
                for spine in ax.spines.values():
                    spine.set_color("#888888")
            fig.text(0.07, 1 - (r + 0.5) * height, label, fontsize=9, weight="bold", ha="center", va="center",
                     rotation=90)
        # only the images and the titles change from frame to frame: redrawn over the saved background
        self.canvas.animated = [*self.images.values(), *self.titles.values()]

    def texts(self, t: int) -> dict[tuple[str, str], str]:
        """The panel titles at frame ``t`` (what the learner reads above each panel)."""
        k = t - self.input_len + 1  # lead time of frame t (≤ 0 while reading)
        out = {}
        for label in self.frames:
            if t < self.input_len:
                out[label, "input"] = f"input t={t}"
                out[label, "forecast"] = "forecast (reading…)"
                out[label, "truth"] = "truth (to come)"
            else:
                out[label, "input"] = f"last input t={self.input_len - 1}"
                out[label, "forecast"] = f"forecast t={t}, MSE {self.mse[label][k - 1]:.0f}"
                out[label, "truth"] = f"truth t={t}"
        return out

    def _show(self, t: int, send: bool = True) -> None:
        """Frame ``t`` in the artists (cheap) and, with ``send``, on the image; rendered only the first time."""
        for label in self.frames:
            style, frames = self.styles[label], self.frames[label]
            blank = np.full(frames.shape[1:], np.nan)
            shown = {
                "input": frames[min(t, self.input_len - 1)],
                "forecast": self.forecasts[label][t - self.input_len] if t >= self.input_len else blank,
                "truth": frames[t] if t >= self.input_len else blank,
            }
            for column, pixels in shown.items():
                self.images[label, column].set_data(style.show(pixels))
        for key, text in self.texts(t).items():
            self.titles[key].set_text(text)
        if send:
            self.canvas.show_kept(t)  # drawn before: the same picture (a loop of Play renders nothing)
        else:
            self.canvas.keep(t)

    def _update(self) -> None:
        t = int(self.slider.value)
        self._show(t)
        if t < self.input_len:
            self.caption.value = (f"<b>frame t = {t}</b>: the model reads input frame {t} of {self.input_len} "
                                  "(nothing forecast yet)")  # fmt: skip
        else:
            k = t - self.input_len + 1
            parts = ", ".join(f"{label} MSE/frame {self.mse[label][k - 1]:.0f}" for label in self.frames)
            self.caption.value = (f"<b>frame t = {t}</b>: lead time {k} — the model has seen no true frame for "
                                  f"{k} frame{'s' if k > 1 else ''}; {parts}")  # fmt: skip

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
