"""Lesson 9's exercises (``ex09_nowcasting``): POD and FAR, the paired bootstrap, why persistence wins CSI-50.

The checkers' references are compared with :mod:`stlearn.metrics` on random fields (POD/FAR from
``categorical_counts``/``categorical_scores``, the interval of ``paired_bootstrap`` from two
accumulators); every planted mistake is named; the answer's accepted number and true reason are
checked against the shipped Table 8; and the real grader scores the source, the stubs and one
submission per mistake index.
"""

from __future__ import annotations

import math

import nbformat
import numpy as np
import pytest
import torch
from grading_helpers import by_name, learner, make_submission, needs_sandbox

from stlearn import metrics, table8
from stlearn.exercises import CHECKS, checks
from stlearn.exercises.checks import nowcasting as nc
from stlearn.exercises.grade import grade
from stlearn.exercises.student import exercise_dir

SPECS = checks.SPECS
NAMES = ("pod_far", "paired_bootstrap", "persistence_csi_reason")
SOURCE = "ex09_nowcasting"


def notebook_solutions() -> dict[str, object]:
    """The source notebook's solution functions, defined as a learner's kernel would (set-up cell first)."""
    nb = nbformat.read(exercise_dir() / f"{SOURCE}.ipynb", as_version=4)
    namespace: dict[str, object] = {"__name__": "__main__"}
    for cell in nb.cells:
        role = cell.metadata.get("stlearn", {}).get("role")
        if cell.cell_type == "code" and role in (None, "solution"):
            exec(compile(cell.source, "<notebook>", "exec"), namespace)
    return {name: namespace[name] for name in NAMES}


def fail_message(name, fn, seed=None) -> str:
    with pytest.raises(AssertionError) as info:
        CHECKS[name](learner(fn), seed=seed)
    message = str(info.value)
    assert message.startswith(f"{name}: ")
    return message


# --------------------------------------------------------------------------------------------
# the references are stlearn.metrics
# --------------------------------------------------------------------------------------------


def test_pod_far_reference_and_the_notebook_solution_are_stlearn_metrics_on_random_fields():
    gen = torch.Generator().manual_seed(3)
    obs = torch.rand((3, 5, 1, 16, 16), generator=gen, dtype=torch.float64).pow(3)
    pred = (0.7 * obs.roll(2, dims=-2) + 0.3 * torch.rand(obs.shape, generator=gen, dtype=torch.float64)).clamp(0, 1)
    thresholds = (30.0, 45.0, 60.5)  # nothing reaches 60.5 dBZ: nan there
    counts = metrics.categorical_counts(pred, obs, thresholds).sum(dim=0)  # (T, K, 4)
    scores = metrics.categorical_scores(pred, obs, thresholds)
    solution = notebook_solutions()["pod_far"]
    for fn in (nc._pod_far_reference, solution):
        pod, far = fn(*counts.unbind(-1))
        assert pod.dtype == far.dtype == torch.float64 and pod.shape == (5, 3)
        assert torch.allclose(pod, torch.from_numpy(scores["pod"]), equal_nan=True, rtol=0, atol=1e-15)
        assert torch.allclose(far, torch.from_numpy(scores["far"]), equal_nan=True, rtol=0, atol=1e-15)
        assert pod[:, 2].isnan().all() and far[:, 2].isnan().all()
        # the lesson's self-check: TP 30, FN 10, FP 20
        assert fn(30, 10, 20, 4036) == (0.75, 0.4)
        assert math.isnan(fn(0, 0, 7, 10)[0]) and fn(0, 0, 7, 10)[1] == 1.0
        assert fn(0, 7, 0, 10)[0] == 0.0 and math.isnan(fn(0, 7, 0, 10)[1])


