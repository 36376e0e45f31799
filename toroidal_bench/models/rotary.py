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
