"""One process-wide compiled FlexAttention, length buckets, and causal block masks cached per bucket.

FlexAttention must run compiled (eagerly it materializes the full score matrix), and every new
sequence shape compiles again (seconds). Dynamo's recompile limit is shared by every compiled flex
call in the process and, once hit, silently falls back to the unfused path (~100× slower). So
sequences are padded on the right to a length bucket (at most 4 buckets per octave, ≤ 25% padding:
`bucket_length`), the limit is raised above the number of buckets up to 128k tokens, block masks are
cached per bucket and score_mods are built once per captured tensor: a known bucket recompiles nothing.

Block masks are built from tile index ranges (blockmask.py), never through an L × L bool mask: eager
`create_block_mask` materializes one (plus int64 index temporaries, ≈ 41 GiB at 64k).
"""

from __future__ import annotations

import functools

import torch

#: buckets up to 128k tokens (36) × a few batch sizes each
_RECOMPILE_LIMIT = 256


def bucket_length(n: int) -> int:
    """The padded length for a sequence of n tokens: a multiple of 128 (flex's block size) and of a
    quarter of n's octave, so at most 4 buckets per power of two and at most 25% padding above 512."""
    step = max(128, 1 << max(0, n.bit_length() - 3))
    return -(-n // step) * step


@functools.cache
def compiled_flex():
    import torch._dynamo.config as dynamo_config
    from torch.nn.attention.flex_attention import flex_attention

    for name in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit", "accumulated_cache_size_limit"):
        if hasattr(dynamo_config, name):
            setattr(dynamo_config, name, max(getattr(dynamo_config, name), _RECOMPILE_LIMIT))
    return torch.compile(flex_attention, dynamic=False)


@functools.lru_cache(maxsize=64)
def causal_block_mask(q_len: int, kv_len: int, device: str):
    """Bottom-right aligned causal BlockMask (queries are the last q_len of kv_len positions)."""
    from .blockmask import block_mask

    offset = kv_len - q_len

    def causal(b, h, q_idx, kv_idx):
        return q_idx + offset >= kv_idx

    return block_mask(causal, q_len, kv_len, device=device, q_offset=offset)


def padded_causal_block_mask(key_valid: torch.Tensor, q_len: int):
    """Causal BlockMask that also hides padded keys; key_valid (B, kv_len) bool."""
    from .blockmask import block_mask

    kv_len = key_valid.shape[1]
    offset = kv_len - q_len

    def causal_unpadded(b, h, q_idx, kv_idx):
        return (q_idx + offset >= kv_idx) & key_valid[b, kv_idx]

    return block_mask(causal_unpadded, q_len, kv_len, device=key_valid.device, q_offset=offset,
                      key_valid=key_valid)
