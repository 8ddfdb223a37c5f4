"""The lessons' widgets and figures, driven from plain Python: set a control, check what is drawn.

No browser here (tests/test_browser.py does that); no timings (benchmarks/bench_widgets.py does).
A small seeded ConvLSTM on 16×16 frames stands in for the pretrained model, so this runs in seconds.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from stlearn.models import ConvLSTM, patch_frames
from stlearn.probe import layer_terms, trace_sequence
from stlearn.viz import (
    CELL_PARTS,
    draw_convlstm_cell,
    focus_cell,
    frame_strip,
    gate_grid,
    patch_channels_figure,
)
from stlearn.widgets import CellExplorer, FrameViewer, GateExplorer

T = 8


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = ConvLSTM(in_channels=1, frame_size=(16, 16), patch_size=4, hidden_channels=[4, 3], kernel_size=3)
    with torch.no_grad():  # peepholes start at zero; make them matter for the tests
        for cell in m.cell_list:
            for w in (cell.w_ci, cell.w_cf, cell.w_co):
                w.normal_(0, 0.5)
            cell.bias.normal_(0, 0.5)
    return m.eval()


@pytest.fixture(scope="module")
def frames():
    g = torch.Generator().manual_seed(1)
    return torch.rand(3, T, 1, 16, 16, generator=g)


def _record(model, seq, input_len=4):
    with torch.no_grad():
        return model(seq[None], trace=True, input_len=input_len)


# --------------------------------------------------------------------------- probe


def test_trace_sequence_matches_the_model_trace(model, frames):
    tr = trace_sequence(model, frames[0], input_len=4)
    out = _record(model, frames[0])
    assert tr.num_layers == 2
    assert tr.records[0]["f"].shape == (T - 1, 4, 4, 4) and tr.records[1]["f"].shape == (T - 1, 3, 4, 4)
    for name in ("i", "f", "c_tilde", "c", "o", "h"):
        for t in (0, 5):
            np.testing.assert_array_equal(tr.records[1][name][t], getattr(out.trace[t, 1], name)[0, :].numpy())
    # what each step read: true frames for the inputs, then the fed-back predictions
    np.testing.assert_array_equal(tr.read[:4], frames[0, :4, 0].numpy())
    np.testing.assert_allclose(tr.read[4:], out.next_frames[0, 3:-1, 0].numpy())
    np.testing.assert_allclose(tr.predictions, out.next_frames[0, :, 0].numpy())


def test_layer_terms_add_up_to_the_traced_gates(model, frames):
    tr = trace_sequence(model, frames[1], input_len=4)
    for layer in (0, 1):
        tm = layer_terms(model, tr, layer)
        for name in ("i", "f", "c_tilde", "c", "o", "h"):
            np.testing.assert_allclose(tm[name], tr.records[layer][name], atol=1e-5)
        z_i = tm["x_i"] + tm["h_i"] + tm["p_i"] + tm["b_i"]
        np.testing.assert_allclose(1 / (1 + np.exp(-z_i)), tm["i"], atol=1e-5)
        z_o = tm["x_o"] + tm["h_o"] + tm["p_o"] + tm["b_o"]
        np.testing.assert_allclose(1 / (1 + np.exp(-z_o)), tm["o"], atol=1e-5)
    # the layer-0 input is the patched frame that step t read
    x0 = patch_frames(torch.from_numpy(tr.read)[:, None, None], 4)[:, 0]
    cell = model.cell_list[0]
    with torch.no_grad():
        np.testing.assert_allclose(layer_terms(model, tr, 0)["x_f"], cell.conv_x(x0).chunk(4, dim=1)[1].numpy(),
                                   atol=1e-6)  # fmt: skip


# --------------------------------------------------------------------------- GateExplorer


def test_gate_explorer_shows_the_record_of_the_chosen_gate_step_layer_channel(model, frames):
    ex = GateExplorer(model, frames, sequences=(0, 1, 2), input_len=4)
    assert ex.runs == 1
    tr = ex.trace
    before = ex.canvas.image.value
    ex.gate.value = "o"
    np.testing.assert_array_equal(ex.im_gate.get_array(), tr.records[0]["o"][ex.step.value, 0])
    assert ex.canvas.image.value != before
    ex.step.value = 6
    ex.layer.value = 1
    ex.channel.value = 2
    np.testing.assert_array_equal(ex.im_gate.get_array(), tr.records[1]["o"][6, 2])
    np.testing.assert_array_equal(ex.current_map(), tr.records[1]["o"][6, 2])
    # frames beside it: what step 6 read (a fed-back prediction), its prediction, the truth
    np.testing.assert_array_equal(ex.im_read.get_array(), tr.read[6])
    np.testing.assert_array_equal(ex.im_true.get_array(), frames[0, 7, 0].numpy())
    np.testing.assert_array_equal(ex.im_pred.get_array(), np.clip(tr.predictions[6], 0, 1))
    assert "fed back" in ex.titles[0].get_text()
    # the cell state gets a symmetric colour scale, the gates [0, 1]
    assert ex.im_gate.get_clim() == (0.0, 1.0)
    ex.gate.value = "c"
    lo, hi = ex.im_gate.get_clim()
    assert lo == -hi and hi >= np.abs(tr.records[1]["c"]).max() - 1e-6
    assert ex.canvas.last_error is None


def test_gate_explorer_probe_moves_the_markers_and_reads_every_gate(model, frames):
    ex = GateExplorer(model, frames, sequences=(0, 1), input_len=4)
    ex.probe_y.value, ex.probe_x.value = 1, 3
    assert ex.box_gate.get_xy() == (2.5, 0.5)
    assert all(b.get_xy() == (3 * 4 - 0.5, 1 * 4 - 0.5) for b in ex.boxes)
    value = ex.trace.records[0]["h"][ex.step.value, 0, 1, 3]
    assert f"{value:+.3f}" in ex.readout.value


def test_gate_explorer_runs_the_model_once_per_sequence(model, frames):
    ex = GateExplorer(model, frames, sequences=(0, 1, 2), input_len=4)
    for _ in range(2):
        for control, value in ((ex.step, 2), (ex.layer, 1), (ex.gate, "i"), (ex.channel, 1)):
            control.value = value
    assert ex.runs == 1
    ex.sequence.value = 2
    assert ex.runs == 2
    np.testing.assert_array_equal(ex.im_true.get_array(), frames[2, 3, 0].numpy())
    np.testing.assert_array_equal(ex.im_gate.get_array(), trace_sequence(model, frames[2], 4).records[1]["i"][2, 1])
    ex.sequence.value = 0
    assert ex.runs == 2  # cached


def test_gate_explorer_shows_errors_in_the_widget(model, frames, monkeypatch):
    ex = GateExplorer(model, frames, sequences=(0, 1), input_len=4)
    assert ex.canvas.error.layout.display == "none"

    def broken(index):
        raise RuntimeError("no such sequence on disk")

    monkeypatch.setattr(ex, "trace_of", broken)
    ex.sequence.value = 1  # must not raise into the kernel log, but show up
    assert isinstance(ex.canvas.last_error, RuntimeError)
    assert "no such sequence on disk" in ex.canvas.error.value
    assert ex.canvas.error.layout.display is None
    monkeypatch.undo()
    ex.step.value = 1
    assert ex.canvas.last_error is None and ex.canvas.error.layout.display == "none"


def test_gate_explorer_rejects_bad_frames(model):
    with pytest.raises(TypeError, match="SequenceDataset"):
        GateExplorer(model, [1, 2, 3])
    with pytest.raises(ValueError, match=r"\(N, T"):
        GateExplorer(model, np.zeros((3, 16, 16), np.uint8))


# --------------------------------------------------------------------------- CellExplorer


def test_cell_explorer_focus_heatmap_and_values(model, frames):
    ex = CellExplorer(model, frames[0], input_len=4)
    assert set(ex._diagram_png) == set(CELL_PARTS)  # drawn once per focus
    tm = ex.terms(0)
    ex.gate.value = "f"
    assert ex.diagram.image.value == ex._diagram_png["f"]
    ex.step.value, ex.channel.value, ex.probe_y.value, ex.probe_x.value = 5, 2, 1, 2
    np.testing.assert_array_equal(ex.im.get_array(), tm["f"][5, 2])
    text = ex.values.value
    assert f"{tm['f'][5, 2, 1, 2]:+8.3f}" in text and f"{tm['x_f'][5, 2, 1, 2]:+8.3f}" in text
    assert "W_cf" in text and "sigma" not in text
    ex.gate.value = "c"
    assert "f_t·C_t-1" in ex.values.value
    assert ex.diagram.image.value == ex._diagram_png["c"] != ex._diagram_png["f"]
    ex.layer.value = 1
    np.testing.assert_array_equal(ex.im.get_array(), ex.terms(1)["c"][5, 2])
    assert r"$C_t = f_t \odot C_{t-1}" in ex.equation.value
    assert ex.canvas.last_error is None


def test_focus_cell_recolours_without_new_artists():
    fig, ax = plt.subplots()
    d = draw_convlstm_cell(ax, focus=None)
    n = len(ax.get_children())
    focus_cell(d, "o")
    assert len(ax.get_children()) == n
    colours = {tuple(np.round(matplotlib.colors.to_rgb(a.get_color()), 3)) for a, tags, k in d.items
               if k == "text" and "o" in tags}  # fmt: skip
    assert colours == {tuple(np.round(matplotlib.colors.to_rgb(CELL_PARTS["o"]), 3))}
    with pytest.raises(ValueError, match="focus"):
        focus_cell(d, "z")
    plt.close(fig)


# --------------------------------------------------------------------------- FrameViewer and figures


def test_frame_viewer_swaps_the_image_data():
    a = np.random.default_rng(0).random((5, 8, 8))
    radar = (np.random.default_rng(1).random((5, 8, 8)) * 255).astype(np.uint8)
    v = FrameViewer({"a": a, "radar": radar}, {"radar": "radar"})
    before = v.canvas.image.value
    v.slider.value = 3
    np.testing.assert_array_equal(v.images["a"].get_array(), a[3])
    np.testing.assert_allclose(v.images["radar"].get_array(), radar[3] / 255.0 * 70 - 10)
    assert v.canvas.image.value != before
    with pytest.raises(ValueError, match="same number of frames"):
        FrameViewer({"a": a, "b": a[:3]})
    player = FrameViewer({"a": a}, play=True, interval_ms=50)
    assert player.play.max == 4 and player.play.interval == 50 and player.play in player.widget.children[0].children


def test_frame_viewer_blits_and_keeps_each_frame_once_drawn():
    import io

    from PIL import Image

    def pixels(value):
        return np.asarray(Image.open(io.BytesIO(value)))

    a = np.random.default_rng(0).random((6, 8, 8))
    v = FrameViewer({"a": a, "b": a[::-1].copy()}, {"b": ("magma", 0, 1)}, captions=[f"t is {t}" for t in range(6)])
    for t in (2, 5, 1, 2):
        v.slider.value = t
        shown = v.canvas.image.value
        v.canvas.render()  # a full redraw of the same state: the blitted picture must be the same
        np.testing.assert_array_equal(pixels(shown), pixels(v.canvas.image.value))
        assert v.caption.get_text() == f"t is {t}"
    assert sorted(v.canvas.kept) == [0, 1, 2, 5]
    first_two = v.canvas.kept[2]
    v.slider.value = 3
    v.slider.value = 2
    assert v.canvas.image.value == first_two  # a frame drawn before is the same picture, not drawn again


def test_patch_channels_figure_matches_strided_pixels():
    frame = np.arange(64, dtype=np.float64).reshape(8, 8) / 64
    fig = patch_channels_figure(frame, 4)
    images = [ax.images[0].get_array() for ax in fig.axes[1:]]
    for k, img in enumerate(images):
        dy, dx = divmod(k, 4)
        np.testing.assert_array_equal(img, frame[dy::4, dx::4])
    plt.close(fig)


def test_static_figures_draw():
    maps = torch.rand(8, 4, 4)
    fig = gate_grid(maps, "f")
    assert "(8, 4, 4)" in fig._suptitle.get_text()
    plt.close(fig)
    seq = np.random.default_rng(0).random((6, 1, 8, 8))
    fig = frame_strip(seq[:3], seq[3:], seq[3:] * 0.5)
    assert len(fig.axes) == 9 and fig.axes[6].get_title().startswith("MSE")
    plt.close(fig)


def _png_pixels(image_widget):
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(image_widget.value)))


def test_gate_explorer_partial_redraws_match_a_plain_full_draw(model, frames):
    """GateExplorer redraws only the maps, boxes and titles (and the colour bar when the gate's scale changes) over a
    saved background: after every change the picture is the one a plain, unblitted draw of the figure gives."""
    ex = GateExplorer(model, frames, sequences=(0, 1), input_len=4)
    animated = [a for layer in ex.canvas.layers for a in layer] + ex.canvas.animated
    for control, value in [(ex.gate, "o"), (ex.step, 6), (ex.probe_x, 0), (ex.layer, 1), (ex.gate, "c"),
                           (ex.channel, 2), (ex.sequence, 1), (ex.gate, "i")]:  # fmt: skip
        control.value = value
        assert ex.canvas.last_error is None
        partial = _png_pixels(ex.canvas.image)
        for artist in animated:
            artist.set_animated(False)
        ex.canvas.figure.canvas.draw()
        plain = np.array(ex.canvas.figure.canvas.buffer_rgba())
        for artist in animated:
            artist.set_animated(True)
        np.testing.assert_array_equal(partial, plain)
    assert ex.colour_bar.colorbar.cmap.name == ex.im_gate.get_cmap().name
    assert (ex.colour_bar.colorbar.norm.vmin, ex.colour_bar.colorbar.norm.vmax) == ex.im_gate.get_clim()

