"""ConvLSTMCell and STLSTMCell: both paths against the equations, each other, autograd, and bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from stlearn import ConvLSTMCell, ConvLSTMTrace, STLSTMCell, STLSTMTrace

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def randomize(module: torch.nn.Module, seed: int = 0, scale: float = 0.3) -> torch.nn.Module:
    """Give every parameter (peepholes and layer norms included) random, non-trivial values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)
    return module


def states(b, c, h, w, n, dtype=torch.float64, seed=1, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, c, h, w, generator=g, dtype=dtype).to(device) for _ in range(n)]


# --------------------------------------------------------------------------- ConvLSTM


def convlstm_reference(cell: ConvLSTMCell, x, h, c):
    """The seed's five equations, written out with one convolution per gate term."""
    hid = cell.hidden_channels
    wx = cell.conv_x[0].weight
    wh = cell.conv_h[0].weight
    pad = cell.kernel_size // 2
    bias = cell.bias if cell.bias is not None else torch.zeros(4 * hid, dtype=x.dtype)

    def term(gate: int):
        sl = slice(gate * hid, (gate + 1) * hid)
        return F.conv2d(x, wx[sl], padding=pad) + F.conv2d(h, wh[sl], padding=pad) + bias[sl].view(1, -1, 1, 1)

    zero = torch.zeros_like(c[0])
    w_ci = cell.w_ci if cell.peephole else zero
    w_cf = cell.w_cf if cell.peephole else zero
    w_co = cell.w_co if cell.peephole else zero
    i = torch.sigmoid(term(0) + w_ci * c)
    f = torch.sigmoid(term(1) + w_cf * c + cell.forget_bias)
    c_tilde = torch.tanh(term(2))
    c_new = f * c + i * c_tilde
    o = torch.sigmoid(term(3) + w_co * c_new)
    return o * torch.tanh(c_new), c_new, dict(i=i, f=f, c_tilde=c_tilde, c=c_new, o=o)


