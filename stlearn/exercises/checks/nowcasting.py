"""POD and FAR, the paired bootstrap, and why persistence wins CSI-50 — lesson 9 (``ex09_nowcasting``).

The references are :mod:`stlearn.metrics` itself (``scores_from_counts`` and the interval rule of
``paired_bootstrap``), so a checker can never disagree with the numbers the lesson prints; the
answer exercise reads the shipped Table 8 results (:func:`stlearn.table8.load_shipped_results`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import worker
from .._core import Case, CheckSpec, Mistake, run_check
from ._draw import named_specs, randint, randn

Tensor = torch.Tensor

# --------------------------------------------------------------------------------------------
# Exercise 1 — POD and FAR from the contingency counts
# --------------------------------------------------------------------------------------------


def _counts_of_fields(gen: torch.Generator, shape: tuple[int, ...], thresholds: tuple[float, ...]) -> Tensor:
    """Contingency counts (T, K, 4) of a random forecast against a random field, summed over sequences.

    Reflectivity-like fields in [0, 1] (dBZ = 70·p − 10): a smooth "observed" field and a forecast that
    is the observation blurred and displaced, as a nowcast is; counted by :func:`stlearn.metrics.categorical_counts`.
    """
    from ...metrics import categorical_counts

    obs = torch.rand(shape, generator=gen, dtype=torch.float64).pow(3)
    pred = (0.8 * obs.roll(1, dims=-1) + 0.2 * torch.rand(shape, generator=gen, dtype=torch.float64)).clamp(0, 1)
    return categorical_counts(pred, obs, thresholds).sum(dim=0)


def _pod_far_cases(gen: torch.Generator) -> list[Case]:
    # three different counts in [5, 60], so that no mix-up of them goes unseen (drawn distinct: the
    # former "draw, then fp += 1 until they differ" never ended when TP and FN came out equal)
    tp, fn, fp = (5 + int(k) for k in torch.randperm(56, generator=gen)[:3])
    tn = 4096 - tp - fn - fp
    cases = [
        Case("Python ints: TP 30, FN 10, FP 20, TN 4036 (the lesson's self-check)", (30, 10, 20, 4036)),
        Case(f"Python ints: TP {tp}, FN {fn}, FP {fp}, TN {tn}", (tp, fn, fp, tn)),
        Case(f"nothing observed: TP 0, FN 0, FP {fp}, TN {tn} (POD undefined: nan)", (0, 0, fp, tn)),
        Case(f"nothing forecast: TP 0, FN {fn}, FP 0, TN {tn} (FAR undefined: nan)", (0, fn, 0, tn)),
        Case("no event at all: TP 0, FN 0, FP 0, TN 4096 (both undefined: nan)", (0, 0, 0, 4096)),
    ]
    n, t = randint(gen, 2, 4), randint(gen, 3, 6)
    counts = _counts_of_fields(gen, (n, t, 1, 16, 16), (40.0,))[:, 0]  # (T, 4)
    cases.append(
        Case(f"int64 tensors (T,) = ({t},): one lead time each, 40 dBZ, {n} random sequences", tuple(counts.unbind(-1)))
    )
    counts = _counts_of_fields(gen, (n, t, 1, 12, 12), (30.0, 50.0, 60.5))  # (T, 3, 4); nothing reaches 60.5
    cases.append(
        Case(
            f"int64 tensors (T, K) = ({t}, 3) at 30, 50 and 60.5 dBZ (nothing reaches 60.5: nan there)",
            tuple(counts.unbind(-1)),
        )
    )
    weights = 0.5 + torch.rand((4, t), generator=gen, dtype=torch.float64) * 2.5
    tp_w, fn_w, fp_w = ((weights * randint(gen, 2, 40)).round() for _ in range(3))
    tp_w[0, 0] = fn_w[0, 0] = 0.0  # nothing observed: POD nan
    tp_w[0, 1] = fp_w[0, 1] = 0.0  # nothing forecast: FAR nan
    tn_w = (weights * 4000).round()
    cases.append(
        Case(
            f"float64 tensors (4, {t}): resampled (weighted) counts, some zero", (tp_w, fn_w, fp_w, tn_w), torch.float64
        )
    )
    return cases


def _ratio(num: Any, den: Any, undefined: float = math.nan) -> Any:
    """num / den, ``undefined`` where den is 0: floats for Python numbers, float64 tensors for tensors."""
    if isinstance(num, Tensor) or isinstance(den, Tensor):
        num, den = torch.as_tensor(num).double(), torch.as_tensor(den).double()
        return torch.where(den > 0, num / den.clamp_min(1e-300), torch.full_like(den, undefined))
    return num / den if den > 0 else undefined


def _pod_far_reference(hits: Any, misses: Any, false_alarms: Any, correct_negatives: Any) -> tuple[Any, Any]:
    """(POD, FAR) by :func:`stlearn.metrics.scores_from_counts`: floats for ints, float64 tensors for tensors."""
    from ...metrics import scores_from_counts

    if isinstance(hits, Tensor):
        counts = torch.stack([hits, misses, false_alarms, correct_negatives], dim=-1)
        scores = scores_from_counts(counts)
        return torch.from_numpy(scores["pod"]), torch.from_numpy(scores["far"])
    scores = scores_from_counts(np.array([hits, misses, false_alarms, correct_negatives]))
    return float(scores["pod"]), float(scores["far"])


def _pod_far_variant(kind: str):
    def fn(tp, fn_, fp, tn):
        pod, far = _ratio(tp, tp + fn_), _ratio(fp, tp + fp)
        if kind == "rate":
            far = _ratio(fp, fp + tn)
        elif kind == "swap":
            pod, far = far, pod
        elif kind == "success":
            pod = _ratio(tp, tp + fp)
        elif kind == "zero":
            pod, far = _ratio(tp, tp + fn_, 0.0), _ratio(fp, tp + fp, 0.0)
        elif kind == "csi":
            pod = _ratio(tp, tp + fn_ + fp)
        return pod, far

    return fn


def _float64_ratios(case: Case, out: Any) -> str | None:
    if isinstance(out, tuple | list) and any(isinstance(v, Tensor) and v.dtype == torch.float32 for v in out):
        return (
            "your ratios are float32: dividing int64 count tensors in torch gives the default dtype, float32; "
            "stlearn.metrics (and Table 8) work in float64 — convert the counts with .double() before dividing"
        )
    return None


_POD_FAR = CheckSpec(
    "pod_far",
    _pod_far_reference,
    _pod_far_cases,
    [
        Mistake(
            _pod_far_variant("rate"),
            "FP / (FP + TN) is the false-alarm RATE (probability of false detection), not the false-alarm RATIO: "
            "FAR = FP / (TP + FP) asks what share of the FORECAST events did not happen, so the correct negatives "
            "play no part",
        ),
        Mistake(_pod_far_variant("swap"), "you returned (FAR, POD): return (POD, FAR), POD first"),
        Mistake(
            _pod_far_variant("zero"),
            "where a denominator is 0 (nothing observed for POD, nothing forecast for FAR) the ratio is undefined: "
            "stlearn.metrics returns nan (math.nan, or float('nan') in a tensor), not 0 — a 0 would count as a "
            "real score when lead times or thresholds are averaged",
        ),
        Mistake(
            _pod_far_variant("success"),
            "TP / (TP + FP) is the success ratio (1 − FAR): POD = TP / (TP + FN) asks what share of the OBSERVED "
            "events was forecast, so its denominator holds the misses, not the false alarms",
        ),
        Mistake(
            _pod_far_variant("csi"), "TP / (TP + FN + FP) is the CSI; POD = TP / (TP + FN) leaves out the false alarms"
        ),
    ],
    validators=[_float64_ratios],
    failure_note="POD = TP / (TP + FN), FAR = FP / (TP + FP), nan where the denominator is 0",
)


def check_pod_far(fn: Callable[..., tuple[Any, Any]], seed: int | None = None) -> None:
    r"""Check ``pod_far(hits, misses, false_alarms, correct_negatives) -> (POD, FAR)`` against ``stlearn.metrics``.

    Python ints give floats, count tensors (int64 or float64) float64 tensors, nan where a
    denominator is 0 (``scores_from_counts``). Recognises: the false-alarm rate FP/(FP+TN) for the
    ratio, (FAR, POD) swapped, POD = TP/(TP+FP), CSI for POD, 0 instead of nan, float32 ratios,
    a ZeroDivisionError (explained), in-place edits.  Exercise of lesson 9 (``ex09_nowcasting.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_POD_FAR, fn, seed)


