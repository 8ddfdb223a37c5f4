"""What the forecast views share: sequences from any source, frame colours, strips of frames (lesson 4).

:class:`FrameStyle` turns pixels in [0, 1] into what is drawn (grey, or dBZ in the radar colours);
:class:`FrameStrip` draws a row of frames as one image, so the views later only swap image data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import InputError, InputTypeError
from ..viz.frames import radar_colormap
from ._canvas import FigureImage
from ._images import NearestImages
from ._labels import BitmapLabel

__all__ = ["BlitImage", "FrameStrip", "FrameStyle", "frame_style", "one_sequence", "sequence_source"]

KINDS = ("moving_digits", "radar")


def sequence_source(where: str, frames: Any) -> Any:
    """Index-able sequences from a SequenceDataset, uint8/float array or tensor (N, T, [1,] H, W)."""
    if hasattr(frames, "frames") and isinstance(frames.frames, np.ndarray):
        return frames.frames
    if isinstance(frames, torch.Tensor | np.ndarray):
        if frames.ndim not in (4, 5):
            raise ValueError(f"{where}: 'frames' must be (N, T, [1,] H, W), got shape {tuple(frames.shape)}")
        return frames
    raise TypeError(f"{where}: 'frames' must be a SequenceDataset, array or tensor, got {type(frames).__name__}")


def check_sequences(where: str, source: Any, sequences: Sequence[int]) -> list[int]:
    """The sequence indices, each checked against the number of sequences."""
    seqs = list(sequences)
    if not seqs:
        raise InputError(f"{where}: 'sequences' must list at least one sequence index")
    for k in seqs:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < len(source):
            raise InputError(f"{where}: sequence {k!r} does not exist; there are {len(source)} (0 … {len(source) - 1})")
    return [int(k) for k in seqs]


#: the models whose gates GateExplorer and CellExplorer draw: ConvLSTM gates, or ST-LSTM gates (PredRNN, V2)
GATE_MODELS = ("convlstm", "predrnn", "predrnn_v2")


def check_gate_model(where: str, model: Any) -> None:
    """``model`` must be a ConvLSTM, PredRNN or PredRNN-V2: the models with ConvLSTM / ST-LSTM gates to draw."""
    from ..models import ConvLSTM, PredRNN

    if not isinstance(model, (ConvLSTM, PredRNN)):
        name = getattr(model, "name", "") or type(model).__name__
        other = {
            "trajgru": "TrajGRU's gates are GRU gates over warped trajectories",
            "mim": "MIM's blocks have their own memories (not the ConvLSTM / ST-LSTM gates drawn here)",
        }.get(name, "it has no ConvLSTM or ST-LSTM gates")
        raise InputTypeError(
            f"{where} supports the ConvLSTM, PredRNN and PredRNN-V2 models (build_model of {list(GATE_MODELS)}, or "
            f"load_pretrained(..., 'predrnn')); got {name}: {other}"
        )


def one_sequence(source: Any, index: int) -> torch.Tensor:
    """Sequence ``index`` as a float32 tensor (1, T, 1, H, W) in [0, 1]."""
    x = source[index]
    x = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    x = x.to(torch.float32) / 255.0 if x.dtype == torch.uint8 else x.to(torch.float32)
    if x.ndim == 3:
        x = x[:, None]
    return x[None]


@dataclass(frozen=True)
class FrameStyle:
    """How pixels in [0, 1] are drawn: ``show(p)`` gives the drawn values, ``cmap``/``norm`` colour them."""

    kind: str
    cmap: Any
    norm: Any = None
    vmin: float | None = 0.0
    vmax: float | None = 1.0

    def show(self, pixels: np.ndarray) -> np.ndarray:
        # radar: dBZ = 70·p − 10 (HKO-7 convention), coloured by the reflectivity scale
        return pixels * 70.0 - 10.0 if self.kind == "radar" else pixels

    def imshow(self, ax: Any, shape: tuple[int, int]) -> Any:
        import matplotlib

        blank = self.show(np.zeros(shape))
        cmap = matplotlib.colormaps[self.cmap] if isinstance(self.cmap, str) else self.cmap
        cmap = cmap.with_extremes(bad=(0.0, 0.0, 0.0, 0.0))  # NaN (the gaps of a strip) stays transparent
        if self.norm is not None:
            im = ax.imshow(blank, cmap=cmap, norm=self.norm, interpolation="nearest")
        else:
            im = ax.imshow(blank, cmap=cmap, vmin=self.vmin, vmax=self.vmax, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        return im


def frame_style(where: str, kind: str = "moving_digits", cmap: Any = None) -> FrameStyle:
    """Grey frames for ``"moving_digits"``, dBZ in the radar colours for ``"radar"``; ``cmap`` overrides the grey."""
    if kind not in KINDS:
        raise ValueError(f"{where}: 'kind' must be one of {KINDS}, got {kind!r}")
    if kind == "radar":
        cm, norm = radar_colormap()
        return FrameStyle(kind, cm, norm, None, None)
    return FrameStyle(kind, cmap or "gray")


class FrameStrip:
    """One row of frames drawn as a single image (frames side by side, 2-pixel gaps), labels under them.

    One image per row instead of one axes per frame, and labels drawn from cached bitmaps
    (:class:`~stlearn.widgets._labels.BitmapLabel`) instead of matplotlib texts, keep a redraw cheap
    (matplotlib's cost grows with the number of axes and texts). ``set(frames, labels)`` swaps the
    pixels and the labels.
    """

    GAP = 2

    def __init__(self, ax: Any, style: FrameStyle, n: int, shape: tuple[int, int], label: str,
                 animated: bool = False) -> None:  # fmt: skip
        self.ax, self.style, self.n, self.shape = ax, style, n, tuple(shape)
        h, w = self.shape
        width = n * w + (n - 1) * self.GAP
        self.image = style.imshow(ax, (h, width))
        centres = [w / 2 - 0.5 + k * (w + self.GAP) for k in range(n)]
        # labels under the frames (animated ones are redrawn alone, see BlitImage)
        self.texts = [BitmapLabel(ax, x, h + 1, fontsize=7) for x in centres]
        for artist in (self.image, *self.texts):
            artist.set_animated(animated)
        ax.set_xticks([])
        ax.set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center", weight="bold")
        for spine in ax.spines.values():
            spine.set_visible(False)

    @property
    def artists(self) -> list[Any]:
        """The image and the labels (what changes when :meth:`set` is called)."""
        return [self.image, *self.texts]

    def set(self, frames: np.ndarray, labels: Sequence[str] | None = None) -> None:
        """Show ``frames`` (n, H, W) of pixels in [0, 1] and, optionally, one label per frame."""
        h, w = self.shape
        g = self.GAP
        row = np.full((h, self.n * w + (self.n - 1) * g), np.nan)
        for k in range(min(self.n, len(frames))):
            row[:, k * (w + g) : k * (w + g) + w] = self.style.show(frames[k])
        self.image.set_data(row)
        if labels is not None:
            for text, label in zip(self.texts, labels, strict=False):
                text.set_text(label)


class BlitImage(FigureImage):
    """A :class:`FigureImage` that can redraw only what changed, over saved backgrounds.

    :meth:`render` draws the figure without the artists in :attr:`layers` and :attr:`animated`
    (all marked animated, so a full draw skips them), then each layer in turn, keeping a background
    after each, then the :attr:`animated` artists. :meth:`render_changed` restores the background
    with every layer drawn and draws only the :attr:`animated` artists — much cheaper when most of the
    figure stays the same (lesson 4's GateSurgery redraws one strip and one line);
    ``render_changed(changed=k)`` restores the background below layer k and redraws layers k, k+1, …
    (e.g. an axis whose scale changed). An axes or axis drawn as a layer skips its own animated children.
    Images in the layers and among the animated artists are drawn from kept resampling plans
    (:class:`~stlearn.widgets._images.NearestImages`: the same pixels, ~4× faster).

    Views of fixed data (FrameViewer, ForecastPlayer) keep the picture of each state: :meth:`show_kept` shows the
    picture kept under a key (drawn with :meth:`render_changed` the first time), :meth:`keep` draws one ahead of
    time without sending it; :attr:`kept` maps key → PNG.

    Kept layers: a view that names what each layer shows (:attr:`layer_keys`, e.g. the sequence of lesson 4's
    strips, the colour scale of lesson 3's colour bar) gets the background after a layer restored instead of drawn
    when the same keys were drawn before (the last :data:`KEPT_LAYERS`, until the next :meth:`render`);
    :meth:`layer_kept` tells it beforehand, so that it can skip preparing the layer's artists, and :meth:`keep_layer`
    draws one ahead of time (lesson 8's next step).
    """

    #: layer backgrounds kept per view (a full-figure copy each: ~1-2 MB)
    KEPT_LAYERS = 16

    def __init__(self, figsize: tuple[float, float], dpi: int = 80) -> None:
        super().__init__(figsize, dpi)
        self.animated: list[Any] = []
        self.layers: list[list[Any]] = []
        self._backgrounds: list[Any] = []  # [k]: the figure with layers 0 … k−1 drawn
        self.kept: dict[Any, bytes] = {}  # key → PNG of a state drawn before (views of fixed data)
        #: per layer, what it shows now (set by the view before each render); empty: layers are always drawn
        self.layer_keys: list[Any] = []
        self._kept_layers: dict[tuple[Any, ...], Any] = {}  # keys of layers 0 … k → the background after layer k
        self._images = NearestImages()

    def show_kept(self, key: Any) -> None:
        """Show the picture kept under ``key``; the first time, draw the animated artists as they are and keep it."""
        if key in self.kept:
            self.image.value = self.kept[key]
        else:
            self.render_changed()
            self.kept[key] = self.image.value

    def keep(self, key: Any) -> None:
        """Draw the animated artists as they are and keep the picture under ``key`` without sending it."""
        if key not in self.kept:
            self.render_changed(send=False)
            self.kept[key] = self.png()
            self.renders += 1

    def layer_kept(self, k: int, keys: list[Any] | None = None) -> bool:
        """Whether layer ``k`` as :attr:`layer_keys` (or ``keys``) name it, and the layers under it, was drawn before
        and is kept."""
        key = self._layer_key(k) if keys is None else tuple(keys[: k + 1])
        return key in self._kept_layers

    def keep_layer(self, k: int, keys: list[Any]) -> bool:
        """Draw layer ``k`` as its artists are now over the kept background under it, and keep it as the layer that
        :attr:`layer_keys` = ``keys`` names, without sending anything (a view drawing ahead what the learner will
        likely ask for next: lesson 8's next step, lesson 4's next sequence). False (nothing drawn) if it is kept
        already, or the layers under it are neither those shown now nor kept. The canvas holds a scratch picture
        afterwards: the next render redraws it."""
        key = tuple(keys[: k + 1])
        if len(keys) != len(self.layers) or key in self._kept_layers or len(self._backgrounds) <= k:
            return False
        if key[:k] == tuple(self.layer_keys[:k]):
            under = self._backgrounds[k]
        elif key[:k] in self._kept_layers:  # the layers under it as drawn ahead (or shown before)
            under = self._kept_layers[key[:k]]
        else:
            return False
        self.figure.canvas.restore_region(under)
        shown, self.layer_keys = self.layer_keys, list(keys)
        try:
            self._draw_layer(k)
        finally:
            self.layer_keys = shown
        return True

    def _layer_key(self, k: int) -> tuple[Any, ...] | None:
        return tuple(self.layer_keys[: k + 1]) if len(self.layer_keys) == len(self.layers) else None

    def render(self, send: bool = True) -> None:
        for artist in (*(a for layer in self.layers for a in layer), *self.animated):
            artist.set_animated(True)
        canvas = self.figure.canvas
        canvas.draw()  # skips the animated artists and the layers
        self._backgrounds = [canvas.copy_from_bbox(self.figure.bbox)]
        self._kept_layers.clear()  # drawn over the old figure
        self._draw_from(0, send)

    def render_changed(self, changed: int | None = None, send: bool = True) -> None:
        """Redraw the animated artists, and the layers from ``changed`` on (None: no layer changed)."""
        if len(self._backgrounds) != len(self.layers) + 1:
            return self.render(send)
        k = len(self.layers) if changed is None else min(changed, len(self.layers))
        self.figure.canvas.restore_region(self._backgrounds[k])
        del self._backgrounds[k + 1 :]
        self._draw_from(k, send)

    def _draw_from(self, k: int, send: bool = True) -> None:
        for j in range(k, len(self.layers)):
            self._backgrounds.append(self._draw_layer(j))
        for artist in self.animated:
            self._draw_artist(artist)
        if send:
            self.send()

    def _draw_artist(self, artist: Any) -> None:
        if self._images.draws(artist):
            self._images.draw(artist, self.figure.canvas.get_renderer())
        else:
            self.figure.draw_artist(artist)

    def _draw_layer(self, k: int) -> Any:
        """Draw layer ``k`` over the canvas (or restore it, kept) and return the background with it."""
        canvas, key = self.figure.canvas, self._layer_key(k)
        if key in self._kept_layers:
            canvas.restore_region(self._kept_layers[key])
            return self._kept_layers[key]
        for artist in self.layers[k]:
            self._draw_artist(artist)
        background = canvas.copy_from_bbox(self.figure.bbox)
        if key is not None:
            if len(self._kept_layers) >= self.KEPT_LAYERS:
                self._kept_layers.pop(next(iter(self._kept_layers)))
            self._kept_layers[key] = background
        return background


class ColourBarLayer:
    """An image's colour scale with its colour bar drawn as layer 0, the only layer, of a :class:`BlitImage`: the bar
    is rebuilt only when the scale changes, and a scale seen before is restored (the layer is kept per scale).

    Lessons 3 and 5: GateExplorer's gate map and CellExplorer's.
    """

    def __init__(self, canvas: BlitImage, image: Any, colorbar: Any) -> None:
        self.canvas, self.image, self.colorbar = canvas, image, colorbar
        canvas.layers = [[colorbar.ax]]
        #: the (cmap, vmin, vmax) shown
        self.scale: tuple[Any, float, float] | None = None

    def set(self, cmap: Any, vmin: float, vmax: float) -> bool:
        """Show the scale ``cmap`` from ``vmin`` to ``vmax``; True if it changed (the next render redraws layer 0)."""
        if (cmap, vmin, vmax) == self.scale:
            return False
        with self.image.callbacks.blocked():  # one colour-bar rebuild, not one per setter
            self.image.set_cmap(cmap)
            self.image.set_clim(vmin, vmax)
        self.colorbar.update_normal(self.image)
        self.scale = (cmap, vmin, vmax)
        self.canvas.layer_keys = [self.scale]
        return True
