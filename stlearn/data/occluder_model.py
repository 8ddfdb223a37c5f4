"""The occluder toy's shipped ConvLSTM: where it lives, how it is loaded, how it was made (lesson 4).

``configs/toy/occluder/convlstm.toml`` is the whole recipe: a 1-layer ConvLSTM of 16 channels on 2 × 2 patches
of the 16 × 16 occluder frames (:mod:`stlearn.data.occluder`), trained by the course's own loop
(:func:`stlearn.training.train`, ``stlearn train``) for 600 iterations of batch 16 on one CPU thread, seeded.

``python -m stlearn.data.occluder_model`` trains it again into ``data/checkpoints/occluder/convlstm.pt`` (weights
only, the safe checkpoint format of :mod:`stlearn.training.checkpoints`) and records the file in
``data/manifest.json``; ``--out PATH`` trains into another file and ships nothing.
"""

from __future__ import annotations

import argparse
import tempfile
from functools import lru_cache
from pathlib import Path

import torch

from ..paths import data_dir

__all__ = ["CONFIG", "load_occluder_model", "occluder_checkpoint_path", "occluder_data_config", "train_occluder_model"]

#: the committed recipe of the shipped toy model
CONFIG = Path(__file__).resolve().parents[2] / "configs" / "toy" / "occluder" / "convlstm.toml"


def occluder_checkpoint_path() -> Path:
    """``data/checkpoints/occluder/convlstm.pt``: the shipped toy model."""
    return data_dir() / "checkpoints" / "occluder" / "convlstm.pt"


@lru_cache(maxsize=2)
def _load(path: str) -> tuple[torch.nn.Module, object]:
    from ..training.checkpoints import load_checkpoint
    from ..training.pretrained import model_from_checkpoint

    ck = load_checkpoint(path, expect_model="convlstm")
    return model_from_checkpoint(ck, path), ck


def load_occluder_model(path: str | Path | None = None) -> torch.nn.Module:
    """The shipped occluder ConvLSTM (eval mode, CPU; cached), or the one in ``path`` (lesson 4)."""
    return _load(str(path or occluder_checkpoint_path()))[0]


def occluder_info(path: str | Path | None = None):
    """The checkpoint record of the toy model: training configuration, iterations, seconds, validation scores."""
    return _load(str(path or occluder_checkpoint_path()))[1]


def occluder_data_config(path: str | Path | None = None):
    """The :class:`~stlearn.data.occluder.OccluderConfig` the toy model was trained on (from its checkpoint)."""
    from .occluder import OccluderConfig

    raw = occluder_info(path).data.get("config", {})
    return OccluderConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


def train_occluder_model(out: str | Path, config: str | Path = CONFIG, progress: bool = False) -> Path:
    """Train the toy model from its configuration into ``out`` (weights and record only, no optimizer state)."""
    from ..training import train
    from ..training.checkpoints import load_checkpoint, save_checkpoint
    from ..training.config import load_config

    cfg = load_config(config)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "convlstm.pt"
        train(cfg, run, progress=progress)
        ck = load_checkpoint(run)
    ck.optimizer, ck.rng = None, None
    return save_checkpoint(ck, out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stlearn.data.occluder_model", description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="train into this file instead of shipping into data/checkpoints")
    args = parser.parse_args(argv)
    from .. import integrity

    path = train_occluder_model(args.out or occluder_checkpoint_path(), progress=True)
    if args.out is None:
        integrity.record(path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
