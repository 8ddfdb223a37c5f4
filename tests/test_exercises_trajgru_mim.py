"""Lesson 8's exercises (``ex08_trajgru_mim``): TrajGRU's warp and MIM's stationary module MIM-S.

The references are held against the models themselves: the notebook's warp equals
``stlearn.models.warp`` on random inputs and recomputes a TrajGRU cell step; ``mim_s_step`` equals
``MIMBlock.mim_s`` and the MIM block's own trace. Then the checkers (every planted mistake named,
correct alternatives accepted) and the real grader.
"""

from __future__ import annotations

import nbformat
import pytest
import torch
import torch.nn.functional as F
from grading_helpers import by_name, learner, make_submission, needs_sandbox

from stlearn.exercises import check_mim_s_step, check_warp
from stlearn.exercises.checks import SPECS, trajgru_mim
from stlearn.exercises.grade import grade_submission
from stlearn.exercises.student import exercise_dir
from stlearn.models import warp as stlearn_warp
from stlearn.models.mim_block import MIMBlock
from stlearn.models.trajgru_cell import TrajGRUCell

NOTEBOOK = "ex08_trajgru_mim"


def notebook_solution(name):
    """The source notebook's solution of ``name``, defined as a learner's would be."""
    nb = nbformat.read(exercise_dir() / f"{NOTEBOOK}.ipynb", as_version=4)
    namespace = {"__name__": "__main__", "torch": torch, "F": F}
    for cell in nb.cells:
        if cell.metadata.get("stlearn", {}).get("exercise") == name and cell.metadata["stlearn"]["role"] == "solution":
            exec(cell.source, namespace)
    return namespace[name]


# ------------------------------------------------------------------ the warp is TrajGRU's


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_notebooks_warp_is_stlearns_on_random_inputs(dtype):
    mine = notebook_solution("warp")
    gen = torch.Generator().manual_seed(0)
    for n, c, height, width, scale in [(2, 3, 5, 7, 1.3), (1, 2, 8, 4, 3.0), (3, 1, 2, 3, 0.7), (2, 4, 6, 6, 8.0)]:
        h = torch.randn(n, c, height, width, generator=gen, dtype=torch.float64).to(dtype)
        flow = (torch.randn(n, 2, height, width, generator=gen, dtype=torch.float64) * scale).to(dtype)
        expected = stlearn_warp(h, flow)
        assert trajgru_mim.warp(h, flow).equal(expected)
        tol = 1e-12 if dtype == torch.float64 else 1e-5
        assert torch.allclose(mine(h, flow), expected, rtol=tol, atol=tol)


def test_the_warp_means_what_the_lesson_says():
    h = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    zero = torch.zeros(2, 2, 5, 6, dtype=torch.float64)
    assert torch.allclose(trajgru_mim.warp(h, zero), h, atol=1e-12)  # zero flow: the identity
    shift = zero.clone()
    shift[:, 0] = 2.0  # U = 2: H[y, x − 2], zeros from the left
    moved = trajgru_mim.warp(h, shift)
    assert torch.allclose(moved[..., 2:], h[..., :-2], atol=1e-12) and moved[..., :2].abs().max() < 1e-12
    down = zero.clone()
    down[:, 1] = 1.0  # V = 1: H[y − 1, x]
    assert torch.allclose(trajgru_mim.warp(h, down)[..., 1:, :], h[..., :-1, :], atol=1e-12)
    half = zero.clone()
    half[:, 0] = 0.5  # halfway: the mean of two neighbours
    assert torch.allclose(trajgru_mim.warp(h, half)[..., 1:], (h[..., 1:] + h[..., :-1]) / 2, atol=1e-12)


def test_the_reference_warp_recomputes_a_trajgru_cell_step():
    torch.manual_seed(1)
    cell = TrajGRUCell(3, 4, links=3, flow_channels=5).double()
    with torch.no_grad():
        for p in cell.parameters():  # nonzero flows (a fresh cell's flow convolution is zero)
            p.copy_(torch.randn_like(p) * 0.3)
    x, h = torch.randn(2, 3, 6, 5, dtype=torch.float64), torch.randn(2, 4, 6, 5, dtype=torch.float64)
    with torch.no_grad():
        h_new, record = cell.trace(x, h)
        copies = [trajgru_mim.warp(h, record.flows[:, link]) for link in range(3)]
        h_r, h_u, h_h = cell.h2h(torch.cat(copies, dim=1)).chunk(3, dim=1)
        x_r, x_u, x_h = cell.i2h(x).chunk(3, dim=1)
        r, u = torch.sigmoid(x_r + h_r), torch.sigmoid(x_u + h_u)
        again = u * h + (1 - u) * F.leaky_relu(x_h + r * h_h, 0.2)
    assert record.flows.abs().max() > 0.1
    assert torch.allclose(again, h_new, atol=1e-12)


