"""stlearn's training iteration against the official thuml/predrnn-pytorch loop, side by side, on CPU.

Usage:  python -m benchmarks.bench_official [--quick] [--threads 1] [--repeats 5] [--out benchmarks/results]

Writes ``official.json`` and ``official.md`` (with the machine it ran on) under ``--out``.

Model on both sides: PredRNN, 2 layers × 32 hidden channels, kernel 3, patch 4, 64×64 frames,
20 frames (10 in, 10 out), batch 8, Adam lr 1e-3, PredRNN's scheduled-sampling mask.

* ``official fp32`` — our own re-statement (no code of theirs is copied) of what one iteration
  of the official Moving MNIST recipe does (``run.py`` → ``trainer.train`` → ``Model.train`` →
  ``models/predrnn.py``): a float32 numpy batch (B, T, H, W, 1) copied out of the in-memory data
  set, ``reshape_patch`` in numpy, the mask ``real_input_flag`` built in numpy as a full-size
  (B, T − 11, H/p, W/p, p·p) array of ones and zeros (η falls by 2e-5 per iteration), both turned
  into tensors with ``torch.FloatTensor``; an ST-LSTM with five separate bias-free convolutions
  and ``torch.split`` gates; zero_grad, backward, Adam; the loss back as numpy. fp32, no clipping.
* ``official fp32 + reverse_input`` — the same iteration with the recipe's ``reverse_input = 1``:
  a second training step on the time-reversed batch (so two forward/backward/Adam steps).
* ``stlearn fp32`` / ``stlearn bf16`` — what ``stlearn train`` does per iteration
  (:mod:`stlearn.training.loop`), built from its public pieces: batch ``k`` from
  :func:`~stlearn.training.batches.make_batch_source`, :func:`~stlearn.training.config.sampling_mask`,
  the forward under ``torch.autocast(bfloat16, enabled=amp)``, zero_grad, backward,
  ``clip_grad_norm_(1.0)``, Adam, the learning-rate schedule's step. ``amp = true`` (bf16) is meant
  for CPUs with native bf16 (AVX512-BF16, AMX).

Progress bars, logging, validation and checkpoints are left out on both sides. Denormals are
flushed on both (``torch.set_flush_denormal``). The variants are timed **interleaved** (one
iteration of each in turn) after warm-up; the rows give median and minimum seconds per iteration,
wall-clock and the process's CPU time (all threads), and the ratio to ``official fp32`` (the issue's target:
stlearn ≤ 0.5 × official).

Not timed: a fidelity check. The official-style weights are loaded into stlearn's PredRNN with
:func:`stlearn.interop.load_predrnn` (the same state-dict keys), and both compute the loss and the
gradients on the same batch and mask (mid-schedule, so predictions are fed back); in fp32 the
losses must agree within 1e-5 and every gradient within 1e-4 of its parameter's largest entry.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stlearn.interop import load_predrnn
from stlearn.models import build_model
from stlearn.training.batches import make_batch_source
from stlearn.training.config import TrainConfig, lr_factor, sampling_mask
from stlearn.training.step import TrainStep, make_optimizer

from .machine import machine_info

SIZE = {"hidden_channels": [32, 32], "kernel_size": 3, "patch_size": 4, "frame_size": [64, 64]}
QUICK_SIZE = {"hidden_channels": [4, 4], "kernel_size": 3, "patch_size": 4, "frame_size": [16, 16]}
QUICK_DATA = {"canvas_size": 16, "digit_size": 8}
BATCH, QUICK_BATCH = 8, 2
ETA_RATE = 2e-5  # the official recipe: η from 1.0 down by 2e-5 per iteration, 0 from 50 000 on
VARIANTS = ("official fp32", "official fp32 + reverse_input", "stlearn fp32", "stlearn bf16")
#: with ``--compile`` (not in ``--quick``): torch.compile's one-off compilation is timed apart, in the warm-up
COMPILED = "stlearn bf16 + compile"
BASELINE = "official fp32"
LOSS_TOL, GRAD_TOL = 1e-5, 1e-4  # fidelity: |loss difference|, largest relative gradient difference


def train_config(quick: bool, amp: bool = False, compile: bool = False) -> TrainConfig:
    """The run ``stlearn train`` would make: the benchmark's model, the official schedule, stlearn's defaults."""
    return TrainConfig(
        model="predrnn",
        dataset="moving_digits",
        model_config=QUICK_SIZE if quick else SIZE,
        data_config=QUICK_DATA if quick else {},
        batch_size=QUICK_BATCH if quick else BATCH,
        lr=1e-3,
        iterations=80_000,
        sampling="scheduled",
        sampling_config={"start": 1.0, "rate": ETA_RATE, "stop_iteration": 50_000},
        amp=amp,
        compile=compile,
    )


# ---- the official loop, restated -----------------------------------------------------------------


def reshape_patch(frames: np.ndarray, p: int) -> np.ndarray:
    """numpy (B, T, H, W, C) -> (B, T, H/p, W/p, p·p·C), patch offsets (dy, dx) before the channel."""
    b, t, h, w, c = frames.shape
    x = frames.reshape(b, t, h // p, p, w // p, p, c).transpose(0, 1, 2, 4, 3, 5, 6)
    return x.reshape(b, t, h // p, w // p, p * p * c)


class OfficialSTLSTMCell(nn.Module):
    """The ST-LSTM as the official code writes it: five separate bias-free convolutions, split gates."""

    def __init__(self, in_channels: int, hidden: int, k: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.conv_x = nn.Sequential(nn.Conv2d(in_channels, 7 * hidden, k, padding=k // 2, bias=False))
        self.conv_h = nn.Sequential(nn.Conv2d(hidden, 4 * hidden, k, padding=k // 2, bias=False))
        self.conv_m = nn.Sequential(nn.Conv2d(hidden, 3 * hidden, k, padding=k // 2, bias=False))
        self.conv_o = nn.Sequential(nn.Conv2d(2 * hidden, hidden, k, padding=k // 2, bias=False))
        self.conv_last = nn.Conv2d(2 * hidden, hidden, 1, bias=False)

    def forward(self, x, h, c, m):
        i_x, f_x, g_x, ip_x, fp_x, gp_x, o_x = torch.split(self.conv_x(x), self.hidden, dim=1)
        i_h, f_h, g_h, o_h = torch.split(self.conv_h(h), self.hidden, dim=1)
        i_m, f_m, g_m = torch.split(self.conv_m(m), self.hidden, dim=1)
        c = torch.sigmoid(f_x + f_h + 1.0) * c + torch.sigmoid(i_x + i_h) * torch.tanh(g_x + g_h)
        m = torch.sigmoid(fp_x + f_m + 1.0) * m + torch.sigmoid(ip_x + i_m) * torch.tanh(gp_x + g_m)
        mem = torch.cat([c, m], dim=1)
        o = torch.sigmoid(o_x + o_h + self.conv_o(mem))
        return o * torch.tanh(self.conv_last(mem)), c, m


class OfficialPredRNN(nn.Module):
    """The official network's forward: channels-last patched input, zigzag M, per-step input selection."""

    def __init__(self, patch_channels: int, hidden: list[int], k: int, total_len: int, input_len: int) -> None:
        super().__init__()
        self.hidden, self.total_len, self.input_len = hidden, total_len, input_len
        ins = [patch_channels, *hidden[:-1]]
        self.cell_list = nn.ModuleList(OfficialSTLSTMCell(i, n, k) for i, n in zip(ins, hidden, strict=True))
        self.conv_last = nn.Conv2d(hidden[-1], patch_channels, 1, bias=False)

    def forward(self, frames_tensor, mask_true):
        frames = frames_tensor.permute(0, 1, 4, 2, 3).contiguous()  # (B, T, C, H, W)
        mask = mask_true.permute(0, 1, 4, 2, 3).contiguous()
        b, _, _, height, width = frames.shape
        h = [torch.zeros(b, n, height, width) for n in self.hidden]
        c = [torch.zeros(b, n, height, width) for n in self.hidden]
        memory = torch.zeros(b, self.hidden[0], height, width)
        next_frames, x_gen = [], None  # x_gen: the prediction of step t − 1, read from t = input_len on
        for t in range(self.total_len - 1):
            if t < self.input_len:
                net = frames[:, t]
            else:
                m_t = mask[:, t - self.input_len]
                net = m_t * frames[:, t] + (1 - m_t) * x_gen
            inp = net
            for layer, cell in enumerate(self.cell_list):  # M goes up the stack, then to layer 0 at t + 1
                h[layer], c[layer], memory = cell(inp, h[layer], c[layer], memory)
                inp = h[layer]
            x_gen = self.conv_last(h[-1])
            next_frames.append(x_gen)
        next_frames = torch.stack(next_frames, dim=0).permute(1, 0, 3, 4, 2).contiguous()
        return next_frames, F.mse_loss(next_frames, frames_tensor[:, 1:])


