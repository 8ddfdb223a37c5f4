"""Training: one loop for every model, as a function for notebooks and ``stlearn train`` for the shell.

A run is described by a :class:`~stlearn.training.config.TrainConfig`. The loop is
deterministic: batch ``k`` and its sampling mask depend only on ``(seed, k)``, so a run resumed
from a checkpoint continues exactly as if it had never stopped (tested).

Every ``val_every`` iterations it scores the model on a fixed validation subset, appends a line
to the JSON-lines log, and writes the checkpoint atomically (:mod:`stlearn.training.checkpoints`), so
Ctrl-C or a crash leaves the last good checkpoint intact (``resume=True`` continues from it). The
checkpoint holds the whole training state — weights, Adam's moments, the iteration and the planned
length — in a file that loads without running code; the batches and masks need no saved random
state, since they are functions of ``(seed, k)``.

The step itself is :class:`~stlearn.training.step.TrainStep` (eager, or one CUDA graph); the run's
length is :class:`~stlearn.training.plan.Plan` (fixed, or fitted to a ``time_budget``); several
processes under ``torchrun`` train one run data-parallel (:mod:`stlearn.training.distributed`).

Taught in lesson 4 (training a ConvLSTM); the pretrained models of ``data/checkpoints`` were
made with it (their configurations are in ``configs/``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..errors import ConfigError, RunExistsError, one_line
from ..metrics import MetricAccumulator
from ..models import build_model
from . import distributed
from .batches import BatchSource, make_batch_source
from .checkpoints import Checkpoint, load_checkpoint, load_state_dict_checked, save_checkpoint
from .config import TrainConfig, check_resume, differing_keys, lr_factor, sampling_mask
from .config import validate as validate_config
from .lock import RunLock
from .plan import CALIBRATE_AT, Plan
from .step import TrainStep, make_optimizer


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
    pace: str | Path | None = None,
    extend: bool = False,
    inexact: bool = False,
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
        pace: with a ``time_budget``, a folder shared with runs that must end at the same length: all
            of them plan the shortest length any of them fits (:class:`~stlearn.training.plan.Plan`).
        extend: on resume, accept a new ``iterations`` that changes the schedule of the run: the learning
            rate decay (``lr_final_fraction`` < 1) and schedules given as fractions are then spread over the
            new length from the checkpoint on, so the result differs from a run trained at that length from
            the start. Without it such a resume is refused (a new length that changes nothing is accepted).
        inexact: on resume, accept another CPU thread count than the run was trained with (a different
            summation order: the run goes on, but not bit for bit as it would have). Without it refused.

    Only one process trains a checkpoint at a time: a lock file beside it (:mod:`~stlearn.training.lock`)
    makes a second run against the same path refuse at once with :class:`~stlearn.errors.RunLockedError`.
    """
    checkpoint = Path(checkpoint)
    log = Path(log) if log is not None else checkpoint.with_suffix(".jsonl")
    validate_config(config)  # the same schema as load_config (the fields may have been changed since construction)
    lock = RunLock(checkpoint) if distributed.is_main_process() else None
    if lock is not None:
        lock.acquire()  # before anything looks at the checkpoint: a second run refuses here, at once
        if lock.took_over:
            print(f"stlearn train: took over the stale lock {lock.path} of pid {lock.took_over.get('pid')} "
                  f"on {lock.took_over.get('host')} (no longer running)", file=sys.stderr)  # fmt: skip
    try:
        return _train(config, checkpoint, log, resume, progress, on_log, pace, extend, inexact)
    finally:
        if lock is not None:
            lock.release()


