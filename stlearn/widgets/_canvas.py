"""What the views share: a figure drawn off-screen into an ``ipywidgets.Image``, and an error line.

The figure is a plain :class:`matplotlib.figure.Figure` on an Agg canvas (not a pyplot figure, so
the notebook does not print it a second time); :meth:`FigureImage.render` writes it as PNG bytes
into the Image widget (:class:`PngWriter`: a plain PNG writer, ~2.5× faster than Pillow's for a figure, that
compresses again only the rows an update changed).
Callbacks run through :meth:`FigureImage.guard`, which runs them on one torch thread and shows any exception
in a visible red line under the view instead of losing it in the kernel log. Lessons 1-3.
"""

from __future__ import annotations

import html
import struct
import zlib
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..models.base import lesson_pass
from ._watch import WeightsWatch

__all__ = ["FigureImage", "PngWriter", "png_bytes"]


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


class PngWriter:
    """PNG bytes of one view's successive pictures: 8-bit RGBA, no row filter, zlib level 1, in bands of rows.

    What the views send to the browser on every update. Pillow tries a row filter per row
    (~11 ms for a 720×448 figure on the 2-core machine); the Agg buffer compresses about as well
    without one (flat colours), in ~4.5 ms. Each band of :attr:`BAND` rows is compressed on its own
    (a deflate stream may be cut after any flushed block), ~20 % faster than the whole picture at once
    for ~5 % more bytes, and a band whose pixels are those of the last picture keeps its bytes: an
    update that repaints one strip of lesson 4's GateSurgery compresses only the rows it touched.
    Every view from lesson 1 on.
    """

    BAND = 16

    def __init__(self) -> None:
        self._rows: np.ndarray | None = None  # the last picture's rows, each with its filter byte
        self._bands: list[bytes] = []  # their compressed bands

    def __call__(self, rgba: np.ndarray) -> bytes:
        if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
            raise ValueError(f"PngWriter: expected an (H, W, 4) uint8 array, got {rgba.dtype} {tuple(rgba.shape)}")
        h, w, _ = rgba.shape
        rows = np.empty((h, 1 + 4 * w), np.uint8)
        rows[:, 0] = 0  # filter type 0 (none) before each row
        rows[:, 1:] = rgba.reshape(h, 4 * w)
        self._bands = self._compressed(rows)
        self._rows = rows
        end = zlib.compressobj(1, zlib.DEFLATED, -15).flush()  # the final (empty) block
        # zlib stream: header (deflate, 32 KiB window, level 1), the blocks, Adler-32 of the rows
        pixels = b"\x78\x01" + b"".join(self._bands) + end + struct.pack(">I", zlib.adler32(rows))
        header = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)  # 8-bit, colour type 6 (RGBA), no interlace
        return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")

    def _compressed(self, rows: np.ndarray) -> list[bytes]:
        """Each band of ``rows`` as raw deflate blocks flushed to a byte boundary: the last picture's where equal."""
        last = self._rows if self._rows is not None and self._rows.shape == rows.shape else None
        bands = []
        for k, start in enumerate(range(0, len(rows), self.BAND)):
            band = rows[start : start + self.BAND]
            if last is not None and np.array_equal(band, last[start : start + self.BAND]):
                bands.append(self._bands[k])
            else:
                deflate = zlib.compressobj(1, zlib.DEFLATED, -15)
                bands.append(deflate.compress(band) + deflate.flush(zlib.Z_SYNC_FLUSH))
        return bands


def png_bytes(rgba: np.ndarray) -> bytes:
    """An (H, W, 4) uint8 RGBA picture as PNG bytes (a :class:`PngWriter` with no picture before; lesson 1 on)."""
    return PngWriter()(rgba)


class FigureImage:
    """An off-screen figure, the Image widget that shows it, and the error line (lesson 1 to lesson 3)."""

    def __init__(self, figsize: tuple[float, float], dpi: int = 80) -> None:
        self.figure = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(self.figure)
        self.dpi = dpi
        self.image = widgets.Image(
            format="png", layout=widgets.Layout(max_width="100%", height="auto", object_fit="contain")
        )
        self.error = widgets.HTML(value="", layout=widgets.Layout(display="none"))
        #: the last exception a callback raised (None after a successful update)
        self.last_error: BaseException | None = None
        self.renders = 0
        self._png = PngWriter()
        #: the view's models as they were when it was made: :meth:`guard` draws nothing once their weights changed
        self.watch: WeightsWatch | None = None

    def render(self) -> None:
        """Draw the figure and send it to the Image widget as PNG."""
        self.figure.canvas.draw()
        self.send()

    def png(self) -> bytes:
        """The canvas as it is drawn now, as PNG (fast: little compression, the bytes travel over a local socket)."""
        return self._png(np.asarray(self.figure.canvas.buffer_rgba()))

    def send(self) -> None:
        """Send the canvas as it is drawn now to the Image widget (after a full or a partial redraw)."""
        self.image.value = self.png()
        self.renders += 1

    def guard(self, update: Callable[[], None]) -> Callable[[Any], None]:
        """Wrap ``update`` as an ipywidgets observer whose exceptions land in the error line; it runs torch on one
        thread (:func:`lesson_pass`), and not at all once :attr:`watch` saw the model's weights change."""

        def observer(change: Any = None) -> None:
            try:
                if self.watch is not None:
                    self.watch.check()
                with lesson_pass():
                    update()
            except Exception as exc:  # shown to the learner, kept for tests
                self.last_error = exc
                self.error.value = (
                    "<div style='color:#b00020;font-weight:bold'>Error: "
                    f"{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</div>"
                )
                self.error.layout.display = None
            else:
                self.last_error = None
                self.error.value = ""
                self.error.layout.display = "none"

        return observer
