"""Reproduce the seed's Table 8 on the course's radar echoes, with two forecasters' baselines (lesson 9).

``python -m stlearn table8`` evaluates every shipped radar model (TrajGRU, ConvLSTM, MIM, PredRNN,
PredRNN-V2; a model whose checkpoint is not shipped yet gets a "not shipped yet" row), persistence
and optical-flow extrapolation (:mod:`stlearn.nowcast`) on the radar test split, and prints

* the table — MSE per frame, CSI/POD/FAR at 30/40/50 dBZ with 95 % bootstrap intervals over test
  sequences — beside the seed's published numbers;
* each model's paired-bootstrap difference from ConvLSTM (is it measurably ahead?);

and writes ``table8.json``, ``table8.md``, ``per_lead.png`` (MSE and CSI per lead time) and
``example.png`` (10 inputs, the truth and every forecast in radar colours) to ``--out``.

Per-sequence statistics are cached per checkpoint sha256 under ``data/cache/table8/`` (and per
version of each baseline), so re-running after shipping a new model evaluates only that model.
``--write-results`` also rewrites ``data/checkpoints/radar/table8.json``, the small results file
lesson 9 reads (evaluating five models on 1 000 sequences takes minutes on a CPU — too slow for a
lesson; :func:`lesson_results` evaluates live only the shipped models that file does not cover).

``--train`` first trains the models from ``configs/radar/*.toml`` with overrides (paper size:
``--hidden 128,128,128,128 --kernel 5 --iterations 80000 --device cuda --amp``) into ``--runs``
(outside ``data/``) and then evaluates those checkpoints instead of the shipped ones.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .metrics import DEFAULT_THRESHOLDS, MetricAccumulator, format_table, paired_bootstrap
from .paths import data_dir
from .training.checkpoints import file_sha256, load_checkpoint

__all__ = [
    "BASELINES",
    "COLUMNS",
    "MODELS",
    "SEED_TABLE8",
    "evaluate_table8",
    "example_figure",
    "example_forecasts",
    "format_results",
    "lesson_results",
    "load_shipped_results",
    "per_lead_figure",
    "train_models",
]

#: The five models of Table 8, in the seed's order.
MODELS = ("trajgru", "convlstm", "mim", "predrnn", "predrnn_v2")
#: The two reference forecasts every nowcaster compares against.
BASELINES = ("persistence", "optical_flow")
#: Display names.
LABELS = {
    "trajgru": "TrajGRU",
    "convlstm": "ConvLSTM",
    "mim": "MIM",
    "predrnn": "PredRNN",
    "predrnn_v2": "PredRNN-V2",
    "persistence": "persistence",
    "optical_flow": "optical flow",
}
#: The seed's Table 8 (radar echo test set, 10 → 10): MSE, CSI-30, CSI-40, CSI-50.
SEED_TABLE8 = {
    "trajgru": {"mse": 68.3, "csi_30": 0.309, "csi_40": 0.266, "csi_50": 0.211},
    "convlstm": {"mse": 63.7, "csi_30": 0.381, "csi_40": 0.340, "csi_50": 0.286},
    "mim": {"mse": 39.3, "csi_30": 0.451, "csi_40": 0.418, "csi_50": 0.372},
    "predrnn": {"mse": 39.1, "csi_30": 0.455, "csi_40": 0.417, "csi_50": 0.358},
    "predrnn_v2": {"mse": 36.4, "csi_30": 0.462, "csi_40": 0.425, "csi_50": 0.378},
}
#: Columns of the printed table (beside the seed's numbers).
COLUMNS = ("mse_frame", "csi_30", "csi_40", "csi_50")
#: Columns of the second table: detection and false alarms at each threshold.
POD_FAR_COLUMNS = ("pod_30", "pod_40", "pod_50", "far_30", "far_40", "far_50")
#: Metrics compared with ConvLSTM by the paired bootstrap.
PAIRED = ("mse_frame", "csi_30", "csi_40", "csi_50")
#: Bump when a baseline's algorithm changes (invalidates its cached statistics).
BASELINE_VERSIONS = {"persistence": "1", "optical_flow": "1"}
INPUT_LEN = PRED_LEN = 10
#: Minutes between radar frames (lead time t is 6·t minutes).
MINUTES_PER_FRAME = 6
SHIPPED_RESULTS = "table8.json"
CHECK_SEQUENCES = 8


def shipped_dir() -> Path:
    """Where the shipped radar checkpoints live: ``data/checkpoints/radar``."""
    return data_dir() / "checkpoints" / "radar"


def _cache_dir() -> Path:
    return data_dir() / "cache" / "table8"


def _test_frames(limit: int | None) -> np.ndarray:
    from .data.datasets import load_radar_split

    frames = load_radar_split("test").frames
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"table8: 'limit' must be a positive number of sequences, got {limit!r}")
        frames = frames[:limit]
    return frames


def _forecaster(name: str, checkpoints: Path) -> tuple[Any, str] | None:
    """(object with ``predict(inputs, pred_len)``, cache key) for a model or baseline; None if not shipped."""
    from .nowcast import OpticalFlowNowcast, Persistence

    if name == "persistence":
        return Persistence(), f"persistence-v{BASELINE_VERSIONS['persistence']}"
    if name == "optical_flow":
        return OpticalFlowNowcast(), f"optical_flow-v{BASELINE_VERSIONS['optical_flow']}"
    path = checkpoints / f"{name}.pt"
    if not path.is_file():
        return None
    from .training.pretrained import model_from_checkpoint

    ck = load_checkpoint(path, expect_model=name)
    return model_from_checkpoint(ck, str(path)), f"{name}-{file_sha256(path)[:16]}"


def _sequence_stats(forecaster: Any, frames: np.ndarray, batch_size: int, device: str) -> dict[str, np.ndarray]:
    from .data.datasets import to_tensor

    acc = MetricAccumulator(DEFAULT_THRESHOLDS)
    if isinstance(forecaster, torch.nn.Module):
        forecaster.to(device).eval()
    with torch.no_grad():
        for s in range(0, len(frames), batch_size):
            batch = to_tensor(frames[s : s + batch_size]).to(device)
            inputs, target = batch[:, :INPUT_LEN], batch[:, INPUT_LEN : INPUT_LEN + PRED_LEN]
            acc.update(forecaster.predict(inputs, PRED_LEN).float().clamp(0, 1).cpu(), target.cpu())
    return acc.per_sequence()


def _stats(
    name: str, forecaster: Any, key: str, frames: np.ndarray, batch_size: int, device: str, cache: bool
) -> tuple[dict[str, np.ndarray], float | None]:
    """Per-sequence statistics of one forecaster on ``frames``, read from or written to the cache,
    and the seconds computing them took (as recorded in the cache when read from it)."""
    path = _cache_dir() / f"{key}_n{len(frames)}.npz"
    if cache and path.is_file():
        with np.load(path) as f:
            return {k: f[k] for k in f.files if k != "seconds"}, float(f["seconds"]) if "seconds" in f.files else None
    start = time.perf_counter()
    stats = _sequence_stats(forecaster, frames, batch_size, device)
    seconds = time.perf_counter() - start
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **stats, seconds=np.float64(seconds))
        tmp.replace(path)
    return stats, seconds


def _summary(acc: MetricAccumulator, n_boot: int) -> dict[str, Any]:
    from .training.evaluate import summarise

    return summarise(acc, n_boot)


def evaluate_table8(
    limit: int | None = None,
    *,
    checkpoints: str | Path | None = None,
    models: Sequence[str] = MODELS,
    baselines: Sequence[str] = BASELINES,
    batch_size: int = 50,
    n_boot: int = 1000,
    device: str = "cpu",
    cache: bool = True,
    progress: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Evaluate the models (checkpoints in ``checkpoints``, default the shipped ones) and baselines.

    Returns a JSON-able dict: ``num_sequences``, ``rows`` (name → ``status`` "evaluated" or "not
    shipped yet", ``sha256``, ``means``, ``intervals``, ``per_lead``, ``seconds``), ``vs_convlstm``
    (name → paired-bootstrap (difference, low, high) of :data:`PAIRED`) and ``seed`` (the seed's
    Table 8).  Lesson 9 ("Precipitation nowcasting and Table 8") reads this structure.
    """
    unknown = [m for m in [*models, *baselines] if m not in LABELS]
    if unknown:
        raise ValueError(f"table8: unknown models {unknown}; choose from {list(LABELS)}")
    checkpoints = Path(checkpoints) if checkpoints is not None else shipped_dir()
    frames = _test_frames(limit)
    say = progress or (lambda _: None)
    rows: dict[str, dict[str, Any]] = {}
    accs: dict[str, MetricAccumulator] = {}
    frame_shape = (PRED_LEN, 1, *frames.shape[-2:])
    for name in [*models, *baselines]:
        found = _forecaster(name, checkpoints)
        if found is None:
            rows[name] = {"status": "not shipped yet", "checkpoint": str(checkpoints / f"{name}.pt")}
            say(f"{LABELS[name]:>12}: not shipped yet ({checkpoints / f'{name}.pt'})")
            continue
        forecaster, key = found
        start = time.perf_counter()
        stats, seconds = _stats(name, forecaster, key, frames, batch_size, device, cache)
        cached = time.perf_counter() - start < (seconds or 0.0) / 2
        accs[name] = MetricAccumulator.from_per_sequence(stats, DEFAULT_THRESHOLDS, frame_shape)
        rows[name] = {"status": "evaluated", "key": key, "seconds": None if seconds is None else round(seconds, 2),
                      **_summary(accs[name], n_boot)}  # fmt: skip
        took = "?" if seconds is None else f"{seconds:.1f} s"
        say(f"{LABELS[name]:>12}: {len(frames)} sequences in {took}" + (" (from the cache)" if cached else ""))
    vs: dict[str, dict[str, list[float]]] = {}
    if "convlstm" in accs:
        for name, acc in accs.items():
            if name != "convlstm":
                diff = paired_bootstrap(acc, accs["convlstm"], n_boot=n_boot)
                vs[name] = {m: [float(x) for x in diff[m]] for m in PAIRED}
    return {
        "num_sequences": len(frames),
        "thresholds": list(DEFAULT_THRESHOLDS),
        "rows": rows,
        "vs_convlstm": vs,
        "seed": SEED_TABLE8,
    }


