"""Moving digits: the standard Moving MNIST generator on real MNIST digits (lesson 1).

The standard recipe (Srivastava et al., 2015, used by ConvLSTM and PredRNN): a 64×64 canvas,
2 digits of 28×28 pixels, each starting at a random position and moving in a random direction at
a speed of 0.1 of the free range per frame (the free range is 64 − 28 = 36 pixels, so ≈3.6 px per
frame), bouncing off the edges; where digits overlap the brighter pixel wins (pixel-wise max);
10 input frames are followed by 10 target frames.  As in the original code the first frame is
drawn after one step and a digit that crosses an edge is put back on it with that velocity
component reversed; positions are truncated to whole pixels.

Every sequence is generated from its own seed ``(seed, index)``, so sequence ``i`` of a split is
the same whether it is made alone, in a batch, in a data loader worker or read from the stored
test split (``data/moving_digits_test.npz``).  All the arithmetic after the random draws is on
small integers or on a handful of float64 positions, which makes the bytes reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .._checks import check_int
from .mnist import DIGIT_SIZE, load_mnist_digits

__all__ = [
    "MOVING_DIGITS_SEEDS",
    "MovingDigitsConfig",
    "generate_moving_digits",
    "moving_digits_sequence",
    "resize_digits",
]

#: Documented seeds of the moving-digits splits; train and val draw from the train digits,
#: test from the held-out test digits (see :func:`stlearn.data.load_mnist_digits`).
MOVING_DIGITS_SEEDS = {"train": 20_240_101, "val": 20_240_102, "test": 20_240_103}
_DIGIT_POOL = {"train": "train", "val": "train", "test": "test"}


@dataclass(frozen=True)
class MovingDigitsConfig:
    """Parameters of a moving-digits sequence (the defaults are the standard Moving MNIST).

    Attributes:
        num_digits: digits per sequence (standard: 2).
        canvas_size: side of the square canvas in pixels, even (standard: 64).
        digit_size: side of a digit in pixels (MNIST: 28; other sizes are resampled by area).
        speed: step per frame as a fraction of the free range ``canvas_size - digit_size``
            (standard: 0.1, i.e. 3.6 px per frame on 64×64).
        input_frames, output_frames: lengths of the input and target parts (standard: 10 + 10).

    Lesson 1 ("Spatiotemporal data") varies these to show what the models must learn.
    """

    num_digits: int = 2
    canvas_size: int = 64
    digit_size: int = DIGIT_SIZE
    speed: float = 0.1
    input_frames: int = 10
    output_frames: int = 10

    def __post_init__(self) -> None:
        where = "MovingDigitsConfig"
        check_int(where, "num_digits", self.num_digits, 1)
        check_int(where, "canvas_size", self.canvas_size, 2)
        check_int(where, "digit_size", self.digit_size, 1)
        check_int(where, "input_frames", self.input_frames, 1)
        check_int(where, "output_frames", self.output_frames, 0)
        if self.canvas_size % 2:
            raise ValueError(
                f"{where}: 'canvas_size' must be even (the models halve frames and cut them into 2×2 or 4×4 patches), "
                f"got {self.canvas_size}"
            )
        if self.digit_size > self.canvas_size:
            raise ValueError(
                f"{where}: digits of {self.digit_size}×{self.digit_size} pixels do not fit on a "
                f"{self.canvas_size}×{self.canvas_size} canvas; use canvas_size ≥ digit_size (or a smaller digit_size)"
            )
        if isinstance(self.speed, bool) or not isinstance(self.speed, (int, float)) or not 0 <= self.speed <= 1:
            raise ValueError(
                f"{where}: 'speed' must be a number in [0, 1] (a fraction of the free range), got {self.speed!r}"
            )

    @property
    def num_frames(self) -> int:
        """Total sequence length, ``input_frames + output_frames``."""
        return self.input_frames + self.output_frames

    @property
    def pixels_per_frame(self) -> float:
        """Speed in pixels per frame: ``speed · (canvas_size − digit_size)``."""
        return self.speed * (self.canvas_size - self.digit_size)


def resize_digits(images: np.ndarray, size: int) -> np.ndarray:
    """Resample uint8 digit images (N, 28, 28) to (N, size, size) by area averaging.

    Each output pixel averages the input area it covers (exact for 28 → 14 or 7), so strokes keep
    their brightness.  Lesson 1 uses small digits on small canvases for CPU-friendly demos.
    """
    size = check_int("resize_digits", "size", size, 1)
    src = images.shape[-1]
    if size == src:
        return images
    # W[i, j] = |[i·s, (i+1)·s) ∩ [j, j+1)| / s with s = src/size: share of input pixel j in output pixel i
    edges = np.arange(size + 1, dtype=np.float64) * (src / size)
    lo = np.maximum(edges[:-1, None], np.arange(src)[None, :])
    hi = np.minimum(edges[1:, None], np.arange(src)[None, :] + 1)
    weights = np.clip(hi - lo, 0.0, None) / (src / size)
    out = weights @ images.astype(np.float64) @ weights.T
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


def _trajectories(rng: np.random.Generator, config: MovingDigitsConfig) -> np.ndarray:
    """Top-left corners (T, num_digits, 2) as (row, column) integers for one sequence."""
    n = config.num_digits
    free = config.canvas_size - config.digit_size
    position = rng.random((n, 2))  # (y, x) as fractions of the free range
    theta = rng.random(n) * (2.0 * math.pi)
    # v = speed · (sin θ, cos θ): a unit direction scaled to a step in free-range units
    velocity = config.speed * np.stack([np.sin(theta), np.cos(theta)], axis=1)
    corners = np.empty((config.num_frames, n, 2), dtype=np.int64)
    for t in range(config.num_frames):
        position += velocity
        # bounce: a digit that leaves [0, 1] is put back on the edge with that component reversed
        low, high = position <= 0.0, position >= 1.0
        position[low], position[high] = 0.0, 1.0
        velocity[low | high] *= -1.0
        corners[t] = (position * free).astype(np.int64)
    return corners


def moving_digits_sequence(
    rng: np.random.Generator, digits: np.ndarray, config: MovingDigitsConfig | None = None
) -> np.ndarray:
    """One moving-digits sequence as uint8 frames (T, H, W) in 0–255 (divide by 255 for [0, 1]).

    Args:
        rng: the random generator; it draws the start positions, directions and then the digits.
        digits: pool of uint8 digit images (N, d, d) with ``d = config.digit_size``.
        config: the parameters (default: standard Moving MNIST).

    Lesson 1 ("Spatiotemporal data") calls it to make a sequence step by step.
    """
    config = config or MovingDigitsConfig()
    if digits.ndim != 3 or digits.shape[1:] != (config.digit_size, config.digit_size) or digits.dtype != np.uint8:
        raise ValueError(
            f"moving_digits_sequence: 'digits' must be uint8 (N, {config.digit_size}, {config.digit_size}), "
            f"got {digits.dtype} {digits.shape}"
        )
    corners = _trajectories(rng, config)
    chosen = digits[rng.integers(0, len(digits), size=config.num_digits)]
    d = config.digit_size
    frames = np.zeros((config.num_frames, config.canvas_size, config.canvas_size), dtype=np.uint8)
    for t in range(config.num_frames):
        for k in range(config.num_digits):
            y, x = corners[t, k]
            # overlap: the brighter digit wins, frame = max(frame, digit)
            np.maximum(frames[t, y : y + d, x : x + d], chosen[k], out=frames[t, y : y + d, x : x + d])
    return frames


@lru_cache(maxsize=4)
def _digit_pool(split: str, size: int) -> np.ndarray:
    """The split's digits at the requested size (resampled once, then cached, read-only)."""
    digits = resize_digits(load_mnist_digits(split)[0], size)
    digits.setflags(write=False)
    return digits


