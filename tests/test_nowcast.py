"""The optical-flow baseline (stlearn.nowcast): a known motion is recovered and advected; no motion = persistence."""

from __future__ import annotations

import pytest
import torch

from stlearn.metrics import persistence_forecast
from stlearn.nowcast import OpticalFlowNowcast, Persistence, advect, estimate_motion, optical_flow_forecast

H = W = 64


def blobs(dx: float = 0.0, dy: float = 0.0) -> torch.Tensor:
    """A smooth field of Gaussian blobs shifted by (dx, dy) pixels, values in [0, 1]: (H, W)."""
    ys, xs = torch.meshgrid(torch.arange(H * 1.0), torch.arange(W * 1.0), indexing="ij")
    g = torch.Generator().manual_seed(1)
    f = torch.zeros(H, W)
    for _ in range(12):
        cx, cy = (torch.rand(2, generator=g) * 64).tolist()
        s = 3.0 + 4.0 * torch.rand(1, generator=g).item()
        f += torch.exp(-((xs - cx - dx) ** 2 + (ys - cy - dy) ** 2) / (2 * s * s))
    return f.clamp(0, 1)


def moving(u: float, v: float, frames: int = 10) -> torch.Tensor:
    """(1, frames, 1, H, W): the field translated by (u, v) pixels per frame."""
    return torch.stack([blobs(u * t, v * t) for t in range(frames)])[None, :, None]


@pytest.mark.parametrize(("u", "v"), [(1.5, -2.0), (-0.7, 0.4), (3.0, 1.0)])
def test_constant_translation_is_recovered(u, v):
    motion = estimate_motion(moving(u, v))
    inner = motion[0, :, 16:48, 16:48]
    assert inner[0].mean().item() == pytest.approx(u, abs=0.15)
    assert inner[1].mean().item() == pytest.approx(v, abs=0.15)
    # the field is nearly uniform where the echoes are
    assert inner.std(dim=(1, 2)).max().item() < 0.3


def test_advection_reproduces_the_shifted_field():
    u, v = 1.5, -2.0
    seq = moving(u, v, frames=6)
    motion = torch.tensor([u, v]).view(1, 2, 1, 1).expand(1, 2, H, W).contiguous()
    out = advect(seq[:, 0], motion, steps=5)
    assert out.shape == (1, 5, 1, H, W)
    for t in range(5):
        err = (out[0, t, 0, 16:48, 16:48] - seq[0, t + 1, 0, 16:48, 16:48]).abs()
        # bilinear interpolation of half-pixel shifts: small errors, largest at the clipped blob tops
        assert err.mean().item() < 0.005, f"lead {t + 1}: mean error {err.mean().item():.4f}"
        assert err.max().item() < 0.08, f"lead {t + 1}: max error {err.max().item():.3f}"


def test_integer_shift_is_exact_and_echo_enters_empty():
    frame = torch.rand(2, 1, H, W)
    motion = torch.zeros(2, 2, H, W)
    motion[:, 0] = 2.0  # 2 px per frame to the right
    out = advect(frame, motion, steps=3)
    torch.testing.assert_close(out[:, 2, :, :, 6:], frame[:, :, :, :-6])
    assert out[:, 2, :, :, :6].abs().max() < 1e-6  # nothing flows in from outside: no echo


def test_zero_motion_is_persistence():
    x = torch.rand(3, 10, 1, 32, 32)
    out = advect(x[:, -1], torch.zeros(3, 2, 32, 32), steps=4)
    torch.testing.assert_close(out, persistence_forecast(x, 4))
    torch.testing.assert_close(Persistence().predict(x, 4), persistence_forecast(x, 4))


def test_still_frames_give_zero_motion_and_persistence():
    x = moving(0.0, 0.0, frames=5).repeat(2, 1, 1, 1, 1)
    assert estimate_motion(x).abs().max().item() < 1e-3
    torch.testing.assert_close(optical_flow_forecast(x, 3), persistence_forecast(x, 3), atol=1e-3, rtol=0)


def test_forecast_shapes_and_range():
    x = torch.rand(4, 10, 1, 64, 64)
    out = OpticalFlowNowcast().predict(x, 10)
    assert out.shape == (4, 10, 1, 64, 64)
    assert out.min() >= 0 and out.max() <= 1
    assert estimate_motion(x).shape == (4, 2, 64, 64)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"\(B, T, 1, H, W\)"):
        estimate_motion(torch.rand(10, 64, 64))
    with pytest.raises(TypeError, match="floating-point"):
        estimate_motion(torch.zeros(1, 3, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(TypeError, match="torch.Tensor"):
        estimate_motion([[1.0]])
    with pytest.raises(ValueError, match="at least 3 frames"):
        estimate_motion(torch.rand(1, 2, 1, 16, 16), n_frames=3)
    with pytest.raises(ValueError, match="n_frames"):
        estimate_motion(torch.rand(1, 5, 1, 16, 16), n_frames=1)
    with pytest.raises(ValueError, match="'motion' must have shape"):
        advect(torch.rand(1, 1, 16, 16), torch.zeros(1, 2, 8, 8), 3)
    with pytest.raises(ValueError, match="'steps'"):
        advect(torch.rand(1, 1, 16, 16), torch.zeros(1, 2, 16, 16), 0)


def test_bench_nowcast_quick(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_nowcast.py"
    subprocess.run([sys.executable, str(script), "--quick", "--out", str(tmp_path)], check=True, capture_output=True)
    rows = json.loads((tmp_path / "nowcast.json").read_text())["ms_per_sequence"]
    assert set(rows) == {"persistence", "motion field (estimate_motion)", "optical flow forecast (motion + advection)"}
