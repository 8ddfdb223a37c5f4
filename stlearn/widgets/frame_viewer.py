"""Frames (or any maps) side by side under one time slider (lessons 1 and 2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from ..viz.frames import radar_colormap
from ._strips import BlitImage

__all__ = ["FrameViewer"]


class FrameViewer:
    """Panels of (T, H, W) arrays, one slider over T; moving it swaps the image data of each panel.

    Args:
        panels: title → array (T, H, W) (or (T, 1, H, W); tensors are fine). All share T.
        styles: title → ``"gray"`` (pixels in [0, 1], the default), ``"radar"`` (pixels drawn as
            dBZ with the radar colour map) or ``(cmap, vmin, vmax)`` (with a colour bar).
        description: the slider's label.
        captions: optional list of T strings shown above the panels (what step t means).
        start: initial index.
        play: add a play button that steps the slider (an animation, drawn in the browser's time).
        interval_ms: time per frame when playing.

    ``viewer.slider.value = t`` from Python does what dragging does. Display with ``viewer.widget``
    (or just ``viewer`` as a cell's last line). Lesson 1 plays sequences and patch channels with it,
    lesson 2 the receptive field over the input frames. With ``play=True`` it is the course's animation.
    """

    def __init__(
        self,
        panels: Mapping[str, Any],
        styles: Mapping[str, Any] | None = None,
        *,
        description: str = "frame t",
        captions: Sequence[str] | None = None,
        start: int = 0,
        panel_inches: float = 2.6,
        play: bool = False,
        interval_ms: int = 250,
    ) -> None:
        if not panels:
            raise ValueError("FrameViewer: 'panels' must hold at least one (T, H, W) array")
        self.data: dict[str, np.ndarray] = {}
        for name, a in panels.items():
            arr = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
            if arr.dtype == np.uint8:
                arr = arr / 255.0
            if arr.ndim == 4 and arr.shape[1] == 1:
                arr = arr[:, 0]
            if arr.ndim != 3:
                raise ValueError(f"FrameViewer: panel {name!r} must be (T, H, W), got shape {arr.shape}")
            self.data[name] = arr
        lengths = {len(a) for a in self.data.values()}
        if len(lengths) != 1:
            raise ValueError(f"FrameViewer: all panels need the same number of frames T, got {sorted(lengths)}")
        self.length = lengths.pop()
        if captions is not None and len(captions) != self.length:
            raise ValueError(f"FrameViewer: 'captions' needs {self.length} entries, got {len(captions)}")
        self.captions = list(captions) if captions is not None else None
        styles = dict(styles or {})
        n = len(self.data)
        self.canvas = BlitImage((panel_inches * n + 0.4, panel_inches + 0.7), dpi=96)
        fig = self.canvas.figure
        self.images = {}
        self.radar = {name for name in self.data if styles.get(name) == "radar"}
        has_bar = any(styles.get(name, "gray") != "gray" for name in self.data)
        for k, (name, a) in enumerate(self.data.items()):
            ax = fig.add_subplot(1, n, k + 1)
            style = styles.get(name, "gray")
            if style == "radar":
                cmap, norm = radar_colormap()
                self.images[name] = ax.imshow(a[start] * 70.0 - 10.0, cmap=cmap, norm=norm, interpolation="nearest")
                fig.colorbar(self.images[name], ax=ax, fraction=0.046, pad=0.03, label="dBZ")
            elif style == "gray":
                self.images[name] = ax.imshow(a[start], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            else:
                cmap, vmin, vmax = style
                self.images[name] = ax.imshow(a[start], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
                fig.colorbar(self.images[name], ax=ax, fraction=0.046, pad=0.03)
            ax.set_title(f"{name}\n{a.shape[1]}×{a.shape[2]}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        self.caption = fig.suptitle("", fontsize=10)
        fig.subplots_adjust(left=0.02, right=0.93 if has_bar else 0.98, top=0.78, bottom=0.03, wspace=0.3)
        # only the images and the caption change with t: redrawn over the saved axes, titles and colour bars
        self.canvas.animated = [*self.images.values(), self.caption]
        self.slider = widgets.IntSlider(
            value=start, min=0, max=self.length - 1, description=description,
            style={"description_width": "initial"}, layout=widgets.Layout(width="420px"),
        )  # fmt: skip
        self.slider.observe(self.canvas.guard(self._update), names="value")
        self._update()
        controls: list[widgets.Widget] = [self.slider]
        self.play = None
        if play:
            self.play = widgets.Play(
                value=start, min=0, max=self.length - 1, interval=interval_ms, repeat=True, description="play"
            )
            widgets.jslink((self.play, "value"), (self.slider, "value"))
            controls.insert(0, self.play)
        self.widget = widgets.VBox(
            [widgets.HBox(controls), self.canvas.image, self.canvas.error],
            layout=widgets.Layout(align_items="flex-start"),
        )

    def _update(self) -> None:
        t = self.slider.value
        for name, im in self.images.items():
            a = self.data[name][t]
            im.set_data(a * 70.0 - 10.0 if name in self.radar else a)  # radar pixels p → dBZ = 70·p − 10
        self.caption.set_text(self.captions[t] if self.captions else f"{self.slider.description} = {t}")
        self.canvas.show_kept(t)  # the panels are fixed data: a frame drawn before is the same picture

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
