"""Register an attention function under a name, together with its mask builder.

transformers looks the mask builder up by the same name; an attention name without one gets
`attention_mask=None` for every layer, i.e. silently no causal mask. So both are registered here,
always together.
"""

from __future__ import annotations

from collections.abc import Callable


def register_attention(name: str, fn: Callable, mask: str = "sdpa") -> str:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

    AttentionInterface.register(name, fn)
    AttentionMaskInterface.register(name, ALL_MASK_ATTENTION_FUNCTIONS[mask])
    return name
