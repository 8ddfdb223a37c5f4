"""Figures of the data sets: example sequences and the radar realism panel (lessons 1 and 9).

Only matplotlib; every function returns the :class:`matplotlib.figure.Figure` (a notebook shows
it, :mod:`stlearn.data.make` saves it under ``data/``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_radar_realism", "plot_sequences", "radar_colormap"]

# Reflectivity colours in 5 dBZ steps from 10 to 60+ dBZ, the scheme weather services use for
# radar (light blues for drizzle, greens for moderate rain, yellow-red for heavy, magenta for hail).
_DBZ_LEVELS = (10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60)
_DBZ_COLOURS = (
    "#9be7f5",
    "#3fa0f0",
    "#1c4fe0",
    "#2fd34a",
    "#10a030",
    "#0a6a1e",
    "#f5e92a",
    "#f0b000",
    "#f06a00",
    "#e01010",
    "#b0008a",
)


def radar_colormap() -> tuple[Any, Any]:
    """(cmap, norm) for reflectivity in dBZ: white below 10 dBZ, then one colour per 5 dBZ.

    Use as ``ax.imshow(dbz, cmap=cmap, norm=norm)``.  Lesson 9 ("Precipitation nowcasting and
    Table 8") draws every radar frame with it.
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap

    cmap = ListedColormap(list(_DBZ_COLOURS)).with_extremes(under="white", over=_DBZ_COLOURS[-1])
    norm = BoundaryNorm([*_DBZ_LEVELS, 70], cmap.N)
    return cmap, norm


def plot_sequences(
    frames: np.ndarray,
    *,
    radar: bool = False,
    input_frames: int = 10,
    every: int = 1,
    title: str | None = None,
    cell_inches: float = 0.75,
) -> Any:
    """Grid of sequences: one row per sequence, inputs then targets (a gap and a label between).

    Args:
        frames: uint8 (N, T, H, W) pixels or float (N, T, H, W) in [0, 1].
        radar: draw pixels as dBZ (70·p − 10) with :func:`radar_colormap` and a colour bar;
            otherwise grey levels.
        input_frames: how many leading frames are inputs (the rest are targets).
        every: show every ``every``-th frame.
        title: figure title.

    Lesson 1 ("Spatiotemporal data") shows moving digits and radar echoes with it.
    """
    import matplotlib.pyplot as plt

    data = np.asarray(frames)
    pixels = data.astype(np.float64) / 255.0 if data.dtype == np.uint8 else data.astype(np.float64)
    if pixels.ndim != 4:
        raise ValueError(f"plot_sequences: 'frames' must be (N, T, H, W), got shape {pixels.shape}")
    n, T = pixels.shape[:2]
    shown = list(range(0, T, every))
    cols = len(shown)
    fig, axes = plt.subplots(
        n, cols, figsize=(cols * cell_inches + (1.0 if radar else 0.3), n * cell_inches + 0.5), squeeze=False
    )
    cmap, norm = radar_colormap() if radar else ("gray", None)
    image = None
    for r in range(n):
        for c, t in enumerate(shown):
            ax = axes[r, c]
            if radar:
                image = ax.imshow(pixels[r, t] * 70.0 - 10.0, cmap=cmap, norm=norm, interpolation="nearest")
            else:
                image = ax.imshow(pixels[r, t], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            colour = "#1f4e9c" if t < input_frames else "#b0301c"
            for spine in ax.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(1.5)
            if r == 0:
                ax.set_title(f"{'in' if t < input_frames else 'out'} {t + 1}", fontsize=7, color=colour)
    fig.subplots_adjust(left=0.01, right=0.88 if radar else 0.99, top=0.9 if title else 0.95, bottom=0.01,
                        wspace=0.05, hspace=0.05)
    if radar and image is not None:
        bar = fig.add_axes((0.9, 0.1, 0.02, 0.75))
        fig.colorbar(image, cax=bar, label="dBZ", extend="min")
        bar.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def plot_radar_realism(stats: dict[str, Any], examples: np.ndarray | None = None) -> Any:
    """Four panels from :func:`stlearn.data.radar_realism_stats`: dBZ histogram, exceedance
    fractions, power spectrum with its fitted slope, motion speeds.

    Lesson 9 ("Precipitation nowcasting and Table 8") shows what makes the synthetic echoes radar-like.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4))
    # 1: histogram of echo dBZ
    edges, counts = np.asarray(stats["hist_edges"]), np.asarray(stats["hist_counts"], dtype=np.float64)
    ax = axes[0]
    ax.bar(edges[:-1], counts / counts.sum(), width=np.diff(edges), align="edge", color="#3b78c2")
    ax.set_yscale("log")
    ax.set_xlabel("reflectivity (dBZ), echoes ≥ 10 dBZ")
    ax.set_ylabel("fraction of echo pixels")
    ax.set_title("dBZ histogram", fontsize=9)
    for thr in (30, 40, 50):
        ax.axvline(thr, color="#b0301c", lw=0.8, ls="--")
    # 2: exceedance fraction per threshold
    ax = axes[1]
    thresholds = [float(t) for t in stats["thresholds"]]
    # keys are floats, or strings after a JSON round trip
    at_or_above = {float(k): v for k, v in stats["fraction_at_or_above"].items()}
    with_any = {float(k): v for k, v in stats["sequences_with_any"].items()}
    pixel_frac = [100.0 * at_or_above[t] for t in thresholds]
    seq_frac = [100.0 * with_any[t] for t in thresholds]
    x = np.arange(len(thresholds))
    ax.bar(x - 0.2, pixel_frac, width=0.4, label="% of pixels", color="#3b78c2")
    ax2 = ax.twinx()
    ax2.bar(x + 0.2, seq_frac, width=0.4, label="% of sequences reaching it", color="#e0a030")
    ax.set_xticks(x, [f"≥{t:g}" for t in thresholds])
    ax.set_xlabel("threshold (dBZ)")
    ax.set_yscale("log")
    ax.set_ylim(min(pixel_frac) / 2.0, max(pixel_frac) * 3.0)
    ax.set_ylabel("% of pixels", color="#3b78c2")
    ax2.set_ylabel("% sequences reaching it", color="#b07010")
    ax2.set_ylim(0, 105)
    for xi, v in zip(x, pixel_frac, strict=True):
        ax.text(xi - 0.2, v * 1.1, f"{v:.2g}", ha="center", fontsize=7)
    ax.set_title("pixels at or above a threshold", fontsize=9)
    # 3: radially averaged power spectrum
    ax = axes[2]
    k, power = np.asarray(stats["spectrum_wavenumber"]), np.asarray(stats["spectrum_power"])
    wavelength = np.asarray(stats["spectrum_wavelength_km"])
    ax.loglog(wavelength, power, "o-", ms=2.5, color="#3b78c2", label="mean spectrum")
    fit_lo, fit_hi = stats["spectrum_fit_km"]
    sel = (wavelength >= fit_lo) & (wavelength <= fit_hi)
    slope, intercept = stats["spectrum_slope"], stats["spectrum_intercept"]
    ax.loglog(wavelength[sel], np.exp(intercept) * k[sel] ** slope, "--", color="#b0301c",
              label=f"fit: P ∝ k^{slope:.2f}")
    ax.invert_xaxis()
    ax.set_xlabel("wavelength (km)")
    ax.set_ylabel("power (dBZ² per mode)")
    ax.legend(fontsize=7)
    ax.set_title("power spectrum of dBZ fields", fontsize=9)
    # 4: motion speeds
    ax = axes[3]
    speeds = np.asarray(stats["speeds_kmh"], dtype=np.float64)  # JSON null → NaN
    ax.hist(speeds[np.isfinite(speeds)], bins=np.arange(0, 105, 5), color="#3b78c2")
    ax.set_xlabel("echo speed (km/h)")
    ax.set_ylabel("sequences")
    ax.set_title(f"echo motion (phase correlation)\nmedian {np.nanmedian(speeds):.0f} km/h", fontsize=9)
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.17, top=0.86, wspace=0.62)
    return fig
