"""The grader's worker: started with no Python between fork and exec, under its limits, never waited on for ever.

The grader grades several submissions at once, one thread each. It used to set the worker's limits
with ``subprocess.Popen(preexec_fn=...)``, which CPython documents as able to deadlock the child before
exec in a threaded process, leaving the grader waiting for ever; the limits are now set by
:mod:`stlearn.exercises.launcher` in a process of its own. Its other wait without a bound was writing a
request to a worker that no longer reads. (The CI run that hung in a grading test was a checker's
draw that never ended: see test_exercises_checks.)
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import threading
import time

import nbformat
import pytest
from grading_helpers import needs_sandbox

from stlearn.exercises import sandbox as sandbox_module
from stlearn.exercises.sandbox import Limits, Sandbox

LIMITS = Limits(memory_mb=3000, cpu_seconds=321, processes=40, open_files=123, file_mb=7)
MODES = [pytest.param(True, id="unsafe"), pytest.param(False, id="bubblewrap", marks=needs_sandbox)]


@pytest.fixture
def notebook(tmp_path):
    path = tmp_path / "submission.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), path)
    return path


@pytest.fixture
def popen_calls(monkeypatch):
    """Every Popen the sandbox makes, with its keyword arguments."""
    calls = []
    real = subprocess.Popen

    def recording(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(sandbox_module.subprocess, "Popen", recording)
    return calls


@pytest.mark.parametrize("unsafe", MODES)
def test_the_worker_runs_under_every_limit_and_no_python_ran_between_fork_and_exec(notebook, popen_calls, unsafe):
    expected = {
        "RLIMIT_AS": LIMITS.memory_mb << 20,
        "RLIMIT_CPU": LIMITS.cpu_seconds,
        "RLIMIT_NOFILE": LIMITS.open_files,
        "RLIMIT_FSIZE": LIMITS.file_mb << 20,
        "RLIMIT_CORE": 0,
    }
    probe = "import resource\n" + "".join(
        f"assert resource.getrlimit(resource.{name}) == ({value}, {value}), ('{name}', resource.getrlimit("
        f"resource.{name}))\n"
        for name, value in expected.items()
    )
    own = {name: resource.getrlimit(getattr(resource, name)) for name in expected}
    with Sandbox(notebook, unsafe=unsafe, limits=LIMITS) as box:
        assert box.start(120)
        assert [c.get("preexec_fn") for c in popen_calls] == [None]
        reply = box.request({"op": "run", "code": probe}, 60)
        assert reply["status"] == "ok", reply
        if box.cgroup is not None and box.cgroup.path is not None:  # root: the pids cgroup holds the worker
            members = (box.cgroup.path / "cgroup.procs").read_text().split()
            assert members and (box.cgroup.path / "pids.max").read_text().strip() == str(LIMITS.processes)
    assert {name: resource.getrlimit(getattr(resource, name)) for name in expected} == own  # the grader's: untouched


def test_the_launcher_sets_the_limits_then_becomes_the_command(tmp_path):
    cgroup = tmp_path / "fake-cgroup"
    cgroup.mkdir()
    spec = json.dumps({"cgroup": str(cgroup), "rlimits": {"RLIMIT_NOFILE": 77, "RLIMIT_FSIZE": 5 << 20}})
    show = "import os, resource; print(os.getpid(), *resource.getrlimit(resource.RLIMIT_NOFILE), " \
        "*resource.getrlimit(resource.RLIMIT_FSIZE))"
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(sandbox_module._LAUNCHER), spec, "--", sys.executable, "-c", show],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    pid, *values = done.stdout.split()
    assert values == ["77", "77", str(5 << 20), str(5 << 20)]
    assert (cgroup / "cgroup.procs").read_text() == pid  # it joined the cgroup, then exec kept its pid
    bad = subprocess.run([sys.executable, "-I", "-S", str(sandbox_module._LAUNCHER), spec], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode != 0 and "usage: launcher.py LIMITS -- COMMAND" in bad.stderr


@pytest.mark.parametrize("unsafe", MODES)
def test_a_request_to_a_worker_that_stopped_reading_times_out(notebook, unsafe):
    stop_later = "import os, signal, threading\nthreading.Timer(0.3, os.kill, (os.getpid(), signal.SIGSTOP)).start()\n"
    big = {"op": "run", "code": "x = 1\n#" + "a" * (4 << 20)}  # far more than a pipe holds (64 KiB)
    with Sandbox(notebook, unsafe=unsafe) as box:
        assert box.start(120)
        assert box.request({"op": "run", "code": stop_later}, 60)["status"] == "ok"
        time.sleep(1.0)  # the worker has stopped itself: it reads nothing more
        replies = []
        asker = threading.Thread(target=lambda: replies.append(box.request(big, 3.0)), daemon=True)
        t0 = time.monotonic()
        asker.start()
        asker.join(60)
        assert not asker.is_alive(), "the request waited on the stopped worker past its time limit"
        assert replies == [{"status": "timeout"}] and time.monotonic() - t0 < 10
        assert box.proc is None  # the stopped worker was killed; the next request starts a fresh one
        assert box.request({"op": "run", "code": "y = 2"}, 120)["status"] == "ok"
