"""Rotary modules that stand in for a model's `rotary_emb`: forward(x, position_ids) → (cos, sin)."""

from __future__ import annotations

import torch
from torch import nn


class IdentityRotary(nn.Module):
    """cos = 1, sin = 0 on the rotated dims: RoPE turned off without touching attention code."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        # kept so code that reads `rotary_emb.inv_freq` (dims, device) still works
        self.register_buffer("inv_freq", torch.zeros(dim // 2), persistent=False)

    def forward(self, x: torch.Tensor, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (*position_ids.shape, self.dim)  # (B, N, rot_dim)
        ones = torch.ones(shape, device=x.device, dtype=x.dtype)
        return ones, torch.zeros_like(ones)


class DynamicNTKRotary(nn.Module):
    """Dynamic NTK RoPE with the current length L taken per sequence: row b rotates by the frequencies
    of base · (s·L_b/L0 − (s − 1))^(d/(d−2)), L_b = max(its largest position + 1, L0).

    transformers' "dynamic" rotary takes L over the whole batch and keeps the largest L it has seen
    (until a batch shorter than L0 comes), so a sequence's logits there depend on the other rows of its
    batch and on what ran before. Here they depend on the sequence alone; a single sequence gets
    transformers' frequencies exactly (same formula and operations, in float32). Nothing is read on
    the host, so a static decoding step can run it; prompts must be prefilled left-padded, where each
    row's largest position is its own last token (`left_padded_prefill`)."""

    rope_type = "dynamic"
    static_decoding = True
    left_padded_prefill = True

    def __init__(self, config, device=None):
        from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

        super().__init__()
        params = config.rope_parameters
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.dim = int(head_dim * params.get("partial_rotary_factor", 1.0))
        self.theta, self.factor = float(params["rope_theta"]), float(params["factor"])
        self.original = int(config.max_position_embeddings)
        self.attention_scaling = 1.0
        inv_freq, _ = ROPE_INIT_FUNCTIONS["dynamic"](config, device)  # at L0: the model's own frequencies
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.register_buffer("original_inv_freq", inv_freq.clone(), persistent=False)
        exponents = torch.arange(0, self.dim, 2, dtype=torch.int64).to(device=device, dtype=torch.float) / self.dim
        self.register_buffer("exponents", exponents, persistent=False)

    def frequencies(self, length: torch.Tensor) -> torch.Tensor:
        """Inverse frequencies (..., d/2) for lengths (..., 1), as transformers computes them."""
        length = length.clamp(min=self.original)
        base = self.theta * ((self.factor * length / self.original) - (self.factor - 1)) ** (self.dim / (self.dim - 2))
        return 1.0 / (base ** self.exponents)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        inv_freq = self.frequencies(position_ids.amax(dim=-1, keepdim=True) + 1)  # (B, d/2)
        freqs = position_ids[..., None].float() * inv_freq[:, None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(dtype=x.dtype), emb.sin().to(dtype=x.dtype)
