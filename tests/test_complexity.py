"""stlearn.complexity: parameter counts and rollout FLOPs against hand formulas (lesson 10)."""

from __future__ import annotations

import pytest
import torch

from stlearn import ConvLSTMCell
from stlearn.complexity import conv_flops, count_parameters, measure_flops, rollout_flops, time_rollout
from stlearn.models import build_model

SMALL = {"in_channels": 1, "frame_size": (16, 16), "patch_size": 4, "hidden_channels": [8, 8], "kernel_size": 3}


def test_conv_flops_formula() -> None:
    # 2 · k² · C_in · C_out · H · W
    assert conv_flops(16, 128, 3, 16, 16) == 2 * 9 * 16 * 128 * 256
    assert conv_flops(32, 48, 3, 16, 16, stride=2) == 2 * 9 * 32 * 48 * 64
    conv = torch.nn.Conv2d(5, 7, 3, padding=1, bias=False)
    assert measure_flops(conv, torch.rand(2, 5, 6, 6)) == 2 * conv_flops(5, 7, 3, 6, 6)  # batch 2


def test_convlstm_cell_step_matches_hand_formula() -> None:
    c_in, c, k, h, w = 4, 6, 3, 8, 8
    cell = ConvLSTMCell(c_in, c, k, frame_size=(h, w))
    x = torch.rand(1, c_in, h, w)
    state = (torch.zeros(1, c, h, w), torch.zeros(1, c, h, w))
    # W_x* X_t for four gates + W_h * H_{t-1} for four gates; the ⊙ peepholes are not counted
    expected = conv_flops(c_in, 4 * c, k, h, w) + conv_flops(c, 4 * c, k, h, w)
    assert measure_flops(cell, x, state) == expected


def test_rollout_flops_convlstm_by_hand() -> None:
    model = build_model("convlstm", **SMALL)
    r = rollout_flops(model, batch=1, seq_len=20, input_len=10)
    pc, g = 16, 4  # patch channels p²·C, grid 16/4
    step = (conv_flops(pc, 32, 3, g, g) + conv_flops(8, 32, 3, g, g)  # layer 0
            + conv_flops(8, 32, 3, g, g) * 2  # layer 1: input H^0 and H^1_{t-1}
            + conv_flops(8, pc, 1, g, g))  # 1×1 head
    assert r["per_step"] == [step] * 19
    assert r["flops"] == 19 * step and r["macs"] == r["flops"] // 2
    assert sum(r["per_module"].values()) == r["flops"]
    assert r["per_module"]["conv_last"] == 19 * conv_flops(8, pc, 1, g, g)
    assert r["by_operator"] == {"convolution": r["flops"]}
    assert rollout_flops(model, batch=3)["flops"] == 3 * r["flops"]
    assert r["parameters"] == count_parameters(model)


def test_rollout_flops_predrnn_and_trajgru_steps() -> None:
    model = build_model("predrnn", **SMALL)
    r = rollout_flops(model, seq_len=6, input_len=3)
    pc, g, c = 16, 4, 8
    layer0 = conv_flops(pc, 7 * c, 3, g, g) + conv_flops(c, 4 * c, 3, g, g) + conv_flops(c, 3 * c, 3, g, g)
    layer1 = conv_flops(c, 7 * c, 3, g, g) + conv_flops(c, 4 * c, 3, g, g) + conv_flops(c, 3 * c, 3, g, g)
    # o_t reads [C_t, M_t] through a conv, H_t = o_t ⊙ tanh(W_{1×1} * [C_t, M_t])
    out = conv_flops(2 * c, c, 3, g, g) + conv_flops(2 * c, c, 1, g, g)
    assert r["per_step"] == [layer0 + layer1 + 2 * out + conv_flops(c, pc, 1, g, g)] * 5
    tg = build_model("trajgru", **{**SMALL, "frame_size": (32, 32)})
    rt = rollout_flops(tg, seq_len=6, input_len=3)
    assert len(rt["per_step"]) == 6 and sum(rt["per_step"]) == rt["flops"] > 0
    assert rt["per_step"][0] == rt["per_step"][2] and rt["per_step"][3] == rt["per_step"][5]


def test_paper_size_on_meta_device() -> None:
    recipe = {"in_channels": 1, "frame_size": (64, 64), "patch_size": 4, "hidden_channels": [128] * 4, "kernel_size": 5}
    with torch.device("meta"):
        model = build_model("predrnn", **recipe)
    assert count_parameters(model) == 23_838_720
    r = rollout_flops(model)
    assert len(r["per_step"]) == 19 and r["flops"] == 19 * r["per_step"][0] > 10**11


def test_time_rollout_runs_and_restores() -> None:
    model = build_model("convlstm", **SMALL)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    t = time_rollout(model, seq_len=4, input_len=2, repeats=2, warmup=0, train_step=True)
    assert t["inference_s"] > 0 and t["train_step_s"] > 0 and len(t["inference_all_s"]) == 2
    assert all(p.grad is None for p in model.parameters()) and model.training  # as before
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert time_rollout(model, seq_len=3, input_len=2, repeats=1)["train_step_s"] is None


def test_errors() -> None:
    model = build_model("convlstm", **SMALL)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        count_parameters("predrnn")
    with pytest.raises(TypeError, match="torch.nn.Module"):
        rollout_flops(None)
    with pytest.raises(ValueError, match="input_len' must be smaller"):
        rollout_flops(model, seq_len=10, input_len=10)
    with pytest.raises(ValueError, match="'batch' must be a positive integer"):
        rollout_flops(model, batch=0)
    with pytest.raises(TypeError, match="predict"):
        rollout_flops(torch.nn.Conv2d(1, 1, 1))
    with pytest.raises(TypeError, match="in_channels"):
        time_rollout(torch.nn.Conv2d(1, 1, 1))
    with pytest.raises(ValueError, match="'repeats'"):
        time_rollout(model, repeats=0)
    with pytest.raises(TypeError, match="callable"):
        measure_flops(3)
    with pytest.raises(ValueError, match="'kernel_size'"):
        conv_flops(1, 1, 0, 4, 4)
    with torch.device("meta"):
        meta = build_model("convlstm", **SMALL)
    with pytest.raises(ValueError, match="meta"):
        time_rollout(meta)
