"""One training run per checkpoint: a lock file beside it, held while the run writes (lesson 4).

``train(config, "runs/x.pt")`` holds ``runs/x.pt.lock`` from before it looks at the checkpoint until it
returns, so a second run against the same output — a second ``stlearn train … --out runs/x.pt``, or a
notebook and a shell — refuses at once with :class:`~stlearn.errors.RunLockedError` naming the owner,
instead of both writing one checkpoint and one log.

The lock is an advisory ``flock`` on the lock file (released by the kernel when its process dies, so a
crashed or killed run never blocks the next one); the file holds the owner's pid, host and start time,
for the message. A lock file left behind by a dead process is stale and is taken over, with a note.
Where ``flock`` does not exist (Windows), the file is created exclusively and a stale one is detected
by its pid (same host, process gone).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import RunLockedError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["RunLock", "lock_path"]


def lock_path(checkpoint: str | Path) -> Path:
    """The lock file of a run: the checkpoint path with ``.lock`` appended (``runs/x.pt.lock``)."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + ".lock")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _owner(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


class RunLock:
    """The lock of one run's checkpoint; a context manager (``with RunLock(path): ...``)."""

    def __init__(self, checkpoint: str | Path) -> None:
        self.checkpoint = Path(checkpoint)
        self.path = lock_path(checkpoint)
        self._fd: int | None = None
        self.took_over: dict[str, Any] | None = None

    def _refuse(self, owner: dict[str, Any]) -> RunLockedError:
        who = f"pid {owner.get('pid', '?')} on {owner.get('host', '?')}"
        since = owner.get("started")
        when = f", since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(since))}" if since else ""
        return RunLockedError(
            f"{self.checkpoint} is being written by another training run ({who}{when}; lock file {self.path}): "
            "wait for it to finish, stop it, or choose another --out"
        )

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fcntl is None:  # pragma: no cover
            return self._acquire_exclusive()
        for _ in range(20):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._refuse(_owner(self.path)) from None
            try:  # the file we locked must still be the one at the path (not unlinked by a releasing owner)
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            previous = _owner(self.path)
            if previous.get("pid") and previous.get("pid") != os.getpid():
                self.took_over = previous  # a stale lock: its process is gone (else flock would have failed)
            self._fd = fd
            self._write(fd)
            return self
        raise RunLockedError(f"could not take the lock {self.path}: it keeps changing; is another run starting?")

    def _acquire_exclusive(self) -> RunLock:  # pragma: no cover - the fallback without flock
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                owner = _owner(self.path)
                if owner.get("host") == socket.gethostname() and not _alive(int(owner.get("pid", 0) or 0)):
                    self.took_over = owner
                    self.path.unlink(missing_ok=True)
                    continue
                raise self._refuse(owner) from None
            self._fd = fd
            self._write(fd)
            return self
        raise self._refuse(_owner(self.path))

    def _write(self, fd: int) -> None:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "argv": sys.argv[:6]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # unlink while still holding it: no one else can own this inode
        finally:
            os.close(self._fd)  # releases the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
