"""Whole-model timings: training step, 10 → 10 inference, peak memory; fast, trace and unfused paths.

Usage:  python -m benchmarks.bench_models [--quick] [--threads N] [--paper MODELS] [--out benchmarks/results]

Sizes (20 frames of 64×64, one channel, batch 8):

* **lesson** — each model's default constructor, the size of the shipped checkpoints
  (2 × 32 hidden, kernel 3, patch 4; TrajGRU 32/48);
* **paper** — Moving MNIST paper size: 4 × 128 hidden, kernel 5, patch 4 (TrajGRU: 3 × 128).

Per model and size:

* ``train_ms`` — one training step: forward over 20 frames (teacher forcing mask), backward, Adam;
* ``infer_ms`` — ``model.predict(first 10 frames, 10)`` (no gradients);
* ``peak_mb`` — peak memory of the training step. On CPU each (model, size, path) runs in a fresh
  subprocess and this is the growth of the process's peak resident set (``ru_maxrss``) over its
  value after building the model and the data — i.e. what the step adds (activations kept for
  backward, gradients, Adam moments, allocator slack). ``infer_peak_mb`` is the same for
  inference (measured first, so it is not hidden by the training peak). On CUDA it is
  ``torch.cuda.max_memory_allocated`` growth (tensors only, no allocator cache).

Paths: ``fast`` (the cells' forward), ``trace`` (``model(..., trace=True)``: every gate kept for
every step and layer) and, for ConvLSTM and PredRNN, ``unfused`` (the cells' forward replaced
by :func:`benchmarks.bench_cells.unfused_convlstm_step` / ``unfused_stlstm_step``: one
convolution per gate and input). Fast and trace are timed in separate subprocesses one after
the other, so they are not interleaved; the cell section has the interleaved comparison.

At paper size on CPU one training step of PredRNN takes tens of seconds, so only the fast
path is timed there, once (``--paper`` chooses the models). On CUDA see :mod:`benchmarks.bench_gpu`.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from stlearn.models import MODELS, build_model

ROOT = Path(__file__).resolve().parents[1]

BATCH, FRAMES, INPUT_LEN = 8, 20, 10


def paper_config(name: str) -> dict:
    """The Moving MNIST paper-size configuration of model ``name``."""
    if name == "trajgru":
        return {"hidden_channels": [128, 128, 128], "kernel_size": 5, "patch_size": 4}
    return {"hidden_channels": [128] * 4, "kernel_size": 5, "patch_size": 4}


def config_for(name: str, size: str) -> dict:
    if size == "lesson":
        return {}
    if size == "paper":
        return paper_config(name)
    if size == "tiny":
        return {"hidden_channels": [4, 4], "frame_size": [16, 16]}
    raise ValueError(f"unknown size {size!r}")


def _use_unfused(model, per_input: bool = False) -> None:
    """Replace every ConvLSTM / ST-LSTM cell's forward by a baseline of bench_cells: one convolution
    per gate and input, or (``per_input``) one per input — the fast path before the [X, H] fusion."""
    from stlearn.cells import ConvLSTMCell, STLSTMCell

    from . import bench_cells as bc

    conv_step = bc.per_input_convlstm_step if per_input else bc.unfused_convlstm_step
    st_step = bc.per_input_stlstm_step if per_input else bc.unfused_stlstm_step
    for cell in model.modules():
        if isinstance(cell, ConvLSTMCell):
            cell.forward = lambda x, state, cell=cell: conv_step(cell, x, *state)
        elif isinstance(cell, STLSTMCell):
            cell.forward = lambda x, h, c, m, cell=cell: st_step(cell, x, h, c, m)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def measure_one(name: str, size: str, path: str, repeats: int, batch: int = BATCH) -> dict:
    """Run in a fresh process: inference then training-step times and peak-RSS growth."""
    torch.manual_seed(0)
    model = build_model(name, **config_for(name, size))
    if path in ("unfused", "per_input"):
        _use_unfused(model, per_input=path == "per_input")
    hw = model.frame_size
    frames = torch.rand(batch, FRAMES, 1, *hw)
    mask = torch.ones(batch, FRAMES - 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    trace = path == "trace"
    base = _maxrss_mb()

    def infer():
        if trace:  # the trace path at test time: forward without gradients, every gate recorded
            with torch.no_grad():
                model(frames, None, INPUT_LEN, trace=True)
        else:
            model.predict(frames[:, :INPUT_LEN], FRAMES - INPUT_LEN)

    def train():
        opt.zero_grad(set_to_none=True)
        out = model(frames, mask, INPUT_LEN, trace=trace)
        out.loss.backward()
        opt.step()

    result = {"model": name, "size": size, "path": path, "batch": batch, "repeats": repeats}
    for what, fn in (("infer", infer), ("train", train)):
        times, cpu = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
        result[f"{what}_ms"] = statistics.median(times)
        result[f"{what}_cpu_ms"] = statistics.median(cpu)  # all threads' CPU time: fairer on a loaded machine
        result[f"{what}_peak_mb"] = _maxrss_mb() - base
    result["params"] = sum(p.numel() for p in model.parameters())
    return result


def plan(quick: bool, paper: list[str]) -> list[tuple[str, str, str, int, int]]:
    """(model, size, path, repeats, batch) of every measurement, in order."""
    if quick:
        return [("convlstm", "tiny", "trace", 1, 2), ("predrnn", "tiny", "unfused", 1, 2)]
    jobs = []
    for name in MODELS:
        paths = ["fast", "trace"] + (["unfused"] if name in ("convlstm", "predrnn") else [])
        jobs += [(name, "lesson", p, 3, BATCH) for p in paths]
    jobs += [(name, "paper", "fast", 1, BATCH) for name in paper]
    return jobs


def run(quick: bool = False, threads: int = 2, paper: list[str] | None = None, progress=print) -> list[dict]:
    """Every measurement, each in a fresh subprocess (for a clean peak-memory reading)."""
    paper = ["convlstm", "predrnn", "predrnn_v2"] if paper is None else paper
    rows = []
    for name, size, path, repeats, batch in plan(quick, paper):
        progress(f"  models: {name} {size} {path} …")
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "benchmarks.bench_models", "--one", f"{name},{size},{path},{repeats},{batch}"]
        cmd += ["--threads", str(threads)]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"bench_models {name} {size} {path} failed:\n{proc.stderr[-3000:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        took = time.perf_counter() - t0
        progress(f"    train {row['train_ms']:.0f} ms, infer {row['infer_ms']:.0f} ms ({took:.0f} s)")
    return rows


def markdown(rows: list[dict]) -> list[str]:
    lines = [
        f"Batch {rows[0]['batch'] if rows else BATCH}, {FRAMES} frames of 64×64. "
        "`train` = forward + backward + Adam (teacher forcing);",
        f"`infer` = {INPUT_LEN} → {FRAMES - INPUT_LEN} rollout "
        "(the trace path: a no-grad forward recording every gate).",
        "Peak MB = growth of the peak resident set over the built model (CPU), or of the peak allocated (CUDA).",
        "",
        "CPU ms = process CPU time (all threads), the fairer number when other processes share the cores.",
        "",
        "| model | size | path | train ms | infer ms | train CPU ms | infer CPU ms | train peak MB | infer peak MB "
        "| × fast (train) | params |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    fast = {(r["model"], r["size"]): r["train_ms"] for r in rows if r["path"] == "fast"}
    for r in rows:
        ratio = r["train_ms"] / fast[(r["model"], r["size"])] if (r["model"], r["size"]) in fast else float("nan")
        lines.append(
            f"| {r['model']} | {r['size']} | {r['path']} | {r['train_ms']:.0f} | {r['infer_ms']:.0f} "
            f"| {r.get('train_cpu_ms', float('nan')):.0f} | {r.get('infer_cpu_ms', float('nan')):.0f} "
            f"| {r['train_peak_mb']:.0f} | {r['infer_peak_mb']:.0f} | {ratio:.2f} | {r['params'] / 1e6:.2f} M |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--paper", default="convlstm,predrnn,predrnn_v2", help="models timed at paper size on CPU")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: model,size,path,repeats in this process
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.one:
        name, size, path, repeats, batch = args.one.split(",")
        print(json.dumps(measure_one(name, size, path, int(repeats), int(batch))))
        return 0
    rows = run(args.quick, args.threads, [p for p in args.paper.split(",") if p])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "models.json").write_text(json.dumps(rows, indent=1))
    print("\n".join(markdown(rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