def generate_moving_digits(
    num_sequences: int,
    split: str = "test",
    *,
    start: int = 0,
    seed: int | None = None,
    config: MovingDigitsConfig | None = None,
) -> np.ndarray:
    """Sequences ``start .. start + num_sequences − 1`` of a moving-digits split, uint8 (N, T, H, W).

    Sequence ``i`` uses ``np.random.default_rng([seed, i])`` with ``seed`` the split's documented
    seed (:data:`MOVING_DIGITS_SEEDS`) unless given, and digits from the split's digit pool
    (train/val: train digits, test: test digits).  The same arguments give byte-identical arrays;
    with the defaults and ``split="test"`` the first 1 000 sequences are the stored test split.

    Lesson 1 ("Spatiotemporal data") and :class:`stlearn.data.MovingDigits` use it.
    """
    where = "generate_moving_digits"
    num_sequences = check_int(where, "num_sequences", num_sequences, 0)
    start = check_int(where, "start", start, 0)
    if split not in MOVING_DIGITS_SEEDS:
        raise ValueError(f"{where}: 'split' must be one of {tuple(MOVING_DIGITS_SEEDS)}, got {split!r}")
    seed = MOVING_DIGITS_SEEDS[split] if seed is None else check_int(where, "seed", seed, 0)
    config = config or MovingDigitsConfig()
    digits = _digit_pool(_DIGIT_POOL[split], config.digit_size)
    out = np.empty((num_sequences, config.num_frames, config.canvas_size, config.canvas_size), dtype=np.uint8)
    for i in range(num_sequences):
        out[i] = moving_digits_sequence(np.random.default_rng([seed, start + i]), digits, config)
    return out
