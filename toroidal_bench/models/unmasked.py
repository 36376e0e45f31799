"""Left-padded batches run without an attention mask.

A mask, even one that only hides padding, sends SDPA from its causal fused kernels (cuDNN, flash) to a
slower masked kernel: 2.4–3.7× slower at 4k–32k tokens on an H200 (benchmarks/README.md). So a
left-padded batch is rolled, row by row, until its tokens come first and its padding after them —
where causal attention never looks — and runs with no mask and positions 0, 1, …, exactly the
positions the left-padded batch gives its tokens. Whatever comes out per position (hidden states, KV)
is rolled back into the left-padded layout with `back`; padding positions hold junk the caller never
reads or masks out.

Not for models with a module that takes a state at the sequence's last position (attractors) or reads
each row's largest position (dynamic NTK): with padding after the tokens, those would see the
padding. Such modules say so with `left_padded_prefill = True` (`needs_left_padding`).
"""

from __future__ import annotations

from typing import Any

import torch


def needs_left_padding(model: Any) -> bool:
    """Must the model see left-padded batches with their mask?"""
    return any(getattr(module, "left_padded_prefill", False) for module in model.modules())


def roll(ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Left-padded ids, mask (B, W) → (ids with each row's tokens first, position ids (B, W), `back`:
    for each row the order of positions that restores the left-padded layout, or None when no row
    is padded)."""
    b, w = ids.shape
    pad = w - mask.sum(dim=1)  # (B,)
    cols = torch.arange(w, device=ids.device)
    positions = cols.expand(b, w)
    if not bool(pad.any()):
        return ids, positions, None
    return ids.gather(1, (cols + pad[:, None]) % w), positions, (cols - pad[:, None]) % w


def unroll(x: torch.Tensor, back: torch.Tensor | None, dim: int) -> torch.Tensor:
    """Per-position outputs of a rolled batch (batch first, positions along `dim`) in the left-padded
    layout; `back` (B, W') may be a slice of roll's (e.g. its last W' columns) to take fewer positions."""
    if back is None:
        return x
    shape = [1] * x.dim()
    shape[0], shape[dim] = back.shape
    index = back.view(shape).expand(*[back.shape[1] if axis == dim else size for axis, size in enumerate(x.shape)])
    return x.gather(dim, index)


def forward(base: Any, ids: torch.Tensor, mask: torch.Tensor, k: int, **kwargs: Any):
    """Run `base` (a transformers base model) on a left-padded batch, unmasked → (hidden states of the
    last k positions (B, k, d) in the left-padded layout, the outputs (e.g. their cache), `back`)."""
    rolled, positions, back = roll(ids, mask)
    outputs = base(input_ids=rolled, position_ids=positions, **kwargs)
    hidden = unroll(outputs.last_hidden_state, None if back is None else back[:, -k:], dim=1)[:, -k:]
    return hidden, outputs, back
