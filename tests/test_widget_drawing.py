"""The views' drawing helpers: the PNG writer, the bitmap labels and texts, the planned images, the kept layers,
the guard, the error-axis scale.

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

from stlearn.widgets._canvas import FigureImage, PngWriter, png_bytes
from stlearn.widgets._images import NearestImages
from stlearn.widgets._labels import BitmapLabel, BitmapText, axes_title, figure_text
from stlearn.widgets._strips import BlitImage
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


# --------------------------------------------------------------------------- PngWriter


def _decoded(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def test_png_writer_recompresses_only_changed_bands_and_decodes_every_picture():
    rng = np.random.default_rng(5)
    first = np.full((70, 33, 4), 255, np.uint8)
    first[:, :, :3] = rng.integers(0, 256, (70, 33, 3), dtype=np.uint8)
    write = PngWriter()
    assert write.BAND == 16 and len(first) % write.BAND != 0  # a short last band too
    np.testing.assert_array_equal(_decoded(write(first)), first)
    kept = list(write._bands)
    second = first.copy()
    second[20:23, 5:9] = 0  # inside band 1 only
    np.testing.assert_array_equal(_decoded(write(second)), second)
    assert [b is k for b, k in zip(write._bands, kept, strict=True)] == [True, False, True, True, True]
    third = rng.integers(0, 256, (40, 12, 4), dtype=np.uint8)  # another size: nothing to reuse
    np.testing.assert_array_equal(_decoded(write(third)), third)
    assert write(third) == png_bytes(third)  # the same bytes whether a band was kept or compressed again


# --------------------------------------------------------------------------- BitmapText


def _text_ink(kind: str, s: str, **kwargs) -> np.ndarray:
    """A white figure with one text at (0.1, 0.6), drawn as a matplotlib Text or as a BitmapText: its ink (0 … 765)."""
    from matplotlib.text import Text

    fig = Figure((4, 1.5), dpi=80)
    FigureCanvasAgg(fig)
    fig.add_artist((Text if kind == "text" else BitmapText)(0.1, 0.6, s, transform=fig.transSubfigure, **kwargs))
    fig.canvas.draw()
    return 765 - np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int).sum(-1)


@pytest.mark.parametrize(
    "s, kwargs",
    [("l = 1: mean 11.3 px", {"fontsize": 8}), ("▶ x̂_12 ±0.35 −", {"fontsize": 9, "ha": "center"}),
     ("step 3, block 1\n\nmean|diff| 0.0123\nmean n_f    0.512", {"fontsize": 8, "family": "monospace", "va": "top"}),
     ("MIM-N input: H_t − H_t-1\nmean |·| over channels", {"fontsize": 8, "ha": "center", "va": "baseline"})],
)  # fmt: skip
def test_bitmap_text_puts_its_ink_where_a_text_would(s, kwargs):
    # laid out by matplotlib, the same glyphs: within a pixel of the Text's ink (it places glyphs to 1/64 pixel)
    text, bitmap = _text_ink("text", s, **kwargs), _text_ink("bitmap", s, **kwargs)
    assert np.abs(np.subtract(_box(text), _box(bitmap))).max() <= 1
    assert 0.97 < bitmap.sum() / text.sum() < 1.03


def test_bitmap_text_colour_blank_and_helpers():
    fig = Figure((3, 2), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.1, 0.1, 0.8, 0.6))
    title, note = axes_title(ax, fontsize=9, color="#c00000"), figure_text(fig, 0.05, 0.98, va="top", fontsize=8)
    assert title in ax.get_children() and note in fig.get_children() and not title.get_clip_on()
    fig.canvas.draw()
    blank = np.asarray(fig.canvas.buffer_rgba()).copy()
    title.set_text("ch 3")
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    inked = rgb.sum(-1) < 600
    inked[int(0.27 * len(rgb)) :] = False  # above the axes (its frame from row 47 on)
    assert inked.any() and (rgb[inked, 0] > rgb[inked, 1]).all()  # red
    ax.set_title("ch 3", fontsize=9)  # where a title would stand
    bottom = rgb.shape[0] - 1 - np.nonzero(inked)[0].max()
    assert abs(ax.title.get_window_extent().y0 - bottom) <= 3
    title.set_text("   ")  # blanks only: nothing drawn
    ax.set_title("")
    fig.canvas.draw()
    np.testing.assert_array_equal(blank, np.asarray(fig.canvas.buffer_rgba()))
    note.set_text("caption")
    assert note.get_window_extent().width > 0  # measured from its cached line like a Text


# --------------------------------------------------------------------------- NearestImages


def _rgba_bytes(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Colours as the views give them (lesson 10's influence maps): opaque, or transparent in the gaps."""
    rgba = rng.integers(0, 256, (*shape, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[:, 1] = 0
    return rgba


@pytest.mark.parametrize("shape, extent, origin", [((16, 16), None, "upper"), ((64, 658), None, "upper"),
                                                   ((8, 8), (-0.5, 63.5, 63.5, -0.5), "upper"),
                                                   ((5, 7), None, "lower")])  # fmt: skip
def test_nearest_images_draw_the_pixels_matplotlib_draws(shape, extent, origin):
    import matplotlib

    rng = np.random.default_rng(sum(shape))
    data = rng.random(shape)
    data[:, 1] = np.nan  # transparent, as the gaps of the strips
    fig = Figure((6, 2), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.1, 0.1, 0.5, 0.8))
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad=(0, 0, 0, 0))
    images = [ax.imshow(data, cmap=cmap, vmin=-0.2, vmax=0.9, interpolation="nearest", extent=extent, origin=origin),
              fig.add_axes((0.7, 0.1, 0.2, 0.8)).imshow(_rgba_bytes(rng, shape), interpolation="nearest")]
    for im in images:
        im.set_animated(True)
    fig.canvas.draw()
    background = fig.canvas.copy_from_bbox(fig.bbox)
    renderer = fig.canvas.get_renderer()
    nearest = NearestImages()
    for _ in range(2):  # planned, then from the kept plan
        for im in images:
            assert nearest.draws(im)
            fig.canvas.restore_region(background)
            im.draw(renderer)
            expected = np.asarray(fig.canvas.buffer_rgba()).copy()
            fig.canvas.restore_region(background)
            nearest.draw(im, renderer)
            np.testing.assert_array_equal(np.asarray(fig.canvas.buffer_rgba()), expected)
    ax.set_position((0.05, 0.2, 0.3, 0.6))  # moved: planned again
    fig.canvas.restore_region(background)
    images[0].draw(renderer)
    expected = np.asarray(fig.canvas.buffer_rgba()).copy()
    fig.canvas.restore_region(background)
    nearest.draw(images[0], renderer)
    np.testing.assert_array_equal(np.asarray(fig.canvas.buffer_rgba()), expected)
    images[0].set_interpolation("bilinear")
    assert not nearest.draws(images[0])


