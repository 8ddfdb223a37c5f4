"""The manifest of stored files: ``data/manifest.json`` pins every stored file by its sha256 (lesson 1).

One guard for every file the course ships under ``data/``: the moving-digits test split
(``*.npz``) and the pretrained checkpoints (``checkpoints/**/*.pt``). The manifest maps each file's
path (relative to :func:`stlearn.paths.data_dir`) to its size and sha256; :func:`verify_stored` is
called by every loader of such a file (:func:`stlearn.data.store.load_frames`,
:func:`stlearn.training.checkpoints.load_checkpoint`) and refuses a file whose bytes changed — a
flipped byte, a checkpoint re-saved with an edited configuration — naming the file and how to
restore it. A verified file is remembered by (path, size, mtime), so it is hashed once per process.

The writers of stored files record them (:func:`record`): ``python -m stlearn.data.make``,
``stlearn export-pretrained`` and the traffic example's training. ``python -m stlearn.data.make check``
verifies every entry in seconds (:func:`verify_all`). Files outside ``data/`` (your own runs) are not
in the manifest; their checkpoints check themselves (their ``sha256`` and ``record_sha256``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .errors import IntegrityError, StlearnError
from .paths import data_dir

__all__ = ["MANIFEST_FILE", "STORED_PATTERNS", "manifest_path", "record", "stored_files", "verify_all", "verify_stored"]

MANIFEST_FILE = "manifest.json"
#: the stored files the manifest covers, as globs under data/
STORED_PATTERNS = ("*.npz", "checkpoints/**/*.pt")
_verified: dict[tuple[str, int, int], str] = {}


def manifest_path(folder: Path | None = None) -> Path:
    return (folder or data_dir()) / MANIFEST_FILE


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read(folder: Path) -> dict[str, Any]:
    path = manifest_path(folder)
    if not path.is_file():
        return {}
    try:
        files = json.loads(path.read_text(encoding="utf-8")).get("files", {})
    except (json.JSONDecodeError, AttributeError, UnicodeDecodeError) as e:
        raise IntegrityError(
            f"{path} is not a valid manifest ({type(e).__name__}); "
            f"restore it with 'git checkout -- data/{MANIFEST_FILE}'"
        ) from None
    if not isinstance(files, dict):
        raise IntegrityError(f"{path}: 'files' must map paths to {{'sha256', 'bytes'}}; restore it from git")
    return files


def _relative(path: Path, folder: Path) -> str | None:
    try:
        return Path(os.path.abspath(path)).relative_to(Path(os.path.abspath(folder))).as_posix()
    except ValueError:
        return None


def verify_stored(path: str | Path, error: type[StlearnError] = IntegrityError) -> None:
    """Refuse ``path`` (raising ``error``) when it is a stored file whose bytes differ from the manifest.

    A file outside the data folder, or not listed in the manifest, passes unchecked.
    """
    path = Path(path)
    folder = data_dir()
    rel = _relative(path, folder)
    if rel is None:
        return
    entry = _read(folder).get(rel)
    if entry is None:
        return
    st = path.stat()
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if _verified.get(key) == entry.get("sha256"):
        return
    got = _sha256(path)
    if got != entry.get("sha256") or st.st_size != entry.get("bytes", st.st_size):
        raise error(
            f"{path} does not match its sha256 in {manifest_path(folder)} (recorded {str(entry.get('sha256'))[:12]}…, "
            f"{entry.get('bytes')} bytes; found {got[:12]}…, {st.st_size} bytes): the file was changed or damaged; "
            f"restore it with 'git checkout -- data/{rel}'"
        )
    _verified[key] = got


def record(path: str | Path) -> None:
    """Pin ``path`` (a file under the data folder) in the manifest with its current sha256 and size."""
    path = Path(path)
    folder = data_dir()
    rel = _relative(path, folder)
    if rel is None:
        return
    files = _read(folder)
    files[rel] = {"sha256": _sha256(path), "bytes": path.stat().st_size}
    _write(folder, files)


def _write(folder: Path, files: dict[str, Any]) -> None:
    content = {
        "about": "sha256 and size of every stored file under data/ (test splits, shipped checkpoints), verified on "
        "load; 'python -m stlearn.data.make check' verifies them all. Written by stlearn.integrity.record.",
        "files": dict(sorted(files.items())),
    }
    path = manifest_path(folder)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def stored_files(folder: Path | None = None) -> list[str]:
    """The files the manifest should cover: :data:`STORED_PATTERNS` under the data folder (relative paths)."""
    folder = folder or data_dir()
    return sorted({p.relative_to(folder).as_posix() for pat in STORED_PATTERNS for p in folder.glob(pat)})


def verify_all(folder: Path | None = None) -> list[tuple[str, str]]:
    """(path, status) for every stored file and manifest entry: 'ok', 'MISMATCH …', 'missing', 'not in the manifest'."""
    folder = folder or data_dir()
    files = _read(folder)
    rows = []
    for rel in sorted(set(files) | set(stored_files(folder))):
        path = folder / rel
        if rel not in files:
            rows.append((rel, "not in the manifest"))
        elif not path.is_file():
            rows.append((rel, "missing"))
        else:
            got = _sha256(path)
            want = str(files[rel].get("sha256", ""))
            rows.append((rel, "ok" if got == want else f"MISMATCH (recorded {want[:12]}…, found {got[:12]}…)"))
    return rows
