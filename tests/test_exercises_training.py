"""Lesson 4's exercises (``ex04_training_convlstm``): the sampled rollout, a forecaster trained in the
notebook, and the forget-gate surgery predicted then verified.

The checker's rollout is the course models' own (a real ConvLSTM's step fed through it gives the model's
``next_frames``); the notebook's data generator is the checker's, byte for byte; the reference forecaster is
trained once for the module (the notebook's own cells) and must clear the bar, every planted forecast must
not; the surgery answer is recomputed here through ``run_surgery``; all three are graded in the sandbox: the
source as submitted, the stubs, and one submission per planted mistake k (mistake k of every exercise at once).
"""

from __future__ import annotations

import math

import nbformat
import pytest
import torch
from grading_helpers import by_name, learner, make_submission, needs_sandbox, stub

from stlearn.exercises import CHECKS, check_forecast, check_forget_clamp_answer, check_rollout, worker
from stlearn.exercises.checks import SPECS, training
from stlearn.exercises.grade import grade_submission
from stlearn.exercises.student import exercise_dir

NOTEBOOK = "ex04_training_convlstm"


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One torch thread for the module, as the grader's sandbox has: the small convolutions here are no faster on
    two, and several threads on a busy machine are many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _cells():
    """The source notebook's code cells by role: set-up, and the solution cell of each exercise."""
    nb = nbformat.read(exercise_dir() / f"{NOTEBOOK}.ipynb", as_version=4)
    setup, solutions = [], {}
    for cell in nb.cells:
        meta = cell.metadata.get("stlearn", {})
        if cell.cell_type != "code":
            continue
        if meta.get("role") == "solution":
            solutions[meta["exercise"]] = cell.source
        elif not meta.get("role"):
            setup.append(cell.source)
    return setup, solutions


def _namespace(*exercises):
    """A fresh namespace that ran the set-up cells and the given exercises' solution cells."""
    setup, solutions = _cells()
    ns: dict = {"__name__": "__main__"}
    for source in [*setup, *(solutions[ex] for ex in exercises)]:
        exec(compile(source, "<notebook>", "exec"), ns)
    return ns


def test_the_three_exercises_are_registered_with_their_mistakes():
    assert {"rollout", "forecast", "forget_clamp_answer"} <= set(CHECKS)
    for name in ("rollout", "forecast", "forget_clamp_answer"):
        assert len(SPECS[name].mistakes) >= 3


# ------------------------------------------------------------------ rollout: the course's own loop


def test_the_reference_rollout_is_the_convlstm_models_own():
    """A real ConvLSTM's step, handed to the reference loop, gives the model's next_frames for any mask."""
    from stlearn.models import ConvLSTM
    from stlearn.models.base import _Tracer
    from stlearn.models.patching import patch_frames, unpatch_frames

    torch.manual_seed(0)
    model = ConvLSTM(frame_size=(8, 8), patch_size=2, hidden_channels=[4, 3]).double().eval()
    tracer = _Tracer("test", None, 0, 0)

    def step(x, state):
        if state is None:
            state = model._init_state(x)
        top, state = model._step(x, state, 0, tracer, None)
        return model.conv_last(top), state

    frames = torch.rand(3, 7, 1, 8, 8, dtype=torch.float64)
    masks = [None, torch.ones(3, 5, dtype=torch.float64), (torch.rand(3, 5) < 0.5).double()]
    with torch.no_grad():
        for mask in masks:
            ours = unpatch_frames(training.rollout_reference(step, patch_frames(frames, 2), mask, 3), 2)
            theirs = model(frames, mask=mask, input_len=3).next_frames
            assert torch.allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_the_notebooks_rollout_passes_and_a_stub_is_not_written(capsys):
    rollout = _namespace("rollout")["rollout"]
    capsys.readouterr()  # the set-up cell's line
    for seed in (None, 1, 2):
        check_rollout(learner(rollout), seed=seed)
        assert capsys.readouterr().out.startswith("✓ rollout: correct on 8 cases")
    with pytest.raises(AssertionError, match="rollout: not written yet"):
        check_rollout(learner(stub), seed=1)


def test_every_planted_rollout_mistake_is_named():
    spec = SPECS["rollout"]
    for mistake in spec.mistakes:
        for seed in (1, 2):
            with pytest.raises(AssertionError) as info:
                check_rollout(learner(mistake.fn), seed=seed)
            assert str(info.value).startswith("rollout: ") and mistake.message in str(info.value)


