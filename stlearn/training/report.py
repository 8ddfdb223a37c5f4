"""A table of training runs: how far each got, how fast, and how much of the window it spent training.

``stlearn runs DIR`` reads every checkpoint under ``DIR`` (``runs/gpu`` after the GPU window) and
prints, per run: iterations done and planned, iterations per second of training, the share of the
run's wall-clock time that was training (the rest: start-up, capture, validation, saving) and the
last validation MSE per frame. ``--json`` writes the rows for a results file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .checkpoints import load_checkpoint


def finished(training: dict[str, Any]) -> bool:
    """Whether a run (its checkpoint's ``training`` record) has ended: its planned length done, or its deadline."""
    planned = training.get("iterations_planned", training["config"]["iterations"])
    return bool(training.get("finished")) or training["iterations_done"] >= planned


def run_rows(root: str | Path) -> list[dict[str, Any]]:
    """One row per checkpoint ``<root>/<data set>/<model>.pt`` (or ``<root>/<model>.pt``)."""
    root = Path(root)
    rows = []
    for path in sorted([*root.glob("*.pt"), *root.glob("*/*.pt")]):
        ck = load_checkpoint(path)
        t = ck.training
        done, seconds = int(t["iterations_done"]), float(t.get("seconds", 0.0))
        wall = float(t.get("wall_seconds", seconds))
        rows.append({
            "run": str(path.relative_to(root)),
            "model": ck.model_name,
            "dataset": ck.data.get("name"),
            "iterations_done": done,
            "iterations_planned": t.get("iterations_planned", t["config"]["iterations"]),
            "finished": finished(t),
            "batch_size": t["config"]["batch_size"],
            "iterations_per_s": done / seconds if seconds else None,
            "training_seconds": seconds,
            "wall_seconds": wall,
            "training_fraction": seconds / wall if wall else None,
            "val_mse_per_frame": ck.metrics.get("val_mse_per_frame"),
            "device": t.get("device"),
        })  # fmt: skip
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    head = "| run | iterations (planned) | batch | it/s | training / wall s | training share | val MSE/frame |"
    out = [head, "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ips = f"{r['iterations_per_s']:.2f}" if r["iterations_per_s"] else "–"
        share = f"{100 * r['training_fraction']:.0f} %" if r["training_fraction"] else "–"
        val = f"{r['val_mse_per_frame']:.1f}" if r["val_mse_per_frame"] is not None else "–"
        out.append(
            f"| {r['run']} | {r['iterations_done']} ({r['iterations_planned']}) | {r['batch_size']} | {ips} | "
            f"{r['training_seconds']:.0f} / {r['wall_seconds']:.0f} | {share} | {val} |"
        )
    return "\n".join(out) + "\n"


def main(root: str | Path, json_out: str | Path | None = None) -> int:
    rows = run_rows(root)
    if not rows:
        print(f"no checkpoints under {root}")
        return 1
    print(markdown(rows), end="")
    if json_out is not None:
        Path(json_out).write_text(json.dumps(rows, indent=1) + "\n")
    return 0
