"""Time one cell step: fast path vs trace path, and two unfused baselines, interleaved, on CPU.

Usage:  python benchmarks/bench_cells.py [--quick] [--threads N] [--repeats N] [--out benchmarks/results]

Writes ``cells.json`` and ``cells.md`` (with the machine it ran on) under ``--out``.
Sizes: the lessons' (32 hidden channels, 16×16 patched frames, kernel 3, batch 1 and 8) and the
paper's Moving MNIST layer (128 hidden channels, 16×16, kernel 5, batch 8, 16 input channels), and the
ConvLSTM's upper layers (as many input channels as hidden ones) at both sizes.

Paths: ``fast`` (the cell's forward: one convolution over [X, H] for ConvLSTM, two for the
ST-LSTM), ``trace`` (``cell.trace``), ``per_input`` (one convolution per input, all gates at
once: the fast path before the [X, H] fusion) and ``unfused`` (one convolution per gate and
input). The paths are timed **interleaved** (fast, trace, per_input, unfused, fast, …) and the
median taken, so that load from other processes on a shared machine affects all alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from stlearn import ConvLSTMCell, STLSTMCell

try:  # run as a script (python benchmarks/bench_cells.py) or as a module (python -m benchmarks)
    from benchmarks.machine import machine_info
except ImportError:  # pragma: no cover
    from machine import machine_info  # type: ignore[no-redef]


def per_input_convlstm_step(cell: ConvLSTMCell, x, h, c):
    """One convolution per input (conv_x, conv_h) and a separate bias add — the fast path before fusion."""
    z = cell.conv_x(x) + cell.conv_h(h) + cell.bias.view(1, -1, 1, 1)
    z_i, z_f, z_c, z_o = z.chunk(4, dim=1)
    c_new = torch.sigmoid(z_f + cell.w_cf * c) * c + torch.sigmoid(z_i + cell.w_ci * c) * torch.tanh(z_c)
    return torch.sigmoid(z_o + cell.w_co * c_new) * torch.tanh(c_new), c_new


def per_input_stlstm_step(cell: STLSTMCell, x, h, c, m):
    """ST-LSTM with one convolution per input (conv_x, conv_h, conv_m) — the fast path before fusion."""
    x_i, x_f, x_g, x_ip, x_fp, x_gp, x_o = cell.conv_x(x).chunk(7, dim=1)
    h_i, h_f, h_g, h_o = cell.conv_h(h).chunk(4, dim=1)
    m_i, m_f, m_g = cell.conv_m(m).chunk(3, dim=1)
    c_new = torch.sigmoid(x_f + h_f + 1.0) * c + torch.sigmoid(x_i + h_i) * torch.tanh(x_g + h_g)
    m_new = torch.sigmoid(x_fp + m_f + 1.0) * m + torch.sigmoid(x_ip + m_i) * torch.tanh(x_gp + m_g)
    mem = torch.cat([c_new, m_new], dim=1)
    o = torch.sigmoid(x_o + h_o + cell.conv_o(mem))
    return o * torch.tanh(cell.conv_last(mem)), c_new, m_new


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


def time_interleaved(fns: dict, repeats: int, warmup: int = 2) -> dict[str, dict[str, float]]:
    """Median and min milliseconds of each function, run in rotation (A, B, C, A, B, C, …).

    Wall-clock (``median_ms``, ``min_ms``) and process CPU time (``cpu_median_ms``: all threads'
    CPU seconds, which on a loaded machine leaves out the time the process waited for a core).
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            times[name].append((time.perf_counter() - t0) * 1e3)
            cpu[name].append((time.process_time() - c0) * 1e3)
    return {
        k: {"median_ms": statistics.median(v), "min_ms": min(v), "cpu_median_ms": statistics.median(cpu[k])}
        for k, v in times.items()
    }


PATHS = ("fast", "trace", "per_input", "unfused")


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
            "trace": lambda: cell.trace(x, (s[0], s[1]))[0],
            "per_input": lambda: per_input_convlstm_step(cell, x, s[0], s[1]),
            "unfused": lambda: unfused_convlstm_step(cell, x, s[0], s[1]),
        }
    else:
        paths = {
            "fast": lambda: cell(x, *s),
            "trace": lambda: cell.trace(x, *s)[0],
            "per_input": lambda: per_input_stlstm_step(cell, x, *s),
            "unfused": lambda: unfused_stlstm_step(cell, x, *s),
        }
    rows = []
    for mode in ("inference", "train"):
        if mode == "inference":
            runs = {p: (lambda fn=fn: _no_grad(fn)) for p, fn in paths.items()}
        else:
            runs = {p: (lambda fn=fn: sum(t.sum() for t in fn()).backward()) for p, fn in paths.items()}
        flops = conv_flops(cell_cls, cin, hid, k, size, batch) * (3 if mode == "train" else 1)
        for path, t in time_interleaved(runs, repeats).items():
            rows.append({"case": name, "mode": mode, "path": path, **t, "conv_gflop": flops / 1e9})
    return rows


def conv_flops(cell_cls, cin, hid, k, size, batch) -> float:
    """Multiply-add FLOPs (2 per MAC) of the convolutions of one forward step — the same for every path."""
    pixels = batch * size * size
    if cell_cls is ConvLSTMCell:
        return 2.0 * pixels * k * k * 4 * hid * (cin + hid)
    # 4C gates over [X, H], 3C gates over [X, M], conv_o over [C, M], the 1×1 conv_last over [C, M]
    return 2.0 * pixels * (k * k * (7 * hid * (cin + hid) + hid * 2 * hid) + hid * 2 * hid)


