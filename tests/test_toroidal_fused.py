"""The fused route (fused.py, merge.py): the toroidal bias folded into q/k and run on SDPA's kernels must
be the same function as the dense-bias reference — forward and backward, every depth, λ, period, GQA —
be picked by `auto` exactly when it applies, and leave an injected HF model's logits unchanged."""

import math
import random

import pytest
import torch

import toroidal_bench
from toroidal_bench.encodings.toroidal import (
    ToroidalAttention,
    ToroidalBackendWarning,
    backends,
    fused,
    merge,
)
from toroidal_bench.encodings.toroidal.masks import Geometry
from toroidal_bench.models.architecture import cache_keyword, output_cache


def reference(q, k, v, g: Geometry):
    """softmax(q·k·scale − λ·δ, token-causal) · v in float64, δ from integer token/platter indices."""
    depth, groups = g.depth, q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1)
    qi, ki = torch.arange(q.shape[2])[:, None], torch.arange(k.shape[2])[None, :]
    i, j = qi // depth + g.q_offset, ki // depth
    t = (i - j).abs() % g.period
    delta = torch.minimum(t, g.period - t).double() / g.period + (qi % depth - ki % depth).abs().double() / depth
    s = (q.double() @ k.double().transpose(-1, -2)) * g.scale - g.lam * delta
    if g.causal:
        s = s.masked_fill(j > i, float("-inf"))
    return torch.softmax(s, -1) @ v.double()


def rand_case(seed: int):
    rnd = random.Random(seed)
    depth = rnd.choice([1, 2, 3, 4, 5])
    kv_heads = rnd.choice([1, 2, 3])
    heads = kv_heads * rnd.choice([1, 2])
    n = rnd.randint(1, 23)
    period = 2 * (n - 1) + rnd.randint(0, 40)  # the largest period that still wraps is 2·(n−1) − 1
    lam = rnd.choice([0.0, 0.05, 0.7, 3.0, 40.0])
    d_s, d_v = rnd.choice([4, 8, 13, 16]), rnd.choice([4, 8, 13])
    return dict(b=rnd.randint(1, 2), heads=heads, kv_heads=kv_heads, n=n, depth=depth, lam=lam, period=max(period, 1),
                d_s=d_s, d_v=d_v)