class OfficialLoop:
    """One official training iteration per call: data handle, reshape_patch, numpy mask, trainer.train."""

    def __init__(self, data: np.ndarray, config: TrainConfig, reverse_input: bool = False) -> None:
        cfg = config.model_config
        self.data, self.batch, self.p = data, config.batch_size, cfg["patch_size"]
        self.total_len, self.input_len = config.input_len + config.pred_len, config.input_len
        self.reverse_input, self.eta = reverse_input, 1.0
        self.random = np.random.RandomState(0)
        torch.manual_seed(config.seed)
        self.network = OfficialPredRNN(self.p**2, cfg["hidden_channels"], cfg["kernel_size"], self.total_len,
                                       self.input_len)  # fmt: skip
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=config.lr)

    def get_batch(self, k: int) -> np.ndarray:
        """The data handle: a fresh float32 (B, T, H, W, 1) array, one clip copied in after another."""
        out = np.zeros((self.batch, *self.data.shape[1:]), dtype=np.float32)
        for i in range(self.batch):
            out[i] = self.data[(k * self.batch + i) % len(self.data)]
        return out

    def schedule_sampling(self, shape: tuple[int, ...]) -> np.ndarray:
        """``real_input_flag``: a full-size array of ones (true frame) or zeros (prediction) per sample and step."""
        self.eta = max(self.eta - ETA_RATE, 0.0)
        steps = self.total_len - self.input_len - 1
        true_token = self.random.random_sample((self.batch, steps)) < self.eta
        ones, zeros = np.ones(shape), np.zeros(shape)
        flags = np.array([ones if keep else zeros for keep in true_token.ravel()])
        return flags.reshape(self.batch, steps, *shape)

    def train_step(self, ims: np.ndarray, flag: np.ndarray) -> np.ndarray:
        """``Model.train``: tensors from numpy, zero_grad, forward, backward, Adam; the loss as numpy."""
        frames, mask = torch.FloatTensor(ims), torch.FloatTensor(flag)
        self.optimizer.zero_grad()
        _, loss = self.network(frames, mask)
        loss.backward()
        self.optimizer.step()
        return loss.detach().cpu().numpy()

    def __call__(self, k: int) -> float:
        ims = reshape_patch(self.get_batch(k), self.p)
        flag = self.schedule_sampling(ims.shape[2:])
        cost = self.train_step(ims, flag)
        if self.reverse_input:  # trainer.train with reverse_input = 1: the time-reversed batch too
            cost = (cost + self.train_step(np.flip(ims, axis=1).copy(), flag)) / 2
        return float(cost)


