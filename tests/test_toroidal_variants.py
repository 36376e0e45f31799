"""Ring (blockwise), FFT (circulant approximation), adaptive depth and latent streaming."""

import weakref

import pytest
import torch

from toroidal_bench.encodings.toroidal import (
    AdaptiveToroidalAttention,
    FFTToroidalAttention,
    LatentKV,
    RingToroidalAttention,
    ToroidalAttention,
)

KW = dict(d_model=64, n_heads=4, depth=4, lambda_distance=0.5)


@pytest.mark.parametrize("block", [3, 8, 100])
def test_ring_equals_full_attention(block):
    torch.manual_seed(0)
    full = ToroidalAttention(**KW, max_len=24, causal=True, window_size=5, period=12).eval()
    ring = RingToroidalAttention(block_size=block, num_blocks=24 // block + 1, **KW, causal=True, window_size=5,
                                 period=12).eval()
    ring.load_state_dict(full.state_dict())
    x = torch.randn(2, 23, 64)
    with torch.no_grad():
        assert torch.allclose(ring(x)[0], full(x)[0], atol=1e-5)


def test_ring_limits():
    ring = RingToroidalAttention(64, 4, block_size=4, num_blocks=2, depth=2)
    assert ring.max_len == 8 and ring.period == 8
    with pytest.raises(ValueError, match="exceeds"):
        ring(torch.randn(1, 9, 64))
    with pytest.raises(ValueError, match="full weight matrix"):
        ring(torch.randn(1, 4, 64), return_attention=True)


def _fft(**kw):
    torch.manual_seed(0)
    args = dict(KW, max_len=32, pe="none")
    args.update(kw)
    return FFTToroidalAttention(**args).eval()


def _both(attn, x, mask=None):
    with torch.no_grad():
        attn.use_fft = True
        approx = attn(x, mask)[0]
        attn.use_fft = False
        exact = attn(x, mask)[0]
    return approx, exact


@pytest.mark.parametrize("pe", ["none", "toroidal3d"])
def test_fft_is_exact_when_scores_depend_on_the_offset_only(pe):
    attn = _fft(pe=pe, periodic=pe != "none")
    with torch.no_grad():
        attn.q_proj.weight.zero_()  # q = 0: scores are −λ·δ, a circulant matrix
    approx, exact = _both(attn, torch.randn(2, 32, 64))
    assert torch.allclose(approx, exact, atol=1e-5)
    x = torch.randn(2, 20, 64)  # N < P, with key padding
    mask = torch.ones(2, 20, dtype=torch.bool)
    mask[0, 14:] = False
    approx, exact = _both(attn, x, mask)
    assert torch.allclose(approx[mask], exact[mask], atol=1e-5)


def test_fft_is_an_approximation_in_general():
    approx, exact = _both(_fft(), torch.randn(2, 32, 64))
    rel = float((approx - exact).norm() / exact.norm())
    assert 1e-3 < rel < 1.0  # measured ≈ 0.4–0.5 for random weights and inputs (docs/toroidal.md)


def test_fft_refuses_what_a_circulant_cannot_express():
    x = torch.randn(1, 8, 64)
    for kw in (dict(causal=True), dict(window_size=2)):
        with pytest.raises(ValueError, match="circular"):
            _fft(**kw)(x)
    with pytest.raises(ValueError, match="longer than the period"):
        _fft(max_len=4)(x)


def test_adaptive_learned_mixes_in_training_and_picks_in_eval():
    torch.manual_seed(0)
    attn = AdaptiveToroidalAttention(64, 4, min_depth=2, max_depth=8, adaptive_mode="learned", max_len=16)
    assert attn.candidates == [2, 4, 8]
    with torch.no_grad():
        attn.depth_logits.copy_(torch.tensor([0.1, 1.5, -0.3]))
    x = torch.randn(2, 6, 64)
    attn.train()
    y = attn(x)[0]
    singles = [attn._run(d, x, None, torch.arange(6)[None]) for d in attn.candidates]
    assert torch.allclose(y, sum(p * s for p, s in zip(attn.depth_probs(), singles, strict=True)), atol=1e-6)
    y.sum().backward()
    assert attn.depth_logits.grad.abs().sum() > 0
    attn.eval()
    with torch.no_grad():
        assert torch.allclose(attn(x)[0], singles[1], atol=1e-6)
    assert attn.last_depths == [4, 4]
    assert 2 < float(attn.expected_depth().detach()) < 8


def test_adaptive_dynamic_gives_simple_inputs_fewer_platters():
    torch.manual_seed(0)
    attn = AdaptiveToroidalAttention(64, 4, min_depth=1, max_depth=8, adaptive_mode="dynamic", max_len=16).eval()
    x = torch.randn(3, 10, 64)
    x[0] = x[0, :1]  # ten copies of one token
    x[2] = x[2, :1] + 0.05 * torch.randn(10, 64)  # nearly constant
    with torch.no_grad():
        y = attn(x)[0]
        depths = attn.last_depths
        assert depths[0] == 1 and depths[1] > depths[2] >= depths[0]
        for i, d in enumerate(depths):  # a batch gives each sample what it gets alone
            assert torch.allclose(y[i], attn._run(d, x[i:i + 1], None, torch.arange(10)[None])[0], atol=1e-6)


def _streamer(update):
    torch.manual_seed(0)
    return ToroidalAttention(**KW, max_len=64, latent_cfg={"latent_dim": 8, "latent_update": update}).eval()


@pytest.mark.parametrize("update", ["gru", "linear"])
def test_streaming_state_does_not_grow(update):
    attn = _streamer(update)
    state, sizes = None, []
    with torch.no_grad():
        for _ in range(3):
            y, state = attn.forward_streaming(torch.randn(2, 64), state)
        old = [weakref.ref(t) for t in (state.k, state.v, state.mass)]
        for _ in range(200):
            y, state = attn.forward_streaming(torch.randn(2, 64), state)
            sizes.append(state.nbytes())
        assert all(r() is None for r in old)  # earlier states are freed: nothing keeps history alive
    assert y.shape == (2, 1, 64) and torch.isfinite(y).all()
    assert state.step == 203 and len(set(sizes)) == 1
    assert sizes[0] == 4 * (2 * 2 * 4 * 8 * 4 + 2 * 4 * 8)  # B·H_kv·M·(2·d_s + 1) floats, d_s = 4


def test_linear_latent_update_closed_form():
    lat = LatentKV(1, 2, 2, latent_dim=3, update="linear")
    state = lat.init_state(1)
    k = torch.randn(1, 1, 2, 2)
    v = torch.randn(1, 1, 2, 2)
    new = lat.update(state, k, v)
    w = torch.softmax(lat.addr(k), -1)[0, 0]  # (D, M)
    a = w.sum(0)
    expect = (1 - torch.exp(-a))[:, None] * (w.T @ v[0, 0]) / a[:, None]
    assert torch.allclose(new.v[0, 0], expect, atol=1e-6)
    assert torch.allclose(new.mass[0, 0], a)


def test_streaming_is_trainable_and_needs_a_config():
    attn = _streamer("gru").train()
    state, loss = None, 0
    for _ in range(4):
        y, state = attn.forward_streaming(torch.randn(1, 1, 64), state)
        loss = loss + y.square().sum()
    loss.backward()
    assert attn.latent.gru_k.weight_hh.grad.abs().sum() > 0 and attn.latent.addr.weight.grad.abs().sum() > 0
    with pytest.raises(RuntimeError, match="latent_cfg"):
        ToroidalAttention(64, 4).forward_streaming(torch.randn(1, 64))
