"""Occluder: one square moving in a straight line, passing behind a fixed bar (lesson 4's toy for the gates).

A small frame (16 × 16 by default) holds a bright square (3 × 3 pixels, value 255) that moves at constant
velocity along a row: one pixel per frame to the right or to the left (``drifts`` adds a constant vertical
velocity, e.g. ``(-0.5, 0.0, 0.5)`` pixels per frame; the shipped toy model uses none). A vertical grey bar
(value 96, columns ``bar_start … bar_start + bar_width − 1``) stands in *front* of it: while the square is behind
the bar it is invisible, then it comes out on the other side, exactly where constant velocity puts it. A
forecaster that predicts the reappearance must carry the hidden square — its position and its velocity — in its
memory while its input shows nothing but the bar: the situation where the forget gate's meaning is obvious
(lesson 4, "A toy where a gate's meaning is obvious").

The timing is arranged so that the square disappears around the end of the 6 input frames and comes out during
the 8 forecast frames: its starting column is ``start_column`` plus a jitter of −1, 0 or +1 (on the mirrored side
for squares moving left). Positions are ``floor(p + 0.5)`` of float64 positions, so the frames are reproducible
byte for byte; sequence ``i`` of a split depends only on ``(seed, i)``, as for the other data sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_int
from ..errors import InputError

__all__ = [
    "BAR_VALUE",
    "OBJECT_VALUE",
    "OCCLUDER_SEEDS",
    "OccluderConfig",
    "generate_occluder",
    "occluder_sequence",
    "occluder_tracks",
]

#: Documented seeds of the occluder splits.
OCCLUDER_SEEDS = {"train": 20_261_201, "val": 20_261_202, "test": 20_261_203}
#: pixel values (uint8) of the square and of the bar in front of it; the background is 0
OBJECT_VALUE, BAR_VALUE = 255, 96


@dataclass(frozen=True)
class OccluderConfig:
    """Parameters of an occluder sequence (lesson 4).

    Attributes:
        frame_size: side of the square frame in pixels.
        object_size: side of the moving square in pixels.
        bar_start, bar_width: the bar covers columns ``bar_start … bar_start + bar_width − 1`` of every row.
        start_column: the square's left column at frame 0 (moving right; mirrored for squares moving left),
            before a jitter of −1, 0 or +1.
        drifts: the vertical velocities (pixels per frame) drawn from, uniformly (default: none, a row).
        input_frames, output_frames: lengths of the input and target parts.
    """

    frame_size: int = 16
    object_size: int = 3
    bar_start: int = 6
    bar_width: int = 5
    start_column: int = 0
    drifts: tuple[float, ...] = (0.0,)
    input_frames: int = 6
    output_frames: int = 8

    def __post_init__(self) -> None:
        where = "OccluderConfig"
        check_int(where, "frame_size", self.frame_size, 4)
        check_int(where, "object_size", self.object_size, 1)
        check_int(where, "bar_start", self.bar_start, 0)
        check_int(where, "bar_width", self.bar_width, 1)
        check_int(where, "start_column", self.start_column, 0)
        check_int(where, "input_frames", self.input_frames, 1)
        check_int(where, "output_frames", self.output_frames, 0)
        if self.object_size > self.frame_size // 2:
            raise InputError(
                f"{where}: a square of {self.object_size} pixels needs a frame of at least {2 * self.object_size}; "
                f"got frame_size={self.frame_size}"
            )
        if self.bar_start + self.bar_width > self.frame_size:
            raise InputError(
                f"{where}: the bar (columns {self.bar_start} … {self.bar_start + self.bar_width - 1}) does not fit a "
                f"frame of {self.frame_size} columns"
            )
        if self.bar_width < self.object_size:
            raise InputError(
                f"{where}: a bar of width {self.bar_width} cannot hide a square of {self.object_size} pixels; "
                "use bar_width ≥ object_size"
            )
        drifts = tuple(self.drifts)
        if not drifts or any(isinstance(d, bool) or not isinstance(d, (int, float)) or abs(d) > 1 for d in drifts):
            raise InputError(f"{where}: 'drifts' must list vertical velocities in [-1, 1], got {self.drifts!r}")
        object.__setattr__(self, "drifts", tuple(float(d) for d in drifts))

    @property
    def num_frames(self) -> int:
        """Total sequence length, ``input_frames + output_frames``."""
        return self.input_frames + self.output_frames

    @property
    def bar_columns(self) -> range:
        """The columns the bar covers."""
        return range(self.bar_start, self.bar_start + self.bar_width)


def _track(rng: np.random.Generator, config: OccluderConfig) -> np.ndarray:
    """Top-left corners (T, 2) as (row, column) integers of one square (columns may leave the frame)."""
    n, free = config.num_frames, config.frame_size - config.object_size
    direction = 1 if rng.random() < 0.5 else -1
    jitter = int(rng.integers(-1, 2))
    drift = config.drifts[int(rng.integers(0, len(config.drifts)))]
    # the rows the drift will cover must stay inside the frame: start row uniform in what is left
    span = drift * (n - 1)
    low, high = max(0.0, -span), min(float(free), free - span)
    row0 = low + rng.random() * (high - low)
    t = np.arange(n, dtype=np.float64)
    # constant velocity: column c_t = c_0 ± t, row r_t = r_0 + drift·t (rounded to whole pixels)
    col0 = config.start_column + jitter
    cols = col0 + t if direction > 0 else free - col0 - t
    rows = row0 + drift * t
    return np.stack([np.floor(rows + 0.5), np.floor(cols + 0.5)], axis=1).astype(np.int64)


def occluder_sequence(rng: np.random.Generator, config: OccluderConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One sequence: uint8 frames (T, H, W) and the square's top-left corners (T, 2) as (row, column).

    The square is drawn first (clipped at the frame's edges), the bar over it: behind the bar it is hidden.
    """
    config = config or OccluderConfig()
    corners = _track(rng, config)
    s, size = config.object_size, config.frame_size
    frames = np.zeros((config.num_frames, size, size), dtype=np.uint8)
    for t, (r, c) in enumerate(corners):
        frames[t, max(r, 0) : max(r + s, 0), max(c, 0) : max(c + s, 0)] = OBJECT_VALUE
    frames[:, :, config.bar_start : config.bar_start + config.bar_width] = BAR_VALUE  # the bar is in front
    return frames, corners


