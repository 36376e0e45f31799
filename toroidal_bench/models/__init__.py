"""Resolving a model spec into a runnable, patched model, and the Runner that drives it."""

from __future__ import annotations

from typing import Any


def load(spec: str, device: str | None = None, dtype: Any = None, *, trust_remote_code: bool = False,
         attn: str | None = None, max_batch_tokens: int | None = None):
    """Load `spec` (e.g. 'random:llama-tiny+alibi') and return its Runner.

    `runner.model` is the patched transformers model, `runner.tokenizer` its tokenizer.
    """
    from .loading import default_device, load_model, parse_dtype, resolve, spec_hash
    from .runner import Runner

    resolved = resolve(spec)
    device = device or default_device()
    model, tokenizer = load_model(resolved, device, parse_dtype(dtype, device), trust_remote_code, attn)
    return Runner(model, tokenizer, spec=resolved.canonical(), spec_hash=spec_hash(resolved, model),
                  max_batch_tokens=max_batch_tokens)
