"""Short one-line labels drawn as cached FreeType bitmaps: the frame labels under the strips (lesson 4).

A matplotlib ``Text`` lays itself out and renders glyph by glyph at every draw (~1.3 ms for
"MSE 123" with matplotlib 3.11 on the 2-core machine); a strip of ten labels redrawn on every edit
of lesson 4's GateSurgery costs more than its model pass. :class:`BitmapLabel` renders each distinct
string once with the same font, size and hinting as a ``Text`` (FreeType, as the Agg backend does),
keeps the coverage bitmap, and draws it as an image: a redraw is a small image copy (~0.05 ms).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from matplotlib import colors
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import get_hinting_flag
from matplotlib.font_manager import FontProperties, findfont, get_font

__all__ = ["BitmapLabel"]


@lru_cache(maxsize=4096)
def _coverage(text: str, size: float, dpi: float) -> np.ndarray:
    """The glyph coverage of ``text``: rows top-down, uint8 0 … 255, as wide and tall as its ink."""
    font = get_font(findfont(FontProperties(size=size)))
    font.clear()
    font.set_size(size, dpi)
    font.set_text(text, 0.0, flags=get_hinting_flag())  # the hinting the Agg backend uses (rcParams["text.hinting"])
    font.draw_glyphs_to_bitmap(antialiased=True)
    return np.array(font.get_image(), dtype=np.uint8)  # a copy: the font object is shared and reused


class BitmapLabel(Artist):
    """One line of text at ``(x, y)`` in the axes' data coordinates, centred, its top at ``y``.

    Plays the part of ``ax.text(x, y, s, ha="center", va="top", fontsize=..., clip_on=False)`` for
    labels that change often; ``set_text``/``get_text`` as on a ``Text``. Lesson 4's frame strips.
    """

    def __init__(self, ax: Any, x: float, y: float, *, fontsize: float = 7.0, color: Any = "black") -> None:
        super().__init__()
        self.axes = ax
        self.set_figure(ax.figure)
        self.set_transform(ax.transData)
        self._xy = (float(x), float(y))
        self._text = ""
        self._size = float(fontsize)
        self._rgb = (255 * np.asarray(colors.to_rgb(color))).round().astype(np.uint8)
        ax.add_artist(self)
        self.set_clip_on(False)

    def set_text(self, text: str) -> None:
        self._text = str(text)
        self.stale = True

    def get_text(self) -> str:
        return self._text

    def draw(self, renderer: Any) -> None:
        if not self.get_visible() or not self._text:
            return
        ink = _coverage(self._text, self._size, renderer.points_to_pixels(72.0))
        h, w = ink.shape
        if not h or not w:  # blanks only
            return
        rgba = np.empty((h, w, 4), np.uint8)
        rgba[..., :3] = self._rgb
        rgba[..., 3] = ink[::-1]  # the renderer takes image rows bottom-up
        x, y = self.get_transform().transform(self._xy)
        gc = renderer.new_gc()
        # lower-left corner of the bitmap in display pixels: centred on x, its top row at y
        renderer.draw_image(gc, round(x - w / 2), round(y - h), rgba)
        gc.restore()
        self.stale = False
