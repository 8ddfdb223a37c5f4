"""Lesson 4's views driven from plain Python: PredictionViewer, GateSurgery, loss_curve, read_pattern.

Small seeded models on 16×16 frames stand in for the pretrained ones; no timings here
(benchmarks/bench_widgets.py measures them).
"""

from __future__ import annotations

import asyncio
import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from stlearn.metrics import mse_per_frame, persistence_forecast
from stlearn.models import ConvLSTM, PredRNN
from stlearn.surgery import Surgery, run_surgery
from stlearn.viz import load_log, loss_curve, read_pattern
from stlearn.widgets import GateSurgery, PredictionViewer

T, INPUT_LEN = 8, 4


@pytest.fixture(scope="module")
def convlstm():
    torch.manual_seed(0)
    m = ConvLSTM(frame_size=(16, 16), patch_size=4, hidden_channels=[4, 3])
    with torch.no_grad():
        for cell in m.cell_list:
            cell.bias.normal_(0, 0.5)
    return m.eval()


@pytest.fixture(scope="module")
def predrnn():
    torch.manual_seed(1)
    return PredRNN(frame_size=(16, 16), patch_size=4, hidden_channels=[4, 4]).eval()


@pytest.fixture(scope="module")
def frames():
    return torch.rand(3, T, 1, 16, 16, generator=torch.Generator().manual_seed(2))


def _pixels(strip):
    return np.asarray(strip.image.get_array(), dtype=float)


# --------------------------------------------------------------------------- PredictionViewer


def test_prediction_viewer_shows_each_models_forecast_and_its_error(convlstm, frames):
    viewer = PredictionViewer({"convlstm": convlstm, "persistence": persistence_forecast}, frames,
                              sequences=(0, 1), input_len=INPUT_LEN)  # fmt: skip
    assert set(viewer.strips) == {"inputs", "ground truth", "convlstm", "persistence"}
    with torch.no_grad():
        pred = convlstm.predict(frames[1:2, :INPUT_LEN], T - INPUT_LEN).clamp(0, 1)
    before = _pixels(viewer.strips["convlstm"]).copy()
    viewer.sequence.value = 1
    assert viewer.canvas.last_error is None
    row = _pixels(viewer.strips["convlstm"])
    assert not np.allclose(np.nan_to_num(row), np.nan_to_num(before))
    np.testing.assert_allclose(row[:, :16], pred[0, 0, 0].numpy(), atol=1e-6)  # first frame of the strip
    mse = mse_per_frame(pred, frames[1:2, INPUT_LEN:], reduction="lead").numpy()
    assert viewer.strips["convlstm"].texts[0].get_text() == f"MSE {mse[0]:.0f}"
    np.testing.assert_allclose(viewer.lines["convlstm"].get_ydata(), mse, rtol=1e-5)
    # the persistence forecast repeats the last input frame
    np.testing.assert_allclose(_pixels(viewer.strips["persistence"])[:, :16], frames[1, INPUT_LEN - 1, 0].numpy())


def test_prediction_viewer_metric_switch_redraws_only_the_plot_and_caches_forecasts(convlstm, frames):
    viewer = PredictionViewer(convlstm, frames, sequences=(0, 1), input_len=INPUT_LEN)
    assert viewer.runs == 1
    strip_renders, plot_renders = viewer.canvas.renders, viewer.plot.renders
    viewer.metric.value = "ssim"
    assert viewer.canvas.renders == strip_renders and viewer.plot.renders == plot_renders + 1
    assert np.all(viewer.lines["convlstm"].get_ydata() <= 1.0)
    assert "SSIM" in viewer.summary.value
    viewer.sequence.value = 1
    viewer.sequence.value = 0
    assert viewer.runs == 2  # one forecast per sequence


def test_prediction_viewer_radar_offers_csi_and_draws_dbz(convlstm, frames):
    viewer = PredictionViewer({"m": convlstm}, frames, sequences=(0,), input_len=INPUT_LEN, kind="radar")
    keys = [v for _, v in viewer.metric.options]
    assert keys == ["mse", "ssim", "csi0", "csi1", "csi2"]
    viewer.metric.value = "csi0"
    assert viewer.canvas.last_error is None
    row = _pixels(viewer.strips["inputs"])
    np.testing.assert_allclose(row[:, :16], frames[0, 0, 0].numpy() * 70 - 10, rtol=1e-6)  # dBZ = 70·p − 10


