"""Putting π-Spiral rotaries and attractor states into Llama/Qwen2/Mistral/Phi models.

Three seams, no model code edited or subclassed:
- rotary everywhere: swap the model-level `rotary_emb` (zero overhead);
- rotary at some layers: a forward pre-hook on those layers' `self_attn` replaces the
  `position_embeddings` keyword (computed from the `position_ids` keyword the layer also receives);
- attractor: a pre-hook computes the summary s_t, and either passes the slot's key/value to the
  registered attention function `tbench_attractor` (inject=kv) or mixes s_t into the hidden states
  entering the decoder layer (inject=residual).

inject=kv: the slot is one extra key/value per query t, K(s_t) and V(s_t) from the layer's own
projections, rotated at t (relative offset 0, so it carries no position). It is appended as q_len
extra keys that query t alone may see (a diagonal block next to the causal block), so one SDPA call
computes softmax over [keys ≤ t, slot_t] exactly. The causal part of the mask is the one
transformers built (padding and sliding windows included), or bottom-right causal when it passed none.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ...attention.registration import register_attention
from ...errors import SpecError
from ...models import architecture
from .attractor import Attractor

ATTENTION = "tbench_attractor"
SLOT_KWARG = "tbench_attractor_kv"


def check_layers(model: Any, layers: tuple[int, ...] | None, name: str) -> list[int]:
    count = len(architecture.decoder_layers(model))
    if layers is None:
        return list(range(count))
    bad = [i for i in layers if i >= count]
    if bad:
        raise SpecError(f"{name}: layer {bad[0]} is out of range for a {count}-layer model",
                        f"choose layers in 0..{count - 1}")
    return sorted(set(layers))


def _kw_or_arg(args: tuple, kwargs: dict, name: str, index: int = 0):
    return kwargs[name] if name in kwargs else args[index]


# -- rotary ----------------------------------------------------------------------------------------

def install_rotary(model: Any, module: torch.nn.Module, layers: tuple[int, ...] | None, name: str) -> None:
    """`module` (forward(x, position_ids) → (cos, sin)) everywhere, or only at `layers`."""
    if layers is None:
        architecture.replace_rotary(model, module)
        return
    device = architecture.rotary_module(model).inv_freq.device
    module = module.to(device)
    for i in check_layers(model, layers, name):
        attn = architecture.attention_modules(model)[i]
        attn.tbench_rotary = module  # a submodule, so model.to(...) moves it too

        def hook(mod, args, kwargs):
            hidden = _kw_or_arg(args, kwargs, "hidden_states")
            kwargs["position_embeddings"] = mod.tbench_rotary(hidden, kwargs["position_ids"])
            return args, kwargs

        # prepend: rotaries run before any attractor hook that reads position_embeddings
        attn.register_forward_pre_hook(hook, with_kwargs=True, prepend=True)
        attn.static_decoding_hooks = True  # tensor work only: a static decoding step may run it


def current_rotary_is_native(model: Any) -> bool:
    return type(architecture.rotary_module(model)).__module__.startswith("transformers.")


# -- attractor -------------------------------------------------------------------------------------

def install_attractor(model: Any, layers: tuple[int, ...] | None, inject: str, alpha: float,
                      learned: bool, gate: float) -> None:
    chosen = check_layers(model, layers, "attractor")
    if inject == "kv":
        for i in chosen:
            attn = architecture.attention_modules(model)[i]
            attn.tbench_attractor = Attractor(f"kv{i}", alpha, learned).to(_device(attn))
            attn.register_forward_pre_hook(_kv_hook, with_kwargs=True)
            attn.static_decoding_hooks = True
        architecture.set_attention(model, register_attention(ATTENTION, attractor_attention))
        return
    for i in chosen:
        layer = architecture.decoder_layers(model)[i]
        layer.tbench_attractor = Attractor(f"residual{i}", alpha, learned).to(_device(layer))
        layer.tbench_attractor_gate = torch.nn.Parameter(torch.tensor(float(gate), device=_device(layer)),
                                                         requires_grad=learned)
        layer.register_forward_pre_hook(_residual_hook, with_kwargs=True)
        layer.static_decoding_hooks = True


def _device(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


def _residual_hook(layer, args, kwargs):
    """h_t ← h_t + γ·(s_t − h_t): hidden states pulled towards their running summary."""
    hidden = _kw_or_arg(args, kwargs, "hidden_states")  # (B, T, d)
    s = layer.tbench_attractor.summary(hidden, kwargs["position_ids"],
                                            architecture.layer_cache(kwargs))
    mixed = hidden + layer.tbench_attractor_gate.to(hidden.dtype) * (s - hidden)
    if "hidden_states" in kwargs:
        kwargs["hidden_states"] = mixed
    else:
        args = (mixed, *args[1:])
    return args, kwargs


def _kv_hook(attn, args, kwargs):
    hidden = _kw_or_arg(args, kwargs, "hidden_states")  # (B, T, d) after the input norm
    cos, sin = _kw_or_arg(args, kwargs, "position_embeddings", 1)
    s = attn.tbench_attractor.summary(hidden, kwargs["position_ids"],
                                            architecture.layer_cache(kwargs))
    kwargs[SLOT_KWARG] = slot_kv(attn, s, cos, sin)
    return args, kwargs


def slot_kv(attn, s: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
    """The layer's own key/value path applied to s (B, T, d) → k, v (B, H_kv, T, hd), k rotated at t."""
    shape = (*s.shape[:-1], -1, attn.head_dim)
    k = attn.k_proj(s).view(shape).transpose(1, 2)
    v = attn.v_proj(s).view(shape).transpose(1, 2)
    if getattr(attn, "qk_layernorm", False):  # Phi
        k = attn.k_layernorm(k)
    rot = cos.shape[-1]  # Phi rotates only the first rot_dim dims
    k_rot, k_pass = k[..., :rot], k[..., rot:]
    c, s_ = cos.unsqueeze(1), sin.unsqueeze(1)  # (B, 1, T, rot)
    half = rot // 2
    rotated = torch.cat((-k_rot[..., half:], k_rot[..., :half]), dim=-1)
    return torch.cat((k_rot * c + rotated * s_, k_pass), dim=-1), v


