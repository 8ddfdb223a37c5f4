"""Torch datasets and loaders for moving digits and radar echoes (lesson 1).

Every item is one sequence as a float32 tensor (T, C, H, W) = (20, 1, 64, 64) with pixels in
[0, 1]; :func:`collate_sequences` stacks items into a batch (B, T, C, H, W) and
:func:`split_inputs_targets` cuts a batch into its 10 input and 10 target frames.

* :class:`MovingDigits` and :class:`RadarEchoes` generate sequence ``i`` of a split on the fly
  from the seed ``(split seed, i)``: any index, any worker, same bytes.  ``set_epoch(e)`` moves
  a training set to fresh sequences each epoch.
* :func:`load_moving_digits_test` reads the stored moving-digits test split
  (``data/moving_digits_test.npz``) and checks its sha256.
* :func:`load_radar_split` regenerates a fixed radar split (train, val or test), checks it against
  the sha256 recorded in ``data/splits.json`` and caches it under ``data/cache/`` (not in git).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..paths import data_dir
from .moving_digits import MOVING_DIGITS_SEEDS, MovingDigitsConfig, generate_moving_digits
from .radar import RADAR_SEEDS, RadarConfig, generate_radar
from .store import DataFileError, frames_sha256, load_frames, regenerate_command, save_frames, split_entry

__all__ = [
    "MOVING_DIGITS_TEST_FILE",
    "MovingDigits",
    "RadarEchoes",
    "SequenceDataset",
    "collate_sequences",
    "load_moving_digits_test",
    "load_radar_split",
    "make_loader",
    "split_inputs_targets",
    "to_tensor",
]

#: File name of the stored moving-digits test split inside ``data/``.
MOVING_DIGITS_TEST_FILE = "moving_digits_test.npz"


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 frames (..., T, H, W) in 0–255 → float32 tensor (..., T, 1, H, W) in [0, 1].

    Lesson 1 ("Spatiotemporal data") explains the (T, C, H, W) layout the models expect.
    """
    if frames.dtype != np.uint8:
        raise TypeError(f"to_tensor: expected uint8 frames, got {frames.dtype}")
    # p = value / 255, with a channel axis before (H, W)
    return torch.from_numpy(np.ascontiguousarray(frames)).to(torch.float32).div_(255.0).unsqueeze(-3)


def _check_count(where: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{where}: '{name}' must be a positive integer, got {value!r}")
    return int(value)


def _check_index(where: str, index: object, length: int) -> int:
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"{where}: index must be an integer, got {type(index).__name__}")
    i = int(index)
    if i < 0:
        i += length
    if not 0 <= i < length:
        raise IndexError(f"{where}: index {index} out of range for {length} sequences")
    return i


class SequenceDataset(Dataset):
    """A dataset over stored uint8 sequences (N, T, H, W); item ``i`` is float32 (T, 1, H, W) in [0, 1].

    Lesson 1 ("Spatiotemporal data") wraps the stored test splits in it.
    """

    def __init__(self, frames: np.ndarray, name: str = "sequences") -> None:
        if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4:
            raise ValueError(
                f"SequenceDataset: 'frames' must be a uint8 array (N, T, H, W), got "
                f"{getattr(frames, 'dtype', type(frames).__name__)} {getattr(frames, 'shape', '')}"
            )
        self.frames = frames
        self.name = name

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> torch.Tensor:
        return to_tensor(self.frames[_check_index(f"{self.name}[{index}]", index, len(self))])

    def __repr__(self) -> str:
        return f"SequenceDataset({self.name!r}, {len(self)} sequences of {self.frames.shape[1:]})"


class _Generated(Dataset):
    """Base of the on-the-fly datasets: item i is sequence ``offset + i`` of a seeded split."""

    _seeds: ClassVar[dict[str, int]] = {}

    def __init__(self, split: str, num_sequences: int, seed: int | None) -> None:
        where = type(self).__name__
        if split not in self._seeds:
            raise ValueError(f"{where}: 'split' must be one of {tuple(self._seeds)}, got {split!r}")
        self.split = split
        self.num_sequences = _check_count(where, "num_sequences", num_sequences)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"{where}: 'seed' must be a non-negative integer or None, got {seed!r}")
        self.seed = self._seeds[split] if seed is None else seed
        self.offset = 0

    def set_epoch(self, epoch: int) -> None:
        """Use sequences ``epoch·N … epoch·N + N − 1`` (fresh training data each epoch).

        Epoch 0 (the default) is sequences 0 … N − 1 of the split.
        """
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"{type(self).__name__}.set_epoch: 'epoch' must be a non-negative integer, got {epoch!r}")
        self.offset = epoch * self.num_sequences

    def __len__(self) -> int:
        return self.num_sequences

    def _generate(self, start: int) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def __getitem__(self, index: int) -> torch.Tensor:
        i = _check_index(f"{type(self).__name__}[{index}]", index, len(self))
        return to_tensor(self._generate(self.offset + i)[0])


