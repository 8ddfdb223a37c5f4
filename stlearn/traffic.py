"""The traffic-flow worked example of lesson 10: the city's split, baselines, scores, tiny models.

The data (:mod:`stlearn.data.traffic`): 28 days of a 16 × 16-cell city, inflow and outflow per
15 minutes. Days 0–20 train, days 21–27 test (the last week, a Monday to a Sunday). A sample is a
window of 8 frames (2 hours) in and 4 frames (the next hour) out, (B, 12, 2, 16, 16).

Forecasters compared:

* **persistence** — the last observed frame, repeated;
* **historical average** — the training days' mean at the same time of day (weekdays and
  weekends apart): it knows the daily rhythm, not today's volume nor today's incidents;
* **ConvLSTM** and **PredRNN** with 2 layers × 16 channels on a patch-2 grid (8 × 8), trained
  with :func:`train_traffic_model` and shipped in ``data/checkpoints/traffic/`` (a few hundred kB).

Scores are in vehicles per cell per interval: RMSE and MAE over all cells, both channels,
and all test windows (starting every 4th interval of the test week), per lead time and overall.

Regenerate the shipped checkpoints with ``python -m stlearn.traffic convlstm predrnn``.

Taught in lesson 10 (comparing the models: the traffic-flow worked example).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import integrity
from .data.traffic import TRAFFIC_SEED, TrafficConfig, generate_traffic, historical_average, to_unit, traffic_windows
from .models import build_model
from .paths import data_dir
from .training.checkpoints import Checkpoint, load_checkpoint, save_checkpoint
from .training.schedules import scheduled_sampling_mask

__all__ = [
    "TRAFFIC_MODELS",
    "TrafficSplit",
    "baseline_forecasts",
    "load_traffic_model",
    "model_forecast",
    "traffic_checkpoint_path",
    "traffic_scores",
    "traffic_split",
    "train_traffic_model",
]

DAYS, TRAIN_DAYS, INPUT_LEN, PRED_LEN, TEST_STRIDE = 28, 21, 8, 4, 4

#: the tiny models of the worked example: registry name → constructor arguments
TRAFFIC_MODELS: dict[str, dict[str, Any]] = {
    name: {"in_channels": 2, "frame_size": [16, 16], "patch_size": 2, "hidden_channels": [16, 16], "kernel_size": 3}
    for name in ("convlstm", "predrnn")
}


@dataclass(frozen=True)
class TrafficSplit:
    """Lesson 10's worked example data: the series (vehicles) and its windows (model units, [0, 1]).

    Attributes:
        series: (T, 2, 16, 16) float32 vehicles per interval, T = 28 × 96.
        train: (N_train, 12, 2, 16, 16) float32 tensor in [0, 1], every window of days 0–20.
        test: (N_test, 12, 2, 16, 16) the same for the test week, windows every 4 intervals.
        test_starts: (N_test,) the index in ``series`` of each test window's first frame.
        config: the city's :class:`~stlearn.data.traffic.TrafficConfig`.
    """

    series: np.ndarray
    train: torch.Tensor
    test: torch.Tensor
    test_starts: np.ndarray
    config: TrafficConfig


def traffic_split() -> TrafficSplit:
    """The lesson's city (seed :data:`~stlearn.data.traffic.TRAFFIC_SEED`), split by days (lesson 10)."""
    cfg = TrafficConfig()
    series = generate_traffic(DAYS, TRAFFIC_SEED, cfg)
    unit = to_unit(series, cfg)
    per_day = cfg.steps_per_day
    length = INPUT_LEN + PRED_LEN
    cut = TRAIN_DAYS * per_day
    train = torch.from_numpy(traffic_windows(unit, length, 1, 0, cut))
    test = torch.from_numpy(traffic_windows(unit, length, TEST_STRIDE, cut))
    starts = np.arange(cut, len(series) - length + 1, TEST_STRIDE)
    return TrafficSplit(series, train, test, starts, cfg)


