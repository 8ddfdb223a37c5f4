"""Lesson 6's exercises (``ex06_zigzag_memory``): which M states reach which, and what the cut costs at lead 1.

The closed-form rule of ``m_influencers`` is proved equal to autograd on real PredRNNs (random float64
weights, 1-4 layers, with and without the zigzag); the answer ``cut_factor_lead1`` is recomputed
through another path of stlearn (``run_surgery``) than the checker's; both exercises are graded in
the sandbox: the source as submitted, the stubs, and one submission per planted mistake.
"""

from __future__ import annotations

import pytest
import torch
from grading_helpers import by_name, learner, make_submission, needs_sandbox, stub

from stlearn.exercises import CHECKS, check_cut_factor_lead1, check_m_influencers
from stlearn.exercises.checks import SPECS, zigzag
from stlearn.exercises.grade import grade_submission
from stlearn.models import PredRNN, TraceSpec

NOTEBOOK = "ex06_zigzag_memory"


# ------------------------------------------------------------------ m_influencers: the rule is autograd's


@pytest.mark.parametrize("num_layers", [1, 2, 3, 4])
def test_the_rule_is_what_autograd_finds_in_a_real_predrnn(num_layers):
    """For every (t, l): the M^k_s with a nonzero gradient from M^l_t are exactly the rule's set."""
    torch.manual_seed(num_layers)
    frames = 5  # 4 steps, every one reading a true frame (input_len = T - 1)
    x = torch.rand(1, frames, 1, 4, 4, dtype=torch.float64)
    for zz in (True, False):
        model = PredRNN(in_channels=1, frame_size=(4, 4), patch_size=2, hidden_channels=[2] * num_layers, zigzag=zz)
        model = model.double()
        with torch.no_grad():
            for p in model.parameters():  # generic weights: no structural zero hides a path
                p.copy_(torch.randn_like(p) * 0.5)
        out = model(x, input_len=frames - 1, trace=TraceSpec())
        steps = frames - 1
        cells = [(s, k) for s in range(steps) for k in range(num_layers)]
        ms = [out.trace[s, k].m for s, k in cells]
        for t in range(steps):
            for layer in range(num_layers):
                target = out.trace[t, layer].m
                grads = torch.autograd.grad(target.sum(), ms, allow_unused=True, retain_graph=True)
                reached = {
                    cell for cell, g in zip(cells, grads, strict=True) if g is not None and bool(g.abs().max() > 0)
                }
                reached.discard((t, layer))
                assert reached == zigzag.m_influencers(t, layer, num_layers, zz), (num_layers, zz, t, layer)


def test_the_rule_in_words():
    # zigzag: every cell that runs before (t, l); cut: the lower layers and its own, up to step t
    assert zigzag.m_influencers(1, 0, 2, True) == {(0, 0), (0, 1)}
    assert zigzag.m_influencers(1, 0, 2, False) == {(0, 0)}
    assert zigzag.m_influencers(1, 1, 3, False) == {(0, 0), (0, 1), (1, 0)}
    assert zigzag.m_influencers(0, 2, 3, True) == {(0, 0), (0, 1)}
    assert zigzag.m_influencers(0, 0, 4, True) == set()
    for t in range(4):  # one layer: the wirings agree
        assert zigzag.m_influencers(t, 0, 1, True) == zigzag.m_influencers(t, 0, 1, False) == {(s, 0) for s in range(t)}


def test_reference_passes_and_every_planted_mistake_is_named(capsys):
    check_m_influencers(learner(zigzag.m_influencers))
    assert capsys.readouterr().out.startswith("✓ m_influencers: correct on ")
    spec = SPECS["m_influencers"]
    assert len(spec.mistakes) >= 3
    for mistake in spec.mistakes:
        for seed in (1, 2):
            with pytest.raises(AssertionError) as info:
                check_m_influencers(learner(mistake.fn), seed=seed)
            assert str(info.value).startswith("m_influencers: ") and mistake.message in str(info.value)


def test_frozensets_and_numpy_integers_are_fine():
    import numpy as np

    def as_frozenset(t, l, n, zz):  # noqa: E741
        return frozenset(zigzag.m_influencers(t, l, n, zz))

    def numpy_ints(t, l, n, zz):  # noqa: E741
        return {(np.int64(s), np.int64(k)) for s, k in zigzag.m_influencers(t, l, n, zz)}

    check_m_influencers(learner(as_frozenset), seed=3)
    check_m_influencers(learner(numpy_ints), seed=3)


def test_wrong_learner_functions_are_told_what_is_wrong():
    def as_list(t, l, n, zz):  # noqa: E741
        return sorted(zigzag.m_influencers(t, l, n, zz))

    with pytest.raises(AssertionError, match="returns a list; expected a set"):
        check_m_influencers(learner(as_list), seed=1)

    def future_steps(t, l, n, zz):  # noqa: E741
        return zigzag.m_influencers(t, l, n, zz) | {(t + 1, 0)}

    with pytest.raises(AssertionError, match="a step after t"):
        check_m_influencers(learner(future_steps), seed=1)

    def one_short(t, l, n, zz):  # noqa: E741  (a slip no planted mistake explains: the generic feedback)
        right = zigzag.m_influencers(t, l, n, zz)
        return right - {max(right)} if len(right) > 1 else right

    with pytest.raises(AssertionError, match="missing"):
        check_m_influencers(learner(one_short), seed=1)

    with pytest.raises(AssertionError, match="m_influencers: not written yet"):
        check_m_influencers(learner(stub), seed=1)


# ------------------------------------------------------------------ cut_factor_lead1: the real model's number


