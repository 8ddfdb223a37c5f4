"""PredRNN's zigzag memory flow and PredRNN-V2's decoupling loss."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stlearn.models import PredRNN, PredRNNV2, TraceSpec, decoupling_term, patch_frames

C, HW = 1, 8


def _model(cls=PredRNN, seed: int = 0, **kw):
    torch.manual_seed(seed)
    config = {"in_channels": C, "frame_size": (HW, HW), "patch_size": 2, "hidden_channels": [4, 4, 4]}
    config.update(kw)
    return cls(**config).double()


def _frames(batch: int = 2, steps: int = 5) -> torch.Tensor:
    return torch.rand(batch, steps, C, HW, HW, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


@pytest.mark.parametrize("zigzag", [True, False])
def test_zigzag_top_memory_at_t_feeds_the_bottom_at_t_plus_1(zigzag: bool) -> None:
    model = _model(zigzag=zigzag)
    x = _frames()
    t = 1
    # every step reads a true frame (input_len = T − 1), so no path through the predictions exists
    out = model(x, input_len=x.shape[1] - 1, trace=TraceSpec(steps=(t, t + 1)))
    top_m = out.trace[t, 2].m  # M^{L−1}_t
    bottom_m_next = out.trace[t + 1, 0].m  # M^0_{t+1}
    (grad,) = torch.autograd.grad(bottom_m_next.sum(), top_m, allow_unused=True)
    if zigzag:
        assert grad is not None and grad.abs().sum() > 0
    else:
        assert grad is None  # the memory stays in its layer: no dependence at all
        # ... but it does carry forward in time inside the layer
        (own,) = torch.autograd.grad(bottom_m_next.sum(), out.trace[t, 0].m, allow_unused=True)
        assert own is not None and own.abs().sum() > 0


@pytest.mark.parametrize("zigzag", [True, False])
def test_memory_routing(zigzag: bool) -> None:
    """Recompute single cells with the memory each layer should read, and compare with the rollout."""
    model = _model(zigzag=zigzag)
    x = _frames()
    trace = model(x, input_len=4, trace=True).trace
    zeros = torch.zeros_like(trace[0, 0].m)

    def m_out(t: int, layer: int, m_in: torch.Tensor) -> torch.Tensor:
        inp = trace[t, layer - 1].h if layer else patch_frames(x, 2)[:, t]  # layer 0 reads the true frame
        h_prev = trace[t - 1, layer].h if t else zeros
        c_prev = trace[t - 1, layer].c if t else zeros
        return model.cell_list[layer](inp, h_prev, c_prev, m_in)[2]

    for t in (0, 1, 2):
        for layer in range(3):
            if zigzag:  # M^{l−1}_t from below; the bottom reads the top's M^{L−1}_{t−1} (zero at t = 0)
                m_in = trace[t, layer - 1].m if layer else (trace[t - 1, 2].m if t else zeros)
            else:  # M^l_{t−1}: the layer's own memory of the previous step
                m_in = trace[t - 1, layer].m if t else zeros
            torch.testing.assert_close(trace[t, layer].m, m_out(t, layer, m_in), rtol=0, atol=1e-12)


def test_equal_hidden_sizes_are_enforced_with_the_zigzag() -> None:
    with pytest.raises(ValueError, match=r"all 'hidden_channels' must be equal, got \[4, 8\]"):
        PredRNN(hidden_channels=[4, 8], frame_size=(HW, HW), patch_size=2)
    model = PredRNN(hidden_channels=[4, 8], frame_size=(HW, HW), patch_size=2, zigzag=False)
    assert model(_frames().float(), input_len=2).predictions.shape == (2, 3, C, HW, HW)
    with pytest.raises(ValueError, match="shared adapter"):
        PredRNNV2(hidden_channels=[4, 8], frame_size=(HW, HW), patch_size=2, zigzag=False)


def test_v2_computes_the_same_frames_as_predrnn() -> None:
    v1, v2 = _model(PredRNN, seed=3), _model(PredRNNV2, seed=3)
    v2.load_state_dict({**v1.state_dict(), "adapter.weight": v2.adapter.weight}, strict=True)
    x = _frames()
    torch.testing.assert_close(v2(x, input_len=2).next_frames, v1(x, input_len=2).next_frames, rtol=0, atol=0)
    assert set(v2.state_dict()) - set(v1.state_dict()) == {"adapter.weight"}


def test_v2_decouple_term_is_the_mean_over_steps_and_layers() -> None:
    model = _model(PredRNNV2)
    out = model(_frames(), input_len=2, trace=True)
    terms = [decoupling_term(model.adapter, r.delta_c, r.delta_m) for r in out.trace.records.values()]
    assert len(terms) == 4 * 3  # T − 1 steps × 3 layers
    torch.testing.assert_close(out.loss_terms["decouple"], torch.stack(terms).mean().detach(), rtol=1e-12, atol=0)
    # and the fast path collects the same terms
    torch.testing.assert_close(model(_frames(), input_len=2).loss_terms["decouple"], out.loss_terms["decouple"])
    assert 0 <= out.loss_terms["decouple"].item() <= 1
    assert model.config["decouple_beta"] == 0.1


def _identity_adapter(channels: int) -> nn.Conv2d:
    adapter = nn.Conv2d(channels, channels, 1, bias=False).double()
    with torch.no_grad():
        adapter.weight.copy_(torch.eye(channels).view(channels, channels, 1, 1))
    return adapter


def test_decoupling_identical_increments_give_one_and_orthogonal_zero() -> None:
    adapter = _identity_adapter(3)
    d = torch.rand(2, 3, 4, 4, dtype=torch.float64) + 0.1
    assert decoupling_term(adapter, d, d).item() == pytest.approx(1.0, abs=1e-12)
    assert decoupling_term(adapter, d, -2 * d).item() == pytest.approx(1.0, abs=1e-12)  # |cos|, scale-free
    ones = torch.ones(2, 3, 4, 4, dtype=torch.float64)
    checker = (torch.arange(4).view(4, 1) + torch.arange(4).view(1, 4)) % 2 * 2.0 - 1  # ±1, sums to 0
    orthogonal = ones * checker.double()
    assert decoupling_term(adapter, ones, orthogonal).item() == pytest.approx(0.0, abs=1e-12)
    # per (sample, channel), then averaged: half identical, half orthogonal channels → 0.5
    mixed = torch.cat([ones[:, :1], orthogonal[:, 1:2]], dim=1)
    assert decoupling_term(_identity_adapter(2), ones[:, :2], mixed).item() == pytest.approx(0.5, abs=1e-12)


def test_decoupling_term_has_a_gradient() -> None:
    adapter = nn.Conv2d(2, 2, 1, bias=False).double()
    dc = torch.rand(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    dm = torch.rand(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    decoupling_term(adapter, dc, dm).backward()
    assert dc.grad.abs().sum() > 0 and dm.grad.abs().sum() > 0 and adapter.weight.grad.abs().sum() > 0
    assert torch.autograd.gradcheck(lambda a, b: decoupling_term(adapter, a, b), (dc, dm))
