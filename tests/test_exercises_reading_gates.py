"""Lesson 3's answer exercise (exercise 8 of ``ex03_convlstm_gates``): which forget-gate channel follows the digits.

The accepted channels are recomputed here by another route (NumPy's ``corrcoef`` on a full traced
pass) and must be clearly separated from the rejected ones; every planted mistake is named; the
real grader scores the exercise (explore cells skipped, the answer judged from the shipped model
in the grader's process).
"""

from __future__ import annotations

import nbformat
import numpy as np
import pytest
import torch
from grading_helpers import by_name, learner, make_submission, needs_sandbox

from stlearn.data import load_moving_digits_test
from stlearn.exercises import CHECKS, checks
from stlearn.exercises.checks import reading_gates as rg
from stlearn.exercises.grade import grade
from stlearn.exercises.student import exercise_dir
from stlearn.models import TraceSpec, patch_frames
from stlearn.training.pretrained import load_pretrained

NAME = "position_channel"
SPEC = checks.SPECS[NAME]
SOURCE = "ex03_convlstm_gates"


def fail_message(answer) -> str:
    with pytest.raises(AssertionError) as info:
        CHECKS[NAME](learner(lambda: answer))
    message = str(info.value)
    assert message.startswith(f"{NAME}: ")
    return message


def test_the_statistic_recomputed_another_way():
    """A full traced pass (every step, both layers) and np.corrcoef per channel give the checker's numbers."""
    model = load_pretrained("moving_digits", "convlstm")
    test = load_moving_digits_test()
    batch = torch.stack([test[i] for i in rg.SEQUENCES])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # far faster on a busy machine
    try:
        with torch.no_grad():
            trace = model(batch, trace=TraceSpec(layers=(0,))).trace  # every step, traced one by one
    finally:
        torch.set_num_threads(threads)
    f = trace.stack("f", 0)[:10].numpy()  # steps 0-9: the inputs, (10, B, 32, 16, 16)
    digits = (patch_frames(batch, model.patch_size)[:, :10].amax(dim=2) > 0.2).numpy()  # (B, 10, 16, 16)
    mask = digits.transpose(1, 0, 2, 3).ravel().astype(np.float64)
    ours = np.array([np.corrcoef(f[:, :, c].ravel(), mask)[0, 1] for c in range(f.shape[2])])
    theirs = rg.forget_digit_correlation().numpy()
    assert ours.shape == (rg.CHANNELS,)
    assert np.allclose(ours, theirs, atol=1e-5)
    accepted = {int(c) for c in np.flatnonzero(ours >= rg.THRESHOLD)}
    assert accepted == rg.supported_channels() and len(accepted) >= 3
    # clearly separated: no channel sits so close to the threshold that rounding could flip it
    assert min(abs(ours - rg.THRESHOLD)) > 0.02
    # the accepted channels are the top of the ranking, far above the median channel
    assert min(ours[list(accepted)]) > np.median(ours) + 0.3


def test_the_source_answer_and_every_supported_channel_pass(capsys):
    nb = nbformat.read(exercise_dir() / f"{SOURCE}.ipynb", as_version=4)
    roles = [c.metadata.get("stlearn", {}) for c in nb.cells]
    cell = next(
        c for c, r in zip(nb.cells, roles, strict=True) if r.get("exercise") == NAME and r["role"] == "solution"
    )
    namespace = {"__name__": "__main__"}
    exec(cell.source, namespace)
    assert namespace[NAME]() in rg.supported_channels()
    CHECKS[NAME](learner(namespace[NAME]))
    for channel in sorted(rg.supported_channels()):
        CHECKS[NAME](learner(lambda c=channel: c))
    CHECKS[NAME](learner(lambda: torch.tensor(min(rg.supported_channels()))))  # a 0-d tensor is one int too
    out, err = capsys.readouterr()
    assert out.count(f"✓ {NAME}: correct on 1 cases") == len(rg.supported_channels()) + 2 and err == ""


@pytest.mark.parametrize("k", range(len(SPEC.mistakes)))
def test_every_planted_mistake_is_named_and_is_not_supported(k):
    mistake = SPEC.mistakes[k]
    value = mistake.fn()
    assert not (isinstance(value, int) and value in rg.supported_channels())
    for seed in (1, 2):
        with pytest.raises(AssertionError) as info:
            CHECKS[NAME](learner(mistake.fn), seed=seed)
        assert mistake.message in str(info.value)


