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

    root = Path(__file__).resolve().parents[1] / "configs"
    assert len(sorted(root.glob("*/*.toml"))) == 10  # the first recipe: five models on each data set
    assert len(sorted(root.glob("gpu/*/*.toml"))) == 10  # the GPU window trains all ten
    budgets: dict[Path, set] = {}
    for p in sorted(root.rglob("*.toml")):
        cfg = load_config(p)
        assert p.parent.name == cfg.dataset and p.stem == cfg.model, p
        build_model(cfg.model, **cfg.model_config)
        recipe = (cfg.iterations, cfg.time_budget, cfg.batch_size, cfg.lr, cfg.lr_final_fraction, cfg.seed, cfg.amp)
        budgets.setdefault(p.parent, set()).add(recipe)
    for folder, budget in budgets.items():
        assert len(budget) == 1, f"equal budget: every model in {folder} gets the same iterations, batch, lr and seed"


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


# --- the whole training state, budgets, the step, data parallelism -------------------------------------------


def test_resume_restores_the_whole_state(tmp_path):
    """Weights, Adam's moments and the log (smoothed loss included) are the same as an uninterrupted run's."""
    cfg = {**TINY, "iterations": 6, "val_every": 2}
    straight = train(TrainConfig(**cfg), tmp_path / "s.pt", progress=False)
    train(TrainConfig(**{**cfg, "iterations": 6}), tmp_path / "r.pt", progress=False, on_log=_stop_after(2))
    resumed = train(TrainConfig(**cfg), tmp_path / "r.pt", resume=True, progress=False)
    a, b = load_checkpoint(tmp_path / "s.pt"), load_checkpoint(tmp_path / "r.pt")
    for k, v in a.state_dict.items():
        assert torch.equal(b.state_dict[k], v), k
    sa, sb = a.optimizer["adam"]["state"], b.optimizer["adam"]["state"]
    assert sa.keys() == sb.keys()
    for i in sa:
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(torch.as_tensor(sa[i][key]), torch.as_tensor(sb[i][key])), (i, key)
    def lines(path):  # the log without its timings
        return [{k: v for k, v in json.loads(x).items() if k != "seconds"} for x in path.read_text().splitlines()]

    assert lines(tmp_path / "s.jsonl") == lines(tmp_path / "r.jsonl")  # loss column included
    assert [h["loss"] for h in straight.history] == [h["loss"] for h in resumed.history]
    assert b.training["iterations_planned"] == 6 and b.training["world_size"] == 1


def _stop_after(n):
    calls = []

    def stop(record):
        calls.append(record)
        if len(calls) == n:
            raise KeyboardInterrupt

    return stop


def test_schedules_are_fractions_of_the_budget():
    from stlearn.training.config import lr_factor, schedule_constants
    from stlearn.training.schedules import scheduled_sampling_probability

    cfg = TrainConfig(**{**TINY, "iterations": 800, "sampling_config": {"stop_fraction": 0.625}})
    sc = schedule_constants(cfg)
    assert sc["stop_iteration"] == 500 and sc["rate"] == pytest.approx(1 / 500)
    assert scheduled_sampling_probability(250, **sc) == pytest.approx(0.5)
    assert scheduled_sampling_probability(500, **sc) == 0.0
    # the same fractions on another planned length
    assert schedule_constants(cfg, 1600)["stop_iteration"] == 1000
    rev = TrainConfig(**{**TINY, "sampling": "reverse", "iterations": 1000,
                         "sampling_config": {"tau1_fraction": 0.25, "tau2_fraction": 0.5, "alpha_fraction": 0.05}})
    assert schedule_constants(rev) == {"tau1": 250, "tau2": 500, "alpha": 50.0}
    lr = TrainConfig(**{**TINY, "lr_final_fraction": 0.1})
    assert lr_factor(lr, 0, 100) == 1.0 and lr_factor(lr, 100, 100) == pytest.approx(0.1)
    assert lr_factor(lr, 50, 100) == pytest.approx(0.55) and lr_factor(lr, 200, 100) == pytest.approx(0.1)


class _Clock:
    """A simulated clock: every reading advances it by ``tick`` seconds (deterministic, no sleeping)."""

    def __init__(self, tick):
        self.t, self.tick = 0.0, tick

    def __call__(self):
        self.t += self.tick
        return self.t


def test_plan_fits_the_length_to_the_time_left():
    from stlearn.training.plan import Plan

    fixed = Plan(100)
    assert fixed.iterations == 100 and not fixed.over(99) and fixed.over(100)
    clock = _Clock(0.0)
    plan = Plan(10_000, time_budget=100.0, clock=clock, val_every=100)
    plan.validated(0.0)
    plan.mark(0)
    clock.t = 10.0  # 50 iterations in 10 s: 5 it/s, 90 s left
    assert plan.replan(50) == 50 + int(90 * 5 * 0.97)
    plan.mark(50)
    clock.t = 20.0  # slower now (2 it/s): the plan shrinks to what fits
    assert plan.replan(70) == 70 + int(80 * 2 * 0.97)
    plan.validated(4.0)  # validations cost 4 s each: one per 100 iterations, and the last one, must fit
    assert plan.replan(70) == 70 + int((80 - 4) * 0.97 / (1 / 2 + 4 / 100))
    clock.t = 100.0
    assert plan.over(71)  # the deadline stops the run whatever the plan
    assert Plan(300, time_budget=1e6, clock=_Clock(0.0)).iterations == 300  # never beyond the configured length