# --------------------------------------------------------------------------------------------
# Exercise 2 — the paired bootstrap of a difference of mean scores
# --------------------------------------------------------------------------------------------

#: (label, N sequences, R resamples, dtype, scale of the scores: "mse" (per frame) or "csi")
_BOOT_SPECS = [
    ("float64, 40 sequences, 200 resamples, MSE-per-frame-like scores", 40, 200, torch.float64, "mse"),
    ("float32, 25 sequences, 100 resamples, CSI-like scores", 25, 100, torch.float32, "csi"),
    ("float64, 100 sequences, 1000 resamples, CSI-like scores", 100, 1000, torch.float64, "csi"),
    ("float32, 12 sequences, 500 resamples, CSI-like scores, A behind B", 12, 500, torch.float32, "csi-"),
    ("float64, 60 sequences, 300 resamples, MSE-per-frame-like scores, A behind B", 60, 300, torch.float64, "mse-"),
]


def _bootstrap_cases(gen: torch.Generator) -> list[Case]:
    """Per-sequence scores of two forecasts on the same sequences: a shared difficulty plus a small difference.

    The sequences differ much more from each other than A differs from B, as on a real test split: the
    paired interval is then several times narrower than an unpaired one, so resampling A and B apart shows.
    """
    cases = []
    for label, n, r, dtype, kind in _BOOT_SPECS:
        sign = -1.0 if kind.endswith("-") else 1.0
        if kind.startswith("mse"):
            shared = 130.0 + 40.0 * randn(gen, (n,), torch.float64)
            delta = sign * (1.0 + 4.0 * torch.rand((), generator=gen, dtype=torch.float64))
            a = shared + delta + 3.0 * randn(gen, (n,), torch.float64)
            b = shared + 3.0 * randn(gen, (n,), torch.float64)
        else:
            shared = 0.2 + 0.08 * randn(gen, (n,), torch.float64)
            delta = sign * (0.005 + 0.02 * torch.rand((), generator=gen, dtype=torch.float64))
            a = (shared + delta + 0.006 * randn(gen, (n,), torch.float64)).clamp(0, 1)
            b = (shared + 0.006 * randn(gen, (n,), torch.float64)).clamp(0, 1)
        resamples = torch.randint(0, n, (r, n), generator=gen)
        cases.append(Case(label, (a.to(dtype), b.to(dtype), resamples), dtype))
    return cases


