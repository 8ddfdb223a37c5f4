"""A view whose model is trained (or reloaded) after it was made says so, and draws no mix of two models.

Every model view keeps what the model computed: traces, forecasts, influence maps and the pictures drawn from
them. Before this check, a view made before further training went on showing the old weights' gates when a
slider moved, and GateSurgery resumed the old unmodified run with the new weights. Now the next control change
shows a message in the error line ("run its cell again") and leaves the picture alone. A tensor that is touched
but keeps its values does not count as a change. Small seeded models on 16×16 frames.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from stlearn.metrics import persistence_forecast
from stlearn.models import MIM, ConvLSTM, PredRNN, TrajGRU
from stlearn.widgets import (
    CellExplorer,
    ConnectivityExplorer,
    GateExplorer,
    GateSurgery,
    MIMMemoryExplorer,
    PredictionViewer,
    TrajGRUFlowExplorer,
    ZigzagFlow,
)
from stlearn.widgets._watch import ModelChanged, WeightsWatch

T, INPUT_LEN, HW = 6, 3, 16


def _frames() -> torch.Tensor:
    return torch.rand(2, T, 1, HW, HW, generator=torch.Generator().manual_seed(3))


def _model(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "convlstm":
        return ConvLSTM(frame_size=(HW, HW), patch_size=2, hidden_channels=[4, 3]).eval()
    if kind == "predrnn":
        return PredRNN(frame_size=(HW, HW), patch_size=2, hidden_channels=[4, 4]).eval()
    if kind == "mim":
        return MIM(frame_size=(HW, HW), patch_size=2, hidden_channels=[4, 4]).eval()
    return TrajGRU(frame_size=(HW, HW), patch_size=2, hidden_channels=[4, 6], links=[3, 2], flow_channels=4).eval()


# view name → (model kinds, make(models, frames), the control moved)
VIEWS = {
    "GateExplorer": (["convlstm"], lambda m, f: GateExplorer(m[0], f, sequences=(0, 1), input_len=INPUT_LEN), "step"),
    "CellExplorer": (["convlstm"], lambda m, f: CellExplorer(m[0], f[0], input_len=INPUT_LEN), "step"),
    "GateSurgery": (
        ["convlstm"],
        lambda m, f: GateSurgery(m[0], f, sequences=(0, 1), input_len=INPUT_LEN, ahead=False),
        "value",
    ),
    "ZigzagFlow": (["predrnn"], lambda m, f: ZigzagFlow(m[0], f, sequences=(0, 1), input_len=INPUT_LEN), "hop"),
    "MIMMemoryExplorer": (
        ["mim"],
        lambda m, f: MIMMemoryExplorer(m[0], f, sequences=(0, 1), input_len=INPUT_LEN),
        "step",
    ),
    "TrajGRUFlowExplorer": (
        ["trajgru"],
        lambda m, f: TrajGRUFlowExplorer(m[0], f, sequences=(0, 1), input_len=INPUT_LEN),
        "step",
    ),
    "ConnectivityExplorer": (
        ["convlstm", "predrnn"],
        lambda m, f: ConnectivityExplorer({"ConvLSTM": m[0], "PredRNN": m[1]}, f, sequences=(0, 1),
                                          input_len=INPUT_LEN, ahead=False),
        "col",
    ),
    "PredictionViewer": (
        ["convlstm"],
        lambda m, f: PredictionViewer({"model": m[0], "persistence": persistence_forecast}, f, sequences=(0, 1),
                                      input_len=INPUT_LEN),
        "sequence",
    ),
}


def _move(control) -> None:
    """One step of a slider or a menu, as a learner's key press."""
    if hasattr(control, "options"):
        values = [o[1] if isinstance(o, tuple) else o for o in control.options]
        control.value = values[(values.index(control.value) + 1) % len(values)]
    else:
        step = getattr(control, "step", 1) or 1
        control.value = control.value + step if control.value + step <= control.max else control.min


@pytest.mark.parametrize("name", VIEWS)
def test_a_view_stops_drawing_and_says_why_once_its_models_weights_change(name):
    kinds, make, control_name = VIEWS[name]
    models = [_model(kind) for kind in kinds]
    view = make(models, _frames())
    canvas, control = view.canvas, getattr(view, control_name)

    with torch.no_grad():  # touched, not changed (the same state loaded again): the view goes on
        for p in models[-1].parameters():
            p.add_(0.0)
        models[0].load_state_dict(models[0].state_dict())
    _move(control)
    assert canvas.last_error is None and canvas.error.layout.display == "none"

    with torch.no_grad():  # further training
        for p in models[-1].parameters():
            p.add_(0.05)
    renders, picture = canvas.renders, canvas.image.value
    _move(control)
    assert isinstance(canvas.last_error, ModelChanged), canvas.last_error
    message = str(canvas.last_error)
    assert "changed after this view was made" in message and "run its cell again" in message
    assert type(models[-1]).__name__ in message
    assert canvas.error.layout.display is None and "run its cell again" in canvas.error.value
    assert canvas.renders == renders and canvas.image.value == picture  # nothing drawn from a mix
    _move(control)  # still stale: it keeps saying so
    assert isinstance(canvas.last_error, ModelChanged)

    fresh = make(models, _frames())  # the cell run again: the view of the model as it is now
    _move(getattr(fresh, control_name))
    assert fresh.canvas.last_error is None


def test_the_watch_sees_values_shapes_and_replaced_parameters_not_mere_touches():
    model = _model("convlstm")
    watch = WeightsWatch([model.predict, persistence_forecast, model])  # a bound method and the module: one model
    assert [type(m).__name__ for m in watch.models] == ["ConvLSTM"]
    assert not watch.changed()
    with torch.no_grad():
        next(model.parameters()).add_(0.0)
    assert not watch.changed()  # its version moved, its values did not
    first = next(model.parameters())
    with torch.no_grad():
        first[(0,) * first.dim()] += 1e-6
    assert watch.changed()
    with torch.no_grad():
        first[(0,) * first.dim()] -= 1e-6
    assert not watch.changed()  # back to the weights of the view

    other = _model("convlstm")
    replaced = WeightsWatch([other])
    other.load_state_dict({k: v.clone() for k, v in other.state_dict().items()}, assign=True)  # same values
    assert not replaced.changed()
    other.load_state_dict({k: v + 1 for k, v in other.state_dict().items()}, assign=True)
    assert replaced.changed()
    with pytest.raises(ModelChanged, match="ConvLSTM changed after this view was made"):
        replaced.check()
    assert WeightsWatch([persistence_forecast]).models == [] and not WeightsWatch([]).changed()
