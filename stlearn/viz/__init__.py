"""Figures of the course (matplotlib; plotly in :mod:`~stlearn.viz.hover`); each function returns its figure.

* :mod:`~stlearn.viz.frames` — frame strips, patch channels, the dBZ colour map (lessons 1, 3, 9);
* :mod:`~stlearn.viz.heatmaps` — gate heatmap grids with colour bars and shapes in the titles (lessons 2, 3);
* :mod:`~stlearn.viz.diagram` — the ConvLSTM cell (lesson 3) and the ST-LSTM cell (lesson 5) drawn once,
  one gate in focus at a time (``gate_in_focus``: the real shapes written on it, lessons 3 and 5);
* :mod:`~stlearn.viz.training` — loss curves and what each rollout step reads (lesson 4);
* :mod:`~stlearn.viz.decoupling` — |cos(ΔC, ΔM)| histograms and sampling masks (lesson 7);
* :mod:`~stlearn.viz.flow` — TrajGRU's learned flows as arrows, a warp before/after, MIM's memories as
  heatmaps over a sequence (lesson 8);
* :mod:`~stlearn.viz.zigzag` — PredRNN's stack as a layers × steps grid with the paths of M and C (lesson 6);
* :mod:`~stlearn.viz.hover` — plotly figures to hover and zoom: gate maps (lessons 3, 5), scores per lead time
  (lessons 9, 10) and training runs (lesson 10).
"""

from .decoupling import cosine_histograms, sampling_mask_grid
from .diagram import CELL_PARTS, ST_CELL_PARTS, draw_convlstm_cell, draw_stlstm_cell, focus_cell, gate_in_focus
from .flow import flow_arrows, flow_figure, mim_memory_figure, warp_figure
from .frames import as_pixels, dbz, frame_strip, patch_channels_figure, radar_colormap
from .heatmaps import GATE_STYLE, gate_grid, gate_limits
from .hover import gate_map_hover, lead_time_curves, loss_curves
from .training import load_log, loss_curve, read_pattern
from .zigzag import MemoryFlow, ZigzagDiagram, memory_flow, memory_path, zigzag_figure

__all__ = [
    "CELL_PARTS",
    "GATE_STYLE",
    "ST_CELL_PARTS",
    "MemoryFlow",
    "ZigzagDiagram",
    "as_pixels",
    "cosine_histograms",
    "dbz",
    "draw_convlstm_cell",
    "draw_stlstm_cell",
    "flow_arrows",
    "flow_figure",
    "focus_cell",
    "frame_strip",
    "gate_grid",
    "gate_in_focus",
    "gate_limits",
    "gate_map_hover",
    "lead_time_curves",
    "load_log",
    "loss_curve",
    "loss_curves",
    "memory_flow",
    "memory_path",
    "mim_memory_figure",
    "patch_channels_figure",
    "radar_colormap",
    "read_pattern",
    "sampling_mask_grid",
    "warp_figure",
    "zigzag_figure",
]
