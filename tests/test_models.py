"""The shared interface of the five models: shapes, loss, gradients, traces, masks, configs, errors."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
import torch

from stlearn.models import MODELS, ModelOutput, TraceSpec, build_model, unpatch_frames
from stlearn.training import schedules

NAMES = sorted(MODELS)
B, T, IN, C, HW = 2, 5, 2, 2, 8  # batch, frames, input frames, channels, frame size: tiny on purpose


def tiny(name: str, **overrides) -> dict:
    config = {"in_channels": C, "frame_size": (HW, HW), "patch_size": 2, "hidden_channels": [4, 4], "kernel_size": 3}
    if name == "trajgru":
        config.update(links=2, flow_channels=4)
    config.update(overrides)
    return config


def make(name: str, seed: int = 0, dtype: torch.dtype = torch.float64, **overrides):
    torch.manual_seed(seed)
    return build_model(name, **tiny(name, **overrides)).to(dtype)


def frames(batch: int = B, steps: int = T, seed: int = 1, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.rand(batch, steps, C, HW, HW, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _perturb_flow_layers(model) -> None:
    """TrajGRU's flow convolutions start at zero (identity warp), which blocks the gradient to the
    flow generator's first layer at initialisation; give them small weights for the gradient test."""
    for name, p in model.named_parameters():
        if name.endswith("flows.weight"):
            with torch.no_grad():
                p.normal_(0, 0.1, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_shapes_and_no_dead_parameters(name: str) -> None:
    model = make(name, dtype=torch.float32)
    if name == "trajgru":
        _perturb_flow_layers(model)
    x = frames(dtype=torch.float32)
    out = model(x, input_len=IN)
    assert isinstance(out, ModelOutput)
    assert out.predictions.shape == (B, T - IN, C, HW, HW)
    if name == "trajgru":
        assert out.next_frames is None
    else:
        assert out.next_frames.shape == (B, T - 1, C, HW, HW)
        assert torch.equal(out.predictions, out.next_frames[:, IN - 1 :])
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert "mse" in out.loss_terms and not out.loss_terms["mse"].requires_grad
    assert out.trace is None
    out.loss.backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert dead == []


def test_trajgru_flow_generator_is_the_only_zero_gradient_at_init() -> None:
    # with the official zero-initialised flow layer, only the flow generator's first layer gets zero gradient
    model = make("trajgru", dtype=torch.float32)
    model(frames(dtype=torch.float32), input_len=IN).loss.backward()
    zero = {n for n, p in model.named_parameters() if not torch.any(p.grad != 0)}
    assert zero and all(".i2f." in n or ".h2f." in n for n in zero)


@pytest.mark.parametrize("name", NAMES)
def test_loss_is_the_mse_of_the_family(name: str) -> None:
    model = make(name)
    x = frames()
    out = model(x, input_len=IN)
    if name == "trajgru":
        mse = torch.mean((out.predictions - x[:, IN:]) ** 2)
    else:
        mse = torch.mean((out.next_frames - x[:, 1:]) ** 2)  # all T−1 one-step predictions
    torch.testing.assert_close(out.loss_terms["mse"], mse, rtol=1e-12, atol=0)
    if name == "predrnn_v2":
        expected = mse + model.decouple_beta * out.loss_terms["decouple"]
        torch.testing.assert_close(out.loss, expected, rtol=1e-12, atol=0)
    else:
        torch.testing.assert_close(out.loss, mse, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_predict_is_the_test_time_forward(name: str) -> None:
    model = make(name).train()
    x = frames()
    forecast = model.predict(x[:, :IN], T - IN)
    assert forecast.shape == (B, T - IN, C, HW, HW) and not forecast.requires_grad
    assert model.training  # mode restored
    # the test-time forecast never looks at the target frames
    torch.testing.assert_close(forecast, model(x, input_len=IN).predictions.detach(), rtol=0, atol=1e-12)
    longer = model.predict(x[:, :IN], 7)
    assert longer.shape == (B, 7, C, HW, HW)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "trajgru"])
