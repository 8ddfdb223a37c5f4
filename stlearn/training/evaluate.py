"""Evaluate a model on a split: the literature's metrics, per lead time and averaged (lessons 4 and 9).

``stlearn evaluate CHECKPOINT`` prints the table (MSE/MAE per frame, SSIM, PSNR; on radar also
CSI/POD/FAR at 30/40/50 dBZ) with bootstrap intervals over sequences, and can save it as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..metrics import DEFAULT_THRESHOLDS, MetricAccumulator, format_table
from .batches import BatchSource
from .checkpoints import CheckpointError, load_checkpoint
from .pretrained import model_from_checkpoint

DIGIT_COLUMNS = ("mse_frame", "mae_frame", "ssim", "psnr")
RADAR_COLUMNS = ("mse_frame", "csi_30", "csi_40", "csi_50", "pod_30", "far_30", "ssim")


def test_sequences(dataset: str, data_config: dict[str, Any], split: str, count: int | None, batch_size: int):
    """Batches (B, T, 1, H, W) of the first ``count`` sequences of ``split`` (the whole stored split if None).

    A whole test split comes from the sha256-checked stored (moving digits) or regenerated and
    cached (radar) split; the first ``count`` sequences of any split are generated directly, which
    gives the same sequences (each one depends only on the split's seed and its index).
    """
    if count is None:
        if split != "test" or data_config:
            raise ValueError(f"give a number of sequences for the generated {split!r} split")
        from ..data.datasets import load_moving_digits_test, load_radar_split, to_tensor

        frames = (load_moving_digits_test() if dataset == "moving_digits" else load_radar_split("test")).frames
        for s in range(0, len(frames), batch_size):
            yield to_tensor(frames[s : s + batch_size])
        return
    yield from BatchSource(dataset, split, data_config).fixed_batches(count, batch_size)


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module,
    batches: Iterator[torch.Tensor],
    input_len: int = 10,
    pred_len: int = 10,
    thresholds: tuple[float, ...] | None = DEFAULT_THRESHOLDS,
) -> MetricAccumulator:
    """Stream ``batches`` through ``model.predict`` and accumulate the metrics (lesson 4, lesson 9)."""
    acc = MetricAccumulator(thresholds)
    model.eval()
    for batch in batches:
        inputs, target = batch[:, :input_len], batch[:, input_len : input_len + pred_len]
        acc.update(model.predict(inputs, pred_len).clamp(0, 1), target)
    return acc


def summarise(acc: MetricAccumulator, n_boot: int = 1000) -> dict[str, Any]:
    """Means, bootstrap intervals and per-lead-time curves as plain JSON-able numbers."""
    report = acc.compute()
    boot = acc.bootstrap(n_boot=n_boot)
    per_lead = {}
    for name in ("mse_frame", "mae_frame", "ssim", "psnr"):
        value = getattr(report, name)
        if value is not None:
            per_lead[name] = [float(v) for v in np.asarray(value)]
    for name in ("csi", "pod", "far"):
        value = getattr(report, name)
        if value is not None:
            for k, thr in enumerate(report.thresholds):
                per_lead[f"{name}_{thr:g}"] = [float(v) for v in np.asarray(value)[:, k]]
    return {
        "num_sequences": report.num_sequences,
        "pixels_per_frame": report.pixels_per_frame,
        "means": {k: float(v) for k, v in report.summary().items()},
        "intervals": {k: [float(x) for x in v] for k, v in boot.items()},
        "per_lead": per_lead,
    }


def evaluate_checkpoint(
    path: str | Path, split: str = "test", count: int | None = None, batch_size: int = 16, n_boot: int = 1000
) -> dict[str, Any]:
    """Evaluate a checkpoint on a split of the data set it was trained on (lesson 4)."""
    ck = load_checkpoint(path)
    model = model_from_checkpoint(ck, str(path))
    dataset = ck.data.get("name")
    if dataset not in ("moving_digits", "radar"):
        raise CheckpointError(
            f"{path} records data set {dataset!r}; stlearn evaluate scores moving_digits and radar checkpoints "
            "(the traffic example is scored by stlearn.traffic)"
        )
    cfg = ck.training.get("config", {})
    input_len, pred_len = cfg.get("input_len", 10), cfg.get("pred_len", 10)
    batches = test_sequences(dataset, ck.data.get("config", {}), split, count, batch_size)
    thresholds = DEFAULT_THRESHOLDS if dataset == "radar" else None
    acc = evaluate_model(model, batches, input_len, pred_len, thresholds)
    return {"model": ck.model_name, "dataset": dataset, "split": split, **summarise(acc, n_boot)}


def table(results: dict[str, dict[str, Any]], dataset: str) -> str:
    """A markdown table of several models' results with intervals (the conventions printed below it)."""
    columns = RADAR_COLUMNS if dataset == "radar" else DIGIT_COLUMNS
    rows = {name: {k: tuple(v) for k, v in r["intervals"].items()} for name, r in results.items()}
    pixels = next(iter(results.values()))["pixels_per_frame"] if results else None
    return format_table(rows, columns, frame_pixels=pixels)


def main_evaluate(args: Any) -> int:
    result = evaluate_checkpoint(args.checkpoint, args.split, args.sequences, args.batch_size)
    print(table({result["model"]: result}, result["dataset"]))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        print(f"\nwritten: {args.out}")
    return 0
