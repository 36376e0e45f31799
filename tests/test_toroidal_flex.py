"""FlexAttention backend: δ and masks evaluated per element inside the kernel must equal the
materialized-bias SDPA path. The fast test runs flex's eager reference (same score_mod/mask_mod
code); the compiled kernel on CPU takes ~30 s to compile cold, hence `slow`."""

import pytest
import torch

from toroidal_bench.encodings.toroidal import ToroidalAttention, ToroidalBackendWarning, backends

pytest.importorskip("torch.nn.attention.flex_attention")


def _pair(**kw):
    torch.manual_seed(0)
    args = dict(d_model=128, n_heads=2, max_len=8, depth=4, lambda_distance=0.7, n_kv_heads=1)  # d_sub = 16
    args.update(kw)
    return ToroidalAttention(**args).eval()


CASES = [dict(causal=True), dict(causal=True, window_size=2, period=6), dict(causal=False, window_size=3)]


@pytest.mark.parametrize("case", CASES)
def test_flex_reference_matches_sdpa(monkeypatch, case):
    monkeypatch.setattr(backends, "FLEX_COMPILE", False)
    attn = _pair(**case)
    x = torch.randn(2, 10, 128)
    pad = torch.ones(2, 10, dtype=torch.bool)
    pad[0, 7:] = False
    with torch.no_grad():
        for mask in (None, pad):
            attn.core.backend = "sdpa"
            ref = attn(x, mask)[0]
            attn.core.backend = "flex"
            out = attn(x, mask)[0]
            keep = slice(None) if mask is None else pad
            assert torch.allclose(out[keep], ref[keep], atol=1e-5)


def test_flex_falls_back_when_platters_are_too_narrow():
    attn = ToroidalAttention(64, 4, depth=4, backend="flex")  # d_sub = 4
    with pytest.warns(ToroidalBackendWarning, match="sub-token width 4"):
        attn(torch.randn(1, 5, 64))


def test_flex_never_builds_a_dense_bias(monkeypatch):
    """The flex path must not call the materializing bias builder."""
    monkeypatch.setattr(backends, "FLEX_COMPILE", False)

    def boom(*a, **k):
        raise AssertionError("bias_block called on the flex path")

    monkeypatch.setattr(backends, "bias_block", boom)
    attn = _pair(causal=True, window_size=2, backend="flex")
    with torch.no_grad():
        attn(torch.randn(1, 6, 128))


def test_flex_on_cpu_with_gradients_falls_back():
    attn = _pair(causal=True, backend="flex")
    with pytest.warns(ToroidalBackendWarning, match="no backward on CPU"):
        attn(torch.randn(1, 6, 128))[0].sum().backward()
    assert attn.q_proj.weight.grad is not None


@pytest.mark.slow
def test_compiled_flex_matches_sdpa_on_cpu():
    attn = _pair(causal=True, window_size=3, period=6)
    x = torch.randn(2, 40, 128)
    pad = torch.ones(2, 40, dtype=torch.bool)
    pad[1, 30:] = False
    with torch.no_grad():
        attn.core.backend = "sdpa"
        ref = attn(x, pad)[0]
        attn.core.backend = "flex"
        out = attn(x, pad)[0]
    assert torch.allclose(out[pad], ref[pad], atol=1e-5)


@pytest.mark.slow
def test_compiled_flex_keeps_one_kernel_across_offsets_and_repeated_lambda():
    """λ, P, D are compiled-in constants (one compile per value); the query offset, which changes every
    decoding step, is a captured 0-d tensor: new values reuse the compiled kernel."""
    from torch._dynamo.utils import counters

    from toroidal_bench.encodings.toroidal.masks import Geometry

    torch.manual_seed(0)
    q, k, v = torch.randn(1, 2, 32, 16), torch.randn(1, 2, 32, 16), torch.randn(1, 2, 32, 16)
    g = Geometry(depth=4, lam=0.3, period=6, scale=0.25, causal=True, q_offset=1)
    with torch.no_grad():
        backends.attend(q, k, v, g, "flex")
        before = counters["stats"]["unique_graphs"]
        for offset in (2, 5, 9):
            out, _ = backends.attend(q, k, v, g.replace(q_offset=offset), "flex")
            ref, _ = backends.attend(q, k, v, g.replace(q_offset=offset), "sdpa")
            assert torch.allclose(out, ref, atol=1e-5)
        assert counters["stats"]["unique_graphs"] == before
