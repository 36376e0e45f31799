"""The toroidal bias folded into q and k: exact toroidal attention on the fused SDPA kernels.

Under the causal mask every visible pair has i − j ≥ 0 (tokens). When also i − j ≤ P/2 for every such
pair — 2·(q_offset + N_q − 1) ≤ P, i.e. the period is at least about twice the context — the circular
distance never wraps, circ(i − j) = i − j, and the bias is

    −λ·δ = −λ·i/P  +  λ·j/P  −  (λ/D)·|k − l|
           └ per query row: cancels in the softmax ┘
                          └ per key: one extra feature ┘
                                     └ D × D, rank ≤ D: D extra features ┘

so with s = 1/√d_s the biased score is s·(q'·k') for q, k extended by 1 + D features

    q' = [q, 1, c·e_k]        k' = [k, λ(j − j̄)/(P·s), −(|0 − l| − m), …, −(|D−1 − l| − m)],   c = λ/(D·s)

(e_k the one-hot of the query's platter; j̄ and m = (D−1)/2 are constants that cancel too and halve the
magnitudes). The head dim is padded to a multiple of 8; v keeps its width unless the kernel needs equal
widths (then q', k' and v are zero-padded to the larger one; zero features change no score). In float32/float64 this is the same function up to rounding. In 16-bit dtypes the extra
features are rounded once: the bias is off by at most u·λ·(1/4 + (D−1)/(2D)) (u = 2⁻⁸ for bf16); where
that exceeds `BIAS_TOL` each extra feature is carried as a hi/lo pair (1 + D more features), leaving
~16 bits, as exact as the float32 bias the flex path adds.

Which kernel call runs:
- D = 1 with N_q = N_k, or a single query token (decoding: every cached key is visible): plain
  `scaled_dot_product_attention`, `is_causal` or no mask (cuDNN / flash / CPU flash as SDPA picks).
- D > 1, N_q = N_k: token-level causality over platters is not one causal kernel call; merge.py runs
  one element-causal fused call and adds the within-token keys it misses through its log-sum-exp.

Everything else (wrap-around P < 2·L, a window that bites, padding or explicit masks, prefill on top of a
cache, a static cache, no causal mask) is not this route's: `blocker` says why and the caller falls back (flex on GPU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import merge
from .masks import Geometry

#: largest rounding error of the folded bias (logits) accepted before splitting features into hi/lo
BIAS_TOL = 1e-3
_UNIT_ROUNDOFF = {torch.bfloat16: 2.0 ** -8, torch.float16: 2.0 ** -11}


def _is_zero(lam) -> bool:
    return not isinstance(lam, torch.Tensor) and lam == 0


def blocker(g: Geometry, q: torch.Tensor, k: torch.Tensor) -> str | None:
    """Why this call cannot take the fused route, or None when it is exact."""
    if isinstance(g.q_offset, torch.Tensor):  # checked first: every test below would read it on the host
        return "a static cache (the query's slot is a device tensor; the empty slots after it need a mask)"
    depth = g.depth
    nq, nk = q.shape[2] // depth, k.shape[2] // depth  # tokens
    reach = g.q_offset + nq - 1  # the largest visible token distance i − j
    if not g.causal:
        return "no causal mask (the circular distance is not linear in i − j)"
    if g.key_valid is not None or g.token_mask is not None or g.token_bias is not None:
        return "a padding or explicit mask"
    if g.window is not None and g.window < reach:
        return f"a circular window of {g.window} tokens below the context's reach of {reach}"
    if not _is_zero(g.lam) and 2 * reach > g.period:
        return f"the distance wraps (period {g.period} < 2 × {reach})"
    if g.q_offset + nq != nk:
        return "queries are not the last tokens of the keys"
    if nq != nk and nq != 1:
        return "a prefill on top of a cache (neither N_q = N_k nor a single query token)"
    return None


def _split(dtype: torch.dtype, lam, depth: int) -> bool:
    u = _UNIT_ROUNDOFF.get(dtype)
    return u is not None and u * float(lam) * (0.25 + (depth - 1) / (2 * depth)) > BIAS_TOL


def _hi_lo(x: torch.Tensor, dtype: torch.dtype, split: bool) -> list[torch.Tensor]:
    if not split:
        return [x.to(dtype)]
    hi = x.to(dtype)
    return [hi, (x - hi.to(x.dtype)).to(dtype)]


def fold(q: torch.Tensor, k: torch.Tensor, g: Geometry) -> tuple[torch.Tensor, torch.Tensor]:
    """q (B, H, Lq, d_s), k (B, H_kv, Lk, d_s) → q', k' (…, d') with s·q'·k' = s·q·k − λ·δ + per-row constant."""
    depth, dtype, dev = g.depth, q.dtype, q.device
    lam, scale, period = g.lam, g.scale, g.period
    if _is_zero(lam):
        extra_q = extra_k = []
    else:
        cdt = torch.float64 if dtype == torch.float64 else torch.float32
        if isinstance(lam, torch.Tensor):
            lam = lam.to(device=dev, dtype=cdt)
        split = _split(dtype, lam, depth)
        lq, lk = q.shape[2], k.shape[2]
        nk = lk // depth
        j = torch.arange(lk, device=dev) // depth  # key tokens
        key_term = (lam / (period * scale)) * (j.to(cdt) - (nk - 1) / 2)  # (Lk,)
        extra_q = [torch.ones(lq, device=dev, dtype=dtype)] * (2 if split else 1)
        extra_k = _hi_lo(key_term, dtype, split)
        if depth > 1:
            platter_q = torch.arange(lq, device=dev) % depth
            platter_k = torch.arange(lk, device=dev) % depth
            one_hot = F.one_hot(platter_q, depth).to(cdt)  # (Lq, D)
            coef = lam / (depth * scale)
            centred = (platter_k[:, None] - torch.arange(depth, device=dev)[None, :]).abs().to(cdt) - (depth - 1) / 2
            for part in _hi_lo(coef * one_hot, dtype, split):  # (Lq, D) per part
                extra_q += list(part.unbind(-1))
                extra_k += list((-centred).to(dtype).unbind(-1))  # (Lk,) each; exact half-integers
    width = q.shape[-1] + len(extra_q)
    pad = -width % 8
    return _extend(q, extra_q, pad), _extend(k, extra_k, pad)


def _extend(x: torch.Tensor, columns: list[torch.Tensor], pad: int) -> torch.Tensor:
    """x (B, H, L, d) with per-position columns (L,) appended, then `pad` zero columns."""
    if not columns and not pad:
        return x
    b, h, n, _ = x.shape
    parts = [x]
    if columns:
        parts.append(torch.stack(columns, dim=-1).to(x.dtype).expand(b, h, n, len(columns)))
    if pad:
        parts.append(x.new_zeros(1, 1, 1, pad).expand(b, h, n, pad))
    return torch.cat(parts, dim=-1)


def equal_widths(q2: torch.Tensor, k2: torch.Tensor, v: torch.Tensor):
    """q', k', v zero-padded to one width (a multiple of 8), for kernels that need equal head dims."""
    width = max(q2.shape[-1], v.shape[-1])
    width += -width % 8
    return tuple(F.pad(t, (0, width - t.shape[-1])) if t.shape[-1] != width else t for t in (q2, k2, v))


def _needs_equal_widths(q2: torch.Tensor, k2: torch.Tensor, v: torch.Tensor, causal: bool) -> bool:
    """Would SDPA run a fused kernel only once q', k' and v have one width (flash, CPU flash)?"""
    if v.shape[-1] == q2.shape[-1]:
        return False
    from torch.nn.attention import SDPBackend

    def fused_kernel(*t):
        try:
            choice = int(torch._fused_sdp_choice(*t, None, 0.0, causal, scale=1.0))
        except Exception:  # cannot ask: equal widths suit every kernel
            return t[0].shape[-1] == t[2].shape[-1]
        return choice not in (int(SDPBackend.MATH), int(SDPBackend.ERROR))

    one = (q2[:1, :1], k2[:1, :1], v[:1, :1])  # the choice depends on dims, dtype and device only
    return not fused_kernel(*one) and fused_kernel(*equal_widths(*one))


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: Geometry) -> tuple[torch.Tensor, str] | str:
    """(out (B, H, Lq, d_v), the kernel call that ran) — or, when no fused kernel can run it, the reason.

    The caller has checked `blocker(g, q, k) is None`.
    """
    depth = g.depth
    q2, k2 = fold(q, k, g)
    dv = v.shape[-1]
    single_query = q.shape[2] == depth  # one query token: every key is visible
    if depth == 1 or single_query:
        causal = not single_query
        if _needs_equal_widths(q2, k2, v, causal):
            q2, k2, v = equal_widths(q2, k2, v)
        out = F.scaled_dot_product_attention(q2, k2, v, is_causal=causal, scale=g.scale,
                                             enable_gqa=q.shape[1] != k.shape[1])
        return out[..., :dv], "sdpa_causal" if causal else "sdpa"
    found = merge.kernel_for(q2, k2, v)
    if isinstance(found, str):
        return found
    kernel, equal = found
    if equal:
        q2, k2, v = equal_widths(q2, k2, v)
    out = merge.token_causal(q2, k2, v, depth, g.scale, kernel)
    return out[..., :dv], f"merge_{kernel.name}"
