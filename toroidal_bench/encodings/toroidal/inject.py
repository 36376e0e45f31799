"""Putting toroidal attention into a pretrained HF decoder (Llama, Qwen2, Mistral, Phi).

`ToroidalHFAttention` replaces `layer.self_attn` and accepts the call transformers 5.x makes:
`(hidden_states, position_embeddings=(cos, sin), attention_mask=None | 4-D, cache=Cache,
position_ids=..., **kwargs) -> (attn_output, attn_weights)` (before 5.24 the cache arrived as
`past_key_values=`; both are read). Q/K/V and the output projection (`o_proj`, Phi: `dense`) are
copied from the layer it replaces, weights *and* biases (Qwen2 and Phi have them), as are Phi's q/k
layer norms when the checkpoint uses them.

Causality is always applied here: transformers passes `attention_mask=None` on SDPA's causal fast path,
and a 4-D mask otherwise; both end up as the token-level causal rule of masks.py, combined with the
padding the 4-D mask carries. The cache stores keys already rotated and permuted into platter order;
queries of a call sit after the `kv_len − q_len` cached tokens, and every position-dependent quantity
(rotary angles from `position_ids`, the distance and window of fixed period P) depends on absolute
positions or their differences, never on the current length — so prefill and cached decoding agree.

On a static cache (transformers' StaticCache: a fixed number of slots, the empty ones after the query)
the query's slot is the cache's own tensor count of written slots, not `kv_len − q_len`. A single-token
step there reads nothing on the host: the offset stays a 0-d device tensor, the key validity comes from
the mask row on the device (`from_step_mask`), and the bias of the one query over every slot is built on
the device, O(slots) — so the step can be captured in a CUDA graph (`static_decoding`).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from ...errors import SpecError
from ...models import architecture
from .backends import CAPTURABLE_STEP
from .core import ToroidalCore
from .layout import check_divisible
from .masks import from_hf_mask, from_step_mask


class ToroidalHFAttention(nn.Module):
    def __init__(self, original: nn.Module, core: ToroidalCore):
        super().__init__()
        self.config = original.config
        self.layer_idx = original.layer_idx
        self.head_dim = original.head_dim
        self.num_key_value_groups = original.num_key_value_groups
        self.scaling = original.scaling
        self.is_causal = True
        self.out_name = "dense" if hasattr(original, "dense") else "o_proj"
        for name in ("q_proj", "k_proj", "v_proj", self.out_name):
            setattr(self, name, copy.deepcopy(getattr(original, name)))  # weights and biases
        self.qk_layernorm = bool(getattr(original, "qk_layernorm", False))
        if self.qk_layernorm:
            self.q_layernorm = copy.deepcopy(original.q_layernorm)
            self.k_layernorm = copy.deepcopy(original.k_layernorm)
        weight = original.q_proj.weight
        self.core = core.to(device=weight.device, dtype=weight.dtype)

    def forward(self, hidden_states: torch.Tensor, position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
                attention_mask: torch.Tensor | None = None, **kwargs: Any):
        cache = architecture.layer_cache(kwargs)
        b, n, _ = hidden_states.shape
        shape = (b, n, -1, self.head_dim)
        q = self.q_proj(hidden_states).view(shape).transpose(1, 2)  # (B, H, N, d_k)
        k = self.k_proj(hidden_states).view(shape).transpose(1, 2)  # (B, H_kv, N, d_k)
        v = self.v_proj(hidden_states).view(shape).transpose(1, 2)
        if self.qk_layernorm:
            q, k = self.q_layernorm(q), self.k_layernorm(k)
        position_ids = kwargs.get("position_ids")
        if position_ids is None:
            past = cache.get_seq_length(self.layer_idx) if cache is not None else 0
            position_ids = torch.arange(past, past + n, device=hidden_states.device)[None]  # (1, N)
        q, k = self.core.encode(q, k, position_ids, position_embeddings)
        v = self.core.permute(v)
        if cache is not None:
            k, v = cache.update(k, v, self.layer_idx)  # (B, H_kv, kv_len, d_k)
        kv_len = k.shape[2]
        # a growing cache holds exactly the keys so far (an int); a static one counts its written slots in a tensor
        seen = cache.get_seq_length(self.layer_idx) if cache is not None else kv_len
        if isinstance(seen, torch.Tensor) and n == 1:  # one decoding step on a static cache: all on the device
            q_offset = seen - 1
            key_valid, token_bias = from_step_mask(attention_mask, kv_len)
            token_mask = None
        else:
            q_offset = int(seen) - n if isinstance(seen, torch.Tensor) else kv_len - n
            key_valid, token_mask, token_bias = from_hf_mask(attention_mask, n, kv_len)
        g = self.core.geometry(causal=True, q_offset=q_offset, key_valid=key_valid, token_mask=token_mask,
                               token_bias=token_bias)
        out, weights = self.core.attend(q, k, v, g, return_weights=bool(kwargs.get("output_attentions")))
        return getattr(self, self.out_name)(self.core.merge(out)), weights

    @property
    def static_decoding(self) -> bool:
        """Does a single-token step on a static cache read nothing on the host (so it can be captured)?"""
        return self.core.backend in CAPTURABLE_STEP


def replace_attention_layers(model: Any, enc: Any) -> list[int]:
    """Swap `self_attn` of the decoder layers `enc.layers` for toroidal attention; returns the indices."""
    layers = architecture.decoder_layers(model)
    missing = [i for i in enc.layers if i >= len(layers)]
    if missing:
        raise SpecError(f"toroidal: the model has {len(layers)} layers, no layer {missing[0]}",
                        f"use layers within 0..{len(layers) - 1}")
    cfg = model.config
    head_dim = architecture.head_dim(model)
    rotary_dim = architecture.rotary_dim(model) if enc.pe == "model" else 0
    try:
        check_divisible(head_dim, enc.depth, rotary_dim)
    except ValueError as exc:
        raise SpecError(f"toroidal: {exc}", "pick a depth that divides them (e.g. 1, 2 or 4)") from None
    period = enc.period or int(cfg.max_position_embeddings)
    rope_base = float((getattr(cfg, "rope_parameters", None) or {}).get("rope_theta", 10000.0))
    for i in enc.layers:
        core = ToroidalCore(cfg.num_attention_heads, head_dim, enc.depth, enc.lambda_, period, enc.fusion, enc.rank,
                            enc.pe, enc.periodic, rope_base, rotary_dim, enc.window, enc.backend,
                            attn_chunk_size=enc.chunk, use_checkpoint=enc.checkpoint, dropout=enc.dropout)
        layers[i].self_attn = ToroidalHFAttention(layers[i].self_attn, core)
    if enc.freeze:
        model.requires_grad_(False)
        for i in enc.layers:
            layers[i].requires_grad_(True)
    return list(enc.layers)
