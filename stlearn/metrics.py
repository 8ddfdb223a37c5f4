r"""Forecast metrics as the literature reports them: MSE, MAE, SSIM, PSNR (lesson 4) and CSI, POD, FAR (lesson 9).

All functions take a prediction and a target of shape (B, T, C, H, W) (torch tensors or numpy
arrays) with pixel values in [0, 1], and work per frame: ``reduction="none"`` gives one number
per sequence and lead time (B, T), ``"lead"`` the mean over sequences per lead time (T,) (for
plots), ``"mean"`` one number.

Conventions (say which one you print; :func:`format_table` writes them under every table):

* **MSE per frame** (the Moving MNIST literature's "MSE"): the *sum* of squared errors over the
  pixels of one frame, averaged over frames and sequences.  On 64×64 frames an MSE per frame of
  24 is 24 / 4096 ≈ 0.006 per pixel.  **MSE per pixel** is the plain mean.  MAE likewise.
* **PSNR** and **SSIM** per frame on predictions clipped to [0, 1] (data range 1), averaged over
  frames.  SSIM uses an 11×11 Gaussian window with σ = 1.5, K1 = 0.01, K2 = 0.03 and population
  (co)variances over the window positions inside the frame, like
  ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=1)``.  (The official PredRNN code converts frames to
  uint8 first; its numbers can differ slightly.)  PSNR caps at 100 dB (MSE floor 1e-10) so that
  perfect frames do not make the mean infinite.
* **CSI, POD, FAR** at reflectivity thresholds (30, 40, 50 dBZ by default): pixels are read as
  dBZ = 70·p − 10 (HKO-7); for each lead time the hits TP (pred ≥ thr and obs ≥ thr), misses FN
  (obs ≥ thr, pred < thr) and false alarms FP (pred ≥ thr, obs < thr) are *summed over all pixels
  and sequences* before the ratios CSI = TP/(TP+FN+FP), POD = TP/(TP+FN), FAR = FP/(TP+FP) are
  taken; a ratio whose denominator is 0 is NaN ("undefined": no event forecast or observed), and
  the mean over lead times skips NaN (it is NaN only if every lead time is).  "≥ thr" allows
  1e-5 dBZ of float rounding, so a pixel at exactly the threshold counts as reaching it.

MSE, MAE and PSNR are computed and returned in float64 (exact sums; no underflow of tiny errors).

For a whole test split use :class:`MetricAccumulator`: ``update(pred, target)`` per batch keeps
only per-sequence sufficient statistics (squared/absolute error sums, SSIM, PSNR, contingency
counts), ``compute()`` gives per-lead arrays and means, ``bootstrap()`` 95 % intervals by
resampling sequences.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .errors import InputError, InputTypeError
from .reflectivity import pixel_to_dbz

Tensor = torch.Tensor

__all__ = [
    "DBZ_TOLERANCE",
    "DEFAULT_THRESHOLDS",
    "MetricAccumulator",
    "MetricReport",
    "bootstrap_intervals",
    "categorical_counts",
    "categorical_scores",
    "format_table",
    "mae_per_frame",
    "mae_per_pixel",
    "mse_per_frame",
    "mse_per_pixel",
    "paired_bootstrap",
    "persistence_forecast",
    "psnr",
    "scores_from_counts",
    "ssim",
]

#: Reflectivity thresholds of Table 8 (dBZ).
DEFAULT_THRESHOLDS = (30.0, 40.0, 50.0)
#: A pixel counts as ≥ thr when its dBZ ≥ thr − DBZ_TOLERANCE (float rounding at the threshold).
DBZ_TOLERANCE = 1e-5
#: PSNR is computed from max(MSE per pixel, PSNR_MSE_FLOOR): at most 100 dB.
PSNR_MSE_FLOOR = 1e-10
_REDUCTIONS = ("none", "lead", "mean")


# ---------------------------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------------------------


def _as_tensor(where: str, name: str, x: object) -> Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{where}: argument '{name}' must be a torch.Tensor or numpy array of shape (B, T, C, H, W), "
            f"got {type(x).__name__}"
        )
    if x.ndim != 5:
        raise ValueError(
            f"{where}: argument '{name}' must have 5 dimensions (B, T, C, H, W), got {x.ndim} with shape "
            f"{tuple(x.shape)}; add the missing axes with x[None] (batch) or x[:, :, None] (channel)"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{where}: argument '{name}' must hold floating-point pixels in [0, 1], got {x.dtype} "
            "(divide uint8 frames by 255)"
        )
    return x


def _pair(where: str, pred: object, target: object, double: bool = False) -> tuple[Tensor, Tensor]:
    p = _as_tensor(where, "pred", pred)
    t = _as_tensor(where, "target", target)
    if p.shape != t.shape:
        raise ValueError(
            f"{where}: 'pred' and 'target' must have the same shape (B, T, C, H, W), "
            f"got {tuple(p.shape)} and {tuple(t.shape)}"
        )
    if p.device != t.device:
        raise ValueError(f"{where}: 'pred' is on {p.device} but 'target' is on {t.device}")
    if p.numel() == 0:
        raise InputError(
            f"{where}: empty batch of shape {tuple(p.shape)} (B, T, C, H, W): a mean over no sequences, frames or "
            "pixels is undefined; pass at least one sequence of one frame"
        )
    _check_pixels(where, "target", t, 0.0, 1.0)
    _check_pixels(where, "pred", p, PRED_RANGE[0], PRED_RANGE[1])
    # sums over thousands of pixels (and tiny squared errors) are exact enough only in float64
    dtype = torch.float64 if double else torch.promote_types(p.dtype, t.dtype)
    return p.to(dtype), t.to(dtype)


#: the range a forecast may take. Targets must lie in [0, 1]; a raw (unclamped) forecast may overshoot it
#: (PSNR and the categorical scores clip it, MSE scores the overshoot), but not by ten whole ranges:
#: that is a forecast on another scale (0-255)
PRED_RANGE = (-10.0, 10.0)


def _check_pixels(where: str, name: str, x: Tensor, low: float, high: float) -> None:
    """Finite pixels within [low, high]: one pass of min/max/isfinite at the entry of every metric."""
    lo, hi = torch.aminmax(x.detach())
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        bad = int((~torch.isfinite(x)).sum())
        raise InputError(
            f"{where}: '{name}' holds {bad} NaN/Inf pixel(s) of {x.numel()}; a score of them would be meaningless "
            "(a diverged model, or frames read wrongly) — check the model and its inputs"
        )
    eps = 1e-6  # float rounding of p = value / 255
    if lo < low - eps or hi > high + eps:
        hint = " (0-255 frames? divide by 255)" if hi > high + 1.0 else ""
        kind = "a target" if name == "target" else "a forecast"
        raise InputError(
            f"{where}: '{name}' has pixels in [{lo:.4g}, {hi:.4g}] but {kind} must lie in [{low:g}, {high:g}]"
            f"{hint}; the metrics expect frames in [0, 1]"
            + ("; clamp a raw forecast with .clamp(0, 1)" if name == "pred" and not hint else "")
        )


def _reduce(where: str, values: Tensor, reduction: str) -> Tensor:
    """(B, T) per-frame values → (B, T), (T,) or a scalar."""
    if reduction == "none":
        return values
    if reduction == "lead":
        return values.mean(dim=0)
    if reduction == "mean":
        return values.mean()
    raise ValueError(f"{where}: 'reduction' must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_thresholds(where: str, thresholds: Iterable[float]) -> tuple[float, ...]:
    if isinstance(thresholds, (str, bytes)) or not isinstance(thresholds, Iterable):
        raise InputTypeError(
            f"{where}: 'thresholds' must be a sequence of dBZ numbers such as (30.0, 40.0, 50.0), got {thresholds!r}"
        )
    items = list(thresholds)
    numbers = (int, float, np.integer, np.floating)
    if any(isinstance(t, (str, bytes, bool)) or not isinstance(t, numbers) for t in items):
        raise InputTypeError(f"{where}: 'thresholds' must hold dBZ numbers such as 30.0, got {items!r}")
    values = tuple(float(t) for t in items)
    if not values or any(not math.isfinite(t) for t in values):
        raise ValueError(f"{where}: 'thresholds' must be a non-empty sequence of finite dBZ values, got {values!r}")
    return values


# ---------------------------------------------------------------------------------------------
# MSE, MAE, PSNR, SSIM — lesson 4
# ---------------------------------------------------------------------------------------------


def mse_per_frame(pred: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    r"""MSE **per frame**, the literature's convention: :math:`\sum_{c,h,w} (\hat x - x)^2` of each frame.

    Summed over the C·H·W pixels of a frame, then (``reduction="mean"``) averaged over frames and
    sequences; ``"lead"`` averages over sequences only (T,), ``"none"`` returns (B, T).
    On 64×64 frames with values in [0, 1], an MSE per frame of 24 is ≈ 0.006 per pixel.

    Lesson 4 ("Training and evaluating") prints it next to :func:`mse_per_pixel`.
    """
    p, t = _pair("mse_per_frame", pred, target, double=True)
    # SSE_frame = Σ_{c,h,w} (x̂ − x)²
    return _reduce("mse_per_frame", (p - t).pow(2).sum(dim=(2, 3, 4)), reduction)


def mse_per_pixel(pred: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    r"""MSE **per pixel**: :math:`\frac{1}{CHW}\sum_{c,h,w} (\hat x - x)^2` of each frame, then averaged.

    Equals :func:`mse_per_frame` divided by the number of pixels of a frame.  Lesson 4.
    """
    p, t = _pair("mse_per_pixel", pred, target, double=True)
    # MSE_pixel = mean_{c,h,w} (x̂ − x)²
    return _reduce("mse_per_pixel", (p - t).pow(2).mean(dim=(2, 3, 4)), reduction)


def mae_per_frame(pred: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    r"""MAE **per frame**: :math:`\sum_{c,h,w} |\hat x - x|` of each frame, averaged over frames and sequences.

    The literature's convention, like :func:`mse_per_frame`.  Lesson 4.
    """
    p, t = _pair("mae_per_frame", pred, target, double=True)
    # SAE_frame = Σ_{c,h,w} |x̂ − x|
    return _reduce("mae_per_frame", (p - t).abs().sum(dim=(2, 3, 4)), reduction)


def mae_per_pixel(pred: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    r"""MAE **per pixel**: :math:`\frac{1}{CHW}\sum_{c,h,w} |\hat x - x|` of each frame, then averaged.  Lesson 4."""
    p, t = _pair("mae_per_pixel", pred, target, double=True)
    # MAE_pixel = mean_{c,h,w} |x̂ − x|
    return _reduce("mae_per_pixel", (p - t).abs().mean(dim=(2, 3, 4)), reduction)


def psnr(pred: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    r"""PSNR per frame in dB on the prediction clipped to [0, 1]: :math:`10 \log_{10}(1 / \mathrm{MSE}_\text{pixel})`.

    Data range 1; the per-pixel MSE is floored at 1e-10, so a perfect frame scores 100 dB rather
    than infinity.  Averaged over frames and sequences.  Lesson 4 ("Training and evaluating").
    """
    p, t = _pair("psnr", pred, target, double=True)
    mse = (p.clamp(0.0, 1.0) - t).pow(2).mean(dim=(2, 3, 4))
    # PSNR = 10·log10(MAX² / MSE), MAX = 1
    values = 10.0 * torch.log10(1.0 / mse.clamp_min(PSNR_MSE_FLOOR))
    return _reduce("psnr", values, reduction)


def _gaussian_band(length: int, size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Matrix G (length − size + 1, length) with G[i, i:i+size] = w: G @ z filters z with the
    1-D Gaussian window w at every position where it fits ('valid')."""
    # w(u) ∝ exp(−u²/(2σ²)), u = −(size−1)/2 … (size−1)/2, normalised to Σw = 1
    u = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2.0
    w = torch.exp(-(u**2) / (2.0 * sigma**2))
    w = w / w.sum()
    out = length - size + 1
    band = torch.zeros(out, length, dtype=dtype, device=device)
    rows = torch.arange(out, device=device)
    for j in range(size):
        band[rows, rows + j] = w[j]
    return band


