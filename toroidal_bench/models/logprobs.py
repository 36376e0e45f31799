"""Token log-probabilities from hidden states without materializing full float32 logits.

The LM head and log-softmax run over chunks of positions, so peak memory is one chunk of
(positions × vocab) logits rather than the whole sequence's.
"""

from __future__ import annotations

import torch

#: rows (batch × positions) per LM-head chunk: 2048 × 152k vocab × 4 bytes ≈ 1.2 GiB of float32 logits
CHUNK_ROWS = 2048


def token_logprobs(hidden: torch.Tensor, head: torch.nn.Module, targets: torch.Tensor,
                   chunk: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """hidden (B, T, d), targets (B, T) → (log p(target) float32 (B, T), argmax == target (B, T)).
    `chunk` positions go through the head at once (default: CHUNK_ROWS rows over the batch)."""
    chunk = chunk or max(1, CHUNK_ROWS // hidden.shape[0])
    logps, greedy = [], []
    for start in range(0, hidden.shape[1], chunk):
        h = hidden[:, start : start + chunk]
        t = targets[:, start : start + chunk]
        logits = head(h).float()  # (B, c, V)
        lse = torch.logsumexp(logits, dim=-1)
        picked = logits.gather(-1, t.unsqueeze(-1)).squeeze(-1)
        logps.append(picked - lse)
        greedy.append(logits.argmax(dim=-1) == t)
        del logits
    return torch.cat(logps, dim=1), torch.cat(greedy, dim=1)
