"""stlearn — spatiotemporal deep learning, gate by gate.

The helper package of the stlearn course (``notebooks/``): every gate equation of ConvLSTM and
ST-LSTM as its own function (:mod:`stlearn.gates`), cells with a fast and a trace path
(:mod:`stlearn.cells`), the five models of the seed's Table 8 (:mod:`stlearn.models`) and
official-checkpoint loading (:mod:`stlearn.interop`); then data (:mod:`stlearn.data`), metrics,
training, the sampling schedules and the shipped models (:mod:`stlearn.training`), figures
(:mod:`stlearn.viz`), widgets (:mod:`stlearn.widgets`) and exercises (:mod:`stlearn.exercises`).
"""

__version__ = "0.1.0"

from . import cells, gates, interop, models
from .cells import ConvLSTMCell, ConvLSTMTrace, STLSTMCell, STLSTMTrace
from .models import MODELS, build_model

__all__ = [
    "MODELS",
    "ConvLSTMCell",
    "ConvLSTMTrace",
    "STLSTMCell",
    "STLSTMTrace",
    "__version__",
    "build_model",
    "cells",
    "gates",
    "interop",
    "models",
]
