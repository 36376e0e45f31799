"""FlexAttention BlockMasks built from tile index arithmetic: O((L/128)²) memory, never L × L.

`create_block_mask` run eagerly evaluates the mask_mod on every (query, key) pair — an L × L bool tensor
plus int64 index intermediates, ≈ 41 GiB at 64k — before reducing it to 128 × 128 tiles. For the masks
used here, whether a tile is empty, full or partial follows from the index ranges of the tile alone:

- causality over groups of `group` positions (sub-tokens of one token share it; group 1 is plain
  causal), queries sitting `q_offset` groups after the first key: a tile holds query groups [ta, tb]
  and key groups [ja, jb], so every pair is allowed iff jb ≤ ta and none iff ja > tb;
- a circular window circ(i − j) ≤ w of period P: inside a tile the difference t = i − j takes every
  integer in [ta − jb, tb − ja] and the rule depends on t alone, so counting the allowed t in that range
  (restricted to t ≥ 0 under causality) decides the tile exactly;
- key padding `key_valid` (B, L_k / group), per group: a tile is full only if all its keys are real, empty if none is.

Tiles that reach past the end of a sequence are never full (create_block_mask pads with False too). The
element rule stays in `mask_mod`, which the kernel evaluates in partial tiles only.
"""

from __future__ import annotations

import torch

BLOCK = 128


def _window_count(x: torch.Tensor, window: int, period: int) -> torch.Tensor:
    """#{t ∈ [0, x): circ(t) ≤ window} for integer x of any sign (allowed residues [0, w] ∪ [P − w, P))."""
    turns = torch.div(x, period, rounding_mode="floor")
    r = x - turns * period
    return turns * (2 * window + 1) + r.clamp(max=window + 1) + (r - (period - window)).clamp(min=0)


def tile_classes(q_len: int, kv_len: int, *, device, group: int = 1, q_offset: int = 0, causal: bool = True,
                 window: int | None = None, period: int | None = None, key_valid: torch.Tensor | None = None,
                 block: int = BLOCK) -> tuple[torch.Tensor, torch.Tensor]:
    """(full, partial) bool tiles, each (B|1, n_q, n_kv)."""
    rows = torch.arange(0, q_len, block, device=device, dtype=torch.int32)  # first row of each tile
    cols = torch.arange(0, kv_len, block, device=device, dtype=torch.int32)
    ta, tb = rows // group + q_offset, ((rows + block).clamp(max=q_len) - 1) // group + q_offset
    ja, jb = cols // group, ((cols + block).clamp(max=kv_len) - 1) // group
    lo, hi = ta[:, None] - jb[None, :], tb[:, None] - ja[None, :]  # token differences i − j in each tile
    full = torch.ones_like(lo, dtype=torch.bool)
    some = torch.ones_like(lo, dtype=torch.bool)
    if causal:
        full &= lo >= 0
        some &= hi >= 0
        lo = lo.clamp(min=0)
    if window is not None and period is not None and 2 * window + 1 < period:
        allowed = _window_count(hi + 1, window, period) - _window_count(lo, window, period)
        full &= allowed == (hi - lo + 1)
        some &= (allowed > 0) & (hi >= lo)
    complete = ((rows + block <= q_len)[:, None]) & ((cols + block <= kv_len)[None, :])
    full = (full & complete)[None]
    some = some[None]
    if key_valid is not None:
        n_kv = cols.numel()
        kv = key_valid.bool().repeat_interleave(group, dim=1)  # (B, L_k): per position, from per group
        kv = torch.nn.functional.pad(kv, (0, n_kv * block - kv_len))  # (B, n_kv·block)
        kv_all = kv.view(-1, n_kv, block).all(-1)
        kv_any = kv.view(-1, n_kv, block).any(-1)
        full = full & kv_all[:, None, :]
        some = some & kv_any[:, None, :]
    return full, some & ~full


def _ordered(dense: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(…, n_q, n_kv) bool → (count (…, n_q), column indices (…, n_q, n_kv), marked ones first, ascending)."""
    dense = dense.to(torch.int32)
    counts = dense.sum(-1, dtype=torch.int32)
    order = torch.argsort(dense, dim=-1, descending=True, stable=True).to(torch.int32)
    return counts.contiguous(), order.contiguous()


def block_mask(mask_mod, q_len: int, kv_len: int, *, device, group: int = 1, q_offset: int = 0,
               causal: bool = True, window: int | None = None, period: int | None = None,
               key_valid: torch.Tensor | None = None, block: int = BLOCK):
    """A BlockMask whose tiles are classified from the rules above; `mask_mod` must compute exactly their
    AND for these arguments (full tiles never call it; partial tiles apply it per element)."""
    from torch.nn.attention.flex_attention import BlockMask

    full, partial = tile_classes(q_len, kv_len, device=device, group=group, q_offset=q_offset, causal=causal,
                                 window=window, period=period, key_valid=key_valid, block=block)
    kv_num, kv_idx = _ordered(partial[:, None])  # (B|1, 1, n_q), (B|1, 1, n_q, n_kv)
    full_num, full_idx = _ordered(full[:, None])
    return BlockMask.from_kv_blocks(kv_num, kv_idx, full_num, full_idx, BLOCK_SIZE=block, mask_mod=mask_mod,
                                    seq_lengths=(q_len, kv_len))
