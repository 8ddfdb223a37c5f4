"""The pretrained models shipped in ``data/checkpoints/<data set>/<model>.pt`` (lessons 4-10).

They were trained with ``bash scripts/train_pretrained.sh`` from the configurations in ``configs/``
and exported without optimizer state (:func:`export`). Each has a ``<model>.metrics.json``
beside it with its test scores (``stlearn evaluate``), which a test re-checks.

>>> from stlearn.training.pretrained import load_pretrained
>>> model = load_pretrained("moving_digits", "predrnn")      # eval mode, on the CPU
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from ..models import MODELS, build_model
from ..paths import data_dir
from .checkpoints import Checkpoint, load_checkpoint, load_state_dict_checked, save_checkpoint

DATASETS = ("moving_digits", "radar")


def checkpoint_path(dataset: str, model: str) -> Path:
    """Where the shipped checkpoint of ``model`` on ``dataset`` lives."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown data set {dataset!r}; choose one of {DATASETS}")
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {sorted(MODELS)}")
    return data_dir() / "checkpoints" / dataset / f"{model}.pt"


def available() -> dict[str, list[str]]:
    """The shipped pretrained models, per data set."""
    return {ds: sorted(p.stem for p in (data_dir() / "checkpoints" / ds).glob("*.pt")) for ds in DATASETS}


def model_from_checkpoint(ck: Checkpoint, source: str = "checkpoint") -> torch.nn.Module:
    """Rebuild the network a checkpoint describes and load its weights (eval mode)."""
    model = build_model(ck.model_name, **ck.model_config)
    load_state_dict_checked(model, ck.state_dict, source)
    return model.eval()


@lru_cache(maxsize=16)
def _load(dataset: str, model: str) -> tuple[torch.nn.Module, Checkpoint]:
    path = checkpoint_path(dataset, model)
    if not path.exists():
        have = available()[dataset]
        raise FileNotFoundError(
            f"no pretrained {model!r} for {dataset!r} at {path}; shipped for {dataset}: {have or 'none'}"
        )
    ck = load_checkpoint(path, expect_model=model)
    return model_from_checkpoint(ck, str(path)), ck


def load_pretrained(dataset: str, model: str) -> torch.nn.Module:
    """The shipped pretrained ``model`` for ``dataset``, in eval mode on the CPU (cached: widgets reuse it).

    Taught in lesson 4 (reading a trained ConvLSTM) and used by lessons 5-10.
    """
    return _load(dataset, model)[0]


def pretrained_info(dataset: str, model: str) -> Checkpoint:
    """The checkpoint record (configuration, training length, metrics) of a shipped model (lesson 4)."""
    return _load(dataset, model)[1]


def export(run_checkpoint: str | Path, dataset: str, metrics: dict | None = None) -> Path:
    """Copy a training checkpoint into ``data/checkpoints`` without optimizer state (smaller, weights only)."""
    ck = load_checkpoint(run_checkpoint)
    ck.optimizer = None
    ck.rng = None
    if metrics is not None:
        ck.metrics = metrics
    return save_checkpoint(ck, checkpoint_path(dataset, ck.model_name))
