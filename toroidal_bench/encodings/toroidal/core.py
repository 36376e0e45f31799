"""The toroidal attention core shared by the standalone module and the HF layer replacement.

It sits between the q/k/v projections and the output projection:

    q, k, v (B, H, N, d_k) ─encode─▶ permuted platter layout, positions encoded
      ─to_subtokens─▶ (B, H, N·D, d_k/D) ─attend (backend, −λ·δ, masks)─▶ (B, H, N·D, d_k/D)
      ─merge: depth fusion, inverse permutation─▶ (B, N, H·d_k)

Positional encodings (`pe`):
- `model`: the host model's own rotary (cos, sin) on the whole head, then a pair-preserving platter
  split (layout.py). With D = 1 and λ = 0 this is exactly the original attention.
- `toroidal3d` / `orthogonal`: the 3D RoPE of positional.py on each sub-token (optionally `periodic`).
- `none`: no rotation (the distance bias is the only positional signal).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .backends import ROUTES, attend
from .fusion import DepthFusion
from .layout import check_divisible, from_subtokens, platter_permutation, to_subtokens
from .masks import Geometry
from .positional import OrthogonalToroidal3DPE, Toroidal3DPositionalEncoding, apply_model_rotary

PE_MODES = ("model", "toroidal3d", "orthogonal", "none")


class ToroidalCore(nn.Module):
    def __init__(self, n_heads: int, head_dim: int, depth: int = 4, lambda_distance: float = 0.1,
                 period: int = 2048, fusion_mode: str = "low_rank", fusion_rank: int | None = None,
                 pe: str = "toroidal3d", periodic: bool = False, rope_base: float = 10000.0,
                 rotary_dim: int = 0, window_size: int | None = None, backend: str = "auto",
                 allow_flash2: bool = True, attn_chunk_size: int | None = None, use_checkpoint: bool = False,
                 block_size: int = 512, dropout: float = 0.0):
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        if pe not in PE_MODES:
            raise ValueError(f"unknown pe {pe!r}; choose one of {', '.join(PE_MODES)}")
        if periodic and pe not in ("toroidal3d", "orthogonal"):
            raise ValueError("periodic=True needs pe='toroidal3d' or 'orthogonal'")
        if period < 1 or lambda_distance < 0 or (window_size is not None and window_size < 0):
            raise ValueError("need period ≥ 1, lambda_distance ≥ 0 and window_size ≥ 0")
        check_divisible(head_dim, depth, rotary_dim if pe == "model" else 0)
        self.n_heads, self.head_dim, self.depth = n_heads, head_dim, depth
        self.d_sub = head_dim // depth
        self.lambda_distance, self.period, self.window_size = float(lambda_distance), int(period), window_size
        self.pe_mode, self.rotary_dim = pe, rotary_dim
        self.backend, self.allow_flash2 = backend, allow_flash2
        self.attn_chunk_size, self.use_checkpoint, self.block_size = attn_chunk_size, use_checkpoint, block_size
        perm = platter_permutation(head_dim, depth, rotary_dim if pe == "model" else 0)
        self.register_buffer("perm", perm, persistent=False)
        self.register_buffer("inv_perm", torch.argsort(perm), persistent=False)
        self.identity_layout = bool(torch.equal(perm, torch.arange(head_dim)))
        self.pos = None
        if pe in ("toroidal3d", "orthogonal"):
            cls = OrthogonalToroidal3DPE if pe == "orthogonal" else Toroidal3DPositionalEncoding
            self.pos = cls(self.d_sub, max_len=period, depth=depth, base=rope_base, period=period, periodic=periodic)
        self.fusion = DepthFusion(depth, n_heads * self.d_sub, fusion_mode, fusion_rank)
        # on the fused output, so every backend (flex has no attention-probability dropout) regularises alike;
        # identity in eval mode and at p = 0
        self.dropout = nn.Dropout(dropout)
        self.last_route = ""  # what the latest attend() ran, e.g. "fused:merge_cudnn" or "flex" (backends.ROUTES)

    # -- layout and positions -------------------------------------------------------------------
    def permute(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.identity_layout else x[..., self.perm]

    def encode(self, q: torch.Tensor, k: torch.Tensor, positions: torch.Tensor,
               cos_sin: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """q (B, H, N, d_k), k (B, H_kv, N, d_k), integer positions (B|1, N) → encoded, permuted."""
        if self.pe_mode == "model":
            if cos_sin is None:
                raise ValueError("pe='model' needs the host model's (cos, sin)")
            q, k = apply_model_rotary(q, k, *cos_sin, self.rotary_dim)
        q, k = self.permute(q), self.permute(k)
        if self.pos is not None:
            b, h, n, _ = q.shape
            q = self.pos(q.view(b, h, n, self.depth, self.d_sub), positions).view(b, h, n, self.head_dim)
            hk = k.shape[1]
            k = self.pos(k.view(b, hk, n, self.depth, self.d_sub), positions).view(b, hk, n, self.head_dim)
        return q, k

    # -- attention ------------------------------------------------------------------------------
    def geometry(self, *, causal: bool, q_offset: int | torch.Tensor = 0, key_valid=None, token_mask=None,
                 token_bias=None) -> Geometry:
        return Geometry(depth=self.depth, lam=self.lambda_distance, period=self.period,
                        scale=1.0 / math.sqrt(self.d_sub), causal=causal, window=self.window_size,
                        q_offset=q_offset, key_valid=key_valid, token_mask=token_mask, token_bias=token_bias)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: Geometry,
               return_weights: bool = False, backend: str | None = None):
        """Encoded q (B, H, Nq, d_k), k/v (B, H_kv, Nk, d_k) → (B, H, Nq·D, d_s), weights or None."""
        qs, ks, vs = (to_subtokens(t, self.depth) for t in (q, k, v))  # (B, H, N·D, d_k/D)
        out = attend(qs, ks, vs, g, backend or self.backend, chunk=self.attn_chunk_size,
                     use_checkpoint=self.use_checkpoint and self.training, return_weights=return_weights,
                     allow_flash2=self.allow_flash2, block_size=self.block_size)
        self.last_route = ROUTES.last
        return out

    def merge(self, out: torch.Tensor) -> torch.Tensor:
        """Sub-token outputs (B, H, N·D, d_s) → fused, un-permuted (B, N, H·d_k)."""
        x = from_subtokens(out, self.depth)  # (B, N, D, H, d_s)
        b, n, d, h, ds = x.shape
        x = self.fusion.mix(x.reshape(b, n, d, h * ds)).view(b, n, d, h, ds)  # platters mixed
        x = x.transpose(2, 3).reshape(b, n, h, d * ds)  # (B, N, H, d_k), permuted feature order
        if not self.identity_layout:
            x = x[..., self.inv_perm]
        return self.dropout(x.reshape(b, n, h * d * ds))
