"""Exact phase arithmetic for the π-Spiral family (no torch: the diagnostics use it too).

A rotary pair m turns by a_m turns per token; position n has phase φ(n, m) = frac(n · a_m) ∈ [0, 1)
and angle 2π·φ. Computing n·a_m in floating point loses the fractional part as n grows (float32:
the phase is exactly 0 for n ≳ 2.7M). Here every frequency is a 62-bit fixed-point number
A_m = round(a_m · 2^62), and frac(n · A_m / 2^62) is computed in int64 without overflow by splitting
A_m into two 31-bit limbs, so phases are exact (to 2^-53 turns after the final float64 conversion)
for every position 0 ≤ n < 2^31. Against the true irrational a_m the error is n·2^-63 ≤ 2.4e-10 turns.

`mul_mod` works on numpy arrays and torch tensors alike (it uses only * & >> << +).

Frequencies (turns/token), M = rot_dim/2 pairs, m = 0..M-1, u_m ∈ (0, 1) the constant's offsets:
    u_m = frac(c · (m + 1))            c ∈ {π, e, √2, φ}   (the Weyl sequence of c)
    u_m ~ Uniform(0, 1), seeded        const = prng       (the control)
    spread=log:  a_m = b^(−(m + u_m)/M) / 2π   each pair in its own slot of RoPE's log ladder
    spread=flat: a_m = u_m                      the literal reading: every pair in (0, 1) turns/token
RoPE itself is spread=log with u_m = 0: a_m = b^(−m/M) / 2π.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

import numpy as np

BITS = 62
ONE = 1 << BITS  # 1 turn in fixed point
MASK31 = (1 << 31) - 1
MASK62 = ONE - 1
#: positions must stay below this for the int64 arithmetic to be exact
MAX_POSITION = 1 << 31
CONSTANTS = ("pi", "e", "sqrt2", "phi", "prng")

_PREC = 60  # decimal digits: far more than the 19 that 2^-62 needs
_DIGITS = {
    "pi": "3.14159265358979323846264338327950288419716939937510582097494",
    "e": "2.71828182845904523536028747135266249775724709369995957496697",
}


def constant(name: str) -> Decimal:
    """The irrational constant to 60 digits."""
    with localcontext() as ctx:
        ctx.prec = _PREC
        if name in _DIGITS:
            return Decimal(_DIGITS[name])
        if name == "sqrt2":
            return Decimal(2).sqrt()
        if name == "phi":
            return (1 + Decimal(5).sqrt()) / 2
    raise ValueError(f"unknown constant {name!r}; choose one of {', '.join(CONSTANTS)}")


def offsets(const: str, n_pairs: int, seed: int = 0) -> list[Decimal]:
    """u_m ∈ (0, 1), m = 0..n_pairs-1: frac(c·(m+1)) for a constant, seeded uniforms for prng."""
    if const == "prng":
        rng = np.random.Generator(np.random.PCG64(seed))
        # integers, so the values are exact and identical on every platform
        ints = rng.integers(1, ONE, size=n_pairs, dtype=np.int64)
        return [Decimal(int(v)) / Decimal(ONE) for v in ints]
    c = constant(const)
    with localcontext() as ctx:
        ctx.prec = _PREC
        return [(c * (m + 1)) % 1 for m in range(n_pairs)]


def to_fixed(turns: Decimal | float) -> int:
    """round(turns · 2^62) mod 2^62: a frequency (turns/token) as a fixed-point integer."""
    with localcontext() as ctx:
        ctx.prec = _PREC
        return int((Decimal(turns) * ONE).to_integral_value()) % ONE


def _two_pi() -> Decimal:
    with localcontext() as ctx:
        ctx.prec = _PREC
        return 2 * constant("pi")


def ladder(exponents: list[Decimal], base: float) -> list[int]:
    """Fixed-point a = b^(−x) / 2π for each x in `exponents` (x ∈ [0, 1])."""
    with localcontext() as ctx:
        ctx.prec = _PREC
        ln_b = Decimal(base).ln()
        two_pi = _two_pi()
        return [to_fixed((-x * ln_b).exp() / two_pi) for x in exponents]


def spiral_frequencies(const: str, n_pairs: int, spread: str = "log", base: float = 10000.0,
                       seed: int = 0) -> np.ndarray:
    """(M,) int64 fixed-point frequencies of π-Spiral (see the module docstring)."""
    u = offsets(const, n_pairs, seed)
    if spread == "flat":
        return np.array([to_fixed(x) for x in u], dtype=np.int64)
    if spread != "log":
        raise ValueError(f"unknown spread {spread!r}; choose log or flat")
    return np.array(ladder([(m + x) / n_pairs for m, x in enumerate(u)], base), dtype=np.int64)


def rope_frequencies(n_pairs: int, base: float = 10000.0) -> np.ndarray:
    """(M,) int64 fixed-point frequencies of RoPE, a_m = b^(−m/M)/2π, exact in the same arithmetic."""
    return np.array(ladder([Decimal(m) / n_pairs for m in range(n_pairs)], base), dtype=np.int64)


def from_angular(inv_freq) -> np.ndarray:
    """Fixed-point frequencies from angular ones (rad/token, e.g. a model's float32 `inv_freq`)."""
    return np.array([to_fixed(Decimal(float(w)) / _two_pi()) for w in inv_freq], dtype=np.int64)


def mul_mod(n, a):
    """(n · a) mod 2^62 for int64 n ∈ [0, 2^31) and a ∈ [0, 2^62), without overflow.

    a = hi·2^31 + lo with hi, lo < 2^31; every product below stays under 2^62 and the final sum
    under 2^63, so int64 holds it exactly.
    """
    hi = a >> 31
    lo = a & MASK31
    top = ((n * hi) & MASK31) << 31  # (n·hi mod 2^31)·2^31 ≡ n·hi·2^31 (mod 2^62)
    return (top + n * lo) & MASK62


def phase(positions, freqs: np.ndarray) -> np.ndarray:
    """(..., M) float64 phases in turns, frac(n · a_m), for integer `positions` (...)."""
    n = np.asarray(positions, dtype=np.int64)
    check_positions(n)
    return mul_mod(n[..., None], np.asarray(freqs, dtype=np.int64)).astype(np.float64) / ONE


def check_positions(n) -> None:
    if n.size and (int(n.min()) < 0 or int(n.max()) >= MAX_POSITION):
        raise ValueError(f"positions must lie in [0, 2^31); got {int(n.min())}..{int(n.max())}")


def turns(freqs: np.ndarray) -> np.ndarray:
    """Fixed-point frequencies as float64 turns/token (for display and spectra)."""
    return np.asarray(freqs, dtype=np.float64) / ONE


# -- the hybrid's frequency glide --------------------------------------------------------------------

def glide_table(switch: int, width: int) -> tuple[int, np.ndarray, np.ndarray]:
    """The cumulative blend S(n) = Σ_{k<n} s(k) of the hybrid, as a table over its ramp.

    s(k) = 0 below lo = switch − ⌊width/2⌋, 1 from lo + width on, and the C² smootherstep
    6x⁵ − 15x⁴ + 10x³ at the midpoints x = (k − lo + ½)/width in between. Returns lo and
    S(lo + j), j = 0..width, split into an int64 integer part and a float64 fraction, so that
    S(n) = S(lo + width) + (n − lo − width) stays exact for any n past the ramp.
    """
    lo = switch - width // 2
    x = (np.arange(width, dtype=np.float64) + 0.5) / width
    s = x**3 * (x * (6 * x - 15) + 10)
    cum = np.concatenate([[0.0], np.cumsum(s)])  # (width+1,)
    whole = np.floor(cum)
    return lo, whole.astype(np.int64), cum - whole


def glide_phase(positions, rope: np.ndarray, spiral: np.ndarray, switch: int, width: int) -> np.ndarray:
    """(..., M) float64 phases of the hybrid: frac(a_r·n + (a_s − a_r)·S(n)) (reference, numpy)."""
    n = np.asarray(positions, dtype=np.int64)[..., None]
    lo, whole, frac = glide_table(switch, width)
    j = np.clip(n - lo, 0, width)
    s_int = whole[j] + np.maximum(n - lo - width, 0)  # exact integer part of S(n)
    s_frac = frac[j]
    diff = (spiral - rope) % ONE  # a_s − a_r mod 1, as a non-negative fixed-point number
    exact = (mul_mod(n, rope) + mul_mod(s_int, diff)) & MASK62
    signed = (spiral.astype(np.float64) - rope.astype(np.float64)) / ONE
    return np.mod(exact.astype(np.float64) / ONE + signed * s_frac, 1.0)
