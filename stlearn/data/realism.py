r"""Realism checks of radar echo sequences: dBZ histogram, exceedance, spectrum, motion (lesson 9).

:func:`radar_realism_stats` measures, on any uint8 HKO-7 sequences (synthetic or real):

* the histogram of echo reflectivities and the fraction of pixels at or above 10/20/30/40/50 dBZ
  (CSI at a threshold is only meaningful if the threshold is reached often enough), and the
  fraction of sequences that reach each threshold somewhere;
* the radially averaged power spectrum of the dBZ fields and its log–log slope: radar rain
  fields show power-law spectra :math:`P(k) \propto k^{-\beta}` over the mesoscale;
* the motion of the echoes, estimated from the data alone by phase correlation of consecutive
  frames (one displacement per sequence), as speeds in km/h.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..reflectivity import pixel_to_dbz

__all__ = ["echo_motion", "power_spectrum", "radar_realism_stats"]


def power_spectrum(dbz: np.ndarray, floor_dbz: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum of dBZ frames (…, H, W), averaged over all frames.

    No-echo pixels are set to ``floor_dbz`` (so the rain/no-rain edge is not a −10 → 10 dBZ
    jump), each frame's mean is removed and a Hann window tapers the edges before the FFT.
    Returns integer wavenumbers k = 1 … H/2 (cycles per frame) and the mean power per
    Fourier mode in each ring k − ½ ≤ |k| < k + ½.  Lesson 9.
    """
    h, w = dbz.shape[-2:]
    frames = np.maximum(dbz.reshape(-1, h, w), floor_dbz)
    frames = frames - frames.mean(axis=(1, 2), keepdims=True)
    window = np.hanning(h)[:, None] * np.hanning(w)[None, :]
    power = np.abs(np.fft.fft2(frames * window)) ** 2
    power = power.mean(axis=0)
    ky = np.fft.fftfreq(h) * h
    kx = np.fft.fftfreq(w) * w
    radius = np.rint(np.hypot(ky[:, None], kx[None, :])).astype(np.int64)
    k = np.arange(1, min(h, w) // 2 + 1)
    # mean power per mode in ring k: Σ_{|k'|≈k} P(k') / #modes
    sums = np.bincount(radius.ravel(), weights=power.ravel())
    counts = np.bincount(radius.ravel())
    return k, sums[k] / counts[k]


def _parabola_vertex(before: float, centre: float, after: float) -> float:
    """Offset of the vertex of the parabola through (−1, before), (0, centre), (1, after)."""
    denom = before - 2.0 * centre + after
    return 0.5 * (before - after) / denom if denom != 0 else 0.0


def echo_motion(dbz: np.ndarray, floor_dbz: float = 10.0, min_echo: float = 0.02) -> np.ndarray:
    """Displacement of the echoes of each sequence (N, T, H, W) in pixels per frame, (N, 2) = (dy, dx).

    Phase correlation: the normalised cross-power spectra of all consecutive frame pairs of a
    sequence are averaged, transformed back, and the peak (refined to sub-pixel by a parabola
    through its neighbours) is the displacement.  Sequences with less than ``min_echo`` echo
    coverage give NaN.  Lesson 9 compares the result with typical storm speeds.
    """
    n, _, h, w = dbz.shape
    window = np.hanning(h)[:, None] * np.hanning(w)[None, :]
    out = np.full((n, 2), np.nan)
    for i in range(n):
        seq = np.maximum(dbz[i], floor_dbz)
        if (seq > floor_dbz).mean() < min_echo:
            continue
        spectra = np.fft.fft2((seq - seq.mean(axis=(1, 2), keepdims=True)) * window)
        # R = F_{t+1} · conj(F_t) / |F_{t+1} · conj(F_t)|: its inverse peaks at the shift t → t+1
        cross = spectra[1:] * np.conj(spectra[:-1])
        cross /= np.maximum(np.abs(cross), 1e-12)
        surface = np.real(np.fft.ifft2(cross.mean(axis=0)))
        py, px = np.unravel_index(np.argmax(surface), surface.shape)
        dy = py + _parabola_vertex(surface[(py - 1) % h, px], surface[py, px], surface[(py + 1) % h, px])
        dx = px + _parabola_vertex(surface[py, (px - 1) % w], surface[py, px], surface[py, (px + 1) % w])
        # peaks beyond half the frame are negative shifts
        out[i] = (dy - h if dy > h / 2 else dy, dx - w if dx > w / 2 else dx)
    return out


def radar_realism_stats(
    frames: np.ndarray,
    *,
    pixel_km: float = 2.0,
    frame_minutes: float = 6.0,
    thresholds: tuple[float, ...] = (10.0, 20.0, 30.0, 40.0, 50.0),
    spectrum_fit_km: tuple[float, float] = (8.0, 64.0),
    chunk: int = 100,
) -> dict[str, Any]:
    """Realism numbers of uint8 HKO-7 sequences (N, T, H, W), as a dict (JSON-friendly lists).

    Keys: ``fraction_at_or_above`` and ``sequences_with_any`` ({threshold: fraction}),
    ``echo_fraction`` (pixels with any echo, value > 0), ``hist_edges``/``hist_counts`` (echo dBZ, 2.5 dB bins),
    ``spectrum_wavenumber``/``spectrum_wavelength_km``/``spectrum_power`` and the fitted
    ``spectrum_slope`` (of log P against log k over wavelengths ``spectrum_fit_km``),
    ``speeds_kmh`` (one per sequence, NaN if too little echo) with ``speed_median_kmh`` and
    ``speed_p10_kmh``/``speed_p90_kmh``.  Works through ``chunk`` sequences at a time, so a
    whole split fits in memory.

    Lesson 9 ("Precipitation nowcasting and Table 8") shows these next to
    :func:`stlearn.data.figures.plot_radar_realism`.
    """
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4:
        raise ValueError(
            f"radar_realism_stats: 'frames' must be uint8 (N, T, H, W), got "
            f"{getattr(frames, 'dtype', type(frames).__name__)} {getattr(frames, 'shape', '')}"
        )
    n, t, h, w = frames.shape
    edges = np.arange(10.0, 62.6, 2.5)
    exceed = np.zeros(len(thresholds))
    any_seq = np.zeros(len(thresholds))
    hist = np.zeros(len(edges) - 1, dtype=np.int64)
    power_sum = None
    motion = []
    for start in range(0, n, chunk):
        # dBZ = 70·p − 10 with p = value/255
        dbz = pixel_to_dbz(frames[start : start + chunk].astype(np.float64) / 255.0)
        for j, thr in enumerate(thresholds):
            event = dbz >= thr - 1e-9
            exceed[j] += event.sum()
            any_seq[j] += event.any(axis=(1, 2, 3)).sum()
        hist += np.histogram(dbz[dbz >= 10.0 - 1e-9], bins=edges)[0]
        k, power = power_spectrum(dbz)
        power_sum = power * len(dbz) if power_sum is None else power_sum + power * len(dbz)
        motion.append(echo_motion(dbz))
    stats: dict[str, Any] = {"num_sequences": n, "num_frames": t, "frame_size": [h, w], "thresholds": list(thresholds)}
    stats["fraction_at_or_above"] = {thr: float(exceed[j] / frames.size) for j, thr in enumerate(thresholds)}
    stats["sequences_with_any"] = {thr: float(any_seq[j] / n) for j, thr in enumerate(thresholds)}
    stats["echo_fraction"] = float(np.count_nonzero(frames) / frames.size)  # any echo: pixel > 0
    stats["hist_edges"], stats["hist_counts"] = edges.tolist(), hist.tolist()
    power = power_sum / n
    wavelength = h * pixel_km / k
    fit = (wavelength >= spectrum_fit_km[0]) & (wavelength <= spectrum_fit_km[1])
    # log P = slope · log k + intercept over the fitted wavelengths
    slope, intercept = np.polyfit(np.log(k[fit]), np.log(power[fit]), 1)
    stats.update(
        spectrum_wavenumber=k.tolist(),
        spectrum_wavelength_km=wavelength.tolist(),
        spectrum_power=power.tolist(),
        spectrum_slope=float(slope),
        spectrum_intercept=float(intercept),
        spectrum_fit_km=list(spectrum_fit_km),
    )
    shifts = np.concatenate(motion)
    # speed (km/h) = |displacement| (px/frame) · pixel_km / (frame_minutes / 60)
    speeds = np.hypot(shifts[:, 0], shifts[:, 1]) * pixel_km / (frame_minutes / 60.0)
    stats["speeds_kmh"] = speeds.tolist()
    finite = speeds[np.isfinite(speeds)]
    stats["speed_median_kmh"] = float(np.median(finite)) if finite.size else float("nan")
    stats["speed_p10_kmh"] = float(np.quantile(finite, 0.1)) if finite.size else float("nan")
    stats["speed_p90_kmh"] = float(np.quantile(finite, 0.9)) if finite.size else float("nan")
    return stats