def baseline_forecasts(split: TrafficSplit) -> dict[str, np.ndarray]:
    """Persistence and historical-average forecasts of the test windows, in vehicles: (N, 4, 2, 16, 16) each.

    Taught in lesson 10 (the traffic-flow worked example's baselines).
    """
    cfg = split.config
    per_day = cfg.steps_per_day
    table = historical_average(split.series, TRAIN_DAYS, cfg)
    last = split.series[split.test_starts + INPUT_LEN - 1]
    persistence = np.repeat(last[:, None], PRED_LEN, axis=1)
    times = split.test_starts[:, None] + INPUT_LEN + np.arange(PRED_LEN)[None]
    weekend = ((times // per_day) % 7 >= 5).astype(int)
    ha = table[weekend, times % per_day]
    return {"persistence": persistence, "historical average": ha}


def traffic_scores(forecast: np.ndarray | torch.Tensor, split: TrafficSplit) -> dict[str, Any]:
    """RMSE and MAE (vehicles per cell per interval) of a forecast of the test windows, overall and per lead time.

    ``forecast``: (N_test, 4, 2, 16, 16) in vehicles. The truth is the raw (unclipped) series.

    Taught in lesson 10 (the traffic-flow worked example).
    """
    pred = np.asarray(forecast.detach().cpu() if isinstance(forecast, torch.Tensor) else forecast, dtype=np.float64)
    times = split.test_starts[:, None] + INPUT_LEN + np.arange(PRED_LEN)[None]
    truth = split.series[times].astype(np.float64)
    if pred.shape != truth.shape:
        raise ValueError(f"traffic_scores: 'forecast' must have shape {truth.shape} (N_test, 4, 2, 16, 16), "
                         f"got {pred.shape}")
    err = pred - truth
    lead_axes = (0, 2, 3, 4)
    return {
        "rmse": float(np.sqrt((err**2).mean())),
        "mae": float(np.abs(err).mean()),
        "rmse_per_lead": np.sqrt((err**2).mean(lead_axes)).tolist(),
        "mae_per_lead": np.abs(err).mean(lead_axes).tolist(),
    }


def model_forecast(model: torch.nn.Module, split: TrafficSplit, batch_size: int = 64) -> np.ndarray:
    """A model's forecasts of the test windows, in vehicles (N_test, 4, 2, 16, 16) (lesson 10)."""
    outs = []
    for i in range(0, len(split.test), batch_size):
        outs.append(model.predict(split.test[i : i + batch_size, :INPUT_LEN], PRED_LEN).clamp(0, 1))  # type: ignore[operator]
    return torch.cat(outs).numpy() * split.config.scale


def traffic_checkpoint_path(name: str) -> Path:
    """``data/checkpoints/traffic/<name>.pt``, where the worked example's tiny models are shipped (lesson 10)."""
    if name not in TRAFFIC_MODELS:
        raise ValueError(f"unknown traffic model {name!r}; choose one of {sorted(TRAFFIC_MODELS)}")
    return data_dir() / "checkpoints" / "traffic" / f"{name}.pt"


def load_traffic_model(name: str) -> torch.nn.Module:
    """The shipped tiny ``name`` model of the worked example, in eval mode on the CPU (lesson 10)."""
    ck = load_checkpoint(traffic_checkpoint_path(name), expect_model=name)
    model = build_model(ck.model_name, **ck.model_config)
    model.load_state_dict(ck.state_dict)
    return model.eval()


def train_traffic_model(
    name: str, iterations: int = 600, batch_size: int = 8, lr: float = 3e-3, seed: int = 0,
    split: TrafficSplit | None = None, log_every: int = 100,
) -> tuple[torch.nn.Module, list[dict[str, float]]]:
    """Train a tiny model of :data:`TRAFFIC_MODELS` on the city (Adam, lr decayed linearly to lr/10).

    Scheduled sampling as PredRNN's, scaled to the run: the probability of reading the true frame
    on forecast steps falls from 1 to 0 over the first half. Deterministic for a given ``seed``.
    ``python -m stlearn.traffic`` made the shipped checkpoints with it.

    Taught in lesson 10 (the traffic-flow worked example; lesson 4 explains the training loop).
    """
    if name not in TRAFFIC_MODELS:
        raise ValueError(f"unknown traffic model {name!r}; choose one of {sorted(TRAFFIC_MODELS)}")
    split = traffic_split() if split is None else split
    torch.manual_seed(seed)
    model = build_model(name, **TRAFFIC_MODELS[name])
    opt = torch.optim.Adam(model.parameters(), lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1 - 0.9 * k / iterations)
    gen = torch.Generator().manual_seed(seed)
    stop = max(1, iterations // 2)
    log: list[dict[str, float]] = []
    start = time.perf_counter()
    model.train()
    for k in range(iterations):
        idx = torch.randint(len(split.train), (batch_size,), generator=gen)
        mask = scheduled_sampling_mask(k, batch_size, INPUT_LEN + PRED_LEN, INPUT_LEN, generator=gen,
                                       rate=1.0 / stop, stop_iteration=stop)
        out = model(split.train[idx], mask=mask, input_len=INPUT_LEN)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        sched.step()
        if (k + 1) % log_every == 0 or k + 1 == iterations:
            log.append({"iteration": k + 1, "loss": float(out.loss.detach()), "seconds": time.perf_counter() - start})
    return model.eval(), log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stlearn.traffic", description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", choices=sorted(TRAFFIC_MODELS))
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    split = traffic_split()
    for name in args.models:
        model, log = train_traffic_model(name, args.iterations, args.batch_size, split=split)
        scores = traffic_scores(model_forecast(model, split), split)
        print(name, log[-1], scores["rmse"], scores["mae"], flush=True)
        ck = Checkpoint(
            model_name=name, model_config=dict(model.config), state_dict=model.state_dict(),
            data={"dataset": "traffic", "seed": TRAFFIC_SEED, "days": DAYS, "train_days": TRAIN_DAYS,
                  "input_len": INPUT_LEN, "pred_len": PRED_LEN},
            training={"iterations": args.iterations, "batch_size": args.batch_size, "lr": 3e-3, "seed": 0, "log": log},
            metrics=scores,
        )
        integrity.record(save_checkpoint(ck, traffic_checkpoint_path(name)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