# ------------------------------------------------------------------ MIM-S is MIMBlock's


def _random_block(c, frame, k, dtype, seed):
    torch.manual_seed(seed)
    block = MIMBlock(c, c, frame, kernel_size=k).to(dtype)
    with torch.no_grad():
        for p in block.parameters():  # random peepholes too (they start at zero)
            p.copy_(torch.randn_like(p) * 0.5)
    return block


def _weights(module):
    return (module.conv_x[0].weight, module.conv_h[0].weight, module.w_ci, module.w_cf, module.w_co)


@pytest.mark.parametrize(("dtype", "k"), [(torch.float64, 3), (torch.float32, 5), (torch.float64, 1)])
def test_mim_s_step_is_mim_blocks_mim_s(dtype, k):
    block = _random_block(3, (5, 6), k, dtype, seed=k)
    d_t, c_prev, s_prev = (torch.randn(2, 3, 5, 6, dtype=dtype) for _ in range(3))
    mine = notebook_solution("mim_s_step")
    with torch.no_grad():
        t_t, s_t = block.mim_s(d_t, (c_prev, s_prev))  # x = D_t, (h, c) = (C_{t-1}, S_{t-1})
        for fn in (trajgru_mim.mim_s_step, mine):
            got_t, got_s = fn(d_t, c_prev, s_prev, *_weights(block.mim_s))
            tol = 1e-12 if dtype == torch.float64 else 1e-5
            assert torch.allclose(got_t, t_t, rtol=tol, atol=tol) and torch.allclose(got_s, s_t, rtol=tol, atol=tol)


def test_mim_s_step_recomputes_the_blocks_own_trace():
    block = _random_block(4, (4, 5), 3, torch.float64, seed=7)
    x, diff, h, c, m, d, n, s = (torch.randn(2, 4, 4, 5, dtype=torch.float64) for _ in range(8))
    with torch.no_grad():
        (_, c_new, *_), record = block.trace(x, diff, h, c, m, d, n, s)
        t_t, s_t = trajgru_mim.mim_s_step(record.d, c, s, *_weights(block.mim_s))
    assert torch.allclose(t_t, record.t, atol=1e-12) and torch.allclose(s_t, record.s, atol=1e-12)
    assert torch.allclose(c_new, t_t + record.i * record.g, atol=1e-12)  # C_t = T_t + i ⊙ g


# ------------------------------------------------------------------ the checkers


@pytest.mark.parametrize("name", ["warp", "mim_s_step"])
def test_reference_and_notebook_pass_and_every_planted_mistake_is_named(name, capsys):
    check = {"warp": check_warp, "mim_s_step": check_mim_s_step}[name]
    check(learner(SPECS[name].reference))
    check(notebook_solution(name))
    assert capsys.readouterr().out.count(f"✓ {name}: correct on ") == 2
    assert len(SPECS[name].mistakes) >= 3
    for mistake in SPECS[name].mistakes:
        for seed in (1, 2):
            with pytest.raises(AssertionError) as info:
                check(learner(mistake.fn), seed=seed)
            assert str(info.value).startswith(f"{name}: ") and mistake.message in str(info.value)


