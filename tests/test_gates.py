"""Every gate equation against an independent NumPy computation, its gradient, and its errors.

The reference values are written out here from the equations (NumPy, float64), never by
calling stlearn, so a slip in stlearn.gates cannot hide in both places.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stlearn import gates

B, C, H, W = 2, 3, 5, 4


def sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def rand(*shape, seed=0, scale=1.5):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).requires_grad_(False)


def n(t):
    return t.detach().numpy()


@pytest.fixture
def parts():
    names = ["x", "h", "c", "w", "b"]
    shapes = [(B, C, H, W), (B, C, H, W), (B, C, H, W), (C, H, W), (C,)]
    return {k: rand(*s, seed=i) for i, (k, s) in enumerate(zip(names, shapes, strict=True))}


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("gate", [gates.input_gate, gates.forget_gate, gates.output_gate])
def test_sigmoid_gates_with_peephole_and_bias(gate, parts):
    x, h, c, w, b = (parts[k] for k in "xhcwb")
    expected = sig(n(x) + n(h) + n(w)[None] * n(c) + n(b)[None, :, None, None])
    np.testing.assert_allclose(n(gate(x, h, c, w, b)), expected, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("gate", [gates.input_gate, gates.forget_gate, gates.output_gate])
def test_sigmoid_gates_without_peephole(gate, parts):
    x, h = parts["x"], parts["h"]
    np.testing.assert_allclose(n(gate(x, h)), sig(n(x) + n(h)), rtol=1e-13)


def test_forget_gate_constant_bias(parts):
    x, h = parts["x"], parts["h"]
    np.testing.assert_allclose(n(gates.forget_gate(x, h, forget_bias=1.0)), sig(n(x) + n(h) + 1.0), rtol=1e-13)


def test_output_gate_peephole_reads_the_state_it_is_given(parts):
    """o_t's peephole looks at C_t: passing a different state changes the gate pixel by pixel."""
    x, h, c, w = (parts[k] for k in "xhcw")
    o1 = gates.output_gate(x, h, c, w)
    o2 = gates.output_gate(x, h, 2 * c, w)
    np.testing.assert_allclose(n(o2), sig(n(x) + n(h) + 2 * n(w)[None] * n(c)), rtol=1e-13)
    assert not torch.allclose(o1, o2)


def test_cell_candidate(parts):
    x, h, b = parts["x"], parts["h"], parts["b"]
    np.testing.assert_allclose(
        n(gates.cell_candidate(x, h, b)), np.tanh(n(x) + n(h) + n(b)[None, :, None, None]), rtol=1e-13
    )
    np.testing.assert_allclose(n(gates.cell_candidate(x, h)), np.tanh(n(x) + n(h)), rtol=1e-13)


def test_cell_update_and_hidden_state(parts):
    f, c, i, g = (rand(B, C, H, W, seed=s) for s in range(10, 14))
    np.testing.assert_allclose(n(gates.cell_update(f, c, i, g)), n(f) * n(c) + n(i) * n(g), rtol=1e-13)
    np.testing.assert_allclose(n(gates.hidden_state(f, c)), n(f) * np.tanh(n(c)), rtol=1e-13)


def test_spatial_gates_and_memory(parts):
    x, m = parts["x"], parts["h"]
    np.testing.assert_allclose(n(gates.spatial_input_gate(x, m)), sig(n(x) + n(m)), rtol=1e-13)
    np.testing.assert_allclose(n(gates.spatial_forget_gate(x, m)), sig(n(x) + n(m) + 1.0), rtol=1e-13)
    np.testing.assert_allclose(n(gates.spatial_forget_gate(x, m, forget_bias=0.0)), sig(n(x) + n(m)), rtol=1e-13)
    np.testing.assert_allclose(n(gates.spatial_candidate(x, m)), np.tanh(n(x) + n(m)), rtol=1e-13)
    f, mp, i, g = (rand(B, C, H, W, seed=s) for s in range(20, 24))
    np.testing.assert_allclose(n(gates.spatial_memory_update(f, mp, i, g)), n(f) * n(mp) + n(i) * n(g), rtol=1e-13)


def _np_conv_same(x, w):
    """Cross-correlation with zero 'same' padding, written out in NumPy (what torch calls conv2d)."""
    b, _, hh, ww = x.shape
    cout, _, k, _ = w.shape
    p = k // 2
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    out = np.zeros((b, cout, hh, ww))
    for dy in range(k):
        for dx in range(k):
            patch = xp[:, :, dy : dy + hh, dx : dx + ww]  # (B, Cin, H, W)
            out += np.einsum("bchw,oc->bohw", patch, w[:, :, dy, dx])
    return out


@pytest.mark.parametrize("k", [1, 3])
def test_st_output_gate_and_hidden_state(k):
    c_t, m_t, o_x, o_h = (rand(B, C, H, W, seed=s) for s in range(30, 34))
    w_co = rand(C, 2 * C, k, k, seed=40, scale=0.3)
    w_1x1 = rand(C, 2 * C, 1, 1, seed=41, scale=0.3)
    cm = np.concatenate([n(c_t), n(m_t)], axis=1)  # [C, M]: C first
    o = sig(n(o_x) + n(o_h) + _np_conv_same(cm, n(w_co)))
    np.testing.assert_allclose(n(gates.st_output_gate(o_x, o_h, c_t, m_t, w_co)), o, rtol=1e-12)
    o_t = torch.from_numpy(o)
    h = o * np.tanh(_np_conv_same(cm, n(w_1x1)))
    np.testing.assert_allclose(n(gates.st_hidden_state(o_t, c_t, m_t, w_1x1)), h, rtol=1e-12)