def test_the_checkers_rows_are_those_of_the_lessons_other_road_to_the_cut():
    """On 8 sequences (cheap): the checker's copies give what ``run_surgery`` gives (lesson 6, section 4)."""
    from stlearn.data import load_moving_digits_test
    from stlearn.metrics import mse_per_frame
    from stlearn.surgery import Surgery, run_surgery
    from stlearn.training.pretrained import load_pretrained

    model = load_pretrained("moving_digits", "predrnn")
    test = load_moving_digits_test()
    batch = torch.stack([test[i] for i in range(8)])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        base = run_surgery(model, batch, None, input_len=10)
        cut = run_surgery(model, batch, Surgery("cut_zigzag"), input_len=10)
    finally:
        torch.set_num_threads(threads)

    for name, out in (("PredRNN", base), ("zigzag cut", cut)):
        row = mse_per_frame(out.predictions.clamp(0, 1), batch[:, 10:], reduction="lead")
        assert zigzag.lead_row(name, 8) == pytest.approx(row.tolist(), rel=1e-4)


def test_the_accepted_answer_is_what_the_data_gives(capsys):
    table = zigzag.lead_table()
    factor = table["zigzag cut"][0] / table["PredRNN"][0]
    assert zigzag.cut_factor_lead1() == factor
    # read off the printed table (one decimal), or rounded, or anywhere within 2 %: accepted
    read_off = round(table["zigzag cut"][0], 1) / round(table["PredRNN"][0], 1)
    for answer in (factor, read_off, round(read_off, 2), factor * 1.015, factor * 0.985):
        check_cut_factor_lead1(learner(lambda answer=answer: answer))
        assert capsys.readouterr().out.startswith("✓ cut_factor_lead1: correct on 1 cases")
    for answer in (factor * 1.03, factor * 0.97, 1.0):
        with pytest.raises(AssertionError, match="not the factor the data gives"):
            check_cut_factor_lead1(learner(lambda answer=answer: answer))
    # what the lesson's table shows: errors grow with lead time, the cut's ratio is largest at lead 1
    ratios = [c / b for c, b in zip(table["zigzag cut"], table["PredRNN"], strict=True)]
    assert ratios[0] == max(ratios) and ratios[0] > 2 * ratios[-1]


def test_every_planted_answer_mistake_is_named_exactly_and_when_read_off_the_table():
    spec = SPECS["cut_factor_lead1"]
    assert spec.assess is not None and len(spec.mistakes) >= 3
    for mistake in spec.mistakes:
        exact = mistake.fn()
        for answer in (exact, round(exact, 2) if abs(exact) > 1 else round(exact, 3)):
            with pytest.raises(AssertionError) as info:
                check_cut_factor_lead1(learner(lambda answer=answer: answer))
            assert mistake.message in str(info.value), (mistake.message, answer)


@pytest.mark.parametrize(
    ("answer", "needle"),
    [("4.5", "your answer is a str"), (None, "returns None"), ([4.5], "is a list"), (-2.0, "MSEs are positive")],
)
def test_answers_that_are_not_a_factor(answer, needle):
    with pytest.raises(AssertionError, match=needle):
        check_cut_factor_lead1(learner(lambda: answer))
    with pytest.raises(AssertionError, match="cut_factor_lead1: not written yet"):
        check_cut_factor_lead1(learner(stub))


def test_both_exercises_are_registered():
    assert {"m_influencers", "cut_factor_lead1"} <= set(CHECKS)


# ------------------------------------------------------------------ through the real grader

_M_MISTAKES = [
    # 0: with the zigzag only the climb within step t
    "def m_influencers(t, l, num_layers, zigzag):\n"
    "    if zigzag:\n"
    "        return {(t, k) for k in range(l)}\n"
    "    return {(s, k) for s in range(t + 1) for k in range(l + 1) if (s, k) != (t, l)}\n",
    # 1: with the cut, no path through H
    "def m_influencers(t, l, num_layers, zigzag):\n"
    "    if not zigzag:\n"
    "        return {(s, l) for s in range(t)}\n"
    "    return {(s, k) for s in range(t + 1) for k in range(num_layers) if s < t or k < l}\n",
    # 2: M treated like C
    "def m_influencers(t, l, num_layers, zigzag):\n    return {(s, l) for s in range(t)}\n",
]


def _factor_mistake_source(k: int) -> str:
    value = SPECS["cut_factor_lead1"].mistakes[k].fn()
    return f"def cut_factor_lead1():\n    return {round(value, 3)}\n"


@needs_sandbox
def test_the_source_scores_full_marks_and_the_stubs_nothing(tmp_path):
    full = grade_submission(make_submission(tmp_path, NOTEBOOK, "ada"))
    assert (full.score, full.max_score) == (3, 3), [(e.exercise, e.feedback) for e in full.exercises]
    stubs = {
        "m_influencers": "def m_influencers(t, l, num_layers, zigzag):\n    raise NotImplementedError('Write it')\n",
        "cut_factor_lead1": "def cut_factor_lead1():\n    raise NotImplementedError('Write it')\n",
    }
    empty = by_name(grade_submission(make_submission(tmp_path, NOTEBOOK, "bob", stubs)))
    for name in stubs:
        assert empty[name].points == 0 and "not written yet" in empty[name].feedback


@needs_sandbox
@pytest.mark.parametrize("k", [0, 1, 2])
def test_each_planted_mistake_scores_nothing_with_its_message(tmp_path, k):
    solutions = {"m_influencers": _M_MISTAKES[k], "cut_factor_lead1": _factor_mistake_source(k)}
    result = by_name(grade_submission(make_submission(tmp_path, NOTEBOOK, f"mistake{k}", solutions)))
    for name in solutions:
        assert result[name].points == 0 and result[name].status == "fail"
        assert SPECS[name].mistakes[k].message in result[name].feedback, result[name].feedback