def _allowed(attention_mask, q_len: int, kv_len: int, device) -> torch.Tensor:
    """(B|1, 1, q, kv) bool, True = attend: transformers' mask, or bottom-right causal."""
    if attention_mask is None:
        q_pos = torch.arange(kv_len - q_len, kv_len, device=device)
        return (torch.arange(kv_len, device=device)[None, :] <= q_pos[:, None])[None, None]
    if attention_mask.dtype == torch.bool:
        return attention_mask[..., :kv_len]
    return attention_mask[..., :kv_len] > torch.finfo(attention_mask.dtype).min / 2


def with_slot(query, key, value, attention_mask, slot):
    """Keys/values with the slots appended and the matching mask: (B, H, kv+q, d) ×2, (B|1, 1, q, kv+q)."""
    k_slot, v_slot = slot
    q_len, kv_len = query.shape[2], key.shape[2]
    keys = torch.cat([key, k_slot.to(key.dtype)], dim=2)
    values = torch.cat([value, v_slot.to(value.dtype)], dim=2)
    real = _allowed(attention_mask, q_len, kv_len, query.device)
    diag = torch.eye(q_len, dtype=torch.bool, device=query.device)[None, None]
    mask = torch.cat([real, diag.expand(real.shape[0], -1, -1, -1)], dim=-1)
    return keys, values, mask


def _repeat(x: torch.Tensor, groups: int) -> torch.Tensor:
    return x if groups == 1 else x.repeat_interleave(groups, dim=1)


def attractor_attention(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None,
                        **kwargs):
    """SDPA over [keys, attractor slot]; layers without a slot fall through to plain SDPA."""
    slot = kwargs.pop(SLOT_KWARG, None)
    if slot is None:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    keys, values, mask = with_slot(query, key, value, attention_mask, slot)
    groups = query.shape[1] // keys.shape[1]
    # the mask hides nothing only for one query without padding; known from shapes, since looking at
    # the mask would be a host sync (which a CUDA-graph decoding step cannot take)
    hides_nothing = attention_mask is None and query.shape[2] == 1
    out = F.scaled_dot_product_attention(
        query, _repeat(keys, groups), _repeat(values, groups),
        attn_mask=None if hides_nothing else mask, dropout_p=dropout, scale=scaling)
    return out.transpose(1, 2).contiguous(), None


def eager_weights(module, query, key, value, attention_mask, scaling, slot=None):
    """Eager attention that also returns its weights (B, H, q, kv[+q]); for diagnostics."""
    if slot is not None:
        key, value, mask = with_slot(query, key, value, attention_mask, slot)
    else:
        mask = _allowed(attention_mask, query.shape[2], key.shape[2], query.device)
    groups = query.shape[1] // key.shape[1]
    scores = (query.float() @ _repeat(key, groups).float().transpose(-1, -2)) * scaling
    weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)
    out = weights.to(value.dtype) @ _repeat(value, groups)
    return out.transpose(1, 2).contiguous(), weights
