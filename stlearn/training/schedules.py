r"""Sampling schedules: how often a training step feeds the model the true frame instead of its own guess.

At rollout step t a model reads :math:`X_t = m_t\,x_t + (1 - m_t)\,\hat x_t`: the true frame
(:math:`m_t = 1`, teacher forcing) or its own previous prediction (:math:`m_t = 0`, as at test
time). The schedules below give, for training iteration k, the probability that :math:`m_t = 1`;
the mask builders draw one Bernoulli value per (sample, step), which the model broadcasts over
the pixels. Masks have the shape the models take: (B, T − 2), column j for input step t = j + 1
(see :mod:`stlearn.models.base`).

* **Scheduled sampling** (PredRNN): the encoder always sees the truth; on decoder steps the
  probability of the truth starts at 1 and falls by 2·10⁻⁵ per iteration, reaching 0 at 50 000.
* **Reverse scheduled sampling** (PredRNN-V2): the encoder starts at 0.5 and rises to 1 — forcing
  the model to learn long-term dynamics from its own encoder outputs early on — while the decoder
  falls from 0.5 to 0:

  .. math::
      r_k &= \begin{cases} 0.5 & k < \tau_1 \\
                           1 - 0.5\,e^{-(k-\tau_1)/\alpha} & \tau_1 \le k < \tau_2 \\
                           1 & k \ge \tau_2 \end{cases} \\
      e_k &= \begin{cases} 0.5 & k < \tau_1 \\
                           0.5 - 0.5\,\frac{k-\tau_1}{\tau_2-\tau_1} & \tau_1 \le k < \tau_2 \\
                           0 & k \ge \tau_2 \end{cases}

  with the reference defaults τ1 = 25 000, τ2 = 50 000, α = 5 000 (2 500 in the Moving MNIST recipe).

Taught in lesson 4 (teacher forcing and scheduled sampling) and lesson 7 (the reverse schedule).
"""

from __future__ import annotations

import math

import torch

from .._checks import check_positive_int

Tensor = torch.Tensor

__all__ = [
    "inference_mask",
    "reverse_sampling_probabilities",
    "reverse_scheduled_sampling_mask",
    "sampling_mask",
    "scheduled_sampling_mask",
    "scheduled_sampling_probability",
]


def _check_iteration(where: str, iteration: object) -> int:
    if isinstance(iteration, bool) or not isinstance(iteration, int) or iteration < 0:
        raise ValueError(f"{where}: 'iteration' must be a non-negative integer, got {iteration!r}")
    return iteration


def _check_lengths(where: str, batch_size: int, total_len: int, input_len: int) -> None:
    check_positive_int(where, "batch_size", batch_size)
    check_positive_int(where, "total_len", total_len)
    if isinstance(input_len, bool) or not isinstance(input_len, int) or not 1 <= input_len < total_len:
        raise ValueError(
            f"{where}: 'input_len' must satisfy 1 ≤ input_len < total_len = {total_len}, got {input_len!r}"
        )


def scheduled_sampling_probability(
    iteration: int, start: float = 1.0, rate: float = 2e-5, stop_iteration: int = 50_000
) -> float:
    r"""PredRNN's scheduled sampling: probability of the true frame on decoder steps at ``iteration``.

    .. math:: \eta_k = \max(0,\ \eta_0 - \delta\,k) \text{ for } k < k_{\mathrm{stop}}, \quad 0 \text{ after}

    Defaults (the reference recipe): :math:`\eta_0` = 1.0, δ = 2e-5, :math:`k_{\mathrm{stop}}` = 50 000,
    so 1.0 at k = 0, 0.5 at 25 000, 0 from 50 000 on.

    Taught in lesson 4 (scheduled sampling).
    """
    k = _check_iteration("scheduled_sampling_probability", iteration)
    if k >= stop_iteration:
        return 0.0
    return max(0.0, start - rate * k)


