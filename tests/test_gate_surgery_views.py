"""GateSurgery's channel and region edits and its gate rows (lessons 4-6), driven from plain Python.

Small seeded models on 16×16 frames stand in for the pretrained ones; timings live in benchmarks/bench_widgets.py.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from PIL import Image

from stlearn.models import ConvLSTM, PredRNN
from stlearn.surgery import Surgery, run_surgery
from stlearn.widgets import GateSurgery

T, INPUT_LEN, P = 8, 4, 2  # patch 2: an 8 × 8 grid


@pytest.fixture(scope="module")
def convlstm():
    torch.manual_seed(0)
    m = ConvLSTM(frame_size=(16, 16), patch_size=P, hidden_channels=[4, 4])
    with torch.no_grad():
        for cell in m.cell_list:
            cell.bias.normal_(0, 0.5)
    return m.eval()


@pytest.fixture(scope="module")
def predrnn():
    torch.manual_seed(1)
    return PredRNN(frame_size=(16, 16), patch_size=P, hidden_channels=[4, 4]).eval()


@pytest.fixture(scope="module")
def frames():
    return torch.rand(2, T, 1, 16, 16, generator=torch.Generator().manual_seed(2))


def _pixels(strip):
    return np.asarray(strip.image.get_array(), dtype=float)


def _column(strip, k, w=16):
    """Frame k of a strip (the strips put 2-pixel gaps between frames)."""
    return _pixels(strip)[:, k * (w + 2) : k * (w + 2) + w]


def test_region_and_channel_controls_describe_the_surgery(convlstm, frames):
    ui = GateSurgery(convlstm, frames, sequences=(0,), input_len=INPUT_LEN)
    assert ui.current_surgery() == Surgery("clamp", "f", 0.0, layers=0, steps="forecast")  # as before: everything
    assert ui.region_box.children == ()  # no row/column sliders until a region is asked for
    ui.where.value = "region"
    assert ui.region_box.children == (ui.rows, ui.cols)
    ui.rows.value, ui.cols.value = (1, 3), (5, 7)
    ui.channel.value = 2
    s = ui.current_surgery()
    assert s.channels == (2,) and s.region == ((1, 4), (5, 8))  # the sliders include their upper end
    assert "channel 2, rows 1–3 × cols 5–7" in ui.readout.value
    ui.where.value = "all"
    assert ui.current_surgery().region is None and ui.region_box.children == ()
    assert ui.canvas.last_error is None


def test_gate_rows_show_the_edited_gate_beside_the_forecast_it_made(convlstm, frames):
    ui = GateSurgery(convlstm, frames, sequences=(0,), input_len=INPUT_LEN)
    ui.where.value = "region"
    ui.rows.value, ui.cols.value = (2, 5), (1, 6)
    ui.channel.value = 1
    ui.value.value = 0.25
    x = frames[0:1]
    base = run_surgery(convlstm, x, None, INPUT_LEN)
    edited = run_surgery(convlstm, x, Surgery("clamp", "f", 0.25, layers=0, steps="forecast", channels=[1],
                                              region=((2, 6), (1, 7))), INPUT_LEN)  # fmt: skip
    # column k shows step input_len - 1 + k (the step that made lead k + 1), channel 1, each grid cell P × P pixels
    for k in range(T - INPUT_LEN):
        t = INPUT_LEN - 1 + k
        for label, run in (("unmodified", base), ("modified", edited)):
            want = np.kron(run.trace[t, 0].f[0, 1].numpy(), np.ones((P, P)))
            np.testing.assert_allclose(_column(ui.gate_strips[label], k), want, atol=1e-6)
    # at the first edited step (t = input_len, column 1): v inside the region, the unmodified gate outside
    first = _column(ui.gate_strips["modified"], 1)[::P, ::P]
    inside = np.zeros((8, 8), dtype=bool)
    inside[2:6, 1:7] = True
    assert np.all(first[inside] == 0.25)
    np.testing.assert_allclose(first[~inside], base.trace[INPUT_LEN, 0].f[0, 1].numpy()[~inside], atol=1e-6)
    # the numbers under the maps: the gate's mean over the selection (channel 1, the region)
    sel_mean = edited.trace[INPUT_LEN, 0].f[0, 1, 2:6, 1:7].mean()
    assert ui.gate_strips["modified"].texts[1].get_text() == f"{sel_mean:.2f}" == "0.25"
    # and the forecast is the edited run's
    np.testing.assert_allclose(_column(ui.strips["modified"], 1),
                               edited.predictions.clamp(0, 1)[0, 1, 0].numpy(), atol=1e-6)  # fmt: skip
    # the region is outlined in every frame of the modified forecast and both gate rows
    assert all(len(o.get_segments()) == T - INPUT_LEN for o in ui.outlines)


def test_all_channels_show_the_channel_mean_and_states_a_symmetric_scale(convlstm, frames):
    ui = GateSurgery(convlstm, frames, sequences=(0,), input_len=INPUT_LEN, edit="scale", gate="c")
    ui.value.value = 0.5
    base = run_surgery(convlstm, frames[0:1], None, INPUT_LEN)
    want = np.kron(base.trace[INPUT_LEN - 1, 0].c[0].mean(0).numpy(), np.ones((P, P)))
    np.testing.assert_allclose(_column(ui.gate_strips["unmodified"], 0), want, atol=1e-6)
    low, high = ui.gate_strips["modified"].image.get_clim()
    assert low == -high > 0 or low == -high  # symmetric around 0
    assert ui.canvas.last_error is None


def test_predrnn_primed_gates_zero_m_and_the_cut_in_the_gate_rows(predrnn, frames):
    ui = GateSurgery(predrnn, frames, sequences=(0,), input_len=INPUT_LEN, gate="f_prime")
    assert ui.shown_gate() == ("f_prime", 0) and "spatial forget gate" in ui.readout.value
    ui.edit.value = "zero_m"
    ui.where.value = "region"
    assert ui.shown_gate() == ("m", 0)
    first = _column(ui.gate_strips["modified"], 1)[::P, ::P]
    (r0, r1), (c0, c1) = ui.region()
    assert np.all(first[r0:r1, c0:c1] == 0) and not np.all(first == 0)
    ui.edit.value = "cut_zigzag"
    assert ui.channel.disabled and ui.where.disabled
    assert ui.current_surgery() == Surgery("cut_zigzag") and ui.shown_gate() == ("m", 0)
    assert all(len(o.get_segments()) == 0 for o in ui.outlines)
    assert ui.canvas.last_error is None


def test_start_edit_and_gate_are_checked(convlstm, predrnn, frames):
    ui = GateSurgery(predrnn, frames, sequences=(0,), input_len=INPUT_LEN, edit="zero_m")
    assert ui.current_surgery().edit == "zero_m" and ui.value.disabled
    with pytest.raises(ValueError, match="'edit' must be one of"):
        GateSurgery(convlstm, frames, sequences=(0,), input_len=INPUT_LEN, edit="zero_m")
    with pytest.raises(ValueError, match="'gate' must be one of"):
        GateSurgery(convlstm, frames, sequences=(0,), input_len=INPUT_LEN, gate="f_prime")


def _png(image):
    return np.asarray(Image.open(io.BytesIO(image.value)))


def test_partial_redraws_with_regions_give_the_full_redraw(convlstm, frames):
    ui = GateSurgery(convlstm, frames, sequences=(0, 1), input_len=INPUT_LEN)
    for control, value in [(ui.where, "region"), (ui.rows, (0, 2)), (ui.channel, 3), (ui.gate, "c_tilde"),
                           (ui.value, -0.5), (ui.sequence, 1), (ui.cols, (4, 7)), (ui.where, "all")]:  # fmt: skip
        control.value = value
        partial = _png(ui.canvas.image)
        ui.canvas.render()
        np.testing.assert_array_equal(partial, _png(ui.canvas.image))
        assert ui.canvas.last_error is None
