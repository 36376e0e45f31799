"""The attractor: the vectorised scan equals the recurrence, resets, normalisation, flat streaming memory."""

import pytest
import torch

import toroidal_bench as tb
from toroidal_bench.diagnostics.profile import streaming_memory
from toroidal_bench.encodings.pi_spiral.attractor import Attractor, scan, step


def loop(u, a, init):
    m, out = init, []
    for t in range(u.shape[1]):
        m = step(m, a[:, t], u[:, t])
        out.append(m)
    return torch.stack(out, dim=1)


@pytest.mark.parametrize("T", [1, 5, 64, 65, 300, 4200])
def test_scan_equals_the_recurrence(T):
    g = torch.Generator().manual_seed(T)
    u = torch.randn(2, T, 3, generator=g, dtype=torch.float64)
    a = torch.rand(2, T, generator=g, dtype=torch.float64) * 0.2 + 0.8
    a[0, T // 3] = 0.0  # a reset inside
    a[1, :: 97] = 0.0
    init = torch.randn(2, 3, generator=g, dtype=torch.float64)
    torch.testing.assert_close(scan(u, a, init, chunk=16), loop(u, a, init), atol=1e-10, rtol=1e-10)


def test_scan_is_stable_for_alpha_near_one_and_near_zero():
    T = 5000
    u = torch.ones(1, T, 1)
    for alpha in (1 - 1e-7, 1e-3):
        a = torch.full((1, T), alpha)
        got = scan(u, a)
        assert torch.isfinite(got).all()
        torch.testing.assert_close(got[0, -1], loop(u.double(), a.double(), torch.zeros(1, 1, dtype=torch.float64))[0, -1].float(),
                                   rtol=1e-4, atol=1e-4)


def test_summary_is_a_causal_normalised_average_that_resets_at_position_zero():
    att = Attractor("x", alpha=0.5)
    h = torch.randn(1, 6, 4)
    pos = torch.tensor([[0, 1, 2, 0, 1, 2]])  # two packed sequences
    s = att.summary(h, pos)
    torch.testing.assert_close(s[0, 0], h[0, 0])  # first token: itself
    torch.testing.assert_close(s[0, 1], (0.5 * h[0, 0] + h[0, 1]) / 1.5)
    torch.testing.assert_close(s[0, 3], h[0, 3])  # reset
    h2 = h.clone()
    h2[0, 4:] += 10.0
    torch.testing.assert_close(att.summary(h2, pos)[0, :4], s[0, :4])  # the future does not reach the past


def test_state_follows_the_cache_and_chunks_compose():
    att = Attractor("x", alpha=0.9)
    h = torch.randn(2, 40, 8)
    pos = torch.arange(40)[None].expand(2, -1)

    class Box:  # any cache object carries the state
        pass

    cache = Box()
    parts = [att.summary(h[:, :17], pos[:, :17], cache)]
    for t in range(17, 40):
        parts.append(att.summary(h[:, t:t + 1], pos[:, t:t + 1], cache))
    torch.testing.assert_close(torch.cat(parts, dim=1), att.summary(h, pos), atol=1e-5, rtol=1e-5)
    with pytest.raises(RuntimeError, match="out of step"):
        att.summary(h[:, :1], torch.tensor([[7], [7]]), cache)


def test_streaming_memory_stays_flat_with_a_window():
    """Measured: carried bytes per step (KV cache + attractor states) while streaming token by token."""
    model = tb.load("random:llama-tiny+attractor(alpha=exp:1.0,inject=kv)").model
    windowed = streaming_memory(model, 96, window=16, every=8)
    full = streaming_memory(model, 96, window=None, every=8)
    steady = [p.total for p in windowed if p.step >= 16]
    assert len(set(steady)) == 1  # constant once the window is full
    assert all(p.attractor_bytes == windowed[0].attractor_bytes > 0 for p in windowed)
    # the full cache grows linearly: 96 tokens hold 12× the bytes of 8
    assert full[-1].kv_bytes == 12 * full[0].kv_bytes
    assert full[-1].total > 5 * steady[0]