def test_prediction_viewer_rejects_bad_arguments(convlstm, frames):
    with pytest.raises(TypeError, match="'models'"):
        PredictionViewer({}, frames)
    with pytest.raises(ValueError, match="'kind'"):
        PredictionViewer(convlstm, frames, sequences=(0,), kind="satellite", input_len=INPUT_LEN)
    with pytest.raises(ValueError, match="sequence 7 does not exist"):
        PredictionViewer(convlstm, frames, sequences=(7,), input_len=INPUT_LEN)
    with pytest.raises(ValueError, match="'frames' must be"):
        PredictionViewer(convlstm, torch.rand(16, 16))


# --------------------------------------------------------------------------- GateSurgery


def test_gate_surgery_shows_the_edited_forecast_beside_the_unmodified_one(convlstm, frames):
    ui = GateSurgery(convlstm, frames, sequences=(0, 1), input_len=INPUT_LEN)
    assert ui.canvas.last_error is None
    x = frames[0:1]
    base = run_surgery(convlstm, x, None, INPUT_LEN).predictions.clamp(0, 1)[0, :, 0].numpy()
    edited = run_surgery(convlstm, x, Surgery("clamp", "f", 0.0, layers=0, steps="forecast"), INPUT_LEN)
    np.testing.assert_allclose(_pixels(ui.strips["unmodified"])[:, :16], base[0])
    mod = edited.predictions.clamp(0, 1)[0, :, 0].numpy()
    np.testing.assert_allclose(_pixels(ui.strips["modified"])[:, 18:34], mod[1])
    ui.edit.value = "scale"  # s = 1: the identity
    assert ui.value.value == 1.0 and ui.value.description == "s"
    np.testing.assert_array_equal(_pixels(ui.strips["modified"]), _pixels(ui.strips["unmodified"]))
    assert "(+0.0)" in ui.readout.value
    ui.value.value = 0.5
    assert not np.array_equal(_pixels(ui.strips["modified"]), _pixels(ui.strips["unmodified"]))
    assert "s·" in ui.readout.value or "0.5·f" in ui.readout.value


def test_gate_surgery_value_range_follows_edit_and_gate(convlstm, frames):
    ui = GateSurgery(convlstm, frames, sequences=(0,), input_len=INPUT_LEN)
    ui.gate.value = "c_tilde"  # tanh: clamp in [-1, 1]
    assert (ui.value.min, ui.value.max) == (-1.0, 1.0)
    ui.edit.value = "bias"
    assert ui.value.value == 0.0 and ui.value.min < 0 < ui.value.max
    ui.layer.value = -1
    ui.steps.value = "all"
    assert ui.current_surgery() == Surgery("bias", "c_tilde", 0.0, layers=None, steps="all")
    assert "zero_m" not in [v for _, v in ui.edit.options]  # ConvLSTM has no M
    assert ui.canvas.last_error is None


def test_gate_surgery_caches_the_unmodified_run_and_runs_once_per_edit(convlstm, frames):
    ui = GateSurgery(convlstm, frames, sequences=(0, 1), input_len=INPUT_LEN, ahead=False)  # counts of its own passes
    runs = ui.runs  # one unmodified + one modified pass
    assert runs == 2
    ui.value.value = 0.5
    assert ui.runs == runs + 1
    ui.sequence.value = 1
    ui.sequence.value = 0
    assert ui.runs == runs + 1 + 2  # sequence 1: unmodified + modified; back to 0: the edited run is kept
    ui.value.value = 0.0
    assert ui.runs == runs + 1 + 2  # a setting seen before: kept


def test_gate_surgery_runs_the_next_settings_ahead_with_the_same_results(convlstm, frames):
    ui = GateSurgery(convlstm, frames, sequences=(0, 1), input_len=INPUT_LEN)
    ui.edited.MIN_COST = 0.0  # this small model's passes are cheaper than worth computing ahead in a lesson
    ui.value.value = 0.05
    assert ui.edited.wait(60)
    ahead = ui.edited.ahead
    assert ahead >= 3
    nxt = (*ui.settings()[:5], 0.1, *ui.settings()[6:])
    assert nxt in ui.edited  # the continuation of the move, first
    runs = ui.runs
    ui.value.value = 0.1  # computed ahead: shown with no model pass
    assert ui.runs == runs and ui.edited.hits == 1 and ui.canvas.last_error is None
    x = frames[0:1]
    direct = run_surgery(convlstm, x, Surgery("clamp", "f", 0.1, layers=0, steps="forecast"), INPUT_LEN)
    np.testing.assert_array_equal(ui.modified()["predictions"].numpy(), direct.predictions.numpy())
    ui.edit.value = "bias"  # the next edit, with the value its slider then shows (0)
    assert ui.edited.wait(60) and ui.canvas.last_error is None and ui.settings()[5] == 0.0


