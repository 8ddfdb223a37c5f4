"""Start a grading worker under its limits: a fresh one-thread process sets them, then becomes the worker.

``python -I -S launcher.py LIMITS -- COMMAND ...`` joins the pids cgroup named in ``LIMITS`` (JSON:
``{"cgroup": path or null, "rlimits": {"RLIMIT_AS": bytes, ...}}``), sets each resource limit, and
replaces itself with ``COMMAND`` (``bwrap ... worker.py``, or the worker itself with ``--unsafe``), which
inherits them all.

Why a process of its own: the grader grades several submissions at once, one thread each, and Python
code run between ``fork`` and ``exec`` in a threaded process (``subprocess.Popen(preexec_fn=...)``) can
deadlock the child before it execs: the grader then waits for ever on a worker that never starts. So
:class:`stlearn.exercises.sandbox.Sandbox` runs no Python in the forked child; this script runs in a
new interpreter, with one thread, and imports only the standard library. Used when the exercises of
lessons 1, 3, 5-7 and 9 are graded (``stlearn grade``).
"""

import json
import os
import resource
import sys


def main(argv: list[str]) -> None:
    if len(argv) < 4 or argv[2] != "--":
        sys.exit("usage: launcher.py LIMITS -- COMMAND [ARG ...]")
    limits = json.loads(argv[1])
    command = argv[3:]
    if limits.get("cgroup"):
        try:  # the pids limit, for this process and all it starts
            with open(os.path.join(limits["cgroup"], "cgroup.procs"), "w") as procs:
                procs.write(str(os.getpid()))
        except OSError:
            pass
    for name, value in limits["rlimits"].items():
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError):
            pass
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv)