def test_paired_bootstrap_reference_and_the_notebook_solution_reproduce_stlearn_metrics():
    rng = np.random.default_rng(5)
    n, t, n_boot, seed = 40, 10, 300, 11
    shared = rng.uniform(50, 300, size=(n, 1))
    stats_a = {"sse": shared + rng.normal(5, 10, size=(n, t)), "sae": rng.uniform(size=(n, t))}
    stats_b = {"sse": shared + rng.normal(0, 10, size=(n, t)), "sae": rng.uniform(size=(n, t))}
    acc_a = metrics.MetricAccumulator.from_per_sequence(stats_a, None, (t, 1, 64, 64))
    acc_b = metrics.MetricAccumulator.from_per_sequence(stats_b, None, (t, 1, 64, 64))
    expected = metrics.paired_bootstrap(acc_a, acc_b, n_boot=n_boot, seed=seed)["mse_frame"]
    # the same resamples as index rows: replicate r draws sequence i w[r, i] times
    weights = metrics._bootstrap_weights(n, n_boot, 0.95, seed).astype(int)
    resamples = torch.from_numpy(np.stack([np.repeat(np.arange(n), w) for w in weights]))
    err_a = torch.from_numpy(stats_a["sse"].mean(axis=1))
    err_b = torch.from_numpy(stats_b["sse"].mean(axis=1))
    for fn in (nc._paired_bootstrap_reference, notebook_solutions()["paired_bootstrap"]):
        got = fn(err_a, err_b, resamples)
        assert np.allclose(got, expected, rtol=1e-12, atol=1e-12)
    # paired is much narrower than the two separate intervals combined (what the lesson says)
    unpaired = nc._boot_variant("unpaired", "outer")(err_a, err_b, resamples)
    assert unpaired[2] - unpaired[1] > 3 * (expected[2] - expected[1])


# --------------------------------------------------------------------------------------------
# the checkers: references pass, mistakes are named
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["pod_far", "paired_bootstrap"])
def test_the_reference_and_the_notebook_solution_pass(name, capsys):
    for seed in (None, 1, 2):
        CHECKS[name](learner(SPECS[name].reference), seed=seed)
        CHECKS[name](learner(notebook_solutions()[name]), seed=seed)
    out, err = capsys.readouterr()
    assert out.count(f"✓ {name}: correct on ") == 6 and err == ""


def test_the_notebook_answer_passes(capsys):
    CHECKS["persistence_csi_reason"](learner(notebook_solutions()["persistence_csi_reason"]))
    assert capsys.readouterr().out.startswith("✓ persistence_csi_reason: correct on 1 cases")


MISTAKES = [(name, k) for name in NAMES for k in range(len(SPECS[name].mistakes))]


@pytest.mark.parametrize(("name", "k"), MISTAKES, ids=[f"{n}-{k}" for n, k in MISTAKES])
def test_every_planted_mistake_is_named(name, k):
    mistake = SPECS[name].mistakes[k]
    for seed in (1, 2):
        assert mistake.message in fail_message(name, mistake.fn, seed)


@pytest.mark.parametrize("name", NAMES)
def test_a_stub_is_not_written_yet(name):
    def stub(*args):
        raise NotImplementedError(f"Write {name}. Hint: a hint")

    assert fail_message(name, stub).startswith(f"{name}: not written yet. Write {name}. Hint: a hint")


def test_pod_far_mistakes_learners_write():
    def no_guard(hits, misses, false_alarms, correct_negatives):  # ints: 0 / 0 raises
        if isinstance(hits, torch.Tensor):
            hits, misses, false_alarms = hits.double(), misses.double(), false_alarms.double()
        return hits / (hits + misses), false_alarms / (hits + false_alarms)

    assert "a division by zero" in fail_message("pod_far", no_guard, 1)

    def float32(hits, misses, false_alarms, correct_negatives):
        if isinstance(hits, torch.Tensor):
            return hits / (hits + misses), false_alarms / (hits + false_alarms)  # int64 / int64 → float32
        return nc._pod_far_reference(hits, misses, false_alarms, correct_negatives)

    assert "your ratios are float32" in fail_message("pod_far", float32, 1)

    def one_number(hits, misses, false_alarms, correct_negatives):
        return nc._pod_far_reference(hits, misses, false_alarms, correct_negatives)[0]

    assert "expected a tuple of 2 values" in fail_message("pod_far", one_number, 1)