def _replicates(err_a: Tensor, err_b: Tensor, resamples: Tensor) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(replicate means of A, of B, full-sample mean of A, of B) in float64, the way stlearn.metrics weighs them."""
    a, b = err_a.double().numpy(), err_b.double().numpy()
    idx = resamples.numpy()
    n = len(a)
    # w[r, i]: how often replicate r draws sequence i; a replicate's mean is Σ_i w_ri·v_i / N
    r = len(idx)
    weights = np.bincount((np.arange(r)[:, None] * n + idx).ravel(), minlength=r * n).reshape(r, n).astype(np.float64)
    return weights @ a / n, weights @ b / n, float(a.mean()), float(b.mean())


def _paired_bootstrap_reference(err_a: Tensor, err_b: Tensor, resamples: Tensor) -> tuple[float, float, float]:
    """(mean(A) − mean(B), 2.5 % and 97.5 % quantiles of the resampled differences): stlearn.metrics' rule."""
    from ...metrics import _intervals

    rep_a, rep_b, mean_a, mean_b = _replicates(err_a, err_b, resamples)
    return _intervals({"d": mean_a - mean_b}, {"d": rep_a - rep_b}, 0.95)["d"]


def _boot_variant(kind: str, method: str = "linear", q: tuple[float, float] = (0.025, 0.975)):
    def fn(err_a, err_b, resamples):
        rep_a, rep_b, mean_a, mean_b = _replicates(err_a, err_b, resamples)
        diff, point = rep_a - rep_b, mean_a - mean_b
        if kind == "reversed":
            diff, point = -diff, -point
        if kind == "std":
            spread = 1.96 * diff.std(ddof=1 if method == "sample" else 0)
            return point, point - spread, point + spread
        if kind == "unpaired":  # each model's interval on its own, then combined
            a_lo, a_hi = np.quantile(rep_a, q)
            b_lo, b_hi = np.quantile(rep_b, q)
            if method == "outer":
                return point, float(a_lo - b_hi), float(a_hi - b_lo)
            return point, float(a_lo - b_lo), float(a_hi - b_hi)
        if kind == "per_sequence":  # the quantiles of single sequences' differences, not of the mean's
            diff = (err_a.double() - err_b.double()).numpy()
        if kind == "wrong_axis":  # means over the R resamples per position: N "replicates"
            idx = resamples.numpy()
            diff = (err_a.double().numpy()[idx] - err_b.double().numpy()[idx]).mean(axis=0)
        if kind == "replicate_mean":
            point = float(diff.mean())
        if kind == "sorted_index":
            ordered = np.sort(diff)
            lo, hi = ordered[int(q[0] * len(diff))], ordered[min(int(q[1] * len(diff)), len(diff) - 1)]
            return point, float(lo), float(hi)
        lo, hi = np.quantile(diff, q, method=method)
        return point, float(lo), float(hi)

    return fn