def test_rollouts_learners_write_are_told_what_is_wrong():
    def column_t(step, frames, mask, input_len):  # column j read as step j: runs off the mask's end
        state, preds = None, []
        for t in range(frames.shape[1] - 1):
            if t == 0 or mask is None:
                x = frames[:, t] if t == 0 or t < input_len else preds[-1]
            else:
                m = mask[:, t].view(-1, 1, 1, 1)
                x = m * frames[:, t] + (1 - m) * preds[-1]
            p, state = step(x, state)
            preds.append(p)
        return torch.stack(preds, 1)

    with pytest.raises(AssertionError, match=r"IndexError.*in column_t, line \d+: `m = mask\[:, t\]"):
        check_rollout(learner(column_t), seed=1)

    def short(step, frames, mask, input_len):  # T − 2 steps: as many as the mask's columns
        return training.rollout_reference(step, frames, mask, input_len)[:, :-1]

    with pytest.raises(AssertionError, match="returns .* = T − 2 frames"):
        check_rollout(learner(short), seed=1)

    def in_place(step, frames, mask, input_len):
        out = training.rollout_reference(step, frames, mask, input_len)
        frames[:, 1:] = out  # the predictions written over the true frames
        return out

    with pytest.raises(AssertionError, match="changed its argument 'frames' in place"):
        check_rollout(learner(in_place), seed=1)

    def lists(step, frames, mask, input_len):
        return list(training.rollout_reference(step, frames, mask, input_len).unbind(1))

    with pytest.raises(AssertionError, match="returns a list"):
        check_rollout(learner(lists), seed=1)


def test_the_toy_step_crosses_as_data():
    gen = torch.Generator().manual_seed(0)
    step = training._toy_step(gen, 2, 3, torch.float64)
    back = worker.decode(worker.encode(step))
    assert isinstance(back, worker.ToyStep) and "2 channels" in repr(back)
    x = torch.rand(1, 2, 4, 5, dtype=torch.float64)
    p1, s1 = step(x, None)
    p2, s2 = back(x, None)
    assert torch.equal(p1, p2) and torch.equal(s1, s2) and p1.shape == x.shape
    assert not torch.equal(step(x, s1)[0], p1)  # the state matters


# ------------------------------------------------------------------ forecast: trained in the notebook


@pytest.fixture(scope="module")
def trained():
    """The notebook's set-up and reference solution, trained once for the module (on one thread, as when graded)."""
    ns = _namespace("forecast")
    with torch.enable_grad():
        ns["trained"] = ns["train_forecaster"]()
    return ns


def test_the_notebooks_generator_is_the_checkers():
    ns = _namespace()
    for n, seed in ((1, 0), (16, 3), (64, 123_456_789), (5, 2**31 - 2)):
        ours, theirs = ns["make_batch"](n, seed), training.make_batch(n, seed)
        assert ours.dtype == theirs.dtype == torch.float32 and torch.equal(ours, theirs)
    assert (ns["N_PAST"], ns["N_FUTURE"], ns["SIZE"], ns["SQUARE"]) == (
        training.N_PAST, training.N_FUTURE, training.SIZE, training.SQUARE)  # fmt: skip


def test_the_toy_is_what_the_text_says():
    """A 3 × 3 square of ones moving one pixel per frame, inside the frame; a blank frame beats persistence."""
    batch = training.make_batch(256, 5)
    assert batch.shape == (256, 10, 1, 16, 16)
    assert torch.equal(batch.sum(dim=(2, 3, 4)), torch.full((256, 10), 9.0))  # always whole, never clipped
    ys, xs = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    centre = torch.stack([(batch[:, :, 0] * ys).sum((2, 3)), (batch[:, :, 0] * xs).sum((2, 3))], -1) / 9
    steps = centre.diff(dim=1)
    assert torch.equal(steps, steps[:, :1].expand_as(steps))  # constant velocity
    assert set(map(tuple, steps[:, 0].tolist())) == {(a, b) for a in (-1.0, 0.0, 1.0) for b in (-1.0, 0.0, 1.0)} - {
        (0.0, 0.0)
    }
    base = training._baselines(batch[:, :6], batch[:, 6:])
    assert base["blank"] == pytest.approx(9 / 256)
    assert base["persistence"] > 1.4 * base["blank"] and base["best constant"] < base["blank"]


