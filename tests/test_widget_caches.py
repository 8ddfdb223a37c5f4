"""The views' kept layers, kept results and fast drawing give the pictures a plain draw gives (issue 19).

Each view is driven twice through the same control changes, revisits included: once as a learner would
(layers restored from what was kept, influence maps reused, images drawn from kept plans, texts from cached
bitmaps), once with every kept thing forgotten before each change and then drawn whole by matplotlib
(:func:`_plain`). After each change both pictures must be the same, pixel for pixel.
Small seeded models on 16×16 frames stand in for the pretrained ones; no timings here.
"""

from __future__ import annotations

import asyncio
import io

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from PIL import Image

from stlearn.models import MIM, ConvLSTM, PredRNN, TrajGRU
from stlearn.widgets import (
    CellExplorer,
    ConnectivityExplorer,
    GateExplorer,
    GateSurgery,
    MIMMemoryExplorer,
    TrajGRUFlowExplorer,
)
from stlearn.widgets._ahead import ComputeAhead
from stlearn.widgets._strips import BlitImage, ColourBarLayer

T, INPUT_LEN, HW = 6, 3, 16


@pytest.fixture(scope="module")
def frames() -> torch.Tensor:
    return torch.rand(2, T, 1, HW, HW, generator=torch.Generator().manual_seed(3))


def _convlstm() -> ConvLSTM:
    torch.manual_seed(0)
    return ConvLSTM(frame_size=(HW, HW), patch_size=2, hidden_channels=[4, 3]).eval()


def _trajgru(links: list[int]) -> TrajGRU:
    torch.manual_seed(0)
    model = TrajGRU(frame_size=(HW, HW), patch_size=2, hidden_channels=[4, 6], links=links, flow_channels=4)
    with torch.no_grad():  # non-zero flows: arrows to draw
        for cell in (*model.encoder, *model.forecaster):
            cell.flows.weight.normal_(0, 0.3)
            cell.flows.bias.normal_(0, 1.0)
    return model.eval()


def _picture(view) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(view.canvas.image.value)))


def _plain(view) -> np.ndarray:
    """The view's figure drawn whole by matplotlib, as its artists are now (nothing blitted, nothing kept)."""
    canvas = view.canvas
    blitted = [a for layer in canvas.layers for a in layer] + canvas.animated
    for artist in blitted:
        artist.set_animated(False)
    canvas.figure.canvas.draw()
    plain = np.array(canvas.figure.canvas.buffer_rgba())
    for artist in blitted:
        artist.set_animated(True)
    canvas.render_changed(0)  # the saved backgrounds stay those of a blitted draw
    return plain


def _rendered(view) -> np.ndarray:
    """The view's figure drawn whole through its blitting canvas (for views whose blitted drawing order differs
    from a full draw's by a pixel or two, as before any layer was kept: GateSurgery, MIMMemoryExplorer)."""
    view.canvas.render()
    return _picture(view)


def _forget(view) -> None:
    """Forget what the view kept: its layers' backgrounds, (lesson 10) the influence maps; and (lesson 8's
    TrajGRUFlowExplorer, which prepares its top row only when that row changes) prepare every artist anew."""
    view.canvas._kept_layers.clear()
    if isinstance(view, ConnectivityExplorer):
        view.maps.clear()
    if isinstance(view, TrajGRUFlowExplorer):
        view._full = True


def _same_pictures(make, steps, whole=_plain) -> tuple:
    """Drive a view and a forgetful twin through ``steps`` (control name, value); after each, the view's picture
    must be the twin's drawn ``whole``."""
    view, twin = make(), make()
    for name, value in steps:
        getattr(view, name).value = value
        _forget(twin)
        getattr(twin, name).value = value
        assert view.canvas.last_error is None and twin.canvas.last_error is None, (name, value)
        np.testing.assert_array_equal(_picture(view), whole(twin), err_msg=f"after {name} = {value!r}")
    return view, twin


def test_gate_explorer_restores_a_colour_bar_kept_per_scale(frames):
    model = _convlstm()
    steps = [("gate", "c"), ("gate", "i"), ("gate", "c"), ("step", 4), ("gate", "c_tilde"), ("gate", "f"),
             ("sequence", 1), ("gate", "c")]  # fmt: skip
    view, _ = _same_pictures(lambda: GateExplorer(model, frames, sequences=(0, 1), input_len=INPUT_LEN), steps)
    assert view.canvas.layer_kept(0)


