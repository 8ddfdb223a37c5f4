"""Load official checkpoints into the stlearn models.

* thuml/predrnn-pytorch saves ``{"net_param": state_dict}`` for PredRNN and PredRNN-V2; the
  stlearn models use the very same parameter names (``cell_list.{i}.conv_x.0.weight``, …,
  ``conv_last.weight``, V2's ``adapter.weight``; with layer norm ``…conv_x.1.weight/bias``), the
  same frame patching, zero initial states and output head, so a loaded model predicts what the
  original network computes.
* OpenSTL's ConvLSTM state dict: ``cell_list.{i}.conv_x.0.weight`` (4C, in, k, k) and
  ``conv_h.0.weight`` (4C, C, k, k), gates i, f, g, o, no peepholes, no bias, no forget bias —
  :class:`~stlearn.models.convlstm.ConvLSTM` with ``peephole=False, bias=False, forget_bias=0.0``.
  Its cells also carry ``conv_o`` and ``conv_last`` weights that the forward pass never uses;
  they are skipped.

Files are read with ``torch.load(weights_only=True)`` (no code runs). Every key of the checkpoint
must match a parameter of the model, with the same shape, and the other way round; a mismatch
raises :class:`CheckpointMismatchError` naming the key and both shapes.

Taught in lesson 9 (nowcasting with pretrained models) and lesson 10 (comparing models).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ._checks import check_weights, describe_load_error
from .errors import CheckpointError
from .models import ConvLSTM, PredRNN, SpatioTemporalModel

Tensor = torch.Tensor

__all__ = ["CheckpointMismatchError", "load_official", "load_openstl_convlstm", "load_predrnn", "read_state_dict"]


class CheckpointMismatchError(CheckpointError):
    """A checkpoint's keys or shapes do not fit the model it is loaded into (lesson 9, pretrained models)."""


def read_state_dict(source: str | os.PathLike | Mapping[str, Any]) -> dict[str, Tensor]:
    """A state dict from a file or a mapping, unwrapping the official ``{"net_param": ...}``.

    Taught in lesson 9 (loading a pretrained checkpoint).
    """
    if isinstance(source, (str, os.PathLike)):
        obj = _load_file(source)
    elif isinstance(source, Mapping):
        obj = source
    else:
        raise TypeError(f"read_state_dict: 'source' must be a path or a state dict, got {type(source).__name__}")
    if isinstance(obj, Mapping) and "net_param" in obj:
        obj = obj["net_param"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise TypeError("read_state_dict: the checkpoint is not a state dict (a mapping of names to tensors)")
    return dict(obj)


def _load_file(path: str | os.PathLike) -> Any:
    """``torch.load(weights_only=True)`` with one clear :class:`~stlearn.errors.CheckpointError` per failure.

    torch's own messages are not passed on: they advise retrying with ``weights_only=False``, which
    would run whatever code the file holds.
    """
    if not os.path.isfile(path):
        raise CheckpointError(f"no weights file at {path}: the file does not exist")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): an interrupted download or copy; fetch it again")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path} cannot be read as weights: {describe_load_error(e)}") from None


def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _load_checked(
    where: str,
    model: SpatioTemporalModel,
    state_dict: Mapping[str, Tensor],
    hint: str,
    skip: Callable[[str], bool] = lambda key: False,
) -> SpatioTemporalModel:
    own = model.state_dict()
    kept = {k: v for k, v in state_dict.items() if not skip(k)}
    for key, value in kept.items():
        if key not in own:
            raise CheckpointMismatchError(
                f"{where}: the checkpoint has key '{key}' with shape {_shape(value)}, which the model "
                f"(config {model.config}) does not have; {hint}"
            )
        if _shape(value) != _shape(own[key]):
            raise CheckpointMismatchError(
                f"{where}: key '{key}' has shape {_shape(value)} in the checkpoint but {_shape(own[key])} in the "
                f"model (config {model.config}); {hint}"
            )
    for key, value in own.items():
        if key not in kept:
            raise CheckpointMismatchError(
                f"{where}: the model's key '{key}' with shape {_shape(value)} is missing from the checkpoint; {hint}"
            )
    check_weights(where, kept, own)  # floating point, the model's dtype, finite
    model.load_state_dict(kept, strict=True)
    return model


