"""A sandbox per submission: the learner's code runs in a worker process that can reach nothing of ours.

:class:`Sandbox` starts :mod:`stlearn.exercises.worker` under Debian's ``bubblewrap`` (``bwrap``):

* **file system** — only the Python installation (read-only), the system libraries (read-only),
  a private ``/tmp`` and a temporary working directory holding a copy of the submission. The
  project (stlearn, its reference solutions, the source notebooks), the other submissions, the
  class sheet and the grader's home are not there at all; nothing outside the working directory
  can be written;
* **namespaces** — its own user, pid, network (no network at all), IPC and UTS namespaces; the
  worker dies with the grader (``--die-with-parent``) and, as the pid namespace's processes all
  die with its first process, a detached child dies with it;
* **environment** — scrubbed (``--clearenv``): only ``PATH``, ``HOME``, ``MPLBACKEND`` and thread
  counts, none of the grader's variables;
* **limits** — ``setrlimit``: address space (``memory_mb``), CPU seconds, open files, file size;
  processes: a ``pids`` cgroup when one can be created (as root), else ``RLIMIT_NPROC`` (which binds
  ordinary users); all set by :mod:`~stlearn.exercises.launcher` in a process of its own, which then
  becomes ``bwrap`` (no Python runs between fork and exec in the threaded grader); the whole process
  group is killed on a timeout;
* **output** — the learner's prints go to /dev/null in the worker; replies are read up to
  :data:`MAX_REPLY` bytes a line.

Where ``bwrap`` cannot run, :func:`find_sandbox` says why, and the grader refuses to grade unless
called with ``unsafe=True`` (``stlearn grade --unsafe``), which runs the worker as a plain
subprocess (same limits, same scrubbed environment, no isolation) and says so on every report.

Used by ``stlearn grade`` for the exercises of lesson 1, 3, 5-7 and 9.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["MAX_REPLY", "Limits", "Sandbox", "SandboxUnavailable", "find_sandbox"]

#: the longest reply line the grader reads from a worker (bytes)
MAX_REPLY = 32 << 20
_WORKER = Path(__file__).resolve().with_name("worker.py")
_LAUNCHER = _WORKER.with_name("launcher.py")
_INSIDE_WORKER = "/opt/stlearn-worker/worker.py"
_INSIDE_WORKDIR = "/submission"


class SandboxUnavailable(RuntimeError):
    """No sandbox can run here (bwrap missing or refused); ``--unsafe`` only knowingly.  Lesson 1, 3, 5-7 and 9."""


@dataclass
class Limits:
    """Resource limits of one worker (exercises of lesson 1, 3, 5-7 and 9)."""

    memory_mb: int = 4096  # address space; torch needs about 1.5 GB of it to import
    cpu_seconds: int = 600  # the whole life of one worker
    processes: int = 64
    open_files: int = 256
    file_mb: int = 64  # the largest file the learner's code may write


def _python_dirs() -> list[str]:
    """The directories the interpreter and its packages live in (bound read-only)."""
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    exe = Path(sys.executable)
    dirs.add(str(exe.parent))
    real = exe.resolve()
    dirs.add(str(real.parent.parent))  # e.g. /usr/local or ~/.pyenv/versions/3.11.7
    return sorted({d for d in dirs if d and Path(d).exists()})


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("lib", "lib64", "lib32", "bin", "sbin"):
        path = Path("/" + name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), "/" + name]
        elif path.is_dir():
            args += ["--ro-bind", "/" + name, "/" + name]
    for name in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime"):
        if Path(name).exists():
            args += ["--ro-bind", name, name]
    return args


def _scrubbed_env(home: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": home + "/.matplotlib",
        "IPYTHONDIR": home + "/.ipython",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
    }


def _bwrap_command(workdir: Path) -> list[str]:
    # the empty /tmp first: bwrap mounts in order, so a later --tmpfs /tmp would hide an interpreter, a virtual
    # environment or the submission's copy that lives under /tmp (a checkout in /tmp, as CI may use)
    args = ["bwrap", "--tmpfs", "/tmp", *_system_binds()]
    for d in _python_dirs():
        args += ["--ro-bind", d, d]
    args += ["--ro-bind", str(_WORKER), _INSIDE_WORKER]
    args += ["--bind", str(workdir), _INSIDE_WORKDIR, "--chdir", _INSIDE_WORKDIR]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
    for key, value in _scrubbed_env("/tmp").items():
        args += ["--setenv", key, value]
    return [*args, "--", sys.executable, "-I", _INSIDE_WORKER]


_CHECKED: dict[str, str | None] = {}


def find_sandbox() -> str | None:
    """None when bubblewrap runs here (tried once per process), else why it cannot.  Lesson 1, 3, 5-7, 9."""
    if "bwrap" in _CHECKED:
        return _CHECKED["bwrap"]
    reason: str | None = None
    if shutil.which("bwrap") is None:
        reason = "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    else:
        cmd = ["bwrap", *_system_binds(), "--unshare-all", "--die-with-parent", "--", "/bin/true"]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            if done.returncode != 0:
                reason = f"bwrap cannot create its namespaces here: {done.stderr.strip()[:200]}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            reason = f"bwrap does not run: {exc}"
    _CHECKED["bwrap"] = reason
    return reason


def _own_processes() -> int:
    """How many processes this user runs now (RLIMIT_NPROC counts them all, not only the worker's)."""
    uid, count = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                count += os.stat(f"/proc/{entry}").st_uid == uid
            except OSError:
                pass
    return count


class _PidsCgroup:
    """A ``pids`` cgroup (v2 or v1) holding one worker, when this process may create one (root)."""

    def __init__(self, limit: int) -> None:
        self.path: Path | None = None
        name = f"stlearn-grade-{os.getpid()}-{time.monotonic_ns()}"
        for root in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):
            try:
                if root.name == "cgroup" and "pids" not in (root / "cgroup.controllers").read_text():
                    continue
                path = root / name
                path.mkdir()
                (path / "pids.max").write_text(str(limit))
                self.path = path
                return
            except OSError:
                continue

    def kill_and_remove(self) -> None:
        if self.path is None:
            return
        for _ in range(50):
            try:
                pids = [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
            except OSError:
                pids = []
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.02)
        try:
            self.path.rmdir()
        except OSError:
            pass
        self.path = None


