"""Time one cell step, fast path vs trace path (and an unfused per-gate baseline), on CPU.

Usage:  python benchmarks/bench_cells.py [--quick] [--threads N] [--out benchmarks/results]

Writes ``cells.json`` and ``cells.md`` (with the machine it ran on) under ``--out``.
Sizes: the lessons' (32 hidden channels, 16×16 patched frames, kernel 3, batch 1 and 8) and the
paper's Moving MNIST layer (128 hidden channels, 16×16, kernel 5, batch 8, 16 input channels).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from stlearn import ConvLSTMCell, STLSTMCell


def unfused_convlstm_step(cell: ConvLSTMCell, x, h, c):
    """The textbook way: one convolution per gate and input (8 convolutions) — the baseline to beat."""
    hid, pad = cell.hidden_channels, cell.kernel_size // 2
    wx, wh = cell.conv_x[0].weight, cell.conv_h[0].weight
    b = cell.bias

    def pre(g):
        sl = slice(g * hid, (g + 1) * hid)
        return F.conv2d(x, wx[sl], b[sl], padding=pad) + F.conv2d(h, wh[sl], padding=pad)

    i = torch.sigmoid(pre(0) + cell.w_ci * c)
    f = torch.sigmoid(pre(1) + cell.w_cf * c)
    c_new = f * c + i * torch.tanh(pre(2))
    o = torch.sigmoid(pre(3) + cell.w_co * c_new)
    return o * torch.tanh(c_new), c_new


def unfused_stlstm_step(cell: STLSTMCell, x, h, c, m):
    """ST-LSTM with one convolution per gate and input (14 + 2 convolutions)."""
    hid, pad = cell.hidden_channels, cell.kernel_size // 2
    wx, wh, wm = cell.conv_x[0].weight, cell.conv_h[0].weight, cell.conv_m[0].weight

    def conv(inp, w, g):
        return F.conv2d(inp, w[g * hid : (g + 1) * hid], padding=pad)

    i = torch.sigmoid(conv(x, wx, 0) + conv(h, wh, 0))
    f = torch.sigmoid(conv(x, wx, 1) + conv(h, wh, 1) + 1.0)
    g = torch.tanh(conv(x, wx, 2) + conv(h, wh, 2))
    c_new = f * c + i * g
    ip = torch.sigmoid(conv(x, wx, 3) + conv(m, wm, 0))
    fp = torch.sigmoid(conv(x, wx, 4) + conv(m, wm, 1) + 1.0)
    gp = torch.tanh(conv(x, wx, 5) + conv(m, wm, 2))
    m_new = fp * m + ip * gp
    mem = torch.cat([c_new, m_new], 1)
    o = torch.sigmoid(conv(x, wx, 6) + conv(h, wh, 3) + cell.conv_o(mem))
    return o * torch.tanh(cell.conv_last(mem)), c_new, m_new


def timeit(fn, repeats: int, warmup: int = 3) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": statistics.median(times), "min_ms": min(times)}


def bench_case(name, cell_cls, cin, hid, k, size, batch, repeats):
    torch.manual_seed(0)
    if cell_cls is ConvLSTMCell:
        cell = ConvLSTMCell(cin, hid, k, (size, size))
        n_states = 2
    else:
        cell = STLSTMCell(cin, hid, k, (size, size))
        n_states = 3
    x = torch.rand(batch, cin, size, size)
    s = [torch.randn(batch, hid, size, size) * 0.1 for _ in range(n_states)]
    if cell_cls is ConvLSTMCell:
        paths = {
            "fast": lambda: cell(x, (s[0], s[1])),
            "trace": lambda: cell.trace(x, (s[0], s[1])),
            "unfused": lambda: unfused_convlstm_step(cell, x, s[0], s[1]),
        }
    else:
        paths = {
            "fast": lambda: cell(x, *s),
            "trace": lambda: cell.trace(x, *s),
            "unfused": lambda: unfused_stlstm_step(cell, x, *s),
        }
    rows = []
    for mode in ("inference", "train"):
        for path, fn in paths.items():
            if mode == "inference":

                def run(fn=fn):
                    with torch.no_grad():
                        fn()
            else:

                def run(fn=fn, traced=path == "trace"):
                    out = fn()
                    out = out[0] if traced else out
                    sum(t.sum() for t in out).backward()

            rows.append({"case": name, "mode": mode, "path": path, **timeit(run, repeats)})
    return rows


CASES = [
    # name, cell, in, hidden, kernel, size, batch
    ("ConvLSTM lesson b1", ConvLSTMCell, 16, 32, 3, 16, 1),
    ("ConvLSTM lesson b8", ConvLSTMCell, 16, 32, 3, 16, 8),
    ("ST-LSTM lesson b1", STLSTMCell, 16, 32, 3, 16, 1),
    ("ST-LSTM lesson b8", STLSTMCell, 16, 32, 3, 16, 8),
    ("ConvLSTM paper b8", ConvLSTMCell, 16, 128, 5, 16, 8),
    ("ST-LSTM paper b8", STLSTMCell, 16, 128, 5, 16, 8),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes and few repeats (used by the tests)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cases = [("ConvLSTM tiny", ConvLSTMCell, 2, 4, 3, 8, 1), ("ST-LSTM tiny", STLSTMCell, 2, 4, 3, 8, 1)]
    cases = cases if args.quick else CASES
    repeats = 3 if args.quick else 30
    rows = [r for case in cases for r in bench_case(*case, repeats=repeats)]
    machine = f"{platform.processor() or platform.machine()}, {args.threads} threads, torch {torch.__version__}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cells.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))
    lines = [
        f"# Cell step times (CPU, {machine})",
        "",
        "Median of repeated steps, milliseconds. `train` = forward + backward.",
        "",
        "| case | mode | fast | trace | trace / fast | unfused | unfused / fast |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for case in dict.fromkeys(r["case"] for r in rows):
        for mode in ("inference", "train"):
            t = {r["path"]: r["median_ms"] for r in rows if r["case"] == case and r["mode"] == mode}
            lines.append(
                f"| {case} | {mode} | {t['fast']:.2f} | {t['trace']:.2f} | {t['trace'] / t['fast']:.2f} "
                f"| {t['unfused']:.2f} | {t['unfused'] / t['fast']:.2f} |"
            )
    (args.out / "cells.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