def test_gate_surgery_predrnn_memory_edits(predrnn, frames):
    ui = GateSurgery(predrnn, frames, sequences=(0,), input_len=INPUT_LEN)
    assert {"zero_m", "cut_zigzag"} <= {v for _, v in ui.edit.options}
    ui.edit.value = "cut_zigzag"
    assert ui.layer.disabled and ui.gate.disabled and ui.value.disabled
    assert ui.current_surgery() == Surgery("cut_zigzag")
    assert not np.allclose(_pixels(ui.strips["modified"]), _pixels(ui.strips["unmodified"]), equal_nan=True)
    ui.edit.value = "zero_m"
    assert ui.current_surgery().target == "m" and ui.canvas.last_error is None
    ui.edit.value = "clamp"
    ui.gate.value = "f_prime"
    assert ui.canvas.last_error is None


def test_gate_surgery_shows_errors_in_the_widget(convlstm, frames, monkeypatch):
    ui = GateSurgery(convlstm, frames, sequences=(0,), input_len=INPUT_LEN)

    def broken():
        raise RuntimeError("no luck")

    monkeypatch.setattr(ui, "modified", broken)
    ui.value.value = 0.3
    assert isinstance(ui.canvas.last_error, RuntimeError)
    assert "no luck" in ui.canvas.error.value


def test_gate_surgery_rejects_models_without_gates(frames):
    from stlearn.models import MIM

    with pytest.raises(TypeError, match="ConvLSTM, PredRNN and PredRNN-V2"):
        GateSurgery(MIM(frame_size=(16, 16), patch_size=4, hidden_channels=[4, 4]), frames)


# --------------------------------------------------------------------------- loss curve, read pattern


def test_loss_curve_from_a_log_file_and_from_records(tmp_path):
    records = [
        {"iteration": 10, "loss": 0.05, "mse": 0.05, "val_mse_per_frame": 300.0},
        {"iteration": 20, "loss": 0.04, "mse": 0.04, "val_mse_per_frame": 250.0},
    ]
    path = tmp_path / "run.log.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert load_log(path) == records
    fig = loss_curve(path)
    ax, ax2 = fig.axes
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0.05, 0.04])
    np.testing.assert_allclose(ax2.lines[0].get_ydata(), [300.0, 250.0])
    plt.close(fig)
    fig = loss_curve([{"iteration": 1, "loss": 0.1}, {"iteration": 2, "loss": 0.09}])  # a live run, no validation yet
    assert len(fig.axes) == 1
    plt.close(fig)
    with pytest.raises(FileNotFoundError):
        loss_curve(tmp_path / "missing.jsonl")
    with pytest.raises(ValueError, match="iteration"):
        loss_curve([{"loss": 1.0}])
    with pytest.raises(ValueError, match="no records"):
        loss_curve([])


def test_shipped_training_logs_draw():
    from stlearn.paths import data_dir

    path = data_dir() / "checkpoints" / "moving_digits" / "convlstm.log.jsonl"
    fig = loss_curve(path)
    assert len(fig.axes[0].lines[0].get_xdata()) == len(load_log(path))
    plt.close(fig)


def test_read_pattern_marks_true_frames_and_own_predictions():
    mask = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 0.0])  # T = 8
    fig = read_pattern({"training": mask, "test": None}, input_len=4)
    grid = fig.axes[0].images[0].get_array()
    np.testing.assert_array_equal(grid[0], [1, 1, 1, 0, 1, 0, 0])
    np.testing.assert_array_equal(grid[1], [1, 1, 1, 1, 0, 0, 0])
    plt.close(fig)
    with pytest.raises(ValueError, match="at least one mask"):
        read_pattern({"test": None}, input_len=4)
    with pytest.raises(ValueError, match="one sample"):
        read_pattern({"batch": torch.ones(2, 6)}, input_len=4)


# --------------------------------------------------------------------------- partial redraws


def _png(image):
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(image.value)))


