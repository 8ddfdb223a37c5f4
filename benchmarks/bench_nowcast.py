"""Time the optical-flow baseline (stlearn.nowcast): milliseconds per radar sequence, 10 → 10 frames, one core.

Usage:  python benchmarks/bench_nowcast.py [--quick] [--out benchmarks/results]
Writes ``nowcast.json`` and ``nowcast.md``. ``python -m stlearn table8`` runs it on the 1 000 test sequences.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from stlearn.data import load_radar_split
from stlearn.data.datasets import to_tensor
from stlearn.metrics import persistence_forecast
from stlearn.nowcast import estimate_motion, optical_flow_forecast


def per_sequence_ms(fn, x: torch.Tensor, batch: int) -> float:
    t0 = time.perf_counter()
    for s in range(0, len(x), batch):
        fn(x[s : s + batch])
    return (time.perf_counter() - t0) / len(x) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few sequences only (used by the tests)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    torch.set_num_threads(1)
    n, batch = (4, 4) if args.quick else (500, 50)
    x = to_tensor(load_radar_split("test").frames[:n])[:, :10]
    optical_flow_forecast(x[:2], 10)  # warm up
    rows = {
        "persistence": per_sequence_ms(lambda b: persistence_forecast(b, 10), x, batch),
        "motion field (estimate_motion)": per_sequence_ms(estimate_motion, x, batch),
        "optical flow forecast (motion + advection)": per_sequence_ms(lambda b: optical_flow_forecast(b, 10), x, batch),
    }
    machine = f"{platform.machine()}, 1 thread, batches of {batch}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "nowcast.json").write_text(json.dumps({"machine": machine, "ms_per_sequence": rows}, indent=1))
    flow_s = rows["optical flow forecast (motion + advection)"]  # ms per sequence = s per 1 000 sequences
    lines = [f"# Nowcasting baselines, 64×64 radar, 10 → 10 ({machine})", "", "| step | ms per sequence |"]
    lines += ["|---|---:|", *(f"| {k} | {v:.2f} |" for k, v in rows.items())]
    lines += ["", f"1 000 test sequences: about {flow_s:.0f} s of optical flow."]
    (args.out / "nowcast.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
