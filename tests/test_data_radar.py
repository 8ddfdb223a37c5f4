"""Synthetic radar echoes: configuration, determinism, recorded hashes, realism, the motion estimator."""

from __future__ import annotations

import numpy as np
import pytest

from stlearn.data import store
from stlearn.data.radar import RADAR_SEEDS, RadarConfig, generate_radar, radar_sequence
from stlearn.data.realism import echo_motion, power_spectrum, radar_realism_stats
from stlearn.reflectivity import dbz_to_pixel

ECHO_PIXEL = int(np.ceil(dbz_to_pixel(10.0) * 255.0 - 1e-9))  # the weakest echo: 10 dBZ


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    """40 validation sequences, shared by the realism tests (about 1.5 s)."""
    return generate_radar(40, "val")


@pytest.fixture(scope="module")
def stats(sample) -> dict:
    return radar_realism_stats(sample)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 63}, "'size' must be even"),
        ({"size": 0}, "'size' must be"),
        ({"input_frames": 0}, "'input_frames' must be a positive integer"),
        ({"output_frames": -1}, "'output_frames' must be an integer ≥ 0"),
        ({"pixel_km": 0.0}, "'pixel_km' must be positive"),
        ({"wind_kmh": (70.0, 15.0)}, "'wind_kmh' must be a range"),
        ({"mean_storms": -1.0}, "'mean_storms' must be ≥ 0"),
    ],
)
def test_bad_configs_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RadarConfig(**kwargs)


def test_units_of_the_default_config():
    config = RadarConfig()
    assert config.kmh_per_px_per_frame == pytest.approx(20.0)
    assert config.num_frames == 20 and config.material_size == 128


def test_bad_generator_arguments():
    with pytest.raises(ValueError, match="'num_sequences' must be an integer ≥ 0"):
        generate_radar(-3)
    with pytest.raises(ValueError, match="'split' must be one of"):
        generate_radar(1, "validation")


def test_same_seed_gives_identical_bytes_and_sequences_are_independent_of_batching():
    a = generate_radar(3, "train")
    assert a.tobytes() == generate_radar(3, "train").tobytes()
    assert generate_radar(1, "train", start=2).tobytes() == a[2:].tobytes()
    assert not np.array_equal(a[0], generate_radar(1, "test")[0])
    assert len(set(RADAR_SEEDS.values())) == 3


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_probe_hashes_of_the_recorded_splits(split):
    entry = store.split_entry("radar", split)
    probe = generate_radar(store.PROBE_SEQUENCES, split, seed=entry["seed"])
    assert store.frames_sha256(probe) == entry["probe_sha256"]


def test_frames_are_hko7_pixels(sample):
    assert sample.dtype == np.uint8 and sample.shape == (40, 20, 64, 64)
    # no echo is pixel 0 (−10 dBZ); every echo is at least 10 dBZ
    values = np.unique(sample)
    assert values[0] == 0 and values[1] >= ECHO_PIXEL


def test_small_frames_and_other_lengths():
    frames = radar_sequence(np.random.default_rng(0), RadarConfig(size=32, input_frames=5, output_frames=3))
    assert frames.shape == (8, 32, 32)


def test_thresholds_are_reached_often_enough_for_csi(stats):
    frac = stats["fraction_at_or_above"]
    assert 0.04 < frac[30.0] < 0.25
    assert 0.01 < frac[40.0] < 0.08
    assert 0.003 < frac[50.0] < 0.03
    assert stats["sequences_with_any"][50.0] > 0.6
    assert 0.3 < stats["echo_fraction"] < 0.8


def test_spectrum_is_a_steep_power_law(stats):
    assert -4.5 < stats["spectrum_slope"] < -2.5
    power = np.asarray(stats["spectrum_power"])
    assert (np.diff(power[:20]) < 0).mean() > 0.8  # mostly decreasing with wavenumber


def test_echoes_move_at_storm_speeds(stats):
    speeds = np.asarray(stats["speeds_kmh"])
    assert np.isfinite(speeds).mean() > 0.8
    assert 20.0 < np.nanmedian(speeds) < 60.0
    assert np.nanmax(speeds) < 110.0


def test_motion_estimator_recovers_a_known_shift():
    rng = np.random.default_rng(1)
    big = rng.normal(size=(128, 128))
    # smooth the pattern so that the frames look like fields, then shift by (2, −3) px per frame
    spectrum = np.fft.fft2(big) / (1.0 + np.hypot(*np.meshgrid(np.fft.fftfreq(128), np.fft.fftfreq(128))) * 40) ** 2
    field = np.real(np.fft.ifft2(spectrum))
    field = 10.0 + 30.0 * (field - field.min()) / (field.max() - field.min())
    frames = np.stack([np.roll(field, (2 * t, -3 * t), axis=(0, 1))[:64, :64] for t in range(6)])
    shift = echo_motion(frames[None])[0]
    assert shift == pytest.approx([2.0, -3.0], abs=0.25)


def test_power_spectrum_of_white_noise_is_flat():
    noise = np.random.default_rng(2).normal(size=(50, 64, 64)) * 5.0 + 30.0
    k, power = power_spectrum(noise, floor_dbz=-1e9)
    slope = np.polyfit(np.log(k[2:]), np.log(power[2:]), 1)[0]
    assert abs(slope) < 0.2


def test_realism_stats_reject_float_input():
    with pytest.raises(ValueError, match="must be uint8"):
        radar_realism_stats(np.zeros((1, 2, 8, 8)))


@pytest.mark.slow
def test_whole_test_split_regenerates_bit_for_bit():
    entry = store.split_entry("radar", "test")
    frames = generate_radar(entry["num_sequences"], "test", seed=entry["seed"])
    assert store.frames_sha256(frames) == entry["sha256"]