def test_masks_select_truth_or_prediction(name: str) -> None:
    model = make(name)
    x = frames()
    base = model(x, input_len=IN)
    # the explicit test-time mask is what mask=None means
    same = model(x, mask=schedules.inference_mask(B, T, IN, dtype=torch.float64), input_len=IN)
    torch.testing.assert_close(same.next_frames, base.next_frames, rtol=0, atol=0)
    # all ones: full teacher forcing — every step reads the truth, as when all frames but the last are inputs
    forced = model(x, mask=torch.ones(B, T - 2), input_len=IN)
    torch.testing.assert_close(forced.next_frames, model(x, input_len=T - 1).next_frames, rtol=0, atol=0)
    # a per-sample mask: sample 0 forced, sample 1 free-running
    mixed = model(x, mask=torch.stack([torch.ones(T - 2), torch.zeros(T - 2)]).double(), input_len=IN)
    torch.testing.assert_close(mixed.next_frames[0], forced.next_frames[0], rtol=0, atol=0)
    free = model(x, input_len=1).next_frames
    torch.testing.assert_close(mixed.next_frames[1], free[1], rtol=0, atol=0)
    # a soft mask blends: X_t = m·x_t + (1 − m)·x̂_t
    half = model(x, mask=torch.full((B, T - 2), 0.5, dtype=torch.float64), input_len=IN)
    assert not torch.allclose(half.next_frames, forced.next_frames)


@pytest.mark.parametrize("name", NAMES)
def test_trace_completeness_and_selection(name: str) -> None:
    model = make(name)
    x = frames()
    n_steps = T if name == "trajgru" else T - 1
    full = model(x, input_len=IN, trace=True).trace
    assert set(full.records) == {(t, layer) for t in range(n_steps) for layer in range(2)}
    for record in full.records.values():
        for f in fields(record):
            value = getattr(record, f.name)
            assert isinstance(value, torch.Tensor) and value.shape[0] == B, f.name
    # only the chosen steps and layers (negative indices count from the end)
    part = model(x, input_len=IN, trace=TraceSpec(steps=(0, -1), layers=(1,))).trace
    assert set(part.records) == {(0, 1), (n_steps - 1, 1)}
    assert part.steps == (0, n_steps - 1) and part.layers == (1,)
    grid = HW // 2 // (2 if name == "trajgru" else 1)  # patch size 2; TrajGRU's layer 1 is the coarser scale
    assert part.stack("h", layer=1).shape == (2, B, 4, grid, grid)
    with pytest.raises(KeyError, match="was not traced"):
        part[1, 0]
    with pytest.raises(IndexError, match="trace step 99 is out of range"):
        model(x, input_len=IN, trace=TraceSpec(steps=(99,)))


def test_trace_record_types() -> None:
    from stlearn.cells import ConvLSTMTrace, STLSTMTrace
    from stlearn.models import MIMBlockTrace, TrajGRUTrace

    x = frames()
    expected = {
        "convlstm": (ConvLSTMTrace, ConvLSTMTrace),
        "predrnn": (STLSTMTrace, STLSTMTrace),
        "predrnn_v2": (STLSTMTrace, STLSTMTrace),
        "mim": (STLSTMTrace, MIMBlockTrace),
        "trajgru": (TrajGRUTrace, TrajGRUTrace),
    }
    for name, types in expected.items():
        trace = make(name)(x, input_len=IN, trace=TraceSpec(steps=(1,))).trace
        assert (type(trace[1, 0]), type(trace[1, 1])) == types, name


