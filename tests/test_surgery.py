"""Gate surgery (stlearn.surgery): edits act exactly where asked, identity edits change nothing."""

from __future__ import annotations

import pytest
import torch

from stlearn import gates
from stlearn.models import MIM, ConvLSTM, PredRNN, PredRNNV2
from stlearn.surgery import Surgery, run_surgery, surgery_targets

T, INPUT_LEN = 7, 4


def _seeded(model):
    with torch.no_grad():  # make peepholes and biases matter
        for p in model.parameters():
            if p.abs().sum() == 0:
                p.normal_(0, 0.5)
    return model.eval()


@pytest.fixture(scope="module")
def convlstm():
    torch.manual_seed(0)
    return _seeded(ConvLSTM(frame_size=(16, 16), patch_size=4, hidden_channels=[4, 3]))


@pytest.fixture(scope="module")
def predrnn():
    torch.manual_seed(1)
    return PredRNN(frame_size=(16, 16), patch_size=4, hidden_channels=[4, 4]).eval()


@pytest.fixture(scope="module")
def frames():
    return torch.rand(2, T, 1, 16, 16, generator=torch.Generator().manual_seed(2))


def test_unmodified_run_matches_predict(convlstm, predrnn, frames):
    for model in (convlstm, predrnn):
        base = run_surgery(model, frames, input_len=INPUT_LEN)
        ref = model.predict(frames[:, :INPUT_LEN], T - INPUT_LEN)
        assert base.predictions.shape == ref.shape
        torch.testing.assert_close(base.predictions, ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("edit", [Surgery("scale", "f", 1.0), Surgery("bias", "i", 0.0), Surgery("scale", "h", 1.0)])
def test_identity_surgery_reproduces_the_unmodified_predictions_exactly(convlstm, predrnn, frames, edit):
    for model in (convlstm, predrnn):
        base = run_surgery(model, frames, input_len=INPUT_LEN)
        same = run_surgery(model, frames, edit, input_len=INPUT_LEN)
        assert torch.equal(same.predictions, base.predictions)


def test_clamping_f_to_zero_leaves_only_the_written_part(convlstm, frames):
    out = run_surgery(convlstm, frames, Surgery("clamp", "f", 0.0, layers=0, steps=[4]), input_len=INPUT_LEN)
    rec = out.trace[4, 0]
    assert torch.all(rec.f == 0)
    # C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t with f_t = 0
    expected = gates.cell_update(torch.zeros_like(rec.f), out.trace[3, 0].c, rec.i, rec.c_tilde)
    assert torch.equal(rec.c, expected)
    torch.testing.assert_close(rec.c, rec.i * rec.c_tilde)
    # the next step starts from that cell
    assert not torch.all(out.trace[5, 0].f == 0)


def test_edits_act_only_on_the_chosen_layer_and_steps(convlstm, frames):
    base = run_surgery(convlstm, frames, input_len=INPUT_LEN)
    out = run_surgery(convlstm, frames, Surgery("scale", "o", 0.5, layers=1, steps="forecast"), input_len=INPUT_LEN)
    assert out.steps == (4, 5) and out.layers == (1,)
    for t in range(T - 1):
        for layer in (0, 1):
            b, e = base.trace[t, layer], out.trace[t, layer]
            if t < INPUT_LEN:  # before the edit: identical
                assert torch.equal(b.o, e.o)
            elif layer == 1:
                # o ← 0.5·o of what this step computed (its inputs already differ after the first edited step)
                assert not torch.equal(b.o, e.o)
    # step 4 reads a true frame and the unedited states: its o before scaling is the base one
    torch.testing.assert_close(out.trace[4, 1].o, 0.5 * base.trace[4, 1].o)
    # the first forecast frame comes from step 3, before the edit
    assert torch.equal(out.predictions[:, 0], base.predictions[:, 0])
    assert not torch.equal(out.predictions[:, 1], base.predictions[:, 1])


def test_clamp_replaces_every_value_and_bias_shifts_the_pre_activation(convlstm, frames):
    out = run_surgery(convlstm, frames, Surgery("clamp", "i", 0.25, layers=[0, 1], steps=2), input_len=INPUT_LEN)
    assert torch.all(out.trace[2, 0].i == 0.25) and torch.all(out.trace[2, 1].i == 0.25)
    assert not torch.all(out.trace[1, 0].i == 0.25)
    base = run_surgery(convlstm, frames, input_len=INPUT_LEN)
    shifted = run_surgery(convlstm, frames, Surgery("bias", "f", 2.0, layers=0, steps=0), input_len=INPUT_LEN)
    # step 0 starts from zero states, so f = σ(logit(f_base) + 2)
    expected = torch.sigmoid(torch.logit(base.trace[0, 0].f.double()) + 2.0).float()
    torch.testing.assert_close(shifted.trace[0, 0].f, expected, atol=1e-5, rtol=1e-4)
    assert torch.equal(shifted.trace[0, 0].i, base.trace[0, 0].i)


def test_unknown_gates_layers_steps_are_refused_clearly(convlstm, frames):
    with pytest.raises(ValueError, match="edit"):
        Surgery("freeze", "f")
    with pytest.raises(ValueError, match="gate name"):
        Surgery("clamp")
    with pytest.raises(ValueError, match="no gate or state 'g_prime'"):
        run_surgery(convlstm, frames, Surgery("clamp", "g_prime", 0.0), input_len=INPUT_LEN)
    with pytest.raises(ValueError, match="layer 2 does not exist"):
        run_surgery(convlstm, frames, Surgery("clamp", "f", 0.0, layers=2), input_len=INPUT_LEN)
    with pytest.raises(ValueError, match="step 9 does not exist"):
        run_surgery(convlstm, frames, Surgery("clamp", "f", 0.0, steps=[9]), input_len=INPUT_LEN)
    with pytest.raises(ValueError, match="'steps'"):
        run_surgery(convlstm, frames, Surgery("clamp", "f", 0.0, steps="decoder"), input_len=INPUT_LEN)
    with pytest.raises(ValueError, match="cannot clamp"):
        run_surgery(convlstm, frames, Surgery("clamp", "f", 1.5), input_len=INPUT_LEN)
    with pytest.raises(ValueError, match="state, not a gate"):
        run_surgery(convlstm, frames, Surgery("bias", "c", 1.0), input_len=INPUT_LEN)
    with pytest.raises(ValueError, match="finite"):
        Surgery("scale", "f", float("nan"))
    with pytest.raises(TypeError, match="Surgery or None"):
        run_surgery(convlstm, frames, "clamp f", input_len=INPUT_LEN)


def test_zero_m_and_cut_zigzag_change_predrnn_and_are_refused_for_convlstm(convlstm, predrnn, frames):
    base = run_surgery(predrnn, frames, input_len=INPUT_LEN)
    zero = run_surgery(predrnn, frames, Surgery("zero_m", layers=0, steps="forecast"), input_len=INPUT_LEN)
    assert torch.all(zero.trace[4, 0].m == 0) and not torch.all(zero.trace[4, 1].m == 0)
    assert not torch.allclose(zero.predictions[:, 1:], base.predictions[:, 1:])
    cut = run_surgery(predrnn, frames, Surgery("cut_zigzag"), input_len=INPUT_LEN)
    assert predrnn.zigzag  # restored
    unzig = PredRNN(frame_size=(16, 16), patch_size=4, hidden_channels=[4, 4], zigzag=False).eval()
    unzig.load_state_dict(predrnn.state_dict())
    torch.testing.assert_close(cut.predictions, unzig.predict(frames[:, :INPUT_LEN], T - INPUT_LEN), atol=1e-5, rtol=0)
    assert not torch.allclose(cut.predictions, base.predictions)
    for edit in ("zero_m", "cut_zigzag"):
        with pytest.raises(ValueError, match="no spatiotemporal memory"):
            run_surgery(convlstm, frames, Surgery(edit), input_len=INPUT_LEN)
    with pytest.raises(ValueError, match="every step and layer"):
        Surgery("cut_zigzag", layers=0)
    with pytest.raises(ValueError, match="already runs without"):
        run_surgery(unzig, frames, Surgery("cut_zigzag"), input_len=INPUT_LEN)


def test_primed_gates_of_predrnn_v2_and_unsupported_models(frames):
    torch.manual_seed(3)
    v2 = PredRNNV2(frame_size=(16, 16), patch_size=4, hidden_channels=[4, 4]).eval()
    assert "f_prime" in surgery_targets(v2)
    out = run_surgery(v2, frames, Surgery("clamp", "f_prime", 0.0, layers=1, steps="forecast"), input_len=INPUT_LEN)
    rec = out.trace[5, 1]
    torch.testing.assert_close(rec.m, rec.i_prime * rec.g_prime)
    with pytest.raises(TypeError, match="ConvLSTM, PredRNN and PredRNN-V2"):
        run_surgery(MIM(frame_size=(16, 16), patch_size=4, hidden_channels=[4, 4]), frames, input_len=INPUT_LEN)


def _same_run(a, b):
    assert torch.equal(a.predictions, b.predictions) and torch.equal(a.next_frames, b.next_frames)
    assert list(a.trace.records) == list(b.trace.records)
    for key, rec in a.trace.records.items():
        for name, value in rec.as_dict().items():
            assert torch.equal(value, getattr(b.trace.records[key], name)), (key, name)
    assert (a.steps, a.layers) == (b.steps, b.layers)


@pytest.mark.parametrize(
    "surgery",
    [
        None,
        Surgery("clamp", "f", 0.0, layers=0, steps="forecast"),
        Surgery("bias", "o", -2.0, steps=[INPUT_LEN + 1, INPUT_LEN - 1]),
        Surgery("scale", "h", 0.5, layers=1, steps="encoder"),
        Surgery("clamp", "c", 0.3, steps="all"),
        Surgery("zero_m", layers=1, steps="forecast"),
        Surgery("cut_zigzag"),
    ],
)
def test_resuming_from_the_unmodified_run_gives_the_full_edited_rollout_exactly(convlstm, predrnn, frames, surgery):
    for model in (convlstm, predrnn):
        if surgery is not None and surgery.edit in ("zero_m", "cut_zigzag") and model is convlstm:
            continue
        base = run_surgery(model, frames, input_len=INPUT_LEN)
        full = run_surgery(model, frames, surgery, input_len=INPUT_LEN)
        resumed = run_surgery(model, frames, surgery, input_len=INPUT_LEN, baseline=base)
        _same_run(resumed, full)


def test_resuming_refuses_a_baseline_of_other_frames_models_or_an_edited_run(convlstm, predrnn, frames):
    base = run_surgery(convlstm, frames, input_len=INPUT_LEN)
    edited = run_surgery(convlstm, frames, Surgery("clamp", "f", 0.0), input_len=INPUT_LEN)
    s = Surgery("clamp", "f", 0.0, steps="forecast")
    with pytest.raises(TypeError, match="unmodified run"):
        run_surgery(convlstm, frames, s, input_len=INPUT_LEN, baseline=edited)
    with pytest.raises(TypeError, match="unmodified run"):
        run_surgery(convlstm, frames, s, input_len=INPUT_LEN, baseline="base")
    with pytest.raises(ValueError, match="other frames"):
        run_surgery(convlstm, frames.flip(0), s, input_len=INPUT_LEN, baseline=base)
    with pytest.raises(ValueError, match="another model or input_len"):
        run_surgery(predrnn, frames, s, input_len=INPUT_LEN, baseline=base)
    with pytest.raises(ValueError, match="another model or input_len"):
        run_surgery(convlstm, frames, s, input_len=INPUT_LEN + 1, baseline=base)


def test_an_unmodified_run_is_resumable_by_a_copy_of_its_model_only(convlstm, predrnn, frames):
    import copy

    base = run_surgery(predrnn, frames, input_len=INPUT_LEN)
    twin = copy.deepcopy(predrnn)
    s = Surgery("scale", "m", 0.5, steps="forecast")
    shared = base.resumable_by(twin)
    assert base.resumable_by(predrnn) is base
    # the copy resumes from the shared run and computes what it computes from its own unmodified run
    _same_run(run_surgery(twin, frames, s, input_len=INPUT_LEN, baseline=shared),
              run_surgery(twin, frames, s, input_len=INPUT_LEN))  # fmt: skip
    with pytest.raises(ValueError, match="another model"):  # the original still refuses the copy's run
        run_surgery(predrnn, frames, s, input_len=INPUT_LEN, baseline=shared)
    with pytest.raises(ValueError, match="other weights"):
        base.resumable_by(convlstm)
    changed = copy.deepcopy(predrnn)
    with torch.no_grad():
        changed.conv_last.weight.add_(1e-3)
    with pytest.raises(ValueError, match="other weights"):
        base.resumable_by(changed)
    cut = copy.deepcopy(predrnn)
    cut.zigzag = False
    with pytest.raises(ValueError, match="zigzag"):
        base.resumable_by(cut)
    with pytest.raises(TypeError, match="unmodified run"):
        run_surgery(predrnn, frames, s, input_len=INPUT_LEN).resumable_by(twin)
