"""Lesson 7's helpers: ΔC/ΔM increments, their cosines, and the two figures — against NumPy."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from stlearn.models import ConvLSTM, PredRNN, PredRNNV2
from stlearn.models.predrnn_v2 import decoupling_term
from stlearn.probe import channel_cosines, cosine_contributions, memory_increments
from stlearn.training import schedules
from stlearn.viz import cosine_histograms, sampling_mask_grid

HW, T = 8, 6


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def v2():
    torch.manual_seed(0)
    return PredRNNV2(hidden_channels=[4, 4], frame_size=(HW, HW), patch_size=2).eval()


@pytest.fixture(scope="module")
def frames():
    return torch.rand(3, T, 1, HW, HW, generator=torch.Generator().manual_seed(1))


def _np_cos(a, b):
    """Cosine over the last two axes, plain NumPy."""
    a = a.reshape(*a.shape[:-2], -1).astype(np.float64)
    b = b.reshape(*b.shape[:-2], -1).astype(np.float64)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


# --------------------------------------------------------------------------- cosines


def test_channel_cosines_match_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 3, 5, 4, 6)), rng.normal(size=(2, 3, 5, 4, 6))
    np.testing.assert_allclose(channel_cosines(a, b), _np_cos(a, b), atol=1e-12)
    np.testing.assert_allclose(channel_cosines(a, a), 1.0, atol=1e-12)
    np.testing.assert_allclose(channel_cosines(a, -2 * a), -1.0, atol=1e-12)
    assert channel_cosines(torch.from_numpy(a), torch.from_numpy(b)).shape == (2, 3, 5)


def test_cosine_contributions_are_per_pixel_products_that_sum_to_the_cosine():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 4, 6)), rng.normal(size=(5, 4, 6))
    k = cosine_contributions(a, b)
    na = np.linalg.norm(a.reshape(5, -1), axis=1)[:, None, None]
    nb = np.linalg.norm(b.reshape(5, -1), axis=1)[:, None, None]
    np.testing.assert_allclose(k, a / na * b / nb, atol=1e-12)
    np.testing.assert_allclose(k.sum(axis=(1, 2)), _np_cos(a, b), atol=1e-12)


def test_cosines_of_an_all_zero_map_are_zero_not_nan():
    a = np.zeros((2, 3, 3))
    b = np.ones((2, 3, 3))
    assert np.array_equal(channel_cosines(a, b), [0.0, 0.0])
    assert not np.isnan(cosine_contributions(a, b)).any()


def test_cosines_reject_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        channel_cosines(np.zeros((2, 3, 3)), np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="same shape"):
        cosine_contributions(np.zeros((3, 3)), np.zeros((3, 3)))
    with pytest.raises(TypeError, match="floating point"):
        channel_cosines(np.zeros((2, 3, 3), dtype=int), np.zeros((2, 3, 3), dtype=int))


# --------------------------------------------------------------------------- memory_increments


def test_raw_increments_are_the_traced_i_times_g(v2, frames):
    inc = memory_increments(v2, frames, input_len=3, adapter=False)
    assert inc.delta_c.shape == (3, T - 1, 2, 4, HW // 2, HW // 2) and inc.delta_c.dtype == np.float32
    assert not inc.adapted and inc.input_len == 3
    with torch.no_grad():
        tr = v2(frames, trace=True, input_len=3).trace
    for t, layer in [(0, 0), (2, 1), (4, 0)]:
        rec = tr[t, layer]
        np.testing.assert_allclose(inc.delta_c[:, t, layer], (rec.i * rec.g).numpy(), atol=1e-6)
        np.testing.assert_allclose(inc.delta_m[:, t, layer], (rec.i_prime * rec.g_prime).numpy(), atol=1e-6)


def test_adapted_increments_apply_the_1x1_adapter_and_reproduce_the_loss(v2, frames):
    raw = memory_increments(v2, frames, input_len=3, adapter=False)
    inc = memory_increments(v2, frames, input_len=3)
    assert inc.adapted
    w = v2.adapter.weight.detach().numpy()[:, :, 0, 0]  # (C_out, C_in)
    np.testing.assert_allclose(inc.delta_c, np.einsum("oc,nslchw->nslohw", w, raw.delta_c), atol=1e-5)
    np.testing.assert_allclose(inc.delta_m, np.einsum("oc,nslchw->nslohw", w, raw.delta_m), atol=1e-5)
    cos = np.abs(channel_cosines(inc.delta_c, inc.delta_m))  # (N, steps, layers, C)
    # one (step, layer): the model's decoupling_term on the raw increments
    with torch.no_grad():
        dc, dm = torch.from_numpy(raw.delta_c[:, 2, 1]), torch.from_numpy(raw.delta_m[:, 2, 1])
        term = decoupling_term(v2.adapter, dc, dm)
    assert cos[:, 2, 1].mean() == pytest.approx(float(term), abs=1e-5)
    # all steps and layers: the loss term of a test-time forward pass
    with torch.no_grad():
        out = v2(frames, input_len=3)
    assert cos.mean() == pytest.approx(float(out.loss_terms["decouple"]), abs=1e-5)


def test_memory_increments_takes_any_frame_layout_and_another_adapter(v2, frames):
    u8 = (frames[:, :, 0] * 255).round().to(torch.uint8)  # (N, T, H, W)
    batch = memory_increments(v2, u8.numpy(), input_len=3, adapter=False)
    one = memory_increments(v2, u8[1], input_len=3, adapter=False)  # (T, H, W)
    one_c = memory_increments(v2, u8[1, :, None], input_len=3, adapter=False)  # (T, 1, H, W)
    np.testing.assert_allclose(one.delta_c[0], batch.delta_c[1], atol=1e-6)
    np.testing.assert_array_equal(one.delta_m, one_c.delta_m)
    doubled = memory_increments(v2, frames, input_len=3, adapter=lambda x: 2 * x)
    raw = memory_increments(v2, frames, input_len=3, adapter=False)
    np.testing.assert_allclose(doubled.delta_c, 2 * raw.delta_c, atol=1e-6)
    assert v2.training is False


def test_memory_increments_restores_training_mode(frames):
    model = PredRNN(hidden_channels=[4, 4], frame_size=(HW, HW), patch_size=2).train()
    memory_increments(model, frames, input_len=3, adapter=False)
    assert model.training


def test_memory_increments_rejects_bad_input(v2, frames):
    predrnn = PredRNN(hidden_channels=[4, 4], frame_size=(HW, HW), patch_size=2)
    with pytest.raises(ValueError, match="no 'adapter'"):
        memory_increments(predrnn, frames)
    with pytest.raises(TypeError, match="'adapter' must be"):
        memory_increments(v2, frames, adapter="yes")
    with pytest.raises(ValueError, match=r"\(N, T, 1, H, W\)"):
        memory_increments(v2, torch.zeros(HW, HW))
    convlstm = ConvLSTM(hidden_channels=[4], frame_size=(HW, HW), patch_size=2)
    with pytest.raises(TypeError, match="ΔC/ΔM"):
        memory_increments(convlstm, frames, input_len=3, adapter=False)


# --------------------------------------------------------------------------- figures


def test_cosine_histograms_draw_one_normalised_histogram_per_group():
    rng = np.random.default_rng(2)
    groups = {"small": rng.uniform(-0.01, 0.01, 500), "large": torch.from_numpy(rng.uniform(-1, 1, (10, 30)))}
    fig = cosine_histograms(groups, bins=20, title="t")
    ax = fig.axes[0]
    assert len(ax.patches) == 2 and ax.get_xscale() == "log"
    for patch in ax.patches:
        assert patch.get_data().values.sum() == pytest.approx(1.0)  # every value lands in a bin (clipped at low)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[1].startswith("large: mean") and f"{np.abs(groups['large'].numpy()).mean():.3f}" in labels[1]


def test_cosine_histograms_reject_bad_input():
    with pytest.raises(ValueError, match="non-empty dict"):
        cosine_histograms({})
    with pytest.raises(ValueError, match="empty"):
        cosine_histograms({"a": []})
    with pytest.raises(ValueError, match="'low'"):
        cosine_histograms({"a": [0.1]}, low=0)


def test_sampling_mask_grid_shows_the_masks_and_their_shares():
    gen = torch.Generator().manual_seed(0)
    masks = {"early": schedules.reverse_scheduled_sampling_mask(0, 6, generator=gen), "late": np.ones((6, 18))}
    fig = sampling_mask_grid(masks, input_len=10)
    axes = fig.axes
    assert len(axes) == 2
    np.testing.assert_array_equal(axes[0].images[0].get_array(), masks["early"].numpy())
    enc = masks["early"][:, :9].mean().item()
    assert f"enc {enc:.0%}" in axes[0].get_title()
    assert "enc 100%, dec 100%" in axes[1].get_title()
    assert axes[0].lines[0].get_xdata()[0] == pytest.approx(8.5)  # between t = 9 (column 8) and t = 10


def test_sampling_mask_grid_rejects_bad_input():
    with pytest.raises(ValueError, match="non-empty dict"):
        sampling_mask_grid({})
    with pytest.raises(ValueError, match=r"\(B, T - 2\)"):
        sampling_mask_grid({"a": np.ones(18)})
    with pytest.raises(ValueError, match="only 0 and 1"):
        sampling_mask_grid({"a": np.full((2, 18), 0.5)})
    with pytest.raises(ValueError, match="same number of steps"):
        sampling_mask_grid({"a": np.ones((2, 18)), "b": np.ones((2, 8))})
    with pytest.raises(ValueError, match="input_len"):
        sampling_mask_grid({"a": np.ones((2, 18))}, input_len=30)


# --------------------------------------------------------------------------- IncrementExplorer


@pytest.fixture(scope="module")
def explorer_inputs(v2, frames):
    predrnn = PredRNN(hidden_channels=[4, 4], frame_size=(HW, HW), patch_size=2).eval()
    return {
        "PredRNN, raw": memory_increments(predrnn, frames, input_len=3, adapter=False),
        "V2, adapted": memory_increments(v2, frames, input_len=3),
    }


def test_increment_explorer_shows_the_top_channels_of_the_chosen_sample_step_layer(explorer_inputs):
    from stlearn.widgets import IncrementExplorer

    ex = IncrementExplorer(explorer_inputs, channels=3)
    assert ex.canvas.last_error is None and ex.canvas.renders == 1
    assert ex.step.value == 2  # the last input step
    ex.sample.value, ex.step.value, ex.layer.value = 2, 4, 1
    assert ex.canvas.last_error is None
    h = w = HW // 2
    for r, inc in enumerate(explorer_inputs.values()):
        dc, dm = inc.delta_c[2, 4, 1], inc.delta_m[2, 4, 1]
        cos = _np_cos(dc, dm)
        top = np.argsort(-np.abs(cos))[:3]
        mosaic = np.asarray(ex.maps[r].get_array().filled(np.nan))
        assert mosaic.shape == (h, 3 * (w + 1) - 1)
        for slot, ch in enumerate(top):
            a = dc[ch] / np.linalg.norm(dc[ch])
            b = dm[ch] / np.linalg.norm(dm[ch])
            np.testing.assert_allclose(mosaic[:, slot * (w + 1) : slot * (w + 1) + w], a * b, atol=1e-6)
            assert f"{ch} ({cos[ch]:+.2g})" in ex.row_titles[r].get_text()
        assert np.isnan(mosaic[:, w]).all()  # the gap between two maps
        assert f"mean |cos| {np.abs(cos).mean():.4f}" in ex.row_titles[r].get_text()
    # one colour scale for all rows, symmetric, covering every map
    limits = {im.get_clim() for im in ex.maps}
    assert len(limits) == 1
    low, high = limits.pop()
    assert low == -high and high >= max(np.nanmax(np.abs(im.get_array().filled(np.nan))) for im in ex.maps) - 1e-9
    assert "step 4 (reads its own prediction), layer 1" in ex.caption.get_text()
    assert ex.canvas.renders == 4


def test_increment_explorer_shows_errors_in_the_widget(explorer_inputs, monkeypatch):
    from stlearn.widgets import IncrementExplorer

    ex = IncrementExplorer(explorer_inputs)

    def broken(name):
        raise RuntimeError("no increments for this step")

    monkeypatch.setattr(ex, "kappa", broken)
    ex.step.value = 1
    assert isinstance(ex.canvas.last_error, RuntimeError)
    assert "no increments for this step" in ex.canvas.error.value
    monkeypatch.undo()
    ex.step.value = 0
    assert ex.canvas.last_error is None and ex.canvas.error.layout.display == "none"


def test_increment_explorer_rejects_bad_input(explorer_inputs, v2, frames):
    from stlearn.widgets import IncrementExplorer

    with pytest.raises(ValueError, match="non-empty dict"):
        IncrementExplorer({})
    with pytest.raises(TypeError, match="MemoryIncrements"):
        IncrementExplorer({"a": np.zeros(3)})
    other = memory_increments(v2, frames[:1], input_len=3)
    with pytest.raises(ValueError, match="same"):
        IncrementExplorer({"a": other, **explorer_inputs})
    with pytest.raises(ValueError, match="'channels'"):
        IncrementExplorer(explorer_inputs, channels=5)
