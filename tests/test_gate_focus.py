"""One gate in focus (viz.gate_in_focus, lessons 3 and 5), "guess before you run" (GuessFirst, lessons 3, 5, 6),
and the lessons that use them: every gate section opens with its diagram, the guesses and gate surgery are there."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgb

from stlearn.viz import CELL_PARTS, ST_CELL_PARTS, gate_in_focus
from stlearn.widgets import GuessFirst

ROOT = Path(__file__).resolve().parents[1]
SHAPE = re.compile(r"^\(\d+(, \d+)*\)$")


def _shape_texts(fig):
    return {t.get_text(): t for t in fig.axes[0].texts if SHAPE.match(t.get_text())}


@pytest.fixture(scope="module")
def convlstm_shapes():
    """Shapes from a real trace of a small ConvLSTM (not typed constants)."""
    from stlearn.models import ConvLSTM, TraceSpec, patch_frames

    torch.manual_seed(0)
    model = ConvLSTM(frame_size=(16, 16), patch_size=4, hidden_channels=[5, 5]).eval()
    x = torch.rand(1, 4, 1, 16, 16)
    with torch.no_grad():
        out = model(x, input_len=3, trace=TraceSpec(steps=(1, 2), layers=(0,)))
    rec, prev = out.trace[2, 0], out.trace[1, 0]
    return dict(rec.as_dict(), x=patch_frames(x, 4)[:, 2], h_prev=prev.h, c_prev=prev.c)


@pytest.mark.parametrize("part", list(CELL_PARTS))
def test_convlstm_part_in_focus_carries_the_real_shapes_of_what_it_reads_and_writes(convlstm_shapes, part):
    fig = gate_in_focus(None, part, convlstm_shapes, title=f"{part} in focus")
    texts = [t for t in fig.axes[0].texts if SHAPE.match(t.get_text())]
    colour = to_rgb(CELL_PARTS[part])
    assert texts, "no shape written"
    assert all(to_rgb(t.get_color()) == colour for t in texts)  # in the part's colour
    written = {t.get_text() for t in texts}
    assert "(1, 5, 4, 4)" in written  # the 5-channel states on the 4 × 4 grid of this model
    if part in ("i", "f", "c_tilde", "o"):
        assert "(1, 16, 4, 4)" in written  # X_t: 16 patch channels
    # the part's own box is in colour, another part's box faded
    boxes = [(a, tags) for a, tags, kind in _drawing_items(fig) if kind == "box"]
    assert any(part in tags and to_rgb(a.get_edgecolor()[:3]) == colour for a, tags in boxes)
    assert any(part not in tags and np.allclose(a.get_edgecolor()[:3], to_rgb("#b8b8b8")) for a, tags in boxes)
    assert fig.axes[0].get_title() == f"{part} in focus"
    plt.close(fig)


def _drawing_items(fig):
    return fig.cell_drawing.items  # the CellDrawing gate_in_focus drew


def test_the_shapes_written_follow_the_part_in_focus(convlstm_shapes):
    shapes = {"x": (1, 16, 4, 4), "h_prev": (1, 5, 4, 4), "c_prev": (9, 9), "f": (7, 7), "o": (8, 8)}
    f = {t.get_text() for t in gate_in_focus(None, "f", shapes).axes[0].texts if SHAPE.match(t.get_text())}
    assert f == {"(1, 16, 4, 4)", "(1, 5, 4, 4)", "(9, 9)", "(7, 7)"}  # not o's
    h = {t.get_text() for t in gate_in_focus(None, "h", shapes).axes[0].texts if SHAPE.match(t.get_text())}
    assert h == {"(8, 8)"}  # H_t = o_t ⊙ tanh(C_t): o is in the h part; the inputs are not
    plt.close("all")


def test_stlstm_parts_and_the_fusion():
    from stlearn.models import PredRNN, TraceSpec

    torch.manual_seed(1)
    model = PredRNN(frame_size=(16, 16), patch_size=4, hidden_channels=[3, 3]).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 4, 1, 16, 16), input_len=3, trace=TraceSpec(steps=(2,)))
    rec, cell = out.trace[2, 0], model.cell_list[0]
    shapes = dict(rec.as_dict(), cm=torch.cat([rec.c, rec.m], 1), w_1x1=cell.conv_last.weight,
                  w_co=cell.conv_o[0].weight)  # fmt: skip
    for part in ST_CELL_PARTS:
        fig = gate_in_focus(None, part, shapes, cell="stlstm")
        assert _shape_texts(fig), part
        plt.close(fig)
    fusion = set(_shape_texts(gate_in_focus(None, "h", shapes, cell="stlstm")))
    assert {"(1, 6, 4, 4)", "(3, 6, 1, 1)", "(1, 3, 4, 4)"} <= fusion  # [C, M], W_1x1, H
    plt.close("all")


def test_gate_in_focus_draws_on_a_given_axes_and_rejects_bad_input():
    fig, ax = plt.subplots()
    assert gate_in_focus(ax, "o", {"o": (1, 2, 3, 3)}) is fig
    with pytest.raises(ValueError, match="'part' of the convlstm cell must be one of"):
        gate_in_focus(None, "f_prime")
    with pytest.raises(ValueError, match="'cell' must be 'convlstm'"):
        gate_in_focus(None, "f", cell="gru")
    with pytest.raises(ValueError, match=r"no place for the shape of \['m_in'\] on the convlstm cell"):
        gate_in_focus(None, "f", {"m_in": (1, 2)})
    with pytest.raises(TypeError, match=r"shapes\['f'\] must be a tensor, an array or a shape tuple"):
        gate_in_focus(None, "f", {"f": "big"})
    plt.close("all")


# --------------------------------------------------------------------------- GuessFirst


def test_guess_first_hides_the_answer_until_revealed():
    g = GuessFirst("How much is kept?", 0.37, explain="about a third")
    assert "0.37" not in g.widget.children[0].value + g.result.value  # nowhere before the button
    g.guess.value = 0.5
    html = g.reveal()
    assert g.revealed and g.guess.disabled and g.button.disabled
    assert "Answer: 0.37" in html and "off by 0.13" in html and "about a third" in html
    g.guess.value = 0.1  # locked in the front end; from Python the verdict follows, the answer stays
    assert "Answer: 0.37" in g.reveal()


def test_guess_first_choices_a_callable_answer_and_the_button():
    calls = []

    def answer():
        calls.append(1)
        return "B"

    g = GuessFirst("Which?", answer, options=["A", "B"], explain=lambda guess, ans: f"[{guess}→{ans}]")
    assert calls == [] and g.guess.value is None  # not computed until asked
    g.guess.value = "A"
    g.button.click()
    assert calls == [1] and "Answer: B" in g.result.value and "[A→B]" in g.result.value
    assert "You guessed “A”" in g.result.value
    right = GuessFirst("Which?", "A", options=["A", "B"])
    right.guess.value = "A"
    assert "You guessed right" in right.reveal()
    untouched = GuessFirst("Which?", "A", options=["A", "B"])
    assert "did not guess" in untouched.reveal()


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("", 1.0), {}, "non-empty string"),
        (("q", "C"), {"options": ["A", "B"]}, "not one of the options"),
        (("q", "x"), {}, "numeric answer"),
        (("q", "A"), {"options": ["A"]}, "at least two choices"),
        (("q", 0.5), {"value_range": (1.0, 0.0, 0.1)}, "low < high"),
    ],
)
def test_guess_first_rejects_bad_input(args, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        GuessFirst(*args, **kwargs)


# --------------------------------------------------------------------------- the lessons


def _cells(name):
    return json.loads((ROOT / "notebooks" / name).read_text())["cells"]


def _sections_open_with_focus(name, headings):
    """For each heading: the first code cell after it draws that part in focus."""
    cells = _cells(name)
    for heading, part in headings.items():
        at = next(k for k, c in enumerate(cells) if c["cell_type"] == "markdown" and heading in "".join(c["source"]))
        code = next(c for c in cells[at + 1 :] if c["cell_type"] == "code")
        src = "".join(code["source"])
        assert f'gate_in_focus(None, "{part}", shapes' in src, f"{name}: {heading!r} does not open with {part} in focus"
        assert src.count("gate_in_focus(") == 1  # one helper call per section
    setup = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "shapes = dict(rec.as_dict()" in setup  # the shapes come from the lesson's traced pass


def test_lesson3_gate_sections_open_with_the_gate_in_focus():
    _sections_open_with_focus("03_convlstm_gates.ipynb", {
        "## 1. Input gate": "i", "## 2. Forget gate": "f", "## 3. Candidate": "c_tilde", "## 4. Cell update": "c",
        "## 5. Output gate": "o", "## 6. Hidden state": "h",
    })  # fmt: skip


def test_lesson5_sections_open_with_the_st_lstm_part_in_focus():
    _sections_open_with_focus("05_st_lstm.ipynb", {
        "### Spatial input gate": "i_prime", "### Spatial forget gate": "f_prime", "### Spatial candidate": "g_prime",
        "## 3. The spatiotemporal memory": "m", "## 4. The output gate": "o", "## 5. The fusion": "h",
    })  # fmt: skip


@pytest.mark.parametrize(
    ("name", "needles"),
    [
        ("03_convlstm_gates.ipynb", ["GuessFirst(", "ax.axvline(9.5"]),
        ("05_st_lstm.ipynb", ["GuessFirst(", 'GateSurgery(model, test, sequences=(0, 1, 2, 3), gate="f_prime")']),
        ("06_zigzag_memory.ipynb", ["GuessFirst(", "GateSurgery(predrnn, test", 'edit="scale", gate="m")']),
    ],
)
def test_lessons_guess_first_and_operate(name, needles):
    cells = _cells(name)
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    for needle in needles:
        assert needle in code, f"{name}: missing {needle!r}"
    # the guess comes before the cell that prints its answer: the widget is the last line of its cell
    guess = next(c for c in cells if "GuessFirst(" in "".join(c["source"]))
    assert "".join(guess["source"]).rstrip().endswith("guess")
