"""Lesson 8's traces, figures and widgets: TrajGRU's flows and warps, MIM's memories (independent checks)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from stlearn.errors import InputTypeError
from stlearn.models import MIM, TrajGRU, warp
from stlearn.models.mim import mim_sequence_trace
from stlearn.models.trajgru import trajgru_sequence_trace
from stlearn.viz.flow import arrow_grid, flow_figure, mim_memory_figure, warp_figure, warped
from stlearn.widgets import MIMMemoryExplorer, TrajGRUFlowExplorer

T, IN, HW = 6, 3, 16


def _frames(n: int = 2) -> torch.Tensor:
    return torch.rand(n, T, 1, HW, HW, generator=torch.Generator().manual_seed(3))


def _trajgru() -> TrajGRU:
    torch.manual_seed(0)
    model = TrajGRU(frame_size=(HW, HW), patch_size=2, hidden_channels=[4, 6], links=[3, 2], flow_channels=4)
    with torch.no_grad():  # non-zero flows (a fresh cell's flow convolution is zero: identity warps)
        for cell in (*model.encoder, *model.forecaster):
            cell.flows.weight.normal_(0, 0.3)
            cell.flows.bias.normal_(0, 1.0)
    return model.eval()


def _mim() -> MIM:
    torch.manual_seed(0)
    return MIM(frame_size=(HW, HW), patch_size=2, hidden_channels=[4, 4, 4]).eval()


# --- TrajGRU ---------------------------------------------------------------------------------------


def test_trajgru_trace_flows_have_shape_b_l_2_h_w_and_are_the_models() -> None:
    model, x = _trajgru(), _frames()[0]
    tr = trajgru_sequence_trace(model, x, input_len=IN)
    assert [f.shape for f in tr.flows] == [(T, 3, 2, 8, 8), (T, 2, 2, 4, 4)]
    assert tr.cell_size == [2, 4] and tr.predictions.shape == (T - IN, HW, HW)
    assert np.abs(tr.flows[0]).max() > 0.1  # the random flows are really there
    with torch.no_grad():
        out = model(x[None], input_len=IN, trace=True)
    for t in (0, IN, T - 1):
        np.testing.assert_array_equal(tr.flows[1][t], out.trace[t, 1].flows[0].numpy())  # (B, L, 2, h, w), B = 1
        assert tuple(out.trace[t, 0].flows.shape) == (1, 3, 2, 8, 8)
    np.testing.assert_allclose(tr.predictions, out.predictions[0, :, 0].numpy(), atol=1e-6)
    # h_prev is the state the step warps: zero at t = 0, the same scale's state of step t − 1 after
    assert np.count_nonzero(tr.h_prev(0, 0)) == 0
    np.testing.assert_array_equal(tr.h_prev(IN, 1), tr.h[1][IN - 1])


def test_trajgru_trace_warp_recomputes_the_cells_step() -> None:
    """Recompute the encoder's scale-0 step t = 2 from the traced flows with warp: the traced gates follow."""
    model, x = _trajgru(), _frames()[0]
    tr = trajgru_sequence_trace(model, x, input_len=IN)
    cell, t = model.encoder[0], 2
    from stlearn.models import patch_frames

    xt = patch_frames(x[None], 2)[:, t]
    h_prev = torch.as_tensor(tr.h_prev(t, 0))[None]
    flows = torch.as_tensor(tr.flows[0][t])  # (L, 2, h, w)
    copies = torch.cat([warp(h_prev, flows[k : k + 1]) for k in range(cell.links)], dim=1)
    with torch.no_grad():
        h_r, h_u, h_h = cell.h2h(copies).chunk(3, 1)
        x_r, x_u, x_h = cell.i2h(xt).chunk(3, 1)
    r, u = torch.sigmoid(x_r + h_r), torch.sigmoid(x_u + h_u)
    cand = torch.nn.functional.leaky_relu(x_h + r * h_h, 0.2)
    np.testing.assert_allclose(r[0].numpy(), tr.r[0][t], atol=1e-5)
    np.testing.assert_allclose((u * h_prev + (1 - u) * cand)[0].numpy(), tr.h[0][t], atol=1e-5)