class MovingDigits(_Generated):
    """Moving digits generated on the fly (standard Moving MNIST by default).

    Args:
        split: ``"train"`` or ``"val"`` (train digits) or ``"test"`` (held-out test digits).
        num_sequences: dataset length N.
        seed: overrides the split's documented seed (:data:`MOVING_DIGITS_SEEDS`).
        config: a :class:`MovingDigitsConfig`, or give its fields as keywords
            (``num_digits=3, canvas_size=32, digit_size=14, speed=0.1, input_frames=10, ...``).

    Item ``i`` is sequence ``i`` of :func:`generate_moving_digits` for the split, a float32 tensor
    (T, 1, H, W); with the defaults, ``MovingDigits("test", 2000)`` holds exactly the stored test
    split.  About 1 ms per item.  Lesson 1 ("Spatiotemporal data"); trained on from lesson 4.
    """

    _seeds = MOVING_DIGITS_SEEDS

    def __init__(
        self,
        split: str = "train",
        num_sequences: int = 10_000,
        *,
        seed: int | None = None,
        config: MovingDigitsConfig | None = None,
        **config_fields: Any,
    ) -> None:
        super().__init__(split, num_sequences, seed)
        if config is not None and config_fields:
            raise ValueError("MovingDigits: give either 'config' or its fields as keywords, not both")
        self.config = config or MovingDigitsConfig(**config_fields)

    def _generate(self, start: int) -> np.ndarray:
        return generate_moving_digits(1, self.split, start=start, seed=self.seed, config=self.config)

    def __repr__(self) -> str:
        return (
            f"MovingDigits(split={self.split!r}, num_sequences={self.num_sequences}, seed={self.seed}, {self.config})"
        )


class RadarEchoes(_Generated):
    """Synthetic radar echoes generated on the fly (HKO-7 pixels, dBZ = 70·p − 10).

    Args:
        split: ``"train"``, ``"val"`` or ``"test"`` (documented seeds :data:`RADAR_SEEDS`).
        num_sequences: dataset length N.
        seed: overrides the split's seed.
        config: a :class:`RadarConfig`, or its fields as keywords.

    Item ``i`` is sequence ``i`` of :func:`generate_radar` for the split (about 30 ms), a float32
    tensor (T, 1, H, W).  For the fixed, checksummed splits use :func:`load_radar_split`.
    Lesson 1 ("Spatiotemporal data") shows it; lesson 9 trains and evaluates on it.
    """

    _seeds = RADAR_SEEDS

    def __init__(
        self,
        split: str = "train",
        num_sequences: int = 10_000,
        *,
        seed: int | None = None,
        config: RadarConfig | None = None,
        **config_fields: Any,
    ) -> None:
        super().__init__(split, num_sequences, seed)
        if config is not None and config_fields:
            raise ValueError("RadarEchoes: give either 'config' or its fields as keywords, not both")
        self.config = config or RadarConfig(**config_fields)

    def _generate(self, start: int) -> np.ndarray:
        return generate_radar(1, self.split, start=start, seed=self.seed, config=self.config)

    def __repr__(self) -> str:
        return f"RadarEchoes(split={self.split!r}, num_sequences={self.num_sequences}, seed={self.seed})"


def load_moving_digits_test(directory: Path | None = None) -> SequenceDataset:
    """The stored moving-digits test split (2 000 sequences of 20 × 64 × 64), sha256-checked.

    Reads ``data/moving_digits_test.npz`` (or ``directory``); a missing, corrupted or altered
    file raises :class:`~stlearn.data.store.DataFileError` naming the file and the command that
    regenerates it (``python -m stlearn.data.make moving-digits``).  Lesson 1 and lesson 4.
    """
    folder = directory or data_dir()
    entry = split_entry("moving-digits", "test", folder)
    frames = load_frames(folder / entry["file"], entry["sha256"], "moving-digits")
    return SequenceDataset(frames, name="moving-digits test")


