"""Encodings as angle vectors: what the collision and spectral analyses look at (numpy, no model).

An encoding of position n is e_n = r(n)·[cos 2πφ(n, m), sin 2πφ(n, m)]_m ∈ R^{2M} (M = rot_dim/2
pairs), the vector that rotates q and k. `Geometry` turns an encoding spec into its phases φ.
Encodings that leave the rotary alone (attractor) are analysed as the RoPE they run on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..encodings.pi_spiral import phases
from ..errors import UsageError


@dataclass(frozen=True)
class Geometry:
    """The phases of one encoding for a rotary of `n_pairs` pairs with RoPE base `base`."""

    label: str
    n_pairs: int
    freqs: np.ndarray | None  # (M,) fixed-point; set when the encoding is stationary (depends on n − n' only)
    hybrid: tuple[np.ndarray, np.ndarray, int, int] | None = None  # rope, spiral, switch, width
    radius_start: int | None = None

    @property
    def stationary(self) -> bool:
        return self.freqs is not None and self.radius_start is None

    def phase(self, positions: np.ndarray) -> np.ndarray:
        """(N,) int → (N, M) float64 turns."""
        if self.hybrid is not None:
            rope, spiral, switch, width = self.hybrid
            return phases.glide_phase(positions, rope, spiral, switch, width)
        return phases.phase(positions, self.freqs)

    def radius(self, positions: np.ndarray) -> np.ndarray:
        """(N,) r(n); 1 without a radius term."""
        n = np.asarray(positions, dtype=np.float64)
        if self.radius_start is None:
            return np.ones_like(n)
        return np.sqrt(np.maximum(1.0, np.log1p(n) / np.log(self.radius_start)))

    def vectors(self, positions: np.ndarray) -> np.ndarray:
        """(N, 2M) float64 e_n."""
        angle = 2 * np.pi * self.phase(positions)
        r = self.radius(positions)[:, None]
        return np.concatenate([np.cos(angle), np.sin(angle)], axis=1) * r

    def effective_frequencies(self) -> np.ndarray | None:
        """(M,) turns/token folded to [0, ½] (integer positions cannot tell a from 1 − a)."""
        if self.freqs is None:
            return None
        a = phases.turns(self.freqs)
        return np.minimum(a, 1.0 - a)


def from_spec(text: str, rot_dim: int, base: float) -> Geometry:
    """'pi-spiral(const=e)', 'hybrid(switch=4096)', 'rope', 'public-single(const=pi)', a '+'-chain…"""
    from ..encodings import resolve_encoding
    from ..encodings.pi_spiral.encodings import Hybrid, PiSpiral
    from ..specs import parse_spec

    text = text.strip().lstrip("+")
    if text.startswith("public-single"):
        const = text.partition("const=")[2].rstrip(")") or "pi"
        return public_single(const, rot_dim)
    spec = parse_spec("random:x+" + text) if text and text != "rope" else parse_spec("random:x")
    n_pairs = rot_dim // 2
    rope = phases.rope_frequencies(n_pairs, base)
    geometry = Geometry("rope", n_pairs, rope)
    for ref in spec.encodings:
        enc = resolve_encoding(ref)
        if ref.name == "toroidal":
            raise UsageError("toroidal is a distance bias over platters, not a rotary: the collision and "
                             "spectral analyses do not apply", "see the 'toroidal' analysis (its bias table)")
        if ref.name == "alibi":
            raise UsageError("alibi has no rotary: the collision and spectral analyses do not apply",
                             "diagnose a rotary encoding (rope, pi-spiral, hybrid)")
        if isinstance(enc, Hybrid):
            spiral = enc.frequencies(n_pairs, base)
            geometry = Geometry(enc.canonical(), n_pairs, None, (rope, spiral, enc.switch, enc.width),
                                enc._radius_start())
        elif isinstance(enc, PiSpiral):
            geometry = Geometry(enc.canonical(), n_pairs, enc.frequencies(n_pairs, base), None,
                                enc._radius_start())
    return geometry


def public_single(const: str, rot_dim: int) -> Geometry:
    """The public implementation's encoding: one frequency frac(c) repeated on every pair (§6.2)."""
    a = phases.to_fixed(phases.offsets(const, 1)[0])
    return Geometry(f"public-single(const={const})", rot_dim // 2, np.full(rot_dim // 2, a, dtype=np.int64))


def standard_set(rot_dim: int, base: float, length: int) -> list[str]:
    """RoPE, π-Spiral per constant (log and flat), the prng control, a hybrid switching mid-way,
    and the public single-frequency encoding: the side-by-side of `tbench diagnose`."""
    switch = max(length // 2, 8)
    return (["rope"] + [f"pi-spiral(const={c})" for c in ("pi", "e", "sqrt2", "phi", "prng")]
            + ["pi-spiral(const=pi,spread=flat)", "pi-spiral(const=prng,spread=flat)",
               f"hybrid(switch={switch},width={max(switch // 4, 2)},const=pi)", "public-single(const=pi)"])