def tensors(c, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    L = c["n"] * c["depth"]

    def r(h, d):
        return torch.randn(c["b"], h, L, d, generator=g, dtype=dtype).requires_grad_()

    return r(c["heads"], c["d_s"]), r(c["kv_heads"], c["d_s"]), r(c["kv_heads"], c["d_v"])


@pytest.mark.parametrize("seed", range(24))
def test_fused_equals_the_float64_reference_forward_and_backward(seed):
    c = rand_case(seed)
    q, k, v = tensors(c, torch.float64, seed)
    lam = torch.tensor(c["lam"], dtype=torch.float64, requires_grad=True)  # λ as a learnable parameter
    g = Geometry(depth=c["depth"], lam=lam, period=c["period"], scale=1 / math.sqrt(c["d_s"]), causal=True)
    assert fused.blocker(g, q, k) is None
    out, _ = backends.attend(q, k, v, g, "auto")
    assert backends.ROUTES.last == ("fused:sdpa_causal" if c["depth"] == 1 and c["n"] > 1 else
                                    "fused:sdpa" if c["n"] == 1 else "fused:merge_cpu_flash")
    ref = reference(q, k, v, g)
    dout = torch.randn_like(out)
    got = torch.autograd.grad(out, (q, k, v, lam), dout)
    want = torch.autograd.grad(ref, (q, k, v, lam), dout)
    assert torch.allclose(out, ref, atol=1e-12, rtol=0)
    for a, b in zip(got, want, strict=True):
        assert torch.allclose(a, b, atol=1e-11, rtol=0)


@pytest.mark.parametrize("seed", range(8))
def test_fused_equals_the_existing_float32_paths(seed):
    c = rand_case(100 + seed)
    q, k, v = tensors(c, torch.float32, seed)
    g = Geometry(depth=c["depth"], lam=c["lam"], period=c["period"], scale=1 / math.sqrt(c["d_s"]), causal=True)
    out, _ = backends.attend(q, k, v, g, "fused")
    assert backends.ROUTES.last.startswith("fused:")
    dout = torch.randn_like(out)
    got = torch.autograd.grad(out, (q, k, v), dout)
    for name in ("sdpa", "manual"):
        ref, _ = backends.attend(q, k, v, g, name)
        want = torch.autograd.grad(ref, (q, k, v), dout)
        assert torch.allclose(out, ref, atol=2e-5, rtol=0)
        for a, b in zip(got, want, strict=True):
            assert torch.allclose(a, b, atol=1e-4, rtol=0)


def test_the_merge_passes_gradcheck():
    g = torch.Generator().manual_seed(3)
    q = torch.randn(1, 4, 12, 5, generator=g, dtype=torch.float64, requires_grad=True)  # N 4, D 3, GQA 2
    k = torch.randn(1, 2, 12, 5, generator=g, dtype=torch.float64, requires_grad=True)
    v = torch.randn(1, 2, 12, 5, generator=g, dtype=torch.float64, requires_grad=True)
    kernel = merge.KERNELS["cpu_flash"]
    assert torch.autograd.gradcheck(lambda a, b, c: merge.token_causal(a, b, c, 3, 0.4, kernel), (q, k, v))
    want = merge.reference(q, k, v, 3, 0.4)
    assert torch.allclose(merge.token_causal(q, k, v, 3, 0.4, kernel), want, atol=1e-13)


def exact_bias(n: int, depth: int, lam: float, period: int):
    """(−λ·δ (L, L) float64, token-causal mask (L, L)) for L = n·depth sub-tokens, no wrap."""
    r = torch.arange(n * depth)
    tok, plat = r // depth, r % depth
    delta = (tok[:, None] - tok[None]).abs().double() / period + (plat[:, None] - plat[None]).abs().double() / depth
    return -lam * delta, tok[None] <= tok[:, None]


def off_by_row_constant(a, b, mask) -> float:
    """max |(a − b) − its row mean| over the allowed entries: 0 when a and b differ by a per-row constant."""
    d = torch.where(mask, a.double() - b, 0.0)
    d = torch.where(mask, d - d.sum(-1, keepdim=True) / mask.sum(-1, keepdim=True), 0.0)
    return float(d.abs().max())


def test_the_fold_reproduces_the_bias_up_to_a_row_constant():
    depth, n, lam, period, scale = 3, 7, 0.9, 15, 0.25
    q = torch.zeros(1, 1, n * depth, 4, dtype=torch.float64)  # q = k = 0: only the folded bias is left
    q2, k2 = fused.fold(q, q, Geometry(depth=depth, lam=lam, period=period, scale=scale, causal=True))
    assert q2.shape[-1] % 8 == 0 and q2.shape[-1] >= 4 + 1 + depth
    want, causal = exact_bias(n, depth, lam, period)
    assert off_by_row_constant(scale * (q2 @ k2.transpose(-1, -2))[0, 0], want, causal) < 1e-12


def test_16_bit_fold_splits_extra_features_only_when_rounding_would_show():
    n, depth = 32, 4
    q = torch.zeros(1, 1, n * depth, 16, dtype=torch.bfloat16)
    small = Geometry(depth=depth, lam=0.1, period=2 * n, scale=0.25, causal=True)
    large = small.replace(lam=5.0)
    assert fused.fold(q, q, small)[0].shape[-1] == 24  # 16 + 1 + 4 → 24
    assert fused.fold(q, q, large)[0].shape[-1] == 32  # 16 + 2·(1 + 4) → 32
    assert fused.fold(q.float(), q.float(), large)[0].shape[-1] == 24
    for g in (small, large):
        q2, k2 = fused.fold(q, q, g)
        got = g.scale * (q2.float() @ k2.float().transpose(-1, -2))[0, 0]
        want, causal = exact_bias(n, depth, g.lam, g.period)
        assert off_by_row_constant(got, want, causal) < fused.BIAS_TOL


def test_bf16_fused_is_as_close_to_exact_as_the_bias_path():
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 4, 256, 16), torch.randn(1, 2, 256, 16), torch.randn(1, 2, 256, 16)
    for lam in (0.1, 3.0):
        g = Geometry(depth=4, lam=lam, period=256, scale=0.25, causal=True)
        qb, kb, vb = (t.bfloat16() for t in (q, k, v))
        exact = reference(qb, kb, vb, g)
        out, _ = backends.attend(qb, kb, vb, g, "auto")
        assert backends.ROUTES.last == "fused:merge_cpu_flash"
        biased, _ = backends.attend(qb, kb, vb, g, "sdpa")
        assert (out.double() - exact).abs().max() <= 2 * (biased.double() - exact).abs().max() + 1e-3


@pytest.mark.parametrize("depth", [1, 3])
def test_decoding_steps_take_the_route_and_equal_the_prefill(depth):
    g = torch.Generator().manual_seed(depth)
    n = 9
    q, k, v = (torch.randn(1, h, n * depth, 8, generator=g, dtype=torch.float64) for h in (2, 1, 1))
    geo = Geometry(depth=depth, lam=0.7, period=2 * (n - 1), scale=0.3, causal=True)
    full, _ = backends.attend(q, k, v, geo, "auto")
    for t in range(n):
        rows, keys = slice(t * depth, (t + 1) * depth), slice(0, (t + 1) * depth)
        out, _ = backends.attend(q[:, :, rows], k[:, :, keys], v[:, :, keys], geo.replace(q_offset=t), "auto")
        assert backends.ROUTES.last == "fused:sdpa"
        assert torch.allclose(out, full[:, :, rows], atol=1e-12)


