"""GuessFirst: "guess before you run" — a question, the learner's guess, the computed answer hidden until asked.

The answer is computed by the lesson's code (a real run of the shipped model), but the widget shows only the
question, a guess control (a slider or a list of choices) and a button. Pressing the button locks the guess and
shows the answer beside it, with what the numbers say. Lessons 3, 5 and 6.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

from ..errors import InputError, InputTypeError

__all__ = ["GuessFirst"]


class GuessFirst:
    """A question, a guess control and a button that reveals the computed answer (lessons 3, 5, 6).

    Args:
        question: the question (HTML allowed; shown in bold).
        answer: the computed answer — a number (for a slider guess) or one of ``options`` — or a callable
            returning it, called when the button is pressed.
        options: the choices of a multiple-choice guess; None for a number guessed with a slider.
        value_range: ``(low, high, step)`` of the slider (number guesses only).
        explain: what the answer means, as HTML, or a callable ``explain(guess, answer) -> str``; shown with the
            answer.
        fmt: how a number is written (``"{:.2f}"``).

    ``reveal()`` from Python does what the button does; ``guess`` is the learner's control, ``revealed`` says
    whether the answer is shown. Until then the answer appears nowhere in the widget.
    """

    def __init__(self, question: str, answer: Any, *, options: Sequence[str] | None = None,
                 value_range: tuple[float, float, float] = (0.0, 1.0, 0.05), explain: Any = "",
                 fmt: str = "{:.2f}") -> None:  # fmt: skip
        where = "GuessFirst"
        if not isinstance(question, str) or not question.strip():
            raise InputTypeError(f"{where}: 'question' must be a non-empty string, got {question!r}")
        self.options = None if options is None else [str(o) for o in options]
        if self.options is not None and len(self.options) < 2:
            raise InputError(f"{where}: 'options' must list at least two choices, got {options!r}")
        if not callable(answer):
            self._check_answer(where, answer)
        low, high, step = value_range
        if not low < high or step <= 0:
            raise InputError(f"{where}: 'value_range' must be (low, high, step) with low < high, step > 0")
        self._answer, self._explain, self.fmt = answer, explain, fmt
        self.revealed = False
        self.answer: Any = None  # set when revealed
        self.question = widgets.HTMLMath(f"<b>Guess before you run.</b> {question}")
        if self.options is None:
            self.guess = widgets.FloatSlider(value=low, min=low, max=high, step=step, description="your guess",
                                             style={"description_width": "80px"},
                                             layout=widgets.Layout(width="420px"))  # fmt: skip
        else:
            self.guess = widgets.Dropdown(options=[("— pick one —", None)] + [(o, o) for o in self.options],
                                          value=None, description="your guess", style={"description_width": "80px"},
                                          layout=widgets.Layout(width="420px"))  # fmt: skip
        self.button = widgets.Button(description="Run it: show the answer", button_style="info",
                                     layout=widgets.Layout(width="220px"))  # fmt: skip
        self.result = widgets.HTML("")
        self.button.on_click(lambda _: self.reveal())
        self.widget = widgets.VBox([self.question, widgets.HBox([self.guess, self.button]), self.result])

    def _check_answer(self, where: str, answer: Any) -> None:
        if self.options is not None and answer not in self.options:
            raise InputError(f"{where}: the answer {answer!r} is not one of the options {self.options}")
        if self.options is None and (isinstance(answer, bool) or not isinstance(answer, (int, float))):
            raise InputTypeError(f"{where}: a slider guess needs a numeric answer, got {answer!r}")

    def _text(self, value: Any) -> str:
        return self.fmt.format(value) if self.options is None else str(value)

    def reveal(self) -> str:
        """Lock the guess and show the answer next to it; returns the HTML shown."""
        if not self.revealed:
            answer = self._answer() if callable(self._answer) else self._answer
            self._check_answer("GuessFirst", answer)
            self.answer, self.revealed = answer, True
            self.guess.disabled = self.button.disabled = True
        guess = self.guess.value
        explain = self._explain(guess, self.answer) if callable(self._explain) else self._explain
        if guess is None:
            verdict = "You did not guess."
        elif self.options is None:
            verdict = f"You guessed {self._text(guess)}: off by {self._text(abs(guess - self.answer))}."
        else:
            verdict = "You guessed right." if guess == self.answer else f"You guessed “{html.escape(guess)}”."
        self.result.value = (
            f"<div style='border-left:4px solid #1f6fc0;padding-left:8px'><b>Answer: "
            f"{html.escape(self._text(self.answer))}</b>. {verdict} {explain}</div>"
        )
        return self.result.value

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