def _fmt(value: float, low: float, high: float, spec: str) -> str:
    return f"{value:{spec}} [{low:{spec}}, {high:{spec}}]"


def format_results(result: dict[str, Any]) -> str:
    """Markdown: our table (with intervals) beside the seed's, POD/FAR, then the paired differences from ConvLSTM.

    Lesson 9 displays it.
    """
    rows = {}
    for name, row in result["rows"].items():
        rows[LABELS.get(name, name) + (" *(baseline)*" if name in BASELINES else "")] = (
            {k: tuple(v) for k, v in row["intervals"].items()} if row["status"] == "evaluated" else {}
        )
    ours = format_table(rows, COLUMNS, frame_pixels=4096)
    body, _, notes = ours.partition("\n\n")
    lines = body.splitlines()
    lines[0] += " n | seed MSE | seed CSI-30 | seed CSI-40 | seed CSI-50 |"
    lines[1] += "---|---|---|---|---|"
    for i, name in enumerate(result["rows"], start=2):
        row, seed = result["rows"][name], result["seed"].get(name)
        n = str(row.get("num_sequences", "–")) if row["status"] == "evaluated" else "not shipped yet"
        cells = [n] + (
            [f"{seed['mse']:.1f}", f"{seed['csi_30']:.3f}", f"{seed['csi_40']:.3f}", f"{seed['csi_50']:.3f}"]
            if seed
            else ["–"] * 4
        )
        lines[i] += " " + " | ".join(cells) + " |"
    pod_far = format_table(rows, POD_FAR_COLUMNS).partition("\n\n")[0]
    out = ["\n".join(lines), pod_far, notes]
    out.append(
        "*Seed: Table 8 of the seed (PredRNN, TPAMI 2022): real radar echoes, not public; its MSE is on another "
        "scale. Compare orderings, not values.*"
    )
    if result.get("vs_convlstm"):
        diff = ["| model − ConvLSTM | Δ MSE/frame | Δ CSI-30 | Δ CSI-40 | Δ CSI-50 |", "|---|---|---|---|---|"]
        for name, d in result["vs_convlstm"].items():
            cells = []
            for m in PAIRED:
                v, lo, hi = d[m]
                spec = ".1f" if m == "mse_frame" else ".3f"
                better = (hi < 0) if m == "mse_frame" else (lo > 0)
                worse = (lo > 0) if m == "mse_frame" else (hi < 0)
                mark = " ✓" if better else (" ✗" if worse else "")
                cells.append(_fmt(v, lo, hi, "+" + spec) + mark)
            diff.append(f"| {LABELS.get(name, name)} | " + " | ".join(cells) + " |")
        out.append("\n".join(diff))
        out.append(
            "*Paired bootstrap over the same test sequences (95 %): ✓ measurably better than ConvLSTM (the "
            "interval excludes 0 on the better side), ✗ measurably worse, no mark: not distinguishable.*"
        )
    return "\n\n".join(out)


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------

