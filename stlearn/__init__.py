"""stlearn — spatiotemporal deep learning, gate by gate.

The helper package of the stlearn course (``notebooks/``): every gate equation of ConvLSTM and
ST-LSTM as its own function (:mod:`stlearn.gates`), cells with a fast and a trace path
(:mod:`stlearn.cells`), and — as the course grows — models, data, metrics, training and widgets.
"""

from . import cells, gates
from .cells import ConvLSTMCell, ConvLSTMTrace, STLSTMCell, STLSTMTrace

__version__ = "0.1.0"

__all__ = ["ConvLSTMCell", "ConvLSTMTrace", "STLSTMCell", "STLSTMTrace", "__version__", "cells", "gates"]