_INTERPOLATION = (
    "the ends of your interval are single order statistics of the replicates (no interpolation); stlearn.metrics "
    "uses np.quantile's default, LINEAR interpolation between the two neighbouring order statistics — "
    "torch.quantile's default does the same — so Table 8's intervals are reproduced exactly"
)
_UNPAIRED = (
    "you combined two separate intervals (A's and B's, each resampled on its own): that is the unpaired "
    "comparison — it keeps the sequences' shared difficulty in both and gives a much wider interval; the paired "
    "bootstrap takes the DIFFERENCE of A and B on each resample (the same rows of indices for both) and the "
    "quantiles of those differences"
)
_STD = (
    "mean ± 1.96·std of the replicates is a normal approximation; the percentile bootstrap of stlearn.metrics "
    "takes the 2.5 % and 97.5 % quantiles of the replicated differences themselves (an interval that may be "
    "asymmetric)"
)


def _unpaired_width(case: Case, out: Any) -> str | None:
    """An interval centred right but several times wider than the paired one: A and B were resampled apart."""
    if not isinstance(out, tuple | list) or len(out) != 3:
        return None
    try:
        point, lo, hi = (float(v) for v in out)
    except (TypeError, ValueError):
        return None
    ref_point, ref_lo, ref_hi = _paired_bootstrap_reference(*case.args)
    width = ref_hi - ref_lo
    if math.isclose(point, ref_point, rel_tol=1e-4, abs_tol=1e-5) and width > 0 and hi - lo > 2.0 * width:
        return (
            f"your interval is {(hi - lo) / width:.1f} times as wide as the paired one: were A and B resampled with "
            "different indices (or taken as two separate intervals)? Pairing uses the same row of `resamples` for "
            "both, so each sequence's difficulty cancels in the difference"
        )
    if lo > hi:
        return "your low end is above your high end: return (difference, low, high) with low ≤ high"
    return None


_PAIRED_BOOTSTRAP = CheckSpec(
    "paired_bootstrap",
    _paired_bootstrap_reference,
    _bootstrap_cases,
    [
        Mistake(
            _boot_variant("reversed"),
            "you computed B − A: the difference is A − B (the first forecast minus the second, as Table 8's "
            "'model − ConvLSTM'), so a positive MSE difference means A is worse",
        ),
        Mistake(
            _boot_variant("plain", q=(0.05, 0.95)),
            "the 5 % and 95 % quantiles give a 90 % interval; a 95 % interval leaves 2.5 % out at EACH end: "
            "the 2.5 % and 97.5 % quantiles",
        ),
        Mistake(_boot_variant("std", "sample"), _STD),
        Mistake(_boot_variant("std", "population"), _STD),
        Mistake(_boot_variant("unpaired"), _UNPAIRED),
        Mistake(_boot_variant("unpaired", "outer"), _UNPAIRED),
        Mistake(
            _boot_variant("per_sequence"),
            "you took the quantiles of the single sequences' differences A_i − B_i: that is how much one sequence "
            "varies, not how uncertain the MEAN difference is — average each resample's differences first, then "
            "take the quantiles of those R means",
        ),
        Mistake(
            _boot_variant("wrong_axis"),
            "each ROW of `resamples` (shape (R, N)) is one resample of the N sequences: average over dim 1 (the "
            "N draws) to get R replicate differences, not over dim 0",
        ),
        Mistake(
            _boot_variant("replicate_mean"),
            "the difference you report is the mean of the replicates; the point estimate is the difference of the "
            "full-sample means, mean(A) − mean(B) — the resamples only give the interval",
        ),
        *(Mistake(_boot_variant("plain", m), _INTERPOLATION) for m in ("lower", "higher", "nearest", "midpoint")),
        Mistake(_boot_variant("sorted_index"), _INTERPOLATION),
    ],
    validators=[_unpaired_width],
    failure_note="the difference is mean(A) − mean(B); the interval the 2.5 % and 97.5 % quantiles (linear "
    "interpolation) of the R resampled differences of means",
)


