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


def own_slots(allowed: torch.Tensor) -> torch.Tensor:
    """(…, q, 1) key index of each query: the last key its mask lets it see (causal masks include the
    query itself). A static cache holds empty slots after the query, so the last key is not it."""
    slots = torch.arange(allowed.shape[-1], device=allowed.device)
    return torch.where(allowed, slots, -1).amax(dim=-1, keepdim=True)


def alibi_sdpa(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, **kwargs):
    """Materialized-bias SDPA path: O(H·L²) memory, for CPU and short sequences; (H, q, kv) when decoding."""
    # query (B, Hq, q, d); key/value (B, Hkv, kv, d)
    q_len, kv_len = query.shape[2], key.shape[2]
    groups = query.shape[1] // key.shape[1]
    if groups > 1:
        key = key.repeat_interleave(groups, dim=1)
        value = value.repeat_interleave(groups, dim=1)
    m = module.tbench_alibi_slopes
    if attention_mask is None:
        allowed = causal_mask(q_len, kv_len, query.device)[None, None]
        add = bias(m, q_len, kv_len, query.device)[None]  # (1, H, q, kv)
    else:
        attention_mask = attention_mask[..., :kv_len]
        is_bool = attention_mask.dtype == torch.bool
        allowed = attention_mask if is_bool else attention_mask > torch.finfo(attention_mask.dtype).min / 2
        k_pos = torch.arange(kv_len, device=query.device)
        add = m.to(query.device)[:, None, None] * (k_pos - own_slots(allowed)).to(torch.float32)  # (B, H, q, kv)
        if not is_bool:
            allowed = None
            add = add + attention_mask
    if allowed is not None:
        add = add.masked_fill(~allowed, float("-inf"))
    out = F.scaled_dot_product_attention(
        query, key, value, attn_mask=add.to(query.dtype), dropout_p=dropout, scale=scaling
    )
    return out.transpose(1, 2).contiguous(), None


_score_mods: dict[int, object] = {}


def _score_mod(m: torch.Tensor):
    """score − m_h·(i − j), i and j in kv coordinates (flex's q_idx is shifted by the caller)."""
    key = id(m)
    if key not in _score_mods:

        def alibi(score, b, h, q_idx, kv_idx):
            return score + m[h] * (kv_idx - q_idx).to(score.dtype)

        _score_mods[key] = (m, alibi)  # keep m alive so its id stays unique
    return _score_mods[key][1]


_mask_cache: dict = {}


def _block_mask(attention_mask, q_len: int, length: int, device):
    """Causal block mask over `length` (the bucket) for a prefill of q_len real tokens; with HF's
    padding mask, padded keys (left padding, and the bucket's right padding) are hidden too."""
    from .flex import causal_block_mask, padded_causal_block_mask

    if attention_mask is None:
        return causal_block_mask(length, length, str(device))
    # every layer of one forward receives the same mask object: build its block mask once
    key = (id(attention_mask), q_len, length)
    if _mask_cache.get("key") != key:
        key_valid = attention_mask[:, 0, -1, :]  # (B, q_len): the last query row sees every real key
        key_valid = F.pad(key_valid, (0, length - q_len), value=False)  # (B, length)
        _mask_cache.update(key=key, value=padded_causal_block_mask(key_valid, length))
    return _mask_cache["value"]


def alibi_flex(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, **kwargs):
    """Bias computed inside a compiled FlexAttention kernel: no O(L²) tensor. A prefill is padded on
    the right to its length bucket (its real queries' causal window never reaches the padding), so
    new lengths rarely compile. Decoding steps and prefills on top of a cache (fewer queries than
    keys) take the SDPA path, whose bias is only (H, q, kv) there."""
    q_len, kv_len = query.shape[2], key.shape[2]
    if q_len != kv_len or dropout:  # decoding / prefill on a cache: the bias is only (H, q, kv)
        return alibi_sdpa(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling)
    from .flex import bucket_length, compiled_flex

    m = module.tbench_alibi_slopes
    gqa = query.shape[1] != key.shape[1]
    length = bucket_length(q_len)
    pad = (0, 0, 0, length - q_len)  # (B, H, N, d): pad N on the right
    q, k, v = (F.pad(t, pad) for t in (query, key, value))
    block_mask = _block_mask(attention_mask, q_len, length, query.device)
    out = compiled_flex()(q, k, v, score_mod=_score_mod(m), block_mask=block_mask, scale=scaling, enable_gqa=gqa)
    return out[:, :, :q_len].transpose(1, 2).contiguous(), None


IMPLEMENTATIONS = {"sdpa": alibi_sdpa, "eager": alibi_sdpa, "flex": alibi_flex}


def register(backend: str = "sdpa") -> str:
    """Register the ALiBi attention for `backend` (with the causal mask builder) and return its name."""
    return register_attention(f"{NAME}_{backend}", IMPLEMENTATIONS[backend])
