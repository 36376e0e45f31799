"""`ToroidalAttention`: the standalone (from-scratch) toroidal attention layer of the seeds.

    x (B, N, d) → q, k, v = x W_q, x W_k, x W_v  (per head: (B, H, N, d_k))
      → each head vector cut into D platters: N·D sub-tokens of width d_k/D, 3D RoPE on each
      → scores q·k/√(d_k/D) − λ·δ((i,k),(j,l)), masks → softmax → values
      → depth fusion → (B, N, d) → W_o

Constraints: d_model % n_heads == 0 and d_k % depth == 0 (d_k = d_model / n_heads); with the 3D RoPE
the sub-token width d_k/depth must be even.
"""

from __future__ import annotations

import torch
from torch import nn

from .core import ToroidalCore
from .masks import Geometry


class ToroidalAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, max_len: int = 2048, depth: int = 4,
                 lambda_distance: float = 0.1, fusion_mode: str = "low_rank", fusion_rank: int | None = None,
                 backend: str = "auto", window_size: int | None = None, allow_flash2: bool = True,
                 latent_cfg: dict | None = None, attn_chunk_size: int | None = None,
                 use_checkpoint: bool = False, *, period: int | None = None, pe: str = "toroidal3d",
                 periodic: bool = False, causal: bool = False, n_kv_heads: int | None = None,
                 rope_base: float = 10000.0, bias: bool = False, block_size: int = 512, dropout: float = 0.0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        if pe == "model":
            raise ValueError("pe='model' is for layers injected into a host model; use toroidal3d, orthogonal or none")
        self.d_model, self.n_heads, self.max_len, self.depth = d_model, n_heads, max_len, depth
        self.n_kv_heads = n_kv_heads or n_heads
        if n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads {n_heads} is not a multiple of n_kv_heads {self.n_kv_heads}")
        self.head_dim = d_model // n_heads
        self.causal = causal
        self.lambda_distance = lambda_distance
        self.period = int(period or max_len)
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, self.n_kv_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(d_model, self.n_kv_heads * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(d_model, d_model, bias=bias)
        self.core = ToroidalCore(n_heads, self.head_dim, depth, lambda_distance, self.period, fusion_mode,
                                 fusion_rank, pe, periodic, rope_base, 0, window_size, backend, allow_flash2,
                                 attn_chunk_size, use_checkpoint, block_size, dropout)
        self.latent = None
        if latent_cfg:
            from .streaming import LatentKV

            self.latent = LatentKV(self.n_kv_heads, self.core.d_sub, depth,
                                   latent_dim=int(latent_cfg.get("latent_dim", 64)),
                                   update=latent_cfg.get("latent_update", "gru"))

    @property
    def fusion(self):
        return self.core.fusion

    @property
    def pos_encoding(self):
        return self.core.pos

    def project(self, x: torch.Tensor, positions: torch.Tensor, core: ToroidalCore | None = None):
        """x (B, N, d) → encoded q (B, H, N, d_k), k and v (B, H_kv, N, d_k) (platter layout of `core`)."""
        core = core or self.core
        b, n, _ = x.shape
        q = self.q_proj(x).view(b, n, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, n, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, n, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q, k = core.encode(q, k, positions)
        return q, k, core.permute(v)

    def geometry(self, x: torch.Tensor, mask: torch.Tensor | None, core: ToroidalCore | None = None) -> Geometry:
        """Masks as the seeds take them: (B, N) key padding, or (N, N) / (B, N, N) allowed pairs (True = attend)."""
        b, n, _ = x.shape
        key_valid = token_mask = None
        if mask is not None:
            mask = mask.to(device=x.device, dtype=torch.bool)
            if mask.dim() == 2 and mask.shape == (b, n) and (b != n or n == 1):
                key_valid = mask
            elif mask.dim() == 2 and mask.shape == (n, n):
                token_mask = mask.expand(b, n, n)
            elif mask.dim() == 3 and mask.shape == (b, n, n):
                token_mask = mask
            else:
                raise ValueError(f"mask of shape {tuple(mask.shape)} fits neither (B, N) nor (N, N) nor (B, N, N)")
        return (core or self.core).geometry(causal=self.causal, key_valid=key_valid, token_mask=token_mask)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, return_attention: bool = False,
                positions: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, N, d) → (output (B, N, d), sub-token weights (B, H, N·D, N·D) or None)."""
        b, n, _ = x.shape
        if positions is None:
            positions = torch.arange(n, device=x.device)[None]  # (1, N)
        q, k, v = self.project(x, positions)
        out, weights = self.core.attend(q, k, v, self.geometry(x, mask), return_weights=return_attention)
        return self.o_proj(self.core.merge(out)), weights

    def forward_streaming(self, x_t: torch.Tensor, state=None):
        """One token (B, d) or (B, 1, d) with O(1) state → (output (B, 1, d), new state); see streaming.py."""
        if self.latent is None:
            raise RuntimeError("streaming needs latent_cfg={'latent_dim': M, 'latent_update': 'gru'|'linear'}")
        from .streaming import streaming_step

        return streaming_step(self, x_t, state)