def test_a_run_with_a_time_budget_ends_decayed(tmp_path, monkeypatch):
    """The deadline binds long before the configured iterations, and the run still ends at the end of its plan."""
    from stlearn.training import loop, plan

    clock = _Clock(0.002)
    monkeypatch.setattr(loop, "Plan", lambda *a, **kw: plan.Plan(*a, **kw, clock=clock))
    cfg = TrainConfig(**{**TINY, "iterations": 100_000, "val_every": 25, "time_budget": 2.0, "lr_final_fraction": 0.1,
                         "sampling_config": {"stop_fraction": 0.5}})
    result = train(cfg, tmp_path / "t.pt", progress=False)
    ck = load_checkpoint(tmp_path / "t.pt")
    done, planned = ck.training["iterations_done"], ck.training["iterations_planned"]
    assert 25 < done < 100_000 and planned < 100_000
    assert done >= 0.95 * planned, "the run ended near the end of its plan: learning rate and sampling run down"
    assert ck.training["wall_seconds"] <= 2.0
    assert result.history[-1]["iteration"] == done


def test_reverse_input_is_a_second_update_on_the_reversed_batch():
    from stlearn.models import build_model
    from stlearn.training.step import TrainStep, make_optimizer

    def fresh():
        torch.manual_seed(0)
        m = build_model("predrnn", **TINY["model_config"])
        return m, make_optimizer(m, 1e-3, captured=False)

    torch.manual_seed(1)
    frames, mask = torch.rand(2, 20, 1, 32, 32), torch.ones(2, 18)
    m1, o1 = fresh()
    TrainStep(m1, o1, 10, amp=False, grad_clip=1.0, reverse_input=True)(frames, mask)
    m2, o2 = fresh()
    plain = TrainStep(m2, o2, 10, amp=False, grad_clip=1.0)
    plain(frames, mask)
    plain(frames.flip(1), mask)
    for (name, a), b in zip(m1.state_dict().items(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_bf16_autocast_trains_on_cpu(tmp_path):
    result = train(TrainConfig(**{**TINY, "amp": True}), tmp_path / "amp.pt", progress=False)
    assert np.isfinite(result.history[-1]["loss"]) and np.isfinite(result.history[-1]["val_mse_per_frame"])
    with pytest.raises(ValueError, match="capture = 'cudagraph' needs device = 'cuda'"):
        TrainConfig(**{**TINY, "capture": "cudagraph"})


def test_device_pool_serves_the_same_batches():
    src = BatchSource("moving_digits", "train", {"canvas_size": 32, "digit_size": 14}, pool_size=16)
    pool = src.on_device("cpu")
    for k in (0, 5):
        torch.testing.assert_close(pool.batch(k, 4, seed=3), src.batch(k, 4, seed=3), rtol=0, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_captured_step_matches_the_eager_step():
    from stlearn.models import build_model
    from stlearn.training.step import TrainStep, make_optimizer

    torch.manual_seed(1)
    batches = [(torch.rand(2, 20, 1, 32, 32, device="cuda"), torch.ones(2, 18, device="cuda")) for _ in range(3)]
    weights = []
    for capture in ("none", "cudagraph"):
        torch.manual_seed(0)
        m = build_model("predrnn", **TINY["model_config"]).cuda()
        step = TrainStep(m, make_optimizer(m, 1e-3, captured=capture != "none"), 10, False, 1.0, capture=capture)
        for frames, mask in batches:
            step(frames, mask)
        weights.append(m.state_dict())
    for k, v in weights[0].items():
        torch.testing.assert_close(weights[1][k], v, rtol=1e-4, atol=1e-5)


def test_data_parallel_equals_one_process(tmp_path):
    """torchrun with two gloo processes on the CPU trains the same weights as one process on the whole batch."""
    toml = tmp_path / "tiny.toml"
    toml.write_text(
        'model = "predrnn"\ndataset = "moving_digits"\n'
        'model_config = { hidden_channels = [4, 4], kernel_size = 3, patch_size = 4, frame_size = [32, 32] }\n'
        'data_config = { canvas_size = 32, digit_size = 14 }\n'
        'iterations = 3\nbatch_size = 4\nval_every = 3\nval_sequences = 2\nthreads = 1\nsampling = "scheduled"\n'
        'sampling_config = { stop_fraction = 1.0 }\n'
    )
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "-m", "stlearn", "train", str(toml), "--out", str(tmp_path / "one.pt"),
                          "--no-progress"], capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "stlearn", "train", str(toml), "--out", str(tmp_path / "two.pt"), "--no-progress"],
                         capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = load_checkpoint(tmp_path / "one.pt"), load_checkpoint(tmp_path / "two.pt")
    assert b.training["world_size"] == 2 and a.training["world_size"] == 1
    for k, v in a.state_dict.items():
        torch.testing.assert_close(b.state_dict[k], v, rtol=1e-5, atol=1e-6)
    assert not (tmp_path / "two.1.pt").exists()  # only rank 0 writes


def test_compiled_step_trains_like_the_eager_one(tmp_path, monkeypatch):
    """compile = true goes through torch.compile (traced with the 'eager' backend here: inductor takes minutes)."""
    from stlearn.training import step

    monkeypatch.setattr(step, "COMPILE_BACKEND", "eager")
    cfg = {**TINY, "iterations": 2, "val_every": 2}
    a = train(TrainConfig(**cfg), tmp_path / "a.pt", progress=False)
    b = train(TrainConfig(**{**cfg, "compile": True}), tmp_path / "b.pt", progress=False)
    for k, v in weights(a.checkpoint).items():
        torch.testing.assert_close(weights(b.checkpoint)[k], v, rtol=1e-5, atol=1e-6)
