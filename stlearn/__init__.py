"""stlearn — spatiotemporal deep learning, gate by gate.

The helper package of the stlearn course (``notebooks/``): every gate equation of ConvLSTM and
ST-LSTM as its own function (:mod:`stlearn.gates`), cells with a fast and a trace path
(:mod:`stlearn.cells`), the five models of the seed's Table 8 (:mod:`stlearn.models`), their sampling
schedules (:mod:`stlearn.schedules`) and official-checkpoint loading (:mod:`stlearn.interop`) — and, as the
course grows, data, metrics, training and widgets.
"""

from . import cells, gates, interop, models, schedules
from .cells import ConvLSTMCell, ConvLSTMTrace, STLSTMCell, STLSTMTrace
from .models import MODELS, build_model

__version__ = "0.1.0"

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
    "schedules",
]
