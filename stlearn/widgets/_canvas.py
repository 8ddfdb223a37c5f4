"""What the views share: a figure drawn off-screen into an ``ipywidgets.Image``, and an error line.

The figure is a plain :class:`matplotlib.figure.Figure` on an Agg canvas (not a pyplot figure, so
the notebook does not print it a second time); :meth:`FigureImage.render` writes it as PNG bytes
into the Image widget. Callbacks run through :meth:`FigureImage.guard`, which shows any exception
in a visible red line under the view instead of losing it in the kernel log. Lessons 1-3.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image as PILImage

__all__ = ["FigureImage"]


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

    def render(self) -> None:
        """Draw the figure and send it to the Image widget as PNG."""
        canvas = self.figure.canvas
        canvas.draw()
        buf = io.BytesIO()
        # fast PNG: little compression (the bytes travel over a local socket)
        PILImage.fromarray(np.asarray(canvas.buffer_rgba())).save(buf, format="png", compress_level=1)
        self.image.value = buf.getvalue()
        self.renders += 1

    def guard(self, update: Callable[[], None]) -> Callable[[Any], None]:
        """Wrap ``update`` as an ipywidgets observer whose exceptions land in the error line."""

        def observer(change: Any = None) -> None:
            try:
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
