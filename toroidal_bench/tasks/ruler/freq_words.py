"""RULER fwe: find the three most frequent coded words of a Zipf-distributed text.

Re-implements scripts/data/synthetic/freq_words_extraction.py in token space. Vocabulary:
(length − tokens_to_generate) // 50 distinct random 6-letter lowercase words, sorted, shuffled with
`random.Random(seed)`; the rank-1 word is replaced by "..." (noise the prompt says to ignore). Word of
rank k appears ⌊N · k^−α / ζ(α)⌋ times; the multiset is shuffled with `random.Random(seed)` and
joined by spaces. The answer is ranks 2–4. RULER grows N in steps of max_len/32 and then steps back,
leaving up to 1/32 of the context unused; here N is the largest count that fits (documented).
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterable
from typing import Any

import numpy as np

from .. import task_family
from ..base import Sample
from ..pieces import encoder_for
from .base import RulerTask, split_template


def coded_vocab(rng: random.Random, seed: int, size: int, wordlen: int = 6) -> list[str]:
    vocab = ["".join(rng.choices(string.ascii_lowercase, k=wordlen)) for _ in range(size)]
    while len(set(vocab)) < size:
        vocab.append("".join(rng.choices(string.ascii_lowercase, k=wordlen)))
    vocab = sorted(set(vocab))
    random.Random(seed).shuffle(vocab)
    vocab[0] = "..."
    return vocab


def zipf_counts(num_words: int, size: int, alpha: float) -> np.ndarray:
    from scipy.special import zeta  # imported here: listing tasks stays light

    k = np.arange(1, size + 1, dtype=np.float64)
    return (num_words * k ** -alpha / zeta(alpha)).astype(np.int64)


@task_family("ruler.fwe")
class RulerFreqWords(RulerTask):
    kind = "freq_words_extraction"
    version = "1"

    def samples(self, tokenizer: Any, length: int, seed: int, limit: int | None) -> Iterable[Sample]:
        p = self.params
        alpha = float(p.get("alpha", 2.0))
        size = int(p.get("vocab_size", -1))
        size = self.budget(length) // 50 if size == -1 else size
        enc = encoder_for(tokenizer)
        before, after = split_template(self.template + self.answer_prefix, sep=" ")
        head, tail = enc.head(before), enc.one(after)
        room = self.budget(length) - len(head) - len(tail)
        for index in range(self.count(limit)):
            rng = self.rng(seed, length, index)
            vocab = coded_vocab(rng, seed, size, int(p.get("coded_wordlen", 6)))
            word_ids = enc.many([" " + w for w in vocab])
            lens = np.array([len(x) for x in word_ids], dtype=np.int64)
            lo, hi = 0, max(room, 0) + size  # flooring loses < size words, each costs ≥ 1 token
            while lo < hi:  # the largest N whose text fits
                mid = (lo + hi + 1) // 2
                if int(zipf_counts(mid, size, alpha) @ lens) <= room:
                    lo = mid
                else:
                    hi = mid - 1
            counts = zipf_counts(lo, size, alpha)
            if len(vocab) < 4 or counts[1:4].min() < 1:
                raise self.too_short(length, len(head) + len(tail) + self.max_new_tokens)
            order = [i for i, c in enumerate(counts) for _ in range(int(c))]
            random.Random(seed).shuffle(order)
            ids = list(head)
            for i in order:
                ids += word_ids[i]
            yield self.make(enc, ids + tail, length, index, vocab[1:4], haystack="coded-words",
                            haystack_units=lo, answer_prefix=self.answer_prefix)