def _no_grad(fn):
    with torch.no_grad():
        return fn()


CASES = [
    # name, cell, in, hidden, kernel, size, batch
    ("ConvLSTM lesson b1", ConvLSTMCell, 16, 32, 3, 16, 1),
    ("ConvLSTM lesson b8", ConvLSTMCell, 16, 32, 3, 16, 8),
    ("ST-LSTM lesson b1", STLSTMCell, 16, 32, 3, 16, 1),
    ("ST-LSTM lesson b8", STLSTMCell, 16, 32, 3, 16, 8),
    ("ConvLSTM paper b8", ConvLSTMCell, 16, 128, 5, 16, 8),
    ("ST-LSTM paper b8", STLSTMCell, 16, 128, 5, 16, 8),
    # the layers above the first read H^(l-1) (as many channels as H): the ConvLSTM trace path's grouped convolution
    ("ConvLSTM lesson b8 upper layer", ConvLSTMCell, 32, 32, 3, 16, 8),
    ("ConvLSTM paper b8 upper layer", ConvLSTMCell, 128, 128, 5, 16, 8),
]
QUICK_CASES = [("ConvLSTM tiny", ConvLSTMCell, 2, 4, 3, 8, 1), ("ST-LSTM tiny", STLSTMCell, 2, 4, 3, 8, 1)]


def sgemm_gflops(n: int = 2048, repeats: int = 5) -> float:
    """The CPU's reachable float32 peak: GFLOP/s of an n × n × n matrix product (best of ``repeats``).

    A convolution at the paper's size is a large matrix product inside oneDNN; when a path's GFLOP/s
    is close to this, only fewer FLOPs (not fusion) can make it faster.
    """
    a, b = torch.rand(n, n), torch.rand(n, n)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best / 1e9


def run(quick: bool = False, repeats: int | None = None, progress=print, only: str = "") -> list[dict]:
    """All cases' rows (``only``: cases whose name contains it); paper size gets a third of the repeats.

    Every row also carries ``sgemm_gflops``, the machine's matrix-product peak (:func:`sgemm_gflops`).
    """
    repeats = repeats or (3 if quick else 30)
    rows = []
    for case in [c for c in (QUICK_CASES if quick else CASES) if only in c[0]]:
        progress(f"  cells: {case[0]}")
        rows += bench_case(*case, repeats=max(3, repeats // 3) if "paper" in case[0] else repeats)
    peak = sgemm_gflops(128 if quick else 2048)
    return [{**r, "sgemm_gflops": peak} for r in rows]


def markdown(rows: list[dict], clock: str = "median_ms") -> list[str]:
    """The table; ``clock="cpu_median_ms"`` shows CPU time (fairer on a shared machine with 1 thread)."""
    lines = [
        ("Median CPU time" if clock.startswith("cpu") else "Median wall-clock time")
        + " of interleaved steps, milliseconds. `train` = forward + backward. `per_input` = one convolution",
        "per input (the fast path before the [X, H] fusion); `unfused` = one convolution per gate and input.",
        "",
        "`GFLOP/s` = the convolutions' multiply-adds (×3 for train: backward ≈ 2 × forward) over the fast path's",
        "median time; `of peak` = that over the machine's float32 matrix-product peak "
        f"({rows[0]['sgemm_gflops']:.0f} GFLOP/s, a 2048³",
        "product on the same threads). Near the peak the convolutions, not the gate arithmetic or the number of",
        "kernels, set the time: fusing them cannot help, only fewer FLOPs could.",
        "",
        "| case | mode | fast | trace | trace / fast | per_input | per_input / fast | unfused | unfused / fast "
        "| fast GFLOP/s | of peak |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case in dict.fromkeys(r["case"] for r in rows):
        for mode in ("inference", "train"):
            t = {r["path"]: r[clock] for r in rows if r["case"] == case and r["mode"] == mode}
            gflop = next(r["conv_gflop"] for r in rows if r["case"] == case and r["mode"] == mode)
            lines.append(
                f"| {case} | {mode} | {t['fast']:.2f} | {t['trace']:.2f} | {t['trace'] / t['fast']:.2f} "
                f"| {t['per_input']:.2f} | {t['per_input'] / t['fast']:.2f} "
                f"| {t['unfused']:.2f} | {t['unfused'] / t['fast']:.2f} | {gflop / t['fast'] * 1e3:.0f} "
                f"| {gflop / t['fast'] * 1e3 / rows[0]['sgemm_gflops']:.0%} |"
            )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes and few repeats (used by the tests)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--cpu-time", action="store_true", help="tabulate CPU time, not wall-clock (loaded machine)")
    ap.add_argument("--cases", default="", help="only the cases whose name contains this, e.g. 'b8'")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = run(args.quick, args.repeats, only=args.cases)
    machine = machine_info()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cells.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))
    lines = [
        f"# Cell step times (CPU, {machine['summary']})",
        "",
        *markdown(rows, "cpu_median_ms" if args.cpu_time else "median_ms"),
    ]
    (args.out / "cells.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
