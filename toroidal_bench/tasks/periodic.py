"""Periodic and sinusoidal token sequences: the toroidal seeds' own test data.

`kind: tokens` repeats a random pattern of `period` token ids; `kind: sinusoid` quantises
sin(2π·t/period + phase) into `levels` bins, each bin one token id. Token ids are drawn (seeded) from
the tokenizer's non-special ids, so the task runs on any model without a vocabulary of its own.
The whole sequence is one Rolling request of exactly `length` tokens; scores count only the
periodic part, the positions from the first full repetition on (t ≥ ceil(period)), where an
encoding that wraps positions periodically should predict the next token exactly:
`accuracy` = fraction of greedy hits there, `perplexity` = exp(mean negative log-likelihood there),
with `nll` (summed) and `tokens` (counted) there, which the run's perplexity aggregates from.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import UsageError
from . import task_family
from .base import Rolling, Sample, TaskFamily


def candidate_ids(tokenizer: Any) -> list[int]:
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    return [i for i in range(len(tokenizer)) if i not in special]


def periodic_tokens(rng: random.Random, ids: list[int], period: int, length: int) -> list[int]:
    pattern = [rng.choice(ids) for _ in range(period)]
    phase = rng.randrange(period)
    return [pattern[(phase + t) % period] for t in range(length)]


def sinusoid_tokens(rng: random.Random, ids: list[int], period: float, levels: int, length: int) -> list[int]:
    symbols = rng.sample(ids, levels)
    phase = rng.uniform(0, 2 * math.pi)
    t = np.arange(length)
    bins = np.rint((np.sin(2 * np.pi * t / period + phase) + 1) / 2 * (levels - 1)).astype(int)
    return [symbols[b] for b in bins]


@task_family("periodic")
class Periodic(TaskFamily):
    version = "1"
    metrics = ("accuracy", "perplexity", "nll", "tokens")

    def samples(self, tokenizer: Any, length: int, seed: int, limit: int | None) -> Iterable[Sample]:
        p = self.params
        kind, period = p.get("kind", "tokens"), p.get("period", 32)
        n = int(p.get("num_samples", 8))
        n = n if limit is None else min(n, limit)
        ids = candidate_ids(tokenizer)
        if length <= math.ceil(float(period)):
            raise UsageError(f"length {length} must exceed the period {period} of task '{self.name}'")
        for index in range(n):
            rng = random.Random(f"periodic|{kind}|{period}|{seed}|{length}|{index}")
            if kind == "tokens":
                tokens = periodic_tokens(rng, ids, int(period), length)
            elif kind == "sinusoid":
                tokens = sinusoid_tokens(rng, ids, float(period), int(p.get("levels", 16)), length)
            else:
                raise UsageError(f"unknown periodic kind '{kind}'", "valid kinds: tokens, sinusoid")
            yield Sample(id=f"{length}-{index}", request=Rolling(tuple(tokens)), reference=None,
                         prompt=tokenizer.decode(tokens), meta={"kind": kind, "period": period,
                                                                "haystack": kind})

    def score(self, sample: Sample, output: Any) -> dict[str, float]:
        start = math.ceil(float(sample.meta["period"]))
        lp = np.asarray(output.logprobs, dtype=np.float64)[start:]
        greedy = np.asarray(output.greedy)[start:]
        return {"accuracy": float(greedy.mean()), "perplexity": float(np.exp(-lp.mean())),
                "nll": float(-lp.sum()), "tokens": float(len(lp))}
