"""Lesson 6's zigzag diagram and ZigzagFlow widget, driven from plain Python: set a control, check what is drawn.

A small seeded PredRNN (3 layers, 16×16 frames) stands in for the pretrained model; no timings here
(benchmarks/bench_widgets.py has them).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from stlearn.models import ConvLSTM, PredRNN, patch_frames
from stlearn.probe import trace_sequence
from stlearn.viz import ZigzagDiagram, memory_flow, memory_path, zigzag_figure
from stlearn.widgets import ZigzagFlow

T, LAYERS = 7, 3


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return PredRNN(in_channels=1, frame_size=(16, 16), patch_size=4, hidden_channels=[4] * LAYERS).eval()


@pytest.fixture(scope="module")
def frames():
    return torch.rand(3, T, 1, 16, 16, generator=torch.Generator().manual_seed(1))


# --------------------------------------------------------------------------- the path


def test_memory_path_is_the_order_of_memory_in():
    path = memory_path(3, 2)
    assert [cell for cell, _ in path] == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    # up the stack within a step, the top of step t−1 to the bottom of step t, zeros at the start
    assert [src for _, src in path] == [None, (0, 0), (0, 1), (1, 0), (1, 1), (2, 0)]
    assert [src for _, src in memory_path(3, 2, "cut")] == [None, None, (0, 0), (0, 1), (1, 0), (1, 1)]
    assert all(src is None for _, src in memory_path(3, 2, "convlstm"))
    with pytest.raises(ValueError, match="'wiring' must be one of"):
        memory_path(3, 2, "spiral")
    with pytest.raises(ValueError, match="num_layers"):
        memory_path(3, 0)


@pytest.mark.parametrize("wiring", ["zigzag", "cut"])
def test_memory_path_matches_the_model_routing(model, wiring):
    """Recompute each cell with the M that memory_path names as its source: the traced M comes out."""
    m = PredRNN(
        in_channels=1, frame_size=(16, 16), patch_size=4, hidden_channels=[4] * LAYERS, zigzag=wiring == "zigzag"
    )
    m.load_state_dict(model.state_dict())
    x = torch.rand(1, 4, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        tr = m(x, input_len=3, trace=True).trace
        zeros = torch.zeros_like(tr[0, 0].m)
        for (t, layer), src in memory_path(3, LAYERS, wiring):
            inp = tr[t, layer - 1].h if layer else patch_frames(x, 4)[:, t]
            h_prev = tr[t - 1, layer].h if t else zeros
            c_prev = tr[t - 1, layer].c if t else zeros
            m_in = zeros if src is None else tr[src].m
            torch.testing.assert_close(m.cell_list[layer](inp, h_prev, c_prev, m_in)[2], tr[t, layer].m)


def test_memory_flow_measures_the_traced_memory(model, frames):
    fl = memory_flow(model, frames[0], input_len=4)
    tr = trace_sequence(model, frames[0], input_len=4)
    assert fl.m_mean.shape == (T - 1, LAYERS) and fl.m_maps.shape == (T - 1, LAYERS, 4, 4)
    assert fl.m_shape == (4, 4, 4) and fl.wiring == "zigzag"
    np.testing.assert_allclose(fl.m_mean[2, 1], np.abs(tr.records[1]["m"][2]).mean(), rtol=1e-6)
    np.testing.assert_allclose(fl.m_norm[3, 2], np.linalg.norm(tr.records[2]["m"][3]), rtol=1e-5)
    np.testing.assert_allclose(fl.c_mean[1, 0], np.abs(tr.records[0]["c"][1]).mean(), rtol=1e-6)
    np.testing.assert_allclose(fl.m_maps[4, 0], np.abs(tr.records[0]["m"][4]).mean(axis=0), rtol=1e-6)
    pred = np.clip(tr.predictions, 0, 1)
    np.testing.assert_allclose(fl.frame_mse(), ((pred - tr.frames[1:]) ** 2).sum(axis=(1, 2)), rtol=1e-5)
    with pytest.raises(TypeError, match="must be a PredRNN"):
        memory_flow(ConvLSTM(frame_size=(16, 16), hidden_channels=[4]), frames[0])


# --------------------------------------------------------------------------- the diagram


def test_diagram_colours_the_path_up_to_the_hop(model, frames):
    fl = memory_flow(model, frames[0], input_len=4)
    assert "mean |M|" in zigzag_figure(fl, hop=4).axes[0].get_title()
    fig = Figure()
    d = ZigzagDiagram(fig.add_subplot(), T - 1, LAYERS)
    d.show(fl.m_mean, hop=4)
    faces = d.cells.get_facecolors()
    assert np.all(faces[5:] == 1)  # cells after the hop: white
    assert not np.any(np.all(faces[:5] == 1, axis=1))  # up to the hop: coloured
    assert [lab.get_text() for lab in d.labels[:5]] == [f"{fl.m_mean[c]:.2f}" for c in d.order[:5]]
    assert all(lab.get_text() == "" for lab in d.labels[5:])
    t, layer = d.order[4]  # (1, 1): reads M^0_1 from below
    assert (t, layer) == (1, 1)
    assert d.frame.get_xy() == (t - 0.28, layer - 0.25)
    (x0, y0), (x1, y1) = d.arrow._posA_posB
    assert x0 == x1 == 1 and y0 < y1  # the thick arrow points up the stack
    d.show(fl.m_mean, hop=3)  # (1, 0): reads the top of step 0, a diagonal back to the bottom
    (x0, y0), (x1, y1) = d.arrow._posA_posB
    assert x0 < x1 and y0 > y1
    d.show(fl.m_mean, hop=0)  # (0, 0) reads zeros: no arrow
    assert not d.arrow.get_visible()
    with pytest.raises(ValueError, match="'hop' must be None or an integer in"):
        d.show(fl.m_mean, hop=len(d.order))
    with pytest.raises(ValueError, match="shape"):
        d.show(fl.m_mean[:2])
    for wiring in ("zigzag", "cut", "convlstm"):
        assert zigzag_figure(wiring=wiring, num_steps=4, num_layers=4).axes


# --------------------------------------------------------------------------- ZigzagFlow


def test_zigzag_flow_hop_moves_the_highlight_and_the_maps(model, frames):
    zf = ZigzagFlow(model, frames, sequences=(0, 1, 2), input_len=4)
    assert zf.runs == 1 and zf.hop.max == (T - 1) * LAYERS - 1
    fl = zf.flow
    before = zf.canvas.image.value
    zf.hop.value = 7  # step 2, layer 1
    assert zf.current_cell() == (2, 1)
    assert zf.canvas.image.value != before
    np.testing.assert_array_equal(zf.im_m.get_array(), fl.m_maps[2, 1])
    np.testing.assert_array_equal(zf.im_read.get_array(), fl.read[2])
    np.testing.assert_array_equal(zf.im_true.get_array(), frames[0, 3, 0].numpy())
    np.testing.assert_array_equal(zf.im_pred.get_array(), np.clip(fl.predictions[2], 0, 1))
    # every cell shows its value; the M arrows up to the hop are orange, the rest grey
    assert zf.diagram.labels[7].get_text() == f"{fl.m_mean[2, 1]:.2f}"
    assert zf.diagram.labels[12].get_text() == f"{fl.m_mean[4, 0]:.2f}"
    colours = zf.diagram.m_arrows.get_facecolors()
    assert np.allclose(colours[6], colours[0]) and not np.allclose(colours[7], colours[0])  # arrow k feeds hop k + 1
    assert zf.diagram.frame.get_xy() == (2 - 0.28, 1 - 0.25)
    assert "reads M^0_2" in zf.headline.value and f"{fl.m_mean[2, 1]:.3f}" in zf.headline.value
    np.testing.assert_allclose(zf.path_dot.get_ydata(), [fl.m_mean[2, 1]])
    # the Play button drives the same hop
    zf.play.value = 3
    assert zf.hop.value == 3 and zf.current_cell() == (1, 0)
    assert "reads M^2_0" in zf.headline.value  # the top of step 0 comes back to the bottom
    zf.quantity.value = "norm ‖M‖"
    assert zf.diagram.labels[3].get_text() == f"{fl.m_norm[1, 0]:.0f}"
    assert zf.runs == 1 and zf.canvas.last_error is None


def test_zigzag_flow_cut_runs_a_copy_without_the_zigzag(model, frames):
    zf = ZigzagFlow(model, frames, sequences=(0, 1), input_len=4)
    zf.hop.value = 3
    zf.wiring.value = "cut"
    assert zf.runs == 2 and model.zigzag  # the model itself is untouched
    cut = PredRNN(in_channels=1, frame_size=(16, 16), patch_size=4, hidden_channels=[4] * LAYERS, zigzag=False)
    cut.load_state_dict(model.state_dict())
    expected = memory_flow(cut.eval(), frames[0], input_len=4)
    np.testing.assert_allclose(zf.flow.m_mean, expected.m_mean)
    assert not np.allclose(zf.flow.m_mean, zf.flow_of(0, "zigzag").m_mean)
    assert "reads M^0_0" in zf.headline.value  # layer 0 keeps its own memory
    assert zf.diagram is zf.diagrams["cut"] and zf.diagram.ax.get_visible()
    assert not zf.diagrams["zigzag"].ax.get_visible()
    zf.wiring.value = "zigzag"
    zf.sequence.value = 1
    zf.sequence.value = 0
    assert zf.runs == 3  # cached per (sequence, wiring)


def test_zigzag_flow_checks_its_input_and_shows_errors(model, frames, monkeypatch):
    with pytest.raises(TypeError, match="must be a PredRNN"):
        ZigzagFlow(ConvLSTM(frame_size=(16, 16), hidden_channels=[4]), frames)
    with pytest.raises(ValueError, match="at least one sequence"):
        ZigzagFlow(model, frames, sequences=())
    zf = ZigzagFlow(model, frames, sequences=(0, 1), input_len=4)

    def broken(index, wiring):
        raise RuntimeError("no such sequence on disk")

    monkeypatch.setattr(zf, "flow_of", broken)
    zf.sequence.value = 1
    assert isinstance(zf.canvas.last_error, RuntimeError)
    assert "no such sequence on disk" in zf.canvas.error.value and zf.canvas.error.layout.display is None
