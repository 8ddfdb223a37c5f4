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
* ``record_sha256`` (format version 2) — a digest of everything else in the file (model configuration,
  data, training record, metrics, optimizer state) and the weights' digest, so a file re-saved with an
  edited configuration (``zigzag = False`` under the same weights) is refused, not silently used.
  Version-1 files (the first shipped checkpoints) have no such digest: the files under ``data/`` are
  pinned instead by their sha256 in ``data/manifest.json`` (:mod:`stlearn.integrity`);
* ``state_dict`` and, for resuming, optionally ``optimizer`` and ``rng``.

Files are written to a temporary name beside the target and renamed into place, so Ctrl-C, a
crash or a full disk mid-save leaves the previous checkpoint intact (a full disk is reported as such).
Loaded weights must be floating point and finite (NaN/Inf or integer weights are refused).
Lesson 4 (training) explains the format.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from .._checks import check_weights, describe_load_error
from ..errors import CheckpointError, RunExistsError, one_line

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "atomic_save",
    "file_sha256",
    "load_checkpoint",
    "load_state_dict_checked",
    "record_sha256",
    "save_checkpoint",
    "weights_sha256",
]

FORMAT = "stlearn-checkpoint"
#: version 2 adds ``record_sha256`` (the configuration and metadata covered); version 1 is still read
FORMAT_VERSION = 2
READS_VERSIONS = (1, 2)
_DIGESTS = ("sha256", "record_sha256", "state_dict")


def weights_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 over the weights in key order: each name, dtype, shape and the raw bytes (lesson 4)."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().to("cpu").contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _feed(h: Any, o: Any) -> None:
    """Feed a plain structure (dicts, lists, numbers, strings, tensors) into ``h`` canonically."""
    if isinstance(o, dict):
        h.update(b"{")
        for k in sorted(o, key=lambda k: (type(k).__name__, str(k))):
            _feed(h, k)
            _feed(h, o[k])
        h.update(b"}")
    elif isinstance(o, (list, tuple)):
        h.update(b"[")
        for v in o:
            _feed(h, v)
        h.update(b"]")
    elif isinstance(o, torch.Tensor):
        t = o.detach().to("cpu").contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(o, bool) or o is None:
        h.update(f"b{o}".encode())
    elif isinstance(o, int):
        h.update(f"i{o};".encode())
    elif isinstance(o, float):
        h.update(f"f{o!r};".encode())
    else:
        text = str(o).encode()
        h.update(f"s{len(text)}:".encode() + text)


def record_sha256(payload: dict[str, Any]) -> str:
    """sha256 over a checkpoint payload's every entry except the digests and the weights, plus the weights' digest."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in payload.items() if k not in _DIGESTS})
    h.update(str(payload.get("sha256", "")).encode())
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
    record_sha256: str = ""

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
        payload["record_sha256"] = record_sha256(payload)
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
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if _disk_full(e):
            free = shutil.disk_usage(path.parent).free / 1e6
            raise CheckpointError(
                f"could not write {path}: no space left on the disk of {path.parent} ({free:.0f} MB free); "
                f"the previous {path.name} (if any) is intact — free some space, then resume"
            ) from None
        if isinstance(e, OSError):
            raise CheckpointError(
                f"could not write {path}: {one_line(e)}; the previous {path.name} (if any) is intact"
            ) from None
        raise
    return path


def _disk_full(e: BaseException) -> bool:
    """ENOSPC/EDQUOT, or torch's zip writer failing (its ``inline_container.cc`` message) for that reason."""
    if isinstance(e, OSError):
        return e.errno in (errno.ENOSPC, errno.EDQUOT)
    text = str(e)
    return isinstance(e, RuntimeError) and ("inline_container" in text or "PytorchStreamWriter" in text)


def save_checkpoint(ckpt: Checkpoint, path: str | Path, overwrite: bool = True) -> Path:
    """Write ``ckpt`` atomically. With ``overwrite=False`` an existing file is never replaced."""
    path = Path(path)
    if not overwrite and path.exists():
        raise RunExistsError(f"{path} exists; choose another name or pass overwrite=True")
    return atomic_save(ckpt.to_payload(), path)


def load_checkpoint(path: str | Path, expect_model: str | None = None) -> Checkpoint:
    """Read and verify a checkpoint; every failure is a :class:`CheckpointError` saying what is wrong.

    Checked in order: the file exists and is not empty; it loads without running code; it is an
    stlearn checkpoint of a version this stlearn reads, with the expected structure; its weights
    match their ``sha256`` and the rest of the file its ``record_sha256``; the weights are floating
    point and finite; a file under ``data/`` matches its sha256 in ``data/manifest.json``.
    """
    from ..integrity import verify_stored

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: the file does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): an interrupted copy or download; copy the checkpoint again")
    verify_stored(path, CheckpointError)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, random bytes, pickled code ...
        raise CheckpointError(f"{path} is not a readable stlearn checkpoint: {describe_load_error(e)}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a torch file but not an stlearn checkpoint (no 'format': '{FORMAT}' entry); "
            "official PredRNN/OpenSTL weights load with stlearn.interop instead"
        )
    version = payload.get("format_version")
    if version not in READS_VERSIONS:
        raise CheckpointError(
            f"{path} has checkpoint format version {version}, this stlearn reads versions {list(READS_VERSIONS)}"
        )
    _check_structure(path, payload)
    state = check_weights(str(path), payload["state_dict"])
    digest = weights_sha256(state)
    if digest != payload.get("sha256"):
        raise CheckpointError(
            f"{path}: the weights do not match their recorded sha256 (file damaged?): "
            f"recorded {str(payload.get('sha256', ''))[:12]}…, computed {digest[:12]}…"
        )
    record = record_sha256(payload) if version >= 2 else ""
    if version >= 2 and record != payload.get("record_sha256"):
        raise CheckpointError(
            f"{path}: the configuration or metadata do not match their recorded record_sha256 (edited or damaged "
            "after saving); use the original file or retrain — a model built from an edited configuration would "
            "forecast differently from the one the weights were trained as"
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
        stlearn_version=str(payload.get("stlearn_version", "?")),
        sha256=digest,
        record_sha256=record,
    )


def _check_structure(path: Path, payload: dict[str, Any]) -> None:
    """The entries a checkpoint must have, with their types: a clear error instead of a KeyError later."""
    model = payload.get("model")
    if not (isinstance(model, dict) and isinstance(model.get("name"), str) and isinstance(model.get("config"), dict)):
        raise CheckpointError(
            f"{path}: wrong structure: 'model' must be {{'name': str, 'config': dict}}, got {model!r:.80}"
        )
    if not isinstance(payload.get("state_dict"), dict):
        raise CheckpointError(
            f"{path}: wrong structure: 'state_dict' must be a mapping of names to tensors, "
            f"got {type(payload.get('state_dict')).__name__}"
        )
    for key in ("data", "training", "metrics"):
        if not isinstance(payload.get(key, {}), dict):
            raise CheckpointError(
                f"{path}: wrong structure: '{key}' must be a dict, got {type(payload[key]).__name__}"
            )
    for key in ("optimizer", "rng"):
        if not isinstance(payload.get(key) or {}, dict):
            raise CheckpointError(
                f"{path}: wrong structure: '{key}' must be a dict or absent, got {type(payload[key]).__name__}"
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
    check_weights(source, state, own)
    module.load_state_dict(state)
