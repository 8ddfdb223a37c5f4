r"""Synthetic radar echoes: reflectivity sequences with radar-like structure and life cycles (lesson 9).

No public radar archive can be downloaded in this course, so lesson 9 ("Precipitation nowcasting
and Table 8") uses a generator that imitates what matters for a Table 8-style comparison
(MSE and CSI at 30/40/50 dBZ): multi-scale rain areas that move with a wind, and convective
storms that grow, decay, split and merge, so that a forecaster cannot just shift the last frame.

Physical assumptions (all in :class:`RadarConfig`; the defaults):

* a frame is a 64×64 grid of 2 km pixels (128 km × 128 km) taken every 6 minutes; 10 input
  + 10 target frames span 2 hours; 1 px/frame is 20 km/h;
* wind: a steering wind of 15–70 km/h (0.75–3.5 px/frame) from a random direction, turning by
  up to ±25° and changing speed by up to ±25 % over the 2 hours, plus a weak divergence-free
  rotation/shear (up to ±10 km/h across the frame).  Rain is advected semi-Lagrangianly: frame
  t samples the rain field where its air was at frame 0 (back-trajectories, midpoint rule);
* stratiform rain: a Gaussian random field with a power-law spectrum :math:`P(k) \propto k^{-2.8}`
  (radar rain fields are commonly reported with exponents of about 2–3.5; storms and the echo
  threshold steepen it: the stored dBZ frames measure about −3.5 over 8–64 km), on a periodic
  256 km grid, evolving in the moving frame as an AR(1) process per scale with lifetime
  :math:`\tau(L) = 25\,\mathrm{min}\,(L / 16\,\mathrm{km})^{0.8}` (× 0.7–1.4 per sequence):
  4 km features live ~8 min, 64 km ones ~75 min, the largest hours;
  dBZ = μ + s·field with μ in -2…22 dBZ and s in 7–12 dB per sequence;
* convective storms: 0 to ~20 per sequence (Poisson, mean 10 × activity, activity ~ Beta(1.3, 1.3)
  per sequence), each a cluster of 1–5 cores (multicell storms: new cores peak up to 24 min before
  or after the first).  A core is a Gaussian in reflectivity Z with σ 2.5–7 km, peak 42–62 dBZ
  (weaker on low-activity days); its peak Z rises and falls as a Gaussian in time with a time
  scale of 6–18 min before and 10–30 min after the peak (a 52 dBZ core stays above 40 dBZ for
  about 40–110 min); each storm drifts by up to ~8 km/h relative to the wind.  A storm raises
  the surrounding stratiform rain by 6–14 dB within ~7σ (its skirt).  Cores are textured by a
  finer field (spectral exponent 2, ±5 dB) and their shapes warped by ~3 km (a smooth
  displacement field), so storms are irregular rather than round;
* splits and merges: 30 % of the cores have a twin that starts at the same point and drifts
  away at 10–20 km/h after a moment (split) or arrives at it from there (merge);
* squall lines: on 25 % of the days with 3 or more storms, the storms line up across the wind.

Reflectivities combine in :math:`Z` (mm⁶ m⁻³): :math:`Z = Z_\text{strat} + \sum_i Z_i`,
:math:`\mathrm{dBZ} = 10 \log_{10} Z`; below 10 dBZ there is no echo (pixel 0, -10 dBZ).  Frames
are stored as HKO-7 pixels :math:`p = (\mathrm{dBZ} + 10)/70` clipped to [0, 1] and rounded to
uint8 (:math:`p \cdot 255`).

Generation is numpy and ``scipy.fft``, frame by frame: about 30 ms per sequence on one core, fast
enough for on-the-fly training data.  Sequence ``i`` of a split uses
``np.random.default_rng([seed, i])``; all arithmetic is float64, so last-bit differences between
CPUs could flip a rounded pixel only with negligible probability, and splits are checked by
sha256 (:mod:`stlearn.data.store`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft

from .._checks import check_int
from ..reflectivity import dbz_to_pixel

__all__ = ["RADAR_SEEDS", "RadarConfig", "generate_radar", "radar_sequence"]

#: Documented seeds of the radar splits.
RADAR_SEEDS = {"train": 80_080_001, "val": 80_080_002, "test": 80_080_003}

_LN10_OVER_10 = math.log(10.0) / 10.0


@dataclass(frozen=True)
class RadarConfig:
    """Physical and numerical parameters of the synthetic radar echoes (defaults: the course's set).

    Attributes:
        size: frame side in pixels (even); input_frames, output_frames: 10 + 10.
        pixel_km, frame_minutes: 2 km pixels, one frame every 6 min (1 px/frame = 20 km/h).
        wind_kmh: range of the steering wind speed; wind_turn_deg, wind_speed_change: how much
            it turns (±degrees) and changes speed (± fraction) over the sequence;
            wind_shear_kmh: scale of the spatial wind variation across the frame.
        spectral_exponent: β of the rain field's power spectrum P(k) ∝ k^−β;
            texture_exponent: β of the core texture field.
        lifetime_min_at_16km, lifetime_exponent: τ(L) = τ16·(L/16 km)^α of each scale.
        echo_threshold_dbz: weaker reflectivity is "no echo" (pixel 0).
        mean_storms: mean number of storms on the most active days.
        cell_peak_dbz, cell_sigma_km, cell_growth_min, cell_decay_min: ranges of core peak,
            radius (σ), and time scales before and after the peak.
        cell_drift_kmh: storm motion relative to the wind (≈ 2σ); cell_warp_km: shape distortion.
        split_merge_fraction: share of cores with a splitting or merging twin;
        squall_line_probability: chance that the storms of a day line up.

    Sizes are in pixels and frames; the physical quantities are converted with ``pixel_km`` and
    ``frame_minutes``.  Lesson 9 ("Precipitation nowcasting and Table 8") explains each one.
    """

    size: int = 64
    input_frames: int = 10
    output_frames: int = 10
    pixel_km: float = 2.0
    frame_minutes: float = 6.0
    wind_kmh: tuple[float, float] = (15.0, 70.0)
    wind_turn_deg: float = 25.0
    wind_speed_change: float = 0.25
    wind_shear_kmh: float = 10.0
    spectral_exponent: float = 2.8
    texture_exponent: float = 2.0
    lifetime_min_at_16km: float = 25.0
    lifetime_exponent: float = 0.8
    echo_threshold_dbz: float = 10.0
    mean_storms: float = 10.0
    cell_peak_dbz: tuple[float, float] = (42.0, 62.0)
    cell_sigma_km: tuple[float, float] = (2.5, 7.0)
    cell_growth_min: tuple[float, float] = (6.0, 18.0)
    cell_decay_min: tuple[float, float] = (10.0, 30.0)
    cell_drift_kmh: float = 8.0
    cell_warp_km: float = 3.0
    split_merge_fraction: float = 0.3
    squall_line_probability: float = 0.25

    def __post_init__(self) -> None:
        where = "RadarConfig"
        check_int(where, "size", self.size, 2)
        check_int(where, "input_frames", self.input_frames, 1)
        check_int(where, "output_frames", self.output_frames, 0)
        if self.size % 2:
            raise ValueError(
                f"{where}: 'size' must be even (the models halve frames and cut them into patches), got {self.size}"
            )
        for name in ("pixel_km", "frame_minutes", "lifetime_min_at_16km", "spectral_exponent", "texture_exponent"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{where}: '{name}' must be positive, got {getattr(self, name)!r}")
        for name in ("wind_kmh", "cell_peak_dbz", "cell_sigma_km", "cell_growth_min", "cell_decay_min"):
            lo, hi = getattr(self, name)
            if not lo <= hi:
                raise ValueError(f"{where}: '{name}' must be a range (low, high) with low ≤ high, got {(lo, hi)}")
        if self.mean_storms < 0:
            raise ValueError(f"{where}: 'mean_storms' must be ≥ 0, got {self.mean_storms!r}")

    @property
    def num_frames(self) -> int:
        """Total sequence length, ``input_frames + output_frames``."""
        return self.input_frames + self.output_frames

    @property
    def kmh_per_px_per_frame(self) -> float:
        """Speed of 1 pixel per frame in km/h (2 km per 6 min = 20 km/h)."""
        return self.pixel_km / (self.frame_minutes / 60.0)

    @property
    def material_size(self) -> int:
        """Side of the periodic noise grid that the moving frames sample (≥ 2 × size, power of 2)."""
        return 1 << max(7, math.ceil(math.log2(2 * self.size)))


# ---------------------------------------------------------------------------------------------
# wind and trajectories
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Wind:
    """u(x, t) = U(t) + G·(x − c): a turning, speeding mean wind plus a weak linear variation."""

    mean: np.ndarray  # (T, 2) px/frame as (dy, dx)
    gradient: np.ndarray  # (2, 2) px/frame per px
    centre: float

    def __call__(self, points: np.ndarray, t: int) -> np.ndarray:
        """Wind (…, 2) at points (…, 2) = (y, x) in pixels, frame step t."""
        return self.mean[t] + (points - self.centre) @ self.gradient.T


def _draw_wind(rng: np.random.Generator, config: RadarConfig) -> _Wind:
    to_px = 1.0 / config.kmh_per_px_per_frame
    speed = rng.uniform(*config.wind_kmh) * to_px
    direction = rng.uniform(0.0, 2.0 * math.pi)
    turn = math.radians(config.wind_turn_deg) * rng.uniform(-1.0, 1.0)
    change = config.wind_speed_change * rng.uniform(-1.0, 1.0)
    s = np.linspace(-0.5, 0.5, config.num_frames)
    # U(t) = |U|·(1 + change·s)·(sin θ(t), cos θ(t)), θ(t) = θ0 + turn·s, s from −1/2 to 1/2
    theta = direction + turn * s
    magnitude = speed * (1.0 + change * s)
    mean = np.stack([magnitude * np.sin(theta), magnitude * np.cos(theta)], axis=1)
    # G: rotation and shear without divergence (trace 0), |Δu| ≲ wind_shear across the domain
    scale = config.wind_shear_kmh * to_px / config.size
    a, b, c = rng.uniform(-1.0, 1.0, size=3) * scale
    gradient = np.array([[a, b + c], [b - c, -a]])
    return _Wind(mean=mean, gradient=gradient, centre=config.size / 2.0)


def _trajectory_maps(wind: _Wind, config: RadarConfig) -> tuple[np.ndarray, np.ndarray]:
    """Affine maps X_t(x) = A_t x + b_t from pixel position at frame t to position at frame 0.

    One step back is the midpoint rule φ_s(x) = x − u(x − u(x, s)/2, s); with an affine wind it
    is affine, found by tracing three points (the origin and the two unit vectors).  The maps
    compose as X_t = X_{t−1} ∘ φ_t.  Returns A (T, 2, 2) and b (T, 2); X_0 is the identity.
    """
    T = config.num_frames
    basis = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    A = np.empty((T, 2, 2))
    b = np.empty((T, 2))
    A[0], b[0] = np.eye(2), 0.0
    for s in range(1, T):
        half = basis - 0.5 * wind(basis, s)
        image = basis - wind(half, s)
        step_b = image[0]
        step_A = (image[1:] - step_b).T  # columns: images of the unit vectors, minus the origin's
        # X_s(x) = A_{s−1}(A_φ x + b_φ) + b_{s−1}
        A[s] = A[s - 1] @ step_A
        b[s] = A[s - 1] @ step_b + b[s - 1]
    return A, b


def _material_coordinates(A: np.ndarray, b: np.ndarray, config: RadarConfig) -> np.ndarray:
    """(T, P, 2): for every frame and pixel (row-major), where that air was at frame 0."""
    n = config.size
    yy, xx = np.meshgrid(np.arange(n, dtype=np.float64), np.arange(n, dtype=np.float64), indexing="ij")
    y, x = yy.ravel()[None, :], xx.ravel()[None, :]
    # X_t = A_t (y, x) + b_t
    coords = np.empty((A.shape[0], n * n, 2))
    coords[..., 0] = A[:, 0, 0, None] * y + A[:, 0, 1, None] * x + b[:, 0, None]
    coords[..., 1] = A[:, 1, 0, None] * y + A[:, 1, 1, None] * x + b[:, 1, None]
    return coords


# ---------------------------------------------------------------------------------------------
# evolving power-law noise
# ---------------------------------------------------------------------------------------------


def _power_law_filter(kk: np.ndarray, exponent: float, m: int) -> np.ndarray:
    """Amplitude |k|^(−β/2) (power ∝ |k|^(−β)), no mean, scaled so that the field has unit variance."""
    amplitude = kk ** (-exponent / 2.0)
    amplitude[0, 0] = 0.0
    # a field ifft2(a·W) with W the transform of white noise of variance 1/m² has variance Σa²/m⁴
    return amplitude * (m * m / math.sqrt(float(np.sum(amplitude**2))))


@lru_cache(maxsize=8)
def _spectral_filters(config: RadarConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rain filter + texture filter)/2, (rain − texture)/2 and the wavelength (km) per wavenumber."""
    m = config.material_size
    k = np.fft.fftfreq(m) * m
    kk = np.hypot(k[:, None], k[None, :])
    kk[0, 0] = 1.0
    rain = _power_law_filter(kk, config.spectral_exponent, m)
    texture = _power_law_filter(kk, config.texture_exponent, m)
    return 0.5 * (rain + texture), 0.5 * (rain - texture), m * config.pixel_km / kk


def _noise_frames(rng: np.random.Generator, config: RadarConfig, lifetime_scale: float) -> Iterator[np.ndarray]:
    """Yield, frame by frame, two independent unit-variance power-law fields on a periodic grid as
    the real and imaginary parts of one complex array (M, M).

    The real part (rain) has spectral exponent ``spectral_exponent``, the imaginary part (core
    texture) ``texture_exponent``.  Per scale, S_t(k) = ρ(k) S_{t−1}(k) + √(1 − ρ²) a(k) W_t(k)
    with ρ(k) = exp(−Δt / τ(L)) and L = M·Δx/|k| the wavelength: an AR(1) process per scale.
    """
    m = config.material_size
    plus, minus, wavelength_km = _spectral_filters(config)
    # τ(L) = τ16 · (L / 16 km)^α, ρ = exp(−Δt/τ)
    tau = lifetime_scale * config.lifetime_min_at_16km * (wavelength_km / 16.0) ** config.lifetime_exponent
    rho = np.exp(-config.frame_minutes / tau)
    innovation = np.sqrt(1.0 - rho**2)
    state = np.zeros((m, m), dtype=np.complex128)
    for t in range(config.num_frames):
        # complex white noise E_t(k) = W1 + i·W2 (the transforms of two real white fields) drawn
        # directly in Fourier space: real and imaginary parts uniform on [−√3, √3] (unit variance;
        # uniform draws are 4× cheaper than normal ones, and each pixel sums 16 384 of them)
        white = rng.random((m, m, 2)).view(np.complex128)[..., 0]
        white -= 0.5 + 0.5j
        white *= 2.0 * math.sqrt(3.0)
        # E*(−k): index −k mod m, conjugated
        mirrored = np.empty_like(white)
        mirrored[0, 0] = white[0, 0]
        mirrored[0, 1:] = white[0, :0:-1]
        mirrored[1:, 0] = white[:0:-1, 0]
        mirrored[1:, 1:] = white[:0:-1, :0:-1]
        np.conjugate(mirrored, out=mirrored)
        # W1 = (E + E*(−k))/2, W2 = (E − E*(−k))/(2i), so a1·W1 + i·a2·W2 = (a1+a2)/2·E + (a1−a2)/2·E*(−k)
        drive = plus * white + minus * mirrored
        # S_0 = a·W_0, then S_t = ρ S_{t−1} + √(1−ρ²)·a·W_t
        state = drive if t == 0 else rho * state + innovation * drive
        yield scipy.fft.ifft2(state)


def _sample_wrap(
    field: np.ndarray, coords: np.ndarray, shifts: tuple[tuple[int, int], ...] = ((0, 0),)
) -> list[np.ndarray]:
    """Bilinear samples of a periodic complex field (M, M) at coords (P, 2), once per whole-pixel
    shift (a shift by half a period samples a nearly independent field).  The first shift gives
    complex values (P,), the others the real part only (P,)."""
    m = field.shape[0]
    y0, x0 = np.floor(coords[:, 0]), np.floor(coords[:, 1])
    fy, fx = coords[:, 0] - y0, coords[:, 1] - x0
    iy, ix = y0.astype(np.int64), x0.astype(np.int64)
    complex_flat = field.reshape(-1)
    # the complex field as (re, im) float pairs: element c has its real part at 2c
    real_flat = field.view(np.float64).reshape(-1)
    out = []
    for k, (sy, sx) in enumerate(shifts):
        row0, row1 = ((iy + sy) % m) * m, ((iy + sy + 1) % m) * m
        j0, j1 = (ix + sx) % m, (ix + sx + 1) % m
        corners = (row0 + j0, row0 + j1, row1 + j0, row1 + j1)
        if k == 0:
            v00, v01, v10, v11 = (complex_flat[c] for c in corners)
        else:
            v00, v01, v10, v11 = (real_flat[2 * c] for c in corners)
        # f = (1−fy)·[(1−fx)·v00 + fx·v01] + fy·[(1−fx)·v10 + fx·v11]
        top = v00 + fx * (v01 - v00)
        bottom = v10 + fx * (v11 - v10)
        out.append(top + fy * (bottom - top))
    return out


def _warp(fields: tuple[np.ndarray, ...], dy: np.ndarray, dx: np.ndarray) -> list[np.ndarray]:
    """Resample fields (H, W) at (y + dy, x + dx) bilinearly, clamped at the frame edges."""
    n = fields[0].shape[0]
    axis = np.arange(n, dtype=np.float64)
    y = np.clip(axis[:, None] + dy, 0.0, n - 1.0)
    x = np.clip(axis[None, :] + dx, 0.0, n - 1.0)
    i0 = np.minimum(y.astype(np.int64), n - 2)
    j0 = np.minimum(x.astype(np.int64), n - 2)
    fy, fx = y - i0, x - j0
    index = i0 * n + j0
    out = []
    for field in fields:
        flat = field.reshape(-1)
        v00, v01, v10, v11 = flat[index], flat[index + 1], flat[index + n], flat[index + n + 1]
        top = v00 + fx * (v01 - v00)
        bottom = v10 + fx * (v11 - v10)
        out.append(top + fy * (bottom - top))
    return out


# ---------------------------------------------------------------------------------------------
# convective cells
# ---------------------------------------------------------------------------------------------


@dataclass
class _Cells:
    """Parameters of the convective cells of one sequence, one row per cell."""

    anchor: np.ndarray  # (K, 2) material position at the hinge time
    hinge: np.ndarray  # (K,) frame of the split/merge point (or peak time)
    drift: np.ndarray  # (K, 2) px/frame relative to the wind
    mode: np.ndarray  # (K,) 0 drift always, 1 drift after the hinge (split), 2 before (merge)
    peak_time: np.ndarray  # (K,)
    peak_dbz: np.ndarray  # (K,)
    sigma: np.ndarray  # (K,) px
    growth: np.ndarray  # (K,) frames
    decay: np.ndarray  # (K,) frames
    skirt_db: np.ndarray  # (K,)


def _draw_cells(rng: np.random.Generator, config: RadarConfig, wind: _Wind, maps: tuple, activity: float) -> _Cells:
    """Storms (clusters of 1–5 cores with staggered life cycles), some cores in split/merge pairs."""
    n, T = config.size, config.num_frames
    per_frame = config.frame_minutes
    to_px = config.kmh_per_px_per_frame
    storms = int(rng.poisson(config.mean_storms * activity))
    anchor_px = rng.uniform(-0.1 * n, 1.1 * n, size=(storms, 2))
    if storms >= 3 and rng.random() < config.squall_line_probability:
        # storms along a line across the wind through a random point of the domain
        centre = rng.uniform(0.25 * n, 0.75 * n, size=2)
        u = wind.mean[T // 2]
        across = np.array([-u[1], u[0]]) / max(float(np.hypot(*u)), 1e-9)
        offsets = rng.uniform(-0.6 * n, 0.6 * n, size=storms)
        anchor_px = centre + offsets[:, None] * across + rng.normal(0.0, 0.04 * n, size=(storms, 2))
    storm_time = rng.uniform(-4.0, T + 3.0, size=storms)
    storm_dbz = rng.uniform(*config.cell_peak_dbz, size=storms) - rng.uniform(0.0, 8.0) * (1.0 - activity)
    storm_sigma = rng.uniform(*config.cell_sigma_km, size=storms) / config.pixel_km
    storm_drift = rng.normal(0.0, config.cell_drift_kmh / to_px / 2.0, size=(storms, 2))
    # multicell storms: 1 + Poisson(2·activity) cores (at most 5) around the storm centre, each
    # smaller and weaker than the storm's envelope, peaking at staggered times
    cores = np.minimum(1 + rng.poisson(2.0 * activity, size=storms), 5)
    owner = np.repeat(np.arange(storms), cores)
    count = len(owner)
    first = np.ones(count, dtype=bool)
    first[1:] = owner[1:] != owner[:-1]
    sigma = storm_sigma[owner] * np.where(first, 1.0, rng.uniform(0.45, 0.9, size=count))
    anchor_px = (
        anchor_px[owner]
        + np.where(first[:, None], 0.0, rng.normal(0.0, 1.2, size=(count, 2))) * storm_sigma[owner, None]
    )
    peak_dbz = storm_dbz[owner] - np.where(first, 0.0, rng.uniform(0.0, 6.0, size=count))
    peak_time = storm_time[owner] + np.where(first, 0.0, rng.uniform(-4.0, 4.0, size=count))
    growth = rng.uniform(*config.cell_growth_min, size=count) / per_frame
    decay = rng.uniform(*config.cell_decay_min, size=count) / per_frame
    drift = storm_drift[owner] + rng.normal(0.0, 0.1, size=(count, 2))
    # the storm's stratiform skirt rides on its first core
    skirt = np.where(first, rng.uniform(6.0, 14.0, size=storms)[owner], 0.0)
    mode = np.zeros(count, dtype=np.int64)
    hinge = peak_time.copy()
    # split and merge pairs: a second core at the same point at the hinge time, drifting apart
    # after it (split) or converging before it (merge)
    paired = np.flatnonzero(rng.random(count) < config.split_merge_fraction)
    extra = len(paired)
    if extra:
        mode[paired] = rng.integers(1, 3, size=extra)
        hinge[paired] = peak_time[paired] + rng.uniform(-3.0, 3.0, size=extra)
        separation = rng.uniform(10.0, 20.0, size=extra) / to_px / 2.0
        angle = rng.uniform(0.0, 2.0 * math.pi, size=extra)
        push = separation[:, None] * np.stack([np.sin(angle), np.cos(angle)], axis=1)
        drift_twin = drift[paired] - push
        drift[paired] = drift[paired] + push

        def twin(a: np.ndarray, jitter: float = 0.0) -> np.ndarray:
            return np.concatenate([a, a[paired] * (1.0 + jitter * rng.uniform(-1, 1, size=extra))])

        anchor_px = np.concatenate([anchor_px, anchor_px[paired]])
        drift = np.concatenate([drift, drift_twin])
        mode, hinge = twin(mode), twin(hinge)
        peak_time = np.concatenate([peak_time, peak_time[paired] + rng.uniform(-2.0, 2.0, size=extra)])
        peak_dbz = np.concatenate([peak_dbz, peak_dbz[paired] - rng.uniform(0.0, 4.0, size=extra)])
        sigma, growth, decay, skirt = twin(sigma, 0.2), twin(growth, 0.2), twin(decay, 0.2), twin(skirt)
    # anchor: the drawn pixel position at the hinge frame, in material coordinates X_h(x) = A_h x + b_h
    A, b = maps
    hinge = np.clip(np.round(hinge), 0, T - 1)
    h = hinge.astype(np.int64)
    anchor = np.einsum("kij,kj->ki", A[h], anchor_px) + b[h]
    return _Cells(anchor, hinge, drift, mode, peak_time, peak_dbz, sigma, growth, decay, skirt)


def _cell_frame(cells: _Cells, maps: tuple, t: int, config: RadarConfig) -> tuple[np.ndarray, np.ndarray]:
    """Linear core reflectivity Z (H, W) and skirt enhancement in dB (H, W) of all cells at frame t.

    A cell moves with the air (plus its own drift) but keeps a round shape on the pixel grid, so
    its Gaussian factorises into a row profile times a column profile.
    """
    A, b = maps
    n = config.size
    core = np.zeros((n, n))
    skirt = np.zeros((n, n))
    dt = t - cells.peak_time
    # life cycle: peak dBZ(t) = P − 10·log10(e)·(t − t_peak)² / (2τ²), τ = growth before, decay after
    tau = np.where(dt < 0, cells.growth, cells.decay)
    envelope = np.exp(-0.5 * (dt / tau) ** 2)
    alive = np.flatnonzero(envelope > 0.02)
    if alive.size == 0:
        return core, skirt
    env = envelope[alive]
    since = t - cells.hinge[alive]
    lag = np.where(cells.mode[alive] == 1, np.maximum(since, 0.0), since)
    lag = np.where(cells.mode[alive] == 2, np.minimum(since, 0.0), lag)
    material = cells.anchor[alive] + cells.drift[alive] * lag[:, None]
    # pixel position of the centre at frame t: x = A_t⁻¹ (ξ − b_t)
    centre = np.linalg.solve(A[t], (material - b[t]).T).T
    # cores grow with intensity: σ(t) = σ·(0.55 + 0.45·envelope)
    sigma = cells.sigma[alive] * (0.55 + 0.45 * env)
    axis = np.arange(n, dtype=np.float64)
    ry2 = ((axis[None, :] - centre[:, :1]) / sigma[:, None]) ** 2  # (K, H): ((y − c_y)/σ)²
    rx2 = ((axis[None, :] - centre[:, 1:]) / sigma[:, None]) ** 2  # (K, W)
    # Z_i = 10^(peak_i(t)/10) · exp(−(y − c_y)²/(2σ²)) · exp(−(x − c_x)²/(2σ²)), summed over cells
    peak_db = cells.peak_dbz[alive] + 10.0 * np.log10(env)
    gy = np.exp(_LN10_OVER_10 * peak_db[:, None] - 0.5 * ry2)
    gx = np.exp(-0.5 * rx2)
    core = gy.T @ gx
    # skirt: +S dB · envelope · (1 − (d/7σ)²)² inside 7σ, the stratiform region around a storm
    has = np.flatnonzero(cells.skirt_db[alive] > 0)
    if has.size:
        bump = np.clip(1.0 - (ry2[has, :, None] + rx2[has, None, :]) / 49.0, 0.0, None)
        skirt = np.max((cells.skirt_db[alive][has] * env[has])[:, None, None] * (bump * bump), axis=0)
    return core, skirt


# ---------------------------------------------------------------------------------------------
# the generator
# ---------------------------------------------------------------------------------------------


def _dbz_sequence(rng: np.random.Generator, config: RadarConfig) -> np.ndarray:
    """One sequence of reflectivity in dBZ (T, H, W), no-echo pixels at −10 dBZ."""
    n, T = config.size, config.num_frames
    activity = float(rng.beta(1.3, 1.3))
    strat_mean = rng.uniform(-2.0, 22.0)
    strat_std = rng.uniform(7.0, 12.0)
    lifetime_scale = rng.uniform(0.7, 1.4)
    wind = _draw_wind(rng, config)
    maps = _trajectory_maps(wind, config)
    coords = _material_coordinates(*maps, config)
    cells = _draw_cells(rng, config, wind, maps, activity)
    half = config.material_size // 2
    warp = config.cell_warp_km / config.pixel_km
    dbz = np.empty((T, n, n))
    for t, noise in enumerate(_noise_frames(rng, config, lifetime_scale)):
        # advection: frame t samples the evolving noise where its air was at frame 0
        # (two more samples of the rain field, half a period away, displace the cells' shapes)
        here, there_y, there_x = _sample_wrap(noise, coords[t], ((0, 0), (half, 0), (0, half)))
        base, texture = here.real.reshape(n, n), here.imag.reshape(n, n)
        warp_y, warp_x = there_y.reshape(n, n), there_x.reshape(n, n)
        core, skirt = _cell_frame(cells, maps, t, config)
        # irregular storms: sample cores and skirts at x + w(x), |w| ≈ warp_km, smooth in space and time
        core, skirt = _warp((core, skirt), warp * warp_y, warp * warp_x)
        # stratiform dBZ = μ + s·N + skirt·(0.7 + 0.3·N);  Z = 10^(dBZ_strat/10) + Σ Z_i · 10^(5·N_texture/10)
        strat_dbz = strat_mean + strat_std * base + skirt * (0.7 + 0.3 * base)
        z = np.exp(_LN10_OVER_10 * strat_dbz) + core * np.exp(_LN10_OVER_10 * 5.0 * texture)
        dbz[t] = 10.0 * np.log10(z)
    # below the echo threshold: no echo (pixel 0, −10 dBZ)
    return np.where(dbz >= config.echo_threshold_dbz, dbz, -10.0)


def radar_sequence(rng: np.random.Generator, config: RadarConfig | None = None) -> np.ndarray:
    """One synthetic radar echo sequence as uint8 HKO-7 pixels (T, H, W): p·255, dBZ = 70·p − 10.

    Lesson 9 ("Precipitation nowcasting and Table 8") generates and animates sequences with it.
    """
    config = config or RadarConfig()
    dbz = _dbz_sequence(rng, config)
    # p = (dBZ + 10)/70 clipped to [0, 1], stored as round(255·p)
    pixel = np.clip(dbz_to_pixel(dbz), 0.0, 1.0)
    return np.floor(pixel * 255.0 + 0.5).astype(np.uint8)


def generate_radar(
    num_sequences: int,
    split: str = "test",
    *,
    start: int = 0,
    seed: int | None = None,
    config: RadarConfig | None = None,
) -> np.ndarray:
    """Sequences ``start .. start + num_sequences − 1`` of a radar split, uint8 (N, T, H, W).

    Sequence ``i`` uses ``np.random.default_rng([seed, i])`` with ``seed`` the split's documented
    seed (:data:`RADAR_SEEDS`) unless given; the same arguments give byte-identical arrays.
    Lesson 9 ("Precipitation nowcasting and Table 8") and :class:`stlearn.data.RadarEchoes` use it.
    """
    where = "generate_radar"
    num_sequences = check_int(where, "num_sequences", num_sequences, 0)
    start = check_int(where, "start", start, 0)
    if split not in RADAR_SEEDS:
        raise ValueError(f"{where}: 'split' must be one of {tuple(RADAR_SEEDS)}, got {split!r}")
    seed = RADAR_SEEDS[split] if seed is None else check_int(where, "seed", seed, 0)
    config = config or RadarConfig()
    out = np.empty((num_sequences, config.num_frames, config.size, config.size), dtype=np.uint8)
    for i in range(num_sequences):
        out[i] = radar_sequence(np.random.default_rng([seed, start + i]), config)
    return out
