"""The toroidal distance between sub-tokens (i, k) and (j, l): sequence position i on a circle of
fixed period P, depth platter k on a line of D platters.

    δ((i,k),(j,l)) = circ(i − j)/P + |k − l|/D,   circ(t) = min(t mod P, P − t mod P)

δ is symmetric, zero on the diagonal, wraps (circ(P − 1) = 1), and bounded: 0 ≤ δ ≤ 1/2 + (D−1)/D < 3/2.
The period P is a constant of the model (a parameter, `period`, default `max_len`), never the current
sequence length: a token pair keeps its distance whether the sequence is 10 or 10 000 tokens long, so
prefill and cached decoding see the same bias. (The seeds write `min(|i−j|, N−|i−j|)/N` with N the
current length; see docs/toroidal.md.)

The index helpers work on integer tensors of any shape, so the same code serves the materialized bias
(SDPA/manual), the on-the-fly bias blocks (ring) and FlexAttention's `score_mod` (no tensor of size
(N·D)² is ever built there).
"""

from __future__ import annotations

import torch


def circular_offset(i: torch.Tensor, j: torch.Tensor, period: int | torch.Tensor) -> torch.Tensor:
    """circ(i − j) = min(|i−j| mod P, P − |i−j| mod P), integer, in [0, P/2]."""
    t = (i - j).abs() % period
    return torch.minimum(t, period - t)


def subtoken_distance(qi: torch.Tensor, ki: torch.Tensor, depth: int, period: int | torch.Tensor,
                      q_offset: int | torch.Tensor = 0) -> torch.Tensor:
    """δ between flat sub-token indices (query index qi, key index ki), float32.

    A flat index r maps to token r // depth and platter r % depth; queries sit `q_offset` tokens
    after the first key (the cached prefix when decoding).
    """
    i, j = qi // depth + q_offset, ki // depth  # tokens
    seq = circular_offset(i, j, period).to(torch.float32) / period
    if depth == 1:  # one platter: no depth term (adding its zeros would change nothing)
        return seq
    dep = (qi % depth - ki % depth).abs().to(torch.float32) / depth  # platters k − l
    return seq + dep


def create_distance_bias(seq_len: int, depth: int, lambda_distance: float,
                         device: torch.device | str | None = None, period: int | None = None) -> torch.Tensor:
    """The penalty λ·δ as a dense (N, D, N, D) float32 tensor, to be *subtracted* from the scores
    (the seeds' convention: `scores - bias.view(N·D, N·D)`).

    Meant for inspection and short-sequence references; the attention backends build it blockwise or
    inside the kernel instead. `period` defaults to `seq_len` (the whole sequence is one turn), which is
    the seeds' convention and only right when the sequence *is* the period.
    """
    period = seq_len if period is None else period
    idx = torch.arange(seq_len * depth, device=device)
    delta = subtoken_distance(idx[:, None], idx[None, :], depth, period)  # (N·D, N·D)
    return (lambda_distance * delta).view(seq_len, depth, seq_len, depth)


def distance_matrix(seq_len: int, depth: int, device: torch.device | str | None = None,
                    period: int | None = None) -> torch.Tensor:
    """δ itself, (N, D, N, D) float32 (no λ, no sign): for checking the metric's properties."""
    period = seq_len if period is None else period
    idx = torch.arange(seq_len * depth, device=device)
    return subtoken_distance(idx[:, None], idx[None, :], depth, period).view(seq_len, depth, seq_len, depth)
