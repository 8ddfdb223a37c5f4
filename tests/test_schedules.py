"""Sampling schedules of PredRNN (scheduled sampling) and PredRNN-V2 (reverse scheduled sampling)."""

from __future__ import annotations

import math

import pytest
import torch

from stlearn.training import schedules


def test_scheduled_sampling_probability_at_documented_iterations() -> None:
    p = schedules.scheduled_sampling_probability
    assert p(0) == 1.0
    assert p(1) == pytest.approx(1.0 - 2e-5)
    assert p(25_000) == pytest.approx(0.5)
    assert p(49_999) == pytest.approx(2e-5)
    assert p(50_000) == 0.0
    assert p(80_000) == 0.0


def test_reverse_schedule_at_documented_iterations() -> None:
    rs = schedules.reverse_sampling_probabilities
    # before τ1: both 0.5
    assert rs(0) == (0.5, 0.5)
    assert rs(24_999, alpha=2500) == (0.5, 0.5)
    # at τ1 the encoder starts rising (1 − 0.5·e⁰ = 0.5), the decoder falling
    assert rs(25_000) == pytest.approx((0.5, 0.5))
    # the Moving MNIST recipe, α = 2 500: one time constant after τ1
    r, e = rs(27_500, alpha=2500)
    assert r == pytest.approx(1 - 0.5 * math.exp(-1)) and round(r, 3) == 0.816
    assert e == pytest.approx(0.5 - 0.5 * 2500 / 25_000)
    # the reference default α = 5 000
    assert rs(30_000)[0] == pytest.approx(1 - 0.5 * math.exp(-1))
    assert rs(37_500)[1] == pytest.approx(0.25)
    # from τ2 on: encoder always true, decoder never
    assert rs(50_000) == (1.0, 0.0)
    assert rs(80_000, alpha=2500) == (1.0, 0.0)


def test_mask_shapes_and_encoder_columns() -> None:
    g = torch.Generator().manual_seed(0)
    m = schedules.scheduled_sampling_mask(30_000, batch_size=4, total_len=20, input_len=10, generator=g)
    assert m.shape == (4, 18) and m.dtype == torch.float32
    assert torch.all(m[:, :9] == 1)  # steps t = 1 … 9 are encoder steps: always the truth in PredRNN v1
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    m = schedules.reverse_scheduled_sampling_mask(0, batch_size=3, total_len=6, input_len=3, dtype=torch.float64)
    assert m.shape == (3, 4) and m.dtype == torch.float64


def test_masks_at_the_schedules_ends() -> None:
    assert torch.all(schedules.scheduled_sampling_mask(0, 5) == 1)  # iteration 0: full teacher forcing
    late = schedules.scheduled_sampling_mask(50_000, 5)
    assert torch.equal(late, schedules.inference_mask(5))  # from 50 000 on: test-time behaviour
    assert torch.equal(schedules.reverse_scheduled_sampling_mask(60_000, 5), schedules.inference_mask(5))
    im = schedules.inference_mask(2, total_len=6, input_len=3)
    assert im.tolist() == [[1, 1, 0, 0]] * 2


def test_seeded_reproducibility_and_rate() -> None:
    def draw(seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return schedules.reverse_scheduled_sampling_mask(27_500, 256, 20, 10, generator=g, alpha=2500)

    a, b, c = draw(1), draw(1), draw(2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    # one draw per (sample, step): the encoder columns are true ≈ 81.6 % of the time, the decoder ≈ 45 %
    assert a[:, :9].mean().item() == pytest.approx(0.816, abs=0.03)
    assert a[:, 9:].mean().item() == pytest.approx(0.45, abs=0.03)


def test_global_rng_untouched_by_inference_mask() -> None:
    torch.manual_seed(0)
    schedules.inference_mask(3)
    x = torch.rand(1)
    torch.manual_seed(0)
    assert torch.equal(x, torch.rand(1))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="iteration"):
        schedules.scheduled_sampling_probability(-1)
    with pytest.raises(ValueError, match="input_len"):
        schedules.sampling_mask(2, 10, 10, 1.0, 0.0)
    with pytest.raises(ValueError, match="decoder_prob"):
        schedules.sampling_mask(2, 10, 5, 1.0, 1.5)
    with pytest.raises(ValueError, match="tau1"):
        schedules.reverse_sampling_probabilities(10, tau1=5, tau2=5)
