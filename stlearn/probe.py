r"""Run a ConvLSTM once on a sequence and keep everything the lessons display (lesson 3).

* :func:`trace_sequence` — one traced pass of a model over one sequence: every gate of every
  (step, layer) as NumPy arrays, the frames each step read and the predictions, so that a
  widget can switch gate, step or layer without running the model again.
* :func:`convlstm_terms` — the pre-activation terms of each ConvLSTM gate,
  e.g. :math:`W_{xi} * X_t`, :math:`W_{hi} * H_{t-1}`, :math:`W_{ci} \odot C_{t-1}`, :math:`b_i`,
  and the gates recomputed from them with :mod:`stlearn.gates` — the numbers of the live cell diagram.
* :func:`layer_terms` — those terms for every step of one layer of a traced sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import gates
from .cells import ConvLSTMCell
from .models.patching import patch_frames

Tensor = torch.Tensor

__all__ = ["SequenceTrace", "convlstm_terms", "layer_terms", "trace_sequence"]


@dataclass(frozen=True)
class SequenceTrace:
    """One traced pass over one sequence, all arrays float32 NumPy.

    Attributes:
        frames: the true frames (T, H, W) in [0, 1].
        read: what step t read, (T − 1, H, W): :math:`x_t` for t < input_len, else the fed-back :math:`\\hat x_t`.
        predictions: :math:`\\hat x_{t+1}` of step t, (T − 1, H, W) (not clipped).
        records: one dict per layer: record field (``"i"``, ``"f"``, ``"c_tilde"``, ``"c"``, ``"o"``,
            ``"h"``) → (steps, C_layer, h, w) in patch space; ``records[layer]["f"][t]`` is :math:`f_t`.
        input_len: number of input frames.

    Lesson 3's widgets read it.
    """

    frames: np.ndarray
    read: np.ndarray
    predictions: np.ndarray
    records: list[dict[str, np.ndarray]]
    input_len: int

    @property
    def num_steps(self) -> int:
        return self.read.shape[0]

    @property
    def num_layers(self) -> int:
        return len(self.records)


def _sequence_tensor(where: str, frames: Any) -> Tensor:
    x = frames if isinstance(frames, Tensor) else torch.as_tensor(np.asarray(frames))
    if x.dtype == torch.uint8:
        x = x.to(torch.float32) / 255.0
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"{where}: 'frames' must be one sequence (T, H, W) or (T, C, H, W), got {tuple(x.shape)}")
    return x.to(torch.float32)


def trace_sequence(model: torch.nn.Module, frames: Any, input_len: int = 10) -> SequenceTrace:
    """Run ``model`` (eval mode, no gradients) over one sequence with every step and layer traced.

    Args:
        model: a ConvLSTM from :mod:`stlearn.models` (any rollout model whose records have the
            fields i, f, c_tilde, c, o, h).
        frames: one sequence (T, [1,] H, W), uint8 or float in [0, 1].
        input_len: input frames; after them the model reads its own predictions (test time).

    Returns:
        A :class:`SequenceTrace`. Lesson 3 ("ConvLSTM gate by gate") and its GateExplorer.
    """
    x = _sequence_tensor("trace_sequence", frames)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x[None], trace=True, input_len=input_len)
    finally:
        model.train(was_training)
    nxt = out.next_frames[0, :, 0].numpy()  # x̂_1 … x̂_{T-1}
    truth = x[:, 0].numpy()
    read = np.concatenate([truth[:input_len], nxt[input_len - 1 : -1]], axis=0)
    tr = out.trace
    fields = tr[0, 0].as_dict().keys()
    records = [
        {name: np.stack([getattr(tr[t, layer], name)[0].numpy() for t in tr.steps]) for name in fields}
        for layer in tr.layers
    ]
    return SequenceTrace(truth, read, nxt, records, input_len)


def convlstm_terms(cell: ConvLSTMCell, x: Tensor, h_prev: Tensor, c_prev: Tensor) -> dict[str, Tensor]:
    r"""Every term inside the ConvLSTM gates, and the gates recomputed from them.

    Keys: ``x_i`` :math:`= W_{xi} * X_t`, ``h_i`` :math:`= W_{hi} * H_{t-1}`, ``p_i`` :math:`= W_{ci} \odot C_{t-1}`,
    ``b_i`` (broadcast to the map), likewise ``x_f, h_f, p_f, b_f`` and ``x_o, h_o, p_o, b_o``
    (``p_o`` :math:`= W_{co} \odot C_t`), ``x_c, h_c, b_c`` for the candidate; then ``c_prev`` and
    the results ``i, f, c_tilde, c, o, h`` computed by :mod:`stlearn.gates`. Missing peepholes or
    biases give zero terms. All (B, C, H, W).

    Lesson 3, the live cell diagram.
    """
    with torch.no_grad():
        xs = dict(zip(("i", "f", "c", "o"), cell.conv_x(x).chunk(4, dim=1), strict=True))
        hs = dict(zip(("i", "f", "c", "o"), cell.conv_h(h_prev).chunk(4, dim=1), strict=True))
        zero = torch.zeros_like(xs["i"])
        bias = cell.bias.chunk(4) if cell.bias is not None else (None,) * 4
        bs = {
            g: (zero if b is None else b.view(1, -1, 1, 1).expand_as(zero)) for g, b in zip("ifco", bias, strict=True)
        }
        i = gates.input_gate(xs["i"], hs["i"], c_prev, cell.w_ci, bias[0])
        f = gates.forget_gate(xs["f"], hs["f"], c_prev, cell.w_cf, bias[1], forget_bias=cell.forget_bias)
        c_tilde = gates.cell_candidate(xs["c"], hs["c"], bias[2])
        c = gates.cell_update(f, c_prev, i, c_tilde)
        o = gates.output_gate(xs["o"], hs["o"], c, cell.w_co, bias[3])
        h = gates.hidden_state(o, c)
        peep = {
            "i": zero if cell.w_ci is None else cell.w_ci * c_prev,
            "f": zero if cell.w_cf is None else cell.w_cf * c_prev,
            "o": zero if cell.w_co is None else cell.w_co * c,
        }
    out = {f"{part}_{g}": d[g].detach() for g in "ifco" for part, d in (("x", xs), ("h", hs), ("b", bs))}
    out.update({f"p_{g}": t for g, t in peep.items()})
    out.update(c_prev=c_prev, i=i, f=f, c_tilde=c_tilde, c=c, o=o, h=h)
    return out


def layer_terms(model: torch.nn.Module, trace: SequenceTrace, layer: int) -> dict[str, np.ndarray]:
    """:func:`convlstm_terms` for every step of ``layer`` of a traced sequence: name → (steps, C, h, w).

    Step t of layer 0 reads the patched frame the model read; layer l > 0 reads :math:`H^{l-1}_t`;
    :math:`H_{t-1}, C_{t-1}` come from the trace (zeros at t = 0). Lesson 3's CellExplorer.
    """
    cell = model.cell_list[layer]
    rec = {k: torch.from_numpy(v) for k, v in trace.records[layer].items()}
    if layer == 0:
        x = patch_frames(torch.from_numpy(trace.read)[:, None, None], model.patch_size)[:, 0]
    else:
        x = torch.from_numpy(trace.records[layer - 1]["h"])
    h_prev = torch.cat([torch.zeros_like(rec["h"][:1]), rec["h"][:-1]])
    c_prev = torch.cat([torch.zeros_like(rec["c"][:1]), rec["c"][:-1]])
    return {k: v.detach().numpy() for k, v in convlstm_terms(cell, x, h_prev, c_prev).items()}
