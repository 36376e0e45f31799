"""Depth fusion: mixing the D platter outputs of each token after attention.

Input and output of `mix` are (B, N, D, F) with F = d/D features per platter; `forward` also flattens
to (B, N, D·F) (the seeds' API).

- `low_rank`: out_k = Σ_l Ω_kl x_l with Ω = I + U Vᵀ, U, V ∈ R^(D×r). The seeds write Ω = U Vᵀ with
  r ≪ D, but a rank-r < D matrix cannot keep the platters apart (it is a bottleneck that destroys a
  pretrained layer); the identity term plus a zero-initialised V makes fusion the identity at
  initialisation (LoRA-style), and training learns the cross-platter part.
- `attention`: per token, platters attend to each other: out = x + softmax(x W_q (x W_k)ᵀ/√F) x W_v,
  with W_v zero-initialised, so it too starts as the identity.
- `mean`: every platter is replaced by the platter mean (Ω = 11ᵀ/D): no parameters, and *not* the
  identity for D > 1.
"""

from __future__ import annotations

import math

import torch
from torch import nn

FUSION_MODES = ("low_rank", "attention", "mean")


class DepthFusion(nn.Module):
    def __init__(self, depth: int, d_per_depth: int, mode: str = "low_rank", rank: int | None = None):
        super().__init__()
        if mode not in FUSION_MODES:
            raise ValueError(f"unknown fusion mode {mode!r}; choose one of {', '.join(FUSION_MODES)}")
        self.depth, self.d_per_depth, self.mode = depth, d_per_depth, mode
        self.rank = rank or max(1, depth // 4)
        if mode == "low_rank":
            self.U = nn.Parameter(torch.randn(depth, self.rank) / math.sqrt(self.rank))
            self.V = nn.Parameter(torch.zeros(depth, self.rank))  # Ω = I at initialisation
        elif mode == "attention":
            self.q = nn.Linear(d_per_depth, d_per_depth, bias=False)
            self.k = nn.Linear(d_per_depth, d_per_depth, bias=False)
            self.v = nn.Linear(d_per_depth, d_per_depth, bias=False)
            nn.init.zeros_(self.v.weight)  # identity at initialisation

    def omega(self) -> torch.Tensor | None:
        """The (D, D) mixing matrix of the linear modes (None for `attention`)."""
        if self.mode == "low_rank":
            return torch.eye(self.depth, device=self.U.device, dtype=self.U.dtype) + self.U @ self.V.T
        if self.mode == "mean":
            return torch.full((self.depth, self.depth), 1.0 / self.depth)
        return None

    def mix(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, D, F) → (B, N, D, F)."""
        if self.mode == "mean":
            return x.mean(dim=2, keepdim=True).expand_as(x)
        if self.mode == "low_rank":
            omega = self.omega().to(x.dtype)
            return torch.einsum("kl,bnlf->bnkf", omega, x)
        q, k, v = self.q(x), self.k(x), self.v(x)  # (B, N, D, F)
        w = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(self.d_per_depth), dim=-1)  # (B, N, D, D)
        return x + w @ v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, D, d/D) → (B, N, d)."""
        return self.mix(x).flatten(-2)
