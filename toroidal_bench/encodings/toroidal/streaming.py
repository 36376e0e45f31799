"""Latent streaming: generation with a fixed-size state instead of a growing KV cache.

`LatentKV` keeps, per key/value head, M latent slots of keys and values (width d_s = d_k/D) and the
mass written to each slot. A new token's D sub-tokens are written by soft addressing:

    w = softmax_M(addr(k_new))             (D, M): each sub-token spreads one unit of mass over slots
    a_m = Σ_l w_lm,  c_m = Σ_l w_lm x_l / a_m     mass and candidate per slot (x = k or v)
    g_m = 1 − exp(−a_m)                     write gate in [0, 1)
    linear: s_m ← (1 − g_m)·s_m + g_m·c_m
    gru:    s_m ← (1 − g_m)·s_m + g_m·GRUCell(c_m, s_m)

A query's D sub-tokens attend over the occupied slots plus the token's own D sub-tokens (with the depth
part of the distance bias, −λ|k−l|/D). The state is O(B·H_kv·M·d_s) whatever the number of steps.

This is a recurrent *approximation* of attention, not a cache: its outputs differ from full attention
and it only becomes useful after training (the seeds' "training continues to use full attention" left
that gap open too). Positions come from the step counter, so the 3D RoPE sees true positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .layout import to_subtokens

UPDATES = ("gru", "linear")


@dataclass
class LatentState:
    k: torch.Tensor  # (B, H_kv, M, d_s)
    v: torch.Tensor  # (B, H_kv, M, d_s)
    mass: torch.Tensor  # (B, H_kv, M)
    step: int = 0

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.k, self.v, self.mass))


class LatentKV(nn.Module):
    def __init__(self, n_kv_heads: int, d_sub: int, depth: int, latent_dim: int = 64, update: str = "gru"):
        super().__init__()
        if update not in UPDATES:
            raise ValueError(f"unknown latent_update {update!r}; choose one of {', '.join(UPDATES)}")
        self.n_kv_heads, self.d_sub, self.depth, self.latent_dim, self.update_mode = (
            n_kv_heads, d_sub, depth, latent_dim, update)
        self.addr = nn.Linear(d_sub, latent_dim)
        if update == "gru":
            self.gru_k = nn.GRUCell(d_sub, d_sub)
            self.gru_v = nn.GRUCell(d_sub, d_sub)

    def init_state(self, batch: int, device=None, dtype=torch.float32) -> LatentState:
        shape = (batch, self.n_kv_heads, self.latent_dim)
        return LatentState(torch.zeros(*shape, self.d_sub, device=device, dtype=dtype),
                           torch.zeros(*shape, self.d_sub, device=device, dtype=dtype),
                           torch.zeros(shape, device=device, dtype=dtype))

    def update(self, state: LatentState, k_new: torch.Tensor, v_new: torch.Tensor) -> LatentState:
        """Write one token's sub-keys/values (B, H_kv, D, d_s) into the slots."""
        w = torch.softmax(self.addr(k_new), dim=-1)  # (B, H_kv, D, M)
        a = w.sum(dim=2)  # (B, H_kv, M)
        denom = a.clamp_min(1e-6)[..., None]
        ck = torch.einsum("bhdm,bhds->bhms", w, k_new) / denom  # (B, H_kv, M, d_s)
        cv = torch.einsum("bhdm,bhds->bhms", w, v_new) / denom
        g = (1 - torch.exp(-a))[..., None]
        if self.update_mode == "gru":
            ck = self._gru(self.gru_k, ck, state.k)
            cv = self._gru(self.gru_v, cv, state.v)
        return LatentState((1 - g) * state.k + g * ck, (1 - g) * state.v + g * cv, state.mass + a, state.step + 1)

    @staticmethod
    def _gru(cell: nn.GRUCell, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        return cell(x.reshape(-1, shape[-1]), h.reshape(-1, shape[-1])).view(shape)


def streaming_step(module, x_t: torch.Tensor, state: LatentState | None):
    """One generation step of a ToroidalAttention with `latent_cfg` (see attention.py)."""
    if x_t.dim() == 2:
        x_t = x_t[:, None]  # (B, 1, d)
    b = x_t.shape[0]
    core, latent = module.core, module.latent
    if state is None:
        state = latent.init_state(b, x_t.device, x_t.dtype)
    positions = torch.full((1, 1), state.step, device=x_t.device, dtype=torch.long)
    q, k, v = module.project(x_t, positions)  # (B, H, 1, d_k), (B, H_kv, 1, d_k)
    qs, ks, vs = (to_subtokens(t, core.depth) for t in (q, k, v))  # (B, ·, D, d_s)
    keys = torch.cat((state.k, ks), dim=2)  # (B, H_kv, M + D, d_s)
    vals = torch.cat((state.v, vs), dim=2)
    groups = module.n_heads // module.n_kv_heads
    keys, vals = keys.repeat_interleave(groups, 1), vals.repeat_interleave(groups, 1)  # (B, H, M + D, d_s)
    depth_idx = torch.arange(core.depth, device=x_t.device)
    own = -core.lambda_distance * (depth_idx[:, None] - depth_idx[None, :]).abs().float() / core.depth  # (D, D)
    empty = torch.where(state.mass > 0, 0.0, torch.finfo(torch.float32).min)  # (B, H_kv, M)
    empty = empty.repeat_interleave(groups, 1)[:, :, None, :].expand(-1, -1, core.depth, -1)  # (B, H, D, M)
    bias = torch.cat((empty, own.expand(b, module.n_heads, -1, -1)), dim=-1)  # (B, H, D, M + D)
    scores = (qs @ keys.transpose(-1, -2)).float() * (core.d_sub ** -0.5) + bias
    out = torch.softmax(scores, dim=-1).to(x_t.dtype) @ vals  # (B, H, D, d_s)
    y = module.o_proj(core.merge(out))  # (B, 1, d)
    return y, latent.update(state, ks, vs)