def test_the_reference_forecaster_clears_the_bar_by_far(trained, capsys):
    forecast = trained["forecast"]
    check_forecast(learner(forecast))
    assert capsys.readouterr().out.startswith("✓ forecast: correct on 2 cases")
    batch = training.make_batch(256, 99)
    with torch.no_grad():
        mse = training._mse(forecast(batch[:, :6]), batch[:, 6:])
    best = min(training._baselines(batch[:, :6], batch[:, 6:]).values())
    assert mse < 0.25 * best  # far below the bar of 0.5 × best: not a lucky pass


def test_every_planted_forecast_mistake_is_named():
    for mistake in SPECS["forecast"].mistakes:
        for seed in (1, 2):
            with pytest.raises(AssertionError) as info:
                check_forecast(learner(mistake.fn), seed=seed)
            assert str(info.value).startswith("forecast: ") and mistake.message in str(info.value)


def test_forecasts_learners_make_are_told_what_is_wrong(trained):
    ns = trained
    model = ns["trained"]

    def untrained(inputs):
        torch.manual_seed(0)
        return ns["TinyConvLSTM"]()(inputs, 4).clamp(0, 1)

    with pytest.raises(AssertionError, match="beats persistence but not a blank or constant frame .* untrained"):
        check_forecast(learner(untrained), seed=1)

    def untrained_clamped_to_zero(inputs):  # another initialisation: negative everywhere, clamped to 0
        torch.manual_seed(1)
        return ns["TinyConvLSTM"]()(inputs, 4).clamp(0, 1)

    with pytest.raises(AssertionError, match=r"forecast is blank \(all zeros\).*or an untrained one"):
        check_forecast(learner(untrained_clamped_to_zero), seed=1)

    def grey(inputs):  # a model that learned the mean brightness only
        return torch.full((inputs.shape[0], 4, 1, 16, 16), 0.035)

    with pytest.raises(AssertionError, match=r"the same value everywhere \(0.035\): an untrained model"):
        check_forecast(learner(grey), seed=1)

    def faint(inputs):  # the right places, a fifth of the brightness: beats persistence, not the bar
        return 0.2 * model(inputs, 4).clamp(0, 1)

    with pytest.raises(AssertionError, match=r"beats persistence but not by enough \(your MSE 0\.0"):
        check_forecast(learner(faint), seed=1)

    def diverged(inputs):
        return torch.full((inputs.shape[0], 4, 1, 16, 16), math.nan)

    with pytest.raises(AssertionError, match="NaN or infinite values: the training diverged"):
        check_forecast(learner(diverged), seed=1)

    def unclamped(inputs):
        return model(inputs, 4) * 1.5 - 0.1

    with pytest.raises(AssertionError, match=r"frames are in \[0, 1\] — clamp it"):
        check_forecast(learner(unclamped), seed=1)

    def double(inputs):
        return model(inputs, 4).clamp(0, 1).double()

    with pytest.raises(AssertionError, match="returns torch.float64; return float32"):
        check_forecast(learner(double), seed=1)

    def inputs_back(inputs):
        return inputs[:, -4:]

    with pytest.raises(AssertionError, match="copies input frames"):
        check_forecast(learner(inputs_back), seed=1)

    def all_frames(inputs):
        return model(inputs, 6)

    with pytest.raises(AssertionError, match=r"returns shape \(64, 6, 1, 16, 16\); expected \(64, 4, 1, 16, 16\)"):
        check_forecast(learner(all_frames), seed=1)

    def train_forecaster():
        raise NotImplementedError("Write forecast. Hint: train")

    def lazy(inputs):  # the student notebook's forecast: trains on its first call
        return train_forecaster()(inputs, 4)

    with pytest.raises(AssertionError, match="forecast: not written yet. Write forecast. Hint: train"):
        check_forecast(learner(lazy), seed=1)


# ------------------------------------------------------------------ forget_clamp_answer: the real surgery


@pytest.fixture(scope="module")
def surgery_rows():
    """MSE per lead time, recomputed here without the baseline resume (every step run) on the 16 sequences."""
    from stlearn.data import load_moving_digits_test
    from stlearn.metrics import mse_per_frame
    from stlearn.surgery import Surgery, run_surgery
    from stlearn.training.pretrained import load_pretrained

    model = load_pretrained("moving_digits", "convlstm")
    test = load_moving_digits_test()
    batch = torch.stack([test[i] for i in range(16)])
    rows = {}
    for name, surgery in {
        "unmodified": None,
        "f0_layer1_forecast": Surgery("clamp", "f", 0.0, layers=1, steps="forecast"),
    }.items():
        out = run_surgery(model, batch, surgery)
        rows[name] = mse_per_frame(out.predictions.clamp(0, 1), batch[:, 10:], reduction="lead").tolist()
    return rows


