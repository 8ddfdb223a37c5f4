"""The GPU's launch-bound regime, measured on a CPU: trace / fast / unfused where only the count of operations counts.

Usage:  python -m benchmarks.bench_overhead [--quick] [--repeats N]

At batch 8 a paper-size model's eager GPU training step is bound by issuing its ~10 000 small
kernels (Python, autograd and the launches), not by their arithmetic. The same models with 4
hidden channels on 8×8 frames, batch 1, on one CPU thread spend their time the same way: issuing
operations. So the trace / fast ratios here stand in for the eager GPU ones on a machine without
a GPU, and they track them: before the ConvLSTM trace path's grouped convolution this measured
1.60-1.65 (ConvLSTM) and 1.15-1.19 (PredRNN) over runs, where the H200 measured 1.66 and 1.16 at
batch 8 (``results/gpu.json``). The unfused ratios come out larger here (3-4) than on the H200
(2.0-2.4). A stand-in, not a GPU measurement: the report labels it so.

Times are the thread's CPU time (``time.thread_time``: waiting for a core is not counted) of one
forward + backward step (teacher forcing, 20 frames), the minimum over interleaved repeats.
"""

from __future__ import annotations

import argparse
import time

import torch

from stlearn.models import build_model

from .bench_models import FRAMES, INPUT_LEN, _use_unfused, paper_config

MODELS = ("convlstm", "predrnn")
VARIANTS = ("fast", "trace", "unfused")


def tiny_config(name: str) -> dict:
    """The paper configuration (4 layers, kernel 5, patch 4) with 4 hidden channels on 8×8 frames."""
    return {**paper_config(name), "hidden_channels": [4, 4, 4, 4], "frame_size": (8, 8)}


def run(quick: bool = False, repeats: int = 30, progress=print) -> list[dict]:
    """One row per (model, variant): minimum CPU ms per step and the ratio to the fast path."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = []
    try:
        for name in MODELS:
            steps = {}
            for variant in VARIANTS:
                torch.manual_seed(0)
                model = build_model(name, **tiny_config(name))
                if variant == "unfused":
                    _use_unfused(model)
                frames = torch.rand(1, FRAMES, 1, 8, 8, generator=torch.Generator().manual_seed(1))
                mask = torch.ones(1, FRAMES - 2)

                def step(model=model, frames=frames, mask=mask, trace=variant == "trace") -> float:
                    t0 = time.thread_time()
                    model.zero_grad(set_to_none=True)
                    model(frames, mask, INPUT_LEN, trace=trace).loss.backward()
                    return time.thread_time() - t0

                steps[variant] = step
            best = {v: float("inf") for v in VARIANTS}
            for _ in range(2):  # warm-up
                for fn in steps.values():
                    fn()
            for _ in range(2 if quick else repeats):
                for v, fn in steps.items():
                    best[v] = min(best[v], fn())
            for v in VARIANTS:
                rows.append({"model": name, "variant": v, "cpu_ms": 1e3 * best[v], "ratio": best[v] / best["fast"]})
            progress(f"overhead {name}: " + ", ".join(f"{v} {1e3 * best[v]:.1f} ms" for v in VARIANTS))
    finally:
        torch.set_num_threads(threads)
    return rows


def markdown(rows: list[dict]) -> list[str]:
    lines = [
        "Paper-size models shrunk to 4 hidden channels on 8×8 frames, batch 1, one thread: the time goes to",
        "issuing operations, as in an eager GPU step at batch 8. Minimum thread CPU time of one forward + backward",
        "step. A stand-in for the GPU ratios where no GPU is present, not a GPU measurement.",
        "",
        "| model | variant | CPU ms | × fast |",
        "|---|---|---:|---:|",
    ]
    lines += [f"| {r['model']} | {r['variant']} | {r['cpu_ms']:.1f} | {r['ratio']:.2f} |" for r in rows]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args(argv)
    print("\n".join(markdown(run(args.quick, args.repeats))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
