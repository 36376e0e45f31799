"""How a head's vector is cut into D depth platters, and back.

Each head vector (length d_k) is split into D platter slices of d_k/D features; a token of the
sequence becomes D sub-tokens, so attention runs over N·D sub-tokens of width d_k/D. With D = 1 this is
ordinary attention.

When q/k carry the model's own rotary embedding (rotate-half layout: feature m is paired with m + r/2),
a contiguous cut would separate the two halves of a rotation pair and the per-platter dot product would
no longer depend on relative position only. `platter_permutation` therefore gives each platter whole
rotation pairs (and an equal share of the non-rotated features, for partial rotary models such as Phi),
laid out again in rotate-half order inside the platter. Applying one permutation to q, k and v and its
inverse to the output changes nothing when D = 1.
"""

from __future__ import annotations

import torch


def check_divisible(head_dim: int, depth: int, rotary_dim: int = 0) -> None:
    """Raise ValueError unless a head of `head_dim` features splits into `depth` platters."""
    if depth < 1:
        raise ValueError(f"depth must be ≥ 1, got {depth}")
    if head_dim % depth:
        raise ValueError(f"head dim {head_dim} is not divisible by depth {depth}")
    if rotary_dim:
        half, rest = rotary_dim // 2, head_dim - rotary_dim
        if half % depth or rest % depth:
            raise ValueError(
                f"depth {depth} must divide both the {half} rotary pairs and the {rest} non-rotary features "
                f"of a head (head dim {head_dim}, rotary dim {rotary_dim})")


def platter_permutation(head_dim: int, depth: int, rotary_dim: int = 0) -> torch.Tensor:
    """Feature order (head_dim,) such that slice k of the permuted head holds whole rotation pairs.

    `rotary_dim` = 0 means no rotary layout to respect (identity permutation).
    """
    check_divisible(head_dim, depth, rotary_dim)
    if rotary_dim == 0 or depth == 1:
        return torch.arange(head_dim)
    half = rotary_dim // 2
    pairs, rest = half // depth, (head_dim - rotary_dim) // depth
    order = []
    for k in range(depth):
        first = list(range(k * pairs, (k + 1) * pairs))  # first halves of platter k's pairs
        order += first + [m + half for m in first]  # rotate-half layout within the platter
        order += list(range(rotary_dim + k * rest, rotary_dim + (k + 1) * rest))
    return torch.tensor(order)


def to_subtokens(x: torch.Tensor, depth: int) -> torch.Tensor:
    """(B, H, N, d_k) → (B, H, N·D, d_k/D): sub-token (i, k) at flat index i·D + k."""
    b, h, n, dk = x.shape
    return x.reshape(b, h, n * depth, dk // depth)


def from_subtokens(x: torch.Tensor, depth: int) -> torch.Tensor:
    """(B, H, N·D, d_k/D) → (B, N, D, H, d_k/D): platter-major, ready for depth fusion."""
    b, h, nd, ds = x.shape
    return x.view(b, h, nd // depth, depth, ds).permute(0, 2, 3, 1, 4)