def test_the_planted_answers_are_distinct():
    corr = rg.forget_digit_correlation()
    lowest, off_by_one = int(corr.argmin()), int(corr.argmax()) + 1
    assert float(corr[lowest]) < -0.3 and lowest != off_by_one
    assert off_by_one - 1 in rg.supported_channels() and off_by_one not in rg.supported_channels()


def test_other_wrong_answers_are_explained():
    corr = rg.forget_digit_correlation()
    supported = rg.supported_channels()
    lowest = int(corr.argmin())
    negative = next(c for c in range(rg.CHANNELS) if corr[c] < -0.2 and c != lowest and c - 1 not in supported)
    assert "LOWER on the digits than on the background" in fail_message(negative)
    weak = next(c for c in range(rg.CHANNELS) if 0 < corr[c] < rg.THRESHOLD and c - 1 not in supported)
    assert "follows the digits only weakly" in fail_message(weak)
    assert "numbered 0 … 31: -1 is not one of them" in fail_message(-1)
    assert "return the channel as an int" in fail_message("3")
    assert "a bool" in fail_message(True)
    assert "return ONE channel" in fail_message({3, 1})
    assert "a whole number" in fail_message(3.5)


def test_a_stub_is_not_written_yet():
    def stub():
        raise NotImplementedError(f"Write {NAME}. Hint: look")

    with pytest.raises(AssertionError, match=f"^{NAME}: not written yet. Write {NAME}. Hint: look"):
        CHECKS[NAME](learner(stub))


def test_the_check_cell_is_an_answer_of_lesson_3_before_done():
    nb = nbformat.read(exercise_dir() / f"{SOURCE}.ipynb", as_version=4)
    roles = [c.metadata.get("stlearn", {}) for c in nb.cells]
    check = next(k for k, r in enumerate(roles) if r.get("role") == "check" and r.get("exercise") == NAME)
    assert roles[check] == {"exercise": NAME, "role": "check", "lesson": 3, "kind": "answer"}
    assert nb.cells[check + 1].source.startswith("## Done") and check + 2 == len(nb.cells)
    explore = [k for k, r in enumerate(roles) if r.get("role") == "explore"]
    assert len(explore) == 2 and all(k < check for k in explore)


def _exercise_8_only(folder):
    """A copy of the source with its set-up cells and exercise 8 alone: grading it is quick (one exercise)."""
    nb = nbformat.read(exercise_dir() / f"{SOURCE}.ipynb", as_version=4)
    first = next(k for k, c in enumerate(nb.cells) if c.source.startswith("## Exercise 8"))
    setup = [c for c in nb.cells[:first] if not c.metadata.get("stlearn", {}).get("role")]
    nb.cells = setup + nb.cells[first:]
    folder.mkdir()
    nbformat.write(nb, folder / f"{SOURCE}.ipynb")
    return folder


@needs_sandbox
def test_grading_the_answer_the_stub_and_each_planted_mistake(tmp_path):
    """The grader skips the explore cells (stlearn is not in the sandbox) and judges the answer in its own process."""
    sources = _exercise_8_only(tmp_path / "sources")
    subs = tmp_path / "subs"
    subs.mkdir()
    stub = f"def {NAME}():\n    raise NotImplementedError('Write {NAME}.')\n"
    paths = [make_submission(subs, SOURCE, "source"), make_submission(subs, SOURCE, "stub", {NAME: stub})]
    for k, mistake in enumerate(SPEC.mistakes):
        answer = f"def {NAME}():\n    return {mistake.fn()!r}\n"
        paths.append(make_submission(subs, SOURCE, f"mistake{k}", {NAME: answer}))
    source, stubbed, *wrong = grade(paths, source_dir=sources, jobs=2)
    assert not source.error and [(e.exercise, e.points, e.max_points) for e in source.exercises] == [(NAME, 1, 1)]
    assert stubbed.score == 0 and by_name(stubbed)[NAME].feedback.startswith("not written yet")
    for k, result in enumerate(wrong):
        entry = by_name(result)[NAME]
        assert entry.points == 0 and SPEC.mistakes[k].message in entry.feedback, (k, entry.feedback)
