"""The benchmark entry points run (on a tiny setting); timings themselves are never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_cells_quick(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/bench_cells.py"), "--quick", "--threads", "1", "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    report = json.loads((tmp_path / "cells.json").read_text())
    paths = {(r["case"], r["mode"], r["path"]) for r in report["rows"]}
    assert ("ST-LSTM tiny", "train", "trace") in paths and len(paths) == 12
    assert "| ConvLSTM tiny | inference |" in (tmp_path / "cells.md").read_text()


def test_bench_widgets_quick(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/bench_widgets.py"), "--quick", "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    report = json.loads((tmp_path / "widgets.json").read_text())
    assert {r["widget"] for r in report["rows"]} >= {
        "GateExplorer",
        "CellExplorer",
        "FrameViewer",
        "IncrementExplorer",
        "ZigzagFlow",
        "PredictionViewer",
        "GateSurgery",
    }
    assert "| GateExplorer | step |" in (tmp_path / "widgets.md").read_text()
    assert "| ZigzagFlow | hop (play) |" in (tmp_path / "widgets.md").read_text()


def test_bench_data_quick(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/bench_data.py"), "--quick", "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    report = json.loads((tmp_path / "data.json").read_text())
    assert set(report["ms_per_sequence"]) == {"moving digits (64×64, 20 frames)", "radar echoes (64×64, 20 frames)"}
