"""Choosing the attention backend: the fastest one that supports the spec's encodings on the device.

Backends: `sdpa` (torch SDPA; cuDNN/flash kernels on GPU), `flex` (torch FlexAttention, compiled; the
tool for biases computed inside the kernel), `flash2` (flash-attn, only when it imports), `eager`.
A requested backend that cannot serve the spec falls back to the next one with a warning; the backend
actually used is recorded in the run metadata.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass

BACKENDS = ("sdpa", "flex", "flash2", "eager")

#: transformers' attn_implementation names for the model's own attention
HF_NAMES = {"sdpa": "sdpa", "flex": "flex_attention", "flash2": "flash_attention_2", "eager": "eager"}

#: preference order when nothing is requested. On H100 cuDNN SDPA beats FA2 for plain causal
#: attention; a bias (ALiBi) is fastest computed inside a flex kernel.
_PLAIN = {"cuda": ("sdpa", "flash2", "flex", "eager"), "cpu": ("sdpa", "eager")}
_BIASED = {"cuda": ("flex", "sdpa", "eager"), "cpu": ("sdpa", "eager", "flex")}


@dataclass(frozen=True)
class Choice:
    backend: str
    requested: str | None
    reason: str = ""


def flash_attn_available() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


def available(backend: str, device: str) -> bool:
    if backend == "flash2":
        return device.startswith("cuda") and flash_attn_available()
    if backend == "flex":
        try:
            from torch.nn.attention.flex_attention import flex_attention  # noqa: F401
        except ImportError:
            return False
    return True


def choose(requested: str | None, encodings, device: str) -> Choice:
    """The backend for `encodings` on `device`; warns when the request cannot be honoured."""
    from ..errors import UnknownNameError

    if requested is not None and requested not in BACKENDS:
        raise UnknownNameError("attention backend", requested, BACKENDS)
    kind = "cuda" if device.startswith("cuda") else "cpu"
    owners = [e for e in encodings if e.attention]
    supported = owners[-1].backends if owners else BACKENDS
    order = (_BIASED if owners else _PLAIN)[kind]
    candidates = [b for b in order if b in supported and available(b, device)]
    if requested in candidates:
        return Choice(requested, requested)
    chosen = candidates[0]
    reason = ""
    if requested is not None:
        why = (f"'{owners[-1].name}' does not support it" if owners and requested not in supported
               else "flash-attn is not installed" if requested == "flash2" and not flash_attn_available()
               else f"not available on {device}")
        reason = f"--attn {requested}: {why}; using {chosen}"
        warnings.warn(reason, stacklevel=2)
    return Choice(chosen, requested, reason)
