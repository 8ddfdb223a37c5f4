r"""Frame patching (space-to-depth) in the channel order of the official PredRNN code.

A frame of size H×W with C channels is cut into (H/p)×(W/p) patches of p×p pixels, and each patch
becomes one "pixel" with p·p·C channels. The recurrent cells then run on a grid p times smaller in
each direction — 16× fewer positions for p = 4 — which is what makes PredRNN affordable.

The order of those p·p·C channels matters for loading official checkpoints: the reference code
reshapes channels-last frames (B, T, H, W, C) so that patch offset (dy, dx) and channel c land at

.. math:: \text{index} = (dy \cdot p + dx) \cdot C + c

which is **not** the order of ``torch.nn.functional.pixel_unshuffle`` (c·p·p + dy·p + dx).
The stlearn models take channels-first frames (B, T, C, H, W); :func:`patch_frames` gives them
the same channel order (and, with ``channels_last=True``, reproduces the reference layout exactly).

Taught in lesson 6 (zigzag memory flow, where the patched frame enters PredRNN's bottom layer).
"""

from __future__ import annotations

import torch

from .._checks import check_positive_int

Tensor = torch.Tensor

__all__ = ["patch_frames", "unpatch_frames"]


def _check_rank5(where: str, name: str, t: object, layout: str) -> Tensor:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{where}: argument '{name}' must be a torch.Tensor of shape {layout}, got {type(t).__name__}")
    if t.ndim != 5:
        raise ValueError(
            f"{where}: argument '{name}' must have 5 dimensions {layout}, got {t.ndim} with shape {tuple(t.shape)}"
        )
    return t


def patch_frames(frames: Tensor, patch_size: int, channels_last: bool = False) -> Tensor:
    r"""Space-to-depth: cut every frame into p×p patches stacked along the channels.

    Channel order: patch offset (dy, dx) and channel c go to index (dy·p + dx)·C + c, as in the
    official PredRNN code (so official checkpoints load), not pixel_unshuffle's order.

    Args:
        frames: (B, T, C, H, W), or (B, T, H, W, C) with ``channels_last=True`` (the reference
            code's layout).
        patch_size: p; H and W must be divisible by it. p = 1 returns the frames unchanged.
        channels_last: read and write channels-last tensors.

    Returns:
        (B, T, p·p·C, H/p, W/p), or (B, T, H/p, W/p, p·p·C) with ``channels_last=True``.

    Taught in lesson 1 (section "Patching": why models use it) and lesson 6 (the patched frame enters
    PredRNN's bottom layer).
    """
    where = "patch_frames"
    layout = "(B, T, H, W, C)" if channels_last else "(B, T, C, H, W)"
    _check_rank5(where, "frames", frames, layout)
    p = check_positive_int(where, "patch_size", patch_size)
    if channels_last:
        b, t, h, w, c = frames.shape
    else:
        b, t, c, h, w = frames.shape
    if h % p or w % p:
        raise ValueError(
            f"{where}: the frame size (H, W) = ({h}, {w}) of 'frames' must be divisible by patch_size = {p}"
        )
    if channels_last:
        # (B, T, H/p, dy, W/p, dx, C) → (B, T, H/p, W/p, dy, dx, C): index (dy·p + dx)·C + c
        x = frames.reshape(b, t, h // p, p, w // p, p, c).permute(0, 1, 2, 4, 3, 5, 6)
        return x.reshape(b, t, h // p, w // p, p * p * c)
    # (B, T, C, H/p, dy, W/p, dx) → (B, T, dy, dx, C, H/p, W/p): index (dy·p + dx)·C + c
    x = frames.reshape(b, t, c, h // p, p, w // p, p).permute(0, 1, 4, 6, 2, 3, 5)
    return x.reshape(b, t, p * p * c, h // p, w // p)


def unpatch_frames(patches: Tensor, patch_size: int, channels_last: bool = False) -> Tensor:
    """Depth-to-space, the exact inverse of :func:`patch_frames` (same channel order).

    Args:
        patches: (B, T, p·p·C, h, w), or (B, T, h, w, p·p·C) with ``channels_last=True``.
        patch_size: p; the channel count must be divisible by p·p.
        channels_last: read and write channels-last tensors.

    Returns:
        (B, T, C, h·p, w·p), or (B, T, h·p, w·p, C) with ``channels_last=True``.

    Taught in lesson 6 (turning PredRNN's patched predictions back into frames).
    """
    where = "unpatch_frames"
    layout = "(B, T, h, w, p·p·C)" if channels_last else "(B, T, p·p·C, h, w)"
    _check_rank5(where, "patches", patches, layout)
    p = check_positive_int(where, "patch_size", patch_size)
    if channels_last:
        b, t, h, w, pc = patches.shape
    else:
        b, t, pc, h, w = patches.shape
    if pc % (p * p):
        raise ValueError(
            f"{where}: argument 'patches' has {pc} channels, which is not divisible by "
            f"patch_size² = {p * p} (shape {tuple(patches.shape)})"
        )
    c = pc // (p * p)
    if channels_last:
        x = patches.reshape(b, t, h, w, p, p, c).permute(0, 1, 2, 4, 3, 5, 6)
        return x.reshape(b, t, h * p, w * p, c)
    x = patches.reshape(b, t, p, p, c, h, w).permute(0, 1, 4, 5, 2, 6, 3)
    return x.reshape(b, t, c, h * p, w * p)