def test_partial_redraws_give_the_same_picture_as_a_full_redraw(convlstm, predrnn, frames):
    # GateSurgery and PredictionViewer redraw only what changed over saved backgrounds (BlitImage):
    # after every change the picture must be the one a full redraw of the same state gives
    ui = GateSurgery(convlstm, frames, sequences=(0, 1), input_len=INPUT_LEN)
    for control, value in [(ui.value, 0.9), (ui.sequence, 1), (ui.gate, "o"), (ui.edit, "bias"), (ui.value, -4.0),
                           (ui.steps, "all"), (ui.sequence, 0)]:  # fmt: skip
        control.value = value
        partial = _png(ui.canvas.image)
        ui.canvas.render()
        np.testing.assert_array_equal(partial, _png(ui.canvas.image))
        # and the edited forecast is the full edited rollout (resumed from the cached unmodified run)
        x = frames[ui.sequence.value : ui.sequence.value + 1]
        full = run_surgery(convlstm, x, ui.current_surgery(), INPUT_LEN).predictions.clamp(0, 1)[0, :, 0].numpy()
        np.testing.assert_array_equal(_pixels(ui.strips["modified"])[:, :16], full[0])
    viewer = PredictionViewer({"model": predrnn, "persistence": persistence_forecast}, frames, sequences=(0, 2),
                              input_len=INPUT_LEN)  # fmt: skip
    for control, value in [(viewer.sequence, 2), (viewer.metric, "ssim"), (viewer.sequence, 0), (viewer.metric, "mse")]:
        control.value = value
        strips, plot = _png(viewer.canvas.image), _png(viewer.plot.image)
        viewer.canvas.render()
        viewer.plot.render()
        np.testing.assert_array_equal(strips, _png(viewer.canvas.image))
        np.testing.assert_array_equal(plot, _png(viewer.plot.image))


def test_gate_surgery_draws_the_neighbouring_sequences_layers_ahead_and_shows_the_same_picture(convlstm, frames):
    # while the learner looks, the strips and error-axis layers of the sequences next to the shown one are drawn
    # (from runs the background made: no model pass on the event loop); switching then restores them
    ui = GateSurgery(convlstm, frames, sequences=(0, 1, 2), input_len=INPUT_LEN)
    ui.edited.MIN_COST = 0.0  # this small model's passes are cheaper than worth computing ahead in a lesson
    assert ui.draw_ahead() == [] and ui._waiting_for_runs  # sequence 1 not run yet: nothing to draw
    ui.sequence.value = 1
    ui.value.value = 0.3
    assert ui.edited.wait(60)
    assert ui.draw_ahead(limit=1) == [2]  # the continuation of the last move (0 → 1) first
    assert ui.draw_ahead() == [] and ui._waiting_for_runs  # sequence 0 at v = 0.3: not among the runs ahead
    ui.edited.get((0, *ui.settings()[1:]))  # (as if the background had run it)
    assert ui.draw_ahead() == [] and not ui._waiting_for_runs  # shown before at this scale: kept, nothing to draw
    for k in (0, 2):
        base, mod = ui.baseline_of(k), ui.edited.peek((k, *ui.settings()[1:]))
        assert ui.canvas.layer_kept(1, [k, ui._error_top(base, mod, None)])
    # the layers' artists are set back to the shown sequence (a later full draw or new scale draws them)
    np.testing.assert_array_equal(_pixels(ui.strips["unmodified"])[:, :16], ui.baseline_of(1)["pred"][0])
    np.testing.assert_array_equal(ui.line_base.get_ydata(), ui.baseline_of(1)["mse"])
    assert ui.ax_err.get_ylim()[1] == ui.canvas.layer_keys[1]
    kept = len(ui.canvas._kept_layers)
    runs = ui.runs
    ui.sequence.value = 2
    assert len(ui.canvas._kept_layers) == kept and ui.runs == runs  # restored, not drawn; run ahead, not run
    twin = GateSurgery(convlstm, frames, sequences=(0, 1, 2), input_len=INPUT_LEN, ahead=False)
    twin.value.value, twin.sequence.value = 0.3, 2
    np.testing.assert_array_equal(_png(ui.canvas.image), _png(twin.canvas.image))
    ui.value.value = 0.0  # an edit after the switch: the layers' artists are those of sequence 2
    twin.value.value = 0.0
    np.testing.assert_array_equal(_png(ui.canvas.image), _png(twin.canvas.image))
    ui.canvas.render()
    np.testing.assert_array_equal(_png(ui.canvas.image), _png(twin.canvas.image))