def check_paired_bootstrap(fn: Callable[..., tuple[float, float, float]], seed: int | None = None) -> None:
    r"""Check ``paired_bootstrap(err_a, err_b, resamples) -> (difference, low, high)`` against ``stlearn.metrics``.

    ``err_a``, ``err_b`` (N,) per-sequence scores, ``resamples`` (R, N) indices drawn here; the
    answer is mean(A) − mean(B) and the 2.5 %/97.5 % quantiles (linear interpolation, as
    ``np.quantile``) of the R resampled differences. Recognises: B − A, 5/95 % quantiles, a
    mean ± 1.96·std interval, unpaired intervals (two separate intervals combined; or, by its width,
    any interval much wider than the paired one), quantiles of single sequences, the wrong axis,
    the replicates' mean as the point, quantiles without interpolation, in-place edits.
    Exercise of lesson 9 (``ex09_nowcasting.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_PAIRED_BOOTSTRAP, fn, seed)


# --------------------------------------------------------------------------------------------
# Exercise 3 — why persistence wins CSI at 50 dBZ (answer read off the shipped Table 8)
# --------------------------------------------------------------------------------------------

#: the letter of the true reason among the four the notebook lists
REASON = "C"
#: a read-off number within this distance of the data's counts as right (two decimals are enough)
POD_TOLERANCE = 0.005


@dataclass(frozen=True)
class Table8At50:
    """The shipped Table 8's scores at 50 dBZ (lesson 9): per forecaster CSI, POD and FAR."""

    csi: dict[str, float]
    pod: dict[str, float]
    far: dict[str, float]
    models: tuple[str, ...]

    @property
    def best_pod(self) -> float:
        """The highest POD-50 of the learned models: the number the exercise asks for."""
        return max(self.pod[m] for m in self.models)

    @property
    def best_pod_model(self) -> str:
        return max(self.models, key=lambda m: self.pod[m])

    @property
    def best_csi(self) -> float:
        return max(self.csi[m] for m in self.models)


@functools.cache
def table8_at_50() -> Table8At50:
    """CSI-50, POD-50, FAR-50 of every evaluated row of ``data/checkpoints/radar/table8.json`` (cached)."""
    from ... import table8

    rows = {k: r for k, r in table8.load_shipped_results()["rows"].items() if r.get("status") == "evaluated"}
    models = tuple(m for m in table8.MODELS if m in rows)
    pick = lambda name: {k: float(r["means"][name]) for k, r in rows.items()}  # noqa: E731
    return Table8At50(pick("csi_50"), pick("pod_50"), pick("far_50"), models)


def _range(values: dict[str, float], names: tuple[str, ...]) -> str:
    return f"{min(values[m] for m in names):.2f}–{max(values[m] for m in names):.2f}"


_REASON_A = (
    "A is not the reason: persistence does not raise fewer false alarms at 50 dBZ — it raises the MOST. "
    "Its FAR-50 is higher than every learned model's; it wins CSI in spite of its false alarms"
)
_REASON_B = (
    "B is not the reason: CSI = TP / (TP + FN + FP) has no correct negatives in it at all — that is the point of "
    "CSI (the rain-free background would otherwise dominate every score)"
)
_REASON_D = (
    "D is not the reason: persistence moves nothing — it repeats the last input frame; moving the echoes along "
    "the wind is what optical-flow extrapolation does"
)
_NUMBER = {
    "persistence": "that is persistence's POD-50; the question asks for the highest POD-50 of the five LEARNED models",
    "csi": "that is a CSI-50; the question asks for the POD (probability of detection) at 50 dBZ",
    "far": "that is a FAR-50; the question asks for the POD (probability of detection) at 50 dBZ",
    "percent": "POD is a fraction between 0 and 1, not a percentage: divide by 100",
    "other_model": "that is the POD-50 of one learned model, but not of the one that detects the most",
}


def _letter(out: Any) -> str | None:
    return out.strip().upper().rstrip(".)") if isinstance(out, str) else None