def load_predrnn(model: PredRNN, source: str | os.PathLike | Mapping[str, Any]) -> PredRNN:
    """Load a thuml/predrnn-pytorch PredRNN or PredRNN-V2 checkpoint into ``model`` (in place, returned).

    ``model`` must be built with the checkpoint's configuration: hidden channels, kernel size,
    patch size, frame size (with layer norm), ``layer_norm``; a V2 checkpoint (with
    ``adapter.weight``) needs ``build_model("predrnn_v2", ...)``.

    Taught in lesson 9 (pretrained PredRNN on the nowcasting task).
    """
    where = "load_predrnn"
    if not isinstance(model, PredRNN):
        raise TypeError(f"{where}: 'model' must be a PredRNN or PredRNNV2, got {type(model).__name__}")
    if not model.zigzag:
        raise ValueError(f"{where}: official PredRNN networks use the zigzag memory; build the model with zigzag=True")
    hint = (
        "build the model with the checkpoint's hidden_channels, kernel_size, patch_size, layer_norm (and "
        "frame_size with layer norm); a checkpoint with 'adapter.weight' is PredRNN-V2 (build 'predrnn_v2')"
    )
    return _load_checked(where, model, read_state_dict(source), hint)  # type: ignore[return-value]


_OPENSTL_UNUSED = re.compile(r"^cell_list\.\d+\.(conv_o|conv_last)\.")


def load_openstl_convlstm(model: ConvLSTM, source: str | os.PathLike | Mapping[str, Any]) -> ConvLSTM:
    """Load an OpenSTL ConvLSTM state dict into ``model`` (in place, returned).

    ``model`` must be ``ConvLSTM(peephole=False, bias=False, forget_bias=0.0, ...)`` with the
    checkpoint's hidden channels, kernel size, patch size and layer norm. The cells' unused
    ``conv_o`` and ``conv_last`` weights are skipped.

    Taught in lesson 9 (a pretrained ConvLSTM baseline).
    """
    where = "load_openstl_convlstm"
    if not isinstance(model, ConvLSTM):
        raise TypeError(f"{where}: 'model' must be a ConvLSTM, got {type(model).__name__}")
    cfg = model.config
    if cfg["peephole"] or cfg["bias"] or cfg["forget_bias"] != 0.0:
        raise ValueError(
            f"{where}: OpenSTL's ConvLSTM cell has no peepholes, no biases and no forget bias; build "
            f"ConvLSTM(peephole=False, bias=False, forget_bias=0.0, ...), got peephole={cfg['peephole']}, "
            f"bias={cfg['bias']}, forget_bias={cfg['forget_bias']}"
        )
    hint = "build the model with the checkpoint's hidden_channels, kernel_size, patch_size and layer_norm"
    return _load_checked(where, model, read_state_dict(source), hint, skip=lambda k: bool(_OPENSTL_UNUSED.match(k)))  # type: ignore[return-value]


def load_official(model: SpatioTemporalModel, source: str | os.PathLike | Mapping[str, Any]) -> SpatioTemporalModel:
    """Load the official checkpoint format of ``model``'s family: :func:`load_predrnn` or :func:`load_openstl_convlstm`.

    Taught in lesson 9 (pretrained models).
    """
    if isinstance(model, PredRNN):
        return load_predrnn(model, source)
    if isinstance(model, ConvLSTM):
        return load_openstl_convlstm(model, source)
    raise TypeError(f"load_official: no official checkpoint format is supported for {type(model).__name__}")
