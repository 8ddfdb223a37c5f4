r"""Optical-flow nowcasting: the extrapolation baseline of radar forecasting (lesson 9).

Before any neural network, a nowcaster estimates how the echoes *move* and shifts the last radar
frame along that motion.  This is what `pysteps <https://pysteps.github.io>`_ does with
``pysteps.motion`` (a motion field) and ``pysteps.extrapolation.semilagrangian`` (advection).
pysteps is not installed in this course, so this module implements the same two steps, small and
in torch, for batches of sequences at once:

1. **Motion field** :func:`estimate_motion` — a dense Lucas–Kanade estimate with warping,
   coarse to fine.  Brightness constancy says a pixel keeps its value along its path,
   :math:`I(\mathbf x + \mathbf v, t+1) = I(\mathbf x, t)`; linearised around the current guess
   it gives :math:`\nabla I \cdot \delta\mathbf v + I_t = 0` at each pixel.  One equation cannot
   fix two unknowns, so (Lucas & Kanade) the squared residuals are summed over a Gaussian window
   around each pixel *and over the consecutive pairs of the last* ``n_frames`` *inputs*, giving a
   2×2 system per pixel

   .. math:: \Big(\sum w\,\nabla I \nabla I^\top + \lambda I\Big)\,\delta\mathbf v
             = -\sum w\,\nabla I\, I_t + \lambda\, \delta\mathbf v_\text{global},

   where the Tikhonov term pulls pixels without texture (no echo, flat rain) towards the
   frame-wide solution :math:`\delta\mathbf v_\text{global}` (the same system summed over the whole
   frame: the steering wind).  The previous frame is warped by the current guess and the step is
   repeated (``iterations``), first on frames averaged down 2× (``levels``) so that motions of
   several pixels per frame stay within reach of the linearisation, then at full resolution.
   The field is finally smoothed with a Gaussian (``smooth_sigma``).
2. **Advection** :func:`advect` — backward semi-Lagrangian extrapolation of the last frame as in
   ``pysteps.extrapolation.semilagrangian``: the motion field is held fixed in time; for each lead
   time the departure point of the air arriving at pixel :math:`\mathbf x` is traced back one step
   with the midpoint rule, :math:`\mathbf D_t = \mathbf D_{t-1} - \mathbf v(\mathbf x + \mathbf
   D_{t-1} - \tfrac12 \mathbf v_\text{mid})`, and the forecast is the last frame sampled there
   (bilinear), :math:`\hat I_t(\mathbf x) = I_0(\mathbf x + \mathbf D_t)`.  Interpolating from the
   *last frame* every time (not from the previous forecast) avoids accumulating interpolation blur.

How it differs from pysteps: pysteps' default motion method is the Lucas–Kanade *feature
tracker* (OpenCV corners, sparse vectors interpolated by radial basis functions) or the
variational VET/Proesmans methods; here the Lucas–Kanade idea is applied densely with a
Gaussian window, a 2-level pyramid and a global-wind regulariser instead.  Advection samples with
``torch.nn.functional.grid_sample`` (bilinear) instead of ``scipy.ndimage.map_coordinates`` and
fills points that come from outside the frame with 0 (−10 dBZ, no echo) where pysteps writes NaN
(or its ``outval``).  Motions are in pixels per frame, ``v[:, 0]`` along x (columns, to the
right), ``v[:, 1]`` along y (rows, downwards) — pysteps' (u, v) order.  Growth and decay are
not modelled: extrapolation only moves the last frame, which is its main limitation.

Everything is batched tensor arithmetic: ``benchmarks/bench_nowcast.py`` measures the cost per
64×64 sequence (10 → 10 frames) on one CPU thread; ``python -m stlearn table8`` scores the optical-flow
baseline on the 1 000 radar test sequences in seconds.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._checks import check_int

Tensor = torch.Tensor

__all__ = ["OpticalFlowNowcast", "Persistence", "advect", "estimate_motion", "optical_flow_forecast"]


def _frames(where: str, name: str, x: object, min_t: int = 1) -> Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{where}: '{name}' must be a torch.Tensor of shape (B, T, 1, H, W), got {type(x).__name__}")
    if x.ndim != 5 or x.shape[2] != 1:
        raise ValueError(f"{where}: '{name}' must have shape (B, T, 1, H, W) (one channel), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{where}: '{name}' must hold floating-point pixels in [0, 1], got {x.dtype}")
    if x.shape[1] < min_t:
        raise ValueError(f"{where}: '{name}' needs at least {min_t} frames along T, got {x.shape[1]}")
    return x


def _gaussian(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian filter of (N, C, H, W) maps, edges replicated (sigma in pixels; 0 = none)."""
    if sigma <= 0:
        return x
    radius = max(1, math.ceil(3.0 * sigma))
    u = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    w = torch.exp(-(u**2) / (2.0 * sigma**2))
    w = w / w.sum()
    n, c, h, wd = x.shape
    y = x.reshape(n * c, 1, h, wd)
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="replicate"), w.view(1, 1, 1, -1))
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="replicate"), w.view(1, 1, -1, 1))
    return y.reshape(n, c, h, wd)