_STYLE = {
    "trajgru": ("tab:purple", "-", "o"),
    "convlstm": ("tab:blue", "-", "s"),
    "mim": ("tab:olive", "-", "^"),
    "predrnn": ("tab:orange", "-", "D"),
    "predrnn_v2": ("tab:red", "-", "v"),
    "persistence": ("black", "--", None),
    "optical_flow": ("tab:green", "--", None),
}


def per_lead_figure(result: dict[str, Any]) -> Any:
    """MSE per frame and CSI-30/40/50 against lead time (minutes) for every evaluated row (lesson 9)."""
    import matplotlib.pyplot as plt

    panels = [("mse_frame", "MSE per frame ↓"), ("csi_30", "CSI-30 ↑"), ("csi_40", "CSI-40 ↑"), ("csi_50", "CSI-50 ↑")]
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6))
    lead = np.arange(1, PRED_LEN + 1) * MINUTES_PER_FRAME
    for name, row in result["rows"].items():
        if row["status"] != "evaluated":
            continue
        colour, style, marker = _STYLE.get(name, ("grey", "-", None))
        for ax, (metric, _) in zip(axes, panels, strict=True):
            ax.plot(lead, row["per_lead"][metric], style, color=colour, marker=marker, ms=3.5, lw=1.5,
                    label=LABELS.get(name, name))  # fmt: skip
    for ax, (_, title) in zip(axes, panels, strict=True):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("lead time (min)")
        ax.set_xticks(lead[1::2])
        ax.grid(alpha=0.3)
    for ax in axes[1:]:
        ax.set_ylim(bottom=0)
    axes[0].set_ylabel("sum of squared errors per 64×64 frame")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, frameon=False)
    fig.suptitle(f"Radar test split, {result['num_sequences']} sequences: scores per lead time (10 → 10)", fontsize=11)
    fig.subplots_adjust(left=0.06, right=0.99, top=0.84, bottom=0.27, wspace=0.28)
    return fig


