"""The grader against hostile students: no credit without work, no harm to others, honest work passes.

Each submission carries one attack per exercise (so a whole class of attacks costs one grading
run). The grader must give no credit for the first group, keep everything outside the sandbox
intact for the second, hold every time limit for the third, and pass the honest variants that an
earlier scan-based grader marked "tampered". Needs bubblewrap (``.ci/run`` installs it).
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path

import pytest
from grading_helpers import by_name, make_submission, needs_sandbox

from stlearn.exercises.grade import grade, grade_submission

pytestmark = needs_sandbox

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "stlearn"
SOURCE = PACKAGE / "exercises" / "source" / "ex03_convlstm_gates.ipynb"

# ------------------------------------------------------------------------------------------------
# 1. credit without work: the reference, the checker or the answers are nowhere to be reached
# ------------------------------------------------------------------------------------------------

CREDIT_WITHOUT_WORK = {
    # the library's own gate, imported
    "input_gate": """
from stlearn.gates import input_gate as _reference
def input_gate(x_i, h_i, c_prev, w_ci, b_i):
    return _reference(x_i, h_i, c_prev, w_ci, b_i)
""",
    # the solution notebook read from disk (the path the instructor's checkout has)
    "forget_gate": f"""
import json
_nb = json.load(open({str(SOURCE)!r}))
_code = [''.join(c['source']) for c in _nb['cells'] if 'def forget_gate' in ''.join(c['source'])][0]
exec(_code)
""",
    # the checker's frames, the reference's function object, anything of stlearn's in memory
    "cell_candidate": """
import gc, sys
_found = [o for o in gc.get_objects() if callable(o) and 'stlearn' in str(getattr(o, '__module__', ''))
          and getattr(o, '__name__', '') == 'cell_candidate']
def cell_candidate(x_c, h_c, b_c):
    frame = sys._getframe()
    while frame is not None:
        ref = frame.f_globals.get('cell_candidate')
        if ref is not None and ref is not cell_candidate:
            return ref(x_c, h_c, b_c)
        frame = frame.f_back
    if _found:
        return _found[0](x_c, h_c, b_c)
    return torch.zeros_like(x_c)
""",
    # comparisons patched through module dicts and builtins
    "cell_update": """
import builtins, math
torch.__dict__['allclose'] = lambda *a, **k: True
torch.__dict__['isclose'] = lambda a, b, **k: torch.ones_like(a, dtype=torch.bool)
torch.__dict__['equal'] = lambda *a: True
math.__dict__['isclose'] = lambda *a, **k: True
builtins.isinstance = lambda *a: True
def cell_update(f_t, c_prev, i_t, c_tilde):
    return f_t * 0
""",
    # a tensor subclass that claims to equal anything
    "output_gate": """
class _Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, '__name__', '') in ('allclose', 'equal', 'isclose', '__eq__'):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})
def output_gate(x_o, h_o, c_t, w_co, b_o):
    return torch.zeros_like(x_o).as_subclass(_Liar)
""",
    # IPython's exception hooks and exit hooks, to swallow a failing check
    "hidden_state": """
ip = get_ipython()
ip.set_custom_exc((Exception,), lambda *a, **k: None)
import sys
sys.excepthook = lambda *a: None
def hidden_state(o_t, c_t):
    return o_t
""",
    # a reading exercise answered from the instructor's files: the shipped model is not there when graded
    "position_channel": f"""
_weights = torch.load({str(PACKAGE.parent / "data" / "checkpoints" / "moving_digits" / "convlstm.pt")!r})
def position_channel():
    return 1
""",
    # the answer for one fixed input only
    "convlstm_step": """
def convlstm_step(x, h_prev, c_prev, w_x, w_h, w_ci, w_cf, w_co, b):
    torch.manual_seed(0)
    return torch.zeros_like(h_prev), torch.zeros_like(c_prev)
