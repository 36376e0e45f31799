"""Attention of one decoding step without repeating grouped KV heads.

transformers' SDPA attention repeats the KV heads to every query head whenever a mask is given (its
fused kernels take grouped heads only without a mask), so a masked decoding step over a static cache
copies the whole cache once per layer and step: for a Qwen2-0.5B shape (14 query heads, 2 KV heads)
seven times the cache's bytes written and read again. With one query token per row, the query heads
that share a KV head can instead be that head's query rows: they read the same keys under the same
mask, and SDPA needs no copy. Newer transformers do this themselves (`pack_gqa` in its SDPA
integration); there this module changes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

GROUPED_SDPA = "tbench_grouped_decode"


def grouped_sdpa(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                 attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                 **kwargs: Any) -> tuple[torch.Tensor, None]:
    """transformers' SDPA attention for one query token per row, without repeating the KV heads: the
    query heads that share a KV head become that head's query rows (they read the same keys under the
    same mask). Anything else goes to transformers' own function."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    groups = getattr(module, "num_key_value_groups", 1)
    b, heads, q_len, _ = query.shape
    biased = any(kwargs.get(name) is not None for name in ("position_bias", "s_aux", "sinks", "softcap"))
    per_head_mask = attention_mask is not None and attention_mask.shape[1] != 1
    if q_len != 1 or groups == 1 or dropout or biased or per_head_mask:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    # query head h reads KV head h // groups (repeat_kv's order): (B, H, 1, d) → (B, H_kv, groups, d)
    grouped = query.reshape(b, key.shape[1], groups, query.shape[-1])
    # the mask (B, 1, 1, keys) holds for every query row alike
    out = torch.nn.functional.scaled_dot_product_attention(grouped, key, value, attn_mask=attention_mask,
                                                           scale=scaling)  # (B, H_kv, groups, d_v)
    return out.reshape(b, heads, 1, out.shape[-1]).transpose(1, 2).contiguous(), None


@functools.cache
def _register_grouped_sdpa() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(GROUPED_SDPA, grouped_sdpa)


@functools.cache
def library_groups_heads() -> bool:
    """Does the installed transformers' SDPA attention keep grouped heads for a single query itself?"""
    from transformers.integrations import sdpa_attention

    return hasattr(sdpa_attention, "pack_gqa")


@contextmanager
def grouped_attention(model: Any) -> Iterator[None]:
    """Inside: attention modules running transformers' own SDPA run `grouped_sdpa`, unless that
    already keeps grouped heads (masks passed as 4-D tensors never look the name up)."""
    if library_groups_heads():
        yield
        return
    _register_grouped_sdpa()
    configs = {id(m.config): m.config for m in model.modules()
               if hasattr(m, "num_key_value_groups") and hasattr(m, "config")}
    switched = [c for c in configs.values() if c._attn_implementation == "sdpa"]
    for config in switched:
        config._attn_implementation_internal = GROUPED_SDPA  # not the setter: it recurses into sub-configs
    try:
        yield
    finally:
        for config in switched:
            config._attn_implementation_internal = "sdpa"
