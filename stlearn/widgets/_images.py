"""Images redrawn from a kept resampling plan instead of through matplotlib's resampler (lessons 3, 4, 8, 10).

Every view draws its maps and frames with ``imshow(..., interpolation="nearest")``, and on every update
matplotlib resamples each image to the screen again (normalise, colour-map and resample a masked float
array: ~3.4 ms for one of lesson 4's 64 × 658 strips, ~1 ms for a 16 × 16 map on the 2-core machine).
With nearest-neighbour resampling each screen pixel copies one data pixel, and which one depends only
on the image's shape and where it stands on the canvas. :class:`NearestImages` asks matplotlib once per
image and placement, through :meth:`~matplotlib.image.AxesImage.make_image` itself (an image whose pixels
spell their own index), and afterwards colours the small data array and gathers the screen pixels with
NumPy: the same pixels (the tests compare them with matplotlib's), ~4× faster.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.image import AxesImage

__all__ = ["NearestImages"]

#: bits of a pixel's index per colour channel: values 2·c/255 survive matplotlib's float round trip
#: (it may truncate 2·c to 2·c − 1, never to another code's value)
_BITS = 7


def _index_code(h: int, w: int) -> np.ndarray:
    """An (h, w) RGBA float image whose pixel (i, j) spells its index i·w + j in its R, G, B channels."""
    index = np.arange(h * w).reshape(h, w)
    code = np.ones((h, w, 4), np.float32)
    for c in range(3):
        code[..., c] = 2 * ((index >> (_BITS * c)) & (2**_BITS - 1)) / 255
    return code


def _decode(rgba: np.ndarray) -> np.ndarray:
    """The data pixel's index of every screen pixel of a resampled :func:`_index_code`."""
    half = (rgba[..., :3].astype(np.int64) + 1) // 2  # 2·c or 2·c − 1 → c
    return half[..., 0] | (half[..., 1] << _BITS) | (half[..., 2] << (2 * _BITS))


class NearestImages:
    """Draws nearest-neighbour :class:`~matplotlib.image.AxesImage` s from kept plans (which data pixel goes where).

    ``draws(artist)`` tells whether ``artist`` is such an image (visible, ``interpolation="nearest"``, no
    alpha array, on an axes); ``draw(image, renderer)`` draws it as ``image.draw(renderer)`` would (pixel for
    pixel; RGBA bytes that are neither opaque nor transparent may differ by one level: matplotlib resamples
    them premultiplied, in float32). Plans are kept per image and placement (data shape, extent, axes box
    and limits; the last :attr:`PLANS`): a view that moves an axes or changes an image's shape gets a new
    plan, drawn by matplotlib once. Used by :class:`~stlearn.widgets._strips.BlitImage` (lessons 1-10's views).
    """

    #: plans kept per image (a view may alternate between a few shapes: lesson 8's two scales)
    PLANS = 4

    def __init__(self) -> None:
        self._plans: dict[AxesImage, dict[Any, tuple[np.ndarray, float, float] | None]] = {}

    @staticmethod
    def draws(artist: Any) -> bool:
        if not isinstance(artist, AxesImage) or artist.get_array() is None or artist.axes is None:
            return False
        return (artist.get_visible() and artist.get_interpolation() == "nearest" and np.ndim(artist.get_alpha()) == 0
                and np.prod(artist.get_array().shape[:2]) < 2 ** (3 * _BITS))  # fmt: skip (indices it can spell)

    def draw(self, image: AxesImage, renderer: Any) -> None:
        data = image.get_array()
        plan = self._plan(image, renderer, data.shape[:2])
        if plan is None:  # nothing of it on the canvas
            return
        index, left, bottom = plan
        colours = np.ascontiguousarray(image.to_rgba(data, bytes=True)).view(np.uint32)  # one RGBA pixel per item
        pixels = np.take(colours.reshape(-1), index).view(np.uint8).reshape(*index.shape, 4)
        gc = renderer.new_gc()
        image._set_gc_clip(gc)
        gc.set_alpha(image._get_scalar_alpha())
        renderer.draw_image(gc, left, bottom, pixels)
        gc.restore()
        image.stale = False

    def _plan(self, image: AxesImage, renderer: Any, shape: tuple[int, int]) -> tuple[np.ndarray, float, float] | None:
        """Which data pixel each screen pixel of ``image`` shows and where its lower-left corner lies (or None)."""
        ax = image.axes
        key = (shape, tuple(image.get_extent()), ax.bbox.bounds, ax.viewLim.bounds, image.origin, renderer.dpi,
               renderer.get_canvas_width_height())  # fmt: skip
        kept = self._plans.setdefault(image, {})
        if key in kept:
            return kept[key]
        data = image.get_array()
        image.set_data(_index_code(*shape))
        try:
            out, left, bottom, _ = image.make_image(renderer, renderer.get_image_magnification())
        finally:
            image.set_data(data)
        if len(kept) >= self.PLANS:
            kept.pop(next(iter(kept)))
        kept[key] = None if out is None else (_decode(out).astype(np.intp), left, bottom)
        return kept[key]