# ---- stlearn's loop, from its public pieces ---------------------------------------------------------


class StlearnLoop:
    """One ``stlearn train`` iteration per call: its batch, mask, learning rate and :class:`TrainStep`."""

    def __init__(self, config: TrainConfig, source) -> None:
        self.config, self.source = config, source
        torch.manual_seed(config.seed)
        self.model = build_model(config.model, **config.model_config)
        self.model.train()
        self.step = TrainStep(self.model, make_optimizer(self.model, config.lr, captured=False), config.input_len,
                              config.amp, config.grad_clip, compile=config.compile)  # fmt: skip

    def __call__(self, k: int) -> float:
        cfg = self.config
        frames = self.source.batch(k, cfg.batch_size, seed=cfg.seed)
        mask = sampling_mask(cfg, k, cfg.batch_size, torch.Generator().manual_seed(cfg.seed * 1_000_003 + k * 7 + 1))
        self.step.set_lr(cfg.lr * lr_factor(cfg, k))
        loss, _ = self.step(frames, mask)
        return float(loss)


# ---- fidelity and timing ------------------------------------------------------------------------------


def fidelity(quick: bool = False, iteration: int = 25_000) -> dict:
    """Not timed: the official network's weights in stlearn's PredRNN, same batch and mask, fp32.

    ``iteration`` 25 000 is mid-schedule (η = 0.5): about half the decoder steps read the fed-back
    prediction. Returns both losses, their difference and the largest gradient difference relative
    to the largest gradient of the same parameter.
    """
    config = train_config(quick)
    source = make_batch_source(config.dataset, "train", config.data_config, config.input_len + config.pred_len)
    official = OfficialLoop(np.zeros((1, 1, 1, 1, 1), np.float32), config).network
    model = load_predrnn(build_model(config.model, **config.model_config), official.state_dict())
    frames = source.batch(iteration, config.batch_size, seed=config.seed)  # (B, T, 1, H, W)
    mask = sampling_mask(config, iteration, config.batch_size, torch.Generator().manual_seed(1))  # (B, T − 2)
    loss_stlearn = model(frames, mask=mask, input_len=config.input_len).loss
    ims = reshape_patch(frames.permute(0, 1, 3, 4, 2).numpy(), config.model_config["patch_size"])
    flag = mask[:, config.input_len - 1 :, None, None, None].expand(-1, -1, *ims.shape[2:]).numpy()
    _, loss_official = official(torch.FloatTensor(ims), torch.FloatTensor(flag))
    loss_stlearn.backward()
    loss_official.backward()
    theirs = dict(official.named_parameters())
    grad_diff = max(
        float((p.grad - theirs[name].grad).abs().max() / theirs[name].grad.abs().max())
        for name, p in model.named_parameters()
    )
    ours, official_loss = loss_stlearn.item(), loss_official.item()
    diff = abs(ours - official_loss)
    return {"iteration": iteration, "truth_fraction": float(mask[:, config.input_len - 1 :].mean()),
            "loss_official": official_loss, "loss_stlearn": ours, "loss_diff": diff, "grad_max_rel_diff": grad_diff,
            "ok": diff <= LOSS_TOL and grad_diff <= GRAD_TOL}  # fmt: skip


