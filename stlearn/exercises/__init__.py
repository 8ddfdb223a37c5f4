"""Graded exercises of the course: checkers with feedback, student versions and the grader.

* :mod:`stlearn.exercises.checks` — ``check_<name>(fn)`` for every exercise; the check cells of
  the notebooks call them (lesson 1, 3, 5, 6, 7 and 9). The source notebooks, with the reference
  solutions, are in ``stlearn/exercises/source/``; learners get ``notebooks/student/``.
* :mod:`stlearn.exercises.worker` — what runs beside the learner's code (cells, and calls of the
  learner's function on given inputs); :mod:`stlearn.exercises.sandbox` — bubblewrap around it.
* :mod:`stlearn.exercises.student` — ``make_student()``: the student notebooks in
  ``notebooks/student/`` from the sources (``stlearn make-student``).
* :mod:`stlearn.exercises.grade` — ``grade()``: scores submissions, each in a sandbox, judging the
  observations in the grader's own process (``stlearn grade SUBMISSION.ipynb ...``).
"""

from .checks import (
    CHECKS,
    check_cell_candidate,
    check_cell_update,
    check_convlstm_param_count,
    check_convlstm_rollout_flops,
    check_convlstm_step,
    check_csi,
    check_cut_factor_lead1,
    check_decoupling_loss,
    check_forecast,
    check_forget_clamp_answer,
    check_forget_gate,
    check_hidden_state,
    check_input_gate,
    check_m_influencers,
    check_mim_s_step,
    check_mse_per_frame,
    check_output_gate,
    check_paired_bootstrap,
    check_patch_frames,
    check_persistence_csi_reason,
    check_pod_far,
    check_position_channel,
    check_receptive_field,
    check_reverse_schedule,
    check_rollout,
    check_significant_pairs,
    check_spatial_memory,
    check_st_output,
    check_warp,
    check_zigzag_step,
)

__all__ = [
    "CHECKS",
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
