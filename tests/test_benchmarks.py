"""The benchmark entry point runs (on a tiny setting) and writes its report; timings are never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def test_entry_point_quick_writes_the_report(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--threads", "1", "--out", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["quick"] is True
    assert {"cpu", "cores", "torch", "torch_threads", "date_utc"} <= set(report["machine"])
    sections = report["sections"]
    assert {"cells", "models", "widgets", "notebooks", "data", "overhead"} <= set(sections)
    assert {(r["model"], r["variant"]) for r in sections["overhead"]} == {
        (m, v) for m in ("convlstm", "predrnn") for v in ("fast", "trace", "unfused")
    }
    assert all(r["cpu_ms"] > 0 for r in sections["overhead"])
    # cells: 2 tiny cases × 2 modes × 4 paths
    assert {(r["case"], r["mode"], r["path"]) for r in sections["cells"]} >= {("ST-LSTM tiny", "train", "unfused")}
    assert len(sections["cells"]) == 16
    for row in sections["models"]:
        assert {"model", "size", "path", "train_ms", "infer_ms", "train_peak_mb", "infer_peak_mb"} <= set(row)
    assert {r["path"] for r in sections["models"]} == {"trace", "unfused"}
    assert {r["widget"] for r in sections["widgets"]["rows"]} >= {
        "GateExplorer",
        "CellExplorer",
        "FrameViewer",
        "IncrementExplorer",
        "ZigzagFlow",
        "PredictionViewer",
        "GateSurgery",
    }
    assert "| ZigzagFlow | hop (play) |" in (tmp_path / "widgets.md").read_text()
    assert all("wall_p95_ms" in r for r in sections["widgets"]["rows"])
    # a view made once when its cell runs is no update: not a row, so the 100 ms target is not read from it
    assert not any("making the view" in r["control"] for r in sections["widgets"]["rows"])
    assert [v["view"] for v in sections["widgets"]["views_made"]] == ["ForecastPlayer"]
    assert "Made once, when its cell runs (not an update): ForecastPlayer (" in (tmp_path / "report.md").read_text()
    nb = sections["notebooks"]
    assert len(nb["rows"]) == 1 and nb["rows"][0]["error"] is None and nb["total_s"] > 0
    assert set(sections["data"]["ms_per_sequence"]) == {
        "moving digits (64×64, 20 frames)",
        "radar echoes (64×64, 20 frames)",
    }
    assert {t["what"] for t in report["targets"]} >= {
        "whole course",
        "cell trace / fast (worst case)",
        "cell unfused / fast, lesson size (worst case)",
    }
    assert all(r["sgemm_gflops"] > 0 for r in sections["cells"])
    md = (tmp_path / "report.md").read_text()
    for heading in ("## Targets", "## Lessons", "## Widget updates", "## Cell step (CPU)", "## Models (CPU)",
                    "## Launch-bound stand-in (CPU)"):  # fmt: skip
        assert heading in md
    assert "| ConvLSTM tiny | inference |" in md


def test_entry_point_rejects_unknown_sections(capsys):
    from benchmarks.run import main

    with pytest.raises(SystemExit):
        main(["--only", "cells,nonsense"])
    assert "nonsense" in capsys.readouterr().err


@pytest.mark.parametrize("variant", ["fp32", "unfused", "bf16+channels_last"])
def test_gpu_section_measures_its_eager_variants_on_cpu(variant):
    """The GPU section's code path (training step, rollout, FLOPs, markdown) at a tiny size on the CPU.

    CI has no GPU, so this is what keeps ``bench_gpu`` runnable between the sessions that have one.
    """
    from benchmarks import bench_gpu

    tiny = {"hidden_channels": [4, 4], "frame_size": [16, 16]}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: a second thread only waits
    try:
        row = bench_gpu.measure("predrnn", 2, variant, 1, tiny, device="cpu")
    finally:
        torch.set_num_threads(threads)
    assert "error" not in row, row.get("error")
    assert row["train_ms"] > 0 and row["infer_ms"] > 0 and row["tflops"] > 0
    assert row["peak_mb"] is None and "peak_fraction" not in row  # CUDA-only columns
    assert f"| predrnn | 2 | {variant} |" in "\n".join(bench_gpu.markdown([row]))


@pytest.mark.parametrize("variant", ["cudagraph", "bf16+cudagraph"])
def test_gpu_section_graph_variants_say_they_need_cuda(variant):
    """Capturing a CUDA graph needs a GPU: on the CPU the row records why, instead of a torch traceback."""
    from benchmarks import bench_gpu

    row = bench_gpu.measure("convlstm", 1, variant, 1, {"hidden_channels": [2], "frame_size": [8, 8]}, device="cpu")
    assert row["error"] == "RuntimeError: CUDA graphs need a CUDA device"
    assert f"| convlstm | 1 | {variant} | failed:" in "\n".join(bench_gpu.markdown([row]))


def test_gpu_plan_runs_the_target_case_first_and_compiling_last():
    from benchmarks import bench_gpu

    plan = bench_gpu.plan()
    assert plan[0] == ("predrnn", 16, "fp32")
    assert [v for _, _, v in plan[-2:]] == list(bench_gpu.COMPILED)
    assert {v for m, b, v in plan if (m, b) == ("predrnn", 16)} == set(bench_gpu.VARIANTS)
    assert not any(v == "unfused" for m, _, v in plan if m not in ("convlstm", "predrnn"))  # no unfused MIM/TrajGRU


def test_report_without_cuda_carries_the_saved_gpu_run(tmp_path):
    """A CPU-only report shows the last CUDA run's rows and judges the GPU targets on them, naming that machine."""
    from benchmarks import run

    rows = [
        {"model": "predrnn", "batch": 16, "variant": "fp32", "train_ms": 150.0},
        {"model": "predrnn", "batch": 16, "variant": "trace", "train_ms": 160.0},
        {"model": "predrnn", "batch": 16, "variant": "unfused", "train_ms": 300.0},
        {"model": "predrnn", "batch": 16, "variant": "bf16+cudagraph", "train_ms": 45.0},
        {"model": "predrnn", "batch": 16, "variant": "bf16+compile", "error": "skipped: out of time budget"},
    ]
    machine = {"gpu": "NVIDIA H200", "summary": "a test GPU machine"}
    (tmp_path / "gpu.json").write_text(json.dumps({"machine": machine, "rows": rows}))
    saved = run.saved_gpu(tmp_path)
    assert saved is not None and saved["rows"] == rows
    assert run.saved_gpu(tmp_path / "nowhere") is None
    report = {"machine": {}, "sections": {"gpu": rows}, "gpu_machine": machine}
    got = {t["what"]: (t["value"], t["met"]) for t in run.targets(report)}
    assert got["NVIDIA H200: PredRNN 4×128 b16 train step (best: bf16+cudagraph)"] == ("45.0 ms", True)
    assert got["NVIDIA H200: trace / fast, eager fp32 train step (worst case)"] == ("1.07 (predrnn b16)", True)
    assert got["NVIDIA H200: unfused / fast, eager fp32 train step (worst case)"] == ("2.00 (predrnn b16)", True)