def reverse_sampling_probabilities(
    iteration: int, tau1: int = 25_000, tau2: int = 50_000, alpha: float = 5_000.0
) -> tuple[float, float]:
    r"""PredRNN-V2's reverse scheduled sampling: ``(r, e)`` at ``iteration``.

    ``r`` is the probability of the true frame on encoder steps (t = 1 … input_len − 1), ``e`` on
    decoder steps; the formulas are in the module docstring. E.g. with α = 2 500, at k = 27 500:
    r = 1 − 0.5·e⁻¹ ≈ 0.816 and e = 0.45.

    Taught in lesson 7 (PredRNN-V2's reverse scheduled sampling).
    """
    where = "reverse_sampling_probabilities"
    k = _check_iteration(where, iteration)
    if not 0 <= tau1 < tau2:
        raise ValueError(f"{where}: need 0 ≤ tau1 < tau2, got tau1={tau1}, tau2={tau2}")
    if alpha <= 0:
        raise ValueError(f"{where}: 'alpha' must be positive, got {alpha}")
    if k < tau1:
        return 0.5, 0.5
    if k >= tau2:
        return 1.0, 0.0
    # r_k = 1 − 0.5·exp(−(k − τ1)/α)
    r = 1.0 - 0.5 * math.exp(-(k - tau1) / alpha)
    # e_k = 0.5 − 0.5·(k − τ1)/(τ2 − τ1)
    e = 0.5 - 0.5 * (k - tau1) / (tau2 - tau1)
    return r, e


def sampling_mask(
    batch_size: int,
    total_len: int,
    input_len: int,
    encoder_prob: float,
    decoder_prob: float,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """A (B, T − 2) mask of independent Bernoulli draws, one per (sample, step).

    Column j is input step t = j + 1: probability ``encoder_prob`` for t < input_len,
    ``decoder_prob`` after. Probabilities 1 and 0 give exact ones and zeros.

    Args:
        batch_size: B.
        total_len: T, frames per sequence (≥ 2).
        input_len: number of input frames, 1 ≤ input_len < T.
        encoder_prob, decoder_prob: probabilities of the true frame, in [0, 1].
        generator: a CPU ``torch.Generator`` for reproducible masks (the global RNG if None).
        device, dtype: of the returned mask (drawn on the CPU, then moved).

    Taught in lesson 4 (what the model reads at each step).
    """
    where = "sampling_mask"
    _check_lengths(where, batch_size, total_len, input_len)
    for name, p in (("encoder_prob", encoder_prob), ("decoder_prob", decoder_prob)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{where}: '{name}' must be a probability in [0, 1], got {p}")
    steps = torch.arange(1, total_len - 1)
    # P(m_t = 1) = r on encoder steps (t < input_len), e on decoder steps
    probs = torch.where(steps < input_len, encoder_prob, decoder_prob).to(torch.float64)
    draws = torch.rand(batch_size, total_len - 2, generator=generator, dtype=torch.float64)
    return (draws < probs).to(device=device, dtype=dtype)


def scheduled_sampling_mask(
    iteration: int,
    batch_size: int,
    total_len: int = 20,
    input_len: int = 10,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    start: float = 1.0,
    rate: float = 2e-5,
    stop_iteration: int = 50_000,
) -> Tensor:
    """PredRNN's training mask at ``iteration``: truth on encoder steps, Bernoulli(η_k) on decoder steps.

    ``start``, ``rate``, ``stop_iteration``: as :func:`scheduled_sampling_probability`. Returns (B, T − 2).

    Taught in lesson 4 (scheduled sampling).
    """
    eta = scheduled_sampling_probability(iteration, start, rate, stop_iteration)
    return sampling_mask(batch_size, total_len, input_len, 1.0, eta, generator, device, dtype)


def reverse_scheduled_sampling_mask(
    iteration: int,
    batch_size: int,
    total_len: int = 20,
    input_len: int = 10,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    tau1: int = 25_000,
    tau2: int = 50_000,
    alpha: float = 5_000.0,
) -> Tensor:
    """PredRNN-V2's training mask at ``iteration``: Bernoulli(r_k) on encoder steps, Bernoulli(e_k) after.

    Returns (B, T − 2).

    Taught in lesson 7 (reverse scheduled sampling).
    """
    r, e = reverse_sampling_probabilities(iteration, tau1, tau2, alpha)
    return sampling_mask(batch_size, total_len, input_len, r, e, generator, device, dtype)


def inference_mask(
    batch_size: int,
    total_len: int = 20,
    input_len: int = 10,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """The test-time mask, what ``mask=None`` means: ones on encoder steps, zeros after. (B, T − 2).

    Deterministic (draws nothing). Taught in lesson 4 (training versus test behaviour).
    """
    _check_lengths("inference_mask", batch_size, total_len, input_len)
    steps = torch.arange(1, total_len - 1, device=device)
    return (steps < input_len).to(dtype).expand(batch_size, -1).clone()
