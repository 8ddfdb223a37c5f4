"""Occluder (lesson 4's toy): shapes, dtypes, determinism, the bar hides the square, constant velocity."""

from __future__ import annotations

import numpy as np
import pytest

from stlearn.data.occluder import (
    BAR_VALUE,
    OBJECT_VALUE,
    OCCLUDER_SEEDS,
    OccluderConfig,
    generate_occluder,
    occluder_sequence,
    occluder_tracks,
)
from stlearn.errors import InputError


def test_shapes_dtypes_and_values():
    frames = generate_occluder(32, "train")
    config = OccluderConfig()
    assert frames.shape == (32, config.num_frames, 16, 16) and frames.dtype == np.uint8
    assert config.num_frames == 14 and (config.input_frames, config.output_frames) == (6, 8)
    assert set(np.unique(frames)) <= {0, BAR_VALUE, OBJECT_VALUE}
    # the bar: every pixel of its columns, in every frame, is the bar's grey; nothing else is
    assert (frames[..., config.bar_columns.start : config.bar_columns.stop] == BAR_VALUE).all()
    outside = np.delete(frames, list(config.bar_columns), axis=3)
    assert not (outside == BAR_VALUE).any()


def test_same_seed_same_bytes_and_independent_of_batching():
    a = generate_occluder(8, "train")
    assert a.tobytes() == generate_occluder(8, "train").tobytes()
    assert generate_occluder(3, "train", start=5).tobytes() == a[5:].tobytes()
    assert not np.array_equal(a, generate_occluder(8, "train", seed=1))
    assert not np.array_equal(a, generate_occluder(8, "test"))
    assert len(set(OCCLUDER_SEEDS.values())) == 3


def test_the_bar_hides_the_square_and_it_comes_out_on_the_other_side():
    config = OccluderConfig()
    frames = generate_occluder(64, "test")
    tracks = occluder_tracks(64, "test")
    visible, corners = tracks["visible"], tracks["corners"]
    s = config.object_size
    for i in range(64):
        for t in range(config.num_frames):
            bright = int((frames[i, t] == OBJECT_VALUE).sum())
            c = corners[i, t, 1]
            inside = [cc for cc in range(c, c + s) if 0 <= cc < config.frame_size]
            # the square's seen pixels are exactly its columns in the frame and outside the bar
            assert bright == s * round(visible[i, t] * len(inside)), (i, t)
        hidden = np.flatnonzero(visible[i] == 0)
        assert hidden.size >= 3, "every square is fully hidden for at least 3 frames"
        assert (frames[i, hidden] == OBJECT_VALUE).sum() == 0
        # hidden in a run of frames, seen before and after it
        assert np.array_equal(hidden, np.arange(hidden[0], hidden[-1] + 1))
        assert visible[i, : hidden[0]].max() == 1.0 and visible[i, hidden[-1] + 1 :].max() == 1.0
    # the occlusion is around the end of the inputs: the square goes out of sight at most two frames after the
    # last input, is still hidden at the last input or later, and comes back while the model forecasts
    first_hidden = (visible == 0).argmax(axis=1)
    last_hidden = config.num_frames - 1 - (visible[:, ::-1] == 0).argmax(axis=1)
    assert (first_hidden <= config.input_frames + 1).all() and (last_hidden >= config.input_frames - 1).all()
    assert (first_hidden < config.input_frames).mean() > 0.4 and (last_hidden < config.num_frames - 3).all()
    assert (visible[:, config.input_frames :] == 1).any(axis=1).all()


@pytest.mark.parametrize("drifts", [(0.0,), (-0.5, 0.0, 0.5)])
def test_constant_velocity_says_where_it_reappears(drifts):
    config = OccluderConfig(drifts=drifts)
    tracks = occluder_tracks(64, "val", config=config)
    corners = tracks["corners"]
    steps = np.diff(corners[:, :, 1], axis=1)
    assert (np.abs(steps) == 1).all() and (steps == steps[:, :1]).all(), "one column per frame, one direction"
    rows = corners[:, :, 0].astype(float)
    # rows follow floor(r0 + drift·t + 0.5): a least-squares line fits them within half a pixel
    t = np.arange(rows.shape[1])
    for r in rows:
        slope, icpt = np.polyfit(t, r, 1)
        assert min(abs(slope - d) for d in drifts) < 0.05
        assert np.abs(r - (icpt + slope * t)).max() <= 0.75
    assert corners[:, :, 0].min() >= 0 and corners[:, :, 0].max() <= 13
    # the pixels agree with the tracks where the square is seen: its rows are where the track puts them
    frames = generate_occluder(64, "val", config=config)
    for i in range(0, 64, 7):
        t = int(np.flatnonzero(tracks["visible"][i] == 1)[-1])
        ys, xs = np.nonzero(frames[i, t] == OBJECT_VALUE)
        assert (ys.min(), xs.min()) == (corners[i, t, 0], max(corners[i, t, 1], 0))


def test_one_sequence_returns_frames_and_track():
    frames, corners = occluder_sequence(np.random.default_rng(0))
    assert frames.shape == (14, 16, 16) and corners.shape == (14, 2)
    both = occluder_sequence(np.random.default_rng(0))
    assert np.array_equal(both[0], frames) and np.array_equal(both[1], corners)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frame_size": 3}, "'frame_size' must be an integer ≥ 4"),
        ({"object_size": 9}, "needs a frame of at least"),
        ({"bar_start": 14}, "does not fit a frame"),
        ({"bar_width": 2}, "cannot hide a square"),
        ({"drifts": (2.0,)}, "'drifts' must list"),
        ({"drifts": ()}, "'drifts' must list"),
        ({"input_frames": 0}, "'input_frames' must be a positive integer"),
    ],
)
def test_bad_configs_raise_clear_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        OccluderConfig(**kwargs)


def test_bad_generator_arguments():
    with pytest.raises(InputError, match="'split' must be one of"):
        generate_occluder(2, "validation")
    with pytest.raises(InputError, match="'num_sequences' must be an integer ≥ 0"):
        generate_occluder(-1)
    with pytest.raises(InputError, match="'seed' must be"):
        occluder_tracks(2, seed=-3)
