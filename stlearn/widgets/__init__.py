"""Interactive views of the lessons, built on ipywidgets + matplotlib (rendered to PNG).

* :class:`FrameViewer` — frames (or any maps) side by side under one time slider (lessons 1, 2);
* :class:`ForecastPlayer` — a trained model's forecast played beside its input and the truth, one click to play
  (the course map and lesson 1 open with it);
* :class:`GateExplorer` — a pretrained ConvLSTM's gates on real sequences: sequence, step, layer,
  gate, channel and a pixel probe, beside input, prediction and ground truth (lesson 3);
* :class:`CellExplorer` — the live cell diagram: one gate in focus with its equation, shapes and
  the values at one pixel and step flowing through it (lesson 3);
* :class:`PredictionViewer` — inputs, ground truth and each model's forecast as frame strips, with a
  metric per lead time (lesson 4; lessons 9 and 10 compare models with it);
* :class:`GateSurgery` — edit one gate (clamp, bias, scale; zero M, cut the zigzag for PredRNN) during
  the forecast, on all channels or one, everywhere or in a region, and compare with the unmodified run,
  the edited gate's maps beside the forecast (lesson 4; PredRNN's primed gates and M in lessons 5, 6);
* :class:`GuessFirst` — "guess before you run": a question, the learner's guess, the computed answer
  hidden until the button is pressed (lessons 3, 5, 6);
* :class:`IncrementExplorer` — where PredRNN-V2's memory increments ΔC and ΔM agree, per model,
  sample, step and layer (lesson 7).
* :class:`ZigzagFlow` — PredRNN's memory M travelling up the stack and back to the bottom, hop by
  hop, with its real magnitudes; the zigzag cut for comparison (lesson 6).
* :class:`TrajGRUFlowExplorer` — a TrajGRU's L learned flows as arrows over the frames, and what
  warping H along one of them does (lesson 8);
* :class:`MIMMemoryExplorer` — MIM's MIM-N input H_t − H_{t−1}, non-stationary and stationary
  memories and gates, step by step (lesson 8).

Given a PredRNN, GateExplorer and CellExplorer switch to the ST-LSTM's parts (i, f, g, i', f', g',
o, C, M, H) and CellExplorer draws the ST-LSTM cell (lesson 5).

Every view draws its figure once and afterwards only updates image data and texts; the model runs
once per sequence (cached). The two views whose update is a model pass, GateSurgery and
ConnectivityExplorer, compute the settings one step away in a background thread while the learner
looks (``_ahead.ComputeAhead``): stepping a control shows a result already computed. Errors in a
callback appear in the view's red error line.
"""

from .cell_explorer import CellExplorer
from .connectivity import ConnectivityExplorer
from .forecast_player import ForecastPlayer
from .frame_viewer import FrameViewer
from .gate_explorer import GateExplorer
from .gate_surgery import GateSurgery
from .guess import GuessFirst
from .increment_explorer import IncrementExplorer
from .mim_memory import MIMMemoryExplorer
from .prediction_viewer import PredictionViewer
from .trajgru_flow import TrajGRUFlowExplorer
from .zigzag_flow import ZigzagFlow

__all__ = [
    "CellExplorer",
    "ConnectivityExplorer",
    "ForecastPlayer",
    "FrameViewer",
    "GateExplorer",
    "GateSurgery",
    "GuessFirst",
    "IncrementExplorer",
    "MIMMemoryExplorer",
    "PredictionViewer",
    "TrajGRUFlowExplorer",
    "ZigzagFlow",
]
