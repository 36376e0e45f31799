"""Toroidal distance, 3D RoPE and the platter layout: the metric's properties and the PE's invariances."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from toroidal_bench.encodings.toroidal import (
    OrthogonalToroidal3DPE,
    Toroidal3DPositionalEncoding,
    create_distance_bias,
    distance_matrix,
)
from toroidal_bench.encodings.toroidal.layout import check_divisible, platter_permutation
from toroidal_bench.encodings.toroidal.positional import apply_model_rotary

shapes = st.tuples(st.integers(1, 12), st.integers(1, 5), st.integers(1, 16))  # N, D, P


@settings(max_examples=40, deadline=None)
@given(shapes)
def test_distance_is_a_symmetric_bounded_wrapping_metric(shape):
    n, d, p = shape
    delta = distance_matrix(n, d, period=p).reshape(n * d, n * d)
    assert torch.equal(delta, delta.T)  # symmetry
    assert torch.all(delta.diagonal() == 0)  # identity
    assert delta.min() >= 0 and delta.max() <= 0.5 + (d - 1) / d + 1e-6  # bounds
    off = delta.clone().fill_diagonal_(1.0)
    assert off.min() > 0 or p == 1 or n > p  # distinct sub-tokens are apart unless positions coincide mod P


def test_distance_wraps_at_the_period_not_the_length():
    delta = distance_matrix(10, 2, period=8)  # (N, D, N, D)
    assert delta[0, 0, 7, 0] == pytest.approx(1 / 8)  # 0 and 7 are neighbours on a circle of 8
    assert delta[0, 0, 8, 0] == 0  # same place one turn later
    assert delta[0, 0, 4, 1] == pytest.approx(4 / 8 + 1 / 2)  # half a turn, one platter apart
    # the default period is the sequence length (the seeds' convention)
    assert distance_matrix(6, 1)[0, 0, 5, 0] == pytest.approx(1 / 6)


def test_create_distance_bias_is_lambda_times_delta():
    bias = create_distance_bias(5, 3, 0.25)
    assert bias.shape == (5, 3, 5, 3)
    assert torch.allclose(bias, 0.25 * distance_matrix(5, 3))


def _pe_score(pe, q, k, pos_q, pos_k):
    """Dot products between rotated q at pos_q and k at pos_k: (D, D)."""
    qr = pe(q[None, None, None], torch.tensor([[pos_q]]))[0, 0, 0]  # (D, d)
    kr = pe(k[None, None, None], torch.tensor([[pos_k]]))[0, 0, 0]
    return qr.double() @ kr.double().T


@pytest.mark.parametrize("cls", [Toroidal3DPositionalEncoding, OrthogonalToroidal3DPE])
def test_3d_rope_scores_depend_on_offsets_only(cls):
    torch.manual_seed(0)
    pe = cls(8, max_len=64, depth=4)
    q, k = torch.randn(4, 8, dtype=torch.float64), torch.randn(4, 8, dtype=torch.float64)
    s1, s2 = _pe_score(pe, q, k, 3, 1), _pe_score(pe, q, k, 40, 38)
    assert torch.allclose(s1, s2, atol=1e-10)
    assert not torch.allclose(s1, _pe_score(pe, q, k, 3, 2), atol=1e-3)  # a different offset is visible


def test_periodic_pe_repeats_exactly_and_ordinary_pe_does_not():
    pos = torch.arange(40)
    per = Toroidal3DPositionalEncoding(16, max_len=16, depth=2, periodic=True)
    cos, sin = per.cos_sin(pos, torch.float32)
    assert torch.equal(cos[:16], cos[16:32]) and torch.equal(sin[:16], sin[16:32])
    plain = Toroidal3DPositionalEncoding(16, max_len=16, depth=2)
    cos, _ = plain.cos_sin(pos, torch.float32)
    assert not torch.allclose(cos[:16], cos[16:32], atol=1e-2)
    assert torch.all(per.turns >= 1)  # whole turns, never a frozen (zero) frequency


def test_pe_angles_do_not_depend_on_sequence_length():
    pe = Toroidal3DPositionalEncoding(8, max_len=64, depth=2)
    short, long = pe.angles(torch.arange(5)), pe.angles(torch.arange(50))
    assert torch.equal(short, long[:5])
    assert (long[1] - long[0]).abs().max() > 0.5  # adjacent tokens differ by ~1 rad, not 2π/N


def test_orthogonality_score():
    std = Toroidal3DPositionalEncoding(16, max_len=64, depth=4)
    ortho = OrthogonalToroidal3DPE(16, max_len=64, depth=4)
    assert std.get_orthogonality_score() > 0.5
    assert ortho.get_orthogonality_score() < 1e-6
    assert ortho.phi.norm() == pytest.approx(std.phi.norm())


def test_platter_permutation_keeps_rotation_pairs_together():
    perm = platter_permutation(20, 2, rotary_dim=8)  # Phi-like: 8 rotated, 12 passed through
    assert sorted(perm.tolist()) == list(range(20))
    first, second = perm[:10].tolist(), perm[10:].tolist()
    assert first[:4] == [0, 1, 4, 5] and second[:4] == [2, 3, 6, 7]  # pairs (m, m+4) stay in one platter
    assert torch.equal(platter_permutation(16, 4), torch.arange(16))
    with pytest.raises(ValueError, match="divisible"):
        check_divisible(16, 3)
    with pytest.raises(ValueError, match="rotary pairs"):
        check_divisible(20, 4, rotary_dim=12)  # 6 rotary pairs cannot be dealt to 4 platters
    check_divisible(20, 4, rotary_dim=8)  # 4 pairs and 12 pass-through features: fine


def test_permuted_platters_see_relative_rotation_only():
    """With the model's RoPE, each platter's partial dot product depends on the offset only."""
    torch.manual_seed(0)
    hd, depth = 16, 4
    inv = 1.0 / 10000 ** (torch.arange(0, hd, 2).double() / hd)
    perm = platter_permutation(hd, depth, rotary_dim=hd)

    def rotated(x, pos):
        ang = torch.cat([pos * inv, pos * inv])[None, None]  # (1, 1, hd)
        out, _ = apply_model_rotary(x[None, None, None], x[None, None, None], ang.cos(), ang.sin(), hd)
        return out[0, 0, 0][perm].view(depth, hd // depth)

    q, k = torch.randn(hd, dtype=torch.float64), torch.randn(hd, dtype=torch.float64)
    a = (rotated(q, 5.0) * rotated(k, 2.0)).sum(-1)
    b = (rotated(q, 105.0) * rotated(k, 102.0)).sum(-1)
    assert torch.allclose(a, b, atol=1e-9)
    assert math.isclose(float(a.sum()), float((rotated(q, 9.0) * rotated(k, 6.0)).sum()), abs_tol=1e-9)
