"""π-Spiral phase arithmetic: the constants, exactness up to 2^31, distinct frequencies, the prng control."""

from fractions import Fraction

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from toroidal_bench.encodings.pi_spiral import phases
from toroidal_bench.encodings.pi_spiral.rotary import fixed_phase

mpmath.mp.dps = 60
TRUE = {"pi": mpmath.pi, "e": mpmath.e, "sqrt2": mpmath.sqrt(2), "phi": (1 + mpmath.sqrt(5)) / 2}
FAR = [0, 1, 7, 113, 33102, 10**6, 2_718_282, 10**8, 2**31 - 1]


@pytest.mark.parametrize("name", sorted(TRUE))
def test_constants_to_50_digits(name):
    assert abs(mpmath.mpf(str(phases.constant(name))) - TRUE[name]) < mpmath.mpf(10) ** -50


@pytest.mark.parametrize("name", sorted(TRUE))
def test_offsets_are_the_weyl_sequence_of_the_constant(name):
    u = phases.offsets(name, 64)
    for m in (0, 1, 6, 63):
        assert abs(mpmath.mpf(str(u[m])) - mpmath.frac(TRUE[name] * (m + 1))) < mpmath.mpf(10) ** -40
    assert float(phases.offsets("pi", 1)[0]) == pytest.approx(np.pi - 3, abs=1e-15)


@pytest.mark.parametrize("spread", ["log", "flat"])
@pytest.mark.parametrize("name", sorted(TRUE))
def test_phases_exact_for_positions_up_to_2_31(name, spread):
    freqs = phases.spiral_frequencies(name, 8, spread, 10000.0)
    got = phases.phase(np.array(FAR), freqs)  # (len(FAR), 8)
    for m, a_fixed in enumerate(freqs):
        a_dyadic = Fraction(int(a_fixed), phases.ONE)  # the frequency as defined: exact rational
        u = mpmath.frac(TRUE[name] * (m + 1))
        a_true = mpmath.power(10000, -(m + u) / 8) / (2 * mpmath.pi) if spread == "log" else u
        for i, n in enumerate(FAR):
            exact = float((n * a_dyadic) % 1)
            assert abs(got[i, m] - exact) <= 2.0**-52, (n, m)
            # and against the irrational frequency itself: n·2^-63 at most
            assert abs(got[i, m] - float(mpmath.frac(n * a_true))) < 3e-10, (n, m)


def test_float32_arithmetic_would_fail_where_ours_holds():
    freqs = phases.spiral_frequencies("pi", 4, "flat")
    n = 10**8
    naive = np.float32(n) * np.float32(phases.turns(freqs)[0]) % np.float32(1.0)
    ours = phases.phase(np.array([n]), freqs)[0, 0]
    exact = float(mpmath.frac(n * mpmath.frac(mpmath.pi)))
    assert abs(ours - exact) < 1e-9
    assert abs(float(naive) - exact) > 1e-2  # the public implementation's collapse


@pytest.mark.parametrize("const", ["pi", "e", "sqrt2", "phi", "prng"])
@pytest.mark.parametrize("spread", ["log", "flat"])
def test_frequencies_distinct_and_in_range(const, spread):
    freqs = phases.spiral_frequencies(const, 64, spread, 10000.0)
    assert len(set(freqs.tolist())) == 64
    a = phases.turns(freqs)
    assert np.all((a > 0) & (a < 1))
    if spread == "log":  # pair m sits inside slot m of RoPE's ladder: RoPE_m > a_m > RoPE_{m+1}
        rope = phases.turns(phases.rope_frequencies(65, 10000.0 ** (65 / 64)))
        assert np.all(a < phases.turns(phases.rope_frequencies(64, 10000.0)) + 1e-18)
        assert np.all(np.diff(a) < 0) and a[-1] > rope[-1]
    # kernels differ too: no pair aliases another (a and 1 − a give the same cos(2π·a·Δ))
    eff = np.minimum(a, 1 - a)
    assert len(np.unique(np.round(eff, 15))) == 64


def test_rope_frequencies_match_transformers():
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    cfg = LlamaConfig(hidden_size=256, num_attention_heads=2)  # head_dim 128
    inv = LlamaRotaryEmbedding(cfg).inv_freq.double().numpy()
    ours = phases.turns(phases.rope_frequencies(64, 10000.0)) * 2 * np.pi
    np.testing.assert_allclose(ours, inv, rtol=1e-6)  # HF computes them in float32


def test_prng_is_deterministic_and_seeded():
    a = phases.spiral_frequencies("prng", 32, "log", 10000.0, seed=3)
    b = phases.spiral_frequencies("prng", 32, "log", 10000.0, seed=3)
    c = phases.spiral_frequencies("prng", 32, "log", 10000.0, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, phases.spiral_frequencies("pi", 32, "log", 10000.0))
    # fixed values, so a change of generator or arithmetic is caught
    assert phases.spiral_frequencies("prng", 2, "flat", seed=0).tolist() == [
        int(v) for v in np.random.Generator(np.random.PCG64(0)).integers(1, phases.ONE, size=2, dtype=np.int64)]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, phases.MAX_POSITION - 1), st.integers(0, phases.ONE - 1))
def test_mul_mod_is_exact(n, a):
    expected = (n * a) % phases.ONE
    assert int(phases.mul_mod(np.int64(n), np.int64(a))) == expected
    assert int(phases.mul_mod(torch.tensor(n), torch.tensor(a))) == expected


def test_torch_and_numpy_phases_agree():
    freqs = phases.spiral_frequencies("phi", 16, "log", 500000.0)
    pos = np.array([[0, 5, 10**8, 2**31 - 1]])
    np.testing.assert_array_equal(fixed_phase(torch.tensor(pos), torch.tensor(freqs)).numpy(),
                                  phases.phase(pos, freqs))
    beyond = 2**31 + 12345  # past numpy's range the torch path stays exact (a second 31-bit limb)
    assert fixed_phase(torch.tensor([[beyond]]), torch.tensor(freqs))[0, 0].tolist() == [
        ((beyond * int(a)) % phases.ONE) / phases.ONE for a in freqs]


def test_glide_sums_to_half_width_and_reaches_the_spiral():
    lo, whole, frac = phases.glide_table(1000, 100)
    assert lo == 950 and whole[0] == 0 and frac[0] == 0
    assert whole[-1] + frac[-1] == pytest.approx(50.0, abs=1e-12)  # symmetric ramp
    rope = phases.rope_frequencies(8, 10000.0)
    spiral = phases.spiral_frequencies("e", 8, "log", 10000.0)
    n = np.array([0, 500, 950, 10**8])
    got = phases.glide_phase(n, rope, spiral, 1000, 100)
    np.testing.assert_array_equal(got[:3], phases.phase(n[:3], rope))  # S(n) = 0: RoPE
    # past the ramp: π-Spiral with a fixed offset per pair, θ = a_s·n + (a_r − a_s)·switch
    offset = phases.glide_phase(np.array([2000]), rope, spiral, 1000, 100) - phases.phase(np.array([2000]), spiral)
    late = got[3] - phases.phase(n[3:], spiral)[0]
    d = np.mod(late - offset[0] + 0.5, 1.0) - 0.5
    assert np.abs(d).max() < 1e-9