def test_paired_bootstrap_mistakes_learners_write():
    def fresh_indices_for_b(err_a, err_b, resamples):  # unpaired: B resampled on its own
        other = torch.randint(0, len(err_b), resamples.shape, generator=torch.Generator().manual_seed(0))
        reps = err_a[resamples].mean(1) - err_b[other].mean(1)
        return float(err_a.mean() - err_b.mean()), float(reps.quantile(0.025)), float(reps.quantile(0.975))

    assert "times as wide as the paired one" in fail_message("paired_bootstrap", fresh_indices_for_b, 1)

    def as_tensor(err_a, err_b, resamples):
        return torch.tensor(nc._paired_bootstrap_reference(err_a, err_b, resamples))

    assert "expected a tuple of 3 values" in fail_message("paired_bootstrap", as_tensor, 1)

    def in_place(err_a, err_b, resamples):
        err_a -= err_b
        reps = err_a[resamples].mean(1)
        return float(err_a.mean()), float(reps.quantile(0.025)), float(reps.quantile(0.975))

    assert "changed its argument 'err_a' in place" in fail_message("paired_bootstrap", in_place, 1)


# --------------------------------------------------------------------------------------------
# the answer: what the shipped results support
# --------------------------------------------------------------------------------------------


def test_the_true_reason_is_what_the_shipped_table_shows():
    rows = table8.load_shipped_results()["rows"]
    models = [m for m in table8.MODELS if rows[m]["status"] == "evaluated"]
    assert len(models) == 5
    persistence = rows["persistence"]["means"]
    for m in models:
        means, per_lead = rows[m]["means"], rows[m]["per_lead"]
        assert means["csi_50"] < persistence["csi_50"]  # the premise: persistence wins CSI-50
        assert means["pod_50"] < persistence["pod_50"] / 1.5  # C: the models detect far fewer strong cells
        assert max(per_lead["pod_50"][4:]) < 0.01  # ... and none after half an hour: their cores are gone
        assert means["far_50"] < persistence["far_50"]  # A is false: persistence has MORE false alarms
    # D is false: persistence is the last input frame repeated
    inputs = torch.rand(2, 10, 1, 8, 8)
    assert torch.equal(metrics.persistence_forecast(inputs, 3), inputs[:, -1:].expand(-1, 3, -1, -1, -1))
    data = nc.table8_at_50()
    assert data.best_pod == max(rows[m]["means"]["pod_50"] for m in models)
    assert nc.REASON == "C"


def test_the_accepted_number_and_the_numbers_it_is_told_apart_from():
    data = nc.table8_at_50()
    best = data.best_pod
    for x in (best, round(best, 3), best + 0.9 * nc.POD_TOLERANCE, best - 0.9 * nc.POD_TOLERANCE):
        CHECKS["persistence_csi_reason"](learner(lambda x=x: ("C", x)))
    CHECKS["persistence_csi_reason"](learner(lambda: ["c", torch.tensor(best)]))
    # every other score in the table is outside the tolerance, so a misread is named, not accepted
    others = [*data.csi.values(), *data.far.values(), data.pod["persistence"]]
    others += [data.pod[m] for m in data.models if m != data.best_pod_model]
    assert min(abs(v - best) for v in others) > 2 * nc.POD_TOLERANCE
    second = max(data.pod[m] for m in data.models if m != data.best_pod_model)
    assert "not of the one that detects the most" in fail_message("persistence_csi_reason", lambda: ("C", second))
    assert "the number is not" in fail_message("persistence_csi_reason", lambda: ("C", 0.99))
    assert "return two values" in fail_message("persistence_csi_reason", lambda: "C")
    assert "one of the letters" in fail_message("persistence_csi_reason", lambda: ("E", best))
    assert "must be a number" in fail_message("persistence_csi_reason", lambda: ("C", "0.07"))


