"""Checkpoints that never run code when loaded, carry their own description, and check themselves.

A checkpoint is one ``torch.save`` file holding plain containers and tensors only, read back
with ``torch.load(weights_only=True)`` (no pickle code execution). It carries:

* ``format`` / ``format_version`` — so a file that is not an stlearn checkpoint is recognised;
* ``model`` — the registry name and constructor arguments, enough to rebuild the network;
* ``data`` — the data set and its configuration the model was trained on;
* ``training`` — iterations, batch size, learning rate, schedule, seed, device, wall time;
* ``metrics`` — test/validation numbers recorded at save time;
* ``stlearn_version`` and ``sha256`` — a digest of the weights (names, shapes, dtypes, bytes),
  recomputed on load so a damaged file is caught even when it still unpickles;
* ``state_dict`` and, for resuming, optionally ``optimizer`` and ``rng``.

Files are written to a temporary name beside the target and renamed into place, so Ctrl-C or a
crash mid-save leaves the previous checkpoint intact. Lesson 4 (training) explains the format.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import __version__

FORMAT = "stlearn-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A file that cannot be used as the checkpoint asked for; the message says why and what to do."""


def weights_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 over the weights in key order: each name, dtype, shape and the raw bytes (lesson 4)."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().to("cpu").contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a whole file, as recorded in the results beside each shipped checkpoint."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _plain(meta: Any) -> Any:
    """Metadata as plain JSON types (str, numbers, lists, dicts), so weights-only loading accepts it.

    Anything else (a ``TorchVersion``, a ``Path``, a NumPy number) is stored as its string or
    number; a value JSON cannot express at all raises here, at save time, not at load time.
    """

    def convert(o: Any) -> Any:
        if hasattr(o, "item") and callable(o.item):
            return o.item()
        return str(o)

    return json.loads(json.dumps(meta, default=convert))


@dataclass
class Checkpoint:
    """The contents of a checkpoint file (lesson 4)."""

    model_name: str
    model_config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    data: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    optimizer: dict[str, Any] | None = None
    rng: dict[str, Any] | None = None
    stlearn_version: str = __version__
    sha256: str = ""

    def to_payload(self) -> dict[str, Any]:
        payload = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "stlearn_version": self.stlearn_version,
            "model": _plain({"name": self.model_name, "config": self.model_config}),
            "data": _plain(self.data),
            "training": _plain(self.training),
            "metrics": _plain(self.metrics),
            "state_dict": {k: v.detach().to("cpu") for k, v in self.state_dict.items()},
            "sha256": weights_sha256(self.state_dict),
        }
        if self.optimizer is not None:
            payload["optimizer"] = self.optimizer
        if self.rng is not None:
            payload["rng"] = self.rng
        return payload


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a checkpoint is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_checkpoint(ckpt: Checkpoint, path: str | Path, overwrite: bool = True) -> Path:
    """Write ``ckpt`` atomically. With ``overwrite=False`` an existing file is never replaced."""
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} exists; choose another name or pass overwrite=True")
    return atomic_save(ckpt.to_payload(), path)


def load_checkpoint(path: str | Path, expect_model: str | None = None) -> Checkpoint:
    """Read and verify a checkpoint; every failure is a :class:`CheckpointError` saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: the file does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, random bytes, pickled code ...
        raise CheckpointError(
            f"{path} is not a readable stlearn checkpoint (truncated, corrupted, or not a checkpoint): "
            f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a torch file but not an stlearn checkpoint (no 'format': '{FORMAT}' entry); "
            "official PredRNN/OpenSTL weights load with stlearn.interop instead"
        )
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {payload.get('format_version')}, "
            f"this stlearn reads version {FORMAT_VERSION}"
        )
    state = payload["state_dict"]
    digest = weights_sha256(state)
    if digest != payload.get("sha256"):
        raise CheckpointError(
            f"{path}: the weights do not match their recorded sha256 (file damaged?): "
            f"recorded {payload.get('sha256', '')[:12]}…, computed {digest[:12]}…"
        )
    name = payload["model"]["name"]
    if expect_model is not None and name != expect_model:
        raise CheckpointError(f"{path} holds a '{name}' model, not the '{expect_model}' asked for")
    return Checkpoint(
        model_name=name,
        model_config=dict(payload["model"]["config"]),
        state_dict=state,
        data=payload.get("data", {}),
        training=payload.get("training", {}),
        metrics=payload.get("metrics", {}),
        optimizer=payload.get("optimizer"),
        rng=payload.get("rng"),
        stlearn_version=payload.get("stlearn_version", "?"),
        sha256=digest,
    )


def load_state_dict_checked(
    module: torch.nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint"
) -> None:
    """``module.load_state_dict(state)`` with an error naming each missing/unexpected key and shape clash."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    clashes = [
        f"'{k}': model {tuple(own[k].shape)} vs {source} {tuple(state[k].shape)}"
        for k in own
        if k in state and own[k].shape != state[k].shape
    ]
    if missing or unexpected or clashes:
        parts = []
        if clashes:
            parts.append("shape mismatch " + "; ".join(clashes[:5]))
        if missing:
            parts.append(f"missing from {source}: {missing[:5]}")
        if unexpected:
            parts.append(f"not in the model: {unexpected[:5]}")
        raise CheckpointError(
            f"the {source} does not fit this {type(module).__name__} (wrong model or size?): " + "; ".join(parts)
        )
    module.load_state_dict(state)