def test_other_correct_warps_pass():
    def by_hand(h, flow):  # bilinear interpolation written out, zero outside
        n, c, height, width = h.shape
        px = torch.arange(width, dtype=h.dtype).view(1, 1, width) - flow[:, 0]
        py = torch.arange(height, dtype=h.dtype).view(1, height, 1) - flow[:, 1]
        x0, y0 = px.floor(), py.floor()
        out = torch.zeros_like(h)
        for dx in (0, 1):
            for dy in (0, 1):
                xi, yi = x0 + dx, y0 + dy
                weight = (1 - (px - xi).abs()) * (1 - (py - yi).abs())
                inside = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
                index = (yi.clamp(0, height - 1) * width + xi.clamp(0, width - 1)).long().view(n, 1, -1)
                values = h.reshape(n, c, -1).gather(2, index.expand(n, c, -1)).view(n, c, height, width)
                out = out + (weight * inside).unsqueeze(1) * values
        return out

    def half_pixel(h, flow):  # align_corners=False with its own normalisation: the same sampling
        _, _, height, width = h.shape
        sx = (torch.arange(width, dtype=h.dtype).view(1, 1, width) - flow[:, 0] + 0.5) * 2 / width - 1
        sy = (torch.arange(height, dtype=h.dtype).view(1, height, 1) - flow[:, 1] + 0.5) * 2 / height - 1
        return F.grid_sample(h, torch.stack([sx, sy], dim=-1), align_corners=False)

    check_warp(learner(by_hand), seed=5)
    check_warp(learner(half_pixel), seed=5)


def test_wrong_functions_learners_write():
    def warp_in_place(h, flow):
        h[:, :, 0, 0] = 0.0
        return trajgru_mim.warp(h, flow)

    with pytest.raises(AssertionError, match="changed its argument 'h' in place"):
        check_warp(learner(warp_in_place), seed=1)

    def no_padding(d_t, c_prev, s_prev, w_x, w_h, w_ci, w_cf, w_co):  # (H − k + 1) × (W − k + 1) maps
        x_i, x_f, x_c, x_o = F.conv2d(d_t, w_x).chunk(4, dim=1)
        h_i, h_f, h_c, h_o = F.conv2d(c_prev, w_h).chunk(4, dim=1)
        s_t = torch.sigmoid(x_f + h_f + w_cf * s_prev + 1) * s_prev + torch.sigmoid(x_i + h_i) * torch.tanh(x_c + h_c)
        return torch.sigmoid(x_o + h_o + w_co * s_t) * torch.tanh(s_t), s_t

    with pytest.raises(AssertionError, match="mim_s_step: your function raised .* the padding of convolutions"):
        check_mim_s_step(learner(no_padding), seed=1)

    def overflows(d_t, c_prev, s_prev, w_x, w_h, w_ci, w_cf, w_co):  # a hand-made sigmoid: inf / inf at ±50
        t_t, s_t = trajgru_mim.mim_s_step(d_t, c_prev, s_prev, w_x, w_h, w_ci, w_cf, w_co)
        big = torch.exp(d_t.abs().amax() * 40)
        return t_t * big / big, s_t

    with pytest.raises(AssertionError, match="NaN or inf"):
        check_mim_s_step(learner(overflows), seed=1)

    def stub(*args):
        raise NotImplementedError("Write it. Hint: think")

    for check, name in ((check_warp, "warp"), (check_mim_s_step, "mim_s_step")):
        with pytest.raises(AssertionError, match=f"{name}: not written yet"):
            check(learner(stub), seed=1)


# ------------------------------------------------------------------ through the real grader

_HEAD = {
    "warp": "def warp(h, flow):\n",
    "mim_s_step": "def mim_s_step(d_t, c_prev, s_prev, w_x, w_h, w_ci, w_cf, w_co):\n",
}

_WARP_MISTAKES = [
    # 0: U and V swapped
    "    _, _, height, width = h.shape\n"
    "    xs = torch.arange(width, dtype=h.dtype).view(1, 1, width)\n"
    "    ys = torch.arange(height, dtype=h.dtype).view(1, height, 1)\n"
    "    sx = (xs - flow[:, 1]) * (2.0 / (width - 1)) - 1.0\n"
    "    sy = (ys - flow[:, 0]) * (2.0 / (height - 1)) - 1.0\n"
    "    return F.grid_sample(h, torch.stack([sx, sy], dim=-1), align_corners=True)\n",
    # 1: the flow's sign flipped
    "    _, _, height, width = h.shape\n"
    "    xs = torch.arange(width, dtype=h.dtype).view(1, 1, width)\n"
    "    ys = torch.arange(height, dtype=h.dtype).view(1, height, 1)\n"
    "    sx = (xs + flow[:, 0]) * (2.0 / (width - 1)) - 1.0\n"
    "    sy = (ys + flow[:, 1]) * (2.0 / (height - 1)) - 1.0\n"
    "    return F.grid_sample(h, torch.stack([sx, sy], dim=-1), align_corners=True)\n",
    # 2: the grid as (y, x)
    "    _, _, height, width = h.shape\n"
    "    xs = torch.arange(width, dtype=h.dtype).view(1, 1, width)\n"
    "    ys = torch.arange(height, dtype=h.dtype).view(1, height, 1)\n"
    "    sx = (xs - flow[:, 0]) * (2.0 / (width - 1)) - 1.0\n"
    "    sy = (ys - flow[:, 1]) * (2.0 / (height - 1)) - 1.0\n"
    "    return F.grid_sample(h, torch.stack([sy, sx], dim=-1), align_corners=True)\n",
]

