"""stlearn.training.budgets: shipped models' training budgets from their checkpoints; the equal-budget check."""

import re
from types import SimpleNamespace

import pytest

import stlearn.training.budgets as budget_mod
from stlearn.training import schedules
from stlearn.training.budgets import (
    Budget,
    BudgetComparison,
    compare_budgets,
    grouped,
    sampling_constants,
    training_budget,
)
from stlearn.training.pretrained import available, pretrained_info


def _budget(model, iterations, batch_size):
    return Budget("moving_digits", model, iterations, batch_size, "cpu", 60.0, False)


def test_grouped():
    assert grouped(6000) == "6 000" and grouped(96_000) == "96 000" and grouped(625) == "625"


@pytest.mark.parametrize("dataset", ["moving_digits", "radar"])
def test_training_budget_reads_the_checkpoint(dataset):
    for model in available()[dataset]:
        b = training_budget(dataset, model)
        training = pretrained_info(dataset, model).training
        assert b.iterations == training["iterations_done"] and b.batch_size == training["config"]["batch_size"]
        assert b.sequences == b.iterations * b.batch_size
        assert b.describe() == f"{grouped(b.iterations)} iterations of batch {b.batch_size}"


def test_compare_budgets_says_whether_the_shipped_models_are_equal():
    models = available()["moving_digits"]
    cmp = compare_budgets("moving_digits", models)
    assert set(cmp.budgets) == set(models)
    assert cmp.equal == (len({(b.iterations, b.batch_size) for b in cmp.budgets.values()}) == 1)
    assert str(cmp).startswith("Equal training budget" if cmp.equal else "NOT an equal-budget comparison")


def test_unequal_budgets_are_named_and_flagged():
    cmp = BudgetComparison(
        {
            "convlstm": _budget("convlstm", 6000, 16),
            "predrnn": _budget("predrnn", 6000, 16),
            "predrnn_v2": _budget("predrnn_v2", 1000, 8),
        }
    )
    text = str(cmp)
    assert not cmp.equal and cmp.ratio == 12
    assert text.startswith("NOT an equal-budget comparison")
    assert "ConvLSTM, PredRNN: 6 000 iterations × batch 16 = 96 000 sequences" in text
    assert "PredRNN-V2: 1 000 iterations × batch 8 = 8 000 sequences" in text
    assert "12×" in text and "not evidence about their architectures" in text
    assert text.index("ConvLSTM") < text.index("PredRNN-V2")  # largest budget first


def test_equal_budgets():
    cmp = BudgetComparison({"mim": _budget("mim", 1000, 8), "trajgru": _budget("trajgru", 1000, 8)})
    assert cmp.equal and cmp.ratio == 1
    assert (
        str(cmp)
        == "Equal training budget: MIM, TrajGRU both trained for 1 000 iterations of batch 8 (8 000 sequences each)."
    )


def test_same_sequences_different_recipe_is_not_equal():
    cmp = BudgetComparison({"mim": _budget("mim", 2000, 8), "trajgru": _budget("trajgru", 1000, 16)})
    assert not cmp.equal and cmp.ratio == 1


@pytest.mark.parametrize("model", ["convlstm", "predrnn", "predrnn_v2", "mim"])
def test_sampling_constants_of_the_shipped_models_feed_the_schedules(model):
    sc = sampling_constants("moving_digits", model)
    n = training_budget("moving_digits", model).iterations
    if pretrained_info("moving_digits", model).training["config"]["sampling"] == "reverse":
        assert schedules.reverse_sampling_probabilities(n, **sc) == (1.0, 0.0)
    else:
        assert schedules.scheduled_sampling_probability(0, **sc) == 1.0
        assert schedules.scheduled_sampling_probability(n, **sc) == 0.0


def test_sampling_constants_resolve_fractions_of_the_run(monkeypatch):
    """The CPU campaign's configs give the schedule as a fraction of the run (stop_fraction = 0.625)."""
    config = dict(pretrained_info("moving_digits", "convlstm").training["config"])
    config.update(
        iterations=6000,
        sampling="scheduled",
        sampling_config={"start": 1.0, "stop_fraction": 0.625},
        a_key_from_a_newer_stlearn=True,
    )
    monkeypatch.setattr(
        budget_mod, "pretrained_info", lambda dataset, model: SimpleNamespace(training={"config": config})
    )
    sc = sampling_constants("moving_digits", "convlstm")
    assert sc["stop_iteration"] == 3750
    assert (
        schedules.scheduled_sampling_probability(3749, **sc) > 0 == schedules.scheduled_sampling_probability(3750, **sc)
    )


def test_public_functions_name_their_lesson():
    for name in budget_mod.__all__:
        obj = getattr(budget_mod, name)
        if callable(obj):
            assert re.search(r"[Ll]esson \d", obj.__doc__ or ""), name
