"""From per-token log-probabilities to a document's perplexity rows and its NLL by position.

Per document: `nll` (Σ −log p, nats) and `tokens`, and `perplexity` = exp(nll ÷ tokens); with the
word and byte counts of the original text also lm-eval's `word_perplexity`, `byte_perplexity` and
`bits_per_byte`. Across documents every one of them aggregates from the sums (metrics.py), so the
run's figure is lm-eval's corpus figure, not a mean of per-document values.

NLL by position: the tokens a document's first window scores see everything before them, so the
k-th of them (position k, 1-based) has exactly k − 1 tokens of the document as context. Positions
1 … L−1 (the span every protocol's first window covers: the sliding window's holds L − 1 scored
tokens, the disjoint one's L, whose last is left out so that the buckets agree) are grouped in
log-spaced buckets [1, 2), [2, 4), …, [2^j, 2^(j+1)), the last cut at L; per bucket a document gets
`nll`, `tokens` and `nll_per_token` rows, so a bucket's figure over documents is token-weighted too.
"""

from __future__ import annotations

import math

import numpy as np

from ...metrics import At


def position_buckets(span: int) -> list[tuple[int, int]]:
    """[start, end) buckets of positions 1..span: [1, 2), [2, 4), …, the last ending at span + 1."""
    buckets, start = [], 1
    while start <= span:
        buckets.append((start, min(2 * start, span + 1)))
        start *= 2
    return buckets


def document_scores(logprobs: np.ndarray, words: int | None, nbytes: int | None) -> dict[str, float]:
    """Whole-document rows from the log-probability of each of its tokens."""
    nll = float(-np.asarray(logprobs, dtype=np.float64).sum())
    tokens = len(logprobs)
    scores = {"nll": nll, "tokens": float(tokens), "perplexity": math.exp(nll / tokens)}
    if words is not None and nbytes is not None:
        scores.update(words=float(words), bytes=float(nbytes), word_perplexity=math.exp(nll / words),
                      byte_perplexity=math.exp(nll / nbytes), bits_per_byte=nll / (nbytes * math.log(2)))
    return scores


def position_scores(logprobs: np.ndarray, span: int) -> dict[At, float]:
    """Bucket rows from the first `span` tokens' log-probabilities (those with the whole prefix as context)."""
    nll = -np.asarray(logprobs[:span], dtype=np.float64)
    scores: dict[At, float] = {}
    for start, end in position_buckets(min(span, len(nll))):
        part = nll[start - 1 : end - 1]
        scores[At("nll", start, end)] = float(part.sum())
        scores[At("tokens", start, end)] = float(len(part))
        scores[At("nll_per_token", start, end)] = float(part.mean())
    return scores
