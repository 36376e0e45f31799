"""`RingToroidalAttention`: toroidal attention computed block by block with an online softmax.

The blockwise kernel (blockwise.py) visits key/value blocks of `block_size` sub-tokens and never
builds more than a (block × block) piece of scores or bias, yet gives the same result as full
attention. That is the per-device computation of Ring Attention (Liu et al., 2023). The cross-device
part — passing K/V blocks around a ring of GPUs — is not implemented here: everything runs on one
device, so the seeds' "distributed across devices via ring all-reduce" is not provided.

`num_blocks` bounds the context: max_len = block_size · num_blocks (also the default wrap period).
"""

from __future__ import annotations

import torch

from .attention import ToroidalAttention


class RingToroidalAttention(ToroidalAttention):
    def __init__(self, d_model: int, n_heads: int, block_size: int = 512, num_blocks: int | None = None,
                 **kwargs):
        if num_blocks is not None:
            kwargs.setdefault("max_len", block_size * num_blocks)
        kwargs["backend"] = "ring"
        super().__init__(d_model, n_heads, block_size=block_size, **kwargs)
        self.num_blocks = num_blocks

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, return_attention: bool = False,
                positions: torch.Tensor | None = None):
        if self.num_blocks is not None and x.shape[1] > self.max_len:
            raise ValueError(f"sequence of {x.shape[1]} tokens exceeds block_size·num_blocks = {self.max_len}")
        if return_attention:
            raise ValueError("RingToroidalAttention never forms the full weight matrix; use backend='manual'")
        return super().forward(x, mask, False, positions)
