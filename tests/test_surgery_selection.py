"""Gate surgery on some channels or a region only (stlearn.surgery, lessons 4-6): the edited step changes the
selected channels and grid cells exactly as the edit says, and nothing else; no selection is the old edit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stlearn import gates
from stlearn.models import ConvLSTM, PredRNN
from stlearn.models.patching import patch_frames
from stlearn.surgery import Surgery, run_surgery

T, INPUT_LEN, STEP = 7, 4, 3  # step 3 reads the true frame 3


@pytest.fixture(scope="module")
def convlstm():
    torch.manual_seed(0)
    model = ConvLSTM(frame_size=(16, 16), patch_size=2, hidden_channels=[4, 3])
    with torch.no_grad():  # make peepholes and biases matter
        for p in model.parameters():
            if p.abs().sum() == 0:
                p.normal_(0, 0.5)
    return model.eval()


@pytest.fixture(scope="module")
def predrnn():
    torch.manual_seed(1)
    return PredRNN(frame_size=(16, 16), patch_size=2, hidden_channels=[4, 4]).eval()


@pytest.fixture(scope="module")
def frames():
    return torch.rand(2, T, 1, 16, 16, generator=torch.Generator().manual_seed(2))


def _selection(n_ch, channels, rows, cols, grid=(8, 8)):
    """The selection built independently of stlearn.surgery: numpy boolean indexing."""
    sel = np.zeros((1, n_ch, *grid), dtype=bool)
    ch = range(n_ch) if channels is None else channels
    for c in ch:
        sel[0, c, rows[0] : rows[1], cols[0] : cols[1]] = True
    return torch.from_numpy(sel)


def test_clamp_on_one_channel_and_region_changes_only_that_part_of_the_gate(convlstm, frames):
    base = run_surgery(convlstm, frames, input_len=INPUT_LEN)
    s = Surgery("clamp", "f", 0.0, layers=0, steps=[STEP], channels=[2], region=((1, 4), (3, 7)))
    out = run_surgery(convlstm, frames, s, input_len=INPUT_LEN)
    before, after = base.trace[STEP, 0].f, out.trace[STEP, 0].f
    sel = _selection(4, [2], (1, 4), (3, 7)).expand_as(before)
    assert torch.all(after[sel] == 0)
    assert torch.equal(after[~sel], before[~sel])  # every other channel and pixel: the unmodified gate
    assert sel.sum() == 2 * 3 * 4  # batch 2 × rows 1-3 × cols 3-6
    # the edit reaches the cell update at once: C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t with the edited f_t
    rec, prev = out.trace[STEP, 0], base.trace[STEP - 1, 0]
    torch.testing.assert_close(rec.c, after * prev.c + rec.i * rec.c_tilde, atol=1e-6, rtol=0)
    # earlier steps are untouched
    assert torch.equal(out.trace[STEP - 1, 0].c, prev.c)


def test_bias_on_a_region_matches_the_gate_function_with_the_shifted_pre_activation(convlstm, frames):
    """Independent computation: lesson 3's route — the cell's convolutions, split, then stlearn.gates."""
    delta, rows, cols = 2.5, (0, 3), (2, 8)
    base = run_surgery(convlstm, frames, input_len=INPUT_LEN)
    out = run_surgery(convlstm, frames, Surgery("bias", "i", delta, layers=0, steps=[STEP], region=(rows, cols)),
                      input_len=INPUT_LEN)  # fmt: skip
    cell, prev = convlstm.cell_list[0], base.trace[STEP - 1, 0]
    x_t = patch_frames(frames, convlstm.patch_size)[:, STEP]
    with torch.no_grad():
        x_i = cell.conv_x(x_t).chunk(4, dim=1)[0]
        h_i = cell.conv_h(prev.h).chunk(4, dim=1)[0]
    b_i = cell.bias.detach().chunk(4)[0]
    shift = torch.zeros_like(x_i)
    shift[:, :, rows[0] : rows[1], cols[0] : cols[1]] = delta
    expected = gates.input_gate(x_i + shift, h_i, prev.c, cell.w_ci.detach(), b_i)
    torch.testing.assert_close(out.trace[STEP, 0].i, expected, atol=1e-6, rtol=0)
    sel = _selection(4, None, rows, cols).expand_as(expected)
    assert torch.equal(out.trace[STEP, 0].i[~sel], base.trace[STEP, 0].i[~sel])
    assert (out.trace[STEP, 0].i[sel] > base.trace[STEP, 0].i[sel]).all()  # δ > 0 opens the gate


def test_scale_on_channels_of_a_state(convlstm, frames):
    base = run_surgery(convlstm, frames, input_len=INPUT_LEN)
    out = run_surgery(convlstm, frames, Surgery("scale", "c", 0.5, layers=1, steps=[STEP], channels=[0, 2]),
                      input_len=INPUT_LEN)  # fmt: skip
    before, after = base.trace[STEP, 1].c, out.trace[STEP, 1].c
    torch.testing.assert_close(after[:, [0, 2]], 0.5 * before[:, [0, 2]], atol=0, rtol=0)
    assert torch.equal(after[:, 1], before[:, 1])
    assert torch.equal(out.trace[STEP, 0].c, base.trace[STEP, 0].c)  # layer 0 runs before layer 1: unchanged


def test_zero_m_on_a_mask_region_of_predrnn(predrnn, frames):
    mask = np.zeros((8, 8), dtype=bool)
    mask[2, 5] = mask[6, 1] = True
    base = run_surgery(predrnn, frames, input_len=INPUT_LEN)
    out = run_surgery(predrnn, frames, Surgery("zero_m", layers=0, steps=[STEP], region=mask), input_len=INPUT_LEN)
    before, after = base.trace[STEP, 0].m, out.trace[STEP, 0].m
    assert torch.all(after[:, :, 2, 5] == 0) and torch.all(after[:, :, 6, 1] == 0)
    keep = torch.from_numpy(~mask).expand_as(before)
    assert torch.equal(after[keep], before[keep])
    assert not torch.all(before[:, :, 2, 5] == 0)


@pytest.mark.parametrize("gate", ["f_prime", "i_prime", "g_prime"])
def test_primed_gates_on_one_channel(predrnn, frames, gate):
    base = run_surgery(predrnn, frames, input_len=INPUT_LEN)
    out = run_surgery(predrnn, frames, Surgery("clamp", gate, 0.0, layers=1, steps=[STEP], channels=3),
                      input_len=INPUT_LEN)  # fmt: skip
    before, after = getattr(base.trace[STEP, 1], gate), getattr(out.trace[STEP, 1], gate)
    assert torch.all(after[:, 3] == 0)
    assert torch.equal(after[:, :3], before[:, :3])


@pytest.mark.parametrize(
    "whole",
    [Surgery("clamp", "f", 0.0, layers=0, steps="forecast"), Surgery("bias", "o", 1.5), Surgery("scale", "h", 0.3)],
)
def test_no_selection_and_a_selection_of_everything_give_the_old_all_at_once_edit(convlstm, frames, whole):
    out = run_surgery(convlstm, frames, whole, input_len=INPUT_LEN)
    kw = {k: getattr(whole, k) for k in ("edit", "gate", "value", "layers", "steps")}
    everything = Surgery(**kw, region=((0, 8), (0, 8)))
    sel = run_surgery(convlstm, frames, everything, input_len=INPUT_LEN)
    assert torch.equal(sel.predictions, out.predictions)
    assert not whole.selective and everything.selective
    if whole.layers == 0:  # every channel of layer 0 listed
        listed = run_surgery(convlstm, frames, Surgery(**kw, channels=[0, 1, 2, 3]), input_len=INPUT_LEN)
        assert torch.equal(listed.predictions, out.predictions)


def test_resuming_a_selective_edit_gives_the_full_rollout(convlstm, frames):
    base = run_surgery(convlstm, frames, input_len=INPUT_LEN)
    s = Surgery("clamp", "o", 1.0, layers=0, steps="forecast", channels=[1], region=((2, 6), (0, 4)))
    full = run_surgery(convlstm, frames, s, input_len=INPUT_LEN)
    resumed = run_surgery(convlstm, frames, s, input_len=INPUT_LEN, baseline=base)
    assert torch.equal(full.predictions, resumed.predictions)


def test_zero_m_zeroes_m_whatever_value_says(predrnn, frames):
    # GateSurgery's value slider sits at 1 while "zero M" is chosen: M must still become 0, not 1
    out = run_surgery(predrnn, frames, Surgery("zero_m", value=1.0, layers=1, steps=[STEP]), input_len=INPUT_LEN)
    assert torch.all(out.trace[STEP, 1].m == 0)


def test_describe_names_the_selection():
    s = Surgery("clamp", "f", 0.0, layers=0, steps="forecast", channels=[3], region=((4, 8), (2, 6)))
    assert "channels [3]" in s.describe() and "rows 4–7 × cols 2–5" in s.describe()
    mask = np.zeros((8, 8), dtype=bool)
    mask[0, 0] = True
    assert "1 masked grid cells" in Surgery("scale", "i", 0.5, region=mask).describe()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(channels="3"), "channel index or a list"),
        (dict(channels=[]), "channel index or a list"),
        (dict(channels=[-1]), "channel indices ≥ 0"),
        (dict(channels=[True]), "channel indices ≥ 0"),
        (dict(region=(3, 5)), "rectangle"),
        (dict(region=((5, 3), (0, 2))), "0 ≤ start < stop"),
        (dict(region=((0.5, 3), (0, 2))), "integers"),
        (dict(region=np.zeros((8, 8), dtype=bool)), "selects no grid cell"),
        (dict(region=np.ones((8, 8))), "boolean"),
    ],
)
def test_bad_selections_say_what_was_expected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Surgery("clamp", "f", 0.0, **kwargs)


def test_selections_are_checked_against_the_model(convlstm, predrnn, frames):
    with pytest.raises(ValueError, match="channel 3 does not exist in layer 1; it has channels 0 … 2"):
        run_surgery(convlstm, frames, Surgery("clamp", "f", 0.0, channels=[3]), input_len=INPUT_LEN)
    with pytest.raises(ValueError, match="do not fit the cells' grid of 8 × 8"):
        run_surgery(convlstm, frames, Surgery("clamp", "f", 0.0, region=((0, 9), (0, 2))), input_len=INPUT_LEN)
    with pytest.raises(ValueError, match=r"mask is \(4, 4\); the cells' grid is \(8, 8\)"):
        run_surgery(convlstm, frames, Surgery("clamp", "f", 0.0, region=np.ones((4, 4), dtype=bool)),
                    input_len=INPUT_LEN)  # fmt: skip
    with pytest.raises(ValueError, match="reroutes the whole memory"):
        Surgery("cut_zigzag", channels=[0])
