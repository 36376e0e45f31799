"""Which sub-token may attend to which, and the additive bias: the `Geometry` of one attention call.

Masks act at the *token* level: sub-token (i, k) may see (j, l) iff token i may see token j, whatever
the platters (the D sub-tokens of a token are slices of that token, so seeing a later platter of one's
own token is no leak). The rules, all optional, are combined with AND:

- causal: j ≤ i (queries are the last tokens: query t of a call sits at token q_offset + t);
- window: circ(i − j) ≤ w, the circular sliding window of the same period P as the distance — under a
  causal mask the wrap can only reach back, never across the mask;
- key padding: key j is a real token (`key_valid[b, j]`);
- an explicit token mask (`token_mask[b, t, j]`, True = attend) and/or additive token bias, e.g. the
  4-D mask transformers passes.

`bias_block` materializes the float bias of one block of sub-token rows × columns (for SDPA, the manual
path and the blockwise/ring path); FlexAttention evaluates the same rules per element (backends.py).

The query offset is a Python int, or — for one query token over a static KV cache, whose slots after
the query are empty — a 0-d device tensor (the cache's own count of written slots, minus one), so that
a decoding step reads nothing on the host and can be captured (`bias_block` accepts either).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from .distance import circular_offset, subtoken_distance


@dataclass(frozen=True)
class Geometry:
    depth: int
    lam: float
    period: int
    scale: float
    causal: bool = False
    window: int | None = None
    q_offset: int | torch.Tensor = 0  # token of the call's first query; a 0-d tensor on a static cache
    key_valid: torch.Tensor | None = None  # (B, Nk) bool
    token_mask: torch.Tensor | None = None  # (B, Nq, Nk) bool, True = attend
    token_bias: torch.Tensor | None = None  # (B, Nq, Nk) float, added to the scores

    def replace(self, **kw) -> Geometry:
        return dataclasses.replace(self, **kw)

    @property
    def has_mask(self) -> bool:
        return (self.causal or self.window is not None or self.key_valid is not None
                or self.token_mask is not None)


def token_allowed(g: Geometry, t: torch.Tensor, j: torch.Tensor) -> torch.Tensor | None:
    """Bool (B|1, R, C) for query tokens t (call-relative, (R, 1)) and key tokens j ((1, C)); None = all."""
    i = t + g.q_offset
    allowed = None

    def both(a, m):
        return m if a is None else a & m

    if g.causal:
        allowed = both(allowed, j <= i)
    if g.window is not None:
        allowed = both(allowed, circular_offset(i, j, g.period) <= g.window)
    if allowed is not None:
        allowed = allowed[None]  # (1, R, C)
    if g.key_valid is not None:
        allowed = both(allowed, g.key_valid[:, j[0]][:, None, :])  # (B, 1, C)
    if g.token_mask is not None:
        allowed = both(allowed, g.token_mask[:, t, j])  # (B, R, C)
    return allowed


def bias_block(g: Geometry, rows: tuple[int, int], cols: tuple[int, int], device: torch.device,
               dtype: torch.dtype) -> torch.Tensor:
    """Additive bias (B|1, 1, R, C) for sub-token rows [r0, r1) × columns [c0, c1): −λ·δ, plus the
    token bias, with the most negative finite value where attention is not allowed."""
    qi = torch.arange(*rows, device=device)[:, None]  # (R, 1)
    ki = torch.arange(*cols, device=device)[None, :]  # (1, C)
    bias = -g.lam * subtoken_distance(qi, ki, g.depth, g.period, g.q_offset)  # (R, C) float32
    bias = bias[None]  # (1, R, C)
    t, j = qi // g.depth, ki // g.depth
    if g.token_bias is not None:
        bias = bias + g.token_bias[:, t, j].float()
    allowed = token_allowed(g, t, j)
    if allowed is not None:
        # finite, so a row with nothing allowed (a padding query) gives finite garbage, not NaN
        bias = bias.masked_fill(~allowed, torch.finfo(torch.float32).min)
    return bias.to(dtype)[:, None]  # (B|1, 1, R, C)


def from_hf_mask(mask: torch.Tensor | None, q_len: int, kv_len: int
                 ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """transformers' attention_mask → (key_valid (B, Nk), token_mask (B, Nq, Nk), token_bias).

    None means SDPA's causal fast path (no padding): the caller applies causality itself. A 4-D
    mask (B, 1, q, kv) — bool (True = attend) or float (0 / large negative) — is reduced to a key-padding
    vector when it is exactly causal ∧ padding (the common case), else kept as a token-level mask.
    """
    if mask is None:
        return None, None, None
    if mask.dim() != 4:
        raise ValueError(f"expected a 4-D attention mask (B, 1, q, kv), got shape {tuple(mask.shape)}")
    m = mask[:, 0, -q_len:, :kv_len]  # (B, q, kv)
    if m.dtype != torch.bool:
        neg = m <= torch.finfo(m.dtype).min / 2
        if not torch.all(neg | (m == 0)):
            return None, None, m  # a genuine additive bias: keep it
        m = ~neg
    key_valid = m.any(dim=1)  # (B, kv): keys some query may see
    i = torch.arange(q_len, device=m.device)[:, None] + (kv_len - q_len)
    causal = torch.arange(kv_len, device=m.device)[None, :] <= i  # (q, kv)
    if torch.equal(m, causal[None] & key_valid[:, None, :]):
        return (None if bool(key_valid.all()) else key_valid), None, None
    return None, m, None


def from_step_mask(mask: torch.Tensor | None, kv_len: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """One query token's 4-D mask (B, 1, 1, kv) over a static cache → (key_valid (B, kv), token_bias
    (B, 1, kv) or None), computed on the device without reading any value on the host.

    The mask row of a single query already says which keys it may see (padding, and the empty slots
    after it). A bool row is the key validity itself; a float row (0 / large negative, or a genuine
    additive bias) gives validity where it is above min/2 and is added as a bias there (adding the
    zeros of a plain mask changes no score). None (no mask) leaves the causal rule alone to hide the
    empty slots.
    """
    if mask is None:
        return None, None
    if mask.dim() != 4:
        raise ValueError(f"expected a 4-D attention mask (B, 1, q, kv), got shape {tuple(mask.shape)}")
    row = mask[:, 0, -1, :kv_len]  # (B, kv)
    if row.dtype == torch.bool:
        return row, None
    valid = row > torch.finfo(row.dtype).min / 2
    return valid, row.masked_fill(~valid, 0)[:, None, :]