def _loops(quick: bool, compiled: bool = False) -> dict:
    config = train_config(quick)
    source = make_batch_source(config.dataset, "train", config.data_config, config.input_len + config.pred_len)
    # the official handle keeps its data set in memory as float32 (N, T, H, W, 1)
    data = source.sequences(0, 8 * config.batch_size).astype(np.float32)[..., None] / 255.0
    return {
        "official fp32": OfficialLoop(data, config),
        "official fp32 + reverse_input": OfficialLoop(data, config, reverse_input=True),
        "stlearn fp32": StlearnLoop(config, source),
        "stlearn bf16": StlearnLoop(train_config(quick, amp=True), source),
        **({COMPILED: StlearnLoop(train_config(quick, amp=True, compile=True), source)} if compiled else {}),
    }


def _row(variant: str, wall: list[float], cpu: list[float], base: tuple[float, float]) -> dict:
    med, cpu_med = statistics.median(wall), statistics.median(cpu)
    return {"variant": variant, "median_s": med, "min_s": min(wall), "cpu_median_s": cpu_med, "cpu_min_s": min(cpu),
            "ratio": med / base[0], "cpu_ratio": cpu_med / base[1], "n": len(wall)}  # fmt: skip


def run(quick: bool = False, repeats: int | None = None, warmup: int = 2, progress=print,
        compiled: bool = False) -> dict:  # fmt: skip
    """The fidelity check, then one row per variant: seconds per iteration (median, min; wall and CPU), × official.

    ``compiled``: also ``stlearn bf16 + compile`` (its compilation, minutes, is the first warm-up step, timed apart).
    """
    repeats = repeats or (2 if quick else 5)
    torch.set_flush_denormal(True)
    check = fidelity(quick)
    progress(f"  official: fidelity loss diff {check['loss_diff']:.1e}, grads {check['grad_max_rel_diff']:.1e}")
    loops = _loops(quick, compiled)
    variants = tuple(loops)
    compile_s = None
    if compiled:
        t0 = time.perf_counter()
        loops[COMPILED](0)
        compile_s = time.perf_counter() - t0
        progress(f"  official: torch.compile's first step (compilation) {compile_s:.0f} s")
    st = loops["stlearn fp32"]
    for k in range(warmup + repeats):  # the pool holds these batches' sequences already: time the steady state
        st.source.batch(k, st.config.batch_size, seed=st.config.seed)
    wall = {v: [] for v in variants}
    cpu = {v: [] for v in variants}
    for k in range(warmup + repeats):
        for v in variants:
            t0, c0 = time.perf_counter(), time.process_time()
            loops[v](k)
            if k >= warmup:
                wall[v].append(time.perf_counter() - t0)
                cpu[v].append(time.process_time() - c0)
        if k >= warmup:
            times = ", ".join(f"{v} {wall[v][-1]:.2f} s" for v in variants)
            progress(f"  official: round {k - warmup + 1}/{repeats}: {times}")
    base = statistics.median(wall[BASELINE]), statistics.median(cpu[BASELINE])
    rows = [_row(v, wall[v], cpu[v], base) for v in variants]
    setting = {**(QUICK_SIZE if quick else SIZE), "batch": QUICK_BATCH if quick else BATCH, "frames": 20,
               "threads": torch.get_num_threads(),
               "cpu_capability": torch.backends.cpu.get_cpu_capability()}  # fmt: skip
    return {"setting": setting, "rows": rows, "fidelity": check, "compile_seconds": compile_s}