def test_the_checkers_numbers_are_the_surgerys(surgery_rows):
    numbers = training.forget_clamp_numbers()
    for name, row in surgery_rows.items():
        assert numbers[name] == pytest.approx(row, rel=1e-5)
    base, edited = surgery_rows["unmodified"], surgery_rows["f0_layer1_forecast"]
    assert edited[0] == base[0] and all(e > b for e, b in zip(edited[1:], base[1:], strict=True))
    ratio = sum(edited) / sum(base)
    assert training._true_answer() == (2, pytest.approx(ratio, rel=1e-5))
    # the recognised mistakes are far enough from the answer to be told apart
    for other in (training._whole_sequence(), training._other_layer(), training._forget_one(), training._difference()):
        assert abs(other[1] - ratio) > 3 * training.RATIO_TOL


def test_answers_within_the_tolerance_pass_and_outside_fail(capsys):
    lead, ratio = training._true_answer()
    source = _cells()[1]["forget_clamp_answer"]
    ns: dict = {}
    exec(source, ns)
    for answer in (ns["forget_clamp_answer"](), (lead, ratio), [lead, round(ratio, 2)], (float(lead), ratio + 0.015),
                   (lead, ratio - 0.015)):  # fmt: skip
        check_forget_clamp_answer(learner(lambda answer=answer: answer))
        assert capsys.readouterr().out.startswith("✓ forget_clamp_answer: correct on 1 cases")
    for answer in ((lead, ratio + 0.05), (lead, ratio - 0.03)):
        with pytest.raises(AssertionError, match="forget_clamp_answer: "):
            check_forget_clamp_answer(learner(lambda answer=answer: answer))


def test_every_planted_answer_mistake_is_named_exactly_and_rounded():
    for mistake in SPECS["forget_clamp_answer"].mistakes:
        lead, value = mistake.fn()
        for answer in ((lead, value), (lead, round(value, 2))):
            with pytest.raises(AssertionError) as info:
                check_forget_clamp_answer(learner(lambda answer=answer: answer))
            assert mistake.message in str(info.value), (mistake.message, answer)


def test_other_wrong_answers_are_explained(surgery_rows):
    lead, ratio = training._true_answer()
    base, edited = surgery_rows["unmodified"], surgery_rows["f0_layer1_forecast"]
    per_lead = [e / b for e, b in zip(edited, base, strict=True)]
    cases = [
        ((lead, 1 / ratio), "you divided the wrong way"),
        ((lead, round(sum(per_lead) / 10, 2)), "the mean of the per-lead ratios"),
        ((lead, round(per_lead[-1], 2)), "the ratio at one lead time"),
        ((3, ratio), "the first lead time that changes is not 3"),
        ((1, 2.5), "lead 1 does not change"),
        ((lead, 3.0), "is not what the surgery gives"),
        (1.37, "returns a float; return a tuple"),
        ((2.5, ratio), "must be a whole lead time"),
        ((lead, "1.37"), "must be a number"),
    ]
    for answer, needle in cases:
        with pytest.raises(AssertionError, match=needle):
            check_forget_clamp_answer(learner(lambda answer=answer: answer))
    with pytest.raises(AssertionError, match="forget_clamp_answer: not written yet"):
        check_forget_clamp_answer(learner(stub))


# ------------------------------------------------------------------ through the real grader

_ROLLOUT_LOOP = """def rollout(step, frames, mask, input_len):
    state, predictions = None, []
    for t in range(frames.shape[1] - 1):
        if t == 0 or (mask is None and t < input_len):
            x = frames[:, t]
        elif mask is None:
            x = predictions[-1]
        else:
            {mix}
        prediction, state = step(x, {state})
        predictions.append(prediction)
    return torch.stack(predictions, dim=1)
"""

