"""Deterministic training batches from the course's data generators (lesson 4).

Batch ``k`` of a run is a fixed function of ``(seed, k)``: it draws sequence indices from a pool of
``pool_size`` training sequences, generated on first use and kept in memory as uint8 (radar echoes
cost ~30 ms each to make; a pool of 4 096 64×64×20 sequences is 335 MB at most). Validation uses the
first sequences of the validation split, always the same ones.
"""

from __future__ import annotations

import hashlib
import importlib
import multiprocessing
import os
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.datasets import to_tensor
from .checkpoints import file_sha256

Generator = Callable[..., np.ndarray]

# data set name -> (module, generator function, configuration class), imported on first use
DATASETS: dict[str, tuple[str, str, str]] = {
    "moving_digits": ("stlearn.data.moving_digits", "generate_moving_digits", "MovingDigitsConfig"),
    "radar": ("stlearn.data.radar", "generate_radar", "RadarConfig"),
    "occluder": ("stlearn.data.occluder", "generate_occluder", "OccluderConfig"),
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

    def pool_path(self) -> Path:
        """The .npy file under ``cache_dir`` that holds this source's pool (named by data set, split and config)."""
        if self.cache_dir is None:
            raise ValueError("BatchSource.pool_path: this source has no cache_dir (set STLEARN_CACHE)")
        key = hashlib.sha256(repr((self.dataset, self.split, asdict(self._config))).encode()).hexdigest()[:12]
        return Path(self.cache_dir) / f"{self.dataset}_{self.split}_{self.pool_size}_{key}.npy"

    def _load_or_make_pool(self) -> None:
        """With ``cache_dir``: the whole pool, read from (or generated once into) a .npy file there."""
        if self.cache_dir is None or len(self._pool) >= self.pool_size:
            return
        path = self.pool_path()
        pool = _load_checked(path, self.pool_size) if path.is_file() else None
        if pool is None:
            pool = self.sequences(0, self.pool_size)
            _save_atomically(path, pool)
        self._pool.update({i: pool[i] for i in range(self.pool_size)})

    def batch_indices(self, k: int, batch_size: int, seed: int = 0) -> np.ndarray:
        """The pool indices of training batch ``k``: ``batch_size`` drawn without replacement by ``(seed, k)``."""
        return np.random.default_rng([seed, k]).choice(self.pool_size, size=batch_size, replace=False)

    def batch(self, k: int, batch_size: int, seed: int = 0) -> torch.Tensor:
        """Training batch ``k``: ``batch_size`` pool sequences drawn without replacement by ``(seed, k)``."""
        self._load_or_make_pool()
        idx = self.batch_indices(k, batch_size, seed)
        return to_tensor(np.stack([self.sequences(int(i), 1)[0] for i in idx]))

    def on_device(self, device: torch.device | str) -> DevicePool:
        """The whole pool as one uint8 tensor on ``device``; its batches equal :meth:`batch`'s (tested)."""
        return DevicePool(self, torch.device(device))


    def fixed_batches(self, count: int, batch_size: int) -> Iterator[torch.Tensor]:
        """The first ``count`` sequences of the split, in batches: the same every time."""
        for s in range(0, count, batch_size):
            yield to_tensor(self.sequences(s, min(batch_size, count - s)))


class DevicePool:
    """A :class:`BatchSource`'s training pool held on a device (a GPU): a batch is one gather there.

    Same batches as :meth:`BatchSource.batch` — the indices come from the same ``(seed, k)`` draw and
    the bytes convert the same way (p = value / 255) — without a host-to-device copy of every batch.
    A 4 096-sequence pool of 20 64×64 frames is 335 MB of device memory.
    """

    def __init__(self, source: BatchSource, device: torch.device) -> None:
        self.source, self.device = source, device
        pool = source.sequences(0, source.pool_size) if source.cache_dir is None else None
        if pool is None:
            source._load_or_make_pool()
            pool = np.stack([source._pool[i] for i in range(source.pool_size)])
        self.pool = torch.from_numpy(np.ascontiguousarray(pool)).to(device)  # (N, T, H, W) uint8

    def batch(self, k: int, batch_size: int, seed: int = 0) -> torch.Tensor:
        idx = torch.from_numpy(self.source.batch_indices(k, batch_size, seed)).to(self.device)
        return self.pool.index_select(0, idx).to(torch.float32).div_(255.0).unsqueeze(-3)


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


def checksum_path(pool: Path) -> Path:
    """The sha256 file written beside a cached pool (``<pool>.npy.sha256``)."""
    return pool.with_name(pool.name + ".sha256")


def _load_checked(path: Path, pool_size: int) -> np.ndarray | None:
    """A cached pool, verified against the sha256 beside it; ``None`` (with a warning) when it must be remade.

    A pool is never trained on unverified: without its checksum file, with other bytes, or not a uint8
    (pool_size, T, H, W) array, it is regenerated (the same bytes as before it was damaged).
    """
    side = checksum_path(path)
    try:
        expected = side.read_text().split()[0]
    except (OSError, IndexError):
        expected = None
    problem = None
    if expected is None:
        problem = f"has no checksum file {side.name}"
    elif file_sha256(path) != expected:
        problem = f"does not match the sha256 in {side.name} (damaged or edited)"
    else:
        try:
            pool = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as e:
            pool, problem = None, f"is unreadable ({type(e).__name__})"
        if pool is not None and (pool.dtype != np.uint8 or pool.ndim != 4 or len(pool) != pool_size):
            problem = f"holds {pool.dtype} {pool.shape}, not uint8 ({pool_size}, T, H, W)"
        if problem is None:
            return pool
    warnings.warn(f"training pool cache {path} {problem}: regenerating it", RuntimeWarning, stacklevel=3)
    return None


def _save_atomically(path: Path, array: np.ndarray) -> None:
    """Write a pool and, beside it, its sha256 (both renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, array)
    side = checksum_path(path)
    side_tmp = side.with_name(f"{side.name}.{os.getpid()}.tmp")
    side_tmp.write_text(file_sha256(tmp) + "\n")
    os.replace(tmp, path)
    os.replace(side_tmp, side)


def _generate_block(job: tuple[str, str, dict[str, Any], int, int]) -> np.ndarray:
    dataset, split, data_config, start, count = job
    return BatchSource(dataset, split, data_config).sequences(start, count)


def prepare_pool(dataset: str, data_config: dict[str, Any], cache_dir: str | Path, workers: int = 1,
                 pool_size: int = 4096) -> Path:  # fmt: skip
    """Write the training pool of ``dataset`` into ``cache_dir`` with ``workers`` processes; returns its path.

    Sequence ``i`` of a split depends only on its index, so the pool is byte-identical to the one a
    training run makes for itself (tested) — made once, in parallel, before several runs start side by
    side (``stlearn make-pools``, used by ``scripts/train_gpu.sh``). An existing pool is kept.
    """
    src = BatchSource(dataset, "train", dict(data_config), pool_size=pool_size, cache_dir=Path(cache_dir))
    path = src.pool_path()
    if path.is_file() and _load_checked(path, pool_size) is not None:
        return path
    if workers <= 1:
        src._load_or_make_pool()
        return path
    chunk = -(-pool_size // (4 * workers))
    jobs = [(dataset, "train", dict(data_config), s, min(chunk, pool_size - s)) for s in range(0, pool_size, chunk)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as ex:
        pool = np.concatenate(list(ex.map(_generate_block, jobs)))
    _save_atomically(path, pool)
    return path