def test_st_output_gate_accepts_a_module():
    c_t, m_t, o_x, o_h = (rand(B, C, H, W, seed=s) for s in range(30, 34))
    conv = torch.nn.Conv2d(2 * C, C, 3, padding=1, bias=False).double()
    a = gates.st_output_gate(o_x, o_h, c_t, m_t, conv)
    b = gates.st_output_gate(o_x, o_h, c_t, m_t, conv.weight)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


@settings(max_examples=30, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 6), st.integers(1, 6)),
    scale=st.floats(0.0, 50.0),
    seed=st.integers(0, 10_000),
)
def test_gate_ranges_property(shape, scale, seed):
    """Sigmoid gates stay in [0, 1], tanh ones in [-1, 1], for any shape and any size of input."""
    x, h = rand(*shape, seed=seed, scale=scale), rand(*shape, seed=seed + 1, scale=scale)
    for gate in (
        gates.input_gate,
        gates.forget_gate,
        gates.output_gate,
        gates.spatial_input_gate,
        gates.spatial_forget_gate,
    ):
        v = gate(x, h)
        assert v.shape == x.shape and v.min() >= 0 and v.max() <= 1
    for gate in (gates.cell_candidate, gates.spatial_candidate):
        v = gate(x, h)
        assert v.min() >= -1 and v.max() <= 1


# --------------------------------------------------------------------------- gradients


def _req(*ts):
    return [t.clone().requires_grad_(True) for t in ts]


def test_gradcheck_all_gates():
    shape = (1, 2, 3, 3)
    x, h, c, f, i, g = _req(*(rand(*shape, seed=s, scale=0.7) for s in range(6)))
    (w,) = _req(rand(2, 3, 3, seed=7, scale=0.5))
    (b,) = _req(rand(2, seed=8, scale=0.5))
    (wo,) = _req(rand(2, 4, 3, 3, seed=9, scale=0.3))
    (w1,) = _req(rand(2, 4, 1, 1, seed=10, scale=0.3))
    cases = [
        (gates.input_gate, (x, h, c, w, b)),
        (lambda *a: gates.forget_gate(*a, forget_bias=1.0), (x, h, c, w, b)),
        (gates.cell_candidate, (x, h, b)),
        (gates.cell_update, (f, c, i, g)),
        (gates.output_gate, (x, h, c, w, b)),
        (gates.hidden_state, (f, c)),
        (gates.spatial_input_gate, (x, h)),
        (gates.spatial_forget_gate, (x, h)),
        (gates.spatial_candidate, (x, h)),
        (gates.spatial_memory_update, (f, c, i, g)),
        (gates.st_output_gate, (x, h, c, g, wo)),
        (gates.st_hidden_state, (f, c, g, w1)),
    ]
    for fn, args in cases:
        assert torch.autograd.gradcheck(fn, args), fn


# --------------------------------------------------------------------------- errors


def test_mismatched_shape_names_the_argument():
    x = torch.zeros(2, 8, 16, 16)
    with pytest.raises(ValueError, match=r"'h_i'.*\(2, 8, 16, 16\).*'x_i'.*\(2, 8, 16, 15\)"):
        gates.input_gate(x, torch.zeros(2, 8, 16, 15))


def test_wrong_rank():
    with pytest.raises(ValueError, match=r"'x_f' must have 4 dimensions \(B, C, H, W\), got 3"):
        gates.forget_gate(torch.zeros(8, 16, 16), torch.zeros(8, 16, 16))


def test_not_a_tensor_and_integer_dtype():
    with pytest.raises(TypeError, match=r"'o_t' must be a torch.Tensor"):
        gates.hidden_state(np.zeros((1, 1, 2, 2)), torch.zeros(1, 1, 2, 2))
    with pytest.raises(TypeError, match=r"floating-point"):
        gates.cell_candidate(torch.zeros(1, 1, 2, 2, dtype=torch.int64), torch.zeros(1, 1, 2, 2))


def test_mixed_dtypes():
    with pytest.raises(TypeError, match=r"'c_prev' has dtype torch.float64 but 'f_t' has torch.float32"):
        gates.cell_update(
            torch.zeros(1, 1, 2, 2),
            torch.zeros(1, 1, 2, 2, dtype=torch.float64),
            torch.zeros(1, 1, 2, 2),
            torch.zeros(1, 1, 2, 2),
        )


def test_peephole_errors():
    x = torch.zeros(2, 4, 5, 5)
    with pytest.raises(ValueError, match=r"peephole weight 'w_ci' must have shape \(C, H, W\) = \(4, 5, 5\)"):
        gates.input_gate(x, x, x, torch.zeros(4, 5, 4))
    with pytest.raises(ValueError, match=r"'w_cf' needs the cell state 'c_prev'"):
        gates.forget_gate(x, x, None, torch.zeros(4, 5, 5))
    with pytest.raises(ValueError, match=r"bias 'b_o' must have shape \(C,\) = \(4,\)"):
        gates.output_gate(x, x, b_o=torch.zeros(3))


def test_st_weight_errors():
    x = torch.zeros(1, 4, 5, 5)
    with pytest.raises(ValueError, match=r"'w_co' must have shape \(C_out, C_in, k, k\) = \(4, 8, k, k\)"):
        gates.st_output_gate(x, x, x, x, torch.zeros(4, 4, 3, 3))
    with pytest.raises(ValueError, match=r"'w_1x1' must be a 1×1"):
        gates.st_hidden_state(x, x, x, torch.zeros(4, 8, 3, 3))
    with pytest.raises(ValueError, match=r"odd kernel"):
        gates.st_output_gate(x, x, x, x, torch.zeros(4, 8, 2, 2))
