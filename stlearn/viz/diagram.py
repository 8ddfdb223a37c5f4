r"""The ConvLSTM cell (lesson 3) and the ST-LSTM cell (lesson 5) drawn once — boxes and arrows in the
style of colah's LSTM diagrams — with one part in focus at a time.

.. math::
    i_t = \sigma(W_{xi} * X_t + W_{hi} * H_{t-1} + W_{ci} \odot C_{t-1} + b_i) \quad \dots \quad
    H_t = o_t \odot \tanh(C_t)

The cell state runs along the top, :math:`[X_t, H_{t-1}]` along the bottom; the four gate boxes
(σ, σ, tanh, σ) sit between; dashed lines are the peepholes :math:`W_{c\cdot} \odot C`.
:func:`draw_convlstm_cell` returns the artists with their tags, :func:`focus_cell` recolours them
(no redrawing), which is what lesson 3's :class:`~stlearn.widgets.CellExplorer` does per frame.

:func:`draw_stlstm_cell` draws PredRNN's ST-LSTM the same way: the temporal memory :math:`C` along
the top with its gates :math:`f_t, i_t, g_t` reading :math:`[X_t, H^l_{t-1}]`; the spatiotemporal
memory :math:`M` along the bottom with the primed gates :math:`f'_t, i'_t, g'_t` reading
:math:`[X_t, M^{l-1}_t]`, mirrored; on the right both new memories are concatenated, seen by the
output gate through :math:`W_{co} *` and fused by the 1×1 convolution into :math:`H^l_t`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CELL_PARTS",
    "ST_CELL_PARTS",
    "CellDrawing",
    "draw_convlstm_cell",
    "draw_stlstm_cell",
    "focus_cell",
    "gate_in_focus",
]

#: the parts that can be in focus (the trace record's field names) and their colours
CELL_PARTS: dict[str, str] = {
    "i": "#2a9d3a",  # input gate
    "f": "#d0342c",  # forget gate
    "c_tilde": "#e08a00",  # candidate
    "c": "#7b3fb0",  # cell update
    "o": "#1f6fc0",  # output gate
    "h": "#148f8f",  # hidden state
}
#: the parts of the ST-LSTM drawing (its trace record's field names) and their colours (lesson 5)
ST_CELL_PARTS: dict[str, str] = {
    "i": "#2a9d3a",  # input gate
    "f": "#d0342c",  # forget gate
    "g": "#e08a00",  # candidate
    "i_prime": "#1b6e2a",  # spatial input gate
    "f_prime": "#a3195b",  # spatial forget gate
    "g_prime": "#a0522d",  # spatial candidate
    "o": "#1f6fc0",  # output gate
    "c": "#7b3fb0",  # temporal memory
    "m": "#c2185b",  # spatiotemporal memory
    "h": "#148f8f",  # hidden state
}
_GREY = "#b8b8b8"


@dataclass
class CellDrawing:
    """The artists of one drawing (lesson 3, lesson 5): ``items`` holds (artist, tags, kind); ``focus`` the part
    in focus; ``parts`` the parts that can be in focus and their colours."""

    ax: Any
    items: list[tuple[Any, frozenset[str], str]] = field(default_factory=list)
    focus: str | None = None
    parts: dict[str, str] = field(default_factory=lambda: dict(CELL_PARTS))
    #: where a tensor's shape can be written: name → (x, y, horizontal alignment, tags) (:func:`gate_in_focus`)
    anchors: dict[str, tuple[float, float, str, frozenset[str]]] = field(default_factory=dict)


def draw_convlstm_cell(ax: Any, focus: str | None = None, peephole: bool = True) -> CellDrawing:
    """Draw the ConvLSTM cell on ``ax`` (coordinates 0-10 × 0-6) and put ``focus`` in colour.

    Args:
        ax: a matplotlib Axes (its limits and frame are set here).
        focus: one of :data:`CELL_PARTS` (``"i"``, ``"f"``, ``"c_tilde"``, ``"c"``, ``"o"``, ``"h"``) or None.
        peephole: draw the dashed peephole connections.

    Returns:
        A :class:`CellDrawing` for :func:`focus_cell`.

    Lesson 3 ("ConvLSTM gate by gate"), the live cell diagram.
    """
    from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

    d = CellDrawing(ax)
    ax.set_xlim(-0.3, 10.3)
    ax.set_ylim(-0.2, 6)
    ax.set_aspect("equal")
    ax.axis("off")
    body = FancyBboxPatch(
        (0.9, 0.35), 8.2, 5.1, boxstyle="round,pad=0.05,rounding_size=0.3", fc="#f7f7f2", ec="#888888", lw=1.0, zorder=0
    )
    ax.add_patch(body)

    def arrow(p, q, tags, dashed=False, head=True):
        a = FancyArrowPatch(
            p,
            q,
            arrowstyle="-|>" if head else "-",
            mutation_scale=9,
            lw=1.4,
            linestyle="--" if dashed else "-",
            shrinkA=0,
            shrinkB=0,
            zorder=1,
        )
        ax.add_patch(a)
        d.items.append((a, frozenset(tags), "line"))

    def box(x, y, text, tags, label=None, w=0.8):
        b = FancyBboxPatch((x - w / 2, y - 0.3), w, 0.6, boxstyle="round,pad=0.02,rounding_size=0.08", lw=1.4, zorder=2)
        ax.add_patch(b)
        d.items.append((b, frozenset(tags), "box"))
        t = ax.text(x, y, text, ha="center", va="center", fontsize=10, zorder=3)
        d.items.append((t, frozenset(tags), "text"))
        if label:
            lt = ax.text(x + w / 2 + 0.05, y - 0.55, label, ha="left", va="center", fontsize=10, zorder=3)
            d.items.append((lt, frozenset(tags), "text"))

    def op(x, y, text, tags):
        c = Circle((x, y), 0.22, lw=1.4, zorder=2)
        ax.add_patch(c)
        d.items.append((c, frozenset(tags), "box"))
        t = ax.text(x, y - 0.02, text, ha="center", va="center", fontsize=10, zorder=3)
        d.items.append((t, frozenset(tags), "text"))

    def label(x, y, text, tags, **kw):
        t = ax.text(x, y, text, **{"fontsize": 11, "zorder": 3, **kw})
        d.items.append((t, frozenset(tags), "text"))

    gates = ("i", "f", "c_tilde", "o")
    # the cell state along the top: C_{t-1} → ⊙ f → + → C_t
    label(0.7, 5.0, r"$C_{t-1}$", {"f", "c", "i"}, va="center", ha="right")
    arrow((0.75, 5.0), (2.18, 5.0), {"c", "f"})
    op(2.4, 5.0, r"$\times$", {"f", "c"})
    arrow((2.62, 5.0), (4.38, 5.0), {"c"})
    op(4.6, 5.0, "+", {"c"})
    arrow((4.82, 5.0), (9.5, 5.0), {"c", "h"})
    label(9.55, 5.0, r"$C_t$", {"c", "h"}, va="center")
    # [X_t, H_{t-1}] along the bottom, tapped by the four gates
    label(0.7, 0.8, r"$H_{t-1}$", set(gates), va="center", ha="right")
    arrow((0.85, 0.8), (6.9, 0.8), set(gates), head=False)
    label(1.35, -0.15, r"$X_t$", set(gates), va="center")
    arrow((1.25, 0.05), (1.25, 0.8), set(gates), head=False)
    for x, g, sym, name in (
        (2.4, "f", r"$\sigma$", r"$f_t$"),
        (3.5, "i", r"$\sigma$", r"$i_t$"),
        (4.6, "c_tilde", "tanh", r"$\tilde C_t$"),
        (6.9, "o", r"$\sigma$", r"$o_t$"),
    ):
        arrow((x, 0.8), (x, 2.3), {g})
        box(x, 2.6, sym, {g}, label=name, w=0.8 if g != "c_tilde" else 0.9)
    # gate outputs into the update
    arrow((2.4, 2.9), (2.4, 4.78), {"f", "c"})
    op(4.6, 3.9, r"$\times$", {"i", "c_tilde", "c"})
    arrow((3.5, 2.9), (3.5, 3.9), {"i", "c"}, head=False)
    arrow((3.5, 3.9), (4.38, 3.9), {"i", "c"})
    arrow((4.6, 2.9), (4.6, 3.68), {"c_tilde", "c"})
    arrow((4.6, 4.12), (4.6, 4.78), {"i", "c_tilde", "c"})
    # the output: H_t = o_t ⊙ tanh(C_t)
    arrow((8.3, 5.0), (8.3, 4.27), {"h"})
    e = FancyBboxPatch((7.85, 3.75), 0.9, 0.5, boxstyle="round,pad=0.02,rounding_size=0.25", lw=1.4, zorder=2)
    ax.add_patch(e)
    d.items.append((e, frozenset({"h"}), "box"))
    t = ax.text(8.3, 4.0, "tanh", ha="center", va="center", fontsize=9, zorder=3)
    d.items.append((t, frozenset({"h"}), "text"))
    arrow((8.3, 3.75), (8.3, 2.82), {"h"})
    op(8.3, 2.6, r"$\times$", {"o", "h"})
    arrow((7.3, 2.6), (8.08, 2.6), {"o", "h"})
    arrow((8.3, 2.38), (8.3, 0.8), {"h"}, head=False)
    arrow((8.3, 0.8), (9.5, 0.8), {"h"})
    label(9.55, 0.8, r"$H_t$", {"h"}, va="center")
    if peephole:  # W_c ⊙ C: the gates look at the cell (C_{t-1} for i and f, the new C_t for o)
        arrow((1.5, 5.0), (2.1, 2.9), {"f"}, dashed=True)
        arrow((1.5, 5.0), (3.2, 2.9), {"i"}, dashed=True)
        arrow((6.0, 5.0), (6.7, 2.9), {"o"}, dashed=True)
        label(0.95, 3.6, "peep-\nholes", {"f", "i", "o"}, fontsize=7)
    # where gate_in_focus writes the shapes: next to each tensor's label (a gate's only when it is in focus)
    d.anchors.update({
        "x": (1.75, -0.15, "left", frozenset(gates)),
        "h_prev": (0.7, 0.42, "right", frozenset(gates)),
        "c_prev": (0.7, 5.42, "right", frozenset({"f", "c", "i"})),
        "f": (2.85, 1.72, "left", frozenset({"f"})),
        "i": (3.95, 1.72, "left", frozenset({"i"})),
        "c_tilde": (5.1, 1.72, "left", frozenset({"c_tilde"})),
        "o": (7.35, 1.72, "left", frozenset({"o", "h"})),
        "c": (9.55, 4.58, "left", frozenset({"c", "h"})),
        "h": (9.55, 0.38, "left", frozenset({"h"})),
    })  # fmt: skip
    focus_cell(d, focus)
    return d


class _Pen:
    """Adds tagged artists (arrows, boxes, operators, labels) to a drawing."""

    def __init__(self, d: CellDrawing) -> None:
        self.d = d
        self.ax = d.ax

    def _keep(self, artist: Any, tags: set[str], kind: str) -> None:
        self.d.items.append((artist, frozenset(tags), kind))

    def arrow(self, p, q, tags, dashed=False, head=True):
        from matplotlib.patches import FancyArrowPatch

        a = FancyArrowPatch(p, q, arrowstyle="-|>" if head else "-", mutation_scale=9, lw=1.4,
                            linestyle="--" if dashed else "-", shrinkA=0, shrinkB=0, zorder=1)  # fmt: skip
        self.ax.add_patch(a)
        self._keep(a, tags, "line")

    def path(self, points, tags, head=True):
        """A polyline through ``points``, with an arrow head on the last segment."""
        for k in range(len(points) - 2):
            self.arrow(points[k], points[k + 1], tags, head=False)
        self.arrow(points[-2], points[-1], tags, head=head)

    def box(self, x, y, text, tags, label=None, w=0.8, fontsize=10, label_at="below"):
        from matplotlib.patches import FancyBboxPatch

        b = FancyBboxPatch((x - w / 2, y - 0.3), w, 0.6, boxstyle="round,pad=0.02,rounding_size=0.08", lw=1.4,
                           zorder=2)  # fmt: skip
        self.ax.add_patch(b)
        self._keep(b, tags, "box")
        self._keep(self.ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=3), tags, "text")
        if label:
            dy = -0.55 if label_at == "below" else 0.55
            lt = self.ax.text(x + w / 2 + 0.05, y + dy, label, ha="left", va="center", fontsize=10, zorder=3)
            self._keep(lt, tags, "text")

    def op(self, x, y, text, tags, r=0.22, fontsize=10):
        from matplotlib.patches import Circle

        c = Circle((x, y), r, lw=1.4, zorder=2)
        self.ax.add_patch(c)
        self._keep(c, tags, "box")
        self._keep(self.ax.text(x, y - 0.02, text, ha="center", va="center", fontsize=fontsize, zorder=3), tags, "text")

    def label(self, x, y, text, tags, **kw):
        self._keep(self.ax.text(x, y, text, **{"fontsize": 11, "zorder": 3, **kw}), tags, "text")


def draw_stlstm_cell(ax: Any, focus: str | None = None) -> CellDrawing:
    r"""Draw PredRNN's ST-LSTM cell on ``ax`` (coordinates 0-12 × 0-8.4) and put ``focus`` in colour.

    Top half: the temporal memory :math:`C^l_{t-1} \to C^l_t` and its gates :math:`f_t, i_t, g_t`,
    which read :math:`[X_t, H^l_{t-1}]`. Bottom half, mirrored: the spatiotemporal memory
    :math:`M^{l-1}_t \to M^l_t` and the primed gates :math:`f'_t, i'_t, g'_t`, which read
    :math:`[X_t, M^{l-1}_t]`. Right: :math:`[C^l_t, M^l_t]` feeds the output gate (through
    :math:`W_{co} *`) and the 1×1 fusion convolution, :math:`H^l_t = o_t \odot \tanh(W_{1\times1} * [C, M])`.

    Args:
        ax: a matplotlib Axes (its limits and frame are set here).
        focus: one of :data:`ST_CELL_PARTS` (``"i"``, ``"f"``, ``"g"``, ``"i_prime"``, ``"f_prime"``,
            ``"g_prime"``, ``"o"``, ``"c"``, ``"m"``, ``"h"``) or None.

    Returns:
        A :class:`CellDrawing` for :func:`focus_cell`.

    Lesson 5 ("PredRNN's ST-LSTM"), the live ST-LSTM cell diagram.
    """
    from matplotlib.patches import FancyBboxPatch

    d = CellDrawing(ax, parts=dict(ST_CELL_PARTS))
    pen = _Pen(d)
    ax.set_xlim(-0.5, 12.2)
    ax.set_ylim(-0.45, 8.45)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.add_patch(FancyBboxPatch((1.15, -0.05), 9.55, 8.25, boxstyle="round,pad=0.05,rounding_size=0.3",
                                fc="#f7f7f2", ec="#888888", lw=1.0, zorder=0))  # fmt: skip
    temporal, spatial = {"i", "f", "g"}, {"i_prime", "f_prime", "g_prime"}
    y_c, y_xc, y_g, y_in, y_inm, y_gm, y_xm, y_m = 7.7, 6.65, 5.6, 4.55, 3.35, 2.3, 1.25, 0.2
    # --- the temporal memory C along the top: C_{t-1} → ×f → + → C_t
    pen.label(0.95, y_c, r"$C^l_{t-1}$", {"f", "c"}, va="center", ha="right")
    pen.arrow((1.0, y_c), (2.18, y_c), {"c", "f"})
    pen.op(2.4, y_c, r"$\times$", {"f", "c"})
    pen.arrow((2.62, y_c), (4.38, y_c), {"c"})
    pen.op(4.6, y_c, "+", {"c"})
    pen.arrow((4.82, y_c), (11.0, y_c), {"c", "o", "h"})
    pen.label(11.05, y_c, r"$C^l_t$", {"c", "o", "h"}, va="center")
    # --- the spatiotemporal memory M along the bottom: M^{l-1}_t → ×f' → + → M^l_t
    pen.label(0.95, y_m, r"$M^{l-1}_t$", spatial | {"m"}, va="center", ha="right")
    pen.arrow((1.0, y_m), (1.35, y_m), spatial | {"m"}, head=False)
    pen.arrow((1.35, y_m), (2.18, y_m), {"m", "f_prime"})
    pen.op(2.4, y_m, r"$\times$", {"f_prime", "m"})
    pen.arrow((2.62, y_m), (4.38, y_m), {"m"})
    pen.op(4.6, y_m, "+", {"m"})
    pen.arrow((4.82, y_m), (11.0, y_m), {"m", "o", "h"})
    pen.label(11.05, y_m, r"$M^l_t$", {"m", "o", "h"}, va="center")
    # --- inputs: [X_t, H^l_{t-1}] for the temporal gates (and o), [X_t, M^{l-1}_t] for the primed ones
    pen.label(0.95, y_in, r"$H^l_{t-1}$", temporal | {"o"}, va="center", ha="right")
    pen.arrow((1.0, y_in), (4.6, y_in), temporal | {"o"}, head=False)
    pen.arrow((4.6, y_in), (8.0, y_in), {"o"}, head=False)
    pen.label(0.95, (y_in + y_inm) / 2, r"$X_t$", temporal | spatial | {"o"}, va="center", ha="right")
    pen.arrow((1.0, (y_in + y_inm) / 2), (1.75, (y_in + y_inm) / 2), temporal | spatial | {"o"}, head=False)
    pen.arrow((1.75, (y_in + y_inm) / 2), (1.75, y_in), temporal | {"o"}, head=False)
    pen.arrow((1.75, y_inm), (1.75, (y_in + y_inm) / 2), spatial, head=False)
    pen.arrow((1.35, y_m), (1.35, y_inm), spatial, head=False)  # M^{l-1}_t also feeds the primed gates
    pen.arrow((1.35, y_inm), (4.6, y_inm), spatial, head=False)
    for x, g, sym, name, w in ((2.4, "f", r"$\sigma$", r"$f_t$", 0.8), (3.5, "i", r"$\sigma$", r"$i_t$", 0.8),
                               (4.6, "g", "tanh", r"$g_t$", 0.9)):  # fmt: skip
        pen.arrow((x, y_in), (x, y_g - 0.3), {g})
        pen.box(x, y_g, sym, {g}, label=name, w=w)
    for x, g, sym, name, w in ((2.4, "f_prime", r"$\sigma$", r"$f'_t$", 0.8),
                               (3.5, "i_prime", r"$\sigma$", r"$i'_t$", 0.8),
                               (4.6, "g_prime", "tanh", r"$g'_t$", 0.9)):  # fmt: skip
        pen.arrow((x, y_inm), (x, y_gm + 0.3), {g})
        pen.box(x, y_gm, sym, {g}, label=name, w=w, label_at="above")
    # gate outputs into the two updates
    pen.arrow((2.4, y_g + 0.3), (2.4, y_c - 0.22), {"f", "c"})
    pen.op(4.6, y_xc, r"$\times$", {"i", "g", "c"})
    pen.path([(3.5, y_g + 0.3), (3.5, y_xc), (4.38, y_xc)], {"i", "c"})
    pen.arrow((4.6, y_g + 0.3), (4.6, y_xc - 0.22), {"g", "c"})
    pen.arrow((4.6, y_xc + 0.22), (4.6, y_c - 0.22), {"i", "g", "c"})
    pen.arrow((2.4, y_gm - 0.3), (2.4, y_m + 0.22), {"f_prime", "m"})
    pen.op(4.6, y_xm, r"$\times$", {"i_prime", "g_prime", "m"})
    pen.path([(3.5, y_gm - 0.3), (3.5, y_xm), (4.38, y_xm)], {"i_prime", "m"})
    pen.arrow((4.6, y_gm - 0.3), (4.6, y_xm + 0.22), {"g_prime", "m"})
    pen.arrow((4.6, y_xm - 0.22), (4.6, y_m + 0.22), {"i_prime", "g_prime", "m"})
    # --- output fusion: [C^l_t, M^l_t] → W_co * (into o_t) and the 1×1 conv (into H_t)
    y_cat = (y_inm + y_gm) / 2 + 0.1
    pen.arrow((6.4, y_c), (6.4, y_cat + 0.3), {"o", "h"})
    pen.arrow((6.4, y_m), (6.4, y_cat - 0.3), {"o", "h"})
    pen.box(6.4, y_cat, "[C, M]", {"o", "h"}, w=1.05, fontsize=9)
    pen.path([(6.93, y_cat + 0.12), (7.35, y_cat + 0.12), (7.35, y_g), (7.6, y_g)], {"o"})
    pen.label(7.45, y_in - 0.45, r"$W_{co}*$", {"o"}, fontsize=9, va="center")
    pen.arrow((8.0, y_in), (8.0, y_g - 0.3), {"o"})
    pen.box(8.0, y_g, r"$\sigma$", {"o", "h"}, label=r"$o_t$")
    pen.arrow((6.93, y_cat - 0.12), (8.25, y_cat - 0.12), {"h"})
    pen.box(8.75, y_cat - 0.12, r"$1\times1$", {"h"}, w=1.0, fontsize=9)
    pen.arrow((9.25, y_cat - 0.12), (9.6, y_cat - 0.12), {"h"}, head=False)
    pen.arrow((9.6, y_cat - 0.12), (9.6, y_in - 0.15), {"h"})
    pen.box(9.6, y_in + 0.15, "tanh", {"h"}, w=0.9, fontsize=9)
    pen.arrow((9.6, y_in + 0.45), (9.6, y_g - 0.22), {"h"})
    pen.op(9.6, y_g, r"$\times$", {"o", "h"})
    pen.arrow((8.4, y_g), (9.38, y_g), {"o", "h"})
    pen.arrow((9.82, y_g), (11.0, y_g), {"h"})
    pen.label(11.05, y_g, r"$H^l_t$", {"h"}, va="center")
    # where gate_in_focus writes the shapes: next to each tensor's label (the primed gates' under their boxes)
    x_in = (y_in + y_inm) / 2
    d.anchors.update({
        "c_prev": (0.95, y_c - 0.42, "right", frozenset({"f", "c"})),
        "m_in": (0.95, y_m - 0.4, "right", frozenset(spatial | {"m"})),
        "h_prev": (0.95, y_in + 0.36, "right", frozenset(temporal | {"o"})),
        "x": (0.95, x_in - 0.36, "right", frozenset(temporal | spatial | {"o"})),
        "f": (2.0, y_g + 0.52, "left", frozenset({"f"})),
        "i": (3.1, y_g + 0.52, "left", frozenset({"i"})),
        "g": (4.15, y_g + 0.52, "left", frozenset({"g"})),
        "f_prime": (2.0, y_gm - 0.52, "left", frozenset({"f_prime"})),
        "i_prime": (3.1, y_gm - 0.52, "left", frozenset({"i_prime"})),
        "g_prime": (4.15, y_gm - 0.52, "left", frozenset({"g_prime"})),
        "o": (7.6, y_g + 0.52, "left", frozenset({"o", "h"})),
        "w_co": (7.45, y_in - 0.75, "left", frozenset({"o"})),
        "cm": (6.4, y_cat - 0.52, "center", frozenset({"o", "h"})),
        "w_1x1": (8.75, y_cat + 0.36, "center", frozenset({"h"})),
        "c": (11.05, y_c - 0.42, "left", frozenset({"c", "o", "h"})),
        "m": (11.05, y_m + 0.42, "left", frozenset({"m", "o", "h"})),
        "h": (11.05, y_g - 0.42, "left", frozenset({"h"})),
    })  # fmt: skip
    focus_cell(d, focus)
    return d


def focus_cell(drawing: CellDrawing, focus: str | None) -> CellDrawing:
    """Recolour a drawing so that ``focus`` (a :data:`CELL_PARTS` key or None: all in colour) stands out.

    Only colours change; no artist is created, so a widget can call it on every update (lesson 3;
    for an ST-LSTM drawing ``focus`` is a :data:`ST_CELL_PARTS` key, lesson 5).
    """
    parts = drawing.parts
    if focus is not None and focus not in parts:
        raise ValueError(f"focus_cell: 'focus' must be one of {list(parts)} or None, got {focus!r}")
    drawing.focus = focus
    for artist, tags, kind in drawing.items:
        on = focus in tags if focus is not None else True
        colour = parts[focus] if (on and focus is not None) else ("#333333" if on else _GREY)
        if kind == "text":
            artist.set_color(colour)
        elif kind == "box":
            artist.set_edgecolor(colour)
            artist.set_facecolor("#ffffff" if not on or focus is None else _tint(colour))
            artist.set_linewidth(2.2 if on and focus is not None else 1.2)
        else:
            artist.set_color(colour)
            artist.set_linewidth(2.2 if on and focus is not None else 1.2)
    return drawing


#: the names of the parts, as the lessons write them (titles of :func:`gate_in_focus`)
PART_NAMES = {
    "convlstm": {"i": "input gate $i_t$", "f": "forget gate $f_t$", "c_tilde": r"candidate $\tilde C_t$",
                 "c": "cell update $C_t$", "o": "output gate $o_t$", "h": "hidden state $H_t$"},
    "stlstm": {"i": "input gate $i_t$", "f": "forget gate $f_t$", "g": "candidate $g_t$",
               "i_prime": "spatial input gate $i'_t$", "f_prime": "spatial forget gate $f'_t$",
               "g_prime": "spatial candidate $g'_t$", "m": "spatiotemporal memory $M^l_t$",
               "c": "temporal memory $C^l_t$", "o": "output gate $o_t$",
               "h": r"the $1\times1$ fusion: hidden state $H^l_t$"},
}  # fmt: skip


def _shape_text(where: str, name: str, value: Any) -> str:
    """``(1, 32, 16, 16)`` for a tensor, array or shape tuple."""
    shape = getattr(value, "shape", value)
    try:
        dims = tuple(int(v) for v in shape)
    except (TypeError, ValueError):
        raise TypeError(
            f"{where}: shapes[{name!r}] must be a tensor, an array or a shape tuple, got {value!r}"
        ) from None
    return "(" + ", ".join(map(str, dims)) + ")"


def gate_in_focus(ax: Any, part: str, shapes: dict[str, Any] | None = None, *, cell: str = "convlstm",
                  title: str | None = None, peephole: bool = True) -> Any:  # fmt: skip
    """The cell diagram with one part in focus, the rest faded, and the real shapes of that part written on it.

    One call opens each gate section of lesson 3 (ConvLSTM: ``"i"``, ``"f"``, ``"c_tilde"``, ``"c"``, ``"o"``,
    ``"h"``) and of lesson 5 (ST-LSTM, ``cell="stlstm"``: ``"i_prime"``, ``"f_prime"``, ``"g_prime"``, ``"m"``,
    ``"o"``, and ``"h"`` for the 1×1 fusion).

    Args:
        ax: a matplotlib Axes to draw on, or None for a new figure.
        part: the part in focus (:data:`CELL_PARTS`, or :data:`ST_CELL_PARTS` for ``cell="stlstm"``).
        shapes: tensors (or shapes) from the lesson's real pass, by name: the trace record's fields (``"i"``,
            ``"f"``, …, ``"c"``, ``"h"``) and the inputs ``"x"`` (X_t), ``"h_prev"``, ``"c_prev"``; for the
            ST-LSTM also ``"m_in"`` (M^{l-1}_t), ``"cm"`` ([C, M]), ``"w_co"`` and ``"w_1x1"``. The shapes of the
            tensors the part in focus reads or writes are written beside their labels, in its colour.
        cell: ``"convlstm"`` (lesson 3) or ``"stlstm"`` (lesson 5).
        title: the title (default: the part's name).
        peephole: draw the ConvLSTM's peepholes (lesson 3's model has them).

    Returns:
        The figure (its ``cell_drawing`` attribute: the :class:`CellDrawing`). Lessons 3 and 5 (each gate section
        opens with it).
    """
    where = "gate_in_focus"
    if cell not in PART_NAMES:
        raise ValueError(f"{where}: 'cell' must be 'convlstm' (lesson 3) or 'stlstm' (lesson 5), got {cell!r}")
    parts = CELL_PARTS if cell == "convlstm" else ST_CELL_PARTS
    if part not in parts:
        raise ValueError(f"{where}: 'part' of the {cell} cell must be one of {list(parts)}, got {part!r}")
    if ax is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7.4, 4.3) if cell == "convlstm" else (7.4, 5.4))
    else:
        fig = ax.figure
    d = draw_convlstm_cell(ax, part, peephole=peephole) if cell == "convlstm" else draw_stlstm_cell(ax, part)
    shapes = dict(shapes or {})
    unknown = sorted(set(shapes) - set(d.anchors))
    if unknown:
        raise ValueError(f"{where}: no place for the shape of {unknown} on the {cell} cell; it takes {list(d.anchors)}")
    colour = parts[part]
    for name, value in shapes.items():
        x, y, ha, tags = d.anchors[name]
        if part not in tags:
            continue  # a tensor the part in focus does not read or write: faded, no shape
        ax.text(x, y, _shape_text(where, name, value), ha=ha, va="center", fontsize=7.5, color=colour, zorder=4,
                family="monospace", bbox={"fc": "white", "ec": "none", "alpha": 0.85, "pad": 0.4})  # fmt: skip
    lo, hi = ax.get_xlim()
    ax.set_xlim(lo - 1.3, hi + 1.2)  # room for the shapes beside the outer labels
    ax.set_title(title if title is not None else f"{PART_NAMES[cell][part]} in focus", fontsize=10)
    fig.cell_drawing = d
    return fig


def _tint(hex_colour: str, amount: float = 0.82) -> tuple[float, float, float]:
    """``hex_colour`` mixed with white (the fill of a box in focus)."""
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(hex_colour)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)