def _assess_reason(case: Case, out: Any) -> str | None:
    data = table8_at_50()
    if not isinstance(out, tuple | list) or len(out) != 2:
        what = out.type_name if isinstance(out, worker.Other) else type(out).__name__
        return f'returns a {what}; return two values, the letter of the reason and the number: `return "X", 0.123`'
    letter, number = _letter(out[0]), out[1]
    if letter not in ("A", "B", "C", "D"):
        return f'the first value must be one of the letters "A", "B", "C", "D" (a str), got {out[0]!r}'
    others = tuple(k for k in data.far if k not in data.models)
    if letter == "A":
        return (
            f"{_REASON_A} (FAR-50: persistence {data.far['persistence']:.2f}, the learned models "
            f"{_range(data.far, data.models)})."
        )
    if letter == "B":
        return _REASON_B + "."
    if letter == "D":
        return _REASON_D + (" (and it has a higher CSI-50 still)." if "optical_flow" in others else ".")
    is_number = isinstance(number, int | float) or (isinstance(number, Tensor) and number.numel() == 1)
    if isinstance(number, bool) or not is_number:
        return f"the second value must be a number (the POD-50 you read), got {type(number).__name__}"
    x = float(number)
    if math.isclose(x, data.best_pod, abs_tol=POD_TOLERANCE):
        return None
    near = lambda v: math.isclose(x, v, abs_tol=POD_TOLERANCE)  # noqa: E731
    if near(data.pod.get("persistence", math.nan)):
        return _NUMBER["persistence"] + "."
    if any(near(data.pod[m]) for m in data.models):  # before CSI: at 50 dBZ a model's POD and CSI are close
        return _NUMBER["other_model"] + "."
    if any(near(v) for v in data.csi.values()):
        return _NUMBER["csi"] + "."
    if any(near(v) for v in data.far.values()):
        return _NUMBER["far"] + "."
    if math.isclose(x / 100, data.best_pod, abs_tol=POD_TOLERANCE):
        return _NUMBER["percent"] + "."
    return (
        f"C is right, but the number is not: {x:.4g} is not the highest POD-50 of the learned models "
        "(read the POD-50 column of the table above, the five model rows)"
    )


def _reason_variant(letter: str, number: str = "best_pod") -> Callable[[], tuple[str, float]]:
    def fn() -> tuple[str, float]:
        data = table8_at_50()
        values = {
            "best_pod": data.best_pod,
            "persistence": data.pod["persistence"],
            "csi": data.best_csi,
            "percent": 100 * data.best_pod,
        }
        return letter, values[number]

    return fn


_PERSISTENCE_CSI_REASON = CheckSpec(
    "persistence_csi_reason",
    None,
    lambda gen: [Case("your answer", ())],
    [
        Mistake(_reason_variant("A"), _REASON_A),
        Mistake(_reason_variant("B"), _REASON_B),
        Mistake(_reason_variant("D"), _REASON_D),
        Mistake(_reason_variant(REASON, "persistence"), _NUMBER["persistence"]),
        Mistake(_reason_variant(REASON, "csi"), _NUMBER["csi"]),
        Mistake(_reason_variant(REASON, "percent"), _NUMBER["percent"]),
    ],
    assess=_assess_reason,
)


def check_persistence_csi_reason(fn: Callable[[], tuple[str, float]], seed: int | None = None) -> None:
    r"""Check ``persistence_csi_reason() -> (letter, number)``: the true reason and the best learned model's POD-50.

    Judged against the shipped results (``data/checkpoints/radar/table8.json``): the letter must be
    the true reason (the models' blurred forecasts rarely reach 50 dBZ, so they miss most intense
    cells; persistence keeps the intensity), the number the highest POD-50 of the learned models
    within ±0.005. Recognises: each wrong reason (fewer false alarms — persistence has the most; CSI
    counting correct negatives; persistence moving the echoes), persistence's POD, a CSI or FAR
    read instead of the POD, a percentage, another model's POD.
    Exercise of lesson 9 (``ex09_nowcasting.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_PERSISTENCE_CSI_REASON, fn, seed)


#: This module's exercises, their arguments named for the feedback.
SPECS: list[CheckSpec] = named_specs(
    (_POD_FAR, ("hits", "misses", "false_alarms", "correct_negatives")),
    (_PAIRED_BOOTSTRAP, ("err_a", "err_b", "resamples")),
    (_PERSISTENCE_CSI_REASON, ()),
)
