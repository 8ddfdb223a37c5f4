"""Frames as pictures: strips of inputs | ground truth | prediction, patch channels.

Animations are :class:`stlearn.widgets.FrameViewer` with ``play=True`` (a play button on the time
slider, which works offline in JupyterLab).

Taught with lesson 1 ("Spatiotemporal data"); the strips return in lessons 3-10 and the dBZ colour
map in lesson 9.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..data.figures import radar_colormap

__all__ = ["as_pixels", "dbz", "frame_strip", "patch_channels_figure", "radar_colormap"]


def as_pixels(frames: Any) -> np.ndarray:
    """Frames as float64 pixels in [0, 1] with the channel axis dropped: (..., H, W).

    Accepts uint8 (0-255) or float arrays/tensors, with or without a channel axis of size 1 before
    (H, W). Lesson 1 uses it to go from the model's (B, T, C, H, W) tensors back to pictures.
    """
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().numpy()
    a = np.asarray(frames)
    a = a.astype(np.float64) / 255.0 if a.dtype == np.uint8 else a.astype(np.float64)
    if a.ndim >= 3 and a.shape[-3] == 1:
        a = a[..., 0, :, :]
    return a


def dbz(pixels: Any) -> np.ndarray:
    """Radar pixels p in [0, 1] → reflectivity in dBZ: dBZ = 70·p − 10 (HKO-7 convention). Lesson 1 and lesson 9."""
    return as_pixels(pixels) * 70.0 - 10.0


def _imshow(ax: Any, img: np.ndarray, radar: bool) -> Any:
    if radar:
        cmap, norm = radar_colormap()
        out = ax.imshow(img * 70.0 - 10.0, cmap=cmap, norm=norm, interpolation="nearest")
    else:
        out = ax.imshow(img, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    return out


def frame_strip(
    inputs: Any,
    targets: Any | None = None,
    predictions: Any | None = None,
    *,
    radar: bool = False,
    every: int = 1,
    title: str | None = None,
    cell_inches: float = 0.8,
) -> Any:
    """One sequence as rows: inputs | ground truth | prediction (with per-frame MSE in the titles).

    Args:
        inputs: (T_in, [1,] H, W) frames, uint8 or float in [0, 1].
        targets: (T_out, [1,] H, W) ground-truth future frames, or None.
        predictions: (T_out, [1,] H, W) predicted frames, or None; needs ``targets`` for the errors.
        radar: draw in dBZ with :func:`radar_colormap` (lesson 9).
        every: show every ``every``-th frame.
        title: figure title.

    Returns:
        The :class:`matplotlib.figure.Figure`.

    Lesson 1 shows inputs and targets; lessons 3-10 add the model's prediction.
    """
    import matplotlib.pyplot as plt

    rows = [("input", as_pixels(inputs))]
    if targets is not None:
        rows.append(("ground truth", as_pixels(targets)))
    if predictions is not None:
        if targets is None:
            raise ValueError("frame_strip: 'predictions' needs 'targets' to show the per-frame error")
        rows.append(("prediction", np.clip(as_pixels(predictions), 0.0, 1.0)))
        if rows[-1][1].shape != rows[-2][1].shape:
            raise ValueError(
                f"frame_strip: 'predictions' {rows[-1][1].shape} and 'targets' {rows[-2][1].shape} differ in shape"
            )
    for name, a in rows:
        if a.ndim != 3:
            raise ValueError(f"frame_strip: '{name}' frames must be (T, H, W) or (T, 1, H, W), got {a.shape}")
    cols = max(len(range(0, len(a), every)) for _, a in rows)
    fig, axes = plt.subplots(
        len(rows), cols, figsize=(cols * cell_inches + 1.2, len(rows) * (cell_inches + 0.25) + 0.4), squeeze=False
    )
    t_in = len(rows[0][1])
    image = None
    for r, (name, a) in enumerate(rows):
        shown = list(range(0, len(a), every))
        for c in range(cols):
            ax = axes[r, c]
            if c >= len(shown):
                ax.axis("off")
                continue
            t = shown[c]
            image = _imshow(ax, a[t], radar)
            offset = 0 if name == "input" else t_in
            label = f"t={offset + t}"
            if name == "prediction":
                mse = float(((a[t] - rows[1][1][t]) ** 2).sum())  # per-frame MSE: sum over the H×W pixels
                label = f"MSE {mse:.1f}"
            ax.set_title(label, fontsize=7)
        axes[r, 0].set_ylabel(name, fontsize=8)
    right = 0.91 if radar else 0.99
    fig.subplots_adjust(left=0.06, right=right, top=0.86 if title else 0.92, bottom=0.02, wspace=0.06, hspace=0.35)
    if radar and image is not None:
        bar = fig.add_axes((0.93, 0.08, 0.012, 0.72))
        fig.colorbar(image, cax=bar, label="dBZ", extend="min")
        bar.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def patch_channels_figure(frame: Any, patch_size: int = 4) -> Any:
    """One frame beside its p·p patch channels (space-to-depth, PredRNN's channel order).

    Channel k = dy·p + dx holds pixel (p·Y + dy, p·X + dx) of the frame at grid cell (Y, X), as
    :func:`stlearn.models.patching.patch_frames` computes it. Lesson 1, section "Patching".
    """
    import matplotlib.pyplot as plt

    from ..models.patching import patch_frames

    img = as_pixels(frame)
    if img.ndim != 2:
        raise ValueError(f"patch_channels_figure: 'frame' must be (H, W) or (1, H, W), got {img.shape}")
    p = int(patch_size)
    patched = patch_frames(torch.from_numpy(img)[None, None, None], p)[0, 0].numpy()  # (p·p, H/p, W/p)
    fig = plt.figure(figsize=(3.6 + p * 1.45, max(3.4, p * 1.35)))
    grid = fig.add_gridspec(p, p + 3, wspace=0.2, hspace=0.55)
    ax = fig.add_subplot(grid[:, :3])
    _imshow(ax, img, radar=False)
    ax.set_title(f"frame {img.shape[0]}×{img.shape[1]}", fontsize=9)
    for k in range(p, img.shape[0], p):  # the p×p patch borders
        ax.axhline(k - 0.5, color="#e07020", lw=0.3)
        ax.axvline(k - 0.5, color="#e07020", lw=0.3)
    for k in range(p * p):
        dy, dx = divmod(k, p)
        a = fig.add_subplot(grid[dy, 3 + dx])
        _imshow(a, patched[k], radar=False)
        a.set_title(f"channel {k}\ndy={dy}, dx={dx}", fontsize=7)
    fig.suptitle(
        f"patch_frames: (1, {img.shape[0]}, {img.shape[1]}) → ({p * p}, {patched.shape[1]}, {patched.shape[2]})",
        fontsize=10,
    )
    return fig
