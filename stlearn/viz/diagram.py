r"""The ConvLSTM cell drawn once — boxes and arrows in the style of colah's LSTM diagrams — with
one part in focus at a time.

.. math::
    i_t = \sigma(W_{xi} * X_t + W_{hi} * H_{t-1} + W_{ci} \odot C_{t-1} + b_i) \quad \dots \quad
    H_t = o_t \odot \tanh(C_t)

The cell state runs along the top, :math:`[X_t, H_{t-1}]` along the bottom; the four gate boxes
(σ, σ, tanh, σ) sit between; dashed lines are the peepholes :math:`W_{c\cdot} \odot C`.
:func:`draw_convlstm_cell` returns the artists with their tags, :func:`focus_cell` recolours them
(no redrawing), which is what lesson 3's :class:`~stlearn.widgets.CellExplorer` does per frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["CELL_PARTS", "CellDrawing", "draw_convlstm_cell", "focus_cell"]

#: the parts that can be in focus (the trace record's field names) and their colours
CELL_PARTS: dict[str, str] = {
    "i": "#2a9d3a",  # input gate
    "f": "#d0342c",  # forget gate
    "c_tilde": "#e08a00",  # candidate
    "c": "#7b3fb0",  # cell update
    "o": "#1f6fc0",  # output gate
    "h": "#148f8f",  # hidden state
}
_GREY = "#b8b8b8"


@dataclass
class CellDrawing:
    """The artists of one drawing (lesson 3): ``items`` holds (artist, tags, kind); ``focus`` the part in focus."""

    ax: Any
    items: list[tuple[Any, frozenset[str], str]] = field(default_factory=list)
    focus: str | None = None


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
    focus_cell(d, focus)
    return d


def focus_cell(drawing: CellDrawing, focus: str | None) -> CellDrawing:
    """Recolour a drawing so that ``focus`` (a :data:`CELL_PARTS` key or None: all in colour) stands out.

    Only colours change; no artist is created, so a widget can call it on every update (lesson 3).
    """
    if focus is not None and focus not in CELL_PARTS:
        raise ValueError(f"focus_cell: 'focus' must be one of {list(CELL_PARTS)} or None, got {focus!r}")
    drawing.focus = focus
    for artist, tags, kind in drawing.items:
        on = focus in tags if focus is not None else True
        colour = CELL_PARTS[focus] if (on and focus is not None) else ("#333333" if on else _GREY)
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


def _tint(hex_colour: str, amount: float = 0.82) -> tuple[float, float, float]:
    """``hex_colour`` mixed with white (the fill of a box in focus)."""
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(hex_colour)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)