def test_auto_takes_the_route_exactly_when_it_applies():
    q = torch.randn(1, 2, 40, 8)  # N 10, D 4
    g = Geometry(depth=4, lam=0.5, period=18, scale=0.3, causal=True)
    assert fused.blocker(g, q, q) is None
    padding = torch.ones(1, 10, dtype=torch.bool)
    padding[0, :2] = False
    blocked = {
        "wraps": g.replace(period=17),
        "window": g.replace(window=8),
        "causal mask": g.replace(causal=False),
        "padding": g.replace(key_valid=padding),
    }
    for why, geo in blocked.items():
        assert fused.blocker(geo, q, q) is not None, why
        backends.attend(q, q, q, geo, "auto")
        assert backends.ROUTES.last == "sdpa", why
    assert fused.blocker(g.replace(window=9), q, q) is None  # a window the context never reaches
    assert fused.blocker(g.replace(period=2, lam=0.0), q, q) is None  # λ = 0: wrapping does not matter
    assert "cache" in fused.blocker(g.replace(q_offset=5), q[:, :, :20], q)  # 5 tokens on top of 5
    with pytest.warns(ToroidalBackendWarning, match="'fused' unavailable .*wraps"):
        backends.attend(q, q, q, blocked["wraps"], "fused")
    assert backends.ROUTES.last == "sdpa"


def test_the_layer_records_its_route_and_trains_identically():
    torch.manual_seed(0)
    x = torch.randn(2, 12, 64)
    grads = {}
    for backend in ("auto", "sdpa"):
        torch.manual_seed(1)
        attn = ToroidalAttention(64, 4, max_len=32, depth=4, lambda_distance=0.6, causal=True, n_kv_heads=2,
                                 backend=backend)
        attn(x)[0].square().sum().backward()
        grads[backend] = {n: p.grad for n, p in attn.named_parameters() if p.grad is not None}
        if backend == "auto":
            assert attn.core.last_route == "fused:merge_cpu_flash"
    for name, grad in grads["auto"].items():
        assert torch.allclose(grad, grads["sdpa"][name], atol=1e-4, rtol=1e-4), name


class WrongLse(merge._CpuFlash):
    def forward(self, q, k, v, scale):
        out, lse, state = super().forward(q, k, v, scale)
        return out, lse / math.log(2), state  # a log2-based lse would merge wrongly


def test_self_check_accepts_a_right_kernel_and_rejects_a_wrong_one():
    good = merge.KERNELS["cpu_flash"]
    for dtype in (torch.float32, torch.bfloat16):
        assert merge._self_check(good, torch.device("cpu"), dtype, 24, 24)
        assert not merge._self_check(WrongLse(), torch.device("cpu"), dtype, 24, 24)


def test_gpu_kernel_pick_skips_a_kernel_that_fails_its_check(monkeypatch):
    """The CUDA candidate order, exercised with CPU kernels standing in: SDPA's choice (here a broken
    'cudnn') fails its check, the next candidate ('flash', equal widths) is taken and remembered; when
    every candidate fails, the route reports why (and the caller falls back)."""
    good, check = merge.KERNELS["cpu_flash"], merge._self_check
    monkeypatch.setattr(merge, "_sdpa_choice", lambda q, k, v: "cudnn")
    q, v = torch.randn(1, 2, 16, 24), torch.randn(1, 2, 16, 16)
    for kernels, want in (({"cudnn": WrongLse(), "flash": good}, (good, True)),
                          ({"cudnn": WrongLse(), "flash": WrongLse()}, None)):
        monkeypatch.setattr(merge, "KERNELS", kernels)
        monkeypatch.setattr(merge, "_CHOSEN", {})
        monkeypatch.setattr(merge, "_VALIDATED", {})
        monkeypatch.setattr(merge, "_self_check", check)
        got = merge._pick(q, q, v)
        assert merge._VALIDATED[("cudnn", None, torch.float32, 24, 16)] is False
        if want is None:
            assert isinstance(got, str) and "passed its check" in got
            continue
        assert got == want

        def no_more_checks(*a):
            raise AssertionError("checked twice")

        monkeypatch.setattr(merge, "_self_check", no_more_checks)
        assert merge._pick(q, q, v) == want  # remembered per (device, dtype, widths)


def test_injected_model_logits_and_cache_unchanged():
    spec = "random:llama-tiny+toroidal(depth=4,lambda=0.4,layers=0..1,period=64{})"
    x = torch.randint(3, 250, (2, 14), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model = toroidal_bench.load(spec.format("")).model
        got = model(x).logits
        routes = {layer.self_attn.core.last_route for layer in model.model.layers}
        assert routes == {"fused:merge_cpu_flash"}
        want = toroidal_bench.load(spec.format(",backend=sdpa")).model(x).logits
        assert torch.allclose(got, want, atol=1e-5, rtol=0)
        out = model(x[:, :6], use_cache=True)
        steps = [out.logits]
        for t in range(6, 14):
            out = model(x[:, t:t + 1], **{cache_keyword(): output_cache(out)}, use_cache=True)
            assert model.model.layers[0].self_attn.core.last_route == "fused:sdpa"
            steps.append(out.logits)
    assert torch.allclose(torch.cat(steps, 1), got, atol=1e-5, rtol=0)
