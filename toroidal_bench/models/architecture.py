"""Where things live inside the supported HF decoder architectures (Llama, Qwen2, Mistral, Phi).

Encodings patch models only through these helpers, so supporting a new architecture is one place.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from ..errors import ModelLoadError

SUPPORTED = ("llama", "qwen2", "mistral", "phi")


def model_type(model: Any) -> str:
    return model.config.model_type


def base_model(model: Any) -> Any:
    return getattr(model, model.base_model_prefix)


def decoder_layers(model: Any) -> list[Any]:
    return list(base_model(model).layers)


def attention_modules(model: Any) -> list[Any]:
    return [layer.self_attn for layer in decoder_layers(model)]


def rotary_module(model: Any) -> Any:
    base = base_model(model)
    if not hasattr(base, "rotary_emb"):
        raise ModelLoadError(f"model type '{model_type(model)}' has no model-level rotary embedding")
    return base.rotary_emb


def rotary_dim(model: Any) -> int:
    """Number of rotated dimensions per head (head_dim × partial_rotary_factor)."""
    return int(rotary_module(model).inv_freq.shape[0]) * 2


def head_dim(model: Any) -> int:
    cfg = model.config
    return getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads


def replace_rotary(model: Any, module: Any) -> None:
    base = base_model(model)
    device = rotary_module(model).inv_freq.device
    base.rotary_emb = module.to(device)


def disable_rotary(model: Any) -> None:
    """NoPE: a rotary module returning cos = 1, sin = 0, so q and k pass unrotated."""
    from .rotary import IdentityRotary

    replace_rotary(model, IdentityRotary(rotary_dim(model)))


def attention_backend(model: Any) -> str:
    """The backend chosen for this model at load time (attention/backends.py); encodings that install
    their own attention function pick the matching implementation."""
    return getattr(model, "tbench_attention", "sdpa")


def set_attention(model: Any, name: str) -> None:
    current = model.config._attn_implementation
    if current.startswith("tbench_") and current != name:
        raise ModelLoadError(
            f"two encodings both replace the attention function ('{current}' and '{name}')",
            "combine at most one attention-level encoding per spec",
        )
    model.set_attn_implementation(name)


# -- the KV cache argument ------------------------------------------------------------------------
# transformers 5.24 renamed the cache keyword from `past_key_values` to `cache` (the old name is
# deprecated, not gone) in model calls, layer calls and outputs. Code that patches layers must read
# whichever one arrives, or a cached decoding step silently runs without its past.

def layer_cache(kwargs: dict[str, Any]) -> Any:
    """The KV cache a layer or attention module was called with, under either keyword."""
    cache = kwargs.get("cache")
    return cache if cache is not None else kwargs.get("past_key_values")


@functools.cache
def cache_keyword() -> str:
    """The keyword the installed transformers' model `forward` takes the cache under."""
    from transformers import LlamaModel

    return "cache" if "cache" in inspect.signature(LlamaModel.forward).parameters else "past_key_values"


def output_cache(outputs: Any) -> Any:
    """The cache a model call returned (`outputs.cache`, formerly `outputs.past_key_values`)."""
    cache = getattr(outputs, "cache", None)
    return cache if cache is not None else getattr(outputs, "past_key_values", None)
