"""Lesson 4's occluder toy: the shipped model and its recipe, object_memory (ΔC), GateSurgery on small frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stlearn.data import to_tensor
from stlearn.data.occluder import OBJECT_VALUE, OccluderConfig, generate_occluder, occluder_tracks
from stlearn.data.occluder_model import CONFIG, load_occluder_model, occluder_data_config, occluder_info
from stlearn.models import ConvLSTM, PredRNN
from stlearn.probe import ObjectMemory, object_memory
from stlearn.surgery import Surgery, run_surgery
from stlearn.training.config import differing_keys, load_config
from stlearn.widgets import GateSurgery
from stlearn.widgets.gate_surgery import error_scale


@pytest.fixture(scope="module")
def toy():
    return load_occluder_model(), occluder_data_config()


@pytest.fixture(scope="module")
def sequences(toy):
    _, config = toy
    frames = to_tensor(generate_occluder(32, "test", config=config))
    without = frames.clone()
    without[frames == OBJECT_VALUE / 255] = 0.0
    return frames, without, occluder_tracks(32, "test", config=config)


def test_the_shipped_toy_is_the_recipe_in_configs(toy):
    _, config = toy
    assert config == OccluderConfig()
    recorded = occluder_info().training["config"]
    assert not differing_keys(recorded, load_config(CONFIG)), differing_keys(recorded, load_config(CONFIG))
    assert occluder_info().training["iterations_done"] == load_config(CONFIG).iterations
    assert occluder_info().training["finished"]


def test_the_toy_brings_the_hidden_square_back(toy, sequences):
    model, config = toy
    frames, _, tracks = sequences
    n_in = config.input_frames
    with torch.no_grad():
        pred = model.predict(frames[:, :n_in], config.output_frames).clamp(0, 1)
    hidden = tracks["visible"] == 0
    last_hidden = config.num_frames - 1 - np.argmax(hidden[:, ::-1], axis=1)
    seen_again = (tracks["visible"][:, n_in:] == 1) & (np.arange(n_in, config.num_frames) > last_hidden[:, None])
    s = config.object_size
    brightness = []
    for i, j in zip(*np.nonzero(seen_again), strict=True):
        r, c = tracks["corners"][i, n_in + j]
        brightness.append(pred[i, j, 0, max(r, 0) : r + s, max(c, 0) : c + s].mean().item())
    assert len(brightness) > 50 and np.mean(brightness) > 0.9
    # and the bar stays where it is
    bar = list(config.bar_columns)
    assert (pred[..., bar] - 96 / 255).abs().mean() < 0.05


def test_object_memory_is_the_difference_of_two_traced_runs(toy, sequences):
    model, config = toy
    frames, without, _ = sequences
    memory = object_memory(model, frames[:4], without[:4], input_len=config.input_frames)
    assert isinstance(memory, ObjectMemory)
    # independently: the model's own traced forward pass at test time, once per input
    with torch.no_grad():
        runs = [model(x, trace=True, input_len=config.input_frames).trace for x in (frames[:4], without[:4])]
    for t in range(config.num_frames - 1):
        np.testing.assert_allclose(memory.delta_c[:, t], (runs[0][t, 0].c - runs[1][t, 0].c).numpy(), atol=1e-6)
        np.testing.assert_allclose(memory.f[:, t], runs[0][t, 0].f.numpy(), atol=1e-6)
    assert memory.delta_c.shape == (4, config.num_frames - 1, 16, 8, 8)


def test_object_memory_of_the_same_frames_is_zero(toy, sequences):
    model, config = toy
    frames, _, _ = sequences
    memory = object_memory(model, frames[:2], frames[:2].clone(), input_len=config.input_frames)
    assert np.abs(memory.delta_c).max() == 0.0


def test_at_and_peak_cells_index_as_written():
    rng = np.random.default_rng(0)
    delta_c = rng.normal(size=(2, 3, 4, 5, 6)).astype(np.float32)
    memory = ObjectMemory(delta_c=delta_c, f=np.abs(delta_c), input_len=2)
    cells = rng.integers(0, 5, size=(2, 3, 2))
    values = memory.at("delta_c", cells)
    for n in range(2):
        for t in range(3):
            np.testing.assert_array_equal(values[n, t], delta_c[n, t, :, cells[n, t, 0], cells[n, t, 1]])
            magnitude = np.abs(delta_c[n, t]).sum(0)
            assert tuple(memory.peak_cells()[n, t]) == np.unravel_index(magnitude.argmax(), magnitude.shape)
    np.testing.assert_array_equal(memory.at("f", cells), np.abs(values))


def test_the_memory_follows_the_hidden_square(toy, sequences):
    model, config = toy
    frames, without, tracks = sequences
    memory = object_memory(model, frames, without, input_len=config.input_frames)
    cells = (tracks["corners"][:, :-1] + config.object_size // 2) // model.patch_size
    hidden = tracks["visible"][:, :-1] == 0
    near = (np.abs(memory.peak_cells() - cells) <= 1).all(-1)
    assert near[hidden].mean() > 0.4  # a random cell of 64: ~14 %
    # a few channels hold (f near 1 where the square hides); clamping their f during the occlusion hurts far more
    # than clamping the three lowest
    f_hidden = memory.at("f", cells)[hidden].mean(0)
    order = np.argsort(-f_hidden)
    assert f_hidden[order[0]] > 0.9 and f_hidden[order[-1]] < 0.1
    steps = [int(t) for t in np.flatnonzero(hidden.mean(0) > 0.1)]
    base = run_surgery(model, frames, input_len=config.input_frames)

    def error(channels):
        edit = Surgery("clamp", "f", 0.0, steps=steps, channels=channels)
        out = run_surgery(model, frames, edit, input_len=config.input_frames, baseline=base)
        return float(((out.predictions.clamp(0, 1) - frames[:, config.input_frames :]) ** 2).mean())

    assert error(order[:3].tolist()) > 5 * error(order[-3:].tolist())


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("model",), TypeError, "must be a ConvLSTM"),
        (("frames",), ValueError, "tensors of one shape"),
        (("layer",), ValueError, "'layer' must be 0 … 0"),
    ],
)
def test_object_memory_refuses_bad_input(toy, sequences, args, error, message):
    model, config = toy
    frames, without, _ = sequences
    kwargs = {"model": model, "frames": frames[:2], "without": without[:2], "input_len": config.input_frames}
    if args == ("model",):
        kwargs["model"] = PredRNN(hidden_channels=[4], patch_size=2, frame_size=(16, 16))
    elif args == ("frames",):
        kwargs["without"] = without[:1]
    else:
        kwargs["layer"] = 1
    with pytest.raises(error, match=message):
        object_memory(**kwargs)
    assert isinstance(model, ConvLSTM)


def test_error_scale_base_scales_the_ladder():
    assert error_scale(3.0, base=6.25) == 6.25
    assert error_scale(13.0, base=6.25) == 25.0
    assert error_scale(4.0, current=25.0, base=6.25) == 6.25  # fits in a quarter: back down
    assert error_scale(50.0) == 100.0  # the 64 × 64 ladder is unchanged


def test_gate_surgery_on_the_toy_uses_an_axis_and_labels_of_its_size(toy, sequences):
    model, config = toy
    frames, _, _ = sequences
    view = GateSurgery(model, frames, sequences=(3, 0), input_len=config.input_frames, gate="f")
    assert view.error_base == pytest.approx(100 * 256 / 4096)
    view.value.value = 0.0
    assert view.canvas.last_error is None
    top = view.ax_err.get_ylim()[1]
    assert top in (6.25, 12.5, 25.0, 50.0)
    labels = [t.get_text() for t in view.strips["modified"].texts]
    assert len(labels) == config.output_frames
    assert all(label.startswith("MSE ") and "." in label for label in labels), labels  # one decimal on 16 × 16
