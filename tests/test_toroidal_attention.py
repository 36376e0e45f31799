"""The standalone ToroidalAttention: Lemma 1 (cyclic invariance), causality, masks, backends, gradients."""

import warnings

import pytest
import torch

from toroidal_bench.encodings.toroidal import DepthFusion, ToroidalAttention, ToroidalBackendWarning


def make(seed=0, **kw):
    torch.manual_seed(seed)
    args = dict(d_model=64, n_heads=4, max_len=16, depth=4, lambda_distance=0.5)
    args.update(kw)
    attn = ToroidalAttention(**args).eval()
    with torch.no_grad():  # move fusion off its identity initialisation so it is exercised
        for name, p in attn.named_parameters():
            if "fusion" in name:
                p.normal_(0, 0.3)
    return attn


@pytest.mark.parametrize("fusion", ["low_rank", "attention", "mean"])
@pytest.mark.parametrize("window", [None, 3])
def test_cyclic_invariance_is_exact_with_periodic_pe(fusion, window):
    attn = make(pe="toroidal3d", periodic=True, period=16, fusion_mode=fusion, window_size=window)
    x = torch.randn(2, 16, 64)  # N = P
    with torch.no_grad():
        y = attn(x)[0]
        for s in (1, 5, 11):
            assert torch.allclose(attn(torch.roll(x, s, dims=1))[0], torch.roll(y, s, dims=1), atol=1e-5, rtol=0)


def test_cyclic_invariance_fails_without_periodic_pe():
    attn = make(pe="toroidal3d", periodic=False, period=16)
    x = torch.randn(2, 16, 64)
    with torch.no_grad():
        err = (attn(torch.roll(x, 5, dims=1))[0] - torch.roll(attn(x)[0], 5, dims=1)).abs().max()
    assert err > 1e-3  # the test above can fail: here it does


@pytest.mark.parametrize("backend", ["sdpa", "manual", "ring"])
def test_no_future_leakage(backend):
    attn = make(causal=True, backend=backend, block_size=6, period=8)  # period 8 < N: wrap is active
    x = torch.randn(2, 20, 64)
    with torch.no_grad():
        y = attn(x)[0]
        for t in (0, 7, 13):
            x2 = x.clone()
            x2[:, t + 1:] = torch.randn_like(x2[:, t + 1:])
            y2 = attn(x2)[0]
            assert torch.allclose(y2[:, : t + 1], y[:, : t + 1], atol=1e-6, rtol=0)
            assert not torch.allclose(y2[:, t + 1:], y[:, t + 1:], atol=1e-3)


def test_without_causal_mask_the_future_leaks():
    attn = make(causal=False)
    x = torch.randn(1, 12, 64)
    with torch.no_grad():
        x2 = x.clone()
        x2[:, 6:] += 1
        assert not torch.allclose(attn(x2)[0][:, :6], attn(x)[0][:, :6], atol=1e-4)


CASES = [
    dict(causal=True),
    dict(causal=True, window_size=3, period=8),
    dict(causal=False, window_size=2),
    dict(causal=True, n_kv_heads=2, lambda_distance=2.0),
    dict(causal=False, pe="orthogonal", fusion_mode="attention"),
]


@pytest.mark.parametrize("case", CASES)
def test_backends_agree(case):
    attn = make(**case)
    x = torch.randn(2, 11, 64)
    pad = torch.ones(2, 11, dtype=torch.bool)
    pad[1, 8:] = False
    with torch.no_grad():
        for mask in (None, pad):
            ref, weights = attn(x, mask, return_attention=True)  # manual
            valid = slice(None) if mask is None else pad[..., None].expand_as(ref)
            for backend, extra in [("sdpa", {}), ("sdpa", {"attn_chunk_size": 5}), ("ring", {"block_size": 4}),
                                   ("ring", {"block_size": 64})]:
                attn.core.backend = backend
                for key, value in extra.items():
                    setattr(attn.core, key, value)
                out = attn(x, mask)[0]
                assert torch.allclose(out[valid], ref[valid], atol=1e-5), (backend, extra)
                attn.core.attn_chunk_size, attn.core.block_size = None, 512


