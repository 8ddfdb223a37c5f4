r"""Run a ConvLSTM or PredRNN once on a sequence and keep everything the lessons display (lessons 3, 5).

* :func:`trace_sequence` — one traced pass of a model over one sequence: every gate of every
  (step, layer) as NumPy arrays, the frames each step read and the predictions, so that a
  widget can switch gate, step or layer without running the model again.
* :func:`convlstm_terms` — the pre-activation terms of each ConvLSTM gate,
  e.g. :math:`W_{xi} * X_t`, :math:`W_{hi} * H_{t-1}`, :math:`W_{ci} \odot C_{t-1}`, :math:`b_i`,
  and the gates recomputed from them with :mod:`stlearn.gates` — the numbers of the live cell diagram.
* :func:`stlstm_terms` — the same for PredRNN's ST-LSTM (lesson 5): the terms of the temporal
  gates (:math:`W_{xi} * X_t`, :math:`W_{hi} * H^l_{t-1}`, the forget bias +1), of the primed gates
  (:math:`W'_{xi} * X_t`, :math:`W_{mi} * M^{l-1}_t`, …), of the output gate
  (:math:`W_{co} * [C^l_t, M^l_t]`) and the fused memories :math:`W_{1\times1} * [C^l_t, M^l_t]`.
* :func:`layer_terms` — those terms for every step of one layer of a traced sequence (either cell).

PredRNN-V2's memory increments (lesson 7):

* :func:`memory_increments` — :math:`\Delta C^l_t` and :math:`\Delta M^l_t` of every step and layer
  of a batch of sequences, raw or mapped through the model's shared 1×1 adapter;
* :func:`channel_cosines` — their cosine similarity per (sample, step, layer, channel) over the
  pixels: the quantity whose absolute value the decoupling loss averages;
* :func:`cosine_contributions` — the same cosine split into per-pixel maps that sum to it.

The occluder toy (lesson 4):

* :func:`object_memory` — :math:`\Delta C_t`, what a ConvLSTM's memory holds because one object was in the
  input (the same sequence run again without it), and the forget gate beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import gates
from .cells import ConvLSTMCell, STLSTMCell
from .models.patching import patch_frames

Tensor = torch.Tensor

__all__ = [
    "MemoryIncrements",
    "ObjectMemory",
    "SequenceTrace",
    "channel_cosines",
    "convlstm_terms",
    "cosine_contributions",
    "layer_terms",
    "memory_increments",
    "object_memory",
    "stlstm_terms",
    "trace_sequence",
]


@dataclass(frozen=True)
class SequenceTrace:
    """One traced pass over one sequence, all arrays float32 NumPy.

    Attributes:
        frames: the true frames (T, H, W) in [0, 1].
        read: what step t read, (T − 1, H, W): :math:`x_t` for t < input_len, else the fed-back :math:`\\hat x_t`.
        predictions: :math:`\\hat x_{t+1}` of step t, (T − 1, H, W) (not clipped).
        records: one dict per layer: record field → (steps, C_layer, h, w) in patch space;
            ``records[layer]["f"][t]`` is :math:`f_t`. ConvLSTM fields: ``"i"``, ``"f"``, ``"c_tilde"``,
            ``"c"``, ``"o"``, ``"h"``; ST-LSTM fields: ``"i"``, ``"f"``, ``"g"``, ``"c"``, ``"i_prime"``,
            ``"f_prime"``, ``"g_prime"``, ``"m"``, ``"o"``, ``"h"``.
        input_len: number of input frames.

    Lesson 3's widgets read it; lesson 5's read the ST-LSTM fields.
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
        model: a ConvLSTM, PredRNN or PredRNN-V2 from :mod:`stlearn.models` (any rollout model
            whose trace records are ConvLSTM or ST-LSTM records).
        frames: one sequence (T, [1,] H, W), uint8 or float in [0, 1].
        input_len: input frames; after them the model reads its own predictions (test time).

    Returns:
        A :class:`SequenceTrace`. Lesson 3 ("ConvLSTM gate by gate") and its GateExplorer; lesson 5
        (PredRNN's ST-LSTM) for PredRNN.
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


def stlstm_terms(cell: STLSTMCell, x: Tensor, h_prev: Tensor, c_prev: Tensor, m_in: Tensor) -> dict[str, Tensor]:
    r"""Every term inside the ST-LSTM gates, and the gates recomputed from them with :mod:`stlearn.gates`.

    Keys (all (B, C, H, W)):

    * temporal gates: ``x_i`` :math:`= W_{xi} * X_t`, ``h_i`` :math:`= W_{hi} * H^l_{t-1}`, likewise
      ``x_f, h_f`` and ``x_g, h_g``; ``b_f`` the constant forget bias (+1) broadcast to the map;
    * primed gates: ``x_i_prime`` :math:`= W'_{xi} * X_t`, ``m_i_prime`` :math:`= W_{mi} * M^{l-1}_t`,
      likewise ``x_f_prime, m_f_prime, x_g_prime, m_g_prime``; ``b_f_prime`` the forget bias;
    * output: ``x_o`` :math:`= W_{xo} * X_t`, ``h_o`` :math:`= W_{ho} * H^l_{t-1}`, ``cm_o``
      :math:`= W_{co} * [C^l_t, M^l_t]`; ``fused`` :math:`= W_{1\times1} * [C^l_t, M^l_t]`;
    * states read: ``c_prev`` :math:`C^l_{t-1}`, ``m_in`` :math:`M^{l-1}_t`, ``h_prev`` :math:`H^l_{t-1}`;
    * results: ``i, f, g, c, i_prime, f_prime, g_prime, m, o, h`` (the :class:`~stlearn.cells.STLSTMTrace` fields).

    Lesson 5 ("PredRNN's ST-LSTM"), the live ST-LSTM cell diagram.
    """
    with torch.no_grad():
        x_i, x_f, x_g, x_ip, x_fp, x_gp, x_o = cell.conv_x(x).chunk(7, dim=1)
        h_i, h_f, h_g, h_o = cell.conv_h(h_prev).chunk(4, dim=1)
        m_i, m_f, m_g = cell.conv_m(m_in).chunk(3, dim=1)
        # temporal memory C: the ConvLSTM gates without peepholes, forget bias +1
        i = gates.input_gate(x_i, h_i)
        f = gates.forget_gate(x_f, h_f, forget_bias=cell.forget_bias)
        g = gates.cell_candidate(x_g, h_g)
        c = gates.cell_update(f, c_prev, i, g)
        # spatiotemporal memory M: the primed gates read M^{l-1}_t
        i_p = gates.spatial_input_gate(x_ip, m_i)
        f_p = gates.spatial_forget_gate(x_fp, m_f, forget_bias=cell.forget_bias)
        g_p = gates.spatial_candidate(x_gp, m_g)
        m = gates.spatial_memory_update(f_p, m_in, i_p, g_p)
        # output: W_co * [C, M] inside o_t; W_1x1 * [C, M] squashed into H_t
        w_co = cell.conv_o if cell.layer_norm else cell.conv_o[0].weight
        o = gates.st_output_gate(x_o, h_o, c, m, w_co)
        h = gates.st_hidden_state(o, c, m, cell.conv_last.weight)
        cm = torch.cat([c, m], dim=1)
        cm_o = cell.conv_o(cm)
        fused = cell.conv_last(cm)
        bias = torch.full_like(x_f, cell.forget_bias)
    return {
        "x_i": x_i, "h_i": h_i, "x_f": x_f, "h_f": h_f, "b_f": bias, "x_g": x_g, "h_g": h_g,
        "x_i_prime": x_ip, "m_i_prime": m_i, "x_f_prime": x_fp, "m_f_prime": m_f, "b_f_prime": bias,
        "x_g_prime": x_gp, "m_g_prime": m_g, "x_o": x_o, "h_o": h_o, "cm_o": cm_o, "fused": fused,
        "h_prev": h_prev, "c_prev": c_prev, "m_in": m_in,
        "i": i, "f": f, "g": g, "c": c, "i_prime": i_p, "f_prime": f_p, "g_prime": g_p, "m": m, "o": o, "h": h,
    }  # fmt: skip


def _shifted(a: Tensor) -> Tensor:
    """The previous step's value at every step: zeros at t = 0, then ``a[:-1]``."""
    return torch.cat([torch.zeros_like(a[:1]), a[:-1]])


def layer_terms(model: torch.nn.Module, trace: SequenceTrace, layer: int) -> dict[str, np.ndarray]:
    """:func:`convlstm_terms` (or :func:`stlstm_terms`) for every step of ``layer``: name → (steps, C, h, w).

    Step t of layer 0 reads the patched frame the model read; layer l > 0 reads :math:`H^{l-1}_t`;
    :math:`H_{t-1}, C_{t-1}` come from the trace (zeros at t = 0). For PredRNN the memory a layer
    reads follows the zigzag: layer 0 reads the top layer's :math:`M^{L-1}_{t-1}` (zero at t = 0),
    layer l > 0 the :math:`M^{l-1}_t` the layer below just wrote (with ``zigzag=False``, its own
    :math:`M^l_{t-1}`). Lesson 3's CellExplorer; lesson 5's for the ST-LSTM.
    """
    cell = model.cell_list[layer]
    rec = {k: torch.from_numpy(v) for k, v in trace.records[layer].items()}
    if layer == 0:
        x = patch_frames(torch.from_numpy(trace.read)[:, None, None], model.patch_size)[:, 0]
    else:
        x = torch.from_numpy(trace.records[layer - 1]["h"])
    h_prev, c_prev = _shifted(rec["h"]), _shifted(rec["c"])
    if isinstance(cell, STLSTMCell):
        if not getattr(model, "zigzag", True):
            m_in = _shifted(rec["m"])
        elif layer == 0:
            m_in = _shifted(torch.from_numpy(trace.records[-1]["m"]))
        else:
            m_in = torch.from_numpy(trace.records[layer - 1]["m"])
        terms = stlstm_terms(cell, x, h_prev, c_prev, m_in)
    else:
        terms = convlstm_terms(cell, x, h_prev, c_prev)
    return {k: v.detach().numpy() for k, v in terms.items()}


# --------------------------------------------------------------------------- PredRNN-V2 (lesson 7)


@dataclass(frozen=True)
class MemoryIncrements:
    r"""The memory increments of every (step, layer) of a batch of sequences, float32 NumPy.

    Attributes:
        delta_c: :math:`\Delta C^l_t = i_t \odot g_t`, (N, steps, layers, C, h, w) in patch space.
        delta_m: :math:`\Delta M^l_t = i'_t \odot g'_t`, same shape.
        adapted: whether both went through the shared 1×1 adapter (what V2's loss compares).
        input_len: number of input frames; steps ``input_len`` … read the model's own predictions.

    Lesson 7 (PredRNN-V2) compares them between models.
    """

    delta_c: np.ndarray
    delta_m: np.ndarray
    adapted: bool
    input_len: int


def memory_increments(
    model: torch.nn.Module, frames: Any, input_len: int = 10, adapter: Any = True
) -> MemoryIncrements:
    r"""Run a PredRNN or PredRNN-V2 (eval mode, no gradients, test-time inputs) and keep ΔC and ΔM.

    Args:
        model: a :class:`~stlearn.models.PredRNN` or :class:`~stlearn.models.PredRNNV2` (any model
            whose trace records have ``delta_c`` and ``delta_m``).
        frames: one sequence (T, [1,] H, W) or a batch (N, T, [1,] H, W), uint8 or float in [0, 1]
            (T ≥ 2, so a (T, 1, H, W) array is one sequence).
        input_len: input frames; after them the model reads its own predictions.
        adapter: ``True`` — map both increments through ``model.adapter`` (V2 only), as the
            decoupling loss does; ``False`` — keep the raw increments; or any callable
            (B, C, h, w) → (B, C, h, w), e.g. another model's adapter.

    Returns:
        A :class:`MemoryIncrements`. Taught in lesson 7 (PredRNN-V2: ΔC and ΔM before and after).
    """
    where = "memory_increments"
    x = frames if isinstance(frames, Tensor) else torch.as_tensor(np.asarray(frames))
    if x.dtype == torch.uint8:
        x = x.to(torch.float32) / 255.0
    if x.ndim == 3 or (x.ndim == 4 and x.shape[1] == 1):  # one sequence (T, H, W) or (T, 1, H, W)
        x = _sequence_tensor(where, x)[None]
    elif x.ndim == 4:  # a batch (N, T, H, W), as SequenceDataset.frames holds it
        x = x[:, :, None]
    if x.ndim != 5:
        raise ValueError(
            f"{where}: 'frames' must be (T, H, W), (T, 1, H, W), (N, T, H, W) or (N, T, 1, H, W), got {tuple(x.shape)}"
        )
    x = x.to(torch.float32)
    if adapter is True:
        adapter = getattr(model, "adapter", None)
        if adapter is None:
            raise ValueError(
                f"{where}: {type(model).__name__} has no 'adapter' (only PredRNN-V2 has one); "
                "pass adapter=False for the raw increments, or another model's adapter"
            )
    elif adapter is not False and not callable(adapter):
        raise TypeError(f"{where}: 'adapter' must be True, False or a callable, got {type(adapter).__name__}")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x, trace=True, input_len=input_len)
            tr = out.trace
            first = tr[tr.steps[0], tr.layers[0]]
            if not hasattr(first, "delta_c") or not hasattr(first, "delta_m"):
                raise TypeError(
                    f"{where}: {type(model).__name__}'s records have no ΔC/ΔM (PredRNN or PredRNN-V2 needed)"
                )
            # (steps, layers, N, C, h, w)
            dc = torch.stack([tr.stack("delta_c", layer) for layer in tr.layers], dim=1)
            dm = torch.stack([tr.stack("delta_m", layer) for layer in tr.layers], dim=1)
            if adapter is not False:
                # W_adapter * ΔC and W_adapter * ΔM, one shared 1×1 convolution for every step and layer
                dc = adapter(dc.flatten(0, 2)).reshape(dc.shape)
                dm = adapter(dm.flatten(0, 2)).reshape(dm.shape)
    finally:
        model.train(was_training)
    to_np = lambda t: t.permute(2, 0, 1, 3, 4, 5).contiguous().numpy().astype(np.float32)  # noqa: E731
    return MemoryIncrements(to_np(dc), to_np(dm), adapter is not False, input_len)


