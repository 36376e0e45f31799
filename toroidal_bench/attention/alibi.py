"""ALiBi as an attention function: the distance bias added to the scores, causal mask kept."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .registration import register_attention

NAME = "tbench_alibi"


def slopes(n_heads: int) -> torch.Tensor:
    """Per-head slopes m_h of Press et al.: geometric from 2^(−8/n) for a power of two n."""

    def power_of_two(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    closest = 2 ** math.floor(math.log2(n_heads))
    values = power_of_two(closest)
    if closest < n_heads:
        values += power_of_two(2 * closest)[0::2][: n_heads - closest]
    return torch.tensor(values, dtype=torch.float32)


def bias(m: torch.Tensor, q_len: int, kv_len: int, device: torch.device) -> torch.Tensor:
    """(H, q_len, kv_len) additive bias −m_h·(i − j); queries are the last q_len of the kv positions."""
    q_pos = torch.arange(kv_len - q_len, kv_len, device=device)
    k_pos = torch.arange(kv_len, device=device)
    return m.to(device)[:, None, None] * (k_pos[None, :] - q_pos[:, None]).to(torch.float32)


def causal_mask(q_len: int, kv_len: int, device: torch.device) -> torch.Tensor:
    """(q_len, kv_len) bool, True = attend; bottom-right aligned for decoding with a cache."""
    q_pos = torch.arange(kv_len - q_len, kv_len, device=device)
    return torch.arange(kv_len, device=device)[None, :] <= q_pos[:, None]


def alibi_sdpa(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, **kwargs):
    """Materialized-bias SDPA path: O(H·L²) memory, for CPU and short sequences."""
    # query (B, Hq, q, d); key/value (B, Hkv, kv, d)
    q_len, kv_len = query.shape[2], key.shape[2]
    groups = query.shape[1] // key.shape[1]
    if groups > 1:
        key = key.repeat_interleave(groups, dim=1)
        value = value.repeat_interleave(groups, dim=1)
    add = bias(module.tbench_alibi_slopes, q_len, kv_len, query.device)[None]  # (1, H, q, kv)
    if attention_mask is None:
        allowed = causal_mask(q_len, kv_len, query.device)[None, None]
    elif attention_mask.dtype == torch.bool:
        allowed = attention_mask
    else:
        allowed = None
        add = add + attention_mask
    if allowed is not None:
        add = add.masked_fill(~allowed, float("-inf"))
    out = F.scaled_dot_product_attention(
        query, key, value, attn_mask=add.to(query.dtype), dropout_p=dropout, scale=scaling
    )
    return out.transpose(1, 2).contiguous(), None


def register() -> str:
    return register_attention(NAME, alibi_sdpa)