# --------------------------------------------------------------------------- BlitImage's kept layers


def _blit_view() -> tuple[BlitImage, list]:
    """A BlitImage with one layer (a line whose data stands for the layer's key) and one animated text."""
    canvas = BlitImage((3, 2), dpi=50)
    ax = canvas.figure.add_subplot()
    ax.set_xlim(0, 4)
    ax.set_ylim(0, 4)
    (line,) = ax.plot([0, 1], [0, 1])
    label = ax.text(0.5, 3.5, "")
    canvas.layers, canvas.animated = [[line]], [label]
    return canvas, [line, label]


def _show(canvas: BlitImage, artists: list, key: int, keep: bool = True) -> tuple[np.ndarray, bool]:
    """Show state ``key`` (the layer's line, the animated label); with ``keep``, the layer is named by ``key``."""
    line, label = artists
    canvas.layer_keys = [key] if keep else []
    kept = canvas.layer_kept(0)
    if not kept:  # a view prepares a layer's artists only when it is drawn
        line.set_data([0, key], [0, 4 - key])
    label.set_text(f"key {key}")
    canvas.render_changed(0)
    return _decoded(canvas.image.value), kept


def test_blit_image_restores_a_kept_layer_as_it_was_drawn():
    view, fresh = _blit_view(), _blit_view()
    seen = set()
    for key in (1, 2, 3, 1, 2, 3):
        picture, kept = _show(*view, key)
        assert kept == (key in seen)  # drawn the first time, restored after
        np.testing.assert_array_equal(picture, _show(*fresh, key, keep=False)[0])  # = drawn without kept layers
        seen.add(key)
    view[0].render()  # a full draw forgets the layers kept over the figure it replaces
    assert list(view[0]._kept_layers) == [(3,)]


