"""Lesson 2's exercises (``ex02_lstm_to_convlstm``): the receptive field and the parameter count of a ConvLSTM.

The references are checked against the package — the receptive field against an autograd measurement on real
stacked :class:`stlearn.models.ConvLSTM` models and :func:`stlearn.connectivity.convlstm_lead1_reach`, the
parameter count against :func:`stlearn.complexity.count_parameters` of real cells — then every planted mistake
must be named, by the checker and through the grader.
"""

from __future__ import annotations

import pytest
import torch
from grading_helpers import by_name, learner, make_submission, needs_sandbox

from stlearn.cells import ConvLSTMCell
from stlearn.complexity import count_parameters
from stlearn.connectivity import InfluenceProbe, convlstm_lead1_reach
from stlearn.exercises import check_convlstm_param_count, check_receptive_field
from stlearn.exercises.checks import convlstm_basics as basics
from stlearn.exercises.grade import grade
from stlearn.models import ConvLSTM

SOURCE = "ex02_lstm_to_convlstm"
SPECS = {spec.name: spec for spec in basics.SPECS}
CHECKERS = {"receptive_field": check_receptive_field, "convlstm_param_count": check_convlstm_param_count}


# --------------------------------------------------------------------------------------------
# the references agree with the package
# --------------------------------------------------------------------------------------------


