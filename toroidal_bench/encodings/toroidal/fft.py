"""`FFTToroidalAttention`: a circulant approximation of toroidal attention in O(N log N).

What it approximates. Exact (non-causal) toroidal attention of query token i, platter k over key
(j, l) uses the score s = q_ik·k_jl·c − λ·δ, with c = (d_k/D)^−½ and δ depending on τ = (i − j) mod P and
(k, l) only. The approximation replaces the content part by its average over all query positions at
the same offset,

    s̄_kl(τ) = c · mean_i q_ik·k_(i−τ),l − λ·δ(τ, k, l)

so the attention matrix becomes circulant in the sequence (a shared kernel a_kl(τ) = exp s̄_kl(τ)), and

    out_ik = Σ_l (a_kl ⊛ m·v_l)_i / Σ_l (a_kl ⊛ m)_i          (⊛: circular convolution mod P, m: key mask)

Both the averaged correlation and the convolutions are FFTs over the period P (inputs zero-padded from
N to P), so the cost is O(D²·P log P·d_k/D) per head instead of O((N·D)²·d_k/D). It is *exact* whenever
q·k depends only on the offset (e.g. W_q = 0: distance-only attention), and otherwise an approximation
whose error docs/toroidal.md reports. Being circular, it cannot express a causal mask or a window:
those raise. `use_fft=False` runs the exact layer (same weights), for comparison.
"""

from __future__ import annotations

import torch

from .attention import ToroidalAttention
from .distance import circular_offset
from .masks import Geometry


def circulant_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: Geometry) -> torch.Tensor:
    """Encoded q (B, H, N, d_k), k/v (B, H_kv, N, d_k) → (B, H, N·D, d_k/D) (float64 inside)."""
    if g.causal or g.window is not None or g.token_mask is not None or g.token_bias is not None or g.q_offset:
        raise ValueError("the FFT approximation is circular: no causal mask, window or explicit mask")
    b, h, n, dk = q.shape
    period, depth = g.period, g.depth
    if n > period:
        raise ValueError(f"sequence of {n} tokens is longer than the period {period}")
    groups = h // k.shape[1]
    k, v = k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1)
    m = torch.ones(b, n, device=q.device) if g.key_valid is None else g.key_valid.to(q.device)
    m = torch.nn.functional.pad(m.double(), (0, period - n))  # (B, P)

    def spread(x: torch.Tensor) -> torch.Tensor:  # (B, H, N, d_k) → zero-padded (B, H, P, D, d_s)
        x = x.double().view(b, h, n, depth, dk // depth) * m[:, None, :n, None, None]
        return torch.nn.functional.pad(x, (0, 0, 0, 0, 0, period - n))

    qf, kf, vf = (torch.fft.rfft(spread(t), dim=2) for t in (q, k, v))  # (B, H, F, D, d_s)
    corr = torch.fft.irfft(torch.einsum("bhfkc,bhflc->bhfkl", qf, kf.conj()), n=period, dim=2)  # (B, H, P, D, D)
    mf = torch.fft.rfft(m, dim=1)  # (B, F)
    count = torch.fft.irfft(mf * mf.conj(), n=period, dim=1).round()  # (B, P): valid (i, i−τ) pairs
    tau = torch.arange(period, device=q.device)
    seq = circular_offset(tau, torch.zeros_like(tau), period).double() / period  # (P,)
    plat = torch.arange(depth, device=q.device)
    dep = (plat[:, None] - plat[None, :]).abs().double() / depth  # (D, D)
    scores = corr / count.clamp_min(1)[:, None, :, None, None] * g.scale - g.lam * (seq[:, None, None] + dep)
    scores = scores.masked_fill((count < 0.5)[:, None, :, None, None], float("-inf"))
    kernel = torch.exp(scores - scores.amax(dim=(2, 4), keepdim=True))  # a_kl(τ), (B, H, P, D, D)
    af = torch.fft.rfft(kernel, dim=2)  # (B, H, F, D, D)
    num = torch.fft.irfft(torch.einsum("bhfkl,bhflc->bhfkc", af, vf), n=period, dim=2)[:, :, :n]  # (B, H, N, D, d_s)
    den = torch.fft.irfft(af.sum(-1) * mf[:, None, :, None], n=period, dim=2)[:, :, :n]  # (B, H, N, D)
    out = num / den[..., None]
    return out.reshape(b, h, n * depth, dk // depth).to(q.dtype)


class FFTToroidalAttention(ToroidalAttention):
    def __init__(self, d_model: int, n_heads: int, *args, use_fft: bool = True, **kwargs):
        super().__init__(d_model, n_heads, *args, **kwargs)
        self.use_fft = use_fft

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, return_attention: bool = False,
                positions: torch.Tensor | None = None):
        if not self.use_fft:
            return super().forward(x, mask, return_attention, positions)
        if return_attention:
            raise ValueError("the FFT path forms no attention matrix; use use_fft=False")
        if positions is None:
            positions = torch.arange(x.shape[1], device=x.device)[None]
        q, k, v = self.project(x, positions)
        out = circulant_attention(q, k, v, self.geometry(x, mask))
        return self.o_proj(self.core.merge(out)), None
