"""`alibi`: linear distance biases (Press et al., 2021) in place of the rotary embedding.

score(i, j) = q_i·k_j/√d − m_h·(i − j) for j ≤ i, with m_h = 2^(−8h/H) for head h = 1..H
(H not a power of two: the first slopes of the nearest power of two, then every other slope of the
next). RoPE is switched off (cos = 1, sin = 0) so the bias is the only positional signal. On a
RoPE-pretrained checkpoint this is only meaningful after training; it is the standard baseline for
models trained from scratch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import register_encoding
from .base import Encoding


@register_encoding("alibi")
@dataclass(frozen=True)
class Alibi(Encoding):
    attention = "tbench_alibi"
    replaces = frozenset({"attention", "no-rotary"})

    def context_limit(self, positions: int) -> int | None:
        return None  # a bias on relative distance: made to run past the training length
    backends = ("flex", "sdpa", "eager")

    def apply(self, model: Any) -> None:
        from ..attention import alibi
        from ..models import architecture

        architecture.disable_rotary(model)
        slopes = alibi.slopes(model.config.num_attention_heads)
        for attn in architecture.attention_modules(model):
            attn.register_buffer("tbench_alibi_slopes", slopes.to(next(attn.parameters()).device), persistent=False)
        architecture.set_attention(model, alibi.register(architecture.attention_backend(model)))