def _measured_side(layers: int, k: int, steps: int) -> tuple[int, int]:
    """Rows and columns of X_1 with a non-zero gradient of one centre pixel of the top H after ``steps`` steps."""
    side = basics.receptive_field(layers, k, steps)
    size = side + 6 + (side + 6) % 2 + 1  # odd, with a margin: the square never touches the border
    torch.manual_seed(layers * 100 + k * 10 + steps)
    model = ConvLSTM(1, (size, size), patch_size=1, hidden_channels=[3] * layers, kernel_size=k, peephole=False)
    frames = torch.rand(steps + 1, 1, size, size, dtype=torch.float64)
    # lead 1 after `steps` input frames: the 1 × 1 head of the top layer's H after step t (per pixel, no reach)
    influence = InfluenceProbe(model.double(), frames, input_len=steps)(1, size // 2, size // 2)
    rows, cols = (influence.maps[0] > 0).nonzero()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


@pytest.mark.parametrize(("layers", "k", "steps"), [(1, 3, 1), (2, 3, 3), (3, 3, 2), (1, 5, 3), (2, 5, 2), (2, 1, 3)])
def test_receptive_field_is_what_autograd_measures_on_a_real_stack(layers, k, steps):
    expected = basics.receptive_field(layers, k, steps)
    assert _measured_side(layers, k, steps) == (expected, expected)


def test_receptive_field_agrees_with_the_lead1_reach_of_stlearn_connectivity():
    for layers in range(1, 5):
        for k in (1, 3, 5, 7):
            for steps in range(1, 9):
                reach = convlstm_lead1_reach(layers, k, steps)[0]  # the first input frame
                assert basics.receptive_field(layers, k, steps) == 2 * reach + 1 == (k - 1) * (layers + steps - 1) + 1


def test_lesson_2_numbers():
    assert basics.receptive_field(3, 3, 5) == 2 * 7 + 1  # self-check 4: radius 7 for X_{s-4}, three layers
    assert basics.convlstm_param_count(1, 32, 3, False, 64, 64) == 38_144
    assert basics.convlstm_param_count(1, 32, 3, True, 64, 64) == 38_144 + 3 * 32 * 64 * 64
    assert basics.convlstm_param_count(16, 64, 5, False, 8, 8) == 512_256  # self-check 2


def test_param_count_is_count_parameters_of_real_cells():
    gen = torch.Generator().manual_seed(0)
    configs = [(1, 32, 3, False, 64, 64), (1, 32, 3, True, 64, 64), (3, 8, 1, True, 5, 7)]
    for _ in range(12):
        draw = [int(torch.randint(lo, hi + 1, (1,), generator=gen)) for lo, hi in ((1, 16), (1, 48), (0, 3))]
        h, w = (int(v) for v in torch.randint(2, 40, (2,), generator=gen))
        configs.append((draw[0], draw[1], 2 * draw[2] + 1, bool(torch.rand(1, generator=gen) < 0.5), h, w))
    for c_in, c, k, peephole, h, w in configs:
        with torch.device("meta"):
            cell = ConvLSTMCell(c_in, c, k, frame_size=(h, w), peephole=peephole)
        assert basics.convlstm_param_count(c_in, c, k, peephole, h, w) == count_parameters(cell)


# --------------------------------------------------------------------------------------------
# the checkers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_reference_passes(name, capsys):
    for seed in (None, 1, 2):
        CHECKERS[name](learner(SPECS[name].reference), seed=seed)
    out = capsys.readouterr().out
    assert out.startswith(f"✓ {name}: correct on ") and out.count("✓") == 3


MISTAKES = [(name, k) for name, spec in sorted(SPECS.items()) for k in range(len(spec.mistakes))]


@pytest.mark.parametrize(("name", "k"), MISTAKES, ids=[f"{n}-{k}" for n, k in MISTAKES])
def test_every_planted_mistake_is_named(name, k):
    mistake = SPECS[name].mistakes[k]
    for seed in (1, 2):
        with pytest.raises(AssertionError) as info:
            CHECKERS[name](learner(mistake.fn), seed=seed)
        assert str(info.value).startswith(f"{name}: {mistake.message}")


def test_a_stub_is_not_written_yet():
    def receptive_field(num_layers, kernel_size, steps):
        raise NotImplementedError("Write receptive_field. Hint: count the convolutions")

    with pytest.raises(AssertionError, match="receptive_field: not written yet. Write receptive_field. Hint: count"):
        check_receptive_field(receptive_field)

    def convlstm_param_count(in_channels, hidden_channels, kernel_size, peephole, height, width):
        raise NotImplementedError("Write convlstm_param_count.")

    with pytest.raises(AssertionError, match="convlstm_param_count: not written yet"):
        check_convlstm_param_count(convlstm_param_count)


def test_hand_written_wrong_receptive_fields():
    def half_kernel_as_float(num_layers, kernel_size, steps):
        return 2 * (kernel_size / 2) * (num_layers + steps - 1) + 1  # k/2 is not ⌊k/2⌋: adds k per convolution

    with pytest.raises(AssertionError, match="widens the region by 2·⌊k/2⌋ = k − 1 pixels, not k"):
        check_receptive_field(half_kernel_as_float, seed=3)

    def radius_as_float(num_layers, kernel_size, steps):
        return (kernel_size - 1) / 2 * (num_layers + steps - 1) + 0.5

    with pytest.raises(AssertionError, match="not a whole number: a side length is a count"):
        check_receptive_field(radius_as_float, seed=3)

    def product(num_layers, kernel_size, steps):
        return (kernel_size - 1) * num_layers * steps + 1

    with pytest.raises(AssertionError, match=r"returns [\d,]+; expected [\d,]+ \(lesson 2: radius = ⌊k/2⌋·\(L \+ d\)"):
        check_receptive_field(product, seed=3)


def test_hand_written_wrong_parameter_counts():
    def fc_style_peepholes_and_one_gate(in_channels, hidden_channels, kernel_size, peephole, height, width):
        c, k = hidden_channels, kernel_size
        return c * (in_channels + c) * k * k + c + (3 * c if peephole else 0)

    with pytest.raises(AssertionError, match="convlstm_param_count: you counted one gate"):
        check_convlstm_param_count(fc_style_peepholes_and_one_gate, seed=3)  # named where there are no peepholes

    def fc_style_peepholes(in_channels, hidden_channels, kernel_size, peephole, height, width):
        c, k = hidden_channels, kernel_size
        return 4 * c * (in_channels + c) * k * k + 4 * c + (3 * c if peephole else 0)

    with pytest.raises(AssertionError, match=r"one weight per channel, \(C,\) as in the FC-LSTM"):
        check_convlstm_param_count(fc_style_peepholes, seed=3)

    def as_a_string(in_channels, hidden_channels, kernel_size, peephole, height, width):
        return "38144"

    with pytest.raises(AssertionError, match="returns a str; return a whole number"):
        check_convlstm_param_count(as_a_string, seed=3)


# --------------------------------------------------------------------------------------------
# through the grader
# --------------------------------------------------------------------------------------------

STUBS = {
    "receptive_field": "def receptive_field(num_layers, kernel_size, steps):\n"
    "    raise NotImplementedError('Write receptive_field.')\n",
    "convlstm_param_count": "def convlstm_param_count(in_channels, hidden_channels, kernel_size, peephole, height, "
    "width):\n    raise NotImplementedError('Write convlstm_param_count.')\n",
}

#: mistake k of each exercise (the same order as the specs' mistakes), as a learner would write it
WRONG = [
    {
        "receptive_field": "def receptive_field(num_layers, kernel_size, steps):\n"
        "    return kernel_size * (num_layers + steps - 1) + 1\n",
        "convlstm_param_count": "def convlstm_param_count(in_channels, hidden_channels, kernel_size, peephole, height, "
        "width):\n    c, k = hidden_channels, kernel_size\n"
        "    return c * (in_channels + c) * k * k + c + (3 * c * height * width if peephole else 0)\n",
    },
    {
        "receptive_field": "def receptive_field(num_layers, kernel_size, steps):\n"
        "    return (kernel_size - 1) * num_layers + 1\n",
        "convlstm_param_count": "def convlstm_param_count(in_channels, hidden_channels, kernel_size, peephole, height, "
        "width):\n    c, k = hidden_channels, kernel_size\n"
        "    return 4 * c * in_channels * k * k + 4 * c + (3 * c * height * width if peephole else 0)\n",
    },
    {
        "receptive_field": "def receptive_field(num_layers, kernel_size, steps):\n"
        "    return (kernel_size - 1) * steps + 1\n",
        "convlstm_param_count": "def convlstm_param_count(in_channels, hidden_channels, kernel_size, peephole, height, "
        "width):\n    c, k = hidden_channels, kernel_size\n"
        "    return 4 * c * (in_channels + c) * k * k + (3 * c * height * width if peephole else 0)\n",
    },
]


def test_the_hand_written_wrong_solutions_are_the_planted_mistakes():
    for k, solutions in enumerate(WRONG):
        for name, code in solutions.items():
            namespace: dict = {}
            exec(code, namespace)
            for case in SPECS[name].make_cases(torch.Generator().manual_seed(5)):
                assert namespace[name](*case.args) == SPECS[name].mistakes[k].fn(*case.args), (name, k, case.label)


@needs_sandbox
def test_grading_the_source_stubs_and_one_submission_per_planted_mistake(tmp_path):
    paths = [make_submission(tmp_path, SOURCE, "reference"), make_submission(tmp_path, SOURCE, "stub", STUBS)]
    paths += [make_submission(tmp_path, SOURCE, f"mistake{k}", wrong) for k, wrong in enumerate(WRONG)]
    results = grade(paths, jobs=2)
    assert all(not r.error for r in results), [r.error for r in results]
    reference, stub, *mistaken = results
    assert (reference.score, reference.max_score) == (2, 2)
    assert all(e.feedback.startswith(f"✓ {e.exercise}: correct on") for e in reference.exercises)
    assert stub.score == 0
    for name, e in by_name(stub).items():
        assert e.status == "fail" and e.feedback.startswith(f"not written yet. Write {name}.")  # the grader drops
        # the exercise's name in front of its feedback (its column says it)
    for k, result in enumerate(mistaken):
        assert result.score == 0
        for name, e in by_name(result).items():
            assert e.feedback.startswith(SPECS[name].mistakes[k].message), (k, e.feedback)


def test_counts_are_compared_exactly_and_shown_as_integers(capsys):
    def off_by_one(in_channels, hidden_channels, kernel_size, peephole, height, width):
        return basics.convlstm_param_count(in_channels, hidden_channels, kernel_size, peephole, height, width) + 1

    with pytest.raises(AssertionError, match=r"convlstm_param_count: returns 4,041; expected 4,040 \(W_x"):
        check_convlstm_param_count(off_by_one, seed=3)

    def as_float(num_layers, kernel_size, steps):
        return float(basics.receptive_field(num_layers, kernel_size, steps))  # 29.0 is the whole number 29

    check_receptive_field(as_float, seed=3)
    assert capsys.readouterr().out.startswith("✓ receptive_field: correct on")