def load_radar_split(
    split: str = "test",
    *,
    cache: bool = True,
    directory: Path | None = None,
    progress: bool = False,
) -> SequenceDataset:
    """A fixed radar split (train 10 000, val 500 or test 1 000 sequences), sha256-checked.

    Radar frames compress poorly (~42 MB per 1 000 sequences), so only their sha256 is stored
    (``data/splits.json``): the split is regenerated (~30 ms per sequence, ~30 s for the test
    split), compared with the recorded hash, and — with ``cache=True`` — kept in
    ``data/cache/radar_<split>.npz`` (not in git) for the next call, which is then checked again.

    Lesson 9 ("Precipitation nowcasting and Table 8") evaluates every model on the test split.
    """
    folder = directory or data_dir()
    entry = split_entry("radar", split, folder)
    config = RadarConfig()
    if entry.get("config") != _jsonable(asdict(config)):
        raise DataFileError(
            f"radar split '{split}' in {folder / 'splits.json'} was made with other RadarConfig settings than the "
            f"current defaults; regenerate the registry with '{regenerate_command('radar')}'"
        )
    cache_path = folder / "cache" / f"radar_{split}.npz"
    if cache and cache_path.is_file():
        try:
            return SequenceDataset(load_frames(cache_path, entry["sha256"], "radar"), name=f"radar {split}")
        except DataFileError:
            pass  # stale or damaged cache: regenerate below
    frames = _generate_checked(entry, split, progress)
    if cache:
        try:
            save_frames(cache_path, frames)
        except OSError:
            pass  # a read-only data folder: just do not cache
    return SequenceDataset(frames, name=f"radar {split}")


def _generate_checked(entry: dict[str, Any], split: str, progress: bool) -> np.ndarray:
    n, seed = int(entry["num_sequences"]), int(entry["seed"])
    chunk = 50
    starts = range(0, n, chunk)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=f"generating radar {split}", unit_scale=chunk)
    frames = np.concatenate(
        [generate_radar(min(chunk, n - s), split, start=s, seed=seed) for s in starts], axis=0
    )
    actual = frames_sha256(frames)
    if actual != entry["sha256"]:
        raise DataFileError(
            f"the regenerated radar {split} split does not match its sha256 in splits.json (expected "
            f"{entry['sha256']}, got {actual}): the generator or its numerical libraries changed. Results are not "
            f"comparable with the recorded ones; re-record with '{regenerate_command('radar')}' if that is intended"
        )
    return frames


def _jsonable(value: Any) -> Any:
    """Tuples → lists, recursively, so a config compares equal to its JSON round trip."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def collate_sequences(batch: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stack items (T, C, H, W) into a batch (B, T, C, H, W).  Lesson 1."""
    if not batch:
        raise ValueError("collate_sequences: empty batch")
    shapes = {tuple(item.shape) for item in batch}
    if len(shapes) != 1:
        raise ValueError(f"collate_sequences: all items must have the same (T, C, H, W), got {sorted(shapes)}")
    return torch.stack(list(batch), dim=0)


def split_inputs_targets(batch: torch.Tensor, input_frames: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut (B, T, C, H, W) into inputs (B, input_frames, …) and targets (B, T − input_frames, …).

    Lesson 1 ("Spatiotemporal data"): the models see the first 10 frames and predict the next 10.
    """
    if batch.ndim != 5:
        raise ValueError(f"split_inputs_targets: 'batch' must be (B, T, C, H, W), got shape {tuple(batch.shape)}")
    if isinstance(input_frames, bool) or not isinstance(input_frames, int) or not 0 < input_frames < batch.shape[1]:
        raise ValueError(
            f"split_inputs_targets: 'input_frames' must be an integer in [1, T − 1] = [1, {batch.shape[1] - 1}], "
            f"got {input_frames!r}"
        )
    return batch[:, :input_frames], batch[:, input_frames:]


def make_loader(
    dataset: Dataset,
    batch_size: int = 16,
    *,
    shuffle: bool = False,
    num_workers: int = 0,
    seed: int = 0,
    drop_last: bool = False,
) -> DataLoader:
    """A :class:`~torch.utils.data.DataLoader` yielding batches (B, T, C, H, W).

    ``shuffle=True`` draws the order from a generator seeded with ``seed`` (reproducible).  Items
    are generated from their index, so workers (``num_workers > 0``) give the same batches.
    Lesson 1 ("Spatiotemporal data") and lesson 4 ("Training and evaluating").
    """
    batch_size = _check_count("make_loader", "batch_size", batch_size)
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"make_loader: 'num_workers' must be an integer ≥ 0, got {num_workers!r}")
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        collate_fn=collate_sequences,
        generator=generator,
        drop_last=drop_last,
    )
