"""Training: one loop for every model, as a function for notebooks and ``stlearn train`` for the shell.

A run is described by a :class:`~stlearn.training.config.TrainConfig`. The loop is
deterministic: batch ``k`` and its sampling mask depend only on ``(seed, k)``, so a run resumed
from a checkpoint continues exactly as if it had never stopped (tested).

Every ``val_every`` iterations it scores the model on a fixed validation subset, appends a line
to the JSON-lines log, and writes the checkpoint atomically (:mod:`stlearn.training.checkpoints`), so
Ctrl-C or a crash leaves the last good checkpoint intact (``resume=True`` continues from it).

Taught in lesson 4 (training a ConvLSTM); the pretrained models of ``data/checkpoints`` were
made with it (their configurations are in ``configs/``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..metrics import MetricAccumulator
from ..models import build_model
from .batches import BatchSource, make_batch_source
from .checkpoints import Checkpoint, load_checkpoint, load_state_dict_checked, save_checkpoint
from .config import RUNTIME_ONLY, TrainConfig, sampling_mask


@dataclass
class TrainResult:
    """What :func:`train` returns: the checkpoint written and the logged history (lesson 4)."""

    checkpoint: Path
    history: list[dict[str, Any]]
    interrupted: bool = False


def _rng_for(seed: int, iteration: int, stream: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + iteration * 7 + stream)


@torch.no_grad()
def validate(
    model: torch.nn.Module, source: BatchSource, config: TrainConfig, device: torch.device
) -> dict[str, float]:
    """MSE per frame (sum over a frame's pixels) and per pixel of the forecast on the validation subset."""
    was_training = model.training
    model.eval()
    acc = MetricAccumulator(thresholds=None, ssim=False, psnr=False)
    for batch in source.fixed_batches(config.val_sequences, config.batch_size):
        batch = batch.to(device)
        inputs, target = batch[:, : config.input_len], batch[:, config.input_len :]
        acc.update(model.predict(inputs, config.pred_len).clamp(0, 1), target)
    model.train(was_training)
    means = acc.compute().summary()
    return {"val_mse_per_frame": means["mse_frame"], "val_mse_per_pixel": means["mse_pixel"]}


def _progress(total: int, initial: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="it", dynamic_ncols=True, desc="training")


def train(
    config: TrainConfig,
    checkpoint: str | Path,
    log: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    on_log: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train ``config.model`` on ``config.dataset`` and write ``checkpoint`` (lesson 4).

    Args:
        config: the run.
        checkpoint: where the checkpoint goes (rewritten atomically at every validation).
        log: JSON-lines metrics log (default: the checkpoint path with ``.jsonl``).
        resume: continue from ``checkpoint`` (same configuration) instead of starting afresh.
            Without ``resume`` an existing checkpoint is never overwritten.
        progress: show a tqdm progress bar (the notebook variant inside JupyterLab).
        on_log: called with each log record (the lessons draw a live loss curve with it).
    """
    checkpoint = Path(checkpoint)
    log = Path(log) if log is not None else checkpoint.with_suffix(".jsonl")
    if config.threads:
        torch.set_num_threads(config.threads)
    device = torch.device(config.device)
    if device.type == "cpu":
        torch.set_flush_denormal(True)  # denormal floats slowed a CPU step 8x within a few steps
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("TrainConfig.device is 'cuda' but no CUDA device is available; use device = 'cpu'")
    torch.manual_seed(config.seed)
    model = build_model(config.model, **config.model_config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda k: 1.0 - (1.0 - config.lr_final_fraction) * min(k, config.iterations) / config.iterations
    )
    train_source = make_batch_source(config.dataset, "train", config.data_config, config.input_len + config.pred_len)
    val_source = make_batch_source(config.dataset, "val", config.data_config, config.input_len + config.pred_len)

    start, history, seconds = 0, [], 0.0
    if resume:
        ck = load_checkpoint(checkpoint, expect_model=config.model)
        # a key the saved run predates counts as its default value
        defaults = TrainConfig(model=config.model, dataset=config.dataset).to_dict()
        saved, now = {**defaults, **ck.training.get("config", {})}, config.to_dict()
        differ = sorted(k for k in now.keys() | saved.keys() if k not in RUNTIME_ONLY and saved.get(k) != now.get(k))
        if differ:
            raise ValueError(
                f"{checkpoint} was trained with another configuration (differs in {differ}); resume needs the same one"
            )
        load_state_dict_checked(model, ck.state_dict)
        if ck.optimizer is not None:
            optimizer.load_state_dict(ck.optimizer["adam"])
            scheduler.load_state_dict(ck.optimizer["lr_schedule"])
        start = int(ck.training["iterations_done"])
        seconds = float(ck.training.get("seconds", 0.0))
        history = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        history = [h for h in history if h["iteration"] <= start]
    elif checkpoint.exists():
        raise FileExistsError(f"{checkpoint} exists: pass resume=True to continue it, or choose another path")

    def save(done: int, metrics: dict[str, Any]) -> None:
        save_checkpoint(
            Checkpoint(
                model_name=config.model,
                model_config=dict(model.config),
                state_dict=model.state_dict(),
                data={"name": config.dataset, "config": config.data_config},
                training={
                    "config": config.to_dict(),
                    "iterations_done": done,
                    "seconds": round(seconds, 2),
                    "device": str(device),
                    "torch": str(torch.__version__),
                    "stlearn": __version__,
                },
                metrics=metrics,
                optimizer={"adam": optimizer.state_dict(), "lr_schedule": scheduler.state_dict()},
            ),
            checkpoint,
        )

    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:  # rewrite the kept history (a resumed run drops lines past the checkpoint)
        f.writelines(json.dumps(h) + "\n" for h in history)
    bar = _progress(config.iterations, start, progress)
    model.train()
    running, interrupted, done = None, False, start
    t_last = time.perf_counter()
    try:
        for k in range(start, config.iterations):
            frames = train_source.batch(k, config.batch_size, seed=config.seed).to(device)
            mask = sampling_mask(config, k, config.batch_size, _rng_for(config.seed, k, 1))
            mask = mask.to(device) if mask is not None else None
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp):
                out = model(frames, mask=mask, input_len=config.input_len)
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            done = k + 1
            loss = float(out.loss.detach())
            running = loss if running is None else 0.95 * running + 0.05 * loss
            now = time.perf_counter()
            seconds += now - t_last
            t_last = now
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{running:.4g}")
            if done % config.val_every == 0 or done == config.iterations:
                record = {
                    "iteration": done,
                    "loss": running,
                    **{k2: float(v) for k2, v in out.loss_terms.items()},
                    **validate(model, val_source, config, device),
                    "seconds": round(seconds, 2),
                }
                history.append(record)
                with open(log, "a") as f:
                    f.write(json.dumps(record) + "\n")
                if on_log is not None:
                    on_log(record)
                save(done, {k2: v for k2, v in record.items() if k2.startswith("val_")})
                t_last = time.perf_counter()  # validation and saving do not count as training time
    except KeyboardInterrupt:
        # The weights may hold a half-applied step: keep the last good checkpoint as it is.
        interrupted = True
        if bar is not None:
            bar.write(
                f"interrupted at iteration {done}; the checkpoint of iteration "
                f"{history[-1]['iteration'] if history else start} in {checkpoint} is intact"
            )
    finally:
        if bar is not None:
            bar.close()
    return TrainResult(checkpoint=checkpoint, history=history, interrupted=interrupted)
