"""Deterministic training batches from the course's data generators (lesson 4).

Batch ``k`` of a run is a fixed function of ``(seed, k)``: it draws sequence indices from a pool of
``pool_size`` training sequences, generated on first use and kept in memory as uint8 (radar echoes
cost ~30 ms each to make; a pool of 4 096 64×64×20 sequences is 335 MB at most). Validation uses the
first sequences of the validation split, always the same ones.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data.datasets import to_tensor

Generator = Callable[..., np.ndarray]

# data set name -> (module, generator function, configuration class), imported on first use
DATASETS: dict[str, tuple[str, str, str]] = {
    "moving_digits": ("stlearn.data.moving_digits", "generate_moving_digits", "MovingDigitsConfig"),
    "radar": ("stlearn.data.radar", "generate_radar", "RadarConfig"),
}


@dataclass
class BatchSource:
    """Sequences of one split of one data set, served as (B, T, 1, H, W) float tensors in [0, 1]."""

    dataset: str
    split: str
    data_config: dict[str, Any] = field(default_factory=dict)
    pool_size: int = 4096
    cache_dir: Path | None = None
    _pool: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown data set {self.dataset!r}; choose one of {sorted(DATASETS)}")
        module, gen_name, cfg_name = DATASETS[self.dataset]
        mod = importlib.import_module(module)
        generate, config_cls = getattr(mod, gen_name), getattr(mod, cfg_name)
        cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in self.data_config.items()}
        self._config = config_cls(**cfg)
        self._generate = generate

    def sequences(self, start: int, count: int) -> np.ndarray:
        """uint8 (count, T, H, W): sequences ``start … start+count−1`` of the split (cached)."""
        missing = [i for i in range(start, start + count) if i not in self._pool]
        # generate contiguous runs at once (one call per run of missing indices)
        runs: list[tuple[int, int]] = []
        for i in missing:
            if runs and runs[-1][0] + runs[-1][1] == i:
                runs[-1] = (runs[-1][0], runs[-1][1] + 1)
            else:
                runs.append((i, 1))
        for s, n in runs:
            block = self._generate(n, self.split, start=s, config=self._config)
            for j in range(n):
                self._pool[s + j] = block[j]
        return np.stack([self._pool[i] for i in range(start, start + count)])

    def _load_or_make_pool(self) -> None:
        """With ``cache_dir``: the whole pool, read from (or generated once into) a .npy file there."""
        if self.cache_dir is None or len(self._pool) >= self.pool_size:
            return
        key = hashlib.sha256(repr((self.dataset, self.split, asdict(self._config))).encode()).hexdigest()[:12]
        path = Path(self.cache_dir) / f"{self.dataset}_{self.split}_{self.pool_size}_{key}.npy"
        if path.is_file():
            pool = np.load(path, mmap_mode="r")
        else:
            pool = self.sequences(0, self.pool_size)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(tmp, pool)
            os.replace(tmp, path)
        self._pool.update({i: pool[i] for i in range(self.pool_size)})

    def batch(self, k: int, batch_size: int, seed: int = 0) -> torch.Tensor:
        """Training batch ``k``: ``batch_size`` pool sequences drawn without replacement by ``(seed, k)``."""
        self._load_or_make_pool()
        rng = np.random.default_rng([seed, k])
        idx = rng.choice(self.pool_size, size=batch_size, replace=False)
        return to_tensor(np.stack([self.sequences(int(i), 1)[0] for i in idx]))

    def fixed_batches(self, count: int, batch_size: int) -> Iterator[torch.Tensor]:
        """The first ``count`` sequences of the split, in batches: the same every time."""
        for s in range(0, count, batch_size):
            yield to_tensor(self.sequences(s, min(batch_size, count - s)))


def make_batch_source(dataset: str, split: str, data_config: dict[str, Any], total_len: int) -> BatchSource:
    """A :class:`BatchSource` whose sequences have ``total_len`` frames (lesson 4).

    Set the environment variable ``STLEARN_CACHE`` to a folder to keep training pools on disk
    between runs (``scripts/train_pretrained.sh`` uses ``runs/cache``).
    """
    cache = os.environ.get("STLEARN_CACHE") if split == "train" else None
    src = BatchSource(dataset, split, dict(data_config), cache_dir=Path(cache) if cache else None)
    frames = src._config.input_frames + src._config.output_frames
    if frames != total_len:
        raise ValueError(
            f"data set {dataset!r} makes {frames}-frame sequences but training needs input_len + pred_len = {total_len}"
        )
    return src