def test_official_section_quick_times_every_variant_and_matches_the_official_loss(tmp_path):
    """``--only official --quick``: a row per variant with positive times, and the fidelity check passes.

    The fidelity check is the proof that the benchmark's re-statement of the official PredRNN loop
    computes what stlearn computes: same weights, batch and mask give the same fp32 loss and gradients.
    """
    from benchmarks import bench_official

    subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "official", "--threads", "1", "--out", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    report = json.loads((tmp_path / "report.json").read_text())
    section = report["sections"]["official"]
    assert [r["variant"] for r in section["rows"]] == list(bench_official.VARIANTS)
    for row in section["rows"]:
        assert {"median_s", "min_s", "cpu_median_s", "cpu_min_s", "ratio", "cpu_ratio", "n"} <= set(row)
        assert row["median_s"] > 0 and row["min_s"] > 0 and row["n"] >= 1
    fid = section["fidelity"]
    assert fid["ok"] and fid["loss_diff"] <= 1e-5 and fid["grad_max_rel_diff"] <= 1e-4
    assert 0 < fid["truth_fraction"] < 1  # predictions are fed back on some decoder steps
    assert {t["what"].split(" (")[0] for t in report["targets"]} >= {"stlearn / official PredRNN train iteration, CPU"}
    assert "## stlearn vs the official training loop (CPU)" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "official.json").is_file() and "| official fp32 |" in (tmp_path / "official.md").read_text()
