"""The views' drawing helpers: the PNG writer, the bitmap labels under the strips, the error-axis scale.

No timings here (benchmarks/bench_widgets.py measures them).
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from stlearn.widgets._canvas import png_bytes
from stlearn.widgets._labels import BitmapLabel
from stlearn.widgets.gate_surgery import error_scale

# --------------------------------------------------------------------------- png_bytes


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (64, 97)])
def test_png_bytes_decodes_to_the_same_pixels(shape):
    rgba = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 4), dtype=np.uint8)
    decoded = Image.open(io.BytesIO(png_bytes(rgba)))
    assert decoded.mode == "RGBA" and decoded.size == (shape[1], shape[0])
    np.testing.assert_array_equal(np.asarray(decoded), rgba)


def test_png_bytes_of_a_figure_equals_the_canvas():
    fig = Figure((3, 2), dpi=50)
    FigureCanvasAgg(fig)
    fig.add_subplot().plot([0, 1, 3])
    fig.canvas.draw()
    buffer = np.asarray(fig.canvas.buffer_rgba())
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png_bytes(buffer)))), buffer)


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 4), np.float32), np.zeros((4, 4))])
def test_png_bytes_rejects_what_is_not_rgba_bytes(bad):
    with pytest.raises(ValueError, match=r"expected an \(H, W, 4\) uint8 array"):
        png_bytes(bad)


# --------------------------------------------------------------------------- BitmapLabel


def _draw(kind: str, labels: list[tuple[float, str]]) -> np.ndarray:
    """A white figure with one axes and the labels under it, as matplotlib texts or as bitmap labels."""
    fig = Figure((4, 1), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.05, 0.5, 0.9, 0.4))
    ax.imshow(np.zeros((16, 100)), cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    for x, s in labels:
        if kind == "text":
            ax.text(x, 17, s, ha="center", va="top", fontsize=7, clip_on=False)
        else:
            BitmapLabel(ax, x, 17, fontsize=7).set_text(s)
    fig.canvas.draw()
    ink = 255 - np.asarray(fig.canvas.buffer_rgba())[..., :3].mean(-1)
    ink[: int(0.5 * ink.shape[0]) + 1] = 0  # below the axes only
    return ink


def _box(ink: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(ink > 60)
    return ys.min(), ys.max(), xs.min(), xs.max()


@pytest.mark.parametrize("s", ["MSE 117", "t=10", "SSIM 0.81"])
def test_bitmap_label_puts_its_ink_where_a_text_would(s):
    # the same font and size as ax.text(..., ha="center", va="top"): the ink lies within 2 pixels of the text's
    text, bitmap = _draw("text", [(50, s)]), _draw("bitmap", [(50, s)])
    assert np.abs(np.subtract(_box(text), _box(bitmap))).max() <= 2
    assert 0.9 < bitmap.sum() / text.sum() < 1.1  # as much ink: the same glyphs and hinting, not a blob or a smudge


def test_bitmap_label_set_text_and_blank():
    fig = Figure((2, 1), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.1, 0.5, 0.8, 0.4))
    label = BitmapLabel(ax, 0.5, 0.0)
    assert label.get_text() == "" and label in ax.get_children()
    fig.canvas.draw()
    blank = np.asarray(fig.canvas.buffer_rgba()).copy()
    label.set_text("MSE 3")
    assert label.get_text() == "MSE 3" and label.stale
    fig.canvas.draw()
    assert not np.array_equal(blank, np.asarray(fig.canvas.buffer_rgba()))
    label.set_text(" ")  # blanks only: nothing to draw, no error
    fig.canvas.draw()
    np.testing.assert_array_equal(blank, np.asarray(fig.canvas.buffer_rgba()))


def test_bitmap_label_colour():
    fig = Figure((2, 1), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.1, 0.5, 0.8, 0.4))
    ax.set_axis_off()
    BitmapLabel(ax, 0.5, 0.0, fontsize=12, color="red").set_text("MSE 8")
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    inked = rgb.sum(-1) < 600
    assert inked.any() and (rgb[inked, 0] >= rgb[inked, 1]).all() and (rgb[inked, 1] == rgb[inked, 2]).all()


# --------------------------------------------------------------------------- error_scale


@pytest.mark.parametrize("worst", [0.5, 99.0, 100.0, 100.1, 250.0, 1e4])
def test_error_scale_is_the_smallest_doubling_of_100_above_the_error(worst):
    top = error_scale(worst)
    k = np.log2(top / 100.0)
    assert top >= worst and k == round(k) and k >= 0
    assert top == 100.0 or top / 2 < worst


def test_error_scale_grows_at_once_and_shrinks_only_below_a_quarter():
    assert error_scale(450.0, current=400.0) == 800.0  # grows as soon as the error exceeds it
    assert error_scale(390.0, current=800.0) == 800.0  # 390 > 800 / 4: stays (no jumping between 400 and 800)
    assert error_scale(201.0, current=800.0) == 800.0
    assert error_scale(190.0, current=800.0) == 200.0  # fits in a quarter: back to the smallest scale
    assert error_scale(50.0, current=100.0) == 100.0
