"""Time the data generators: milliseconds per sequence of moving digits and of radar echoes (one core).

Usage:  python benchmarks/bench_data.py [--quick] [--out benchmarks/results]
Writes ``data.json`` and ``data.md``. Training pools and the radar test split are generated with these.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from stlearn.data import generate_moving_digits, generate_radar
from stlearn.data.radar import radar_sequence


def per_sequence_ms(fn, n: int) -> float:
    t0 = time.perf_counter()
    fn(n)
    return (time.perf_counter() - t0) / n * 1e3


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few sequences only (used by the tests)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    n_digits, n_radar = (4, 2) if args.quick else (500, 50)
    generate_moving_digits(1, "val")  # load the digits once
    radar_sequence(np.random.default_rng(0))  # warm the FFT plans
    rows = {
        "moving digits (64×64, 20 frames)": per_sequence_ms(lambda n: generate_moving_digits(n, "val"), n_digits),
        "radar echoes (64×64, 20 frames)": per_sequence_ms(lambda n: generate_radar(n, "val", start=100), n_radar),
    }
    machine = f"{platform.machine()}, 1 process"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "data.json").write_text(json.dumps({"machine": machine, "ms_per_sequence": rows}, indent=1))
    lines = [f"# Data generation ({machine})", "", "| data set | ms per sequence |", "|---|---:|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in rows.items()]
    (args.out / "data.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
