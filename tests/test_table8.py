"""`python -m stlearn table8` (stlearn.table8): the table, its files, the not-shipped rows, the shipped results file."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from stlearn import table8
from stlearn.__main__ import build_parser
from stlearn.models import build_model
from stlearn.paths import data_dir
from stlearn.training.checkpoints import Checkpoint, file_sha256, save_checkpoint

SHIPPED = data_dir() / "checkpoints" / "radar"


def parse(*argv):
    return build_parser().parse_args(["table8", *argv])


def tiny_checkpoint(path, name):
    """An untrained 2-layer × 4-channel radar model saved as a checkpoint (stands in for MIM/PredRNN-V2)."""
    torch.manual_seed(0)
    config = {"hidden_channels": [4, 4], "kernel_size": 3, "patch_size": 4, "frame_size": [64, 64]}
    model = build_model(name, **config)
    save_checkpoint(Checkpoint(model_name=name, model_config=config, state_dict=model.state_dict(),
                               data={"name": "radar"}), path)  # fmt: skip
    return path


def test_script_on_8_sequences_writes_table_json_and_figures(tmp_path, capsys):
    from stlearn.__main__ import main

    assert main(["table8", "--limit", "8", "--out", str(tmp_path), "--no-cache", "--n-boot", "50"]) == 0
    text = capsys.readouterr().out
    for label in ("TrajGRU", "ConvLSTM", "MIM", "PredRNN", "PredRNN-V2", "persistence", "optical flow"):
        assert f"| {label}" in text
    assert "seed CSI-30" in text and "0.462" in text  # the seed's PredRNN-V2 CSI-30 beside ours
    assert "model − ConvLSTM" in text and "| POD-50 |" in text
    result = json.loads((tmp_path / "table8.json").read_text())
    assert result["num_sequences"] == 8
    for name in ("trajgru", "convlstm", "predrnn", "persistence", "optical_flow"):
        row = result["rows"][name]
        assert row["status"] == "evaluated" and row["num_sequences"] == 8
        assert {*table8.COLUMNS, *table8.POD_FAR_COLUMNS} <= set(row["intervals"])
        lo, hi = row["intervals"]["csi_30"][1:]
        assert lo <= row["means"]["csi_30"] <= hi
        assert len(row["per_lead"]["csi_40"]) == 10
    assert set(result["vs_convlstm"]) >= {"trajgru", "predrnn", "persistence", "optical_flow"}
    for name in ("per_lead.png", "example.png", "table8.md"):
        assert (tmp_path / name).stat().st_size > 1000


def test_models_not_shipped_get_a_clear_row(tmp_path):
    shutil.copy(SHIPPED / "convlstm.pt", tmp_path / "convlstm.pt")
    result = table8.evaluate_table8(4, checkpoints=tmp_path, n_boot=20, cache=False, progress=None)
    assert result["rows"]["convlstm"]["status"] == "evaluated"
    for name in ("trajgru", "mim", "predrnn", "predrnn_v2"):
        assert result["rows"][name]["status"] == "not shipped yet"
    text = table8.format_results(result)
    assert text.count("not shipped yet") == 4  # the n column of the main table
    assert "| MIM | – |" in text


def test_mim_and_predrnn_v2_join_automatically_once_shipped(tmp_path):
    for name in ("mim", "predrnn_v2"):
        tiny_checkpoint(tmp_path / f"{name}.pt", name)
    shutil.copy(SHIPPED / "convlstm.pt", tmp_path / "convlstm.pt")
    result = table8.evaluate_table8(4, checkpoints=tmp_path, baselines=(), n_boot=20, cache=False, progress=None)
    for name in ("mim", "predrnn_v2", "convlstm"):
        assert result["rows"][name]["status"] == "evaluated"
    assert set(result["vs_convlstm"]) == {"mim", "predrnn_v2"}
    text = table8.format_results(result)
    assert "| MIM | " in text and "| PredRNN-V2 | " in text
    index, frames, forecasts = table8.example_forecasts(3, checkpoints=tmp_path, names=("mim", "predrnn_v2", "trajgru"))
    assert index == 3 and frames.shape == (20, 64, 64)
    assert sorted(forecasts) == ["mim", "predrnn_v2"] and forecasts["mim"].shape == (10, 64, 64)


def test_lesson_results_evaluate_a_newly_shipped_model_live(tmp_path, monkeypatch):
    shutil.copy(SHIPPED / "table8.json", tmp_path / "table8.json")
    for name in ("trajgru", "convlstm", "predrnn"):
        shutil.copy(SHIPPED / f"{name}.pt", tmp_path / f"{name}.pt")
    tiny_checkpoint(tmp_path / "mim.pt", "mim")
    monkeypatch.setattr(table8, "shipped_dir", lambda: tmp_path)
    result = table8.lesson_results(live_sequences=4)
    assert result["rows"]["mim"]["status"] == "evaluated" and result["rows"]["mim"]["num_sequences"] == 4
    assert result["rows"]["predrnn_v2"]["status"] == "not shipped yet"
    assert result["rows"]["convlstm"]["num_sequences"] == result["num_sequences"]  # from the shipped file
    assert list(result["rows"]) == [*table8.MODELS, *table8.BASELINES]


def test_shipped_results_match_the_checkpoints_and_the_script():
    """data/checkpoints/radar/table8.json is current: same checkpoints, and the script reproduces its check subset."""
    shipped = table8.load_shipped_results()
    assert shipped["num_sequences"] == 1000
    for name in table8.MODELS:
        path = SHIPPED / f"{name}.pt"
        row = shipped["rows"].get(name, {"status": "not shipped yet"})
        if not path.exists():
            assert row["status"] == "not shipped yet"
            continue
        if row["status"] != "evaluated":
            pytest.fail(f"{name} is shipped but not in table8.json: run `python -m stlearn table8 --write-results`")
        assert row["key"] == f"{name}-{file_sha256(path)[:16]}", (
            f"{name}.pt changed since table8.json was written: run `python -m stlearn table8 --write-results`"
        )
    check = shipped["check"]
    again = table8.evaluate_table8(check["num_sequences"], n_boot=10, cache=False, progress=None)
    for name, means in check["means"].items():
        for metric in ("mse_frame", "csi_30", "csi_40", "far_30"):
            assert again["rows"][name]["means"][metric] == pytest.approx(means[metric], rel=1e-4, abs=1e-6), (
                name,
                metric,
            )


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="only make sense with --train"):
        table8.check_arguments(parse("--hidden", "64,64"))
    with pytest.raises(ValueError, match="--hidden must be"):
        table8.check_arguments(parse("--train", "--hidden", "64,x"))
    with pytest.raises(ValueError, match="--kernel must be a positive odd"):
        table8.check_arguments(parse("--train", "--kernel", "4"))
    with pytest.raises(ValueError, match="unknown"):
        table8.check_arguments(parse("--models", "unet"))
    with pytest.raises(ValueError, match="--limit"):
        table8.check_arguments(parse("--limit", "0"))
    options = table8.check_arguments(
        parse("--train", "--hidden", "128,128,128,128", "--kernel", "5", "--iterations", "80000", "--device", "cuda")
    )
    assert options["training"] == {"hidden": [128] * 4, "kernel": 5, "iterations": 80000, "device": "cuda"}
    assert options["models"] == list(table8.MODELS)


def test_paper_size_config_scales_the_sampling_schedules():
    config = table8.training_config("predrnn", hidden=[128] * 4, kernel=5, iterations=80000, device="cuda", amp=True)
    assert config.model_config["hidden_channels"] == [128] * 4 and config.model_config["kernel_size"] == 5
    # 937 of the configs' 1 500 iterations scaled to 80 000: the paper's 62.5 % (50 000) up to the rounding of 937.5
    assert config.sampling_config["stop_iteration"] == 49973
    assert config.sampling_config["rate"] == pytest.approx(2e-5, rel=1e-3)  # the paper's rate
    v2 = table8.training_config("predrnn_v2", iterations=80000)
    assert (v2.sampling_config["tau1"], v2.sampling_config["tau2"]) == pytest.approx((24933, 50000), abs=100)
    assert (
        table8.training_config("convlstm").sampling_config
        == table8.training_config("convlstm", iterations=table8.training_config("convlstm").iterations).sampling_config
    )


def test_tiny_training_run_then_evaluation(tmp_path, capsys):
    from stlearn.__main__ import main

    runs, out = tmp_path / "runs", tmp_path / "out"
    argv = ["table8", "--train", "--models", "convlstm", "--hidden", "4", "--iterations", "2", "--runs", str(runs)]
    argv += ["--limit", "2", "--out", str(out), "--no-figures", "--no-cache", "--n-boot", "10", "--no-progress"]
    assert main(argv) == 0
    assert (runs / "convlstm.pt").is_file()
    result = json.loads((out / "table8.json").read_text())
    assert result["rows"]["convlstm"]["status"] == "evaluated"
    assert list(result["rows"]) == ["convlstm", "persistence", "optical_flow"]  # the trained model and the baselines
    assert "convlstm: training 2 iterations, hidden [4]" in capsys.readouterr().out


@pytest.mark.parametrize("module", ["stlearn.nowcast", "stlearn.table8"])
def test_public_functions_name_their_lesson(module):
    import importlib
    import re

    mod = importlib.import_module(module)
    for name in mod.__all__:
        obj = getattr(mod, name)
        if callable(obj):
            assert re.search(r"[Ll]esson \d", obj.__doc__ or ""), f"{module}.{name} does not name its lesson"


def test_accumulator_from_saved_statistics_gives_the_same_scores():
    from stlearn.metrics import MetricAccumulator

    g = torch.Generator().manual_seed(0)
    pred, target = torch.rand(6, 3, 1, 16, 16, generator=g), torch.rand(6, 3, 1, 16, 16, generator=g)
    acc = MetricAccumulator()
    acc.update(pred, target)
    again = MetricAccumulator.from_per_sequence(acc.per_sequence(), acc.thresholds, (3, 1, 16, 16))
    assert again.compute().means == acc.compute().means
    assert again.bootstrap(n_boot=20) == acc.bootstrap(n_boot=20)
    stats = acc.per_sequence()
    del stats["counts"]
    with pytest.raises(ValueError, match="counts"):
        MetricAccumulator.from_per_sequence(stats, acc.thresholds, (3, 1, 16, 16))