def markdown(result: dict) -> list[str]:
    s, f = result["setting"], result["fidelity"]
    lines = [
        f"PredRNN {len(s['hidden_channels'])} × {s['hidden_channels'][0]}, kernel {s['kernel_size']}, patch "
        f"{s['patch_size']}, {s['frame_size'][0]}×{s['frame_size'][1]}, {s['frames']} frames, batch {s['batch']}, "
        f"{s['threads']} thread(s), CPU capability {s['cpu_capability']}. Seconds per training iteration, interleaved;",
        "`official` = our re-statement of thuml/predrnn-pytorch's Moving MNIST loop (numpy batch, reshape_patch and",
        "mask, separate convolutions, fp32); `+ reverse_input` = its second step on the time-reversed batch;",
        "`stlearn` = what `stlearn train` does per iteration (grad clipping, LR schedule; bf16 = `amp = true`).",
        "",
        "| variant | median s | min s | CPU median s | CPU min s | × official fp32 | CPU × official fp32 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['variant']} | {r['median_s']:.3f} | {r['min_s']:.3f} | {r['cpu_median_s']:.3f} | {r['cpu_min_s']:.3f} "
        f"| {r['ratio']:.2f} | {r['cpu_ratio']:.2f} |"
        for r in result["rows"]
    ]
    lines += [
        "",
        f"Fidelity (not timed; same weights via `load_predrnn`, same batch and mask at iteration {f['iteration']}, "
        f"{f['truth_fraction']:.0%} true decoder inputs, fp32): loss official {f['loss_official']:.7f}, stlearn "
        f"{f['loss_stlearn']:.7f}, difference {f['loss_diff']:.1e}; largest relative gradient difference "
        f"{f['grad_max_rel_diff']:.1e} — {'within' if f['ok'] else '**outside**'} the tolerances "
        f"({LOSS_TOL:g}, {GRAD_TOL:g}).",
    ]
    if result.get("compile_seconds") is not None:
        lines += ["", f"`{COMPILED}`: `compile = true`; its one-off compilation took {result['compile_seconds']:.0f} s "
                  "(the first step, not in the rows), which a run of N iterations repays after about "
                  "compilation / (bf16 − compiled) iterations. The compilation is minutes with a cold "
                  "TorchInductor cache and seconds when the cache already holds this graph."]  # fmt: skip
    return lines


def write(result: dict, out: Path) -> list[str]:
    """``official.json`` (with the machine) and ``official.md`` under ``out``; returns the markdown lines."""
    machine = machine_info()
    out.mkdir(parents=True, exist_ok=True)
    (out / "official.json").write_text(json.dumps({"machine": machine, **result}, indent=1))
    lines = [f"# stlearn vs the official PredRNN training loop (CPU, {machine['summary']})", "", *markdown(result)]
    (out / "official.md").write_text("\n".join(lines) + "\n")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny model and two repeats (used by the tests)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=None, help="interleaved rounds after warm-up (default 5)")
    ap.add_argument("--compile", action="store_true", help="also stlearn bf16 + torch.compile (minutes to compile)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print("\n".join(write(run(args.quick, args.repeats, compiled=args.compile and not args.quick), args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