def pick_example(frames: np.ndarray, candidates: int = 100) -> int:
    """Index of the example sequence: among the first ``candidates``, the most target pixels ≥ 40 dBZ."""
    from .reflectivity import dbz_to_pixel

    level = dbz_to_pixel(40.0) * 255.0
    counts = (frames[:candidates, INPUT_LEN:] >= level - 1e-6).sum(axis=(1, 2, 3))
    return int(np.argmax(counts))


def example_forecasts(
    index: int | None = None, *, checkpoints: str | Path | None = None, names: Iterable[str] = (*MODELS, *BASELINES)
) -> tuple[int, np.ndarray, dict[str, np.ndarray]]:
    """One test sequence and every available forecast of it: (index, frames (20, H, W) in [0, 1], name → (10, H, W)).

    ``index`` defaults to :func:`pick_example`.  Models that are not shipped are skipped.  Lesson 9.
    """
    from .data.datasets import to_tensor

    frames = _test_frames(None)
    index = pick_example(frames) if index is None else int(index)
    seq = to_tensor(frames[index : index + 1])
    checkpoints = Path(checkpoints) if checkpoints is not None else shipped_dir()
    out = {}
    with torch.no_grad():
        for name in names:
            found = _forecaster(name, checkpoints)
            if found is None:
                continue
            pred = found[0].predict(seq[:, :INPUT_LEN], PRED_LEN).float().clamp(0, 1)
            out[name] = pred[0, :, 0].numpy()
    return index, seq[0, :, 0].numpy(), out