def test_warped_zero_flow_is_identity_and_integer_flow_shifts() -> None:
    rng = np.random.default_rng(0)
    h = rng.random((3, 6, 7)).astype(np.float32)
    np.testing.assert_allclose(warped(h, np.zeros((2, 6, 7))), h, atol=1e-6)
    flow = np.zeros((2, 6, 7), np.float32)
    flow[0], flow[1] = 2.0, -1.0  # U = 2, V = −1: output[y, x] = H[y + 1, x − 2] (independent: numpy slicing)
    expected = np.zeros_like(h)
    expected[:, :-1, 2:] = h[:, 1:, :-2]
    np.testing.assert_allclose(warped(h, flow), expected, atol=1e-6)


def test_arrow_grid_positions_are_cell_centres() -> None:
    x, y, idx = arrow_grid((4, 4), cell_size=4, stride=2)
    assert idx.tolist() == [[1, 1], [1, 3], [3, 1], [3, 3]]
    assert x.tolist() == [5.5, 13.5, 5.5, 13.5] and y.tolist() == [5.5, 5.5, 13.5, 13.5]


def test_flow_and_warp_figures_draw() -> None:
    import matplotlib.pyplot as plt

    tr = trajgru_sequence_trace(_trajgru(), _frames()[0], input_len=IN)
    fig = flow_figure(tr, step=IN, scale=0)
    assert len(fig.axes) == 3 and len(fig.axes[0].collections) == 1  # one quiver per link
    quiver = fig.axes[1].collections[0]
    # arrows are the flows in frame pixels (cell size 2), no rescaling
    flow = tr.flows[0][IN, 1]
    _, _, idx = arrow_grid(flow.shape[1:], 2, max(1, flow.shape[1] // 8))
    np.testing.assert_allclose(quiver.U, flow[0][idx[:, 0], idx[:, 1]] * 2, rtol=1e-6)
    fig2 = warp_figure(tr, step=IN + 1, scale=1, link=1)
    assert "channel" in fig2._suptitle.get_text()
    plt.close("all")


def test_trajgru_widget_builds_updates_and_refuses_other_models() -> None:
    model, frames = _trajgru(), _frames()
    w = TrajGRUFlowExplorer(model, frames, sequences=(0, 1), input_len=IN)
    first = bytes(w.canvas.image.value)
    assert bytes(first[:4]) == b"\x89PNG" and w.runs == 1
    w.step.value = IN + 1
    assert w.canvas.last_error is None and bytes(w.canvas.image.value) != first
    h_prev, after = w.current_warp()
    np.testing.assert_allclose(after, warped(h_prev, w.trace.flows[0][IN + 1, 0]), atol=1e-6)
    # the numbers are in the read-out (each link's mean flow length in frame pixels, the chosen one bold), the
    # titles stay the same from step to step
    flows, cell = w.trace.flows[0][IN + 1], w.trace.cell_size[0]
    means = np.hypot(flows[:, 0], flows[:, 1]).mean(axis=(1, 2)) * cell
    assert f"<b>{means[0]:.1f}</b>, {means[1]:.1f}" in w.headline.value
    assert [t.get_text() for t in w.top_titles[:2]] == ["▶ l = 1", "l = 2"]
    w.link.value = 1
    assert f"{means[0]:.1f}, <b>{means[1]:.1f}</b>" in w.headline.value and w.top_titles[1].get_text() == "▶ l = 2"
    w.link.value = 0
    w.scale.value = 1
    assert w.canvas.last_error is None and len(w.link.options) == 2 and w.channel.max == 5
    w.link.value = 1
    w.sequence.value = 1
    assert w.canvas.last_error is None and w.runs == 2
    with pytest.raises(InputTypeError, match="supports TrajGRU"):
        TrajGRUFlowExplorer(_mim(), frames)


# --- MIM ----------------------------------------------------------------------------------------------


def test_mim_difference_input_is_the_change_of_the_traced_bottom_state() -> None:
    model, x = _mim(), _frames()[0]
    tr = mim_sequence_trace(model, x, input_len=IN)
    h0, rec1, rec2 = tr.records[0]["h"], tr.records[1], tr.records[2]
    assert np.count_nonzero(rec1["diff"][0]) == 0  # no previous state at t = 0
    for t in range(1, tr.num_steps):
        np.testing.assert_allclose(rec1["diff"][t], h0[t] - h0[t - 1], atol=1e-6)  # H^0_t − H^0_{t−1}
        np.testing.assert_array_equal(rec2["diff"][t], rec1["d"][t])  # the block above reads D^1_t
    # MIM-N recomputed from the recorded input gives the recorded output and memory
    cell, t = model.cell_list[1].mim_n, 3
    with torch.no_grad():
        d, n = cell(torch.as_tensor(rec1["diff"][t])[None], (torch.as_tensor(rec1["d"][t - 1])[None],
                                                              torch.as_tensor(rec1["n"][t - 1])[None]))  # fmt: skip
    np.testing.assert_allclose(d[0].numpy(), rec1["d"][t], atol=1e-5)
    np.testing.assert_allclose(n[0].numpy(), rec1["n"][t], atol=1e-5)
    # C_t = T_t + i ⊙ g
    np.testing.assert_allclose(rec1["c"], rec1["t"] + rec1["i"] * rec1["g"], atol=1e-5)


def test_mim_trace_reads_and_predictions() -> None:
    model, x = _mim(), _frames()[0]
    tr = mim_sequence_trace(model, x, input_len=IN)
    assert tr.read.shape == (T - 1, HW, HW) and tr.num_layers == 3
    np.testing.assert_array_equal(tr.read[:IN], x[:IN, 0].numpy())
    np.testing.assert_array_equal(tr.read[IN:], tr.predictions[IN - 1 : -1])  # fed back
    with pytest.raises(ValueError, match="input_len"):
        mim_sequence_trace(model, x, input_len=T)
    with pytest.raises(TypeError, match="must be a MIM"):
        mim_sequence_trace(_trajgru(), x)


def test_mim_figure_and_widget() -> None:
    import matplotlib.pyplot as plt

    model, frames = _mim(), _frames()
    tr = mim_sequence_trace(model, frames[0], input_len=IN)
    fig = mim_memory_figure(tr, layer=1, steps=[1, 2, 4])
    assert len(fig.axes) == 5 * 3
    with pytest.raises(ValueError, match="must be a MIM block"):
        mim_memory_figure(tr, layer=0)
    plt.close("all")
    w = MIMMemoryExplorer(model, frames, sequences=(0, 1), input_len=IN)
    first = bytes(w.canvas.image.value)
    for control, value in ((w.step, 4), (w.quantity, "diff"), (w.channel, 2), (w.layer, 2), (w.sequence, 1)):
        control.value = value
        assert w.canvas.last_error is None, (control.description, w.canvas.last_error)
    assert bytes(w.canvas.image.value) != first and w.runs == 2
    np.testing.assert_array_equal(w.current_map(), w.trace.records[2]["diff"][4, 2])
    curves = w.curves()
    np.testing.assert_allclose(curves["n"], np.abs(w.trace.records[2]["n"]).mean(axis=(1, 2, 3)))
    with pytest.raises(InputTypeError, match="supports MIM"):
        MIMMemoryExplorer(_trajgru(), frames)


@pytest.mark.parametrize(
    "module",
    ["stlearn.viz.flow", "stlearn.widgets.trajgru_flow", "stlearn.widgets.mim_memory", "stlearn.models.trajgru",
     "stlearn.models.mim"],
)  # fmt: skip
def test_lesson8_helpers_name_their_lesson(module: str) -> None:
    """Every public helper of lesson 8 says which lesson teaches it (the D2L rule)."""
    import importlib
    import re

    mod = importlib.import_module(module)
    for name in mod.__all__:
        obj = getattr(mod, name)
        if callable(obj):
            assert re.search(r"[Ll]esson 8", obj.__doc__ or ""), f"{module}.{name} does not name lesson 8"
