"""Model-specific behaviour: ConvLSTM's peephole switch, MIM's rollout-owned states, TrajGRU's warps."""

from __future__ import annotations

import pytest
import torch

from stlearn.models import MIM, ConvLSTM, TraceSpec, TrajGRU, TrajGRUCell, build_model, warp

C, HW = 1, 8


def _frames(batch: int = 2, steps: int = 5) -> torch.Tensor:
    return torch.rand(batch, steps, C, HW, HW, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


# --- ConvLSTM ------------------------------------------------------------------------------------


def test_convlstm_peephole_switch() -> None:
    on = ConvLSTM(frame_size=(HW, HW), patch_size=2, hidden_channels=[4, 4]).double()
    off = ConvLSTM(frame_size=(HW, HW), patch_size=2, hidden_channels=[4, 4], peephole=False).double()
    names_on = {n for n, _ in on.named_parameters()}
    names_off = {n for n, _ in off.named_parameters()}
    assert names_on - names_off == {f"cell_list.{i}.w_c{g}" for i in range(2) for g in "ifo"}
    assert on.cell_list[0].w_ci.shape == (4, HW // 2, HW // 2)  # per channel and pixel, on the patched grid
    # peepholes start at zero: the same weights otherwise give the same forecast
    off.load_state_dict({k: v for k, v in on.state_dict().items() if ".w_c" not in k})
    x = _frames()
    torch.testing.assert_close(on(x, input_len=2).predictions, off(x, input_len=2).predictions, rtol=0, atol=0)
    with torch.no_grad():
        on.cell_list[1].w_cf.fill_(0.5)
    assert not torch.allclose(on(x, input_len=2).predictions, off(x, input_len=2).predictions)
    # the peephole-free model is not tied to one frame size
    assert off.predict(torch.rand(1, 2, C, 4, 12, dtype=torch.float64), 1).shape == (1, 1, C, 4, 12)


def test_convlstm_layer_norm_variant() -> None:
    model = ConvLSTM(
        frame_size=(HW, HW), patch_size=2, hidden_channels=[4], peephole=False, bias=False, layer_norm=True
    )
    assert "cell_list.0.conv_x.1.weight" in model.state_dict()
    out = model(_frames().float(), input_len=2)
    out.loss.backward()


# --- MIM ------------------------------------------------------------------------------------------


def _mim(seed: int = 0) -> MIM:
    torch.manual_seed(seed)
    return MIM(frame_size=(HW, HW), patch_size=2, hidden_channels=[4, 4, 4]).double()


def test_mim_first_step_has_no_difference_signal() -> None:
    trace = _mim()(_frames(), input_len=2, trace=TraceSpec(steps=(0,))).trace
    for layer in (1, 2):
        # diff = 0 at t = 0 and zero states give an exactly zero MIM-N output and memory (bias-free convolutions)
        assert torch.count_nonzero(trace[0, layer].d) == 0
        assert torch.count_nonzero(trace[0, layer].n) == 0


def test_mim_n_reads_the_change_of_the_bottom_hidden_state() -> None:
    model = _mim()
    trace = model(_frames(), input_len=2, trace=TraceSpec(steps=(0, 1))).trace
    diff = trace[1, 0].h - trace[0, 0].h  # H^0_1 − H^0_0
    zeros = torch.zeros_like(diff)
    d, _ = model.cell_list[1].mim_n(diff, (trace[0, 1].d, trace[0, 1].n))
    torch.testing.assert_close(trace[1, 1].d, d, rtol=0, atol=1e-12)
    # the block above reads the MIM-N output of the block below
    d2, _ = model.cell_list[2].mim_n(trace[1, 1].d, (zeros, zeros))
    torch.testing.assert_close(trace[1, 2].d, d2, rtol=0, atol=1e-12)


def test_mim_block_record_is_consistent() -> None:
    record = _mim()(_frames(), input_len=2, trace=True).trace[2, 1]
    # C_t = T_t + i ⊙ g: MIM-S's output stands where an LSTM has f ⊙ C_{t−1}
    torch.testing.assert_close(record.c, record.t + record.i * record.g, rtol=0, atol=1e-12)
    assert 0 < record.f_prime.min() and record.f_prime.max() < 1


def test_no_state_is_kept_on_any_module() -> None:
    for name in ("convlstm", "predrnn", "predrnn_v2", "mim", "trajgru"):
        config = {"frame_size": (HW, HW), "patch_size": 2, "hidden_channels": [4, 4]}
        model = build_model(name, **config).double()
        model(_frames(batch=3), input_len=2)
        for module in model.modules():
            leaked = [k for k, v in vars(module).items() if isinstance(v, torch.Tensor)]
            assert leaked == [], (name, type(module).__name__, leaked)
        assert list(model.buffers()) == []


def test_mim_needs_two_equal_layers() -> None:
    with pytest.raises(ValueError, match="at least two equal sizes"):
        MIM(hidden_channels=[4])
    with pytest.raises(ValueError, match="at least two equal sizes"):
        MIM(hidden_channels=[4, 8])


# --- TrajGRU --------------------------------------------------------------------------------------


def test_warp_zero_flow_is_identity_and_integer_flow_shifts() -> None:
    h = torch.rand(2, 3, 5, 6, dtype=torch.float64)
    flow = torch.zeros(2, 2, 5, 6, dtype=torch.float64)
    torch.testing.assert_close(warp(h, flow), h, rtol=0, atol=1e-12)
    flow[:, 0] = 1.0  # U = 1: sample at x − 1, the content moves one pixel right
    shifted = warp(h, flow)
    torch.testing.assert_close(shifted[..., 1:], h[..., :-1], rtol=0, atol=1e-12)
    # from outside the frame: zero (to rounding)
    torch.testing.assert_close(shifted[..., 0], torch.zeros_like(h[..., 0]), rtol=0, atol=1e-12)
    flow[:, 0], flow[:, 1] = 0.0, -2.0  # V = −2: sample at y + 2, the content moves two pixels up
    torch.testing.assert_close(warp(h, flow)[..., :-2, :], h[..., 2:, :], rtol=0, atol=1e-12)


def test_warp_is_bilinear_and_differentiable() -> None:
    h = torch.rand(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    flow = torch.full((1, 2, 4, 4), 0.3, dtype=torch.float64, requires_grad=True)
    half = warp(h, torch.full((1, 2, 4, 4), 0.5, dtype=torch.float64).index_fill(1, torch.tensor([1]), 0.0))
    torch.testing.assert_close(half[..., 1:], 0.5 * (h[..., 1:] + h[..., :-1]), rtol=0, atol=1e-12)
    assert torch.autograd.gradcheck(warp, (h, flow))


def test_trajgru_cell_starts_with_identity_warps() -> None:
    torch.manual_seed(0)
    cell = TrajGRUCell(3, 4, links=3).double()
    x, h = torch.rand(2, 3, 6, 6, dtype=torch.float64), torch.rand(2, 4, 6, 6, dtype=torch.float64)
    h_new, record = cell.trace(x, h)
    assert record.flows.shape == (2, 3, 2, 6, 6) and torch.count_nonzero(record.flows) == 0
    torch.testing.assert_close(cell(x, h), h_new, rtol=0, atol=0)
    # H_t = u ⊙ H_{t−1} + (1 − u) ⊙ H'_t
    torch.testing.assert_close(h_new, record.u * h + (1 - record.u) * record.h_tilde, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="it needs an input 'x'"):
        cell(None, h)
    with pytest.raises(ValueError, match="pass x=None"):
        TrajGRUCell(0, 4)(x, h)


def test_trajgru_encoder_forecaster_structure() -> None:
    model = TrajGRU(frame_size=(16, 16), patch_size=2, hidden_channels=[4, 6, 8], links=[3, 2, 2], flow_channels=4)
    assert model.forecaster[2].i2h is None  # the top of the forecaster reads no frame
    assert [m.stride for m in model.down] == [(2, 2), (2, 2)]
    assert model.config["links"] == [3, 2, 2]
    trace = model(torch.rand(1, 4, C, 16, 16), input_len=2, trace=True).trace
    assert [trace[0, s].h.shape[-1] for s in range(3)] == [8, 4, 2]
    assert trace[3, 0].flows.shape == (1, 3, 2, 8, 8)
    with pytest.raises(ValueError, match="one int per scale"):
        TrajGRU(hidden_channels=[4, 4], links=[2, 2, 2])