def test_gate_surgery_runs_a_cheap_models_neighbouring_sequences_itself_to_draw_them_ahead(convlstm, frames):
    # lesson 4's toy (~5 ms a pass) is cheaper than worth running in the background: ComputeAhead plans nothing for
    # it, so draw_ahead runs the neighbours' passes itself (on the event loop, one neighbour a turn)
    ui = GateSurgery(convlstm, frames, sequences=(0, 1, 2), input_len=INPUT_LEN)
    ui.edited.MIN_COST = 10.0  # every pass counts as cheap
    ui.sequence.value = 1
    ui.value.value = 0.3
    assert ui.edited.wait(5) and ui.edited.ahead == 0  # nothing was run in the background
    runs = ui.runs
    assert ui.draw_ahead(limit=1) == [2] and ui.runs == runs + 2  # sequence 2: its unmodified and edited passes
    # sequence 0: its edited pass only (its unmodified run is cached); shown before at this scale: kept, not drawn
    assert ui.draw_ahead() == [] and ui.runs == runs + 3 and not ui._waiting_for_runs
    ui.sequence.value = 2
    assert ui.runs == runs + 3  # drawn ahead: shown with no model pass
    twin = GateSurgery(convlstm, frames, sequences=(0, 1, 2), input_len=INPUT_LEN, ahead=False)
    twin.value.value, twin.sequence.value = 0.3, 2
    np.testing.assert_array_equal(_png(ui.canvas.image), _png(twin.canvas.image))
    twin.value.value = 0.4
    twin.sequence.value = 1  # computing ahead switched off: draw_ahead runs nothing (sequence 0 at v = 0.4 not run)
    twin.edited.MIN_COST = 10.0
    runs = twin.runs
    assert 0 not in twin.draw_ahead() and twin._waiting_for_runs and twin.runs == runs


def test_gate_surgery_draws_ahead_on_the_kernels_event_loop(convlstm, frames, monkeypatch):
    from stlearn.widgets._ahead import ComputeAhead

    monkeypatch.setattr(ComputeAhead, "PAUSE", 0.0)
    drawn = []

    async def learner() -> GateSurgery:  # in Jupyter, the views' callbacks run on the kernel's event loop
        ui = GateSurgery(convlstm, frames, sequences=(0, 1, 2), input_len=INPUT_LEN)
        ui.edited.MIN_COST = 0.0
        ui.value.value = 0.2  # not a sequence switch: nothing drawn ahead
        await asyncio.sleep(0.3)
        drawn.append(ui.canvas.layer_kept(0, [1, 0]))
        ui.sequence.value = 1  # the background runs sequence 2 at v = 0.2 first (the continuation of the move)
        for _ in range(40):  # looks again until the background has it (DRAW_AHEAD_RETRY)
            await asyncio.sleep(0.05)
            if ui.canvas.layer_kept(0, [2, 0]):
                break
        drawn.append(ui.canvas.layer_kept(0, [2, 0]))
        return ui

    ui = asyncio.run(learner())
    assert drawn == [False, True] and ui.edited.wait(60)


def test_gate_surgery_sends_the_picture_before_the_controls_and_the_read_out(predrnn, frames, monkeypatch):
    # the browser gets the new picture first: the controls switched on or off (one batched message each), the value
    # slider's new range and the read-out follow, and are laid out while the picture is decoded
    import ipywidgets

    ui = GateSurgery(predrnn, frames, sequences=(0,), input_len=INPUT_LEN)
    sent = []
    send = ipywidgets.Widget.send_state

    def record(widget, key=None):
        sent.append(widget)
        return send(widget, key)

    monkeypatch.setattr(ipywidgets.Widget, "send_state", record)
    for edit in ("cut_zigzag", "scale", "zero_m", "bias"):
        sent.clear()
        ui.edit.value = edit
        picture = sent.index(ui.canvas.image)
        later = [ui.value, ui.gate, ui.layer, ui.steps, ui.channel, ui.where, ui.rows, ui.cols, ui.readout]
        assert all(w not in sent[:picture] for w in later), edit
        assert ui.readout in sent[picture:] and ui.value in sent[picture:], edit


def test_gate_surgery_runs_one_step_of_every_control_ahead_the_edit_and_gate_first(convlstm, frames):
    # a first press on another control than the last one moved also finds its run ahead: one step of each of the
    # eight controls (the edit and gate switches first: their misses cost the browser most)
    ui = GateSurgery(convlstm, frames, sequences=(0, 1), input_len=INPUT_LEN)
    ui.edited.MIN_COST = 0.0
    ui.value.value = 0.05
    assert ui.edited.wait(60)
    now = ui.settings()
    one_step = {
        "value": (*now[:5], 0.1, *now[6:]),
        "edit": (now[0], "bias", *now[2:5], 0.0, *now[6:]),
        "gate": (now[0], now[1], "c_tilde", *now[3:]),  # (the next gate; the clamp value kept where it fits)
        "sequence": (1, *now[1:]),
        "layer": (*now[:3], 1, *now[4:]),
        "steps": (*now[:4], "encoder", *now[5:]),
        "channel": (*now[:6], 0, *now[7:]),
        "where": (*now[:7], "region", *now[8:]),
    }
    assert [name for name, key in one_step.items() if key not in ui.edited] == []
    runs = ui.runs
    ui.gate.value = "c_tilde"  # shown with no model pass
    assert ui.runs == runs and ui.canvas.last_error is None
