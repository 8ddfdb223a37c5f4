"""Input-gradient influence maps (lesson 10): against finite differences, the exact receptive field, the widget."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stlearn.connectivity import Influence, InfluenceProbe, convlstm_lead1_reach, influence_map
from stlearn.errors import InputError, InputTypeError
from stlearn.models import build_model


def _tiny(name: str, size: int = 8, patch: int = 2, hidden=(4,), kernel: int = 3, seed: int = 0):
    torch.manual_seed(seed)
    cfg = {"in_channels": 1, "frame_size": [size, size], "patch_size": patch, "hidden_channels": list(hidden),
           "kernel_size": kernel}  # fmt: skip
    if name == "trajgru":
        cfg["links"] = 3
    return build_model(name, **cfg).double().eval()


def _frames(t: int, size: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, t, 1, size, size, generator=g, dtype=torch.float64)


def _pixel(model, frames, input_len, lead, row, col, inputs):
    full = torch.cat([inputs, frames[:, input_len : input_len + lead]], dim=1)
    with torch.no_grad():
        return float(model(full, input_len=input_len).predictions[0, lead - 1, 0, row, col])


@pytest.mark.parametrize("name", ["convlstm", "predrnn", "trajgru"])
def test_gradient_map_equals_finite_differences(name):
    model = _tiny(name, hidden=(4, 4) if name != "convlstm" else (4,))
    frames = _frames(7, 8)
    input_len, lead, row, col = 4, 2, 3, 5
    inf = influence_map(model, frames, lead, row, col, input_len=input_len)
    assert inf.maps.shape == (input_len, 8, 8)
    eps = 1e-6
    base = frames[:, :input_len]
    fd = np.zeros((input_len, 8, 8))
    for s in range(input_len):
        for u in range(8):
            for v in range(8):
                plus, minus = base.clone(), base.clone()
                plus[0, s, 0, u, v] += eps
                minus[0, s, 0, u, v] -= eps
                fd[s, u, v] = (_pixel(model, frames, input_len, lead, row, col, plus)
                               - _pixel(model, frames, input_len, lead, row, col, minus)) / (2 * eps)  # fmt: skip
    np.testing.assert_allclose(inf.maps, np.abs(fd), rtol=1e-5, atol=1e-9)
    assert inf.value == pytest.approx(_pixel(model, frames, input_len, lead, row, col, base))


@pytest.mark.parametrize("kernel", [3, 5])
def test_lead1_influence_stays_inside_the_exact_receptive_field(kernel):
    size, input_len = 40, 5
    model = _tiny("convlstm", size=size, patch=1, hidden=(3,), kernel=kernel, seed=2)
    frames = _frames(input_len + 1, size, seed=3)
    row, col = 20, 17
    inf = influence_map(model, frames, 1, row, col, input_len=input_len)
    reach = convlstm_lead1_reach(1, kernel, input_len)
    r = (kernel - 1) // 2
    assert reach.tolist() == [r * (input_len - s) for s in range(input_len)]
    yy, xx = np.mgrid[0:size, 0:size]
    cheb = np.maximum(np.abs(yy - row), np.abs(xx - col))
    for s in range(input_len):
        nonzero = inf.maps[s] > 0
        assert not nonzero[cheb > reach[s]].any(), f"frame {s}: influence outside the receptive field {reach[s]}"
        assert cheb[nonzero].max() == reach[s], f"frame {s}: the receptive field's edge {reach[s]} is not reached"


def test_two_layer_patched_reach_in_pixels():
    # 2 layers, patch 2: frame s reaches r·(lag + 2) cells; in pixels, the cells of the pixel's block ± reach
    size, input_len, patch = 32, 3, 2
    model = _tiny("convlstm", size=size, patch=patch, hidden=(2, 2), kernel=3, seed=4)
    inf = influence_map(model, _frames(input_len + 1, size, seed=5), 1, 15, 16, input_len=input_len)
    reach = convlstm_lead1_reach(2, 3, input_len)
    yy, xx = np.mgrid[0:size, 0:size] // patch
    cheb = np.maximum(np.abs(yy - 15 // patch), np.abs(xx - 16 // patch))
    for s in range(input_len):
        nonzero = inf.maps[s] > 0
        assert cheb[nonzero].max() == reach[s]


def test_probe_reuses_the_forward_pass_and_leaves_the_model_alone():
    model = _tiny("predrnn", hidden=(4, 4))
    flags = [p.requires_grad for p in model.parameters()]
    probe = InfluenceProbe(model, _frames(6, 8)[0], input_len=3)
    a = probe(2, 1, 1)
    b = probe(2, 6, 7)
    assert (probe.forwards, probe.backwards) == (1, 2)
    probe(3, 0, 0)  # another lead time: the same forward pass (every step's head output is kept)
    assert (probe.forwards, probe.backwards) == (1, 3)
    assert not np.array_equal(a.maps, b.maps)
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())


def test_influence_numbers_on_a_handmade_map():
    maps = np.zeros((4, 9, 9))
    maps[3, 4, 4] = 6.0  # last frame, at the pixel
    maps[2, 4, 7] = 3.0  # one frame back, 3 px away
    maps[0, 0, 4] = 1.0  # first frame, 4 px away
    inf = Influence(maps, lead=1, row=4, col=4, value=0.5)
    np.testing.assert_allclose(inf.frame_shares(), [0.1, 0.0, 0.3, 0.6])
    assert inf.share_last(1) == pytest.approx(0.6)
    assert inf.share_last(2) == pytest.approx(0.9)
    assert inf.radius(0.6) == 0.0
    assert inf.radius(0.9) == 3.0
    assert inf.radius(1.0) == 4.0
    assert inf.mean_lag() == pytest.approx(0.3 * 1 + 0.1 * 3)
    with pytest.raises(InputError, match="k"):
        inf.share_last(5)
    with pytest.raises(InputError, match="share"):
        inf.radius(0.0)


def test_trajgru_runs_the_rollout_up_to_each_lead():
    probe = InfluenceProbe(_tiny("trajgru", hidden=(4, 4)), _frames(6, 8), input_len=3)
    probe(1, 2, 2)
    probe(1, 3, 3)
    probe(2, 3, 3)
    assert (probe.forwards, probe.backwards) == (2, 3)


def test_bad_input_is_refused_with_what_was_expected():
    model = _tiny("convlstm")
    probe = InfluenceProbe(model, _frames(6, 8), input_len=3)
    with pytest.raises(InputError, match=r"'lead' must be an integer in 1 … 3"):
        probe(4, 0, 0)
    with pytest.raises(InputError, match=r"'row' must be an integer in 0 … 7"):
        probe(1, 8, 0)
    with pytest.raises(InputError, match="one sequence"):
        InfluenceProbe(model, torch.zeros(2, 6, 1, 8, 8, dtype=torch.float64))
    with pytest.raises(InputError, match="input_len"):
        InfluenceProbe(model, _frames(6, 8), input_len=6)
    with pytest.raises(InputTypeError, match="stlearn.models"):
        InfluenceProbe(torch.nn.Linear(2, 2), _frames(6, 8))
    with pytest.raises(InputError, match="kernel_size"):
        convlstm_lead1_reach(1, 4, 3)


def test_widget_builds_and_updates_headless():
    from stlearn.widgets import ConnectivityExplorer

    models = {"ConvLSTM": _tiny("convlstm", size=16).float(),
              "PredRNN": _tiny("predrnn", size=16, hidden=(4, 4)).float()}
    frames = torch.rand(2, 6, 1, 16, 16)
    view = ConnectivityExplorer(models, frames, sequences=[0, 1], input_len=3)
    assert view.canvas.last_error is None and view.canvas.renders == 1
    first = view.canvas.image.value
    view.col.value = (view.col.value + 5) % 16
    assert view.canvas.last_error is None and view.canvas.image.value != first
    assert {inf.col for inf in view.influences.values()} == {view.col.value}
    assert "ConvLSTM" in view.readout.value and "90 %" in view.readout.value
    expected = influence_map(models["PredRNN"], frames[0], 1, view.row.value, view.col.value, input_len=3)
    np.testing.assert_allclose(view.influences["PredRNN"].maps, expected.maps, rtol=1e-5, atol=1e-9)
    view.lead.value = 3
    assert view.canvas.last_error is None and {i.lead for i in view.influences.values()} == {3}
    assert all(p.forwards == 1 for p in view._probes.values())  # a lead change reuses the kept forward pass
    view.sequence.value = 1
    assert view.canvas.last_error is None and len(view._probes) == 4
    with pytest.raises(InputError, match="sequence 5 does not exist"):
        ConnectivityExplorer(models, frames, sequences=[5], input_len=3)
    with pytest.raises(InputError, match="'models'"):
        ConnectivityExplorer({}, frames)
