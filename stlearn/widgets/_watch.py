"""A view keeps what its model computed; :class:`WeightsWatch` notices when the model's weights change afterwards.

A view holds what its model computed: traces, forecasts, influence maps, and pictures drawn from them. When the
learner trains or reloads the model after making a view, those kept results belong to the old weights. A new
model pass would then resume from them, and the picture would mix the two models. Every model view therefore
checks its watch before each update (:meth:`~stlearn.widgets._canvas.FigureImage.guard`). When the weights
have changed, the view shows that in its error line and asks for its cell to be run again; it does not draw.
Lessons 3-10.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

__all__ = ["ModelChanged", "WeightsWatch"]


class ModelChanged(RuntimeError):
    """The weights of a view's model changed after the view was made (lessons 3-10)."""


def _module_of(value: Any) -> torch.nn.Module | None:
    if isinstance(value, torch.nn.Module):
        return value
    owner = getattr(value, "__self__", None)  # a bound method, e.g. model.predict
    return owner if isinstance(owner, torch.nn.Module) else None


def _versions(tensors: list[torch.Tensor]) -> list[tuple[int, int]]:
    return [(id(t), t._version) for t in tensors]


class WeightsWatch:
    """The weights of ``models`` as they were when a view was made; :meth:`check` raises once they differ.

    ``models``: modules, bound methods of modules (``model.predict``), or anything else (a plain forecasting
    function, ignored). The check compares each tensor's version counter (a few microseconds) and looks at the
    values only when a counter moved, so a tensor touched but left equal (an in-place op that changes nothing,
    the same state loaded again) does not count as a change. Used by every model view of lessons 3-10.
    """

    def __init__(self, models: Iterable[Any]) -> None:
        found = (_module_of(m) for m in models)
        self.models = list({id(m): m for m in found if m is not None}.values())
        tensors = self._tensors()
        self._versions = _versions(tensors)
        self._values = [t.detach().clone() for t in tensors]

    def _tensors(self) -> list[torch.Tensor]:
        return [t for m in self.models for t in (*m.parameters(), *m.buffers())]

    def changed(self) -> bool:
        """True when a model's parameters or buffers hold other values (or shapes) than when the view was made."""
        tensors = self._tensors()
        now = _versions(tensors)
        if now == self._versions:
            return False
        same = len(tensors) == len(self._values) and all(
            t.shape == v.shape and t.dtype == v.dtype and torch.equal(t.detach(), v)
            for t, v in zip(tensors, self._values, strict=True)
        )
        if same:
            self._versions = now  # touched, unchanged
        return not same

    def check(self) -> None:
        """Raise :class:`ModelChanged`, saying what to do, when the weights changed."""
        if self.changed():
            names = " and ".join(sorted({type(m).__name__ for m in self.models}))
            raise ModelChanged(
                f"the weights of {names} changed after this view was made (trained further, or loaded again?). "
                "What the view keeps (forecasts, gate maps, pictures) comes from the old weights, so it no longer "
                "draws: run its cell again to see the model as it is now"
            )