def example_figure(frames: np.ndarray, forecasts: dict[str, np.ndarray], index: int | None = None) -> Any:
    """The seed's prediction-example figure: 10 inputs, the truth, then each forecast, in radar colours (lesson 9)."""
    import matplotlib.pyplot as plt

    from .viz.frames import _imshow

    rows = [("inputs", frames[:INPUT_LEN]), ("ground truth", frames[INPUT_LEN:])]
    rows += [(LABELS.get(k, k), v) for k, v in forecasts.items()]
    cell = 0.78
    fig, axes = plt.subplots(len(rows), 10, figsize=(10 * cell + 1.9, len(rows) * (cell + 0.12) + 0.7), squeeze=False)
    image = None
    for r, (label, seq) in enumerate(rows):
        for c in range(10):
            image = _imshow(axes[r, c], seq[c], radar=True)
            if r == 0:
                axes[r, c].set_title(f"t={c}", fontsize=7)
            elif r == 1:
                axes[r, c].set_title(f"+{(c + 1) * MINUTES_PER_FRAME} min", fontsize=7)
        axes[r, 0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    fig.subplots_adjust(left=0.13, right=0.9, top=1 - 0.55 / fig.get_figheight(), bottom=0.01, wspace=0.05, hspace=0.12)
    bar = fig.add_axes((0.915, 0.1, 0.013, 0.75))
    fig.colorbar(image, cax=bar, label="dBZ", extend="min")
    bar.tick_params(labelsize=7)
    where = f" (test sequence {index})" if index is not None else ""
    fig.suptitle(f"Radar prediction example{where}: 10 past frames → 10 future frames, 64×64 each", fontsize=10)
    return fig


# ---------------------------------------------------------------------------------------------
# shipped results for the lesson
# ---------------------------------------------------------------------------------------------


def shipped_results_path() -> Path:
    """``data/checkpoints/radar/table8.json``: the full-split results lesson 9 reads."""
    return shipped_dir() / SHIPPED_RESULTS


def write_shipped_results(result: dict[str, Any], check: dict[str, Any]) -> Path:
    """Write the results (and a ``check`` evaluation on the first sequences, which a test repeats)."""
    record = {
        "generated_by": "python -m stlearn table8 --write-results",
        **result,
        "check": {
            "num_sequences": check["num_sequences"],
            "means": {k: r["means"] for k, r in check["rows"].items() if r["status"] == "evaluated"},
        },
    }
    path = shipped_results_path()
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def load_shipped_results() -> dict[str, Any]:
    """The shipped results file (see :func:`write_shipped_results`); lesson 9 starts from it."""
    path = shipped_results_path()
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; run `python -m stlearn table8 --write-results`")
    return json.loads(path.read_text())


def lesson_results(live_sequences: int = 100, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Lesson 9's table: the shipped results, plus any shipped model they do not cover evaluated live.

    A model checkpoint that is shipped but missing from (or newer than) ``table8.json`` — MIM and
    PredRNN-V2 when they arrive — is evaluated on the first ``live_sequences`` test sequences, and
    its row says so (column n); models not shipped keep a "not shipped yet" row.
    """
    result = load_shipped_results()
    for name in MODELS:
        path = shipped_dir() / f"{name}.pt"
        row = result["rows"].get(name, {"status": "not shipped yet"})
        key = row.get("key", "")
        if not path.is_file():
            result["rows"][name] = {"status": "not shipped yet", "checkpoint": str(path)}
        elif row["status"] != "evaluated" or key != f"{name}-{file_sha256(path)[:16]}":
            live = evaluate_table8(live_sequences, models=(name,), baselines=(), n_boot=200, progress=progress)
            result["rows"][name] = live["rows"][name]
            result["vs_convlstm"].pop(name, None)
    result["rows"] = {k: result["rows"][k] for k in [*MODELS, *BASELINES] if k in result["rows"]}
    return result


# ---------------------------------------------------------------------------------------------
# training the paper-size models
# ---------------------------------------------------------------------------------------------

#: Iteration constants of the sampling schedules, scaled with the run length.
_ITERATION_KEYS = ("stop_iteration", "tau1", "tau2", "alpha")


def _configs_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "configs" / "radar"


def parse_hidden(text: str | None) -> list[int] | None:
    """``"128,128,128,128"`` → [128, 128, 128, 128] (a clear error otherwise)."""
    if text is None:
        return None
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise ValueError(f"--hidden must be comma-separated positive integers like 128,128,128,128, got {text!r}")
    return values


def training_config(
    model: str,
    *,
    hidden: Sequence[int] | None = None,
    kernel: int | None = None,
    iterations: int | None = None,
    **overrides: Any,
) -> Any:
    """The course's radar configuration of ``model`` with the paper-size overrides applied.

    The sampling schedules' iteration constants are scaled with ``iterations`` (like the course's
    configurations scale the papers' 80 000 iterations down).
    """
    from .training import load_config

    if model not in MODELS:
        raise ValueError(f"table8: unknown model {model!r}; choose from {list(MODELS)}")
    config = load_config(_configs_dir() / f"{model}.toml", iterations=iterations, **overrides)
    base = load_config(_configs_dir() / f"{model}.toml").iterations
    factor = config.iterations / base
    sampling = dict(config.sampling_config)
    for k in _ITERATION_KEYS:
        if k in sampling:
            sampling[k] = type(sampling[k])(round(sampling[k] * factor, 6)) if factor != 1 else sampling[k]
    if "rate" in sampling:
        sampling["rate"] = sampling["rate"] / factor
    config.sampling_config = sampling
    if hidden is not None:
        config.model_config = {**config.model_config, "hidden_channels": list(hidden)}
    if kernel is not None:
        config.model_config = {**config.model_config, "kernel_size": int(kernel)}
    return config


def train_models(runs: str | Path, models: Sequence[str] = MODELS, progress: bool = True, **options: Any) -> Path:
    """Train ``models`` with :func:`training_config` (``options``) into ``runs/<model>.pt``; resumes unfinished runs.

    Lesson 9 ends with the command that calls it for the paper-size models on a GPU.
    """
    from .training import train

    runs = Path(runs)
    runs.mkdir(parents=True, exist_ok=True)
    for model in models:
        config = training_config(model, **options)
        out = runs / f"{model}.pt"
        resume = out.exists()
        if resume and load_checkpoint(out).training.get("iterations_done", 0) >= config.iterations:
            print(f"{model}: already trained ({out})")
            continue
        print(f"{model}: training {config.iterations} iterations, hidden {config.model_config['hidden_channels']}, "
              f"kernel {config.model_config.get('kernel_size')}, on {config.device} → {out}", flush=True)  # fmt: skip
        train(config, out, resume=resume, progress=progress)
    return runs


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``python -m stlearn table8``."""
    p.add_argument("--limit", type=int, help="evaluate only the first N test sequences (default: all 1000)")
    p.add_argument("--out", default="artifacts/table8", help="folder for table8.json/.md and the PNGs")
    p.add_argument("--checkpoints", help="folder of radar checkpoints (default: data/checkpoints/radar)")
    p.add_argument("--models", nargs="*", help=f"models to evaluate (default: {' '.join(MODELS)})")
    p.add_argument("--batch-size", type=int, default=50, dest="batch_size")
    p.add_argument("--n-boot", type=int, default=1000, dest="n_boot", help="bootstrap replicates")
    p.add_argument("--device", default="cpu", help="cpu or cuda, for evaluation and --train")
    p.add_argument("--no-cache", action="store_true", help="recompute every model (do not read/write data/cache)")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--write-results", action="store_true", help="also rewrite data/checkpoints/radar/table8.json")
    g = p.add_argument_group("training (paper size on a GPU)")
    g.add_argument("--train", action="store_true", help="train the models first, into --runs, then evaluate them")
    g.add_argument("--runs", default="runs/table8", help="where --train writes checkpoints (default: runs/table8)")
    g.add_argument("--hidden", help="hidden channels per layer, e.g. 128,128,128,128 (default: the configs')")
    g.add_argument("--kernel", type=int, help="convolution kernel size, e.g. 5")
    g.add_argument("--iterations", type=int, help="training iterations (default: the configs', 1500)")
    g.add_argument("--train-batch-size", type=int, dest="train_batch_size", help="training batch size")
    g.add_argument("--amp", action="store_true", default=None, help="bf16 autocast (CUDA only)")
    g.add_argument("--threads", type=int, help="CPU threads for torch")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")


def check_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """Validate the options; the training overrides as keyword arguments of :func:`training_config`."""
    models = list(args.models) if args.models else list(MODELS)
    bad = [m for m in models if m not in MODELS]
    if bad:
        raise ValueError(f"--models: unknown {bad}; choose from {list(MODELS)}")
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be a positive number of sequences, got {args.limit}")
    training = {
        "hidden": parse_hidden(args.hidden),
        "kernel": args.kernel,
        "iterations": args.iterations,
        "batch_size": args.train_batch_size,
        "device": args.device if args.train else None,
        "amp": args.amp,
        "threads": args.threads,
    }
    if args.kernel is not None and (args.kernel < 1 or args.kernel % 2 == 0):
        raise ValueError(f"--kernel must be a positive odd integer, got {args.kernel}")
    if args.iterations is not None and args.iterations < 1:
        raise ValueError(f"--iterations must be positive, got {args.iterations}")
    if not args.train and any(training[k] is not None for k in ("hidden", "kernel", "iterations", "batch_size")):
        raise ValueError("--hidden/--kernel/--iterations/--train-batch-size only make sense with --train")
    return {"models": models, "training": {k: v for k, v in training.items() if v is not None}}


def main(args: argparse.Namespace) -> int:
    """``python -m stlearn table8``: train (optionally), evaluate, print, write files."""
    import matplotlib

    matplotlib.use("Agg")
    options = check_arguments(args)
    if args.write_results and (args.limit is not None or args.checkpoints or args.train or args.models):
        raise ValueError(
            "--write-results ships the full-split results of the shipped models: "
            "no --limit, --checkpoints, --train or --models"
        )
    checkpoints = args.checkpoints
    if args.train:
        checkpoints = train_models(args.runs, options["models"], progress=not args.no_progress, **options["training"])
    start = time.perf_counter()
    kwargs = dict(checkpoints=checkpoints, models=options["models"], batch_size=args.batch_size,
                  n_boot=args.n_boot, device=args.device, cache=not args.no_cache)  # fmt: skip
    result = evaluate_table8(args.limit, **kwargs)
    result["seconds"] = round(time.perf_counter() - start, 1)
    text = format_results(result)
    print()
    print(text)
    print(f"\n{result['num_sequences']} test sequences, {result['seconds']:.1f} s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table8.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "table8.md").write_text(text + "\n")
    written = [out / "table8.json", out / "table8.md"]
    if not args.no_figures:
        import matplotlib.pyplot as plt

        fig = per_lead_figure(result)
        fig.savefig(out / "per_lead.png", dpi=110)
        plt.close(fig)
        index, frames, forecasts = example_forecasts(checkpoints=checkpoints, names=(*options["models"], *BASELINES))
        fig = example_figure(frames, forecasts, index)
        fig.savefig(out / "example.png", dpi=110)
        plt.close(fig)
        written += [out / "per_lead.png", out / "example.png"]
    if args.write_results:
        check = evaluate_table8(CHECK_SEQUENCES, models=options["models"], n_boot=10, cache=False, progress=None)
        written.append(write_shipped_results(result, check))
    print("written: " + ", ".join(str(p) for p in written))
    return 0