def _base_grid(h: int, w: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Pixel coordinates (1, 2, H, W): channel 0 = x (column), 1 = y (row)."""
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=dtype, device=device), torch.arange(w, dtype=dtype, device=device), indexing="ij"
    )
    return torch.stack([xs, ys])[None]


def _sample(img: Tensor, coords: Tensor, padding: str) -> Tensor:
    """Bilinear sample of (N, C, H, W) at pixel coordinates (N, 2, H, W) (x, y)."""
    h, w = img.shape[-2:]
    # grid_sample wants (x, y) in [-1, 1] with align_corners=True: −1 ↔ pixel 0, +1 ↔ pixel W−1
    gx = 2.0 * coords[:, 0] / max(w - 1, 1) - 1.0
    gy = 2.0 * coords[:, 1] / max(h - 1, 1) - 1.0
    grid = torch.stack([gx, gy], dim=-1)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode=padding, align_corners=True)


def _solve2(a11: Tensor, a12: Tensor, a22: Tensor, b1: Tensor, b2: Tensor) -> tuple[Tensor, Tensor]:
    """Solve the symmetric 2×2 systems [[a11, a12], [a12, a22]] x = b elementwise (Cramer's rule)."""
    det = a11 * a22 - a12 * a12
    det = torch.where(det.abs() < 1e-12, torch.full_like(det, 1e-12), det)
    return (a22 * b1 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det


def _lk_step(prev: Tensor, cur: Tensor, v: Tensor, window_sigma: float, reg: float) -> Tensor:
    """One warped Lucas–Kanade update δv (B, 2, H, W) from P pairs prev/cur of shape (B, P, H, W)."""
    b, p, h, w = prev.shape
    grid = _base_grid(h, w, prev.dtype, prev.device)
    # W(x) = I_prev(x − v): the previous frame moved by the current guess
    back = (grid - v).repeat_interleave(p, dim=0)
    warped = _sample(prev.reshape(b * p, 1, h, w), back, "border").reshape(b, p, h, w)
    # ∇W by central differences (one-sided at the edges), I_t = I_cur − W
    ix = torch.gradient(warped, dim=3)[0]
    iy = torch.gradient(warped, dim=2)[0]
    it = cur - warped
    # per-pixel products summed over the pairs, then over a Gaussian window (Lucas–Kanade)
    prods = torch.stack([ix * ix, ix * iy, iy * iy, -ix * it, -iy * it], dim=1).sum(dim=2)  # (B, 5, H, W)
    local = _gaussian(prods, window_sigma)
    # global wind: the same system summed over the whole frame
    glob = prods.mean(dim=(2, 3), keepdim=True)
    lam = reg * (glob[:, 0] + glob[:, 2]).clamp_min(1e-8)[:, None]  # (B, 1, 1, 1): λ relative to the texture
    gu, gv = _solve2(glob[:, 0] + lam[:, 0] * 1e-3, glob[:, 1], glob[:, 2] + lam[:, 0] * 1e-3, glob[:, 3], glob[:, 4])
    # (Σw∇I∇Iᵀ + λI) δv = −Σw∇I I_t + λ δv_global
    du, dv = _solve2(
        local[:, 0] + lam[:, 0], local[:, 1], local[:, 2] + lam[:, 0],
        local[:, 3] + lam[:, 0] * gu, local[:, 4] + lam[:, 0] * gv,
    )  # fmt: skip
    return torch.stack([du, dv], dim=1)


def estimate_motion(
    frames: Tensor,
    n_frames: int = 3,
    *,
    levels: int = 2,
    iterations: int = 3,
    window_sigma: float = 4.0,
    presmooth_sigma: float = 1.0,
    smooth_sigma: float = 2.0,
    reg: float = 0.05,
) -> Tensor:
    r"""Motion field (B, 2, H, W) in pixels per frame from the last ``n_frames`` of (B, T, 1, H, W) frames.

    Dense Lucas–Kanade with warping (see the module docstring): frames pre-smoothed with a
    Gaussian of ``presmooth_sigma`` px; ``levels`` pyramid levels (2× average pooling each);
    ``iterations`` warped updates per level; a Gaussian window of ``window_sigma`` px (at each
    level's resolution); Tikhonov weight ``reg`` (relative to the mean squared gradient) towards
    the frame-wide motion; the result smoothed with ``smooth_sigma`` px.  ``v[:, 0]`` is the
    motion along x (columns), ``v[:, 1]`` along y (rows).

    Lesson 9 ("Precipitation nowcasting and Table 8") draws this field over the last radar frame.
    """
    where = "estimate_motion"
    n_frames = check_int(where, "n_frames", n_frames, minimum=2)
    levels = check_int(where, "levels", levels, minimum=1)
    iterations = check_int(where, "iterations", iterations, minimum=1)
    x = _frames(where, "frames", frames, min_t=n_frames)
    x = x[:, -n_frames:, 0].float()  # (B, n, H, W)
    b = x.shape[0]
    x = _gaussian(x, presmooth_sigma)
    pyramid = [x]
    for _ in range(levels - 1):
        if min(pyramid[-1].shape[-2:]) < 8:
            break
        pyramid.append(F.avg_pool2d(pyramid[-1], 2))
    v = torch.zeros(b, 2, *pyramid[-1].shape[-2:], dtype=x.dtype, device=x.device)
    for k, level in enumerate(reversed(pyramid)):
        if k > 0:
            # a motion of u px at half resolution is 2u px at full resolution
            v = 2.0 * F.interpolate(v, size=level.shape[-2:], mode="bilinear", align_corners=False)
        prev, cur = level[:, :-1], level[:, 1:]
        for _ in range(iterations):
            v = v + _lk_step(prev, cur, v, window_sigma, reg)
    return _gaussian(v, smooth_sigma)


def advect(frame: Tensor, motion: Tensor, steps: int, *, midpoint_iterations: int = 2) -> Tensor:
    r"""Backward semi-Lagrangian extrapolation of ``frame`` (B, 1, H, W) along ``motion`` (B, 2, H, W).

    Returns (B, steps, 1, H, W): lead time t is ``frame`` sampled (bilinear) at the departure points
    :math:`\mathbf x + \mathbf D_t`, :math:`\mathbf D_t = \mathbf D_{t-1} - \mathbf v(\mathbf x +
    \mathbf D_{t-1} - \mathbf v_\text{mid}/2)` (midpoint rule, ``midpoint_iterations`` fixed-point
    steps, as ``pysteps.extrapolation.semilagrangian``).  Air that arrives from outside the frame
    brings no echo (pixel 0).  A motion of zeros returns ``frame`` repeated: persistence.

    Lesson 9 ("Precipitation nowcasting and Table 8") uses it for the optical-flow baseline.
    """
    where = "advect"
    steps = check_int(where, "steps", steps, minimum=1)
    midpoint_iterations = check_int(where, "midpoint_iterations", midpoint_iterations, minimum=1)
    if not isinstance(frame, torch.Tensor) or not isinstance(motion, torch.Tensor):
        raise TypeError(f"{where}: 'frame' and 'motion' must be torch tensors")
    if frame.ndim != 4 or frame.shape[1] != 1:
        raise ValueError(f"{where}: 'frame' must have shape (B, 1, H, W), got {tuple(frame.shape)}")
    if motion.shape != (frame.shape[0], 2, *frame.shape[2:]):
        raise ValueError(
            f"{where}: 'motion' must have shape (B, 2, H, W) = {(frame.shape[0], 2, *frame.shape[2:])}, "
            f"got {tuple(motion.shape)}"
        )
    img = frame.float()
    v = motion.to(img.dtype)
    grid = _base_grid(*img.shape[-2:], img.dtype, img.device)
    d = torch.zeros_like(v)
    out = []
    for _ in range(steps):
        v_mid = _sample(v, grid + d, "border")
        for _ in range(midpoint_iterations - 1):
            # v at the midpoint of this step's back-trajectory
            v_mid = _sample(v, grid + d - 0.5 * v_mid, "border")
        # D_t = D_{t−1} − v_mid
        d = d - v_mid
        # Î_t(x) = I_0(x + D_t), zero (no echo) outside the frame
        out.append(_sample(img, grid + d, "zeros"))
    return torch.stack(out, dim=1).to(frame.dtype)


def optical_flow_forecast(inputs: Tensor, steps: int, n_frames: int = 3, **motion_options: float) -> Tensor:
    """The optical-flow nowcast: :func:`estimate_motion` on the inputs, then :func:`advect` the last frame.

    ``inputs`` (B, T_in, 1, H, W) in [0, 1] → (B, steps, 1, H, W).  Lesson 9's extrapolation baseline.
    """
    x = _frames("optical_flow_forecast", "inputs", inputs, min_t=2)
    with torch.no_grad():
        motion = estimate_motion(x, min(n_frames, x.shape[1]), **motion_options)
        return advect(x[:, -1], motion, steps).clamp(0.0, 1.0)


class OpticalFlowNowcast(torch.nn.Module):
    """The optical-flow baseline with a model's interface: ``predict(inputs, pred_len)`` (lesson 9)."""

    def __init__(self, n_frames: int = 3, **motion_options: float) -> None:
        super().__init__()
        self.n_frames = n_frames
        self.motion_options = motion_options

    def predict(self, inputs: Tensor, pred_len: int) -> Tensor:
        """(B, T_in, 1, H, W) → (B, pred_len, 1, H, W): the last frame moved along the estimated motion."""
        return optical_flow_forecast(inputs, pred_len, self.n_frames, **self.motion_options)


class Persistence(torch.nn.Module):
    """Persistence with a model's interface: the last input frame repeated (lesson 9)."""

    def predict(self, inputs: Tensor, pred_len: int) -> Tensor:
        """(B, T_in, C, H, W) → (B, pred_len, C, H, W)."""
        from .metrics import persistence_forecast

        return persistence_forecast(inputs, pred_len)