@pytest.mark.parametrize("peephole", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("forget_bias", [0.0, 1.0])
def test_convlstm_matches_equations_both_paths(peephole, bias, forget_bias):
    cell = randomize(ConvLSTMCell(2, 4, 3, (6, 5), peephole=peephole, bias=bias, forget_bias=forget_bias).double())
    x, h, c = states(3, 2, 6, 5, 1)[0], *states(3, 4, 6, 5, 2, seed=2)
    h_ref, c_ref, parts = convlstm_reference(cell, x, h, c)
    h_fast, c_fast = cell(x, (h, c))
    (h_tr, c_tr), rec = cell.trace(x, (h, c))
    for got in (h_fast, h_tr):
        torch.testing.assert_close(got, h_ref, rtol=0, atol=1e-12)
    for got in (c_fast, c_tr):
        torch.testing.assert_close(got, c_ref, rtol=0, atol=1e-12)
    assert isinstance(rec, ConvLSTMTrace)
    assert set(rec.as_dict()) == {"i", "f", "c_tilde", "c", "o", "h"}
    for k, v in parts.items():
        torch.testing.assert_close(getattr(rec, k), v, rtol=0, atol=1e-12)
    torch.testing.assert_close(rec.h, h_fast, rtol=0, atol=1e-12)


def test_convlstm_float32_paths_agree():
    cell = randomize(ConvLSTMCell(3, 16, 5, (16, 16)), scale=0.2)
    x = torch.rand(2, 3, 16, 16)
    h, c = (s.float() for s in states(2, 16, 16, 16, 2))
    a = cell(x, (h, c))
    b, _ = cell.trace(x, (h, c))
    for u, v in zip(a, b, strict=True):
        torch.testing.assert_close(u, v, rtol=0, atol=1e-5)


def test_convlstm_peepholes_matter_and_are_per_pixel():
    cell = randomize(ConvLSTMCell(1, 2, 3, (4, 4))).double()
    x, (h, c) = states(1, 1, 4, 4, 1)[0], states(1, 2, 4, 4, 2, seed=5)
    base = cell(x, (h, c))[1]
    with torch.no_grad():
        cell.w_cf[0, 1, 2] += 1.0  # one channel, one pixel
    changed = (cell(x, (h, c))[1] - base).abs() > 0
    assert changed.sum() == 1 and changed[0, 0, 1, 2]


def test_convlstm_parameters():
    cell = ConvLSTMCell(3, 8, 5, (16, 16))
    shapes = {k: tuple(v.shape) for k, v in cell.named_parameters()}
    assert shapes == {
        "bias": (32,),
        "w_ci": (8, 16, 16),
        "w_cf": (8, 16, 16),
        "w_co": (8, 16, 16),
        "conv_x.0.weight": (32, 3, 5, 5),
        "conv_h.0.weight": (32, 8, 5, 5),
    }
    plain = ConvLSTMCell(3, 8, 5, peephole=False, bias=False)  # OpenSTL's ConvLSTM-S cell
    assert sorted(k for k, _ in plain.named_parameters()) == ["conv_h.0.weight", "conv_x.0.weight"]
    assert plain.w_ci is None


@pytest.mark.parametrize("cls", [ConvLSTMCell, STLSTMCell])
@pytest.mark.parametrize("layer_norm", [False, True])
def test_no_dead_parameters(cls, layer_norm):
    """Every parameter receives a non-zero gradient over two steps, on both paths."""
    cell = randomize(cls(2, 3, 3, (5, 5), layer_norm=layer_norm)).double()
    for path in ("forward", "trace"):
        cell.zero_grad()
        x = states(2, 2, 5, 5, 1, seed=9)[0]
        step = getattr(cell, path)
        if cls is ConvLSTMCell:
            s = None
            for _ in range(2):
                out = step(x, s)
                s = out[0] if path == "trace" else out
            loss = s[0].sum() + s[1].pow(2).sum()
        else:
            h = c = m = None
            for _ in range(2):
                out = step(x, h, c, m)
                h, c, m = out[0] if path == "trace" else out
            loss = h.sum() + c.pow(2).sum() + m.pow(2).sum()
        loss.backward()
        for name, p in cell.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, f"{path}: {name} gets no gradient"


# --------------------------------------------------------------------------- ST-LSTM


def stlstm_reference(cell: STLSTMCell, x, h, c, m):
    """The official PredRNN cell's arithmetic, written out with F.conv2d per weight slice."""
    hid, k = cell.hidden_channels, cell.kernel_size

    def conv(seq, inp):
        out = F.conv2d(inp, seq[0].weight, padding=k // 2)
        return seq[1](out) if len(seq) > 1 else out

    xs = torch.split(conv(cell.conv_x, x), hid, dim=1)
    hs = torch.split(conv(cell.conv_h, h), hid, dim=1)
    ms = torch.split(conv(cell.conv_m, m), hid, dim=1)
    i_x, f_x, g_x, i_xp, f_xp, g_xp, o_x = xs
    i_h, f_h, g_h, o_h = hs
    i_m, f_m, g_m = ms
    i = torch.sigmoid(i_x + i_h)
    f = torch.sigmoid(f_x + f_h + 1.0)
    g = torch.tanh(g_x + g_h)
    c_new = f * c + i * g
    ip = torch.sigmoid(i_xp + i_m)
    fp = torch.sigmoid(f_xp + f_m + 1.0)
    gp = torch.tanh(g_xp + g_m)
    m_new = fp * m + ip * gp
    mem = torch.cat((c_new, m_new), 1)
    o = torch.sigmoid(o_x + o_h + conv(cell.conv_o, mem))
    h_new = o * torch.tanh(F.conv2d(mem, cell.conv_last.weight))
    parts = dict(i=i, f=f, g=g, c=c_new, i_prime=ip, f_prime=fp, g_prime=gp, m=m_new, o=o, h=h_new)
    return h_new, c_new, m_new, parts


@pytest.mark.parametrize("layer_norm", [False, True])
def test_stlstm_matches_official_arithmetic_both_paths(layer_norm):
    cell = randomize(STLSTMCell(3, 4, 3, (6, 6), layer_norm=layer_norm).double())
    x = states(2, 3, 6, 6, 1)[0]
    h, c, m = states(2, 4, 6, 6, 3, seed=3)
    h_ref, c_ref, m_ref, parts = stlstm_reference(cell, x, h, c, m)
    fast = cell(x, h, c, m)
    (traced, rec) = cell.trace(x, h, c, m)
    for got in (fast, traced):
        for u, v in zip(got, (h_ref, c_ref, m_ref), strict=True):
            torch.testing.assert_close(u, v, rtol=0, atol=1e-12)
    assert isinstance(rec, STLSTMTrace)
    for k, v in parts.items():
        torch.testing.assert_close(getattr(rec, k), v, rtol=0, atol=1e-12)
    _, _, _, dc, dm = cell(x, h, c, m, return_deltas=True)
    torch.testing.assert_close(dc, rec.delta_c, rtol=0, atol=1e-12)
    torch.testing.assert_close(dm, rec.delta_m, rtol=0, atol=1e-12)
    torch.testing.assert_close(dc, parts["i"] * parts["g"], rtol=0, atol=1e-12)


def test_stlstm_temporal_gates_never_see_m_and_spatial_never_see_h():
    cell = randomize(STLSTMCell(2, 3, 3)).double()
    x = states(1, 2, 5, 5, 1)[0]
    h, c, m = states(1, 3, 5, 5, 3, seed=4)
    _, r1 = cell.trace(x, h, c, m)
    _, r2 = cell.trace(x, h, c, m + 1.0)  # change M only
    for k in ("i", "f", "g", "c"):
        torch.testing.assert_close(getattr(r1, k), getattr(r2, k), rtol=0, atol=0)
    _, r3 = cell.trace(x, h + 1.0, c, m)  # change H only
    for k in ("i_prime", "f_prime", "g_prime", "m"):
        torch.testing.assert_close(getattr(r1, k), getattr(r3, k), rtol=0, atol=0)


def test_stlstm_official_keys_and_parameter_count():
    cell = STLSTMCell(16, 128, 5, (16, 16))
    shapes = {k: tuple(v.shape) for k, v in cell.state_dict().items()}
    assert shapes == {
        "conv_x.0.weight": (896, 16, 5, 5),
        "conv_h.0.weight": (512, 128, 5, 5),
        "conv_m.0.weight": (384, 128, 5, 5),
        "conv_o.0.weight": (128, 256, 5, 5),
        "conv_last.weight": (128, 256, 1, 1),
    }
    # layer 0 of the Moving MNIST PredRNN: 358 400 + 1 638 400 + 1 228 800 + 819 200 + 32 768
    assert sum(p.numel() for p in cell.parameters()) == 4_077_568
    ln = STLSTMCell(4, 8, 3, (6, 6), layer_norm=True)
    assert "conv_x.1.weight" in ln.state_dict() and ln.state_dict()["conv_x.1.weight"].shape == (56, 6, 6)


def test_stlstm_float32_paths_agree_at_paper_width():
    cell = STLSTMCell(16, 64, 5, (16, 16))
    x = torch.rand(2, 16, 16, 16)
    h, c, m = (s.float() for s in states(2, 64, 16, 16, 3))
    for u, v in zip(cell(x, h, c, m), cell.trace(x, h, c, m)[0], strict=True):
        torch.testing.assert_close(u, v, rtol=0, atol=1e-5)


# --------------------------------------------------------------------------- both cells


class _Step(torch.nn.Module):
    """One step of ``cell`` on the chosen path, as a module so functional_call can swap its parameters."""

    def __init__(self, cell, path):
        super().__init__()
        self.cell, self.path = cell, path

    def forward(self, x, *s):
        if isinstance(self.cell, ConvLSTMCell):
            return self.cell(x, s) if self.path == "forward" else self.cell.trace(x, s)[0]
        return self.cell(x, *s) if self.path == "forward" else self.cell.trace(x, *s)[0]


@pytest.mark.parametrize("cin", [1, 2])  # 2 = hidden: the ConvLSTM trace path's grouped convolution
@pytest.mark.parametrize("path", ["forward", "trace"])
@pytest.mark.parametrize("cls", [ConvLSTMCell, STLSTMCell])
def test_gradcheck_inputs_and_parameters(cls, path, cin):
    """float64 gradcheck of one step with respect to the input, the states and every parameter."""
    cell = randomize(cls(cin, 2, 3, (3, 3))).double()
    step = _Step(cell, path)
    n_states = 2 if cls is ConvLSTMCell else 3
    x, *s = (t.requires_grad_() for t in states(1, cin, 3, 3, 1) + states(1, 2, 3, 3, n_states, seed=2))
    assert torch.autograd.gradcheck(step, (x, *s))
    names = [f"cell.{k}" for k, _ in cell.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in cell.parameters())

    def by_params(*ps):
        return torch.func.functional_call(
            step, dict(zip(names, ps, strict=True)), (x.detach(), *(t.detach() for t in s))
        )

    assert torch.autograd.gradcheck(by_params, params)


@pytest.mark.parametrize("cin", [3, 5])
def test_convlstm_trace_input_terms_are_the_two_convolutions(cin, monkeypatch):
    """W_x * X and W_h * H, kept apart: one grouped convolution when X and H have equal channels, else two."""
    cell = randomize(ConvLSTMCell(cin, 5, 3, (6, 7)).double(), seed=3)
    x, = states(2, cin, 6, 7, 1, seed=4)
    h, = states(2, 5, 6, 7, 1, seed=5)
    calls = []
    real = F.conv2d
    monkeypatch.setattr(F, "conv2d", lambda *a, **k: calls.append(k.get("groups", 1)) or real(*a, **k))
    x_terms, h_terms = cell._input_terms(x, h)
    assert calls == ([2] if cin == 5 else [1, 1])  # nn.Conv2d calls F.conv2d too
    wx, wh = cell.conv_x[0].weight, cell.conv_h[0].weight
    torch.testing.assert_close(x_terms, real(x, wx, padding=1), rtol=0, atol=1e-12)
    torch.testing.assert_close(h_terms, real(h, wh, padding=1), rtol=0, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(
    b=st.integers(1, 3),
    cin=st.integers(1, 3),
    hid=st.integers(1, 4),
    hh=st.integers(1, 7),
    ww=st.integers(1, 7),
    k=st.sampled_from([1, 3, 5]),
    seed=st.integers(0, 999),
)
def test_paths_agree_property(b, cin, hid, hh, ww, k, seed):
    """For any shape and kernel, the fast and trace paths of both cells agree in float64."""
    torch.manual_seed(seed)
    conv = randomize(ConvLSTMCell(cin, hid, k, (hh, ww)).double(), seed=seed)
    stc = randomize(STLSTMCell(cin, hid, k).double(), seed=seed)
    x = states(b, cin, hh, ww, 1, seed=seed)[0]
    h, c, m = states(b, hid, hh, ww, 3, seed=seed + 1)
    for u, v in zip(conv(x, (h, c)), conv.trace(x, (h, c))[0], strict=True):
        torch.testing.assert_close(u, v, rtol=0, atol=1e-12)
    for u, v in zip(stc(x, h, c, m), stc.trace(x, h, c, m)[0], strict=True):
        torch.testing.assert_close(u, v, rtol=0, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_zero_initial_state_and_device(device):
    cell = ConvLSTMCell(1, 3, 3, (4, 4)).to(device)
    x = torch.rand(2, 1, 4, 4, device=device)
    h, _ = cell(x)
    assert h.device.type == device and h.shape == (2, 3, 4, 4)
    z = cell.init_state(x)
    torch.testing.assert_close(cell(x, (z, z))[0], h)
    st_cell = STLSTMCell(1, 3, 3).to(device)
    assert all(t.shape == (2, 3, 4, 4) for t in st_cell(x))


def test_trace_record_detach_and_dict():
    cell = ConvLSTMCell(1, 2, 3, (4, 4))
    _, rec = cell.trace(torch.rand(1, 1, 4, 4))
    det = rec.detach()
    assert all(not v.requires_grad for v in det.as_dict().values())
    assert list(det.as_dict()) == ["i", "f", "c_tilde", "c", "o", "h"]


# --------------------------------------------------------------------------- errors


def test_constructor_errors():
    with pytest.raises(ValueError, match=r"'frame_size' .* is required with peephole=True"):
        ConvLSTMCell(1, 4, 3)
    with pytest.raises(ValueError, match="'kernel_size' must be odd"):
        ConvLSTMCell(1, 4, 4, (8, 8))
    with pytest.raises(ValueError, match="'hidden_channels' must be a positive integer"):
        STLSTMCell(1, 0, 3)
    with pytest.raises(ValueError, match="'frame_size' must be"):
        ConvLSTMCell(1, 4, 3, (8,))
    with pytest.raises(ValueError, match=r"'frame_size' .* is required with layer_norm"):
        STLSTMCell(1, 4, 3, layer_norm=True)


def test_input_and_state_errors():
    cell = ConvLSTMCell(2, 4, 3, (8, 8))
    with pytest.raises(ValueError, match=r"'x' must have 2 channels \(B, 2, H, W\), got shape \(1, 3, 8, 8\)"):
        cell(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"frame size \(H, W\) = \(8, 8\)"):
        cell(torch.zeros(1, 2, 9, 8))
    with pytest.raises(ValueError, match=r"'x' must have 4 dimensions"):
        cell(torch.zeros(2, 8, 8))
    with pytest.raises(TypeError, match=r"cell.to\(torch.float64\)"):
        cell(torch.zeros(1, 2, 8, 8, dtype=torch.float64))
    x = torch.zeros(1, 2, 8, 8)
    with pytest.raises(ValueError, match=r"state 'C_prev' must have shape \(B, C_hidden, H, W\) = \(1, 4, 8, 8\)"):
        cell(x, (torch.zeros(1, 4, 8, 8), torch.zeros(1, 5, 8, 8)))
    with pytest.raises(TypeError, match=r"'state' must be a pair"):
        cell(x, torch.zeros(1, 4, 8, 8))
    stc = STLSTMCell(2, 4, 3)
    with pytest.raises(ValueError, match=r"state 'M_in' must have shape"):
        stc(x, None, None, torch.zeros(1, 4, 4, 4))
