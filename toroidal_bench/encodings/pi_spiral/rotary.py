"""Rotary modules for π-Spiral and the RoPE→π-Spiral hybrid: forward(x, position_ids) → (cos, sin).

Both stand in for a model's `rotary_emb` (HF "rotate_half" layout: pair m is dims m and m + M).
Phases come from the exact int64 arithmetic of `phases` applied to `position_ids` — never to the
current length — so prefill and incremental decoding see the same angles, for positions below 2^62.
Everything is computed on the positions' device and nothing is read back on the host (no range check,
no branch on values), so a decoding step through these modules can be captured in a CUDA graph
(`static_decoding`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from . import phases

TWO_PI = 2 * math.pi


def fixed_mul(position_ids: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """(B, N) int positions, (M,) fixed-point freqs → (B, N, M) int64 (n·a_m mod 1) · 2^62, exact for 0 ≤ n < 2^62.

    `phases.mul_mod` is exact for n < 2^31; with n = n_hi·2^31 + n_lo the high part adds
    n_hi·a·2^31 ≡ (n_hi·(a mod 2^31) mod 2^31)·2^31 (mod 2^62), a product below 2^62 again. For the
    positions met in practice n_hi = 0 and this adds zero; it replaces a range check that would read
    the positions on the host at every step.
    """
    n = position_ids.to(torch.int64).clamp(min=0)[..., None]  # padding may carry −1; it is masked anyway
    n_hi, n_lo = n >> 31, n & phases.MASK31
    high = ((n_hi * (freqs & phases.MASK31)) & phases.MASK31) << 31
    return (phases.mul_mod(n_lo, freqs) + high) & phases.MASK62


def fixed_phase(position_ids: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """(B, N) int positions, (M,) fixed-point freqs → (B, N, M) float64 phases in turns."""
    return fixed_mul(position_ids, freqs).to(torch.float64) / phases.ONE


def radius(position_ids: torch.Tensor, start: int) -> torch.Tensor:
    """(B, N, 1) float64 r(n) = √max(1, ln(n+1)/ln(start)): 1 inside `start`, then log growth.

    q and k are both scaled, so logits grow by r(n)·r(n') ≤ ln(n+1)/ln(start) (2.2 at n = 10^8,
    start = 4096): a log-length temperature, bounded and safe in bf16. Vogel's √n radius would
    multiply logits by √(n·n') and is deliberately not offered.
    """
    n = position_ids.to(torch.float64).clamp(min=0)[..., None]
    return torch.sqrt(torch.clamp(torch.log1p(n) / math.log(start), min=1.0))


class _PhaseRotary(nn.Module):
    """Shared tail: phases (B, N, M) in turns → (cos, sin) (B, N, 2M) in x.dtype."""

    #: a decoding step reads no tensor value on the host (models/decoding.py may capture it)
    static_decoding = True

    def __init__(self, inv_freq: torch.Tensor, attention_scaling: float, radius_start: int | None):
        super().__init__()
        # angular frequencies for code that reads `rotary_emb.inv_freq` (dims, device); not used here
        self.register_buffer("inv_freq", inv_freq.to(torch.float32), persistent=False)
        self.attention_scaling = float(attention_scaling)
        self.radius_start = radius_start

    def _finish(self, x: torch.Tensor, position_ids: torch.Tensor, turns: torch.Tensor):
        angle = TWO_PI * turns  # (B, N, M) float64
        emb = torch.cat((angle, angle), dim=-1)  # (B, N, 2M): rotate_half pairs dims m and m+M
        scale = torch.full_like(emb[..., :1], self.attention_scaling)
        if self.radius_start is not None:
            scale = scale * radius(position_ids, self.radius_start)
        return (emb.cos() * scale).to(x.dtype), (emb.sin() * scale).to(x.dtype)


class PiSpiralRotary(_PhaseRotary):
    """θ(n, m) = 2π · frac(n · a_m) with the fixed-point frequencies `freqs` (M,)."""

    def __init__(self, freqs: np.ndarray, attention_scaling: float = 1.0, radius_start: int | None = None):
        fixed = torch.as_tensor(np.asarray(freqs, dtype=np.int64))
        super().__init__(torch.from_numpy(phases.turns(freqs) * TWO_PI), attention_scaling, radius_start)
        self.register_buffer("freqs", fixed, persistent=False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, position_ids: torch.Tensor):
        return self._finish(x, position_ids, fixed_phase(position_ids, self.freqs))


class HybridRotary(_PhaseRotary):
    """RoPE below the ramp (the model's own module, bit for bit), π-Spiral above, a frequency glide between.

    Each pair's frequency moves from RoPE's a_r to π-Spiral's a_s as the smooth blend s(k) goes
    0 → 1 across `width` positions around `switch`; the angle is the running sum of the per-token
    frequency, θ(n) = 2π·(a_r·n + (a_s − a_r)·S(n)), S(n) = Σ_{k<n} s(k). Blending angles directly
    would depend on which multiple of 2π represents each, and would jump when RoPE's phase wraps.
    """

    def __init__(self, rope: nn.Module, spiral: np.ndarray, switch: int, width: int,
                 radius_start: int | None = None):
        inv_freq = rope.original_inv_freq if hasattr(rope, "original_inv_freq") else rope.inv_freq
        rope_fixed = phases.from_angular(inv_freq.detach().cpu().double().numpy())
        spiral = np.asarray(spiral, dtype=np.int64)
        super().__init__(torch.from_numpy(phases.turns(spiral) * TWO_PI),
                         getattr(rope, "attention_scaling", 1.0), radius_start)
        self.rope = rope
        self.lo, whole, frac = phases.glide_table(switch, width)
        self.width = width
        self.register_buffer("rope_freqs", torch.from_numpy(rope_fixed), persistent=False)
        self.register_buffer("diff_freqs", torch.from_numpy((spiral - rope_fixed) % phases.ONE), persistent=False)
        self.register_buffer("diff_turns", torch.from_numpy((spiral - rope_fixed) / phases.ONE), persistent=False)
        self.register_buffer("glide_whole", torch.from_numpy(whole), persistent=False)
        self.register_buffer("glide_frac", torch.from_numpy(frac), persistent=False)

    @property
    def static_decoding(self) -> bool:
        """As π-Spiral's, unless the wrapped RoPE recomputes its frequencies from the length."""
        rope_type = getattr(self.rope, "rope_type", "default")
        return "dynamic" not in rope_type and rope_type != "longrope"

    @torch.no_grad()
    def forward(self, x: torch.Tensor, position_ids: torch.Tensor):
        rope_cos, rope_sin = self.rope(x, position_ids)
        # S(n) = 0: exactly RoPE. Both branches are computed and selected per position (no host read of
        # whether every position is below the ramp)
        pure = position_ids <= self.lo
        n = position_ids.to(torch.int64).clamp(min=0)
        j = (n - self.lo).clamp(0, self.width)
        s_int = self.glide_whole[j] + (n - self.lo - self.width).clamp(min=0)  # (B, N) exact
        s_frac = self.glide_frac[j][..., None]  # (B, N, 1)
        exact = (fixed_mul(n, self.rope_freqs) + fixed_mul(s_int, self.diff_freqs)) & phases.MASK62
        turns = torch.remainder(exact.to(torch.float64) / phases.ONE + self.diff_turns * s_frac, 1.0)
        cos, sin = self._finish(x, position_ids, turns)
        rope_cos, rope_sin = self._radius_only(x, position_ids, rope_cos, rope_sin)
        keep = pure[..., None]
        return torch.where(keep, rope_cos, cos), torch.where(keep, rope_sin, sin)

    def _radius_only(self, x, position_ids, cos, sin):
        if self.radius_start is None:
            return cos, sin
        r = radius(position_ids, self.radius_start).to(x.dtype)
        return cos * r, sin * r