_ROLLOUT_MISTAKES = [
    # 0: teacher forcing: the mask ignored
    "def rollout(step, frames, mask, input_len):\n    state, predictions = None, []\n"
    "    for t in range(frames.shape[1] - 1):\n        prediction, state = step(frames[:, t], state)\n"
    "        predictions.append(prediction)\n    return torch.stack(predictions, dim=1)\n",
    # 1: the mask inverted
    _ROLLOUT_LOOP.format(
        mix="m = mask[:, t - 1].view(-1, 1, 1, 1)\n            x = (1 - m) * frames[:, t] + m * predictions[-1]",
        state="state",
    ),
    # 2: the state not carried
    _ROLLOUT_LOOP.format(
        mix="m = mask[:, t - 1].view(-1, 1, 1, 1)\n            x = m * frames[:, t] + (1 - m) * predictions[-1]",
        state="None",
    ),
    # 3: the mask thought to cover the forecast steps only
    _ROLLOUT_LOOP.format(
        mix="m = 1.0 if t < input_len else mask[:, t - input_len].view(-1, 1, 1, 1)\n"
        "            x = m * frames[:, t] + (1 - m) * predictions[-1]",
        state="state",
    ),
]
_ROLLOUT_MESSAGES = [SPECS["rollout"].mistakes[k].message for k in (0, 2, 7, 4)]

_FORECAST_MISTAKES = [
    "def forecast(inputs):\n    return inputs[:, -1:].repeat(1, N_FUTURE, 1, 1, 1)\n",
    "def forecast(inputs):\n    return torch.zeros(inputs.shape[0], N_FUTURE, 1, SIZE, SIZE)\n",
    "def forecast(inputs):\n    torch.manual_seed(0)\n    return TinyConvLSTM()(inputs, N_FUTURE).clamp(0, 1)\n",
    "def forecast(inputs):\n    return torch.zeros(inputs.shape[0], N_FUTURE, SIZE, SIZE)\n",
]
_FORECAST_MESSAGES = [
    training._PERSISTENCE,
    training._BLANK,
    "an untrained or barely trained model?",
    "returns shape (64, 4, 16, 16); expected (64, 4, 1, 16, 16)",
]

_ANSWER_MISTAKES = [(2, 1.1), (1, 1.45), (2, 4.36), (2, 33.93)]
_ANSWER_MESSAGES = [training._OTHER_LAYER, training._WHOLE, training._F_ONE, training._DIFFERENCE]


@needs_sandbox
def test_the_source_notebook_as_submitted_scores_full_points(tmp_path):
    result = grade_submission(make_submission(tmp_path, NOTEBOOK, "ada"))
    assert result.error == ""
    r = by_name(result)
    assert [(ex, r[ex].status) for ex in ("rollout", "forecast", "forget_clamp_answer")] == [
        ("rollout", "pass"), ("forecast", "pass"), ("forget_clamp_answer", "pass")]  # fmt: skip
    assert result.score == result.max_score == 5
    assert r["forecast"].feedback == "✓ forecast: correct on 2 cases"


@needs_sandbox
def test_stubs_score_nothing(tmp_path):
    from stlearn.exercises.student import student_dir

    nb = nbformat.read(student_dir() / f"{NOTEBOOK}.ipynb", as_version=4)
    stubs = {c.metadata["stlearn"]["exercise"]: c.source for c in nb.cells
             if c.metadata.get("stlearn", {}).get("role") == "solution"}  # fmt: skip
    result = grade_submission(make_submission(tmp_path, NOTEBOOK, "bob", stubs))
    assert result.score == 0
    for ex, e in by_name(result).items():
        assert e.status == "fail" and "not written yet" in e.feedback, (ex, e.feedback)


@needs_sandbox
@pytest.mark.parametrize("k", range(4))
def test_planted_mistake_k_of_every_exercise_scores_nothing_and_is_named(tmp_path, k):
    solutions = {
        "rollout": _ROLLOUT_MISTAKES[k],
        "forecast": _FORECAST_MISTAKES[k],
        "forget_clamp_answer": f"def forget_clamp_answer():\n    return {_ANSWER_MISTAKES[k]!r}\n",
    }
    result = grade_submission(make_submission(tmp_path, NOTEBOOK, f"planted{k}", solutions))
    assert result.error == "" and result.score == 0
    r = by_name(result)
    for ex, message in (("rollout", _ROLLOUT_MESSAGES[k]), ("forecast", _FORECAST_MESSAGES[k]),
                        ("forget_clamp_answer", _ANSWER_MESSAGES[k])):  # fmt: skip
        assert r[ex].status == "fail" and message in r[ex].feedback, (ex, r[ex].feedback)