def test_blit_image_keeps_at_most_kept_layers():
    view = _blit_view()
    for key in range(BlitImage.KEPT_LAYERS + 3):
        _show(*view, key)
    assert len(view[0]._kept_layers) == BlitImage.KEPT_LAYERS and (0,) not in view[0]._kept_layers


# --------------------------------------------------------------------------- the guard


def test_guarded_updates_run_torch_on_one_thread():
    import torch

    seen = []
    observer = FigureImage((1, 1)).guard(lambda: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    observer()
    assert seen == [1] and torch.get_num_threads() == before


def test_guarded_updates_flush_denormals_and_restore_the_setting():
    import torch

    def denormal_times_one() -> float:
        return float(torch.tensor(1e-39) * 1.0)

    for flushing_before in (False, True):
        torch.set_flush_denormal(flushing_before)
        try:
            if not flushing_before and denormal_times_one() == 0.0:
                pytest.skip("this CPU cannot compute with denormal floats (nothing to flush)")
            seen = []
            FigureImage((1, 1)).guard(lambda seen=seen: seen.append(denormal_times_one()))()
            assert seen == [0.0], "the update saw a denormal float: it is not flushed inside the guard"
            assert (denormal_times_one() == 0.0) == flushing_before, "the guard did not restore the setting"
        finally:
            torch.set_flush_denormal(False)


# --------------------------------------------------------------------------- arrows


@pytest.mark.parametrize("pivot", ["tip", "tail"])
def test_fast_quiver_draws_the_arrows_a_quiver_draws(pivot):
    from stlearn.widgets._arrows import fast_quiver

    rng = np.random.default_rng(0)
    x, y = np.meshgrid(np.arange(0, 16, 2.0), np.arange(0, 16, 2.0))
    u, v = rng.normal(size=x.shape) * 2, rng.normal(size=x.shape) * 2
    style = {"angles": "xy", "scale_units": "xy", "scale": 1, "pivot": pivot, "width": 0.007, "headwidth": 3.5,
             "headlength": 4, "headaxislength": 3.5, "color": "#ff5a36"}  # fmt: skip (lesson 8's arrows)
    pictures = []
    for fast in (False, True):
        fig = Figure(figsize=(3, 3), dpi=80)
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.imshow(np.zeros((16, 16)), cmap="gray")
        q = fast_quiver(ax, x, y, 0 * u, 0 * v, **style) if fast else ax.quiver(x, y, 0 * u, 0 * v, **style)
        q.set_UVC(u, v)  # as the view moves them
        fig.canvas.draw()
        pictures.append(np.asarray(fig.canvas.buffer_rgba()).astype(int))
    diff = np.abs(pictures[0] - pictures[1]).max(axis=2)
    assert (pictures[0] != pictures[0][0, 0]).any(axis=2).sum() > 500  # arrows were drawn
    assert (diff > 8).mean() < 0.005 and diff.mean() < 0.1  # the same arrows; edges blended once where they overlap