def _train(
    config: TrainConfig,
    checkpoint: Path,
    log: Path,
    resume: bool,
    progress: bool,
    on_log: Callable[[dict[str, Any]], None] | None,
    pace: str | Path | None,
    extend: bool,
    inexact: bool,
) -> TrainResult:
    if config.threads:
        torch.set_num_threads(config.threads)
    world = distributed.join(config.device, config.batch_size)
    device = world.device(config.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("TrainConfig.device is 'cuda' but no CUDA device is available; use device = 'cpu'")
    if device.type == "cpu":
        torch.set_flush_denormal(True)  # denormal floats slowed a CPU step 8x within a few steps
    if world.size > 1 and config.capture != "none":
        raise ValueError("TrainConfig: capture = 'cudagraph' is for one process; run torchrun without it")
    torch.manual_seed(config.seed)
    try:
        model = build_model(config.model, **config.model_config).to(device)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"TrainConfig: model_config does not build a {config.model}: {one_line(e)}") from None
    optimizer = make_optimizer(model, config.lr, captured=config.capture == "cudagraph")
    train_source = make_batch_source(config.dataset, "train", config.data_config, config.input_len + config.pred_len)
    val_source = make_batch_source(config.dataset, "val", config.data_config, config.input_len + config.pred_len)

    start, history, seconds, spent, planned, running = 0, [], 0.0, 0.0, None, None
    if resume:
        ck = load_checkpoint(checkpoint, expect_model=config.model)
        saved = {**TrainConfig(model=config.model, dataset=config.dataset).to_dict(), **ck.training.get("config", {})}
        differ = differing_keys(saved, config)
        if differ:
            raise ConfigError(
                f"{checkpoint} was trained with another configuration (differs in {differ}); resume needs the same one"
            )
        check_resume(checkpoint, config, TrainConfig(**saved), ck.training, extend, inexact)
        load_state_dict_checked(model, ck.state_dict)
        if ck.optimizer is not None:
            optimizer.load_state_dict(ck.optimizer["adam"])
        start = int(ck.training["iterations_done"])
        seconds = float(ck.training.get("seconds", 0.0))
        spent = float(ck.training.get("wall_seconds", seconds))
        planned = ck.training.get("iterations_planned")
        if ck.training.get("running_loss") is not None:  # the log's smoothed loss goes on as if never stopped
            running = torch.tensor(ck.training["running_loss"], dtype=torch.float64, device=device)
        history = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        history = [h for h in history if h["iteration"] <= start]
    elif checkpoint.exists():
        raise RunExistsError(
            f"{checkpoint} exists: pass resume=True (stlearn train --resume) to continue it, or choose another path"
        )
    plan = Plan(config.iterations, config.time_budget, planned, spent, peers=pace, name=checkpoint.stem,
                val_every=config.val_every)  # fmt: skip
    if device.type == "cuda":
        train_source = train_source.on_device(device)  # the pool made once, on the GPU side
    step = TrainStep(distributed.wrap(model, world), optimizer, config.input_len, config.amp, config.grad_clip,
                     config.reverse_input, config.capture, config.compile)  # fmt: skip

    def save(done: int, metrics: dict[str, Any], finished: bool) -> None:
        save_checkpoint(
            Checkpoint(
                model_name=config.model,
                model_config=dict(model.config),
                state_dict=model.state_dict(),
                data={"name": config.dataset, "config": config.data_config},
                training={
                    "config": config.to_dict(),
                    "iterations_done": done,
                    "iterations_planned": plan.iterations,
                    "finished": finished,
                    "seconds": round(seconds, 2),
                    "wall_seconds": round(plan.elapsed(), 2),
                    "running_loss": None if running is None else float(running),
                    "threads_used": torch.get_num_threads(),
                    "device": str(device),
                    "world_size": world.size,
                    "torch": str(torch.__version__),
                    "stlearn": __version__,
                },
                metrics=metrics,
                optimizer={"adam": optimizer.state_dict()},
            ),
            checkpoint,
        )

    if world.main:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as f:  # rewrite the kept history (a resumed run drops lines past the checkpoint)
            f.writelines(json.dumps(h) + "\n" for h in history)
    bar = _progress(plan.iterations, start, progress and world.main)
    model.train()
    interrupted, done = False, start
    t_last = time.perf_counter()
    try:
        k = start
        while not plan.over(k, clock=world.size == 1):
            frames = world.shard(train_source.batch(k, config.batch_size, seed=config.seed).to(device))
            mask = sampling_mask(config, k, config.batch_size, _rng_for(config.seed, k, 1), plan.iterations)
            mask = world.shard(mask).to(device, non_blocking=True) if mask is not None else None
            step.set_lr(config.lr * lr_factor(config, k, plan.iterations))
            loss, terms = step(frames, mask)
            # the running loss stays on the device: no synchronisation per step
            loss = loss.double()
            running = loss if running is None else 0.95 * running + 0.05 * loss
            k = done = k + 1
            now = time.perf_counter()
            seconds += now - t_last
            t_last = now
            if bar is not None:
                bar.update(1)
            if plan.timed and (done - start) % CALIBRATE_AT == 0:
                if done - start == CALIBRATE_AT:
                    plan.mark(done)  # the start-up is over: measure the speed from here
                else:  # refit the length to the time left, on every rank alike
                    late = world.agree(float(plan.late()), device)
                    plan.iterations = done if late else int(world.agree(plan.replan(done), device))
                    if bar is not None:
                        bar.total = plan.iterations
            ends = done % config.val_every == 0 or plan.over(done, clock=world.size == 1)
            if not ends:
                continue
            t_val = plan.clock()
            if world.main:
                record = {
                    "iteration": done,
                    "loss": float(running),
                    **{k2: float(v) for k2, v in terms.items()},
                    **validate(model, val_source, config, device),
                    "seconds": round(seconds, 2),
                }
                if bar is not None:
                    bar.set_postfix(loss=f"{record['loss']:.4g}", val=f"{record['val_mse_per_frame']:.1f}")
                history.append(record)
                with open(log, "a") as f:
                    f.write(json.dumps(record) + "\n")
                if on_log is not None:
                    on_log(record)
                metrics = {k2: v for k2, v in record.items() if k2.startswith("val_")}
                save(done, metrics, finished=plan.over(done, clock=world.size == 1))
            world.barrier()
            if plan.timed:  # keep time for the validations to come; measure the speed afresh
                plan.validated(world.agree(plan.clock() - t_val, device))
                plan.mark(done)
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
        distributed.leave(world)
    return TrainResult(checkpoint=checkpoint, history=history, interrupted=interrupted)
