"""Texts drawn from cached FreeType bitmaps: the frame labels under the strips (lesson 4), titles and read-outs.

A matplotlib ``Text`` lays itself out and renders glyph by glyph at every draw (~1.3 ms for
"MSE 123" with matplotlib 3.11 on the 2-core machine, ~2.4 ms for a 30-character line); a strip of ten
labels redrawn on every edit of lesson 4's GateSurgery costs more than its model pass, and the titles
and read-outs of lessons 3 and 8's explorers cost more than the rest of their update. Both artists here
render each distinct line once, whole, with the same font, size and hinting as a ``Text`` (FreeType, as
the Agg backend does), keep its coverage bitmap, and draw it as an image: a redraw is a small image copy.

* :class:`BitmapLabel` — a one-line label placed by its ink (the labels under lesson 4's strips);
* :class:`BitmapText` — a ``Text`` (any alignment, several lines) laid out by matplotlib, drawn from
  the bitmaps (titles, captions and read-outs that change on every update).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from matplotlib import colors
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import get_hinting_flag
from matplotlib.font_manager import FontProperties, fontManager, get_font
from matplotlib.text import Text

__all__ = ["BitmapLabel", "BitmapText", "axes_title", "figure_text"]


@lru_cache(maxsize=64)
def _fonts(prop: FontProperties) -> tuple[str, ...]:
    """The font files the Agg backend draws ``prop`` with (the first, then its fallbacks for missing glyphs)."""
    return tuple(fontManager._find_fonts_by_props(prop))


@lru_cache(maxsize=4096)
def _line(text: str, fonts: tuple[str, ...], size: float, dpi: float) -> tuple[np.ndarray, int, int, tuple[float, ...]]:
    """One line of ``text`` rendered whole: its coverage (rows top-down, uint8 0 … 255), where it lies from the pen
    at the start of the baseline (columns to its left edge, rows from its bottom row to the baseline), and its width,
    height and descent in pixels (what the Agg renderer measures for a ``Text``'s layout)."""
    font = get_font(list(fonts))
    font.clear()
    font.set_size(size, dpi)
    font.set_text(text, 0.0, flags=get_hinting_flag())  # the hinting the Agg backend uses (rcParams["text.hinting"])
    font.draw_glyphs_to_bitmap(antialiased=True)
    left = round(font.get_bitmap_offset()[0] / 64)
    below = round(font.get_descent() / 64) + 1  # the bitmap has one blank row under the lowest ink
    w, h = font.get_width_height()
    metrics = (w / 64, h / 64, font.get_descent() / 64)
    return np.array(font.get_image(), dtype=np.uint8), left, below, metrics  # a copy: the font object is reused


class _LineMetrics:
    """What ``Text._get_layout`` asks the renderer for (each line's width, height and descent), answered from
    :func:`_line`: a line seen for the first time costs one FreeType layout, not two (~0.07 ms + 12 µs a glyph)."""

    def __init__(self, dpi: float) -> None:
        self.dpi = dpi

    def get_text_width_height_descent(self, s: str, prop: FontProperties, ismath: Any) -> tuple[float, ...]:
        return _line(s, _fonts(prop), prop.get_size_in_points(), self.dpi)[3]


@lru_cache(maxsize=8)
def _metrics(dpi: float) -> _LineMetrics:
    """One :class:`_LineMetrics` per resolution (matplotlib caches the metrics per renderer object)."""
    return _LineMetrics(dpi)


@lru_cache(maxsize=4096)
def _coverage(text: str, size: float, dpi: float) -> np.ndarray:
    """The glyph coverage of ``text`` in the default font: rows top-down, uint8 0 … 255."""
    return _line(text, _fonts(FontProperties(size=size)), size, dpi)[0]


def _rgba(ink: np.ndarray, rgba: tuple[float, float, float, float]) -> np.ndarray:
    """The coverage ``ink`` as an image in one colour, rows bottom-up (as the renderer takes them)."""
    out = np.empty((*ink.shape, 4), np.uint8)
    out[..., :3] = (255 * np.asarray(rgba[:3])).round().astype(np.uint8)
    out[..., 3] = ink[::-1] if rgba[3] == 1 else (ink[::-1] * rgba[3]).round().astype(np.uint8)
    return out


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


class BitmapText(Text):
    """A ``Text`` whose lines are drawn from cached whole-line bitmaps (:func:`_line`) instead of glyph by glyph.

    matplotlib lays it out (position, alignment, line spacing: ``Text._get_layout``), so it stands where the
    ``Text`` would; its glyphs are the same FreeType renderings, placed on whole pixels (a ``Text`` places
    them to 1/64 pixel: at most half a pixel apart). Horizontal plain text only (no rotation, mathtext, box
    or path effects: what the views' titles, captions and read-outs are). A line seen before costs an image
    copy; a new one a FreeType call (~0.4 ms for 30 characters, against ~2.4 ms through ``Text``).

    Lessons 3 and 8: GateExplorer's, TrajGRUFlowExplorer's and MIMMemoryExplorer's titles and read-outs.
    """

    def draw(self, renderer: Any) -> None:
        self._renderer = renderer  # as Text.draw: get_window_extent() reuses it
        if not self.get_visible() or not self.get_text():
            return
        _, lines, _ = self._get_layout(_metrics(renderer.dpi))
        x, y = self.get_transform().transform(self.get_unitless_position())
        fonts, size, dpi = _fonts(self._fontproperties), self._fontproperties.get_size_in_points(), renderer.dpi
        colour = colors.to_rgba(self.get_color(), self.get_alpha())
        gc = renderer.new_gc()
        self._set_gc_clip(gc)
        for line, _, (dx, dy) in lines:
            if not line.strip():
                continue
            ink, left, below, _ = _line(line, fonts, size, dpi)
            renderer.draw_image(gc, round(x + dx) + left, round(y + dy) - below, _rgba(ink, colour))
        gc.restore()
        self.stale = False


def axes_title(ax: Any, **kwargs: Any) -> BitmapText:
    """A :class:`BitmapText` where ``ax.set_title(s, **kwargs)`` puts the title: above the axes (lessons 3, 8)."""
    title = BitmapText(0.5, 1.0, "", ha="center", va="baseline", transform=ax.title.get_transform(), clip_on=False,
                       **kwargs)  # fmt: skip
    ax.add_artist(title)
    return title


def figure_text(fig: Any, x: float, y: float, **kwargs: Any) -> BitmapText:
    """A :class:`BitmapText` where ``fig.text(x, y, s, **kwargs)`` puts its text (lesson 8's captions and read-outs)."""
    text = BitmapText(x, y, "", transform=fig.transSubfigure, **kwargs)
    fig.add_artist(text)
    return text
