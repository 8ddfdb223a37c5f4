"""Lesson 5's views on PredRNN, driven from plain Python: ST-LSTM terms, diagram, GateExplorer, CellExplorer.

A small seeded PredRNN on 16×16 frames stands in for the pretrained model (seconds, no data files).
No timings here (benchmarks/bench_widgets.py measures them).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from stlearn import gates
from stlearn.models import PredRNN, patch_frames
from stlearn.probe import layer_terms, stlstm_terms, trace_sequence
from stlearn.viz import ST_CELL_PARTS, draw_stlstm_cell, focus_cell
from stlearn.widgets import CellExplorer, GateExplorer
from stlearn.widgets.gate_explorer import ST_GATE_LABELS

T = 8
ST_FIELDS = ("i", "f", "g", "c", "i_prime", "f_prime", "g_prime", "m", "o", "h")


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return PredRNN(in_channels=1, frame_size=(16, 16), patch_size=4, hidden_channels=[4, 4], kernel_size=3).eval()


@pytest.fixture(scope="module")
def frames():
    g = torch.Generator().manual_seed(1)
    return torch.rand(3, T, 1, 16, 16, generator=g)


# --------------------------------------------------------------------------- probe


def test_trace_sequence_keeps_every_st_lstm_field(model, frames):
    tr = trace_sequence(model, frames[0], input_len=4)
    with torch.no_grad():
        out = model(frames[0][None], trace=True, input_len=4)
    assert set(tr.records[0]) == set(ST_FIELDS)
    for name in ST_FIELDS:
        np.testing.assert_array_equal(tr.records[1][name][5], getattr(out.trace[5, 1], name)[0].numpy())


@pytest.mark.parametrize("zigzag", [True, False])
def test_layer_terms_of_an_st_lstm_add_up_to_the_traced_gates(frames, zigzag):
    torch.manual_seed(3)
    m = PredRNN(frame_size=(16, 16), hidden_channels=[4, 4], zigzag=zigzag).eval()
    tr = trace_sequence(m, frames[1], input_len=4)
    for layer in (0, 1):
        tm = layer_terms(m, tr, layer)
        for name in ST_FIELDS:  # the memory each layer reads (zigzag or not) reproduces the trace
            np.testing.assert_allclose(tm[name], tr.records[layer][name], atol=1e-5, err_msg=f"{name}, layer {layer}")
        np.testing.assert_allclose(_sigmoid(tm["x_f"] + tm["h_f"] + tm["b_f"]), tm["f"], atol=1e-5)
        np.testing.assert_allclose(_sigmoid(tm["x_i_prime"] + tm["m_i_prime"]), tm["i_prime"], atol=1e-5)
        z = tm["x_f_prime"] + tm["m_f_prime"] + tm["b_f_prime"]
        np.testing.assert_allclose(_sigmoid(z), tm["f_prime"], atol=1e-5)
        np.testing.assert_allclose(np.tanh(tm["x_g_prime"] + tm["m_g_prime"]), tm["g_prime"], atol=1e-5)
        np.testing.assert_allclose(_sigmoid(tm["x_o"] + tm["h_o"] + tm["cm_o"]), tm["o"], atol=1e-5)
        np.testing.assert_allclose(tm["o"] * np.tanh(tm["fused"]), tm["h"], atol=1e-5)
        assert np.all(tm["b_f"] == 1.0)
    # the zigzag: layer 0 reads the top layer's memory of the previous step (zero at t = 0)
    m_in0 = layer_terms(m, tr, 0)["m_in"]
    assert np.all(m_in0[0] == 0)
    expected = tr.records[-1]["m"][:-1] if zigzag else tr.records[0]["m"][:-1]
    np.testing.assert_array_equal(m_in0[1:], expected)


def test_stlstm_terms_match_the_cell_trace(model, frames):
    cell = model.cell_list[0]
    x = patch_frames(frames[:1, :1], 4)[:, 0]
    g = torch.Generator().manual_seed(2)
    h, c, m = (torch.randn(1, 4, 4, 4, generator=g) for _ in range(3))
    with torch.no_grad():
        _, rec = cell.trace(x, h, c, m)
    tm = stlstm_terms(cell, x, h, c, m)
    for name in ST_FIELDS:
        torch.testing.assert_close(tm[name], getattr(rec, name))
    torch.testing.assert_close(tm["m"], gates.spatial_memory_update(tm["f_prime"], m, tm["i_prime"], tm["g_prime"]))
    assert tm["m_in"] is m and tm["c_prev"] is c


# --------------------------------------------------------------------------- diagram


def test_st_diagram_focus_recolours_without_new_artists():
    fig, ax = plt.subplots()
    d = draw_stlstm_cell(ax, focus=None)
    n = len(ax.get_children())
    tags = set().union(*(t for _, t, _ in d.items))
    assert tags == set(ST_CELL_PARTS)  # every part has something to light up
    for part in ST_CELL_PARTS:
        focus_cell(d, part)
        lit = {tuple(np.round(matplotlib.colors.to_rgb(a.get_color()), 3)) for a, t, k in d.items
               if k == "text" and part in t}  # fmt: skip
        assert lit == {tuple(np.round(matplotlib.colors.to_rgb(ST_CELL_PARTS[part]), 3))}
    assert len(ax.get_children()) == n
    with pytest.raises(ValueError, match="i_prime"):
        focus_cell(d, "c_tilde")  # a ConvLSTM part is not in this drawing
    plt.close(fig)


# --------------------------------------------------------------------------- GateExplorer on PredRNN


def test_gate_explorer_offers_the_st_lstm_gates(model, frames):
    ex = GateExplorer(model, frames, sequences=(0, 1), input_len=4)
    assert [k for _, k in ex.gate.options] == list(ST_GATE_LABELS)
    assert [k for _, k in ex.gate.options] == ["i", "f", "g", "i_prime", "f_prime", "g_prime", "o", "c", "m", "h"]
    tr = ex.trace
    ex.gate.value = "f_prime"
    ex.step.value, ex.layer.value, ex.channel.value = 5, 1, 3
    np.testing.assert_array_equal(ex.im_gate.get_array(), tr.records[1]["f_prime"][5, 3])
    assert ex.im_gate.get_clim() == (0.0, 1.0) and "f'_t" in ex.titles[3].get_text()
    ex.gate.value = "m"  # the memory: unbounded, symmetric colour scale
    np.testing.assert_array_equal(ex.im_gate.get_array(), tr.records[1]["m"][5, 3])
    lo, hi = ex.im_gate.get_clim()
    assert lo == -hi and hi >= np.abs(tr.records[1]["m"]).max() - 1e-6
    ex.probe_y.value, ex.probe_x.value = 2, 1
    for name in ST_FIELDS:  # the probe lists all ten
        assert f"{tr.records[1][name][5, 3, 2, 1]:+.3f}" in ex.readout.value
    assert "spatiotemp. mem. M_t" in ex.readout.value
    assert ex.runs == 1 and ex.canvas.last_error is None


# --------------------------------------------------------------------------- CellExplorer on PredRNN


def test_cell_explorer_draws_the_st_lstm_and_reads_its_terms(model, frames):
    ex = CellExplorer(model, frames[0], input_len=4)
    assert ex.st and set(ex._diagram_png) == set(ST_CELL_PARTS)  # drawn once per focus
    tm = ex.terms(0)
    ex.gate.value = "f_prime"
    assert ex.diagram.image.value == ex._diagram_png["f_prime"]
    ex.step.value, ex.channel.value, ex.probe_y.value, ex.probe_x.value = 5, 2, 1, 2
    np.testing.assert_array_equal(ex.im.get_array(), tm["f_prime"][5, 2])
    at = (5, 2, 1, 2)
    text = ex.values.value
    for key in ("x_f_prime", "m_f_prime", "f_prime", "m_in"):
        assert f"{tm[key][at]:+.3f}" in text, key
    assert "forget bias" in text and "+1.000" in text and "W_mf * M^l-1_t" in text
    assert "M^{l-1}_t + 1)" in ex.equation.value and "conv_m (12" in ex.shapes.value
    ex.gate.value = "o"
    assert f"{tm['cm_o'][at]:+8.3f}" in ex.values.value and "W_co (4, 8, 3, 3)" in ex.shapes.value
    ex.gate.value = "h"
    assert f"{tm['fused'][at]:+8.3f}" in ex.values.value and "W_1x1 (4, 8, 1, 1)" in ex.shapes.value
    assert r"\tanh(W_{1\times 1} * [C^l_t, M^l_t])" in ex.equation.value
    ex.gate.value = "m"
    assert "(kept)" in ex.values.value and f"{tm['m'][at]:+8.3f}" in ex.values.value
    assert ex.diagram.image.value == ex._diagram_png["m"] != ex._diagram_png["f_prime"]
    ex.layer.value = 1
    np.testing.assert_array_equal(ex.im.get_array(), ex.terms(1)["m"][5, 2])
    assert ex.canvas.last_error is None


def test_cell_explorer_keeps_the_convlstm_mode():
    from stlearn.models import ConvLSTM

    torch.manual_seed(0)
    m = ConvLSTM(frame_size=(16, 16), hidden_channels=[4, 4]).eval()
    ex = CellExplorer(m, torch.rand(T, 1, 16, 16), input_len=4)
    assert not ex.st and [k for _, k in ex.gate.options] == ["i", "f", "c_tilde", "c", "o", "h"]
    ex.gate.value = "f"
    assert "W_cf" in ex.values.value and "forget bias" not in ex.values.value
