"""Official checkpoints: predictions of the loaded stlearn models against a plain re-implementation.

The reference functions below re-write the official forward passes (thuml/predrnn-pytorch PredRNN
and PredRNN-V2, OpenSTL's ConvLSTM) with ``F.conv2d`` on a bare state dict, with frames in the
reference layout (B, T, H, W, C) and the reference patch reshape — sharing no code with stlearn.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stlearn.errors import CheckpointError
from stlearn.interop import CheckpointMismatchError, load_official, load_openstl_convlstm, load_predrnn
from stlearn.models import build_model

B, T, IN, H, W, CH, P, HID, K, L = 2, 6, 3, 8, 8, 2, 2, 4, 3, 2
GRID = (H // P, W // P)
PC = P * P * CH  # channels of a patched frame


# --- the reference computation ---------------------------------------------------------------


def ref_patch(img: torch.Tensor, p: int) -> torch.Tensor:
    b, t, h, w, c = img.shape
    a = img.reshape(b, t, h // p, p, w // p, p, c).transpose(3, 4)
    return a.reshape(b, t, h // p, w // p, p * p * c)


def ref_unpatch(patches: torch.Tensor, p: int) -> torch.Tensor:
    b, t, hp, wp, pc = patches.shape
    a = patches.reshape(b, t, hp, wp, p, p, pc // (p * p)).transpose(3, 4)
    return a.reshape(b, t, hp * p, wp * p, pc // (p * p))


def ref_conv(sd: dict, prefix: str, x: torch.Tensor, layer_norm: bool) -> torch.Tensor:
    weight = sd[prefix + ".0.weight"]
    y = F.conv2d(x, weight, padding=weight.shape[-1] // 2)
    if layer_norm:
        y = F.layer_norm(y, tuple(y.shape[1:]), sd[prefix + ".1.weight"], sd[prefix + ".1.bias"])
    return y


def ref_st_lstm(sd: dict, i: int, x, h, c, m, layer_norm: bool):
    p = f"cell_list.{i}"
    i_x, f_x, g_x, i_xp, f_xp, g_xp, o_x = torch.split(ref_conv(sd, p + ".conv_x", x, layer_norm), HID, dim=1)
    i_h, f_h, g_h, o_h = torch.split(ref_conv(sd, p + ".conv_h", h, layer_norm), HID, dim=1)
    i_m, f_m, g_m = torch.split(ref_conv(sd, p + ".conv_m", m, layer_norm), HID, dim=1)
    i_t, f_t, g_t = torch.sigmoid(i_x + i_h), torch.sigmoid(f_x + f_h + 1.0), torch.tanh(g_x + g_h)
    delta_c = i_t * g_t
    c_new = f_t * c + delta_c
    i_tp, f_tp, g_tp = torch.sigmoid(i_xp + i_m), torch.sigmoid(f_xp + f_m + 1.0), torch.tanh(g_xp + g_m)
    delta_m = i_tp * g_tp
    m_new = f_tp * m + delta_m
    mem = torch.cat((c_new, m_new), 1)
    o_t = torch.sigmoid(o_x + o_h + ref_conv(sd, p + ".conv_o", mem, layer_norm))
    h_new = o_t * torch.tanh(F.conv2d(mem, sd[p + ".conv_last.weight"]))
    return h_new, c_new, m_new, delta_c, delta_m


def ref_openstl_convlstm_cell(sd: dict, i: int, x, h, c, layer_norm: bool):
    p = f"cell_list.{i}"
    i_x, f_x, g_x, o_x = torch.split(ref_conv(sd, p + ".conv_x", x, layer_norm), HID, dim=1)
    i_h, f_h, g_h, o_h = torch.split(ref_conv(sd, p + ".conv_h", h, layer_norm), HID, dim=1)
    i_t, f_t, g_t = torch.sigmoid(i_x + i_h), torch.sigmoid(f_x + f_h), torch.tanh(g_x + g_h)
    c_new = f_t * c + i_t * g_t
    h_new = torch.sigmoid(o_x + o_h) * torch.tanh(c_new)
    return h_new, c_new


def ref_forward(sd: dict, frames_nhwc, kind: str, layer_norm: bool, rss_mask=None, beta: float = 0.1):
    """The official rollout; ``rss_mask`` (B, T−2) as reverse scheduled sampling, else test time."""
    patched = ref_patch(frames_nhwc, P)
    frames = patched.permute(0, 1, 4, 2, 3)
    b, t_total = frames.shape[:2]
    if rss_mask is None:  # the official v1 test-time mask: zeros over the T − input − 1 decoder steps
        mask_true = torch.zeros(b, t_total - IN - 1, *patched.shape[2:], dtype=frames.dtype)
    else:
        mask_true = rss_mask.view(b, t_total - 2, 1, 1, 1).expand(-1, -1, *patched.shape[2:])
    mask_true = mask_true.permute(0, 1, 4, 2, 3)
    zeros = torch.zeros(b, HID, *GRID, dtype=frames.dtype)
    h_t, c_t, memory = [zeros] * L, [zeros] * L, zeros
    next_frames, decouple = [], []
    x_gen = None
    adapter = (lambda z: F.conv2d(z, sd["adapter.weight"])) if kind == "predrnn_v2" else None
    for t in range(t_total - 1):
        if rss_mask is not None:
            net = frames[:, t] if t == 0 else mask_true[:, t - 1] * frames[:, t] + (1 - mask_true[:, t - 1]) * x_gen
        elif t < IN:
            net = frames[:, t]
        else:
            net = mask_true[:, t - IN] * frames[:, t] + (1 - mask_true[:, t - IN]) * x_gen
        for i in range(L):
            inp = net if i == 0 else h_t[i - 1]
            if kind == "convlstm":
                h_t[i], c_t[i] = ref_openstl_convlstm_cell(sd, i, inp, h_t[i], c_t[i], layer_norm)
                continue
            h_t[i], c_t[i], memory, delta_c, delta_m = ref_st_lstm(sd, i, inp, h_t[i], c_t[i], memory, layer_norm)
            if adapter is not None:
                dc = F.normalize(adapter(delta_c).view(b, HID, -1), dim=2)
                dm = F.normalize(adapter(delta_m).view(b, HID, -1), dim=2)
                decouple.append(torch.mean(torch.abs(torch.cosine_similarity(dc, dm, dim=2))))
        x_gen = F.conv2d(h_t[L - 1], sd["conv_last.weight"])
        next_frames.append(x_gen)
    next_patched = torch.stack(next_frames, dim=0).permute(1, 0, 3, 4, 2)
    loss = F.mse_loss(next_patched, patched[:, 1:])
    if adapter is not None:
        loss = loss + beta * torch.mean(torch.stack(decouple))
    return ref_unpatch(next_patched, P), loss


def official_state_dict(kind: str, layer_norm: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in the official key layout and shapes."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=0.3):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * scale

    sd: dict[str, torch.Tensor] = {}

    def conv(prefix: str, out: int, inp: int, k: int) -> None:
        sd[prefix + ".0.weight"] = rand(out, inp, k, k)
        if layer_norm:
            sd[prefix + ".1.weight"] = 1 + rand(out, *GRID, scale=0.1)
            sd[prefix + ".1.bias"] = rand(out, *GRID, scale=0.1)

    for i in range(L):
        cin = PC if i == 0 else HID
        p = f"cell_list.{i}"
        if kind == "convlstm":
            conv(p + ".conv_x", 4 * HID, cin, K)
            conv(p + ".conv_h", 4 * HID, HID, K)
            conv(p + ".conv_o", HID, 2 * HID, K)  # present in OpenSTL's cell, never used
            sd[p + ".conv_last.weight"] = rand(HID, 2 * HID, 1, 1)
            continue
        conv(p + ".conv_x", 7 * HID, cin, K)
        conv(p + ".conv_h", 4 * HID, HID, K)
        conv(p + ".conv_m", 3 * HID, HID, K)
        conv(p + ".conv_o", HID, 2 * HID, K)
        sd[p + ".conv_last.weight"] = rand(HID, 2 * HID, 1, 1)
    sd["conv_last.weight"] = rand(PC, HID, 1, 1)
    if kind == "predrnn_v2":
        sd["adapter.weight"] = rand(HID, HID, 1, 1)
    return sd


def stlearn_model(kind: str, layer_norm: bool):
    config = {"in_channels": CH, "frame_size": (H, W), "patch_size": P, "hidden_channels": [HID] * L, "kernel_size": K}
    if kind == "convlstm":
        config.update(peephole=False, bias=False, forget_bias=0.0)
    return build_model(kind, layer_norm=layer_norm, **config).double()


def _frames() -> torch.Tensor:
    return torch.rand(B, T, H, W, CH, generator=torch.Generator().manual_seed(7), dtype=torch.float64)


# --- the tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("layer_norm", [False, True])
@pytest.mark.parametrize("kind", ["predrnn", "predrnn_v2", "convlstm"])
def test_loaded_model_predicts_what_the_official_network_computes(kind: str, layer_norm: bool, tmp_path) -> None:
    sd = official_state_dict(kind, layer_norm)
    path = tmp_path / "model.ckpt-80000"
    torch.save({"net_param": sd} if kind != "convlstm" else sd, path)
    model = load_official(stlearn_model(kind, layer_norm), path)
    nhwc = _frames()
    ours = model(nhwc.permute(0, 1, 4, 2, 3), input_len=IN)  # stlearn takes (B, T, C, H, W)
    ref_frames, ref_loss = ref_forward(sd, nhwc, kind, layer_norm)
    torch.testing.assert_close(ours.next_frames, ref_frames.permute(0, 1, 4, 2, 3), rtol=0, atol=1e-12)
    if kind != "predrnn_v2":  # the official test pass has no decoupling term; compare V2's loss below
        torch.testing.assert_close(ours.loss, ref_loss, rtol=1e-12, atol=0)


@pytest.mark.parametrize("kind", ["predrnn", "predrnn_v2"])
def test_training_pass_with_a_reverse_sampling_mask(kind: str) -> None:
    sd = official_state_dict(kind, layer_norm=False, seed=1)
    model = load_predrnn(stlearn_model(kind, False), sd)
    mask = torch.bernoulli(torch.full((B, T - 2), 0.5, dtype=torch.float64), generator=torch.Generator().manual_seed(2))
    nhwc = _frames()
    ours = model(nhwc.permute(0, 1, 4, 2, 3), mask=mask, input_len=IN)
    ref_frames, ref_loss = ref_forward(sd, nhwc, kind, False, rss_mask=mask)
    torch.testing.assert_close(ours.next_frames, ref_frames.permute(0, 1, 4, 2, 3), rtol=0, atol=1e-12)
    torch.testing.assert_close(ours.loss, ref_loss, rtol=1e-12, atol=0)  # V2: MSE + 0.1 · decoupling loss


def test_float32_model_loads_float64_weights() -> None:
    sd = official_state_dict("predrnn", False)
    model = load_predrnn(stlearn_model("predrnn", False).float(), {"net_param": sd})
    assert model.conv_last.weight.dtype == torch.float32
    torch.testing.assert_close(model.conv_last.weight, sd["conv_last.weight"].float())


def test_wrong_shape_names_the_key_and_both_shapes() -> None:
    sd = official_state_dict("predrnn", False)
    model = stlearn_model("predrnn", False)
    sd["cell_list.1.conv_m.0.weight"] = torch.zeros(3 * HID, HID, 5, 5, dtype=torch.float64)
    with pytest.raises(
        CheckpointMismatchError,
        match=r"key 'cell_list.1.conv_m.0.weight' has shape \(12, 4, 5, 5\) in the checkpoint"
        r" but \(12, 4, 3, 3\) in the model",
    ):
        load_predrnn(model, sd)


def test_unexpected_and_missing_keys_are_named() -> None:
    v2 = official_state_dict("predrnn_v2", False)
    with pytest.raises(CheckpointMismatchError, match=r"key 'adapter.weight' with shape \(4, 4, 1, 1\).*predrnn_v2"):
        load_predrnn(stlearn_model("predrnn", False), v2)
    v1 = official_state_dict("predrnn", False)
    with pytest.raises(
        CheckpointMismatchError, match=r"model's key 'adapter.weight' with shape \(4, 4, 1, 1\) is missing"
    ):
        load_predrnn(stlearn_model("predrnn_v2", False), v1)
    with pytest.raises(CheckpointMismatchError, match=r"'cell_list.0.conv_x.1.weight'.* is missing"):
        load_predrnn(stlearn_model("predrnn", True), v1)  # a layer-norm model, a checkpoint without
    renamed = official_state_dict("convlstm", False)
    renamed["cell_list.0.conv_hh.0.weight"] = renamed.pop("cell_list.0.conv_h.0.weight")
    with pytest.raises(CheckpointMismatchError, match=r"checkpoint has key 'cell_list.0.conv_hh.0.weight'"):
        load_openstl_convlstm(stlearn_model("convlstm", False), renamed)


def test_convlstm_loader_requires_openstls_cell() -> None:
    sd = official_state_dict("convlstm", False)
    peephole = build_model("convlstm", in_channels=CH, frame_size=(H, W), patch_size=P, hidden_channels=[HID] * L)
    with pytest.raises(ValueError, match=r"no peepholes, no biases and no forget bias"):
        load_openstl_convlstm(peephole, sd)
    with pytest.raises(TypeError, match="must be a PredRNN"):
        load_predrnn(stlearn_model("convlstm", False), sd)
    with pytest.raises(TypeError, match="no official checkpoint format"):
        load_official(build_model("mim", frame_size=(H, W), patch_size=P, hidden_channels=[HID] * L), sd)


def test_checkpoint_files_are_read_weights_only(tmp_path) -> None:
    path = tmp_path / "evil.ckpt"
    torch.save({"net_param": official_state_dict("predrnn", False), "extra": object()}, path)
    # refused in one stlearn message, without torch's advice to retry with weights_only=False
    with pytest.raises(CheckpointError, match="pickled Python objects") as info:
        load_predrnn(stlearn_model("predrnn", False), path)
    assert "weights_only" not in str(info.value)