""",
}


def test_no_credit_without_work(tmp_path):
    path = make_submission(tmp_path, "ex03_convlstm_gates", "mallory", CREDIT_WITHOUT_WORK)
    result = grade_submission(path, timeout=30)
    r = by_name(result)
    assert result.score == 0, {k: (v.status, v.feedback) for k, v in r.items()}
    assert "No module named 'stlearn'" in r["input_gate"].feedback
    assert "FileNotFoundError" in r["forget_gate"].feedback
    assert "FileNotFoundError" in r["position_channel"].feedback
    assert r["cell_update"].status == "fail"
    assert "tensor subclass" in r["output_gate"].feedback
    assert "did you forget the tanh" in r["hidden_state"].feedback or r["hidden_state"].status == "fail"


# ------------------------------------------------------------------------------------------------
# 2. harm to others: the grader, the package, the neighbours, the class sheet, the machine
# ------------------------------------------------------------------------------------------------

CORRECT = {
    "input_gate": "return torch.sigmoid(x_i + h_i + w_ci * c_prev + b_i.view(1, -1, 1, 1))",
    "forget_gate": "return torch.sigmoid(x_f + h_f + w_cf * c_prev + b_f.view(1, -1, 1, 1))",
    "cell_candidate": "return torch.tanh(x_c + h_c + b_c.view(1, -1, 1, 1))",
    "cell_update": "return f_t * c_prev + i_t * c_tilde",
    "output_gate": "return torch.sigmoid(x_o + h_o + w_co * c_t + b_o.view(1, -1, 1, 1))",
    "hidden_state": "return o_t * torch.tanh(c_t)",
}
SIGNATURES = {
    "input_gate": "x_i, h_i, c_prev, w_ci, b_i",
    "forget_gate": "x_f, h_f, c_prev, w_cf, b_f",
    "cell_candidate": "x_c, h_c, b_c",
    "cell_update": "f_t, c_prev, i_t, c_tilde",
    "output_gate": "x_o, h_o, c_t, w_co, b_o",
    "hidden_state": "o_t, c_t",
}


def _with(name: str, before: str = "", inside: str = "") -> str:
    """A correct solution of ``name`` with attack code run at definition (``before``) and at every call."""
    body = "".join(f"    {line}\n" for line in inside.strip().splitlines())
    return f"{before.strip()}\n\ndef {name}({SIGNATURES[name]}):\n{body}    {CORRECT[name]}\n"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _free_port() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(5)
    return s


@pytest.mark.slow
def test_no_harm_to_the_grader_the_package_the_neighbours_or_the_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("STLEARN_GRADER_SECRET", "s3cret")
    listener = _free_port()
    port = listener.getsockname()[1]
    sheet = tmp_path / "class.csv"
    neighbour = make_submission(tmp_path, "ex03_convlstm_gates", "nina")
    exercises = PACKAGE / "exercises"
    protected = [exercises / "_core.py", exercises / "checks" / "__init__.py", SOURCE, neighbour]
    before = {p: _sha(p) for p in protected}
    attacks = {
        # kill whatever it can see: the grader is not among it
        "input_gate": _with(
            "input_gate",
            before="""
import os, signal
for _pid in [int(p) for p in os.listdir('/proc') if p.isdigit()]:
    if _pid != os.getpid():
        try:
            os.kill(_pid, signal.SIGKILL)
        except OSError:
            pass
""",
        ),
        # edit the installed package and the neighbour's notebook, by absolute and relative path
        "forget_gate": _with(
            "forget_gate",
            before=f"""
for _target in {[str(p) for p in protected]!r} + ['../ex03_convlstm_gates_nina.ipynb']:
    try:
        with open(_target, 'a') as _f:
            _f.write('# pwned')
    except OSError:
        pass
""",
        ),
        # a detached child that rewrites the class sheet after the grader is gone
        "cell_candidate": _with(
            "cell_candidate",
            before=f"""
import subprocess
subprocess.Popen(['sh', '-c', 'sleep 1; echo pwned > {sheet}; echo pwned > {neighbour}'],
                 start_new_session=True)
""",
        ),
        # unbounded output, through Python and straight to the file descriptors
        "cell_update": _with(
            "cell_update",
            before="""
import os
_block = 'x' * (1 << 20)
for _ in range(64):
    print(_block)
    os.write(1, _block.encode())
    os.write(2, _block.encode())
""",
        ),
        # the grader's environment, the network, the project's files: none of them is there
        "output_gate": _with(
            "output_gate",
            inside=f"""
import os, socket
assert 'STLEARN_GRADER_SECRET' not in os.environ, 'saw the grader environment'
assert not os.path.exists({str(PACKAGE)!r}), 'saw the project'
try:
    socket.create_connection(('127.0.0.1', {port}), timeout=1).close()
    raise AssertionError('reached the network')
except OSError:
    pass
""",
        ),
        # processes without end (bounded here so that a failing test cannot hang the machine)
        "hidden_state": _with(
            "hidden_state",
            before="""
import subprocess
_children = []
for _ in range(150):
    try:
        _children.append(subprocess.Popen(['sleep', '61.5']))
    except OSError:
        break
""",
        ),
        # more memory than the limit
        "convlstm_step": """
def convlstm_step(x, h_prev, c_prev, w_x, w_h, w_ci, w_cf, w_co, b):
    hog = torch.ones(4 << 30, dtype=torch.float64)
    return hog, hog
