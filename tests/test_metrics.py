"""Metrics: hand-counted CSI/POD/FAR, SSIM against scikit-image, properties, streaming, bootstrap, units."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from stlearn import metrics as M
from stlearn.reflectivity import ZR_A, ZR_B, dbz_to_pixel, dbz_to_rain_rate, pixel_to_dbz, rain_rate_to_dbz


def frames_from_dbz(values, dtype=torch.float32) -> torch.Tensor:
    """A (1, 1, 1, 1, N) tensor of HKO-7 pixels p = (dBZ + 10) / 70 for the given dBZ values."""
    p = (torch.tensor(values, dtype=torch.float64) + 10.0) / 70.0
    return p.to(dtype).reshape(1, 1, 1, 1, -1)


# pred and obs dBZ for 8 pixels, chosen just below, at and above the thresholds
PRED = [29.99, 30.0, 30.0, 30.01, -10.0, 50.0, 60.0, 10.0]
OBS = [30.0, 29.99, 30.0, 45.0, -10.0, 49.99, 50.0, 0.0]
#                      TP FN FP TN (counted by hand, pixel by pixel)
HAND = {30.0: (4, 1, 1, 2), 40.0: (2, 1, 0, 5), 50.0: (1, 0, 1, 6)}


# ---------------------------------------------------------------------------------------------
# CSI, POD, FAR
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_contingency_counts_match_hand_counts(dtype):
    counts = M.categorical_counts(frames_from_dbz(PRED, dtype), frames_from_dbz(OBS, dtype))
    assert counts.shape == (1, 1, 3, 4)
    for k, thr in enumerate((30.0, 40.0, 50.0)):
        assert tuple(counts[0, 0, k].tolist()) == HAND[thr], thr


def test_scores_match_hand_computed_ratios():
    scores = M.categorical_scores(frames_from_dbz(PRED), frames_from_dbz(OBS))
    assert scores["csi"][0] == pytest.approx([4 / 6, 2 / 3, 1 / 2])
    assert scores["pod"][0] == pytest.approx([4 / 5, 2 / 3, 1.0])
    assert scores["far"][0] == pytest.approx([1 / 5, 0.0, 1 / 2])
    assert scores["csi_mean"] == pytest.approx([4 / 6, 2 / 3, 1 / 2])


def test_events_compare_prediction_with_the_threshold_not_with_the_observed_mask():
    # 35 vs 31 dBZ is a hit at 30 dBZ, 29 vs 31 and 0 vs 31 are misses; comparing the predicted
    # dBZ with the boolean observed mask instead (29 ≥ True) would call 29 vs 31 a hit as well
    pred, obs = frames_from_dbz([35.0, 29.0, 0.0]), frames_from_dbz([31.0, 31.0, 31.0])
    tp, fn, fp, tn = M.categorical_counts(pred, obs, thresholds=[30])[0, 0, 0].tolist()
    assert (tp, fn, fp, tn) == (1, 2, 0, 0)


def test_pixel_exactly_at_the_threshold_counts_as_reaching_it():
    for thr in (30.0, 40.0, 50.0):
        for dtype in (torch.float32, torch.float64):
            at = (torch.tensor(thr, dtype=torch.float64) + 10.0) / 70.0
            x = at.to(dtype).reshape(1, 1, 1, 1, 1)
            assert M.categorical_counts(x, x, [thr])[0, 0, 0, 0] == 1  # TP


def test_uint8_pixels_near_the_thresholds():
    # 145/255 → 29.80 dBZ, 146/255 → 30.08 dBZ: the stored pixels fall on either side of 30 dBZ
    pred = torch.tensor([145, 146, 146], dtype=torch.float32).reshape(1, 1, 1, 1, 3) / 255
    obs = torch.tensor([146, 145, 146], dtype=torch.float32).reshape(1, 1, 1, 1, 3) / 255
    assert M.categorical_counts(pred, obs, [30])[0, 0, 0].tolist() == [1, 1, 1, 0]


def test_undefined_scores_are_nan_and_skipped_in_the_mean():
    obs = torch.zeros(1, 3, 1, 4, 4)
    pred = torch.zeros(1, 3, 1, 4, 4)
    obs[0, 1] = 1.0  # only lead 2 has events (60 dBZ everywhere)
    pred[0, 1, 0, :2] = 1.0
    scores = M.categorical_scores(pred, obs, thresholds=[50])
    assert math.isnan(scores["csi"][0, 0]) and math.isnan(scores["csi"][2, 0])
    assert scores["csi"][1, 0] == pytest.approx(0.5)
    assert scores["csi_mean"][0] == pytest.approx(0.5)  # NaN lead times skipped
    assert math.isnan(scores["far"][0, 0])  # nothing forecast: FAR undefined
    nothing = M.categorical_scores(torch.zeros(1, 2, 1, 3, 3), torch.zeros(1, 2, 1, 3, 3))
    assert np.isnan(nothing["csi_mean"]).all()


def test_scores_from_counts_checks_its_input():
    with pytest.raises(ValueError, match="last axis must hold"):
        M.scores_from_counts(np.zeros((3, 3)))


def test_threshold_arguments_are_checked():
    x = torch.zeros(1, 1, 1, 2, 2)
    with pytest.raises(ValueError, match="'thresholds' must be a non-empty sequence"):
        M.categorical_counts(x, x, [])


# ---------------------------------------------------------------------------------------------
# MSE, MAE, PSNR, SSIM
# ---------------------------------------------------------------------------------------------


def test_per_frame_and_per_pixel_conventions():
    target = torch.zeros(2, 3, 1, 8, 8)
    pred = torch.full_like(target, 0.5)
    # every pixel wrong by 0.5: per pixel 0.25, per frame 64 · 0.25 = 16
    assert M.mse_per_pixel(pred, target).item() == pytest.approx(0.25)
    assert M.mse_per_frame(pred, target).item() == pytest.approx(16.0)
    assert M.mae_per_frame(pred, target).item() == pytest.approx(32.0)
    assert M.mae_per_pixel(pred, target).item() == pytest.approx(0.5)
    assert M.mse_per_frame(pred, target, "none").shape == (2, 3)
    assert M.mse_per_frame(pred, target, "lead").shape == (3,)
    with pytest.raises(ValueError, match="'reduction' must be one of"):
        M.mse_per_frame(pred, target, "sum")


def test_psnr_values_and_cap():
    target = torch.zeros(1, 2, 1, 8, 8)
    pred = torch.full_like(target, 0.1)
    assert M.psnr(pred, target).item() == pytest.approx(20.0)  # MSE 0.01 → 20 dB
    assert M.psnr(target, target).item() == pytest.approx(100.0)  # floored MSE: 100 dB, not inf
    # the prediction is clipped to [0, 1] first
    assert M.psnr(torch.full_like(target, -3.0), target).item() == pytest.approx(100.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ssim_matches_scikit_image(seed):
    from skimage.metrics import structural_similarity

    g = torch.Generator().manual_seed(seed)
    target = torch.rand(2, 2, 1, 40, 48, generator=g, dtype=torch.float64)
    target[:, :, :, 10:30, 10:30] = 0.9  # some structure besides noise
    pred = (target + 0.3 * torch.randn(target.shape, generator=g, dtype=torch.float64)).clamp(-0.2, 1.2)
    ours = M.ssim(pred, target, "none")
    for b in range(2):
        for t in range(2):
            ref = structural_similarity(
                pred[b, t, 0].clamp(0, 1).numpy(),
                target[b, t, 0].numpy(),
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
                data_range=1.0,
            )
            assert ours[b, t].item() == pytest.approx(ref, abs=1e-10)


def test_ssim_of_identical_frames_is_one_and_channels_are_averaged():
    x = torch.rand(1, 2, 3, 16, 16)
    assert torch.allclose(M.ssim(x, x, "none"), torch.ones(1, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="smaller than the 11×11 window"):
        M.ssim(torch.rand(1, 1, 1, 8, 8), torch.rand(1, 1, 1, 8, 8))


def test_argument_errors_are_clear():
    x = torch.zeros(2, 3, 1, 8, 8)
    with pytest.raises(ValueError, match="5 dimensions \\(B, T, C, H, W\\)"):
        M.mse_per_frame(x[0], x[0])
    with pytest.raises(ValueError, match="same shape"):
        M.mse_per_frame(x, x[:, :2])
    with pytest.raises(TypeError, match="floating-point pixels"):
        M.mse_per_frame(x.to(torch.uint8), x)
    with pytest.raises(TypeError, match=r"torch\.Tensor or numpy array"):
        M.mse_per_frame([1.0], x)
    assert M.mse_per_frame(np.zeros((1, 1, 1, 2, 2)), np.ones((1, 1, 1, 2, 2))).item() == pytest.approx(4.0)


# ---------------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------------

unit = st.floats(0.0, 1.0, allow_nan=False, width=32)


def frame_pairs(max_side: int = 6):
    side = st.integers(1, max_side)
    shapes = st.tuples(st.integers(1, 3), st.integers(1, 3), st.just(1), side, side)
    return shapes.flatmap(
        lambda s: st.tuples(arrays(np.float32, s, elements=unit), arrays(np.float32, s, elements=unit))
    )


@settings(max_examples=60, deadline=None)
@given(frame_pairs())
def test_mse_is_nonnegative_and_zero_only_for_equal_frames(pair):
    pred, target = (torch.from_numpy(a) for a in pair)
    per_frame = M.mse_per_frame(pred, target, "none")
    assert (per_frame >= 0).all()
    assert torch.equal(per_frame == 0, (pred == target).flatten(2).all(dim=2))
    pixels = pred.shape[2] * pred.shape[3] * pred.shape[4]
    assert torch.allclose(per_frame, M.mse_per_pixel(pred, target, "none") * pixels, rtol=1e-5, atol=1e-6)
    assert M.mae_per_frame(pred, target).item() >= 0


@settings(max_examples=60, deadline=None)
@given(frame_pairs())
def test_categorical_scores_lie_in_the_unit_interval(pair):
    scores = M.categorical_scores(torch.from_numpy(pair[0]), torch.from_numpy(pair[1]))
    for name in ("csi", "pod", "far"):
        values = scores[name][~np.isnan(scores[name])]
        assert ((values >= 0) & (values <= 1)).all()
    counts = M.categorical_counts(torch.from_numpy(pair[0]), torch.from_numpy(pair[1]))
    assert (counts.sum(dim=-1) == pair[0][0, 0].size).all()  # TP + FN + FP + TN = pixels


@settings(max_examples=40, deadline=None)
@given(frame_pairs(), st.integers(1, 2))
def test_streaming_over_batches_equals_all_at_once(pair, cut):
    pred, target = (torch.from_numpy(a) for a in pair)
    cut = min(cut, pred.shape[0])
    whole = M.MetricAccumulator(ssim=False)
    whole.update(pred, target)
    parts = M.MetricAccumulator(ssim=False)
    parts.update(pred[:cut], target[:cut])
    if cut < pred.shape[0]:
        parts.update(pred[cut:], target[cut:])
    a, b = whole.compute(), parts.compute()
    for name in ("mse_frame", "mae_frame", "mse_pixel", "psnr"):
        assert np.allclose(getattr(a, name), getattr(b, name))
    for name in ("csi", "pod", "far"):
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True)


def test_accumulator_matches_the_batch_functions():
    g = torch.Generator().manual_seed(4)
    pred, target = torch.rand(6, 4, 1, 16, 16, generator=g), torch.rand(6, 4, 1, 16, 16, generator=g)
    acc = M.MetricAccumulator()
    for i in range(0, 6, 4):
        acc.update(pred[i : i + 4], target[i : i + 4])
    report = acc.compute()
    assert report.num_sequences == 6 and report.pixels_per_frame == 256
    assert np.allclose(report.mse_frame, M.mse_per_frame(pred, target, "lead").numpy())
    assert np.allclose(report.ssim, M.ssim(pred, target, "lead").numpy())
    assert np.allclose(report.csi, M.categorical_scores(pred, target)["csi"], equal_nan=True)
    summary = report.summary()
    assert summary["mse_frame"] == pytest.approx(M.mse_per_frame(pred, target).item(), rel=1e-6)
    assert set(summary) >= {"mse_frame", "mse_pixel", "ssim", "psnr", "csi_30", "pod_40", "far_50"}
    with pytest.raises(ValueError, match="same \\(T, C, H, W\\)"):
        acc.update(pred[:, :3], target[:, :3])
    with pytest.raises(ValueError, match="no batches yet"):
        M.MetricAccumulator().compute()


# ---------------------------------------------------------------------------------------------
# bootstrap and tables
# ---------------------------------------------------------------------------------------------


def test_bootstrap_intervals_bracket_the_estimate_and_are_reproducible():
    g = torch.Generator().manual_seed(5)
    target = torch.rand(40, 3, 1, 12, 12, generator=g)
    pred = (target + 0.2 * torch.randn(target.shape, generator=g)).clamp(0, 1)
    acc = M.MetricAccumulator(ssim=True)
    acc.update(pred, target)
    boot = acc.bootstrap(n_boot=300, seed=1)
    assert boot == acc.bootstrap(n_boot=300, seed=1)
    for name, (value, low, high) in boot.items():
        assert low <= value <= high, name
    assert boot["mse_frame"][0] == pytest.approx(acc.compute().summary()["mse_frame"])
    with pytest.raises(ValueError, match="'level' must be in"):
        acc.bootstrap(level=95)


def test_bootstrap_of_identical_sequences_has_zero_width():
    seq = torch.rand(1, 2, 1, 12, 12)
    acc = M.MetricAccumulator(thresholds=None, psnr=False)
    acc.update(seq.repeat(10, 1, 1, 1, 1), (seq * 0.5).repeat(10, 1, 1, 1, 1))
    value, low, high = acc.bootstrap(n_boot=50)["mse_frame"]
    assert low == pytest.approx(value) and high == pytest.approx(value)


def test_paired_bootstrap_sees_small_differences_between_models():
    g = torch.Generator().manual_seed(8)
    # sequences of very different difficulty: the separate intervals are wide
    scale = torch.linspace(0.05, 0.5, 60).reshape(60, 1, 1, 1, 1)
    target = torch.rand(60, 3, 1, 12, 12, generator=g)
    noise = torch.randn(target.shape, generator=g)
    better, worse = M.MetricAccumulator(ssim=False), M.MetricAccumulator(ssim=False)
    better.update(target + scale * noise, target)
    worse.update(target + 1.05 * scale * noise, target)
    diff = M.paired_bootstrap(worse, better, n_boot=400)
    value, low, _ = diff["mse_frame"]
    assert value > 0 and low > 0  # the 5 % worse model is worse beyond sampling noise
    low_worse = worse.bootstrap(n_boot=400)["mse_frame"][1]
    high_better = better.bootstrap(n_boot=400)["mse_frame"][2]
    assert low_worse < high_better  # ... although the separate intervals overlap
    same = M.paired_bootstrap(better, better, n_boot=50)["csi_30"]
    assert same == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="same number of sequences"):
        short = M.MetricAccumulator(ssim=False)
        short.update(target[:5], target[:5])
        M.paired_bootstrap(short, better)


def test_format_table_states_the_conventions():
    g = torch.Generator().manual_seed(6)
    pred, target = torch.rand(3, 2, 1, 16, 16, generator=g), torch.rand(3, 2, 1, 16, 16, generator=g)
    acc = M.MetricAccumulator()
    acc.update(pred, target)
    text = M.format_table({"random": acc.compute(), "random (95 %)": acc.bootstrap(n_boot=50)})
    assert "| model | MSE/frame | CSI-30 | CSI-40 | CSI-50 |" in text
    assert "sum of squared/absolute errors over the pixels of a frame (256 pixels)" in text
    assert "averaged over lead times" in text and "bootstrap interval" in text
    assert "[" in text.splitlines()[3]


def test_persistence_repeats_the_last_input_frame():
    inputs = torch.rand(2, 10, 1, 8, 8)
    forecast = M.persistence_forecast(inputs, 4)
    assert forecast.shape == (2, 4, 1, 8, 8)
    assert torch.equal(forecast[:, 3], inputs[:, -1])
    with pytest.raises(ValueError, match="'output_frames' must be a positive integer"):
        M.persistence_forecast(inputs, 0)


# ---------------------------------------------------------------------------------------------
# radar units
# ---------------------------------------------------------------------------------------------


def test_pixel_dbz_conversions():
    assert pixel_to_dbz(0.0) == -10.0 and pixel_to_dbz(1.0) == 60.0
    p = np.linspace(0, 1, 11)
    assert np.allclose(dbz_to_pixel(pixel_to_dbz(p)), p)
    t = torch.tensor([0.0, 0.5])
    assert torch.allclose(pixel_to_dbz(t), torch.tensor([-10.0, 25.0]))


def test_rain_rate_follows_the_z_r_relation():
    # Z = a R^b: R = 1 mm/h is 10·log10(58.53) ≈ 17.67 dBZ
    assert rain_rate_to_dbz(1.0) == pytest.approx(10 * math.log10(ZR_A))
    for dbz in (20.0, 30.0, 45.0):
        rate = dbz_to_rain_rate(dbz)
        assert 10 * math.log10(ZR_A * rate**ZR_B) == pytest.approx(dbz)
        assert rain_rate_to_dbz(rate) == pytest.approx(dbz)
    assert dbz_to_rain_rate(30.0) == pytest.approx(6.17, abs=0.01)
    rates = dbz_to_rain_rate(torch.tensor([30.0, 40.0]))
    assert isinstance(rates, torch.Tensor) and rates[1] > rates[0]
    assert np.isneginf(rain_rate_to_dbz(np.array([0.0])))[0]
