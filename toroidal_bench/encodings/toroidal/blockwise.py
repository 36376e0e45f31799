"""Exact attention in blocks with an online softmax (the single-device core of Ring Attention).

For each block of query rows the key/value blocks are visited in order, keeping a running maximum m,
normaliser ℓ and weighted sum a (Milakov & Gimelshein 2018; Liu et al. 2023):

    m' = max(m, max_c s_c),  ℓ' = ℓ·e^(m−m') + Σ_c e^(s_c−m'),  a' = a·e^(m−m') + Σ_c e^(s_c−m') v_c

and out = a/ℓ at the end — the same numbers as softmax over the whole row, but only a (block × block)
piece of scores and bias exists at any time. Under a causal mask, key blocks that start after the
block's last query token are skipped.
"""

from __future__ import annotations

import torch

from .masks import Geometry, bias_block


def blockwise_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: Geometry,
                        block_size: int = 512) -> torch.Tensor:
    """q, k, v (B, H, L, d_s) (k/v already repeated for GQA) → (B, H, Lq, d_s)."""
    lq, lk = q.shape[2], k.shape[2]
    outs = []
    for r0 in range(0, lq, block_size):
        r1 = min(lq, r0 + block_size)
        qb = q[:, :, r0:r1]  # (B, H, R, d_s)
        last_token = (r1 - 1) // g.depth + g.q_offset
        m = torch.full(qb.shape[:3], float("-inf"), device=q.device)  # (B, H, R)
        norm = torch.zeros(qb.shape[:3], device=q.device)
        acc = torch.zeros(*qb.shape[:3], v.shape[-1], device=q.device)  # (B, H, R, d_s) float32
        for c0 in range(0, lk, block_size):
            if g.causal and c0 // g.depth > last_token:
                break  # every later key block is in the future of this query block
            c1 = min(lk, c0 + block_size)
            s = (qb @ k[:, :, c0:c1].transpose(-1, -2)).float() * g.scale  # (B, H, R, C)
            s = s + bias_block(g, (r0, r1), (c0, c1), q.device, torch.float32)
            m_new = torch.maximum(m, s.amax(dim=-1))
            p = torch.exp(s - m_new[..., None])
            corr = torch.exp(m - m_new)
            norm = norm * corr + p.sum(dim=-1)
            acc = acc * corr[..., None] + p @ v[:, :, c0:c1].float()
            m = m_new
        outs.append((acc / norm[..., None]).to(q.dtype))
    return torch.cat(outs, dim=2)