def ssim(
    pred: Tensor,
    target: Tensor,
    reduction: str = "mean",
    *,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> Tensor:
    r"""Structural similarity per frame (mean over channels), prediction clipped to [0, 1], data range 1.

    .. math:: \mathrm{SSIM} = \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}
              {(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)},
              \quad C_1 = (K_1 L)^2,\ C_2 = (K_2 L)^2,\ L = 1

    with local means, variances and covariance from an 11×11 Gaussian window (σ = 1.5), averaged
    over the window positions that fit inside the frame (the same numbers as scikit-image's
    ``structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    data_range=1)``).  Computed in float64.  Lesson 4 ("Training and evaluating").

    Not the official PredRNN number: its test loop truncates both frames to uint8 (``np.uint8(x * 255)``)
    and calls ``compare_ssim`` with scikit-image's defaults — a 7×7 *uniform* window, sample
    covariances, data range 255. The two are not "slightly" apart: on the shipped 2 × 32 models
    (32 test sequences each, measured with scikit-image 0.26, lesson 8) this function is 0.04-0.08
    lower on moving digits (single frames up to 0.12) and 0.01 higher on radar (single frames
    −0.06 … +0.09). Compare SSIMs only when both sides used the same recipe.
    """
    where = "ssim"
    p, t = _pair(where, pred, target)
    B, T, C, H, W = p.shape
    if window_size % 2 == 0 or window_size < 1:
        raise ValueError(f"{where}: 'window_size' must be a positive odd integer, got {window_size}")
    if H < window_size or W < window_size:
        raise ValueError(f"{where}: frames of {H}×{W} are smaller than the {window_size}×{window_size} window")
    x = p.clamp(0.0, 1.0).double().reshape(B * T * C, H, W)
    y = t.double().reshape(B * T * C, H, W)
    # the 11×11 Gaussian window is separable (w wᵀ): filtering is G_h @ z @ G_wᵀ, 'valid' positions only
    g_h = _gaussian_band(H, window_size, sigma, torch.float64, x.device)
    g_w = _gaussian_band(W, window_size, sigma, torch.float64, x.device)
    moments = g_h @ torch.stack([x, y, x * x, y * y, x * y]) @ g_w.T
    mu_x, mu_y, e_xx, e_yy, e_xy = moments
    # population (co)variances: σ_x² = E[x²] − μ_x², σ_xy = E[xy] − μ_x μ_y
    var_x = e_xx - mu_x * mu_x
    var_y = e_yy - mu_y * mu_y
    cov_xy = e_xy - mu_x * mu_y
    c1, c2 = (k1 * 1.0) ** 2, (k2 * 1.0) ** 2
    # SSIM map = (2 μx μy + C1)(2 σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2))
    ssim_map = ((2.0 * mu_x * mu_y + c1) * (2.0 * cov_xy + c2)) / (
        (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    )
    values = ssim_map.mean(dim=(1, 2)).reshape(B, T, C).mean(dim=2)
    return _reduce(where, values, reduction)


# ---------------------------------------------------------------------------------------------
# CSI, POD, FAR — lesson 9
# ---------------------------------------------------------------------------------------------


def categorical_counts(pred: Tensor, target: Tensor, thresholds: Iterable[float] = DEFAULT_THRESHOLDS) -> Tensor:
    r"""Contingency counts per sequence, lead time and threshold: int64 (B, T, K, 4) = TP, FN, FP, TN.

    Pixels are converted to dBZ = 70·p − 10 (HKO-7) and compared with each threshold:
    TP = pred ≥ thr and obs ≥ thr, FN = obs ≥ thr and pred < thr, FP = pred ≥ thr and obs < thr,
    TN = neither.  Each is counted over the C·H·W pixels of a frame.  Sum them over sequences (and
    batches) before taking ratios with :func:`scores_from_counts`.

    Lesson 9 ("Precipitation nowcasting and Table 8") builds the contingency table with it.
    """
    where = "categorical_counts"
    p, t = _pair(where, pred, target)
    levels = _check_thresholds(where, thresholds)
    dbz_p, dbz_t = pixel_to_dbz(p.double()), pixel_to_dbz(t.double())
    out = torch.empty((*p.shape[:2], len(levels), 4), dtype=torch.int64, device=p.device)
    for k, thr in enumerate(levels):
        # event: dBZ ≥ thr (with DBZ_TOLERANCE for float rounding exactly at thr)
        fp_event = dbz_p >= thr - DBZ_TOLERANCE
        ob_event = dbz_t >= thr - DBZ_TOLERANCE
        dims = (2, 3, 4)
        out[:, :, k, 0] = (fp_event & ob_event).sum(dim=dims)  # TP: hit
        out[:, :, k, 1] = (~fp_event & ob_event).sum(dim=dims)  # FN: miss
        out[:, :, k, 2] = (fp_event & ~ob_event).sum(dim=dims)  # FP: false alarm
        out[:, :, k, 3] = (~fp_event & ~ob_event).sum(dim=dims)  # TN: correct negative
    return out


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _nanmean(values: np.ndarray, axis: int) -> np.ndarray:
    """Mean over ``axis`` skipping NaN; NaN where every value is NaN (no warning)."""
    finite = ~np.isnan(values)
    count = finite.sum(axis=axis)
    total = np.where(finite, values, 0.0).sum(axis=axis)
    return _ratio(total, count)


def scores_from_counts(counts: Tensor | np.ndarray) -> dict[str, np.ndarray]:
    r"""CSI, POD and FAR from contingency counts (…, 4) = TP, FN, FP, TN (summed however you like).

    .. math:: \mathrm{CSI} = \frac{TP}{TP + FN + FP},\quad \mathrm{POD} = \frac{TP}{TP + FN},\quad
              \mathrm{FAR} = \frac{FP}{TP + FP}

    A ratio with a zero denominator is NaN (no event observed or forecast).  Returns float64 numpy
    arrays of shape ``counts.shape[:-1]``.  Lesson 9 ("Precipitation nowcasting and Table 8").
    """
    c = counts.detach().cpu().numpy() if isinstance(counts, torch.Tensor) else np.asarray(counts)
    if c.shape[-1:] != (4,):
        raise ValueError(f"scores_from_counts: the last axis must hold (TP, FN, FP, TN), got shape {c.shape}")
    tp, fn, fp = c[..., 0], c[..., 1], c[..., 2]
    return {
        # CSI = TP / (TP + FN + FP)
        "csi": _ratio(tp, tp + fn + fp),
        # POD = TP / (TP + FN)
        "pod": _ratio(tp, tp + fn),
        # FAR = FP / (TP + FP)
        "far": _ratio(fp, tp + fp),
    }


def categorical_scores(
    pred: Tensor, target: Tensor, thresholds: Iterable[float] = DEFAULT_THRESHOLDS
) -> dict[str, np.ndarray]:
    """CSI, POD and FAR per lead time (T, K) and their means over lead times (K,) for one batch.

    Counts are summed over the sequences of the batch for each lead time, then turned into
    ratios (:func:`scores_from_counts`); ``"csi_mean"`` etc. average the lead times, skipping
    NaN.  For a whole test split use :class:`MetricAccumulator`.  Lesson 9.
    """
    counts = categorical_counts(pred, target, thresholds).sum(dim=0)
    per_lead = scores_from_counts(counts)
    out = dict(per_lead)
    for name, values in per_lead.items():
        out[f"{name}_mean"] = _nanmean(values, axis=0)
    return out


# ---------------------------------------------------------------------------------------------
# a reference forecast
# ---------------------------------------------------------------------------------------------


def persistence_forecast(inputs: Tensor, output_frames: int) -> Tensor:
    """The persistence forecast: the last input frame repeated ``output_frames`` times.

    ``inputs`` (B, T_in, C, H, W) → (B, output_frames, C, H, W).  The baseline every nowcasting
    model must beat; lesson 9 ("Precipitation nowcasting and Table 8") scores it first.
    """
    x = _as_tensor("persistence_forecast", "inputs", inputs)
    if isinstance(output_frames, bool) or not isinstance(output_frames, int) or output_frames < 1:
        raise ValueError(f"persistence_forecast: 'output_frames' must be a positive integer, got {output_frames!r}")
    return x[:, -1:].expand(-1, output_frames, -1, -1, -1).clone()


# ---------------------------------------------------------------------------------------------
# streaming accumulation and bootstrap
# ---------------------------------------------------------------------------------------------


@dataclass
class MetricReport:
    """Metrics of a whole split: per lead time (for plots) and averaged (for tables).

    Per-lead arrays have shape (T,), categorical ones (T, K) for the K ``thresholds``; ``*_mean``
    are the averages over lead times (categorical: (K,), NaN-skipping).  ``mse_frame`` and
    ``mae_frame`` follow the per-frame (sum over pixels) convention, ``mse_pixel`` and
    ``mae_pixel`` the per-pixel one.  Lesson 4 and lesson 9 plot and tabulate these.
    """

    num_sequences: int
    pixels_per_frame: int
    thresholds: tuple[float, ...]
    mse_frame: np.ndarray
    mae_frame: np.ndarray
    mse_pixel: np.ndarray
    mae_pixel: np.ndarray
    ssim: np.ndarray | None
    psnr: np.ndarray | None
    csi: np.ndarray | None
    pod: np.ndarray | None
    far: np.ndarray | None
    means: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        """The means as a flat dict: ``mse_frame``, …, ``csi_30``, ``pod_30``, ``far_30``, …"""
        return dict(self.means)


def _threshold_name(thr: float) -> str:
    return f"{thr:g}"


class MetricAccumulator:
    """Streams batches of (pred, target) and keeps per-sequence sufficient statistics.

    ``update(pred, target)`` takes (B, T, C, H, W) pixels in [0, 1] and stores, per sequence and
    lead time, the sums of squared and absolute errors, SSIM, PSNR and the contingency counts at
    each threshold — a few numbers per frame, so a whole test split never has to sit in memory.
    ``compute()`` returns a :class:`MetricReport`; ``bootstrap()`` resamples sequences for
    confidence intervals from the same statistics.

    Args:
        thresholds: dBZ thresholds for CSI/POD/FAR (radar); ``None`` or ``()`` skips them
            (moving digits).
        ssim, psnr: whether to compute them (SSIM costs the most).

    Lesson 4 evaluates moving digits with it, lesson 9 reproduces Table 8.
    """

    def __init__(
        self,
        thresholds: Iterable[float] | None = DEFAULT_THRESHOLDS,
        *,
        ssim: bool = True,
        psnr: bool = True,
    ) -> None:
        where = "MetricAccumulator"
        self.thresholds = _check_thresholds(where, thresholds) if thresholds else ()
        self.use_ssim = bool(ssim)
        self.use_psnr = bool(psnr)
        self._parts: dict[str, list[np.ndarray]] = {name: [] for name in self._stat_names()}
        self._frame_shape: tuple[int, ...] | None = None

    def _stat_names(self) -> list[str]:
        names = ["sse", "sae"]
        if self.use_ssim:
            names.append("ssim")
        if self.use_psnr:
            names.append("psnr")
        if self.thresholds:
            names.append("counts")
        return names

    @property
    def num_sequences(self) -> int:
        """Number of sequences seen so far."""
        return int(sum(len(a) for a in self._parts["sse"]))

    def reset(self) -> None:
        """Forget everything seen so far."""
        self._parts = {name: [] for name in self._stat_names()}
        self._frame_shape = None

    @torch.no_grad()
    def update(self, pred: Tensor, target: Tensor) -> None:
        """Add a batch: (B, T, C, H, W) prediction and target with pixels in [0, 1]."""
        where = "MetricAccumulator.update"
        p, t = _pair(where, pred, target, double=True)
        shape = tuple(p.shape[1:])
        if self._frame_shape is None:
            self._frame_shape = shape
        elif shape != self._frame_shape:
            raise ValueError(
                f"{where}: every batch must have the same (T, C, H, W) = {self._frame_shape}, got {shape}"
            )
        self._parts["sse"].append(mse_per_frame(p, t, "none").double().cpu().numpy())
        self._parts["sae"].append(mae_per_frame(p, t, "none").double().cpu().numpy())
        if self.use_ssim:
            self._parts["ssim"].append(ssim(p, t, "none").cpu().numpy())
        if self.use_psnr:
            self._parts["psnr"].append(psnr(p, t, "none").cpu().numpy())
        if self.thresholds:
            self._parts["counts"].append(categorical_counts(p, t, self.thresholds).cpu().numpy())

    @classmethod
    def from_per_sequence(
        cls, stats: Mapping[str, np.ndarray], thresholds: Iterable[float] | None, frame_shape: Sequence[int]
    ) -> MetricAccumulator:
        """An accumulator holding saved :meth:`per_sequence` statistics (lesson 9 caches them per model).

        ``frame_shape`` is the (T, C, H, W) of the sequences the statistics came from.
        """
        acc = cls(thresholds, ssim="ssim" in stats, psnr="psnr" in stats)
        missing = sorted(set(acc._stat_names()) - set(stats))
        if missing:
            raise ValueError(f"MetricAccumulator.from_per_sequence: statistics {missing} are missing")
        acc._parts = {name: [np.asarray(stats[name])] for name in acc._stat_names()}
        acc._frame_shape = tuple(int(s) for s in frame_shape)
        return acc

    def per_sequence(self) -> dict[str, np.ndarray]:
        """The stored statistics: ``sse``, ``sae``, ``ssim``, ``psnr`` (N, T) and ``counts`` (N, T, K, 4)."""
        if self.num_sequences == 0:
            raise ValueError("MetricAccumulator: no batches yet; call update(pred, target) first")
        return {name: np.concatenate(parts) for name, parts in self._parts.items()}

    def compute(self) -> MetricReport:
        """Per-lead-time arrays and means over all sequences seen (a :class:`MetricReport`)."""
        stats = self.per_sequence()
        return _report(stats, self.thresholds, int(np.prod(self._frame_shape[1:])))

    def bootstrap(
        self, n_boot: int = 1000, level: float = 0.95, seed: int = 0
    ) -> dict[str, tuple[float, float, float]]:
        """Percentile bootstrap intervals of the mean metrics, resampling sequences with replacement.

        Returns ``{name: (value, low, high)}`` for the names of :meth:`MetricReport.summary`
        (the value is the full-sample mean).  Each replicate reweights the stored per-sequence
        statistics, so 1 000 replicates of 1 000 sequences take well under a second.
        See :func:`bootstrap_intervals`.
        """
        pixels = int(np.prod(self._frame_shape[1:]))
        return bootstrap_intervals(
            self.per_sequence(), self.thresholds, pixels_per_frame=pixels, n_boot=n_boot, level=level, seed=seed
        )


def _report(stats: Mapping[str, np.ndarray], thresholds: Sequence[float], pixels: int) -> MetricReport:
    sse, sae = stats["sse"], stats["sae"]
    means: dict[str, float] = {}
    lead: dict[str, np.ndarray | None] = {}
    lead["mse_frame"] = sse.mean(axis=0)
    lead["mae_frame"] = sae.mean(axis=0)
    lead["mse_pixel"] = lead["mse_frame"] / pixels
    lead["mae_pixel"] = lead["mae_frame"] / pixels
    lead["ssim"] = stats["ssim"].mean(axis=0) if "ssim" in stats else None
    lead["psnr"] = stats["psnr"].mean(axis=0) if "psnr" in stats else None
    for name, values in lead.items():
        if values is not None:
            means[name] = float(values.mean())
    scores: dict[str, np.ndarray | None] = {"csi": None, "pod": None, "far": None}
    if "counts" in stats:
        scores.update(scores_from_counts(stats["counts"].sum(axis=0)))
        for name in ("csi", "pod", "far"):
            avg = _nanmean(scores[name], axis=0)
            for k, thr in enumerate(thresholds):
                means[f"{name}_{_threshold_name(thr)}"] = float(avg[k])
    return MetricReport(
        num_sequences=len(sse),
        pixels_per_frame=pixels,
        thresholds=tuple(thresholds),
        mse_frame=lead["mse_frame"],
        mae_frame=lead["mae_frame"],
        mse_pixel=lead["mse_pixel"],
        mae_pixel=lead["mae_pixel"],
        ssim=lead["ssim"],
        psnr=lead["psnr"],
        csi=scores["csi"],
        pod=scores["pod"],
        far=scores["far"],
        means=means,
    )


def _replicates(
    stats: Mapping[str, np.ndarray], thresholds: Sequence[float], pixels_per_frame: int, weights: np.ndarray
) -> dict[str, np.ndarray]:
    """Every mean metric recomputed for each row of sequence weights (n_boot, N)."""
    n = len(stats["sse"])
    out: dict[str, np.ndarray] = {}
    per_seq = {"mse_frame": stats["sse"], "mae_frame": stats["sae"]}
    for name in ("ssim", "psnr"):
        if name in stats:
            per_seq[name] = stats[name]
    for name, values in per_seq.items():
        # mean over resampled sequences and lead times = Σ_i w_i · mean_t(v_it) / N
        out[name] = weights @ values.mean(axis=1) / n
    out["mse_pixel"] = out["mse_frame"] / pixels_per_frame
    out["mae_pixel"] = out["mae_frame"] / pixels_per_frame
    if "counts" in stats:
        counts = stats["counts"]
        # counts of a replicate: Σ_i w_i · counts_i, then the ratios per lead time as on the full split
        summed = (weights @ counts.reshape(n, -1).astype(np.float64)).reshape(len(weights), *counts.shape[1:])
        scores = scores_from_counts(summed)
        for name in ("csi", "pod", "far"):
            avg = _nanmean(scores[name], axis=1)  # mean over lead times → (n_boot, K)
            for k, thr in enumerate(thresholds):
                out[f"{name}_{_threshold_name(thr)}"] = avg[:, k]
    return out


def _bootstrap_weights(n: int, n_boot: int, level: float, seed: int) -> np.ndarray:
    if not 0.0 < level < 1.0:
        raise ValueError(f"bootstrap: 'level' must be in (0, 1), got {level!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 2:
        raise ValueError(f"bootstrap: 'n_boot' must be an integer ≥ 2, got {n_boot!r}")
    rng = np.random.default_rng(seed)
    # w[b, i]: how often replicate b draws sequence i (Σ_i w = N)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)


def _intervals(
    point: Mapping[str, float], replicates: Mapping[str, np.ndarray], level: float
) -> dict[str, tuple[float, float, float]]:
    alpha = (1.0 - level) / 2.0
    out: dict[str, tuple[float, float, float]] = {}
    for name, value in point.items():
        reps = replicates[name]
        reps = reps[~np.isnan(reps)]
        low, high = np.quantile(reps, [alpha, 1.0 - alpha]) if reps.size else (math.nan, math.nan)
        out[name] = (float(value), float(low), float(high))
    return out


def bootstrap_intervals(
    stats: Mapping[str, np.ndarray],
    thresholds: Sequence[float],
    *,
    pixels_per_frame: int,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float, float]]:
    """Percentile bootstrap over sequences: ``{metric: (full-sample value, low, high)}``.

    ``stats`` are per-sequence statistics as kept by :class:`MetricAccumulator`
    (``sse``/``sae``/``ssim``/``psnr`` (N, T), ``counts`` (N, T, K, 4)).  Each replicate draws N
    sequences with replacement (multinomial weights), recomputes every mean metric from the
    weighted sums — CSI, POD and FAR from the resampled *counts*, exactly as on the full split —
    and the interval is the central ``level`` of the replicates.  Lesson 9 uses it to ask whether
    two models differ by more than sampling noise (see also :func:`paired_bootstrap`).
    """
    weights = _bootstrap_weights(len(stats["sse"]), n_boot, level, seed)
    point = _report(stats, thresholds, pixels_per_frame).means
    return _intervals(point, _replicates(stats, thresholds, pixels_per_frame, weights), level)


def paired_bootstrap(
    a: MetricAccumulator, b: MetricAccumulator, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> dict[str, tuple[float, float, float]]:
    """Bootstrap interval of the *difference* of two models' metrics, A − B, on the same sequences.

    Both accumulators must have seen the same test sequences in the same order (each model's
    forecasts of one split).  Every replicate resamples the same sequences for both models, so
    the shared difficulty of a sequence cancels: paired intervals are much narrower than the
    separate intervals of :meth:`MetricAccumulator.bootstrap`.  A difference whose interval
    excludes 0 is larger than the sampling noise of the test split.  Lesson 9 ("Precipitation
    nowcasting and Table 8") compares models with it.
    """
    stats_a, stats_b = a.per_sequence(), b.per_sequence()
    if stats_a["sse"].shape != stats_b["sse"].shape or a.thresholds != b.thresholds:
        raise ValueError(
            "paired_bootstrap: both accumulators must have seen the same number of sequences and lead times "
            f"with the same thresholds, got {stats_a['sse'].shape} {a.thresholds} and {stats_b['sse'].shape} "
            f"{b.thresholds}"
        )
    pixels = int(np.prod(a._frame_shape[1:]))
    weights = _bootstrap_weights(len(stats_a["sse"]), n_boot, level, seed)
    rep_a = _replicates(stats_a, a.thresholds, pixels, weights)
    rep_b = _replicates(stats_b, b.thresholds, pixels, weights)
    point_a = _report(stats_a, a.thresholds, pixels).means
    point_b = _report(stats_b, b.thresholds, pixels).means
    names = [name for name in point_a if name in point_b]
    diff_point = {name: point_a[name] - point_b[name] for name in names}
    diff_reps = {name: rep_a[name] - rep_b[name] for name in names}
    return _intervals(diff_point, diff_reps, level)


# ---------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------

_LABELS = {
    "mse_frame": ("MSE/frame", "{:.1f}"),
    "mae_frame": ("MAE/frame", "{:.1f}"),
    "mse_pixel": ("MSE/pixel", "{:.5f}"),
    "mae_pixel": ("MAE/pixel", "{:.4f}"),
    "ssim": ("SSIM", "{:.3f}"),
    "psnr": ("PSNR (dB)", "{:.2f}"),
}


def _label(name: str) -> tuple[str, str]:
    if name in _LABELS:
        return _LABELS[name]
    kind, _, thr = name.partition("_")
    return f"{kind.upper()}-{thr}", "{:.3f}"


def format_table(
    rows: Mapping[str, MetricReport | Mapping[str, Any]],
    metrics: Sequence[str] = ("mse_frame", "csi_30", "csi_40", "csi_50"),
    *,
    frame_pixels: int | None = None,
) -> str:
    """A Markdown table (one row per model) followed by the conventions of its columns.

    Args:
        rows: model name → :class:`MetricReport`, its ``summary()`` dict, or the dict returned by
            :func:`bootstrap_intervals` (values ``(value, low, high)`` print as "value [low, high]").
        metrics: columns, names as in :meth:`MetricReport.summary` (``mse_frame``, ``mse_pixel``,
            ``mae_frame``, ``ssim``, ``psnr``, ``csi_30``, ``pod_40``, ``far_50``, …).
        frame_pixels: pixels per frame, for the note under the table (taken from a report if given).

    Lesson 4 prints Moving MNIST results with it, lesson 9 the Table 8 reproduction.
    """
    header = ["model", *(_label(m)[0] for m in metrics)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for model, row in rows.items():
        if isinstance(row, MetricReport):
            frame_pixels = frame_pixels or row.pixels_per_frame
            row = row.summary()
        cells = [model]
        for m in metrics:
            fmt = _label(m)[1]
            value = row.get(m)
            if value is None:
                cells.append("–")
            elif isinstance(value, (tuple, list)):
                v, lo, hi = value
                cells.append(f"{fmt.format(v)} [{fmt.format(lo)}, {fmt.format(hi)}]")
            else:
                cells.append(fmt.format(value))
        lines.append("| " + " | ".join(cells) + " |")
    notes = []
    size = f" ({frame_pixels} pixels)" if frame_pixels else ""
    if any(m.endswith("_frame") for m in metrics):
        notes.append(
            f"MSE/MAE per frame: sum of squared/absolute errors over the pixels of a frame{size}, pixel values in "
            "[0, 1], averaged over frames and sequences (the literature's convention)."
        )
    if any(m.endswith("_pixel") for m in metrics):
        notes.append("MSE/MAE per pixel: the plain mean over pixels, frames and sequences.")
    if "ssim" in metrics or "psnr" in metrics:
        notes.append("SSIM and PSNR: per frame, prediction clipped to [0, 1], data range 1, averaged over frames.")
    if any(m.split("_")[0] in ("csi", "pod", "far") for m in metrics):
        notes.append(
            "CSI/POD/FAR-τ: pixels as dBZ = 70·p − 10, event = dBZ ≥ τ; counts summed over all pixels and "
            "sequences of each lead time, ratio per lead time, then averaged over lead times (undefined ones skipped)."
        )
    if any(isinstance(v, (tuple, list)) for row in rows.values() if isinstance(row, Mapping) for v in row.values()):
        notes.append("[low, high]: bootstrap interval over sequences.")
    return "\n".join(lines) + "\n\n" + "\n\n".join(f"*{n}*" for n in notes)
