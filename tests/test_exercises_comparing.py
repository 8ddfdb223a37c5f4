"""Lesson 10's exercises (``ex10_comparing_models``): the FLOPs of a ConvLSTM forecast, and which Table 8
differences from ConvLSTM are real.

The FLOP reference is checked against :func:`stlearn.complexity.rollout_flops` on real models; the accepted
answer is derived here again from the shipped ``table8.json`` and from the marks of lesson 9's own table
(:func:`stlearn.table8.format_results`); then every planted mistake must be named, by the checker and through
the grader.
"""

from __future__ import annotations

import dataclasses
import itertools
import re

import pytest
import torch
from grading_helpers import by_name, learner, make_submission, needs_sandbox

from stlearn import table8
from stlearn.complexity import conv_flops, rollout_flops
from stlearn.exercises import _core, check_convlstm_rollout_flops, check_significant_pairs
from stlearn.exercises.checks import comparing
from stlearn.exercises.grade import grade
from stlearn.models import ConvLSTM, build_model

SOURCE = "ex10_comparing_models"
SPECS = {spec.name: spec for spec in comparing.SPECS}
FLOPS = SPECS["convlstm_rollout_flops"]
PAIRS = SPECS["significant_pairs"]


# --------------------------------------------------------------------------------------------
# Exercise 1: FLOPs
# --------------------------------------------------------------------------------------------

#: (in_channels, frame_size, patch_size, hidden_channels, kernel_size, input_len, pred_len)
CONFIGS = [
    (1, (16, 16), 4, [8, 8], 3, 3, 2),
    (2, (12, 8), 2, [5], 5, 4, 3),
    (1, (9, 7), 1, [3, 4, 6], 1, 1, 2),
    (3, (16, 24), 4, [6, 10], 5, 2, 2),
    (1, (10, 10), 1, [4, 2], 3, 1, 1),
]


@pytest.mark.parametrize("config", CONFIGS, ids=[str(c) for c in CONFIGS])
def test_flops_reference_is_what_rollout_flops_counts_on_a_real_model(config):
    c_in, frame, p, hidden, k, n_in, n_out = config
    torch.manual_seed(0)
    model = ConvLSTM(c_in, frame, p, hidden, k)
    counted = rollout_flops(model, seq_len=n_in + n_out, input_len=n_in)
    assert comparing.convlstm_rollout_flops(*config) == counted["flops"]
    assert len(counted["per_step"]) == n_in + n_out - 1


def test_flops_of_lesson_10s_convlstm_and_its_hand_formula():
    config = (1, (64, 64), 4, [32, 32], 3, 10, 10)
    with torch.device("meta"):
        model = build_model("convlstm", in_channels=1, frame_size=[64, 64], patch_size=4, hidden_channels=[32, 32],
                            kernel_size=3)  # fmt: skip
    assert comparing.convlstm_rollout_flops(*config) == rollout_flops(model)["flops"] == 1_260_126_208
    per_step = conv_flops(16 + 32, 4 * 32, 3, 16, 16) + conv_flops(32 + 32, 4 * 32, 3, 16, 16)
    per_step += conv_flops(32, 16, 1, 16, 16)  # the 1 × 1 head
    assert comparing.convlstm_rollout_flops(*config) == 19 * per_step


def test_the_flops_reference_passes(capsys):
    for seed in (None, 1, 2):
        check_convlstm_rollout_flops(learner(FLOPS.reference), seed=seed)
    out = capsys.readouterr().out
    assert out.startswith("✓ convlstm_rollout_flops: correct on ") and out.count("✓") == 3


@pytest.mark.parametrize("k", range(len(FLOPS.mistakes)))
def test_every_planted_flops_mistake_is_named(k):
    mistake = FLOPS.mistakes[k]
    for seed in (1, 2):
        with pytest.raises(AssertionError) as info:
            check_convlstm_rollout_flops(learner(mistake.fn), seed=seed)
        assert str(info.value).startswith(f"convlstm_rollout_flops: {mistake.message}")