class Sandbox:
    """One worker process for one submission; run cells and probes in it, each under a time limit.

    ``request(message, timeout)`` returns the worker's reply (a dict) or ``{"status": "timeout"}`` /
    ``{"status": "crash"}``; after either, the worker is gone and :meth:`start` begins a fresh one
    (the grader replays what it needs). Used by ``stlearn grade`` (exercises of lesson 1, 3, 5-7, 9).
    """

    def __init__(self, notebook: Path, unsafe: bool = False, limits: Limits | None = None) -> None:
        self.notebook = Path(notebook)
        self.unsafe = unsafe
        self.limits = limits or Limits()
        self.proc: subprocess.Popen | None = None
        self.workdir: Path | None = None
        self.cgroup: _PidsCgroup | None = None
        self._buffer = b""
        self._nproc = self.limits.processes

    # -- life cycle --------------------------------------------------------------------------

    def _launch(self, command: list[str]) -> list[str]:
        """``command`` started by :mod:`~stlearn.exercises.launcher`, which sets the limits and joins the cgroup.

        Not ``preexec_fn``: the grader runs submissions in threads, and Python code between fork and exec
        in a threaded process can deadlock the child before exec (the grader then waits for ever).
        """
        lim = self.limits
        rlimits = {
            "RLIMIT_AS": lim.memory_mb << 20,
            "RLIMIT_CPU": lim.cpu_seconds,
            "RLIMIT_NOFILE": lim.open_files,
            "RLIMIT_FSIZE": lim.file_mb << 20,
            "RLIMIT_NPROC": self._nproc,
            "RLIMIT_CORE": 0,
        }
        cgroup = None if self.cgroup is None or self.cgroup.path is None else str(self.cgroup.path)
        spec = json.dumps({"cgroup": cgroup, "rlimits": rlimits})
        return [sys.executable, "-I", "-S", str(_LAUNCHER), spec, "--", *command]

    def start(self, timeout: float = 120.0) -> bool:
        """Start a fresh worker in a fresh copy of the submission; False when it does not come up."""
        self.stop()
        self.workdir = Path(tempfile.mkdtemp(prefix="stlearn-submission-"))
        shutil.copy2(self.notebook, self.workdir / "submission.ipynb")
        self.cgroup = None if self.unsafe else _PidsCgroup(self.limits.processes)
        self._nproc = _own_processes() + self.limits.processes  # counted here, not between fork and exec
        if self.unsafe:
            cmd = [sys.executable, "-I", str(_WORKER)]
            home = self.workdir / ".home"
            home.mkdir()
            env, cwd = _scrubbed_env(str(home)), str(self.workdir)
        else:
            cmd, env, cwd = _bwrap_command(self.workdir), {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, None
        self.proc = subprocess.Popen(
            self._launch(cmd),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
        os.set_blocking(self.proc.stdin.fileno(), False)  # a worker that stops reading cannot block _write
        self._buffer = b""
        reply = self._read(timeout)
        if reply.get("status") != "ready":
            self.stop()
            return False
        return True

    def stop(self) -> None:
        """Kill the worker, its process group and its cgroup; remove the working directory."""
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                proc.kill()
            except OSError:
                pass
            for stream in (proc.stdin, proc.stdout):
                try:
                    if stream is not None:
                        stream.close()
                except OSError:
                    pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not refused
                pass
        if self.cgroup is not None:
            self.cgroup.kill_and_remove()
            self.cgroup = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- talking to the worker -----------------------------------------------------------------

    def _read(self, timeout: float) -> dict:
        proc = self.proc
        if proc is None or proc.stdout is None:
            return {"status": "crash"}
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                return {"status": "timeout"}
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                self.stop()
                return {"status": "crash"}
            self._buffer += chunk
            if len(self._buffer) > MAX_REPLY:
                self.stop()
                return {"status": "crash", "why": "the reply was too long"}
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            reply = json.loads(line)
        except ValueError:
            self.stop()
            return {"status": "crash", "why": "the reply was not readable"}
        return reply if isinstance(reply, dict) else {"status": "crash", "why": "the reply was not readable"}

    def request(self, message: dict, timeout: float) -> dict:
        """Send one request and wait at most ``timeout`` seconds for its reply."""
        if self.proc is None and not self.start():
            return {"status": "crash", "why": "the sandbox did not start"}
        deadline = time.monotonic() + timeout
        status = self._write((json.dumps(message) + "\n").encode("utf-8"), deadline)
        if status is not None:
            self.stop()
            return {"status": status}
        return self._read(max(0.0, deadline - time.monotonic()))

    def _write(self, data: bytes, deadline: float) -> str | None:
        """All of ``data`` to the worker's stdin by ``deadline``; "timeout" or "crash" when not."""
        assert self.proc is not None and self.proc.stdin is not None
        fd = self.proc.stdin.fileno()
        view = memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"  # the worker stopped reading its requests
            _, ready, _ = select.select([], [fd], [], min(left, 1.0))
            if not ready:
                continue
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                continue
            except OSError:  # the worker is gone
                return "crash"
        return None