@pytest.mark.parametrize("name", NAMES)
def test_fast_and_trace_paths_agree(name: str) -> None:
    model = make(name)
    x = frames()
    mask = schedules.sampling_mask(B, T, IN, 0.5, 0.5, torch.Generator().manual_seed(0), dtype=torch.float64)
    fast = model(x, mask=mask, input_len=IN)
    traced = model(x, mask=mask, input_len=IN, trace=True)
    torch.testing.assert_close(traced.predictions, fast.predictions, rtol=0, atol=1e-12)
    torch.testing.assert_close(traced.loss, fast.loss, rtol=1e-12, atol=0)
    # the traced states are the ones the network used: the head applied to the last traced H gives the last frame
    last = T - 1 if name == "trajgru" else T - 2
    h_bottom_or_top = traced.trace[last, 0 if name == "trajgru" else 1].h
    frame = unpatch_frames(model.conv_last(h_bottom_or_top).unsqueeze(1), 2)[:, 0]
    torch.testing.assert_close(frame, fast.predictions[:, -1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_under_a_seed(name: str) -> None:
    x = frames()
    a, b, c = make(name, seed=5), make(name, seed=5), make(name, seed=6)
    out_a = a(x, input_len=IN).predictions
    assert torch.equal(out_a, b(x, input_len=IN).predictions)
    assert torch.equal(out_a, a(x, input_len=IN).predictions)
    assert not torch.equal(out_a, c(x, input_len=IN).predictions)


@pytest.mark.parametrize("name", NAMES)
def test_batch_size_may_change_between_calls(name: str) -> None:
    model = make(name)
    x3 = frames(batch=3)
    out3 = model(x3, input_len=IN).predictions
    out1 = model(x3[1:2], input_len=IN).predictions  # a smaller batch next
    out2 = model(frames(batch=2, seed=9), input_len=IN).predictions
    assert out2.shape[0] == 2
    # no state leaks between sequences or calls: a sample's forecast does not depend on its batch
    torch.testing.assert_close(out1[0], out3[1], rtol=0, atol=1e-12)
    torch.testing.assert_close(model(x3, input_len=IN).predictions, out3, rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_config_rebuilds_the_model(name: str) -> None:
    model = make(name)
    config = json.loads(json.dumps(model.config))  # JSON-able, as a checkpoint stores it
    rebuilt = build_model(model.name, **config).double()
    rebuilt.load_state_dict(model.state_dict())
    assert rebuilt.config == model.config
    x = frames()
    torch.testing.assert_close(rebuilt.predict(x[:, :IN], 2), model.predict(x[:, :IN], 2), rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_float32_and_float64(name: str) -> None:
    for dtype in (torch.float32, torch.float64):
        out = make(name, dtype=dtype)(frames(dtype=dtype), input_len=IN)
        assert out.predictions.dtype == dtype and out.loss.dtype == dtype


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", NAMES)
def test_cuda(name: str) -> None:
    model = make(name, dtype=torch.float32).cuda()
    out = model(frames(dtype=torch.float32).cuda(), input_len=IN, trace=True)
    out.loss.backward()
    assert out.predictions.is_cuda and all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", NAMES)
def test_clear_errors_for_bad_input(name: str) -> None:
    model = make(name)
    x = frames()
    with pytest.raises(ValueError, match=r"'frames' must have 5 dimensions \(B, T, C, H, W\)"):
        model(x[:, 0])
    with pytest.raises(ValueError, match=r"'frames' must have 2 channel\(s\)"):
        model(x[:, :, :1])
    with pytest.raises(ValueError, match=r"'input_len' must be an integer with 1 ≤ input_len < T, where T = 5"):
        model(x, input_len=5)
    with pytest.raises(ValueError, match=r"'mask' must have shape \(B, T-2\) = \(2, 3\), got \(2, 4\)"):
        model(x, mask=torch.ones(B, T - 1), input_len=IN)
    with pytest.raises(TypeError, match=r"'frames' is torch.float32 .* weights are torch.float64"):
        model(x.float(), input_len=IN)
    with pytest.raises(ValueError, match="pred_len"):
        model.predict(x[:, :IN], 0)
    with pytest.raises(TypeError, match="trace"):
        model(x, input_len=IN, trace="all")


def test_frame_size_errors() -> None:
    odd = torch.rand(1, 3, C, 6, 9, dtype=torch.float64)
    # models without per-pixel weights accept other sizes, as long as the patches fit
    free = make("predrnn")
    assert free.predict(torch.rand(1, 2, C, 12, 6, dtype=torch.float64), 1).shape == (1, 1, C, 12, 6)
    with pytest.raises(
        ValueError, match=r"frame size \(H, W\) = \(6, 9\) of 'frames' must be divisible by patch_size = 2"
    ):
        free(odd, input_len=1)
    # per-pixel peepholes / MIM modules fix the frame size
    for name in ("convlstm", "mim"):
        with pytest.raises(ValueError, match=r"must have frame size \(H, W\) = \(8, 8\)"):
            make(name)(torch.rand(1, 3, C, 12, 12, dtype=torch.float64), input_len=1)
    # TrajGRU down-samples by 2 per extra scale
    with pytest.raises(ValueError, match=r"divisible by patch_size·2\^\(S−1\)"):
        make("trajgru")(torch.rand(1, 3, C, 6, 6, dtype=torch.float64), input_len=1)
    with pytest.raises(ValueError, match="divisible by patch_size = 4"):
        build_model("convlstm", frame_size=(30, 30), patch_size=4)


def test_registry() -> None:
    assert set(MODELS) == {"convlstm", "predrnn", "predrnn_v2", "mim", "trajgru"}
    with pytest.raises(KeyError, match="unknown model 'lstm'"):
        build_model("lstm")
    with pytest.raises(ValueError, match="hidden_channels"):
        build_model("predrnn", hidden_channels=32)


def _count(name: str, **config) -> int:
    with torch.device("meta"):
        model = build_model(name, **config)
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts_of_the_paper_recipe() -> None:
    recipe = {"in_channels": 1, "frame_size": (64, 64), "patch_size": 4, "hidden_channels": [128] * 4, "kernel_size": 5}
    assert _count("predrnn", **recipe) == 23_838_720
    assert _count("predrnn_v2", **recipe) == 23_855_104
