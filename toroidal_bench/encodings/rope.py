"""`rope`: the model's own rotary embedding, unchanged (the identity encoding and the baseline)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import register_encoding
from .base import Encoding


@register_encoding("rope")
@dataclass(frozen=True)
class Rope(Encoding):
    """The checkpoint's own RoPE: angle θ_i·n with θ_i = base^(−2i/d), as configured."""

    def apply(self, model: Any) -> None:
        return None
