r"""One checker per exercise: ``check_<name>(fn)`` prints "✓ <name>: correct on N cases" or raises
``AssertionError`` with feedback that names the mistake.

Each checker compares the learner's function with the reference on freshly drawn random inputs
(a new seed on every call) and edge cases (float32 and float64, batch 1, odd frame sizes,
pre-activations of ±50), and recognises common mistakes by running known wrong variants
(see :mod:`stlearn.exercises._core`).  One module per exercise notebook:

* :mod:`.data_metrics` — ``ex01_data_and_metrics`` (lessons 1 and 9): patch_frames, csi, mse_per_frame
* :mod:`.convlstm_basics` — ``ex02_lstm_to_convlstm`` (lesson 2): receptive_field, convlstm_param_count
* :mod:`.convlstm_gates` — ``ex03_convlstm_gates`` (lesson 3): input_gate, forget_gate,
  cell_candidate, cell_update, output_gate, hidden_state, convlstm_step
* :mod:`.st_lstm` — ``ex05_st_lstm`` (lessons 5 and 6): spatial_memory, st_output, zigzag_step
* :mod:`.predrnn_v2` — ``ex07_predrnn_v2`` (lesson 7): decoupling_loss, reverse_schedule
* :mod:`.reading_gates` — ``ex03_convlstm_gates`` (lesson 3, read off the trained model): position_channel
* :mod:`.nowcasting` — ``ex09_nowcasting`` (lesson 9): pod_far, paired_bootstrap, persistence_csi_reason
* :mod:`.comparing` — ``ex10_comparing_models`` (lesson 10): convlstm_rollout_flops, significant_pairs
* :mod:`.zigzag` — ``ex06_zigzag_memory`` (lesson 6): m_influencers, cut_factor_lead1
* :mod:`.trajgru_mim` — ``ex08_trajgru_mim`` (lesson 8): warp, mim_s_step
* :mod:`.training` — ``ex04_training_convlstm`` (lesson 4): rollout, forecast, forget_clamp_answer
"""

from __future__ import annotations

from collections.abc import Callable

from .._core import CheckSpec
from . import (
    comparing,
    convlstm_basics,
    convlstm_gates,
    data_metrics,
    nowcasting,
    predrnn_v2,
    reading_gates,
    st_lstm,
    training,
    trajgru_mim,
    zigzag,
)
from .comparing import check_convlstm_rollout_flops, check_significant_pairs
from .convlstm_basics import check_convlstm_param_count, check_receptive_field
from .convlstm_gates import (
    check_cell_candidate,
    check_cell_update,
    check_convlstm_step,
    check_forget_gate,
    check_hidden_state,
    check_input_gate,
    check_output_gate,
)
from .data_metrics import check_csi, check_mse_per_frame, check_patch_frames
from .nowcasting import check_paired_bootstrap, check_persistence_csi_reason, check_pod_far
from .predrnn_v2 import check_decoupling_loss, check_reverse_schedule
from .reading_gates import check_position_channel
from .st_lstm import check_spatial_memory, check_st_output, check_zigzag_step
from .training import check_forecast, check_forget_clamp_answer, check_rollout
from .trajgru_mim import check_mim_s_step, check_warp
from .zigzag import check_cut_factor_lead1, check_m_influencers

__all__ = [
    "CHECKS",
    "SPECS",
    "check_cell_candidate",
    "check_cell_update",
    "check_convlstm_param_count",
    "check_convlstm_rollout_flops",
    "check_convlstm_step",
    "check_csi",
    "check_cut_factor_lead1",
    "check_decoupling_loss",
    "check_forecast",
    "check_forget_clamp_answer",
    "check_forget_gate",
    "check_hidden_state",
    "check_input_gate",
    "check_m_influencers",
    "check_mim_s_step",
    "check_mse_per_frame",
    "check_output_gate",
    "check_paired_bootstrap",
    "check_patch_frames",
    "check_persistence_csi_reason",
    "check_pod_far",
    "check_position_channel",
    "check_receptive_field",
    "check_reverse_schedule",
    "check_rollout",
    "check_significant_pairs",
    "check_spatial_memory",
    "check_st_output",
    "check_warp",
    "check_zigzag_step",
]

_MODULES = (
    data_metrics,
    convlstm_basics,
    convlstm_gates,
    training,
    st_lstm,
    predrnn_v2,
    comparing,
    reading_gates,
    nowcasting,
    zigzag,
    trajgru_mim,
)

#: Every exercise's check specification by name, its arguments named: what the grader judges with.
SPECS: dict[str, CheckSpec] = {spec.name: spec for module in _MODULES for spec in module.SPECS}

#: Every checker by exercise name (the grader and the tests iterate over it).
CHECKS: dict[str, Callable[..., None]] = {
    name: getattr(module, f"check_{name}") for module in _MODULES for name in (s.name for s in module.SPECS)
}
