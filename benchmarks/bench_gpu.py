"""CUDA timings: paper-size models in fp32, bf16 autocast, channels-last, ``torch.compile`` and CUDA graphs.

Usage:  python -m benchmarks.bench_gpu [--quick] [--out benchmarks/results]   (does nothing without CUDA)

For each case (model, batch) at the Moving MNIST paper size (4 × 128 hidden, kernel 5, patch 4,
20 frames of 64×64) and each variant:

* ``train_ms`` — forward + backward + Adam (``fused=True``, one kernel for the update), median of
  ``--repeats`` steps after warm-up (compilation happens in the warm-up), synchronised;
* ``infer_ms`` — ``model.predict`` of 10 frames after 10 (eager variants only);
* ``peak_mb`` — growth of ``torch.cuda.max_memory_allocated`` over the model and data;
* ``tflops`` and ``peak_fraction`` — model FLOPs of a training step (3 × the forward FLOPs of
  :func:`stlearn.complexity.rollout_flops`: the backward pass costs about twice the forward) per
  second, and that over the GPU's dense peak for the variant's arithmetic (bf16, or TF32 for
  float32 convolutions, which PyTorch runs on TF32 tensor cores by default). Left out when
  ``stlearn.complexity`` is absent or the GPU is not in :data:`PEAK_TFLOPS`.

Variants: ``fp32`` (eager), ``trace`` (eager, every gate recorded), ``unfused`` (eager, one
convolution per gate and input), ``bf16`` (autocast), ``bf16+channels_last``, ``cudagraph`` and
``bf16+cudagraph`` (the whole training step — forward, backward and the fused, capturable Adam —
captured once with ``torch.cuda.graph`` and replayed: one launch per step instead of thousands),
``bf16+compile`` (``torch.compile``), ``bf16+compile+cudagraphs`` (``mode="reduce-overhead"``). A
variant that fails (e.g. a compiler error) is recorded with its error instead of stopping the run.

The rollout of a 4-layer model over 20 frames is ~10 000 small kernels per training step; eager
PyTorch spends more time launching them than the GPU spends running them, which is why capturing
the step as a CUDA graph is where the time is (the issue's ≤ 50 ms target).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from pathlib import Path

import torch

from stlearn.models import build_model
from stlearn.training.step import capture_graph

from .bench_models import FRAMES, INPUT_LEN, _use_unfused, paper_config

#: Dense (no sparsity) peak tensor throughput in TFLOP/s, from NVIDIA's H100 Tensor Core GPU
#: datasheet (nvidia.com/en-us/data-center/h100, 2023): SXM5 BF16 989.4, TF32 494.7, FP32 66.9;
#: PCIe BF16 756.5, TF32 378, FP32 51.2. H200 (H200 datasheet) has the H100 SXM's compute.
PEAK_TFLOPS = {
    "H100 PCIe": {"bf16": 756.5, "tf32": 378.0, "fp32": 51.2},
    "H100": {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9},  # SXM5 (e.g. "NVIDIA H100 80GB HBM3")
    "H200": {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9},
}

VARIANTS = ("fp32", "trace", "unfused", "bf16", "bf16+channels_last", "cudagraph", "bf16+cudagraph",
            "bf16+compile", "bf16+compile+cudagraphs")


def gpu_peaks() -> dict | None:
    name = torch.cuda.get_device_name(0)
    for key, peaks in PEAK_TFLOPS.items():  # most specific first
        if key in name:
            return peaks
    return None


_FLOPS: dict[tuple[str, str, int], float | None] = {}


def train_flops(model, batch: int) -> float | None:
    """FLOPs of one training step (3 × forward), or None without ``stlearn.complexity`` (cached per model)."""
    key = (model.name, json.dumps(model.config, sort_keys=True), batch)
    if key not in _FLOPS:
        _FLOPS[key] = _train_flops(model, batch)
    return _FLOPS[key]


def _train_flops(model, batch: int) -> float | None:
    try:
        from stlearn.complexity import rollout_flops
    except ImportError:
        return None
    try:
        d = rollout_flops(model, batch=batch, seq_len=FRAMES, input_len=INPUT_LEN)
    except Exception as exc:  # its API may differ from what this expects: leave the column out
        print(f"    rollout_flops failed ({type(exc).__name__}: {exc}); no FLOPs column")
        return None
    for key in ("flops", "forward_flops", "total_flops", "total"):
        if isinstance(d.get(key), (int, float)):
            return 3.0 * float(d[key])
    return None


def _sync_time(fn, repeats: int, warmup: int, dev: torch.device) -> float:
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def measure(name: str, batch: int, variant: str, repeats: int, config: dict | None = None,
            device: str = "cuda") -> dict:  # fmt: skip
    """One (model, batch, variant) row. ``device="cpu"`` runs the same code without a GPU (the tests
    use it at a tiny size; no memory or peak columns there)."""
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    torch.manual_seed(0)
    model = build_model(name, **(config or paper_config(name))).to(dev)
    if variant == "unfused":
        _use_unfused(model)
    frames = torch.rand(batch, FRAMES, 1, *model.frame_size, device=dev)
    mask = torch.ones(batch, FRAMES - 2, device=dev)
    bf16 = variant.startswith("bf16")
    if "channels_last" in variant:
        model = model.to(memory_format=torch.channels_last)
    step_model = model
    if "compile" in variant:
        torch._dynamo.reset()  # a fresh model: compile it from scratch, within the recompile limit
        step_model = torch.compile(model, mode="reduce-overhead" if "cudagraphs" in variant else None)
    graphed = variant.endswith("+cudagraph") or variant == "cudagraph"
    # capturable: the step counters live on the GPU, so Adam's update can be captured in a CUDA graph
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True, capturable=graphed and cuda)
    trace = variant == "trace"

    def autocast():
        # no autocast weight cache under graph capture: the cached casts would be freed after capture
        if not bf16:
            return contextlib.nullcontext()
        return torch.autocast(dev.type, dtype=torch.bfloat16, cache_enabled=not graphed)

    def train():
        opt.zero_grad(set_to_none=True)
        with autocast():
            loss = step_model(frames, mask, INPUT_LEN, trace=trace).loss
        loss.backward()
        opt.step()

    def infer():
        with autocast():
            model.predict(frames[:, :INPUT_LEN], FRAMES - INPUT_LEN)

    row = {"model": name, "batch": batch, "variant": variant}
    try:
        if cuda:
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
        if graphed and not cuda:
            raise RuntimeError("CUDA graphs need a CUDA device")
        step = capture_graph(train, opt) if graphed else train
        row["train_ms"] = _sync_time(step, repeats, 3 if "compile" in variant else 2, dev)
        row["peak_mb"] = (torch.cuda.max_memory_allocated() - base) / 2**20 if cuda else None
        row["infer_ms"] = None if ("compile" in variant or graphed) else _sync_time(infer, repeats, 1, dev)
    except Exception as exc:
        row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        return row
    flops, peaks = train_flops(model, batch), gpu_peaks() if cuda else None
    if flops is not None:
        row["tflops"] = flops / (row["train_ms"] * 1e-3) / 1e12
        if peaks is not None:
            kind = "bf16" if bf16 else ("tf32" if torch.backends.cudnn.allow_tf32 else "fp32")
            row["peak_fraction"] = row["tflops"] / peaks[kind]
            row["peak_kind"] = kind
    return row


CASES = [("predrnn", 16), ("predrnn", 8), ("convlstm", 8), ("predrnn_v2", 8), ("mim", 8), ("trajgru", 8)]
#: the eager and graphed variants run for every case; compiling the unrolled 19-step rollout takes minutes,
#: so the compile variants run for the target case only, last, and only while the time budget allows
EAGER = ("fp32", "trace", "unfused", "bf16", "cudagraph", "bf16+cudagraph")
TARGET_ONLY = ("bf16+channels_last",)
COMPILED = ("bf16+compile", "bf16+compile+cudagraphs")
COMPILE_BUDGET_S = 240.0  # a compile variant starts only with at least this much of the budget left


def plan() -> list[tuple[str, int, str]]:
    """(model, batch, variant) in the order they run: the target case first, compile variants last."""
    jobs = []
    for name, batch in CASES:
        target = (name, batch) == CASES[0]
        for variant in EAGER + (TARGET_ONLY if target else ()):
            if variant == "unfused" and name not in ("convlstm", "predrnn"):
                continue
            jobs.append((name, batch, variant))
    jobs += [(*CASES[0], v) for v in COMPILED]
    return jobs


def run(quick: bool = False, repeats: int = 20, progress=print, budget_s: float | None = None,
        on_row=None, variants: set[str] | None = None) -> list[dict]:  # fmt: skip
    """Every planned (case, variant) while ``budget_s`` seconds last; ``on_row(rows)`` after each row.

    ``variants`` restricts the plan (e.g. to the compile variants, run apart from the rest).
    """
    if not torch.cuda.is_available():
        progress("  gpu: no CUDA device, skipped")
        return []
    if quick:
        tiny = {"hidden_channels": [4, 4], "frame_size": [16, 16]}
        return [measure("convlstm", 2, v, 2, tiny) for v in ("fp32", "bf16", "bf16+cudagraph")]
    rows: list[dict] = []
    t0 = time.perf_counter()
    for name, batch, variant in plan():
        if variants is not None and variant not in variants:
            continue
        left = None if budget_s is None else budget_s - (time.perf_counter() - t0)
        if left is not None and (left <= 0 or (variant in COMPILED and left < COMPILE_BUDGET_S)):
            rows.append({"model": name, "batch": batch, "variant": variant, "error": "skipped: out of time budget"})
            continue
        progress(f"  gpu: {name} b{batch} {variant} …")
        rows.append(measure(name, batch, variant, repeats))
        progress(f"    {rows[-1].get('train_ms', rows[-1].get('error'))}")
        torch.cuda.empty_cache()
        if on_row is not None:
            on_row(rows)
    return rows


def markdown(rows: list[dict]) -> list[str]:
    lines = [
        "Paper size (4 × 128, kernel 5, patch 4, 20 frames 64×64). `train` = forward + backward + fused Adam.",
        "TFLOP/s = 3 × forward FLOPs (stlearn.complexity) per step time; fraction of the dense peak of the",
        "variant's arithmetic (bf16, or TF32 for float32 convolutions).",
        "",
        "| model | batch | variant | train ms | infer ms | peak MB | TFLOP/s | of peak |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]

    def f(v, fmt):
        return "–" if v is None else format(v, fmt)

    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['batch']} | {r['variant']} | failed: {r['error']} | | | | |")
            continue
        frac = r.get("peak_fraction")
        lines.append(
            f"| {r['model']} | {r['batch']} | {r['variant']} | {r['train_ms']:.1f} | {f(r.get('infer_ms'), '.1f')} "
            f"| {f(r.get('peak_mb'), '.0f')} | {f(r.get('tflops'), '.1f')} "
            f"| {f(None if frac is None else 100 * frac, '.1f')}{'' if frac is None else ' %'} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    from .machine import machine_info

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--budget", type=float, help="seconds; rows not started by then are recorded as skipped")
    ap.add_argument("--variants", help=f"comma-separated subset of {VARIANTS}")
    ap.add_argument("--name", default="gpu", help="output files NAME.json and NAME.md (default: gpu)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = ap.parse_args(argv)
    variants = None if args.variants is None else {v.strip() for v in args.variants.split(",") if v.strip()}
    if variants is not None and variants - set(VARIANTS):
        ap.error(f"unknown variant(s) {sorted(variants - set(VARIANTS))}; choose from {VARIANTS}")
    args.out.mkdir(parents=True, exist_ok=True)
    machine = machine_info()

    def write(rows: list[dict]) -> None:  # after every row: a run cut short keeps what it measured
        (args.out / f"{args.name}.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))
        (args.out / f"{args.name}.md").write_text(f"# GPU benchmarks\n\nMachine: {machine['summary']}.\n\n"
                                         + "\n".join(markdown(rows)) + "\n")  # fmt: skip

    rows = run(args.quick, args.repeats, budget_s=args.budget, on_row=write, variants=variants)
    write(rows)
    print("\n".join(markdown(rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
