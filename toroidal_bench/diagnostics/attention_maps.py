"""Attention maps: the softmax weights of every layer and head of a (patched) model on one input.

The model's attention function is swapped for an eager one that records its weights, for the
duration of one forward pass: transformers' SDPA path does not return weights. Attractor slots are
kept (their weight is the last column of each row, reported as `slot_mass`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from ..attention.registration import register_attention
from ..encodings.pi_spiral.inject import SLOT_KWARG, eager_weights
from ..encodings.toroidal import ToroidalHFAttention

CAPTURE = "tbench_capture"


@dataclass(frozen=True)
class HeadStats:
    layer: int
    head: int
    entropy: float  # mean over queries of the attention entropy (nats)
    mean_distance: float  # mean over queries of Σ_j w_ij·(i − j), real keys only
    slot_mass: float  # mean weight on the attractor slot (0 without one)

    def row(self) -> dict:
        return asdict(self)


@torch.no_grad()
def attention_maps(model: Any, input_ids: torch.Tensor) -> list[np.ndarray]:
    """Per layer, (H, N, N) weights over keys, or (H, N, N + 1) with the attractor slot last."""
    captured: list[np.ndarray] = []

    def capture(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
        slot = kwargs.pop(SLOT_KWARG, None)
        out, weights = eager_weights(module, query, key, value, attention_mask, scaling, slot)
        w = weights[0].float().cpu().numpy()  # (H, q, kv[+q])
        if slot is not None:  # keep only each query's own slot column
            q = w.shape[1]
            w = np.concatenate([w[..., :-q], np.diagonal(w[..., -q:], axis1=1, axis2=2)[..., None]], axis=-1)
        captured.append(w)
        return out, None

    previous = model.config._attn_implementation
    model.set_attn_implementation(register_attention(CAPTURE, capture))
    toroidal = [m for m in model.modules() if isinstance(m, ToroidalHFAttention)]
    for module in toroidal:
        module.core.attend = _recording_attend(module.core.attend, captured, module.core.depth)
    try:
        model(input_ids=input_ids[:1].to(next(model.parameters()).device), use_cache=False)
    finally:
        model.set_attn_implementation(previous)
        for module in toroidal:
            del module.core.attend  # back to the class's method
    return captured


def _recording_attend(attend, captured: list, depth: int):
    """Toroidal layers compute their own attention over sub-tokens: record its weights at token level
    (each query token's platters averaged, each key token's platters summed), so rows sum to 1."""

    def recording(q, k, v, g, return_weights=False, backend=None):
        out, weights = attend(q, k, v, g, return_weights=True, backend=backend)
        w = weights[0].float()  # (H, Nq·D, Nk·D)
        h, nq, nk = w.shape[0], w.shape[1] // depth, w.shape[2] // depth
        captured.append(w.view(h, nq, depth, nk, depth).sum(-1).mean(2).cpu().numpy())  # (H, Nq, Nk)
        return out, weights if return_weights else None

    return recording


def head_stats(maps: list[np.ndarray]) -> list[HeadStats]:
    rows = []
    for layer, w in enumerate(maps):
        n = w.shape[1]
        real = w[..., :n]
        slot = w[..., n:].sum(axis=-1) if w.shape[-1] > n else np.zeros(w.shape[:2])
        dist = np.arange(n)[:, None] - np.arange(n)[None, :]  # (q, k) = i − j
        ent = -(np.where(w > 0, w * np.log(np.where(w > 0, w, 1.0)), 0.0)).sum(axis=-1)  # (H, q)
        for h in range(w.shape[0]):
            rows.append(HeadStats(layer, h, float(ent[h].mean()), float((real[h] * dist).sum(-1).mean()),
                                  float(slot[h].mean())))
    return rows