""",
    }
    path = make_submission(tmp_path, "ex03_convlstm_gates", "eve", attacks)
    t0 = time.monotonic()
    results = grade([path, neighbour], timeout=30, csv_path=sheet)
    elapsed = time.monotonic() - t0
    eve, nina = results
    r = by_name(eve)
    for name in ("forget_gate", "cell_candidate", "cell_update", "output_gate", "hidden_state"):
        assert r[name].status == "pass", (name, r[name].feedback)
    assert r["convlstm_step"].status in ("fail", "crash") and r["convlstm_step"].points == 0
    assert nina.score == nina.max_score == 8  # graded after eve, untouched by her
    assert elapsed < 120
    time.sleep(2.5)  # the detached child would have written by now
    assert {p: _sha(p) for p in protected} == before
    text = sheet.read_text(encoding="utf-8")
    assert "pwned" not in text and "eve" in text and "nina" in text
    leftovers = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            if b"61.5" in Path(f"/proc/{pid}/cmdline").read_bytes():
                leftovers.append(pid)
        except OSError:
            pass
    assert leftovers == []
    listener.close()


# ------------------------------------------------------------------------------------------------
# 3. every time limit holds; a crash or exit() is charged once, to the cell that caused it
# ------------------------------------------------------------------------------------------------

LIMITS = {
    "patch_frames": "def patch_frames(frames, p):\n    while True:\n        pass\n",  # loops when called
    "csi": "import os\nos._exit(3)\n",  # the solution cell itself kills its process
    "mse_per_frame": "import sys\nsys.exit(1)\n\ndef mse_per_frame(pred, target):\n    return 0\n",
}


def test_time_limits_hold_and_crashes_cost_only_their_exercise(tmp_path):
    path = make_submission(tmp_path, "ex01_data_and_metrics", "dave", LIMITS)
    ok = make_submission(tmp_path, "ex01_data_and_metrics", "olga", {})
    t0 = time.monotonic()
    result = grade_submission(path, timeout=4)
    elapsed = time.monotonic() - t0
    r = by_name(result)
    assert r["patch_frames"].status == "timeout" and "infinite loop" in r["patch_frames"].feedback
    assert r["csi"].status == "crash" and "exit()" in r["csi"].feedback
    assert r["mse_per_frame"].status == "fail" and "SystemExit" in r["mse_per_frame"].feedback
    assert elapsed < 60  # set-up, one timeout and one restart with replays, each under its limit
    # the same notebook with the real solutions: every exercise passes after the others' restarts
    assert grade_submission(ok, timeout=30).score == 3


def test_a_crash_in_an_early_solution_is_not_replayed_against_later_exercises(tmp_path):
    solutions = {
        "decoupling_loss": "import os\n_n = 0\ndef decoupling_loss(adapter, delta_c, delta_m):\n    os._exit(0)\n",
    }
    result = grade_submission(make_submission(tmp_path, "ex07_predrnn_v2", "ivan", solutions), timeout=20)
    r = by_name(result)
    assert r["decoupling_loss"].status == "crash"
    assert r["reverse_schedule"].status == "pass"


# ------------------------------------------------------------------------------------------------
# 4. honest work passes (an earlier, scan-based grader called these "tampered")
# ------------------------------------------------------------------------------------------------

HONEST = {
    "decoupling_loss": '''
import sys

class _Pair:
    """Normalised adapted increments (the same thing stlearn's PredRNN-V2 computes)."""

    def __init__(self, adapter):
        self.adapter = adapter

    def unit(self, delta):
        return F.normalize(self.adapter(delta).flatten(2), dim=2)


def decoupling_loss(adapter, delta_c, delta_m):
    """Mean |cos| — see stlearn.models.predrnn_v2 for where it is used."""
    pair = _Pair(adapter)
    print("debug: shapes", tuple(delta_c.shape), file=sys.stderr)
    return (pair.unit(delta_c) * pair.unit(delta_m)).sum(dim=2).abs().mean()
''',
    "reverse_schedule": """%time _warm = 1 + 1
import math

def reverse_schedule(k, tau1, tau2, alpha):
    if k < tau1:
        return 0.5, 0.5
    if k >= tau2:
        return 1.0, 0.0
    return 1.0 - 0.5 * math.exp(-(k - tau1) / alpha), 0.5 - 0.5 * (k - tau1) / (tau2 - tau1)
""",
}

NO_GRADIENT = """
def decoupling_loss(adapter, delta_c, delta_m):
    a = F.normalize(adapter(delta_c).flatten(2), dim=2)
    b = F.normalize(adapter(delta_m).flatten(2), dim=2)
    return torch.tensor((a * b).sum(dim=2).abs().mean().item(), dtype=delta_c.dtype)
"""


def test_honest_work_passes_and_a_loss_without_gradient_does_not(tmp_path):
    honest = make_submission(tmp_path, "ex07_predrnn_v2", "hana", HONEST)
    flat = make_submission(tmp_path, "ex07_predrnn_v2", "gus", {"decoupling_loss": NO_GRADIENT})
    h, g = grade([honest, flat], timeout=30, jobs=2)
    assert h.score == 2, [(e.exercise, e.feedback) for e in h.exercises]
    r = by_name(g)
    assert r["decoupling_loss"].status == "fail" and "no gradient" in r["decoupling_loss"].feedback
    assert r["reverse_schedule"].status == "pass"
