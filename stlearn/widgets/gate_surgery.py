"""GateSurgery: edit one gate of a trained model during the forecast and compare with the unmodified run."""

from __future__ import annotations

import copy
import functools
import html
import threading
from collections.abc import Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.ticker import MaxNLocator

from .. import metrics
from ..models.base import lesson_pass
from ..surgery import Surgery, run_surgery, surgery_targets
from ._ahead import ComputeAhead, LoopAhead, neighbours, one_step_plan
from ._strips import BlitImage, FrameStrip, FrameStyle, check_sequences, frame_style, one_sequence, sequence_source
from ._watch import WeightsWatch

__all__ = ["GateSurgery", "error_scale"]

#: dropdown labels of the gates and states
TARGET_LABELS = {
    "i": "input gate i", "f": "forget gate f", "c_tilde": "candidate C̃", "g": "candidate g",
    "o": "output gate o", "c": "cell state C", "h": "hidden state H",
    "i_prime": "spatial input gate i′", "f_prime": "spatial forget gate f′", "g_prime": "spatial candidate g′",
    "m": "memory M",
}  # fmt: skip

EDIT_LABELS = {
    "clamp": "clamp to v",
    "bias": "add δ before the activation",
    "scale": "scale by s",
    "zero_m": "zero M",
    "cut_zigzag": "cut the zigzag",
}

#: the equation shown for each edit (g stands for the chosen gate)
EQUATIONS = {
    "clamp": "{g} ← v  (after the activation; every later line of the step uses v)",
    "bias": "{g} = act(its pre-activation + δ)  (as if its bias were b + δ)",
    "scale": "{g} ← s · {g}  (after the activation)",
    "zero_m": "M^l_t ← 0 right after its update (the output fusion and the next reader of M see 0)",
    "cut_zigzag": "layer l reads its own M^l_(t−1) instead of M^(l−1)_t: the memory stays in its layer",
}


#: edited runs kept per view (settings seen or run ahead: forecast, scores, shown gate maps; ~0.2 MB each on 64 × 64)
KEPT_RUNS = 32
#: settings run ahead after each update: the next step of the control that moved, then one of each other control
#: (eight controls: a key press on any of them finds its next setting run, if the learner looked long enough)
AHEAD = 8
#: seconds between two looks for the neighbouring sequences' runs (drawn ahead as soon as the background has them),
#: and how many looks
DRAW_AHEAD_RETRY, DRAW_AHEAD_TRIES = 0.1, 20


@functools.cache
def _cmap(name: str) -> Any:
    """A colour map whose NaN (the gaps of a strip) is transparent (one per name: its look-up table is built once)."""
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad=(0.0, 0.0, 0.0, 0.0))


def error_scale(worst: float, current: float | None = None, base: float = 100.0) -> float:
    """The top of the error axis: the smallest of ``base``, 2·base, 4·base, … at or above ``worst``.

    ``base`` is 100 for 64 × 64 frames (MSE per frame sums over the pixels: GateSurgery scales it with the
    frame's area, so the 16 × 16 occluder toy's errors get an axis of their own size).

    With the ``current`` top given, the axis grows as soon as ``worst`` exceeds it but shrinks only
    when ``worst`` fits in a quarter of it: edits around one error level do not make the axis (and
    the reader's eye) jump back and forth between two scales. Lesson 4 (GateSurgery's error plot).
    """
    top = base * 2.0 ** max(0.0, float(np.ceil(np.log2(max(worst, 1e-12) / base))))
    if current is not None and top < current and worst > current / 4:
        return current
    return top