# --------------------------------------------------------------------------------------------
# grading through the real grader
# --------------------------------------------------------------------------------------------

POD_FAR = """def pod_far(hits, misses, false_alarms, correct_negatives):
    if isinstance(hits, torch.Tensor):
        tp, fn, fp, tn = (x.double() for x in (hits, misses, false_alarms, correct_negatives))
        undefined = torch.full_like(tp, {undefined})
        pod = torch.where(tp + fn > 0, tp / (tp + fn), undefined)
        far = torch.where({far_den} > 0, fp / ({far_den}), undefined)
    else:
        tp, fn, fp, tn = hits, misses, false_alarms, correct_negatives
        pod = tp / (tp + fn) if tp + fn > 0 else {undefined}
        far = fp / ({far_den}) if {far_den} > 0 else {undefined}
    return {order}
"""
POD_FAR_WRONG = [
    POD_FAR.format(undefined="math.nan", far_den="fp + tn", order="pod, far"),  # the false-alarm rate
    POD_FAR.format(undefined="math.nan", far_den="tp + fp", order="far, pod"),  # swapped
    POD_FAR.format(undefined="0.0", far_den="tp + fp", order="pod, far"),  # 0 where undefined
]
BOOTSTRAP = """def paired_bootstrap(err_a, err_b, resamples):
    diff = {diff}
    reps = diff[resamples].mean(dim=1)
    {interval}
    return float(diff.mean()), float(low), float(high)
"""
QUANTILES = "low, high = torch.quantile(reps, torch.tensor([{q}], dtype=reps.dtype))"
BOOTSTRAP_WRONG = [
    BOOTSTRAP.format(diff="err_b - err_a", interval=QUANTILES.format(q="0.025, 0.975")),  # B − A
    BOOTSTRAP.format(diff="err_a - err_b", interval=QUANTILES.format(q="0.05, 0.95")),  # a 90 % interval
    BOOTSTRAP.format(
        diff="err_a - err_b", interval="low, high = diff.mean() - 1.96 * reps.std(), diff.mean() + 1.96 * reps.std()"
    ),  # mean ± 1.96·std
]


def answer_source(name: str, k: int) -> str:
    return f"def {name}():\n    return {SPECS[name].mistakes[k].fn()!r}\n"


def test_the_learner_sources_carry_the_planted_mistakes():
    """The submissions below write each mistake as a learner would; they are the spec's mistakes k."""
    for k in range(3):
        for name, source in (("pod_far", POD_FAR_WRONG[k]), ("paired_bootstrap", BOOTSTRAP_WRONG[k])):
            namespace = {"torch": torch, "math": math}
            exec(source, namespace)
            assert SPECS[name].mistakes[k].message in fail_message(name, namespace[name], 1)


@needs_sandbox
def test_grading_the_source_the_stubs_and_each_planted_mistake(tmp_path):
    stub = {name: f"def {name}(*args):\n    raise NotImplementedError('Write {name}.')\n" for name in NAMES}
    paths = [make_submission(tmp_path, SOURCE, "source"), make_submission(tmp_path, SOURCE, "stubs", stub)]
    for k in range(3):
        solutions = {
            "pod_far": POD_FAR_WRONG[k],
            "paired_bootstrap": BOOTSTRAP_WRONG[k],
            "persistence_csi_reason": answer_source("persistence_csi_reason", k),
        }
        paths.append(make_submission(tmp_path, SOURCE, f"mistake{k}", solutions))
    results = grade(paths, jobs=2)
    source, stubs, *wrong = results
    assert not source.error and source.score == source.max_score == 4
    assert stubs.score == 0 and all(e.feedback.startswith("not written yet") for e in stubs.exercises)
    for k, result in enumerate(wrong):
        assert result.score == 0, (k, [(e.exercise, e.feedback) for e in result.exercises])
        for name, entry in by_name(result).items():
            assert SPECS[name].mistakes[k].message in entry.feedback, (k, name, entry.feedback)
