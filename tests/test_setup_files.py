"""The set-up files tell the truth: README commands, CI entry point, environment.yml, notebooks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# conda-forge names of the packages whose PyPI name differs
CONDA_TO_PYPI = {"pytorch": "torch"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment_deps() -> tuple[set[str], set[str]]:
    """(conda dependency names, pip dependency names) of environment.yml, read without a YAML parser."""
    conda, pip, in_pip = set(), set(), False
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = lines.index("dependencies:")
    for line in lines[start + 1 :]:
        if not line.startswith(" "):
            break
        item = line.split("#", 1)[0].rstrip()
        if not item.strip():
            continue
        if item.strip() == "- pip:":
            in_pip = True
            continue
        indent = len(item) - len(item.lstrip())
        value = item.strip().removeprefix("- ").strip()
        if in_pip and indent > 2:
            if not value.startswith("-e"):
                pip.add(_name(value))
        else:
            in_pip = False
            conda.add(CONDA_TO_PYPI.get(_name(value), _name(value)))
    return conda - {"python", "pip"}, pip


def test_top_level_layout():
    for name in ["notebooks", "stlearn", "data", "tests", "environment.yml", "README.md", "pyproject.toml", ".ci/run"]:
        assert (ROOT / name).exists(), name


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    project = _pyproject()["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    wanted |= {_name(r) for r in project["optional-dependencies"]["test"]}
    conda, pip = _environment_deps()
    assert conda.isdisjoint(pip), f"listed twice: {conda & pip}"
    listed = conda | pip
    assert listed == wanted, (
        f"only in pyproject.toml: {sorted(wanted - listed)}; only in environment.yml: {sorted(listed - wanted)}"
    )


def test_environment_yml_comments_every_dependency_and_uses_conda_forge():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"channels:\s*\n\s*- conda-forge", text)
    assert re.search(r"- python=3\.\d+", text), "pin a Python version"
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("- ") and s not in {"- pip", "- pip:", "- conda-forge"} and not s.startswith("- python="):
            assert "#" in s, f"say which lesson needs it: {s}"
    assert "torch==" in text and "-e ." in text


def test_torch_is_pinned():
    deps = _pyproject()["project"]["dependencies"]
    assert any(re.fullmatch(r"torch==\d+\.\d+\.\d+", d.split("#")[0].strip()) for d in deps)
    setup = (ROOT / "scripts/setup.sh").read_text()
    pinned = next(d for d in deps if d.startswith("torch=="))
    assert f"pip install --quiet {pinned}" in setup


def _readme_commands() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\|\s*\*\*(.+?)\*\*.*\|\s*`([^`]+)`\s*\|$", text, flags=re.M)
    return {label.lower(): cmd for label, cmd in rows}


def test_readme_gives_two_commands_and_ci_calls_the_test_command():
    cmds = _readme_commands()
    assert set(cmds) == {"open the course", "run the whole test suite"}
    test_cmd = cmds["run the whole test suite"]
    ci = (ROOT / ".ci/run").read_text()
    ci_cmds = [line.strip() for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert test_cmd in ci_cmds, f".ci/run must call the README's test command {test_cmd!r}"
    runners = [c for c in ci_cmds if "pytest" in c or c.startswith("bash scripts/")]
    assert runners == [test_cmd], f".ci/run runs tests only through the README's command, found {runners}"
    for cmd in cmds.values():
        script = ROOT / cmd.split()[-1]
        assert script.exists() and os.access(script, os.X_OK), script


def test_course_command_opens_the_course_map(tmp_path):
    """Run the README's course command for real: JupyterLab starts and the page it opens is the course map."""
    import socket
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = ["bash", str(ROOT / "scripts/course.sh"), "--no-browser", f"--port={port}", "--IdentityProvider.token=t"]
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env
    )
    log = []
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            log.append(line)
            if f"127.0.0.1:{port}/lab" in line or "No such file" in line:
                break
        text = "".join(log)
        assert "No such file" not in text, text[-2000:]
        opened = ""
        for _ in range(100):  # the server writes the page to open just after it logs its URL
            opened = " ".join(p.read_text() for p in tmp_path.glob("jpserver-file-to-run-*-open.html"))
            if opened:
                break
            time.sleep(0.2)
        assert "lab/tree/00_course_map.ipynb" in opened, f"JupyterLab does not open the course map:\n{text[-2000:]}"
        url = f"http://127.0.0.1:{port}/api/contents/00_course_map.ipynb?token=t&content=0"
        assert json.loads(urllib.request.urlopen(url, timeout=30).read())["name"] == "00_course_map.ipynb"
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(30)


def test_scripts_are_valid_bash():
    for script in [*sorted((ROOT / "scripts").glob("*.sh")), ROOT / ".ci/run"]:
        subprocess.run(["bash", "-n", str(script)], check=True)


def test_notebooks_are_committed_without_outputs():
    for nb_path in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in nb_path.parts:
            continue
        nb = json.loads(nb_path.read_text())
        stale = [
            i
            for i, c in enumerate(nb["cells"])
            if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))
        ]
        assert not stale, f"{nb_path.name}: clear the outputs of cells {stale}"


def test_cli_runs():
    out = subprocess.run([sys.executable, "-m", "stlearn", "info"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("stlearn ")


@pytest.mark.parametrize(
    "module",
    [
        "stlearn.gates",
        "stlearn.cells",
        "stlearn.probe",
        "stlearn.viz.frames",
        "stlearn.viz.heatmaps",
        "stlearn.viz.diagram",
        "stlearn.viz.decoupling",
        "stlearn.viz.training",
        "stlearn.surgery",
        "stlearn.widgets.frame_viewer",
        "stlearn.widgets.gate_explorer",
        "stlearn.widgets.cell_explorer",
        "stlearn.widgets.increment_explorer",
        "stlearn.widgets.prediction_viewer",
        "stlearn.widgets.gate_surgery",
        "stlearn.widgets._canvas",
        "stlearn.viz.zigzag",
        "stlearn.widgets.zigzag_flow",
        "stlearn.complexity",
        "stlearn.data.traffic",
        "stlearn.traffic",
    ],
)
def test_public_functions_name_their_lesson(module):
    """Every public helper says which lesson teaches it (the D2L rule)."""
    import importlib

    mod = importlib.import_module(module)
    for name in mod.__all__:
        obj = getattr(mod, name)
        if callable(obj) and not name.endswith("Trace"):
            assert re.search(r"[Ll]esson \d", obj.__doc__ or ""), f"{module}.{name} does not name its lesson"