class GateSurgery:
    """Sequence, edit, gate, layer, steps, value, channel and region controls; the edited gate beside the forecast.

    The figure shows the true future frames, the unmodified forecast and the modified one as frame
    strips (MSE per frame under each); under them the edited gate's map at the step that made each
    forecast frame, unmodified and modified (cause beside effect: the chosen channel, or the mean over
    the channels; the number under each map is the gate's mean over the edited channels and region),
    with the region outlined; and at the bottom the MSE per frame of both against the lead time. The
    text lines give the edit's equation, what it did to the gate inside and outside the selection, and
    the change of the mean MSE per frame and of the mean SSIM over the forecast. The edit acts on all
    channels or one (``channel``), everywhere or on a rectangle of the grid (``where`` = "a region", then
    the ``rows`` and ``cols`` range sliders). The unmodified run is computed once per sequence (cached);
    each change of a control runs the edited model once (:func:`stlearn.surgery.run_surgery`) — the
    sliders update when released. The edited runs of the last :data:`KEPT_RUNS` settings are kept, and while the
    learner looks, the settings one step away (the next value, channel, gate, edit, layer, sequence; the
    continuation of the last move first) are run ahead in the background
    (:class:`~stlearn.widgets._ahead.ComputeAhead`): stepping a control shows a forecast already computed. After a
    sequence switch, the neighbouring sequences' strips and error axis are drawn ahead on the kernel's event loop
    (:meth:`draw_ahead`): the next sequence's picture redraws only what the edit changes.

    Args:
        model: a ConvLSTM, PredRNN or PredRNN-V2 (``zero M`` and ``cut the zigzag`` appear for PredRNN).
        frames: sequences (N, T, [1,] H, W) — a :class:`~stlearn.data.SequenceDataset`, array or tensor.
        sequences: the indices offered in the sequence picker.
        input_len: input frames; steps t ≥ input_len read the model's own predictions.
        kind: ``"moving_digits"`` (grey) or ``"radar"`` (dBZ colours); ``cmap`` overrides the grey.
        edit, gate: the edit and gate chosen at the start (``"clamp"`` of ``"f"`` unless given; lesson 5 starts
            on a primed gate, lesson 6 on ``"zero_m"``).
        ahead: run the settings one step away in the background (False: only what is asked for).

    ``surgery.gate.value = "f"``, ``surgery.value.value = 0.0``, ``surgery.where.value = "region"``,
    ``surgery.rows.value = (4, 11)`` etc. from Python do what the mouse does. Lesson 4 ("Gate surgery");
    lessons 5 and 6 use it on PredRNN's primed gates, its memory M and the zigzag.
    """

    def __init__(self, model: torch.nn.Module, frames: Any, sequences: Sequence[int] = (0, 1, 2, 3), *,
                 input_len: int = 10, kind: str = "moving_digits", cmap: Any = None, edit: str = "clamp",
                 gate: str = "f", ahead: bool = True) -> None:  # fmt: skip
        where = "GateSurgery"
        self.model = model
        self.targets = surgery_targets(model)  # TypeError for models without ConvLSTM / ST-LSTM cells
        self.source = sequence_source(where, frames)
        seqs = check_sequences(where, self.source, sequences)
        self.style = frame_style(where, kind, cmap)
        self.input_len = int(input_len)
        edits = ["clamp", "bias", "scale"] + (["zero_m", "cut_zigzag"] if hasattr(model, "zigzag") else [])
        if edit not in edits:
            raise ValueError(f"{where}: 'edit' must be one of {edits} for {type(model).__name__}, got {edit!r}")
        if gate not in self.targets:
            raise ValueError(f"{where}: 'gate' must be one of {list(self.targets)}, got {gate!r}")
        self._cache: dict[tuple[int, bool], dict[str, Any]] = {}  # (sequence, the view's model?) → its run
        self._cache_lock = threading.Lock()  # the background may need a sequence's unmodified run too
        self._baseline_runs = 0
        #: settings (:meth:`settings`) → the edited forecast, its scores, the shown gate maps: kept, some run ahead
        self.edited = ComputeAhead(self._modified_of, KEPT_RUNS, background=ahead, compute_ahead=self._modified_ahead)
        # the background runs its own copy: a run may switch the model's zigzag off for a moment (cut the zigzag),
        # and the learner's model is shared with the other views of the lesson
        self._ahead_model = copy.deepcopy(model) if self.edited.background else None
        self._shown_settings: tuple | None = None
        self._last_sequence: int | None = None  # the sequence shown before the current one (neighbours()' direction)
        self._ahead = LoopAhead()  # draw_ahead on the event loop after a sequence switch, cancelled by the next update
        self._waiting_for_runs = False  # draw_ahead found a neighbour whose runs the background has not made yet
        self._hold = False
        self._last_edit: str | None = None
        first = self.baseline_of(seqs[0])
        # the error axis's smallest top: 100 on 64 × 64 frames, in proportion to the frame's area (MSE per frame sums)
        self.error_base = 100.0 * float(np.prod(first["frames"].shape[-2:])) / 4096.0
        row = widgets.Layout(width="300px")
        desc = {"description_width": "72px"}
        gate_options = [(TARGET_LABELS[g], g) for g in self.targets]
        self.sequence = widgets.Dropdown(options=[(f"sequence {k}", k) for k in seqs], value=seqs[0],
                                         description="sequence", layout=row, style=desc)  # fmt: skip
        self.edit = widgets.Dropdown(options=[(EDIT_LABELS[e], e) for e in edits], value=edit,
                                     description="edit", layout=row, style=desc)  # fmt: skip
        self.gate = widgets.Dropdown(options=gate_options, value=gate, description="gate", layout=row, style=desc)
        layers = [("all layers", -1)] + [(f"layer {k}", k) for k in range(model.num_layers)]
        self.layer = widgets.Dropdown(options=layers, value=0, description="layer", layout=row, style=desc)
        self.steps = widgets.Dropdown(
            options=[(f"forecast (t ≥ {input_len})", "forecast"), (f"encoder (t < {input_len})", "encoder"),
                     ("all steps", "all")],
            value="forecast", description="steps", layout=row, style=desc,
        )  # fmt: skip
        self.value = widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, description="v",
                                         continuous_update=False, layout=row, style=desc)  # fmt: skip
        # where the edit acts: all channels or one; the whole grid or a rectangle of it (rows × cols, grid cells)
        self.grid = (first["frames"].shape[1] // model.patch_size, first["frames"].shape[2] // model.patch_size)
        n_ch = min(c.hidden_channels for c in model.cell_list)
        self.channel = widgets.Dropdown(options=[("all channels", -1)] + [(f"channel {k}", k) for k in range(n_ch)],
                                        value=-1, description="channel", layout=row, style=desc)  # fmt: skip
        self.where = widgets.Dropdown(options=[("everywhere", "all"), ("a region (rows × cols)", "region")],
                                      value="all", description="where", layout=row, style=desc)  # fmt: skip
        gh, gw = self.grid
        self.rows = widgets.IntRangeSlider(value=(gh // 4, (3 * gh) // 4 - 1), min=0, max=gh - 1, description="rows",
                                           continuous_update=False, layout=row, style=desc)  # fmt: skip
        self.cols = widgets.IntRangeSlider(value=(gw // 4, (3 * gw) // 4 - 1), min=0, max=gw - 1, description="cols",
                                           continuous_update=False, layout=row, style=desc)  # fmt: skip
        self.region_box = widgets.VBox([], layout=widgets.Layout(min_width="310px"))
        #: the edit and its equation, what it did to the gate, the change of the scores: one HTML widget (each HTML
        #: update costs the browser a layout of the notebook), set after the picture is sent
        self.readout = widgets.HTML()
        self._build_figure(first)
        self.canvas.watch = WeightsWatch([self.model])  # the view draws nothing once its weights change
        guard = self.canvas.guard
        self.sequence.observe(guard(self._update), names="value")
        self.edit.observe(guard(self._on_edit), names="value")
        self.gate.observe(guard(self._on_edit), names="value")
        self.where.observe(guard(self._on_where), names="value")
        for control in (self.layer, self.steps, self.value, self.channel, self.rows, self.cols):
            control.observe(guard(self._update), names="value")
        guard(self._on_edit)()
        column = widgets.Layout(min_width="310px")
        controls = widgets.HBox(
            [widgets.VBox([self.sequence, self.edit, self.gate], layout=column),
             widgets.VBox([self.layer, self.steps, self.value], layout=column),
             widgets.VBox([self.channel, self.where], layout=column), self.region_box],
            layout=widgets.Layout(flex_flow="row wrap"),
        )  # fmt: skip
        self.widget = widgets.VBox(
            [controls, self.readout, self.canvas.error, self.canvas.image],
            layout=widgets.Layout(align_items="flex-start"),
        )

    # -- data ----------------------------------------------------------------------------------

    @property
    def runs(self) -> int:
        """Model passes so far: unmodified ones and edited ones (those run ahead included)."""
        return self._baseline_runs + self.edited.computed

    def baseline_of(self, index: int, model: torch.nn.Module | None = None) -> dict[str, Any]:
        """Sequence ``index``: frames and the unmodified forecast with its scores (computed once, then cached; by
        ``model``, default the view's model: the background passes its copy). The view's model and its copy share
        one unmodified run per sequence (:meth:`~stlearn.surgery.SurgeryResult.resumable_by`): the sequence the
        background ran ahead costs the view no model pass."""
        model = model or self.model
        key = (index, model is self.model)  # an edited run resumes from an unmodified run of its own model
        with self._cache_lock:
            if key not in self._cache:
                if len(self._cache) >= 16:
                    self._cache.pop(next(iter(self._cache)))
                other = self._cache.get((index, not key[1]))
                if other is not None:
                    try:
                        self._cache[key] = {**other, "run": other["run"].resumable_by(model)}
                        return self._cache[key]
                    except ValueError:  # the weights changed since the copy (or the zigzag is cut this moment)
                        pass
                x = one_sequence(self.source, index)
                with lesson_pass():
                    out = run_surgery(model, x, None, self.input_len)
                self._baseline_runs += 1
                self._cache[key] = {"x": x, "frames": x[0, :, 0].numpy(), "run": out,
                                    **self._scores(out.predictions, x)}  # fmt: skip
            return self._cache[key]

    def _scores(self, predictions: torch.Tensor, x: torch.Tensor) -> dict[str, Any]:
        p, target = predictions.clamp(0, 1), x[:, self.input_len :]
        return {
            "pred": p[0, :, 0].numpy(),
            "mse": metrics.mse_per_frame(p, target, reduction="lead").numpy(),
            "ssim": metrics.ssim(p, target, reduction="lead").numpy(),
        }

    def settings(self) -> tuple:
        """What the controls set, one key: (sequence, edit, gate, layer, steps, value, channel, where, rows, cols)."""
        return (self.sequence.value, self.edit.value, self.gate.value, self.layer.value, self.steps.value,
                round(float(self.value.value), 6), self.channel.value, self.where.value, tuple(self.rows.value),
                tuple(self.cols.value))  # fmt: skip

    @staticmethod
    def _region_of(settings: tuple) -> tuple[tuple[int, int], tuple[int, int]] | None:
        where, (r0, r1), (c0, c1) = settings[7:]
        return ((r0, r1 + 1), (c0, c1 + 1)) if where == "region" else None  # the sliders include their upper end

    @staticmethod
    def _surgery_of(settings: tuple) -> Surgery:
        _, edit, gate, layer, steps, value, channel = settings[:7]
        if edit == "cut_zigzag":
            return Surgery("cut_zigzag")
        zero_m = edit == "zero_m"  # it takes no gate and no value
        return Surgery(edit, None if zero_m else gate, 0.0 if zero_m else value, layers=None if layer == -1 else layer,
                       steps=steps, channels=None if channel == -1 else [channel],
                       region=GateSurgery._region_of(settings))  # fmt: skip

    def region(self) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """The rectangle of the grid the controls select, ``((r0, r1), (c0, c1))`` (stop excluded), or None."""
        return self._region_of(self.settings())

    def current_surgery(self) -> Surgery:
        """The :class:`~stlearn.surgery.Surgery` the controls describe."""
        return self._surgery_of(self.settings())

    def _modified_of(self, settings: tuple, model: torch.nn.Module | None = None) -> dict[str, Any]:
        model = model or self.model
        base = self.baseline_of(settings[0], model)
        out = run_surgery(model, base["x"], self._surgery_of(settings), self.input_len, baseline=base["run"])
        # kept: the forecast, its scores and the shown gate's maps (the whole trace is ~4-6 MB a run)
        return {**self._scores(out.predictions, base["x"]), "predictions": out.predictions,
                "gates": self.gate_maps(out, settings)}  # fmt: skip

    def _modified_ahead(self, settings: tuple) -> dict[str, Any]:
        """:meth:`_modified_of` in the background thread, on the view's copy of the model."""
        return self._modified_of(settings, self._ahead_model)

    def modified(self) -> dict[str, Any]:
        """The edited forecast of the current settings (``"predictions"``), its scores (``"pred"`` clipped, ``"mse"``,
        ``"ssim"`` per lead) and the shown gate's maps (``"gates"``, as :meth:`gate_maps`): one model pass, unless
        these settings were run before or ahead.

        The steps before the edit's first step are resumed from the cached unmodified run (a forecast
        edit re-runs only the forecast steps; the result is the same as the full edited rollout).
        """
        return self.edited.get(self.settings())

    def _plan_ahead(self) -> None:
        """Run the settings one step from the current ones in the background: the continuation of the control that
        changed first, then one step of every other enabled control (an edit or gate step with the value the
        controls would then show), those whose miss costs most first: an edit or gate switch also re-ranges the
        value slider in the browser, a new sequence runs two passes (measured in the browser: with the edit and
        gate last, their first press after another control's found no run ahead, 107-118 ms against 74-99)."""
        now, last = self.settings(), self._shown_settings or self.settings()
        value = self.value
        grid = [round(v, 6) for v in np.arange(value.min, value.max + value.step / 2, value.step)]
        steps: dict[int, list[tuple]] = {}

        def options(control: Any) -> list[Any]:
            return [v for _, v in control.options]

        for k, control in ((1, self.edit), (2, self.gate)):
            if not control.disabled:
                steps[k] = []
                for v in neighbours(options(control), now[k], last[k]):
                    edit, gate = (v, now[2]) if k == 1 else (now[1], v)
                    steps[k].append((*now[:1], edit, gate, *now[3:5], round(self._edit_settings(edit, gate)[4], 6),
                                     *now[6:]))  # fmt: skip
        if not self.sequence.disabled:
            steps[0] = [(v, *now[1:]) for v in neighbours(options(self.sequence), now[0], last[0])]
        if not value.disabled:
            steps[5] = [(*now[:5], v, *now[6:]) for v in neighbours(grid, now[5], last[5])]
        for k, control in ((6, self.channel), (3, self.layer), (4, self.steps), (7, self.where)):
            if not control.disabled:
                steps[k] = [(*now[:k], v, *now[k + 1 :]) for v in neighbours(options(control), now[k], last[k])]
        self.edited.plan(one_step_plan(steps, [k for k in steps if now[k] != last[k]], AHEAD))

    def shown_gate(self, settings: tuple | None = None) -> tuple[str, int]:
        """The gate (or state) the gate rows show and its layer: the edited one (M for the zigzag edits)."""
        settings = settings or self.settings()
        edit, layer = settings[1], settings[3]
        target = self._surgery_of(settings).target or "m"
        return target, (0 if layer == -1 or edit == "cut_zigzag" else layer)

    def gate_maps(self, run: Any, settings: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The shown gate at the steps that made the forecast frames (input_len − 1 … T − 2), from ``run``'s trace.

        Returns the maps (n, H, W) on the grid — the chosen channel, or the mean over the channels — and the
        gate's mean over the edited channels and region per step (n,). ``settings`` default: the controls'.
        """
        settings = settings or self.settings()
        gate, layer = self.shown_gate(settings)
        steps = range(self.input_len - 1, self.input_len - 1 + self._t_out)
        g = torch.stack([getattr(run.trace.records[(t, layer)], gate)[0] for t in steps])  # (n, C, H, W)
        cut = settings[1] == "cut_zigzag"
        ch = -1 if cut else settings[6]
        maps = g.mean(1) if ch == -1 else g[:, ch]
        sel = g if ch == -1 else g[:, ch : ch + 1]
        region = None if cut else self._region_of(settings)
        if region is not None:
            (r0, r1), (c0, c1) = region
            sel = sel[:, :, r0:r1, c0:c1]
        return maps.numpy(), sel.mean(dim=(1, 2, 3)).numpy()

    # -- drawing -------------------------------------------------------------------------------

    def _build_figure(self, first: dict[str, Any]) -> None:
        t_out = first["pred"].shape[0]
        self._t_out = t_out
        shape = first["frames"].shape[1:]
        self.canvas = BlitImage((9.0, 7.6))
        fig = self.canvas.figure
        self.strips = {}
        for r, label in enumerate(("ground truth", "unmodified", "modified")):
            ax = fig.add_axes((0.13, 0.885 - r * 0.125, 0.85, 0.095))
            self.strips[label] = FrameStrip(ax, self.style, t_out, shape, label, animated=label == "modified")
        # the edited gate's maps under the forecast frames they made (upsampled to the frame size: same columns)
        self.gate_style = FrameStyle("gate", _cmap("viridis"), None, 0.0, 1.0)
        self.gate_strips = {}
        for r, label in enumerate(("unmodified", "modified")):
            ax = fig.add_axes((0.13, 0.51 - r * 0.125, 0.85, 0.095))
            self.gate_strips[label] = FrameStrip(ax, self.gate_style, t_out, shape, f"gate,\n{label}", animated=True)
        self.outlines = [LineCollection([], colors="#ff3030", linewidths=1.2, animated=True)
                         for _ in range(3)]  # fmt: skip
        for outline, ax in zip(self.outlines, (self.strips["modified"].ax, *(g.ax for g in self.gate_strips.values())),
                               strict=True):  # fmt: skip
            ax.add_collection(outline, autolim=False)
        self.ax_err = fig.add_axes((0.13, 0.07, 0.6, 0.22))
        lead = np.arange(1, t_out + 1)
        self.line_base = self.ax_err.plot(lead, np.zeros(t_out), marker="o", ms=3, color="#1f77b4",
                                          label="unmodified")[0]  # fmt: skip
        self.line_mod = self.ax_err.plot(lead, np.zeros(t_out), marker="s", ms=3, color="#d62728",
                                         label="modified", animated=True)[0]  # fmt: skip
        # only the modified rows and the error line change with an edit: redrawn over a saved background.
        # Layer 0 (the other frames, the unmodified labels) changes with the sequence; layer 1 (the y axis and the
        # unmodified line) with the error scale or the sequence; layer 2 (the unmodified gate row and its outline)
        # with the gate shown, its channel and region, or the layers under it; all are kept per (sequence, scale,
        # gate row: layer_keys). The ground-truth labels (t=10, 11, ...) are the same for every sequence: static.
        truth = self.strips["ground truth"]
        truth.set(first["frames"][self.input_len :], [f"t={self.input_len + t}" for t in range(t_out)])
        for text in truth.texts:
            text.set_animated(False)
        self.canvas.animated = [*self.strips["modified"].artists, *self.gate_strips["modified"].artists,
                                self.outlines[0], self.outlines[2], self.line_mod]  # fmt: skip
        self.canvas.layers = [[truth.image, *self.strips["unmodified"].artists],
                              [self.ax_err.yaxis, self.line_base],
                              [*self.gate_strips["unmodified"].artists, self.outlines[1]]]  # fmt: skip
        self.ax_err.set_xticks(lead)
        self.ax_err.tick_params(labelsize=7)
        self.ax_err.set_xlabel("lead time (frames after the last input)", fontsize=8)
        # the y label is placed once (an axis label moves with the width of the tick labels: every new scale)
        fig.text(0.075, 0.18, "MSE per frame", fontsize=8, rotation=90, ha="center", va="center")
        self.ax_err.yaxis.set_major_locator(MaxNLocator(4))
        self.ax_err.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        self.ax_err.set_title("error per lead time (lower is better)", fontsize=9)
        self.shown: int | None = None

    @contextmanager
    def _holding(self):
        """Reconfigure controls without each change triggering a model pass."""
        self._hold = True
        try:
            yield
        finally:
            self._hold = False

    def _edit_settings(self, edit: str, gate: str) -> tuple[float, float, float, str, float]:
        """The value slider for ``edit`` of ``gate``: (min, max, step, name, value); the value kept where it fits when
        only the gate changes."""
        kind = self.targets.get(gate)
        if edit == "clamp":
            low, high = (-2.0, 2.0) if kind == "state" else kind
            settings = (low, high, 0.05, "v", 0.0)
        elif edit == "bias":
            settings = (-6.0, 6.0, 0.25, "δ", 0.0)
        elif edit in ("zero_m", "cut_zigzag"):  # no value: the slider shows 0, disabled
            settings = (0.0, 2.0, 0.05, "v", 0.0)
        else:  # scale (and the edits that take no value)
            settings = (0.0, 2.0, 0.05, "s", 1.0)
        if edit == self._last_edit:  # same edit, other gate: keep the value where it fits
            settings = (*settings[:4], min(max(self.value.value, settings[0]), settings[1]))
        return settings

    def _on_edit(self) -> None:
        edit, gate = self.edit.value, self.gate.value
        # one message to the browser for the value slider's new range, step, name and value (each change sent on its
        # own re-rendered the slider up to five times), and one for each control switched on or off, sent after the
        # picture: the browser re-renders the controls while it paints the new picture, not before it gets it
        with ExitStack() as held:
            for control in (self.value, self.gate, self.layer, self.steps, self.channel, self.where, self.rows,
                            self.cols):  # fmt: skip
                held.enter_context(control.hold_sync())
            with self._holding():
                settings = self._edit_settings(edit, gate)
                self._last_edit = edit
                low, high, step, name, value = settings
                # widen first so that the new value is always inside the range
                self.value.min, self.value.max = min(low, self.value.min), max(high, self.value.max)
                self.value.value = value
                self.value.min, self.value.max, self.value.step = low, high, step
                self.value.description = name
                self.value.disabled = edit in ("zero_m", "cut_zigzag")
                self.gate.disabled = edit in ("zero_m", "cut_zigzag")
                self.layer.disabled = self.steps.disabled = edit == "cut_zigzag"
                self.channel.disabled = self.where.disabled = edit == "cut_zigzag"
                self.rows.disabled = self.cols.disabled = edit == "cut_zigzag"
            self._update()

    def _on_where(self) -> None:
        # the row and column sliders are there only while a region is chosen
        self.region_box.children = [self.rows, self.cols] if self.where.value == "region" else []
        self._update()

    def _mse_label(self, value: float) -> str:
        """The label under a forecast frame: whole numbers on 64 × 64 frames, one decimal on small ones."""
        return f"MSE {value:.0f}" if self.error_base >= 20 else f"MSE {value:.1f}"

    def _set_layers(self, base: dict[str, Any], top: float) -> None:
        """The artists of the kept layers: the ground truth and unmodified strips (layer 0), the error axis's scale
        and the unmodified line (layer 1)."""
        self.strips["ground truth"].set(base["frames"][self.input_len :])  # its labels never change
        self.strips["unmodified"].set(base["pred"], [self._mse_label(v) for v in base["mse"]])
        self.line_base.set_ydata(base["mse"])
        if self.ax_err.get_ylim()[1] != top:
            self.ax_err.set_ylim(0, top)

    def _error_top(self, base: dict[str, Any], mod: dict[str, Any], current: float | None) -> float:
        """The error axis's top for this forecast pair (:func:`error_scale`; ``current``: the top shown now)."""
        worst = 1.1 * max(float(base["mse"].max()), float(mod["mse"].max()), self.error_base / 100)
        return error_scale(worst, current, self.error_base)

    def _gate_row_key(self, settings: tuple) -> tuple:
        """What the unmodified gate row (layer 2) shows besides the sequence: the gate and its layer, the channel and
        the region its means are taken over."""
        cut = settings[1] == "cut_zigzag"
        return (*self.shown_gate(settings), -1 if cut else settings[6], None if cut else self._region_of(settings))

    def _update(self) -> None:
        if self._hold:
            return
        self._ahead.cancel()
        base = self.baseline_of(self.sequence.value)
        full = self.shown != self.sequence.value
        mod = self.modified()
        self.strips["modified"].set(mod["pred"], [self._mse_label(v) for v in mod["mse"]])
        self.line_mod.set_ydata(mod["mse"])
        self._draw_gates(base["run"], mod["gates"])
        gate_row = self._gate_row_key(self.settings())
        # the error axis on a coarse scale (100, 200, 400, ...): a new sequence redraws the other two strips
        # (layer 0) and all after it, a new scale the y axis and the unmodified line (layer 1), an edit only the rest
        shown_top = self.ax_err.get_ylim()[1]
        top = self._error_top(base, mod, None if full else shown_top)
        rescaled = shown_top != top
        if full:
            self._set_layers(base, top)
            self.shown = self.sequence.value
        elif rescaled:
            self.ax_err.set_ylim(0, top)
        surgery = self.current_surgery()
        g = TARGET_LABELS.get(surgery.target or "", "")
        eq = EQUATIONS[surgery.edit].format(g=g.split(" ")[-1] if g else "g")
        d_mse = mod["mse"].mean() - base["mse"].mean()
        d_ssim = mod["ssim"].mean() - base["ssim"].mean()
        lines = [
            f"<b>edit:</b> {html.escape(surgery.describe())}<br><b>equation:</b> {html.escape(eq)}",
            self._cause_text(),
            f"mean MSE per frame {base['mse'].mean():.1f} → <b>{mod['mse'].mean():.1f}</b> ({d_mse:+.1f}); "
            f"mean SSIM {base['ssim'].mean():.3f} → <b>{mod['ssim'].mean():.3f}</b> ({d_ssim:+.3f}) "
            f"over the {len(base['mse'])} forecast frames of sequence {self.sequence.value}",
        ]
        shown_row = self.canvas.layer_keys[2] if len(self.canvas.layer_keys) == 3 else None
        self.canvas.layer_keys = [self.sequence.value, top, gate_row]
        self.canvas.render_changed(0 if full else 1 if rescaled else 2 if gate_row != shown_row else None)
        # the text after the picture (measured in the browser on lesson 8's TrajGRU view: sent first, its layout
        # there slowed the kernel's drawing on 2 cores and the picture came later)
        self.readout.value = "".join(f"<div>{line}</div>" for line in lines)
        self._plan_ahead()
        if self._shown_settings is not None and self._shown_settings[0] != self.sequence.value:
            self._last_sequence = self._shown_settings[0]
        self._shown_settings = self.settings()
        if full:  # the learner steps through the sequences: the next ones' layers are drawn while they look (after
            # other moves not: the event loop stays free for the next key press)
            # one sequence a turn; while the background has not run a neighbour yet, look again a little later
            self._ahead.start(lambda: self.draw_ahead(limit=1), lambda: self._waiting_for_runs,
                              retry=DRAW_AHEAD_RETRY, tries=DRAW_AHEAD_TRIES)  # fmt: skip

    def draw_ahead(self, limit: int | None = None) -> list[int]:
        """Draw and keep the layers a switch to a neighbouring sequence redraws — the ground truth and unmodified
        strips, the error axis at its new scale with the unmodified line, the unmodified gate row — at the settings
        shown, for the neighbours whose runs are at hand (run ahead by the background: no model pass here; for a
        model cheaper than :attr:`~stlearn.widgets._ahead.ComputeAhead.MIN_COST`, which the background does not run,
        run here) and not kept yet, at most ``limit``; returns the sequences drawn. Nothing is sent, and the layers'
        artists are set back to the shown sequence. Run on the kernel's event loop while the learner looks after a
        sequence switch (:func:`~stlearn.widgets._ahead.later`): switching to that sequence then draws only the
        modified strip, the modified gate row and line. Lessons 4-6."""
        self._waiting_for_runs = False
        seq, settings = self.sequence.value, self._shown_settings
        if self.shown != seq or settings != self.settings() or len(self.canvas.layer_keys) != 3:
            return []  # nothing shown yet, or the controls name a picture not drawn yet
        # a model cheaper than worth running in the background (lesson 4's toy, ~5 ms a pass: ComputeAhead plans
        # nothing) is run here, in this turn of the event loop
        cost = self.edited.cost
        cheap = self.edited.background and cost is not None and cost < self.edited.MIN_COST
        drawn: list[int] = []
        for k in neighbours([v for _, v in self.sequence.options], seq, self._last_sequence):
            if limit is not None and len(drawn) >= limit:
                break
            base = self._cache.get((k, True)) or self._cache.get((k, False))
            mod = self.edited.peek((k, *settings[1:]))
            if cheap and (base is None or mod is None):
                base, mod = self.baseline_of(k), self.edited.get((k, *settings[1:]))
            if base is None or mod is None:
                self._waiting_for_runs = True  # the background may be running it
                continue
            keys = [k, self._error_top(base, mod, None), self.canvas.layer_keys[2]]
            if self.canvas.layer_kept(2, keys):
                continue
            self._set_layers(base, keys[1])
            self._set_gate_row("unmodified", *self.gate_maps(base["run"], settings))
            if self.canvas.keep_layer(0, keys) | self.canvas.keep_layer(1, keys) | self.canvas.keep_layer(2, keys):
                drawn.append(k)
        if drawn:
            shown = self.baseline_of(seq)
            self._set_layers(shown, self.canvas.layer_keys[1])
            self._set_gate_row("unmodified", *self.gate_maps(shown["run"], settings))
        return drawn

    def _gate_colours(self, gate: str, m_base: np.ndarray) -> tuple[str, float, float]:
        """The gate rows' colour map and range: the gate's own range, or for a state (unbounded) a symmetric range
        from the unmodified maps."""
        kind = self.targets[gate]
        if kind == "state":
            top = max(float(np.abs(m_base).max()), 1e-6)
            return "RdBu_r", -top, top
        return ("viridis", *kind) if kind[0] == 0.0 else ("RdBu_r", *kind)

    def _set_gate_row(self, label: str, maps: np.ndarray, means: np.ndarray,
                      colours: tuple[str, float, float] | None = None) -> None:  # fmt: skip
        """One gate row: the maps (n, H', W') on the grid, each cell p × p pixels, the means under them; ``colours``
        default: those of the unmodified maps (the unmodified row)."""
        cmap, low, high = colours or self._gate_colours(self.shown_gate()[0], maps)
        p = self.model.patch_size
        strip = self.gate_strips[label]
        strip.image.set_cmap(_cmap(cmap))
        strip.image.set_clim(low, high)
        strip.set(maps.repeat(p, 1).repeat(p, 2), [f"{v:.2f}" for v in means])

    def _draw_gates(self, base_run: Any, mod_gates: tuple[np.ndarray, np.ndarray]) -> None:
        """The gate rows: the shown gate per forecast step, unmodified and modified, and the region outlines."""
        gate, layer = self.shown_gate()
        p = self.model.patch_size
        (m_base, s_base), (m_mod, s_mod) = self.gate_maps(base_run), mod_gates
        colours = self._gate_colours(gate, m_base)
        low, high = colours[1:]
        self._set_gate_row("unmodified", m_base, s_base, colours)
        self._set_gate_row("modified", m_mod, s_mod, colours)
        # the edited region, outlined in every frame of the modified forecast and the gate rows
        region = self.region() if self.edit.value != "cut_zigzag" else None
        segments = []
        if region is not None:
            (r0, r1), (c0, c1) = region
            w = self.strips["modified"].shape[1]
            y0, y1 = r0 * p - 0.5, r1 * p - 0.5
            for k in range(self._t_out):
                x0, x1 = k * (w + FrameStrip.GAP) + c0 * p - 0.5, k * (w + FrameStrip.GAP) + c1 * p - 0.5
                segments.append([(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)])
        for outline in self.outlines:
            outline.set_segments(segments)
        self._gate_means = (s_base, s_mod, gate, layer, low, high)

    def _cause_text(self) -> str:
        """What the edit did to the gate it edited: its mean over the selection at the edited forecast steps."""
        s_base, s_mod, gate, layer, low, high = self._gate_means
        surgery = self.current_surgery()
        label = html.escape(TARGET_LABELS.get(gate, gate))
        where = "all channels" if self.channel.value == -1 or surgery.edit == "cut_zigzag" else (
            f"channel {self.channel.value}")  # fmt: skip
        region = self.region() if surgery.edit != "cut_zigzag" else None
        if region is not None:
            (r0, r1), (c0, c1) = region
            where += f", rows {r0}–{r1 - 1} × cols {c0}–{c1 - 1}"
        else:
            where += ", every grid cell"
        return (f"<b>gate rows:</b> {label}, layer {layer}, at the steps that made each forecast frame "
                f"(step {self.input_len - 1} → lead 1); under each map its mean over {where}: "
                f"{s_base.mean():.3f} unmodified → <b>{s_mod.mean():.3f}</b> modified (averaged over the "
                f"{len(s_base)} steps); colours {low:.2g} (dark) … {high:.2g} (bright); red box: the region"
                )  # fmt: skip

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