def test_attention_weights_are_causal_at_token_level_and_normalised():
    attn = make(causal=True, depth=2)
    x = torch.randn(1, 6, 64)
    with torch.no_grad():
        _, w = attn(x, return_attention=True)  # (B, H, N·D, N·D)
    assert w.shape == (1, 4, 12, 12)
    assert torch.allclose(w.sum(-1), torch.ones(1, 4, 12))
    tok = torch.arange(12) // 2
    future = tok[None, :] > tok[:, None]
    assert torch.all(w[..., future] == 0)
    assert torch.all(w[..., ~future] > 0)  # all platters of past and present tokens are visible


def test_padding_equals_truncation():
    attn = make(causal=False, period=16)
    x = torch.randn(1, 12, 64)
    mask = torch.ones(1, 12, dtype=torch.bool)
    mask[:, 9:] = False
    with torch.no_grad():
        padded = attn(x, mask)[0][:, :9]
        short = attn(x[:, :9])[0]
    assert torch.allclose(padded, short, atol=1e-5)


def test_explicit_token_mask():
    attn = make(causal=False, depth=2)
    x = torch.randn(2, 5, 64)
    allowed = torch.rand(5, 5) > 0.4
    allowed.fill_diagonal_(True)
    with torch.no_grad():
        _, w = attn(x, allowed, return_attention=True)
    blocked = ~allowed.repeat_interleave(2, 0).repeat_interleave(2, 1)
    assert torch.all(w[..., blocked] == 0)
    with pytest.raises(ValueError, match="fits neither"):
        attn(x, torch.ones(3, 3, dtype=torch.bool))


def test_gradients_finite_and_checkpointing_is_exact():
    attn = make(causal=True, attn_chunk_size=6, backend="sdpa").train()
    x = torch.randn(2, 9, 64, requires_grad=True)
    attn(x)[0].square().mean().backward()
    grads = {n: p.grad.clone() for n, p in attn.named_parameters()}
    gx = x.grad.clone()
    assert all(torch.isfinite(g).all() for g in grads.values()) and torch.isfinite(gx).all()
    assert grads["q_proj.weight"].abs().sum() > 0 and grads["core.fusion.V"].abs().sum() > 0
    attn.zero_grad()
    x.grad = None
    attn.core.use_checkpoint = True
    attn(x)[0].square().mean().backward()
    for n, p in attn.named_parameters():
        assert torch.allclose(p.grad, grads[n], atol=1e-6), n
    assert torch.allclose(x.grad, gx, atol=1e-6)


def test_flash2_falls_back_with_a_warning():
    attn = make(backend="flash2", lambda_distance=0.0, causal=False)
    x = torch.randn(1, 6, 64)
    with pytest.warns(ToroidalBackendWarning, match="flash2.*(not installed|fp16)"):
        out = attn(x)[0]
    attn.core.backend = "sdpa"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.allclose(out, attn(x)[0])
    attn.core.backend, attn.core.lambda_distance = "flash2", 0.1
    with pytest.warns(ToroidalBackendWarning, match="flash2"):
        attn(x)


def test_fusion_modes():
    x = torch.randn(2, 3, 4, 8)  # (B, N, D, d/D)
    for mode in ("low_rank", "attention"):
        f = DepthFusion(4, 8, mode)
        assert torch.equal(f.mix(x), x)  # identity-preserving initialisation
        assert f(x).shape == (2, 3, 32)
    f = DepthFusion(4, 8, "low_rank", rank=2)
    assert f.U.shape == (4, 2) and f.V.shape == (4, 2)
    with torch.no_grad():
        f.V.normal_()
    assert torch.allclose(f.mix(x), torch.einsum("kl,bnlf->bnkf", f.omega(), x), atol=1e-6)
    assert torch.linalg.matrix_rank(f.omega() - torch.eye(4)) <= 2
    mean = DepthFusion(4, 8, "mean").mix(x)
    assert torch.allclose(mean, x.mean(2, keepdim=True).expand_as(x))
    with pytest.raises(ValueError, match="unknown fusion"):
        DepthFusion(4, 8, "sum")


def test_constructor_validates_dimensions():
    with pytest.raises(ValueError, match="not divisible by depth"):
        ToroidalAttention(64, 4, depth=3)
    with pytest.raises(ValueError, match="n_heads"):
        ToroidalAttention(65, 4)
    with pytest.raises(ValueError, match="rotary width must be even"):
        ToroidalAttention(64, 4, depth=16)  # sub-token width 1
    ToroidalAttention(64, 4, depth=16, pe="none")
