"""The plotly figures (stlearn.viz.hover): what the hover reads is the data, errors say what was expected."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from stlearn.errors import InputError, InputTypeError
from stlearn.models import build_model
from stlearn.probe import trace_sequence
from stlearn.viz.hover import gate_map_hover, lead_time_curves, loss_curves


@pytest.fixture(scope="module")
def traced():
    torch.manual_seed(0)
    model = build_model("predrnn", in_channels=1, frame_size=[16, 16], patch_size=2, hidden_channels=[6, 6],
                        kernel_size=3).eval()  # fmt: skip
    frames = torch.rand(8, 1, 16, 16)
    with torch.no_grad():
        out = model(frames[None], trace=True, input_len=4)
    return trace_sequence(model, frames, input_len=4), out.trace


def test_gate_map_hover_reads_each_channel_row_col_and_value(traced):
    seq_trace, model_trace = traced
    fig = gate_map_hover(seq_trace, "m", layer=1, step=5)
    maps = seq_trace.records[1]["m"][5]  # (6, 8, 8)
    assert len(fig.data) == 6
    for c, trace in enumerate(fig.data):
        assert trace.hovertemplate.startswith(f"channel {c}, row %{{y}}, col %{{x}}: %{{z")
        np.testing.assert_allclose(np.asarray(trace.z), maps[c], rtol=1e-6)
    limit = float(np.abs(maps).max())
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == pytest.approx((-limit, limit))
    assert "reads its own forecast" in fig.layout.title.text
    # the same record from the model's own trace, and a sigmoid gate's fixed [0, 1] scale
    same = gate_map_hover(model_trace, "m", layer=1, step=5)
    np.testing.assert_allclose(np.asarray(same.data[3].z), maps[3], rtol=1e-6)
    f = gate_map_hover(seq_trace, "f", layer=0, step=2, channels=[4, 1], columns=1)
    assert [t.hovertemplate.split(",")[0] for t in f.data] == ["channel 4", "channel 1"]
    assert (f.layout.coloraxis.cmin, f.layout.coloraxis.cmax) == (0.0, 1.0)
    assert f.layout.yaxis.autorange == "reversed"  # row 0 at the top, as the frames


def test_gate_map_hover_refuses_bad_requests(traced):
    seq_trace, model_trace = traced
    with pytest.raises(InputError, match="gate 'x' is not in the trace"):
        gate_map_hover(seq_trace, "x")
    with pytest.raises(InputError, match=r"'step' must be in 0 … 6"):
        gate_map_hover(seq_trace, "f", step=7)
    with pytest.raises(InputError, match="was not traced"):
        gate_map_hover(model_trace, "f", layer=2, step=1)
    with pytest.raises(InputError, match="channels"):
        gate_map_hover(seq_trace, "f", step=1, channels=[6])
    with pytest.raises(InputTypeError, match="SequenceTrace"):
        gate_map_hover(np.zeros((6, 8, 8)), "f")


def _table8_like():
    rows = {
        "convlstm": {"status": "evaluated", "per_lead": {"mse_frame": [10.0, 20.0, 30.0], "csi_30": [0.5, 0.4, 0.3]}},
        "persistence": {"status": "evaluated", "per_lead": {"mse_frame": [15.0, 30.0, 45.0],
                                                            "csi_30": [0.6, 0.5, 0.4]}},
        "mim": {"status": "not shipped"},
    }  # fmt: skip
    return {"rows": rows, "num_sequences": 3}


def test_lead_time_curves_of_a_table8_result():
    fig = lead_time_curves(_table8_like(), metrics=["mse_frame", "csi_30"])
    names = [(t.name, t.showlegend) for t in fig.data]
    assert names == [("ConvLSTM", True), ("persistence", True), ("ConvLSTM", False), ("persistence", False)]
    assert list(fig.data[0].x) == [6, 12, 18]  # minutes: 6 per frame
    assert list(fig.data[3].y) == [0.6, 0.5, 0.4]
    assert fig.data[1].line.dash == "dash" and fig.data[0].line.dash == "solid"
    assert fig.data[2].hovertemplate.startswith("ConvLSTM, lead %{x} min: csi_30")


def test_lead_time_curves_of_a_plain_mapping_and_its_errors():
    fig = lead_time_curves({"a": {"rmse": [1, 2]}, "historical average": {"rmse": [3, 3]}}, minutes_per_frame=15)
    assert list(fig.data[0].x) == [15, 30] and fig.data[1].line.dash == "dash"
    with pytest.raises(InputError, match="missing"):
        lead_time_curves({"a": {"rmse": [1]}}, metrics=["csi_30"])
    with pytest.raises(InputTypeError, match="table8"):
        lead_time_curves([1, 2])
    with pytest.raises(InputError, match="no evaluated"):
        lead_time_curves({"rows": {"mim": {"status": "not shipped"}}})


def test_loss_curves_draw_every_log_on_log_axes(tmp_path):
    log = tmp_path / "run.log.jsonl"
    log.write_text('{"iteration": 1, "loss": 0.5}\n{"iteration": 2, "loss": 0.25, "val_mse_per_frame": 90.0}\n')
    fig = loss_curves({"ConvLSTM": log, "other": [{"iteration": 5, "loss": 0.1}]})
    assert [(t.name, list(t.x), list(t.y)) for t in fig.data] == [
        ("ConvLSTM", [1, 2], [0.5, 0.25]), ("ConvLSTM", [2], [90.0]), ("other", [5], [0.1])]  # fmt: skip
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type == "log"
    with pytest.raises(InputError, match="no record"):
        loss_curves({"x": [{"iteration": 1}]})
    with pytest.raises(InputTypeError, match="dict"):
        loss_curves([log])


def test_jupyterlab_draws_plotly_figures_offline():
    # the plotly package ships its JupyterLab extension with plotly.js inside: figures need no CDN
    ext = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "jupyterlab-plotly"
    assert (ext / "package.json").is_file(), f"the jupyterlab-plotly extension is missing under {ext.parent}"
    bundles = [p for p in (ext / "static").glob("*.js") if "newPlot" in p.read_text(errors="ignore")]
    assert bundles and max(p.stat().st_size for p in bundles) > 1_000_000, "plotly.js is not bundled in the extension"
