"""The training loop: deterministic, resumable bit for bit, safe on Ctrl-C, strict about its configuration."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from stlearn.training import TrainConfig, load_config, train
from stlearn.training.batches import BatchSource
from stlearn.training.checkpoints import load_checkpoint

TINY = dict(
    model="predrnn",
    dataset="moving_digits",
    model_config={"hidden_channels": [4, 4], "kernel_size": 3, "patch_size": 4, "frame_size": [32, 32]},
    data_config={"canvas_size": 32, "digit_size": 14},
    iterations=4,
    batch_size=2,
    val_every=2,
    val_sequences=2,
    sampling="scheduled",
    sampling_config={"rate": 0.25, "stop_iteration": 4},
    threads=1,
)


def weights(path):
    return load_checkpoint(path).state_dict


def test_same_seed_same_weights(tmp_path):
    a = train(TrainConfig(**TINY), tmp_path / "a.pt", progress=False)
    b = train(TrainConfig(**TINY), tmp_path / "b.pt", progress=False)
    for k, v in weights(a.checkpoint).items():
        torch.testing.assert_close(weights(b.checkpoint)[k], v, rtol=0, atol=0)
    assert [h["iteration"] for h in a.history] == [2, 4]
    assert a.history[-1]["val_mse_per_frame"] == b.history[-1]["val_mse_per_frame"]
    c = train(TrainConfig(**{**TINY, "seed": 1}), tmp_path / "c.pt", progress=False)
    assert not torch.equal(weights(c.checkpoint)["conv_last.weight"], weights(a.checkpoint)["conv_last.weight"])


def test_resume_continues_exactly(tmp_path):
    straight = train(TrainConfig(**TINY), tmp_path / "s.pt", progress=False)
    half = TrainConfig(**{**TINY, "iterations": 2})
    train(half, tmp_path / "r.pt", progress=False)
    resumed = train(TrainConfig(**TINY), tmp_path / "r.pt", resume=True, progress=False)
    for k, v in weights(straight.checkpoint).items():
        torch.testing.assert_close(weights(resumed.checkpoint)[k], v, rtol=0, atol=0)
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert [json.loads(x)["iteration"] for x in lines] == [2, 4]
    ck = load_checkpoint(tmp_path / "r.pt", expect_model="predrnn")
    assert ck.training["iterations_done"] == 4 and ck.training["config"]["seed"] == 0
    assert ck.metrics["val_mse_per_frame"] == resumed.history[-1]["val_mse_per_frame"]


def test_interrupt_keeps_the_last_good_checkpoint(tmp_path):
    calls = []

    def stop_at_second(record):
        calls.append(record["iteration"])
        if len(calls) == 2:
            raise KeyboardInterrupt

    result = train(TrainConfig(**TINY), tmp_path / "i.pt", progress=False, on_log=stop_at_second)
    assert result.interrupted
    assert load_checkpoint(tmp_path / "i.pt").training["iterations_done"] == 2


def test_never_overwrites_without_resume(tmp_path):
    train(TrainConfig(**{**TINY, "iterations": 2}), tmp_path / "x.pt", progress=False)
    with pytest.raises(FileExistsError, match="pass resume=True"):
        train(TrainConfig(**TINY), tmp_path / "x.pt", progress=False)
    with pytest.raises(ValueError, match="another configuration"):
        train(TrainConfig(**{**TINY, "lr": 0.5}), tmp_path / "x.pt", resume=True, progress=False)


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="'sampling' must be one of"):
        TrainConfig(**{**TINY, "sampling": "sometimes"})
    with pytest.raises(ValueError, match="'iterations' must be a positive integer"):
        TrainConfig(**{**TINY, "iterations": 0})
    with pytest.raises(ValueError, match="stop_fraction must be a fraction"):
        TrainConfig(**{**TINY, "sampling_config": {"stop_fraction": 1.5}})
    with pytest.raises(ValueError, match="both 'stop_fraction' and 'stop_iteration'"):
        TrainConfig(**{**TINY, "sampling_config": {"stop_fraction": 0.5, "stop_iteration": 3}})
    bad = tmp_path / "bad.toml"
    bad.write_text('model = "predrnn"\ndataset = "radar"\nlearning_rate = 1\n')
    with pytest.raises(ValueError, match=r"unknown keys \['learning_rate'\]"):
        load_config(bad)
    with pytest.raises(ValueError, match="unknown data set 'video'"):
        BatchSource("video", "train")


def test_committed_configs_load():
    from pathlib import Path

    from stlearn.models import build_model

    paths = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*/*.toml"))
    assert len(paths) == 10  # five models on each data set
    budgets: dict[str, set] = {}
    for p in paths:
        cfg = load_config(p)
        build_model(cfg.model, **cfg.model_config)
        budgets.setdefault(cfg.dataset, set()).add((cfg.iterations, cfg.batch_size, cfg.lr, cfg.seed))
    for dataset, budget in budgets.items():
        assert len(budget) == 1, f"equal budget: every {dataset} model gets the same iterations, batch, lr and seed"


def test_batches_are_a_function_of_seed_and_iteration():
    src = BatchSource("moving_digits", "train", {"canvas_size": 32, "digit_size": 14}, pool_size=16)
    a, b = src.batch(3, 4, seed=0), BatchSource("moving_digits", "train", src.data_config, pool_size=16).batch(3, 4)
    assert a.shape == (4, 20, 1, 32, 32) and a.dtype == torch.float32 and 0 <= a.min() and a.max() <= 1
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, src.batch(4, 4))


def test_cli_train(tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(
        'model = "convlstm"\ndataset = "moving_digits"\niterations = 2\nbatch_size = 2\nval_every = 2\n'
        "val_sequences = 2\nthreads = 1\n"
        "model_config = { hidden_channels = [4], patch_size = 4, frame_size = [32, 32] }\n"
        "data_config = { canvas_size = 32, digit_size = 14 }\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "stlearn", "train", str(cfg), "--out", str(tmp_path / "c.pt"), "--no-progress"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "checkpoint:" in out.stdout and (tmp_path / "c.pt").exists()


def test_prepared_pool_is_the_pool_a_run_makes_for_itself(tmp_path):
    """`stlearn make-pools` fills the cache in parallel; a run then reads byte for byte what it would have made."""
    from stlearn.training.batches import BatchSource, prepare_pool

    path = prepare_pool("moving_digits", {}, tmp_path / "parallel", workers=2, pool_size=10)
    own = BatchSource("moving_digits", "train", {}, pool_size=10, cache_dir=tmp_path / "own")
    own._load_or_make_pool()
    assert path.name == own.pool_path().name
    assert np.array_equal(np.load(path), np.load(own.pool_path()))
    assert prepare_pool("moving_digits", {}, tmp_path / "parallel", workers=2, pool_size=10) == path  # kept


def test_make_pools_needs_the_cache_folder(monkeypatch, capsys):
    from stlearn.__main__ import main

    monkeypatch.delenv("STLEARN_CACHE", raising=False)
    assert main(["make-pools", "configs/moving_digits/predrnn.toml"]) == 2
    assert "STLEARN_CACHE" in capsys.readouterr().err