def test_hand_written_wrong_flops():
    def no_patching_no_head(in_channels, frame_size, patch_size, hidden_channels, kernel_size, input_len, pred_len):
        h, w = frame_size
        total, below = 0, in_channels
        for c in hidden_channels:
            total += 2 * kernel_size**2 * (below + c) * 4 * c * h * w
            below = c
        return total * (input_len + pred_len - 1)

    # two mistakes at once: named where only one of them shows (a case without patching, p = 1), else the generic
    # message with the formula
    with pytest.raises(AssertionError, match="convlstm_rollout_flops: you forgot the output head"):
        check_convlstm_rollout_flops(no_patching_no_head, seed=3)
    first_case_only = dataclasses.replace(FLOPS, make_cases=lambda gen: FLOPS.make_cases(gen)[:1])
    with pytest.raises(AssertionError, match=r"returns 39,094,272; expected 10,698,240 \(per step and layer 2·k²"):
        _core.run_check(first_case_only, learner(no_patching_no_head), seed=3)

    def mutates(in_channels, frame_size, patch_size, hidden_channels, kernel_size, input_len, pred_len):
        hidden_channels.insert(0, patch_size**2 * in_channels)  # the layer below of the first layer, in place
        grid = (frame_size[0] // patch_size) * (frame_size[1] // patch_size)
        per_step = sum(2 * kernel_size**2 * (a + b) * 4 * b * grid for a, b in itertools.pairwise(hidden_channels))
        per_step += 2 * hidden_channels[-1] * hidden_channels[0] * grid
        return per_step * (input_len + pred_len - 1)

    with pytest.raises(AssertionError, match="changed its argument 'hidden_channels' in place"):
        check_convlstm_rollout_flops(mutates, seed=3)


def test_flops_stub_is_not_written_yet():
    def convlstm_rollout_flops(in_channels, frame_size, patch_size, hidden_channels, kernel_size, input_len, pred_len):
        raise NotImplementedError("Write convlstm_rollout_flops. Hint: one step first")

    with pytest.raises(AssertionError, match="convlstm_rollout_flops: not written yet. Write convlstm_rollout_flops."):
        check_convlstm_rollout_flops(convlstm_rollout_flops)


# --------------------------------------------------------------------------------------------
# Exercise 2: the answer read off the shipped Table 8
# --------------------------------------------------------------------------------------------


def _expected_from_the_file() -> set[tuple[str, str]]:
    """The rule of lesson 9 applied to table8.json directly: CSI-50 (higher is better), interval excludes 0."""
    shipped = table8.load_shipped_results()
    out = set()
    for name, diff in shipped["vs_convlstm"].items():
        _, low, high = diff["csi_50"]
        if low > 0:
            out.add((table8.LABELS[name], "ConvLSTM"))
        elif high < 0:
            out.add(("ConvLSTM", table8.LABELS[name]))
    return out


def _expected_from_the_lessons_marks() -> set[tuple[str, str]]:
    """The ✓ / ✗ of the CSI-50 column of lesson 9's paired table (format_results)."""
    text = table8.format_results(table8.load_shipped_results())
    header = "| model − ConvLSTM |"
    lines = text[text.index(header) :].splitlines()[2:]
    out = set()
    for line in lines:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        label, csi50 = cells[0], cells[4]
        if csi50.endswith("✓"):
            out.add((label, "ConvLSTM"))
        elif csi50.endswith("✗"):
            out.add(("ConvLSTM", label))
    return out


def test_the_accepted_answer_is_what_the_shipped_results_and_the_lessons_table_say():
    expected = comparing.significant_pairs()
    assert expected == _expected_from_the_file() == _expected_from_the_lessons_marks()
    # what the exercise teaches is there in the data: a pair only the paired test separates, one it does not
    assert expected - comparing._by_separate_intervals()
    assert comparing._by_point_estimate() - expected
    assert all("ConvLSTM" in pair for pair in expected)


def test_the_answer_passes_with_the_tables_names_and_other_spellings(capsys):
    expected = comparing.significant_pairs()
    check_significant_pairs(learner(lambda: set(expected)))
    spelled = {(a.lower().replace(" ", "_"), b.upper()) for a, b in expected}  # "optical_flow", "CONVLSTM"
    check_significant_pairs(learner(lambda: spelled))
    check_significant_pairs(learner(lambda: frozenset(expected)))
    assert capsys.readouterr().out.count("✓ significant_pairs: correct on 1 cases") == 3


@pytest.mark.parametrize("k", range(len(PAIRS.mistakes)))
def test_every_planted_answer_mistake_is_named(k):
    mistake = PAIRS.mistakes[k]
    assert mistake.fn() != comparing.significant_pairs()
    for seed in (1, 2):
        with pytest.raises(AssertionError) as info:
            check_significant_pairs(learner(mistake.fn), seed=seed)
        assert str(info.value).startswith(f"significant_pairs: {mistake.message}")
    lowered = {(a.lower(), b.lower()) for a, b in mistake.fn()}  # recognised whatever the spelling
    with pytest.raises(AssertionError, match=re.escape(mistake.message)):
        check_significant_pairs(learner(lambda: lowered))


def test_other_wrong_answers_are_explained():
    expected = comparing.significant_pairs()
    with pytest.raises(AssertionError, match="returns a list; return a set of"):
        check_significant_pairs(learner(lambda: sorted(expected)))
    with pytest.raises(AssertionError, match="'ConvLSTM2' is not a forecaster of the table"):
        check_significant_pairs(learner(lambda: expected | {("ConvLSTM2", "ConvLSTM")}))
    with pytest.raises(AssertionError, match="does not involve ConvLSTM"):
        check_significant_pairs(learner(lambda: expected | {("optical flow", "PredRNN")}))
    with pytest.raises(AssertionError, match="each item must be a pair of names"):
        check_significant_pairs(learner(lambda: {"MIM", "ConvLSTM"}))
    one_missing = expected - {("TrajGRU", "ConvLSTM")}  # (not one of the planted mistakes)
    with pytest.raises(AssertionError, match=r"1 real difference\(s\) missing, e\.g\. one with .*excludes 0"):
        check_significant_pairs(learner(lambda: one_missing))
    flipped_one = (expected - {("MIM", "ConvLSTM")}) | {("ConvLSTM", "MIM")}
    with pytest.raises(AssertionError, match=r"\('ConvLSTM', 'MIM'\) is the wrong way round \(MIM − ConvLSTM"):
        check_significant_pairs(learner(lambda: flipped_one))
    with pytest.raises(AssertionError, match=r"missing"):
        check_significant_pairs(learner(lambda: set()))


def test_answer_stub_is_not_written_yet():
    def significant_pairs():
        raise NotImplementedError("Write significant_pairs. Hint: read the CSI-50 column")

    with pytest.raises(AssertionError, match="significant_pairs: not written yet. Write significant_pairs. Hint"):
        check_significant_pairs(significant_pairs)


# --------------------------------------------------------------------------------------------
# through the grader
# --------------------------------------------------------------------------------------------

STUBS = {
    "convlstm_rollout_flops": "def convlstm_rollout_flops(in_channels, frame_size, patch_size, hidden_channels, "
    "kernel_size, input_len, pred_len):\n    raise NotImplementedError('Write convlstm_rollout_flops.')\n",
    "significant_pairs": "def significant_pairs():\n    raise NotImplementedError('Write significant_pairs.')\n",
}

_FLOPS_HEAD = (
    "def convlstm_rollout_flops(in_channels, frame_size, patch_size, hidden_channels, kernel_size, input_len, "
    "pred_len):\n"
    "    p, k = patch_size, kernel_size\n"
    "    grid = (frame_size[0] // p) * (frame_size[1] // p)\n"
    "    below = patch = p * p * in_channels\n"
    "    per_step = 0\n"
    "    for c in hidden_channels:\n"
)
#: mistake k of the FLOPs exercise (the spec's order: MACs, one gate, no recurrent convolution), as learners write it
WRONG_FLOPS = [
    _FLOPS_HEAD + "        per_step += k * k * (below + c) * 4 * c * grid\n        below = c\n"
    "    per_step += below * patch * grid\n    return per_step * (input_len + pred_len - 1)\n",
    _FLOPS_HEAD + "        per_step += 2 * k * k * (below + c) * c * grid\n        below = c\n"
    "    per_step += 2 * below * patch * grid\n    return per_step * (input_len + pred_len - 1)\n",
    _FLOPS_HEAD + "        per_step += 2 * k * k * below * 4 * c * grid\n        below = c\n"
    "    per_step += 2 * below * patch * grid\n    return per_step * (input_len + pred_len - 1)\n",
]


def _answer_source(pairs) -> str:
    return f"def significant_pairs():\n    return {set(sorted(pairs))!r}\n"


def test_the_hand_written_wrong_flops_are_the_planted_mistakes():
    for k, code in enumerate(WRONG_FLOPS):
        namespace: dict = {}
        exec(code, namespace)
        for case in FLOPS.make_cases(torch.Generator().manual_seed(5)):
            assert namespace["convlstm_rollout_flops"](*case.args) == FLOPS.mistakes[k].fn(*case.args), (k, case.label)


@needs_sandbox
def test_grading_the_source_stubs_and_one_submission_per_planted_mistake(tmp_path):
    paths = [make_submission(tmp_path, SOURCE, "reference"), make_submission(tmp_path, SOURCE, "stub", STUBS)]
    for k, code in enumerate(WRONG_FLOPS):
        wrong = {"convlstm_rollout_flops": code, "significant_pairs": _answer_source(PAIRS.mistakes[k].fn())}
        paths.append(make_submission(tmp_path, SOURCE, f"mistake{k}", wrong))
    results = grade(paths, jobs=2)
    assert all(not r.error for r in results), [r.error for r in results]
    reference, stub, *mistaken = results
    assert (reference.score, reference.max_score) == (3, 3)  # 2 points for the FLOPs, 1 for the answer
    assert all(e.feedback.startswith(f"✓ {e.exercise}: correct on") for e in reference.exercises)
    assert stub.score == 0
    for name, e in by_name(stub).items():
        assert e.status == "fail" and e.feedback.startswith(f"not written yet. Write {name}.")
    for k, result in enumerate(mistaken):
        assert result.score == 0
        for name, e in by_name(result).items():
            assert e.feedback.startswith(SPECS[name].mistakes[k].message), (k, e.feedback)