def _unit(where: str, delta_c: Any, delta_m: Any) -> tuple[Tensor, Tensor]:
    a = torch.as_tensor(np.asarray(delta_c) if not isinstance(delta_c, Tensor) else delta_c)
    b = torch.as_tensor(np.asarray(delta_m) if not isinstance(delta_m, Tensor) else delta_m)
    if a.shape != b.shape or a.ndim < 3:
        raise ValueError(
            f"{where}: 'delta_c' and 'delta_m' must have the same shape (..., C, H, W), "
            f"got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if not (a.is_floating_point() and b.is_floating_point()):
        raise TypeError(f"{where}: 'delta_c' and 'delta_m' must be floating point, got {a.dtype} and {b.dtype}")
    # normalize each (…, channel) map to unit length over its H·W pixels, as the loss does
    a = torch.nn.functional.normalize(a.flatten(-2), dim=-1).reshape(a.shape)
    b = torch.nn.functional.normalize(b.flatten(-2), dim=-1).reshape(b.shape)
    return a, b


def channel_cosines(delta_c: Any, delta_m: Any) -> np.ndarray:
    r"""Cosine similarity of ΔC and ΔM per channel, over the pixels: (..., C, H, W) → (..., C).

    .. math:: \cos^l_{t,c} = \frac{\sum_p \Delta C_{c}(p)\, \Delta M_{c}(p)}
              {\lVert \Delta C_{c} \rVert\, \lVert \Delta M_{c} \rVert}

    Signed, in [−1, 1]; an all-zero map gives 0. PredRNN-V2's decoupling term of one (step,
    layer) is the mean of its absolute value over samples and channels
    (:func:`stlearn.models.predrnn_v2.decoupling_term`), computed on the *adapted* increments.

    Taught in lesson 7 (PredRNN-V2: how alike are the two memories' increments).
    """
    a, b = _unit("channel_cosines", delta_c, delta_m)
    return (a * b).flatten(-2).sum(-1).numpy()


def cosine_contributions(delta_c: Any, delta_m: Any) -> np.ndarray:
    r"""Per-pixel maps of the cosine: (..., C, H, W) → (..., C, H, W) whose pixel sums are :func:`channel_cosines`.

    .. math::
        \kappa_c(p) = \frac{\Delta C_c(p)}{\lVert \Delta C_c \rVert}
                      \cdot \frac{\Delta M_c(p)}{\lVert \Delta M_c \rVert},
        \qquad \sum_p \kappa_c(p) = \cos_c

    Positive where the two memories write the same sign, negative where opposite; a near-zero
    cosine can be two maps that never overlap or overlaps that cancel.

    Taught in lesson 7 (PredRNN-V2: where in the frame ΔC and ΔM agree).
    """
    a, b = _unit("cosine_contributions", delta_c, delta_m)
    return (a * b).numpy()


# -- the occluder toy (lesson 4) ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectMemory:
    r"""What one ConvLSTM layer's cell memory holds of one object, step by step (lesson 4, the occluder toy).

    Attributes:
        delta_c: :math:`\Delta C_t = C_t(\text{frames}) - C_t(\text{without})`, (N, T − 1, C, h, w): the part of the
            cell memory that is there because the object was in the input frames.
        f: the forget gate :math:`f_t` of the run on ``frames``, (N, T − 1, C, h, w).
        input_len: frames read before the model feeds back its own predictions.
    """

    delta_c: np.ndarray
    f: np.ndarray
    input_len: int

    def at(self, name: str, cells: Any) -> np.ndarray:
        """``delta_c`` or ``f`` at one grid cell per (sequence, step).

        ``cells``: (N, T − 1, 2) as (row, col) in the patched grid; returns (N, T − 1, C).
        """
        values = {"delta_c": self.delta_c, "f": self.f}[name]
        cells = np.asarray(cells)
        n, t = np.meshgrid(np.arange(values.shape[0]), np.arange(values.shape[1]), indexing="ij")
        rows = np.clip(cells[..., 0], 0, values.shape[-2] - 1)
        cols = np.clip(cells[..., 1], 0, values.shape[-1] - 1)
        return values[n, t, :, rows, cols]

    def peak_cells(self) -> np.ndarray:
        r"""Where the memory of the object is strongest: the grid cell of the largest :math:`\sum_c |\Delta C|`,
        (N, T − 1, 2) as (row, col)."""
        magnitude = np.abs(self.delta_c).sum(axis=2)  # (N, T-1, h, w)
        flat = magnitude.reshape(*magnitude.shape[:2], -1).argmax(axis=-1)
        return np.stack(np.unravel_index(flat, magnitude.shape[-2:]), axis=-1)


def object_memory(
    model: torch.nn.Module, frames: Any, without: Any, input_len: int = 10, layer: int = 0
) -> ObjectMemory:
    r"""Run a ConvLSTM on ``frames`` and on the same ``without`` one object; keep :math:`\Delta C` (lesson 4).

    The two runs read the same frames except where the object was, so :math:`C_t(\text{frames}) -
    C_t(\text{without})` is what layer ``layer``'s memory holds because of the object — also while the object is
    hidden from the input (the occluder toy: a square behind a bar). Both runs are test-time rollouts: after
    ``input_len`` frames each reads its own predictions.

    Args:
        model: a :class:`~stlearn.models.ConvLSTM`.
        frames, without: (N, T, C, H, W) in [0, 1], the same shape.
        input_len: frames read.
        layer: the layer whose memory is compared.
    """
    from .models import ConvLSTM
    from .surgery import run_surgery

    where = "object_memory"
    if not isinstance(model, ConvLSTM):
        raise TypeError(
            f"{where}: 'model' must be a ConvLSTM (its cell memory C is compared), got {type(model).__name__}"
        )
    if not isinstance(frames, Tensor) or not isinstance(without, Tensor) or frames.shape != without.shape:
        raise ValueError(f"{where}: 'frames' and 'without' must be tensors of one shape (N, T, C, H, W), got "
                         f"{getattr(frames, 'shape', type(frames).__name__)} and "
                         f"{getattr(without, 'shape', type(without).__name__)}")  # fmt: skip
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < model.num_layers:
        raise ValueError(f"{where}: 'layer' must be 0 … {model.num_layers - 1}, got {layer!r}")
    runs = [run_surgery(model, x, None, input_len=input_len).trace for x in (frames, without)]
    steps = runs[0].steps
    c = [np.stack([tr[t, layer].c.numpy() for t in steps], axis=1) for tr in runs]
    f = np.stack([runs[0][t, layer].f.numpy() for t in steps], axis=1)
    return ObjectMemory(delta_c=c[0] - c[1], f=f, input_len=input_len)
