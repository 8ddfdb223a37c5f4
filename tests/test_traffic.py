"""The traffic-flow worked example (lesson 10): baselines and the shipped tiny checkpoints re-evaluated."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stlearn.traffic import (
    INPUT_LEN,
    PRED_LEN,
    TRAFFIC_MODELS,
    baseline_forecasts,
    load_traffic_model,
    model_forecast,
    traffic_checkpoint_path,
    traffic_scores,
    traffic_split,
    train_traffic_model,
)
from stlearn.training.checkpoints import load_checkpoint


@pytest.fixture(scope="module")
def split():
    return traffic_split()


def test_split_shapes(split) -> None:
    assert split.series.shape == (28 * 96, 2, 16, 16)
    assert split.train.shape == (21 * 96 - 11, INPUT_LEN + PRED_LEN, 2, 16, 16)
    assert split.test.shape[1:] == (INPUT_LEN + PRED_LEN, 2, 16, 16) and len(split.test) == len(split.test_starts)
    assert split.test_starts[0] == 21 * 96
    assert torch.equal(split.test[3], torch.from_numpy(np.clip(split.series[split.test_starts[3]:][:12] / 800, 0, 1)))


def test_baselines(split) -> None:
    base = baseline_forecasts(split)
    pers, ha = base["persistence"], base["historical average"]
    assert pers.shape == ha.shape == (len(split.test), PRED_LEN, 2, 16, 16)
    assert np.array_equal(pers[0, 2], split.series[split.test_starts[0] + INPUT_LEN - 1])
    s_p, s_h = traffic_scores(pers, split), traffic_scores(ha, split)
    # persistence degrades with the lead time; the historical average does not look at today
    assert s_p["rmse_per_lead"][0] < s_p["rmse_per_lead"][-1]
    assert s_p["rmse_per_lead"][0] < s_h["rmse"] < s_p["rmse_per_lead"][-1]
    perfect = split.series[split.test_starts[:, None] + INPUT_LEN + np.arange(PRED_LEN)]
    assert traffic_scores(perfect, split)["rmse"] == 0.0
    with pytest.raises(ValueError, match="must have shape"):
        traffic_scores(pers[:, :2], split)


@pytest.mark.parametrize("name", sorted(TRAFFIC_MODELS))
def test_shipped_checkpoints_reproduce_their_metrics(name: str, split) -> None:
    path = traffic_checkpoint_path(name)
    assert path.stat().st_size < 1_000_000
    ck = load_checkpoint(path, expect_model=name)
    model = load_traffic_model(name)
    scores = traffic_scores(model_forecast(model, split), split)
    assert scores["rmse"] == pytest.approx(ck.metrics["rmse"], rel=1e-4)
    assert scores["mae"] == pytest.approx(ck.metrics["mae"], rel=1e-4)


def test_training_runs_and_errors(split) -> None:
    model, log = train_traffic_model("convlstm", iterations=2, batch_size=2, split=split, log_every=1)
    assert len(log) == 2 and not model.training
    with pytest.raises(ValueError, match="unknown traffic model"):
        train_traffic_model("lstm", split=split)
    with pytest.raises(ValueError, match="unknown traffic model"):
        traffic_checkpoint_path("mim")
