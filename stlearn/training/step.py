"""One training step — forward, backward, gradient clipping, Adam — eager or captured as a CUDA graph.

:class:`TrainStep` is what :func:`stlearn.training.train` calls once per iteration. Eager, it is the
five lines of lesson 4. With ``capture = "cudagraph"`` (CUDA only) the whole step is recorded once
with ``torch.cuda.graph`` and replayed: a 19-step rollout of a stacked cell is thousands of small
kernels, and eager PyTorch spends longer launching them than the GPU spends running them
(``benchmarks/results/gpu.md``: a paper-size PredRNN step 159 ms eager, 60 ms bf16 + graph). The
graph reads its batch and mask from fixed buffers that each call copies into, and Adam runs
``fused`` and ``capturable`` with its learning rate held in a tensor, so the schedule can change it
between replays without a new capture.

With ``compile = true`` the model's forward (the whole unrolled rollout) and its backward go
through ``torch.compile`` (TorchInductor), which fuses the gates' element-wise work around the
convolutions: on a 2-core AMD EPYC (Zen 4) a 2 × 32 PredRNN bf16 step took 0.40 s instead of 0.54 s,
after a one-off compilation of about 6 minutes — worth it for runs of thousands of iterations, not
for a lesson's minute of training (``benchmarks/results/official.md``). It needs a C++ compiler.

Taught in lesson 4 (the training step); capture and compilation are engineering details of long runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch

Tensor = torch.Tensor

#: the ``torch.compile`` backend of ``compile = true`` (the tests swap in ``"eager"``, which only traces)
COMPILE_BACKEND = "inductor"


def make_optimizer(model: torch.nn.Module, lr: float, captured: bool) -> torch.optim.Adam:
    """Adam over ``model``'s parameters; for a captured step fused and capturable, with a tensor learning rate."""
    if not captured:
        return torch.optim.Adam(model.parameters(), lr=lr)
    device = next(model.parameters()).device
    return torch.optim.Adam(
        model.parameters(), lr=torch.tensor(lr, device=device), fused=True, capturable=True
    )


def capture_graph(step: Callable[[], None], optimizer: torch.optim.Optimizer) -> Callable[[], None]:
    """``step`` (zero_grad, forward, backward, optimizer step on fixed tensors) captured as one CUDA graph.

    Warm-up on a side stream first (allocator pools, cuDNN's algorithm choice, Adam's state), then one
    capture; the returned function replays it. The gradients are set to ``None`` before the capture, so
    the captured backward allocates them from the graph's own memory pool and every replay rewrites
    them in place. The warm-up's optimizer steps are undone afterwards (weights and Adam's state copied
    back in place), so the first replay is the run's first update.
    """
    params = [p for group in optimizer.param_groups for p in group["params"]]
    saved = [p.detach().clone() for p in params]
    saved_state = {id(p): {k: v.clone() for k, v in optimizer.state[p].items()} for p in params if optimizer.state[p]}
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    optimizer.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        step()
    with torch.no_grad():
        for p, value in zip(params, saved, strict=True):
            p.copy_(value)
            for key, t in optimizer.state[p].items():
                if id(p) in saved_state:
                    t.copy_(saved_state[id(p)][key])
                else:
                    t.zero_()
    return graph.replay


class TrainStep:
    """``step(frames, mask, lr) -> (loss, loss_terms)``: one optimizer update (two with ``reverse_input``).

    Args:
        model: the network (or its ``DistributedDataParallel`` wrapper).
        optimizer: from :func:`make_optimizer` (``captured=True`` for a CUDA graph).
        input_len: encoder frames.
        amp: bf16 autocast on the model's device.
        grad_clip: clip the gradients' global norm to this (None or 0: no clipping).
        reverse_input: a second update on the time-reversed batch with the same mask.
        capture: ``"none"`` or ``"cudagraph"``.
        compile: run the forward (and so the backward) through ``torch.compile``.

    ``loss`` and the ``loss_terms`` values are 0-d tensors on the device (no synchronisation per step);
    read them with ``float()`` only when logging.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, input_len: int, amp: bool,
                 grad_clip: float | None, reverse_input: bool = False, capture: str = "none",
                 compile: bool = False) -> None:  # fmt: skip
        self.model, self.optimizer, self.input_len = model, optimizer, input_len
        self.forward = torch.compile(model, backend=COMPILE_BACKEND) if compile else model
        self.amp, self.grad_clip, self.reverse_input = amp, grad_clip, reverse_input
        self.capture = capture
        self.device = next(model.parameters()).device
        self._replay: Callable[[], None] | None = None
        self._frames: Tensor | None = None
        self._mask: Tensor | None = None
        self._out: tuple[Tensor, dict[str, Tensor]] | None = None

    def _update(self, frames: Tensor, mask: Tensor | None) -> tuple[Tensor, dict[str, Tensor]]:
        # no autocast weight cache under graph capture: the cached casts would be freed after capture
        cache = self.capture != "cudagraph"
        ctx = torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=cache) if self.amp else (
            contextlib.nullcontext()
        )
        self.optimizer.zero_grad(set_to_none=True)
        with ctx:
            out = self.forward(frames, mask=mask, input_len=self.input_len)
        out.loss.backward()
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        return out.loss.detach(), {k: v.detach() for k, v in out.loss_terms.items()}

    def _both(self, frames: Tensor, mask: Tensor | None) -> tuple[Tensor, dict[str, Tensor]]:
        out = self._update(frames, mask)
        if self.reverse_input:
            self._update(frames.flip(1), mask)
        return out

    def set_lr(self, lr: float) -> None:
        """Set the learning rate of every parameter group (in place for a captured step's tensor)."""
        for group in self.optimizer.param_groups:
            if isinstance(group["lr"], Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr

    def __call__(self, frames: Tensor, mask: Tensor | None) -> tuple[Tensor, dict[str, Tensor]]:
        if self.capture != "cudagraph":
            return self._both(frames, mask)
        if mask is None:
            raise ValueError("TrainStep: a captured step needs a sampling mask (sampling = 'teacher' or a schedule)")
        if self._replay is None:
            self._frames, self._mask = frames.clone(), mask.clone()

            def step() -> None:
                self._out = self._both(self._frames, self._mask)

            self._replay = capture_graph(step, self.optimizer)
        self._frames.copy_(frames, non_blocking=True)
        self._mask.copy_(mask, non_blocking=True)
        self._replay()
        return self._out
