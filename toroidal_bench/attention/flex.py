"""One process-wide compiled FlexAttention, and causal block masks cached per shape.

FlexAttention must run compiled (eagerly it materializes the full score matrix). Dynamo's recompile
limit is shared by every compiled flex call in the process and, once hit, silently falls back to the
unfused path (~100× slower), so it is raised here; block masks are cached per (q_len, kv_len, device)
and score_mods are built once per captured tensor, so repeated calls with a known shape recompile
nothing.
"""

from __future__ import annotations

import functools

import torch

_RECOMPILE_LIMIT = 64


@functools.cache
def compiled_flex():
    import torch._dynamo.config as dynamo_config
    from torch.nn.attention.flex_attention import flex_attention

    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(dynamo_config, name):
            setattr(dynamo_config, name, max(getattr(dynamo_config, name), _RECOMPILE_LIMIT))
    return torch.compile(flex_attention, dynamic=False)


@functools.lru_cache(maxsize=64)
def causal_block_mask(q_len: int, kv_len: int, device: str):
    """Bottom-right aligned causal BlockMask (queries are the last q_len of kv_len positions)."""
    from torch.nn.attention.flex_attention import create_block_mask

    offset = kv_len - q_len

    def causal(b, h, q_idx, kv_idx):
        return q_idx + offset >= kv_idx

    return create_block_mask(causal, B=None, H=None, Q_LEN=q_len, KV_LEN=kv_len, device=device)


def padded_causal_block_mask(key_valid: torch.Tensor, q_len: int):
    """Causal BlockMask that also hides padded keys; key_valid (B, kv_len) bool."""
    from torch.nn.attention.flex_attention import create_block_mask

    batch, kv_len = key_valid.shape
    offset = kv_len - q_len

    def causal_unpadded(b, h, q_idx, kv_idx):
        return (q_idx + offset >= kv_idx) & key_valid[b, kv_idx]

    return create_block_mask(causal_unpadded, B=batch, H=None, Q_LEN=q_len, KV_LEN=kv_len,
                             device=key_valid.device)
