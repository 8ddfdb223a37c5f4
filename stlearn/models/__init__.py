"""The model zoo: the five systems of the seed's Table 8, one interface.

======================  ==========================================  ===========
name                    class                                       lessons
======================  ==========================================  ===========
``"convlstm"``          :class:`~stlearn.models.convlstm.ConvLSTM`  2, 3, 4, 9
``"predrnn"``           :class:`~stlearn.models.predrnn.PredRNN`    5, 6, 9
``"predrnn_v2"``        :class:`~stlearn.models.predrnn_v2.PredRNNV2`  7, 9
``"mim"``               :class:`~stlearn.models.mim.MIM`            9
``"trajgru"``           :class:`~stlearn.models.trajgru.TrajGRU`    9
======================  ==========================================  ===========

Every model: ``model(frames, mask=None, input_len=10, trace=False)`` → :class:`ModelOutput`,
``model.predict(inputs, pred_len)`` → frames, ``model.name`` and ``model.config`` such that
``build_model(model.name, **model.config)`` rebuilds it (the checkpoints of lesson 4 rely on it).
Lesson 9 (nowcasting, Table 8) trains them side by side.
"""

from __future__ import annotations

from typing import Any

from .base import ModelOutput, ModelTrace, RolloutModel, SpatioTemporalModel, TraceSpec
from .convlstm import ConvLSTM
from .mim import MIM
from .mim_block import MIMBlock, MIMBlockTrace
from .patching import patch_frames, unpatch_frames
from .predrnn import PredRNN
from .predrnn_v2 import PredRNNV2, decoupling_term
from .trajgru import TrajGRU
from .trajgru_cell import TrajGRUCell, TrajGRUTrace, warp

#: registry name → model class
MODELS: dict[str, type[SpatioTemporalModel]] = {cls.name: cls for cls in (ConvLSTM, PredRNN, PredRNNV2, MIM, TrajGRU)}


def build_model(name: str, **config: Any) -> SpatioTemporalModel:
    """Build the model registered as ``name`` with constructor arguments ``config``.

    ``build_model(model.name, **model.config)`` rebuilds a model with the same architecture
    (load its weights with ``load_state_dict``).

    Taught in lesson 4 (saving and reloading a trained model) and lesson 9 (training the zoo).
    """
    if name not in MODELS:
        raise KeyError(f"build_model: unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name](**config)


__all__ = [
    "MIM",
    "MODELS",
    "ConvLSTM",
    "MIMBlock",
    "MIMBlockTrace",
    "ModelOutput",
    "ModelTrace",
    "PredRNN",
    "PredRNNV2",
    "RolloutModel",
    "SpatioTemporalModel",
    "TraceSpec",
    "TrajGRU",
    "TrajGRUCell",
    "TrajGRUTrace",
    "build_model",
    "decoupling_term",
    "patch_frames",
    "unpatch_frames",
    "warp",
]