def test_colour_bar_layer_rebuilds_the_bar_only_for_a_new_scale():
    canvas = BlitImage((2.0, 2.0))
    ax = canvas.figure.add_axes((0.1, 0.1, 0.6, 0.8))
    image = ax.imshow(np.zeros((4, 4)), cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    cax = canvas.figure.add_axes((0.8, 0.1, 0.05, 0.8))
    bar = ColourBarLayer(canvas, image, canvas.figure.colorbar(image, cax=cax))
    assert canvas.layers == [[bar.colorbar.ax]] and bar.scale is None
    assert bar.set("RdBu_r", -2.0, 2.0) and image.get_clim() == (-2.0, 2.0) and bar.colorbar.norm.vmax == 2.0
    assert canvas.layer_keys == [("RdBu_r", -2.0, 2.0)] and image.get_cmap().name == "RdBu_r"
    assert not bar.set("RdBu_r", -2.0, 2.0)  # the same scale: nothing rebuilt, the kept layer serves
    assert bar.set("viridis", 0.0, 1.0) and canvas.layer_keys == [("viridis", 0.0, 1.0)]


@pytest.mark.parametrize("kind", ["convlstm", "predrnn"])
def test_cell_explorer_restores_a_colour_bar_kept_per_scale(frames, kind):
    torch.manual_seed(1)
    model = _convlstm() if kind == "convlstm" else PredRNN(frame_size=(HW, HW), patch_size=2, hidden_channels=[4, 4])
    steps = [("step", 4), ("gate", "c"), ("probe_x", 1), ("gate", "i"), ("channel", 2), ("layer", 1), ("step", 1),
             ("gate", "h"), ("layer", 0), ("gate", "i")]  # fmt: skip
    view, _ = _same_pictures(lambda: CellExplorer(model.eval(), frames[0], input_len=INPUT_LEN), steps)
    assert view.canvas.layer_kept(0)
    scales = len(view.canvas._kept_layers)
    view.probe_y.value = 0  # the same scale: the colour bar is neither drawn nor rebuilt
    assert len(view.canvas._kept_layers) == scales


def test_gate_surgery_restores_the_strips_kept_per_sequence(frames):
    model = _convlstm()
    steps = [("value", 0.5), ("sequence", 1), ("value", 0.9), ("sequence", 0), ("gate", "i"), ("where", "region"),
             ("sequence", 1)]  # fmt: skip
    make = lambda: GateSurgery(model, frames, sequences=(0, 1), input_len=INPUT_LEN)  # noqa: E731
    view, _ = _same_pictures(make, steps, _rendered)
    assert view.canvas.layer_kept(1)


def test_gate_surgery_of_predrnn_keeps_its_pictures_right(frames):
    torch.manual_seed(1)
    model = PredRNN(frame_size=(HW, HW), patch_size=4, hidden_channels=[4, 4]).eval()
    steps = [("edit", "zero_m"), ("sequence", 1), ("edit", "cut_zigzag"), ("sequence", 0), ("edit", "clamp")]
    make = lambda: GateSurgery(model, frames, sequences=(0, 1), input_len=INPUT_LEN, gate="f_prime")  # noqa: E731
    _same_pictures(make, steps, _rendered)


def test_mim_explorer_restores_the_curves_kept_per_sequence_and_block(frames):
    torch.manual_seed(0)
    model = MIM(frame_size=(HW, HW), patch_size=2, hidden_channels=[4, 4, 4]).eval()
    steps = [("sequence", 1), ("layer", 2), ("sequence", 0), ("layer", 1), ("sequence", 1), ("quantity", "s"),
             ("step", 1)]  # fmt: skip
    make = lambda: MIMMemoryExplorer(model, frames, sequences=(0, 1), input_len=INPUT_LEN)  # noqa: E731
    view, _ = _same_pictures(make, steps, _rendered)
    assert view.canvas.layer_kept(0)


@pytest.mark.parametrize("links", [[3, 2], [2, 2]])  # a scale change redraws the whole figure, or the rows only
def test_trajgru_explorer_keeps_the_top_row_per_step_and_link(frames, links):
    model = _trajgru(links)
    steps = [("step", 3), ("step", 4), ("step", 3), ("channel", 2), ("link", 1), ("link", 0), ("scale", 1),
             ("step", 4), ("scale", 0), ("sequence", 1), ("sequence", 0)]  # fmt: skip
    view, _ = _same_pictures(lambda: TrajGRUFlowExplorer(model, frames, sequences=(0, 1), input_len=INPUT_LEN), steps)
    top = list(view.canvas._kept_layers)
    view.channel.value = 3  # only the bottom row changes: the top row is restored, not drawn
    assert list(view.canvas._kept_layers) == top and view.canvas.layer_kept(0)


def test_trajgru_explorer_draws_the_next_steps_top_row_ahead_and_shows_the_same_pictures(frames):
    model = _trajgru([3, 2])
    make = lambda: TrajGRUFlowExplorer(model, frames, sequences=(0, 1), input_len=INPUT_LEN)  # noqa: E731
    view, twin = make(), make()
    assert view.draw_ahead(1, limit=1) == [(0, 3)]  # shown: sequence 0, step 2 (input_len − 1); continuation first
    assert view.draw_ahead(1) == [(0, 1)]  # then the other side (sequence 1 not run yet: no model pass here)
    assert view.draw_ahead(1) == []  # kept already
    steps = [("step", 3), ("step", 4), ("channel", 2), ("step", 3), ("link", 1), ("scale", 1), ("step", 4),
             ("sequence", 1), ("step", 5)]  # fmt: skip
    for name, value in steps:
        drawn = len(view.canvas._kept_layers)
        getattr(view, name).value = value
        _forget(twin)
        getattr(twin, name).value = value
        if name == "step" and value == 3:  # drawn ahead: restored, not drawn again
            assert len(view.canvas._kept_layers) == drawn
        np.testing.assert_array_equal(_picture(view), _plain(twin), err_msg=f"after {name} = {value!r}")
        view.draw_ahead(-1 if (name, value) == ("step", 3) else 1)
    # no step 6, step 4 shown before; sequence 0 (run) at step 5 drawn ahead after the last step
    assert view.step.value == 5 and view.draw_ahead(1) == [] and view.canvas.layer_kept(0, [(0, 5, view.scale.value)])
    assert not view.canvas.keep_layer(0, [(1, 4, view.scale.value)])  # kept: nothing drawn


def test_trajgru_explorer_draws_ahead_on_the_kernels_event_loop_while_the_learner_looks(frames, monkeypatch):
    monkeypatch.setattr(ComputeAhead, "PAUSE", 0.0)
    model = _trajgru([3, 2])
    kept = []

    async def learner() -> TrajGRUFlowExplorer:  # in Jupyter, the views' callbacks run on the kernel's event loop
        view = TrajGRUFlowExplorer(model, frames, sequences=(0, 1), input_len=INPUT_LEN)  # shows step 2
        await asyncio.sleep(0.2)  # looks: steps 3 and 1 are drawn ahead, one per turn of the loop
        kept.append(len(view.canvas._kept_layers))
        view.step.value = 3  # restored, not drawn; then step 4 is drawn ahead
        kept.append(len(view.canvas._kept_layers))
        await asyncio.sleep(0.2)
        return view

    view = asyncio.run(learner())
    assert kept == [3, 3] and view.canvas.layer_kept(0, [(0, 4, 0)]) and len(view.canvas._kept_layers) == 4
    view.trace_of(1)  # sequence 1 run (and cached): its row at the shown step is drawn ahead too
    assert view.draw_ahead(1) == [(1, 3)]
    kept = len(view.canvas._kept_layers)
    view.sequence.value = 1  # restored, not drawn: the picture of a view that drew nothing ahead
    twin = TrajGRUFlowExplorer(model, frames, sequences=(0, 1), input_len=INPUT_LEN)
    twin.step.value, twin.sequence.value = 3, 1
    assert len(view.canvas._kept_layers) == kept
    np.testing.assert_array_equal(_picture(view), _plain(twin))


def test_connectivity_explorer_reuses_the_maps_of_a_pixel_seen_before(frames):
    models = {"ConvLSTM": _convlstm(), "PredRNN": PredRNN(frame_size=(HW, HW), patch_size=2, hidden_channels=[4, 4])}
    steps = [("col", 5), ("col", 6), ("col", 5), ("lead", 2), ("lead", 1), ("row", 3), ("sequence", 1),
             ("sequence", 0)]  # fmt: skip
    # nothing computed ahead here: the counts of backward passes are the views' own
    view, twin = _same_pictures(lambda: ConnectivityExplorer(models, frames, sequences=(0, 1), input_len=INPUT_LEN,
                                                             ahead=False), steps)  # fmt: skip
    backwards = sum(p.backwards for p in view._probes.values())
    assert backwards < sum(p.backwards for p in twin._probes.values())  # the twin forgot and ran them again
    view.col.value = 6  # a new pixel (row 3): one backward pass per model
    view.col.value = 5
    fresh = sum(p.backwards for p in view._probes.values())
    view.col.value = 6  # seen a moment ago: no backward pass
    assert sum(p.backwards for p in view._probes.values()) == fresh
    expected = view._probes[(0, "PredRNN")](1, view.row.value, 6)
    np.testing.assert_array_equal(view.influences["PredRNN"].maps, expected.maps)