_MIM_S_MISTAKES = [
    # 0: C_{t-1} and S_{t-1} in each other's roles
    "    pad = w_x.shape[-1] // 2\n"
    "    x_i, x_f, x_c, x_o = F.conv2d(d_t, w_x, padding=pad).chunk(4, dim=1)\n"
    "    h_i, h_f, h_c, h_o = F.conv2d(s_prev, w_h, padding=pad).chunk(4, dim=1)\n"
    "    i = torch.sigmoid(x_i + h_i + w_ci * c_prev)\n"
    "    f = torch.sigmoid(x_f + h_f + w_cf * c_prev + 1.0)\n"
    "    c_new = f * c_prev + i * torch.tanh(x_c + h_c)\n"
    "    return torch.sigmoid(x_o + h_o + w_co * c_new) * torch.tanh(c_new), c_new\n",
    # 1: f ⊙ C_{t-1}, the ST-LSTM habit
    "    pad = w_x.shape[-1] // 2\n"
    "    x_i, x_f, x_c, x_o = F.conv2d(d_t, w_x, padding=pad).chunk(4, dim=1)\n"
    "    h_i, h_f, h_c, h_o = F.conv2d(c_prev, w_h, padding=pad).chunk(4, dim=1)\n"
    "    i = torch.sigmoid(x_i + h_i + w_ci * s_prev)\n"
    "    f = torch.sigmoid(x_f + h_f + w_cf * s_prev + 1.0)\n"
    "    s_t = f * c_prev + i * torch.tanh(x_c + h_c)\n"
    "    return torch.sigmoid(x_o + h_o + w_co * s_t) * torch.tanh(s_t), s_t\n",
    # 2: no forget bias
    "    pad = w_x.shape[-1] // 2\n"
    "    x_i, x_f, x_c, x_o = F.conv2d(d_t, w_x, padding=pad).chunk(4, dim=1)\n"
    "    h_i, h_f, h_c, h_o = F.conv2d(c_prev, w_h, padding=pad).chunk(4, dim=1)\n"
    "    i = torch.sigmoid(x_i + h_i + w_ci * s_prev)\n"
    "    f = torch.sigmoid(x_f + h_f + w_cf * s_prev)\n"
    "    s_t = f * s_prev + i * torch.tanh(x_c + h_c)\n"
    "    return torch.sigmoid(x_o + h_o + w_co * s_t) * torch.tanh(s_t), s_t\n",
]


@needs_sandbox
def test_the_source_scores_full_marks_and_the_stubs_nothing(tmp_path):
    full = grade_submission(make_submission(tmp_path, NOTEBOOK, "ada"))
    assert (full.score, full.max_score) == (4, 4), [(e.exercise, e.feedback) for e in full.exercises]
    stubs = {name: head + "    raise NotImplementedError('Write it')\n" for name, head in _HEAD.items()}
    empty = by_name(grade_submission(make_submission(tmp_path, NOTEBOOK, "bob", stubs)))
    for name in stubs:
        assert empty[name].points == 0 and "not written yet" in empty[name].feedback


@needs_sandbox
@pytest.mark.parametrize("k", [0, 1, 2])
def test_each_planted_mistake_scores_nothing_with_its_message(tmp_path, k):
    solutions = {"warp": _HEAD["warp"] + _WARP_MISTAKES[k], "mim_s_step": _HEAD["mim_s_step"] + _MIM_S_MISTAKES[k]}
    result = by_name(grade_submission(make_submission(tmp_path, NOTEBOOK, f"mistake{k}", solutions)))
    for name in solutions:
        assert result[name].points == 0 and result[name].status == "fail"
        assert SPECS[name].mistakes[k].message in result[name].feedback, result[name].feedback
