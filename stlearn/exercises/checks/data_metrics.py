"""Frames as patches, CSI and MSE per frame — lessons 1 and 9 (``ex01_data_and_metrics``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from .. import references as ref
from .._core import Case, CheckSpec, Mistake, run_check
from ._draw import named_specs, randn

Tensor = torch.Tensor


def _patch_cases(gen: torch.Generator) -> list[Case]:
    # (label, B, T, C, H, W, p, dtype)
    specs = [
        ("float32, 2 channels, 8×8 frames, p=4", 2, 3, 2, 8, 8, 4, torch.float32),
        ("float64, batch 1, 3 channels, 6×10 frames, p=2", 1, 2, 3, 6, 10, 2, torch.float64),
        ("float32, 2 channels, 9×6 frames, p=3", 2, 1, 2, 9, 6, 3, torch.float32),
        ("float32, 1 channel, 12×8 frames, p=4", 1, 2, 1, 12, 8, 4, torch.float32),
        ("float64, 3 channels, 4×4 frames, p=1 (unchanged)", 2, 2, 3, 4, 4, 1, torch.float64),
        ("float32, 4 channels, 10×6 frames, p=2", 2, 2, 4, 10, 6, 2, torch.float32),
    ]
    return [Case(label, (randn(gen, (b, t, c, h, w), dtype), p), dtype) for label, b, t, c, h, w, p, dtype in specs]


def _unshuffle(frames: Tensor, p: int) -> Tensor:
    b, t = frames.shape[:2]
    return F.pixel_unshuffle(frames.flatten(0, 1), p).unflatten(0, (b, t))


def _patch_swapped(frames: Tensor, p: int) -> Tensor:
    b, t, c, h, w = frames.shape
    x = frames.reshape(b, t, c, h // p, p, w // p, p).permute(0, 1, 6, 4, 2, 3, 5)
    return x.reshape(b, t, p * p * c, h // p, w // p)


def _patch_order(order: str) -> Callable[[Tensor, int], Tensor]:
    """The channels in another nesting of (dy, dx, c) than the reference's dy, dx, c (outermost first)."""
    axes = {"dy": 4, "dx": 6, "c": 2}

    def fn(frames: Tensor, p: int) -> Tensor:
        b, t, c, h, w = frames.shape
        first, second, third = (axes[a] for a in order.split(","))
        x = frames.reshape(b, t, c, h // p, p, w // p, p).permute(0, 1, first, second, third, 3, 5)
        return x.reshape(b, t, p * p * c, h // p, w // p)

    return fn


_PATCH_ORDERS = [
    Mistake(
        _patch_order(order),
        f"your channels are ordered ({order.replace(',', ', ')}), outermost first; the reference (official "
        "PredRNN) channel index is (dy·p + dx)·C + c, i.e. (dy, dx, c): permute the split axes to "
        "(B, T, dy, dx, C, H/p, W/p) before the last reshape",
    )
    for order in ("c,dx,dy", "dx,c,dy", "dy,c,dx")
]


def _patch_plain(frames: Tensor, p: int) -> Tensor:
    b, t, c, h, w = frames.shape
    return frames.reshape(b, t, p * p * c, h // p, w // p)


_PATCH_FRAMES = CheckSpec(
    "patch_frames",
    ref.patch_frames,
    _patch_cases,
    [
        Mistake(
            _unshuffle,
            "that is torch's pixel_unshuffle channel order, c·p·p + dy·p + dx; the reference (official PredRNN) "
            "order is (dy·p + dx)·C + c: patch offset first, channel last",
        ),
        Mistake(
            _patch_swapped,
            "you swapped dy and dx: the channel index is (dy·p + dx)·C + c, the row offset dy first",
        ),
        *_PATCH_ORDERS,
        Mistake(
            _patch_plain,
            "a plain reshape mixes pixels from different places: split H into (H/p, dy) and W into (W/p, dx), "
            "permute dy, dx (and C) in front of H/p, W/p, then reshape",
        ),
    ],
)


def check_patch_frames(fn: Callable[[Tensor, int], Tensor], seed: int | None = None) -> None:
    r"""Check ``patch_frames(frames, p)``: (B, T, C, H, W) → (B, T, p·p·C, H/p, W/p), channel (dy·p + dx)·C + c.

    Recognises: pixel_unshuffle's channel order, swapped dy and dx, a reshape without permute,
    wrong shapes, in-place edits.  Exercise of lesson 1 (``ex01_data_and_metrics.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_PATCH_FRAMES, fn, seed)


def _csi_cases(gen: torch.Generator) -> list[Case]:
    specs = [
        ("float32, 2 sequences × 3 lead times, 8×8 frames, threshold 30 dBZ", (2, 3, 1, 8, 8), 30.0, torch.float32),
        ("float64, batch 1, 10×6 frames, threshold 40 dBZ", (1, 2, 1, 10, 6), 40.0, torch.float64),
        ("float32, 4 sequences, 5×7 frames, threshold 20 dBZ", (4, 1, 1, 5, 7), 20.0, torch.float32),
        ("float32, threshold 35 dBZ, many pixels exactly at the threshold", (2, 2, 1, 6, 6), 35.0, torch.float32),
        ("float64, 2 channels, threshold 50 dBZ", (2, 2, 2, 5, 5), 50.0, torch.float64),
        ("float32, nothing reaches 60 dBZ (CSI undefined)", (1, 2, 1, 4, 4), 60.5, torch.float32),
    ]
    cases = []
    for label, shape, thr, dtype in specs:
        # reflectivity in whole dBZ from -10 to 60, so some pixels sit exactly at the threshold
        if "exactly" in label:
            pred = torch.full(shape, thr, dtype=dtype) + torch.randint(-1, 2, shape, generator=gen).to(dtype)
            obs = torch.full(shape, thr, dtype=dtype) + torch.randint(-1, 2, shape, generator=gen).to(dtype)
        else:
            pred = torch.randint(-10, 61, shape, generator=gen).to(dtype)
            obs = (pred + torch.randint(-12, 13, shape, generator=gen).to(dtype)).clamp(-10, 60)
        cases.append(Case(label, (pred, obs, thr), dtype))
    return cases


def _csi_variant(kind: str):
    def fn(pred, obs, thr):
        if kind == "strict":
            pe, oe = pred > thr, obs > thr
        elif kind == "mask":
            oe = obs >= thr
            pe = pred >= oe.to(pred.dtype)
        else:
            pe, oe = pred >= thr, obs >= thr
        tp = int((pe & oe).sum())
        fn_ = int((~pe & oe).sum())
        fp = int((pe & ~oe).sum())
        tn = int((~pe & ~oe).sum())
        if kind == "accuracy":
            return (tp + tn) / (tp + tn + fn_ + fp)
        if kind == "pod":
            return tp / (tp + fn_) if tp + fn_ else math.nan
        if kind == "far":
            return fp / (tp + fp) if tp + fp else math.nan
        if kind == "zero":
            return tp / (tp + fn_ + fp) if tp + fn_ + fp else 0.0
        return tp / (tp + fn_ + fp) if tp + fn_ + fp else math.nan

    return fn


_CSI = CheckSpec(
    "csi",
    ref.csi,
    _csi_cases,
    [
        Mistake(
            _csi_variant("zero"),
            "when no pixel reaches the threshold in either field, CSI is undefined: return nan (math.nan), not 0",
        ),
        Mistake(
            _csi_variant("mask"),
            "your forecast events compare pred with the observed boolean mask (0/1), not with the threshold: "
            "a forecast event is pred ≥ threshold, an observed event obs ≥ threshold",
        ),
        Mistake(
            _csi_variant("strict"),
            "an event is value ≥ threshold: a pixel exactly at the threshold counts (you used >)",
        ),
        Mistake(
            _csi_variant("accuracy"),
            "(TP + TN) / all is the accuracy; CSI ignores the correct negatives: CSI = TP / (TP + FN + FP)",
        ),
        Mistake(_csi_variant("pod"), "TP / (TP + FN) is POD; CSI also counts the false alarms: TP / (TP + FN + FP)"),
        Mistake(_csi_variant("far"), "FP / (TP + FP) is the false alarm ratio; CSI = TP / (TP + FN + FP)"),
    ],
)


def check_csi(fn: Callable[..., float], seed: int | None = None) -> None:
    r"""Check ``csi(pred, obs, threshold)`` = TP / (TP + FN + FP) on reflectivity fields (dBZ), event = value ≥ thr.

    Recognises: comparing pred with the boolean observation mask, > instead of ≥, accuracy, POD
    or FAR instead of CSI, 0 instead of nan when undefined, in-place edits.
    Exercise of lesson 9 (in ``ex01_data_and_metrics.ipynb``).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_CSI, fn, seed)


def _mse_cases(gen: torch.Generator) -> list[Case]:
    specs = [
        ("float32, 2 sequences × 3 frames, 1 channel, 8×8", (2, 3, 1, 8, 8), torch.float32),
        ("float64, batch 1, 2 channels, 5×7", (1, 4, 2, 5, 7), torch.float64),
        ("float32, 3 sequences × 2 frames, 3 channels, 6×6", (3, 2, 3, 6, 6), torch.float32),
        ("float64, 2 sequences × 1 frame, 1 channel, 9×5", (2, 1, 1, 9, 5), torch.float64),
        ("float32, batch 1, 1 frame, 2 channels, 4×4", (1, 1, 2, 4, 4), torch.float32),
    ]
    cases = []
    for label, shape, dtype in specs:
        pred = torch.rand(shape, generator=gen, dtype=torch.float64).to(dtype)
        target = torch.rand(shape, generator=gen, dtype=torch.float64).to(dtype)
        cases.append(Case(label, (pred, target), dtype))
    return cases


_MSE = CheckSpec(
    "mse_per_frame",
    ref.mse_per_frame,
    _mse_cases,
    [
        Mistake(
            lambda p, t: (p - t).pow(2).mean(),
            "that is the MSE per pixel (mean over everything); the literature's MSE per frame SUMS the squared "
            "errors over the C·H·W pixels of each frame, then averages over frames and sequences",
        ),
        Mistake(
            lambda p, t: (p - t).pow(2).sum(),
            "you summed over everything: sum over each frame's pixels (dims 2, 3, 4), then take the mean over "
            "the B·T frames",
        ),
        Mistake(
            lambda p, t: (p - t).pow(2).sum(dim=(3, 4)).mean(),
            "sum over the channels too: a frame's pixels are C·H·W values (sum over dims 2, 3, 4)",
        ),
        Mistake(
            lambda p, t: (p - t).pow(2).sum(dim=(2, 3, 4)).mean().sqrt(),
            "no square root: that would be an RMSE",
        ),
        Mistake(
            lambda p, t: (p - t).abs().sum(dim=(2, 3, 4)).mean(),
            "square the errors: |pred − target| gives the MAE per frame",
        ),
        Mistake(
            lambda p, t: (p - t).pow(2).sum(dim=(2, 3, 4)).mean(dim=0),
            "average over the sequences AND the frames to get one number",
        ),
    ],
)


def check_mse_per_frame(fn: Callable[[Tensor, Tensor], Any], seed: int | None = None) -> None:
    r"""Check ``mse_per_frame(pred, target)``: Σ over a frame's C·H·W pixels of (pred − target)², mean over (B, T).

    Recognises: per-pixel MSE (mean instead of sum per frame), a sum over everything, channels
    left out of the sum, RMSE, MAE, a per-lead-time vector instead of one number, in-place
    edits.  Exercise of lesson 9 (in ``ex01_data_and_metrics.ipynb``, with lesson 1).
    """
    __tracebackhide__ = True  # IPython shows the learner the message, not the checker's frames
    run_check(_MSE, fn, seed)


#: This module's exercises, their arguments named for the feedback.
SPECS: list[CheckSpec] = named_specs(
    (_PATCH_FRAMES, ("frames", "p")),
    (_CSI, ("pred", "obs", "threshold")),
    (_MSE, ("pred", "target")),
)
