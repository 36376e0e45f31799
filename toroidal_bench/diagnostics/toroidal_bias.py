"""What toroidal attention adds to every score: the distance bias −λ·δ by token and platter offset.

Toroidal attention is not a rotary encoding, so the collision and spectral analyses (which look at
rotation angles) say nothing about it; this table is its counterpart. Rows cover the token offsets a
causal query sees (0, 1, 2, 4, … up to the longest length, plus the wrap points P/2 and P − 1 when
they fall inside it) for every platter offset, computed with the same distance function the
attention backends use.
"""

from __future__ import annotations

import torch

from ..encodings.toroidal.distance import subtoken_distance


def offsets(period: int, longest: int) -> list[int]:
    """Token offsets worth a row: powers of two below `longest`, and the wrap points inside it."""
    picks = {0} | {1 << k for k in range(max(1, longest).bit_length()) if 1 << k < longest}
    picks |= {t for t in (period // 2, period - 1, period) if 0 < t < longest}
    return sorted(picks)


def bias_rows(label: str, depth: int, lam: float, period: int, longest: int) -> list[dict]:
    deltas = torch.tensor(offsets(period, longest))
    rows = []
    for dk in range(depth):
        # query sub-token (Δ, platter dk) against key sub-token (0, platter 0), flat index token·D + platter
        qi, ki = deltas * depth + dk, torch.zeros_like(deltas)
        dist = subtoken_distance(qi, ki, depth, period)
        rows += [{"encoding": label, "delta": int(t), "depth_offset": dk, "period": period,
                  "distance": float(d), "bias": 0.0 - lam * float(d)} for t, d in zip(deltas, dist, strict=True)]
    return rows