def _check_split(where: str, num_sequences: int, split: str, start: int, seed: int | None) -> int:
    check_int(where, "num_sequences", num_sequences, 0)
    check_int(where, "start", start, 0)
    if split not in OCCLUDER_SEEDS:
        raise InputError(f"{where}: 'split' must be one of {tuple(OCCLUDER_SEEDS)}, got {split!r}")
    return OCCLUDER_SEEDS[split] if seed is None else check_int(where, "seed", seed, 0)


def generate_occluder(
    num_sequences: int,
    split: str = "test",
    *,
    start: int = 0,
    seed: int | None = None,
    config: OccluderConfig | None = None,
) -> np.ndarray:
    """Sequences ``start … start + num_sequences − 1`` of an occluder split, uint8 (N, T, H, W) (lesson 4).

    Sequence ``i`` uses ``np.random.default_rng([seed, i])`` with the split's documented seed
    (:data:`OCCLUDER_SEEDS`) unless given: the same arguments give byte-identical arrays.
    """
    seed = _check_split("generate_occluder", num_sequences, split, start, seed)
    config = config or OccluderConfig()
    out = np.empty((num_sequences, config.num_frames, config.frame_size, config.frame_size), dtype=np.uint8)
    for i in range(num_sequences):
        out[i] = occluder_sequence(np.random.default_rng([seed, start + i]), config)[0]
    return out


def occluder_tracks(
    num_sequences: int,
    split: str = "test",
    *,
    start: int = 0,
    seed: int | None = None,
    config: OccluderConfig | None = None,
) -> dict[str, np.ndarray]:
    """Where the square of each sequence is, whether it is seen: what the lesson and the tests check against.

    Returns ``corners`` (N, T, 2) — the top-left (row, column) of the square, the same draws as
    :func:`generate_occluder` — and ``visible`` (N, T): the share of the square's pixels inside the frame that
    are not behind the bar (0: hidden, 1: fully seen).
    """
    seed = _check_split("occluder_tracks", num_sequences, split, start, seed)
    config = config or OccluderConfig()
    s = config.object_size
    corners = np.empty((num_sequences, config.num_frames, 2), dtype=np.int64)
    visible = np.empty((num_sequences, config.num_frames))
    bar = np.zeros(config.frame_size, dtype=bool)
    bar[config.bar_start : config.bar_start + config.bar_width] = True
    for i in range(num_sequences):
        corners[i] = _track(np.random.default_rng([seed, start + i]), config)
        for t, (_, c) in enumerate(corners[i]):
            cols = np.arange(c, c + s)
            cols = cols[(cols >= 0) & (cols < config.frame_size)]
            visible[i, t] = float((~bar[cols]).mean()) if cols.size else 0.0
    return {"corners": corners, "visible": visible}
