"""RULER fwe: find the three most frequent coded words of a Zipf-distributed text.

Re-implements scripts/data/synthetic/freq_words_extraction.py in token space. Vocabulary:
(length − tokens_to_generate) // 50 distinct random 6-letter lowercase words, sorted, shuffled with
`random.Random(seed)`; the rank-1 word is replaced by "..." (noise the prompt says to ignore). Word of
rank k appears ⌊N · k^−α / ζ(α)⌋ times; the multiset is shuffled with `random.Random(seed)` and
joined by spaces. The answer is ranks 2–4.

Haystack unit: N, the word count the Zipf counts are computed from (the text holds slightly fewer,
the counts being floored). `sizing: ruler` finds N as RULER does: from budget // 6 up in steps of
budget // 32 while the prompt is under the budget, one step back, then per sample steps down while
it does not fit, leaving up to 1/32 of the context unused; `sizing: fill` takes the largest N that fits.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

import numpy as np

from .. import task_family
from ..pieces import Encoder
from .base import Built, RulerTask, split_template
from .sizing import Search, linear_search


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


@dataclass(frozen=True)
class FwePlan:
    enc: Encoder
    length: int
    seed: int
    head: list[int]
    tail: list[int]
    size: int  # vocabulary size
    alpha: float
    wordlen: int


@dataclass(frozen=True)
class Vocab:
    words: list[str]
    lens: np.ndarray  # tokens of each " word"
    ids: list[list[int]]


@task_family("ruler.fwe")
class RulerFreqWords(RulerTask):
    kind = "freq_words_extraction"
    version = "2"

    def plan(self, enc: Encoder, length: int, seed: int) -> FwePlan:
        p = self.params
        size = int(p.get("vocab_size", -1))
        size = self.budget(length) // 50 if size == -1 else size
        before, after = split_template(self.template + self.answer_prefix, sep=" ")
        return FwePlan(enc, length, seed, enc.head(before), enc.one(after), size, float(p.get("alpha", 2.0)),
                       int(p.get("coded_wordlen", 6)))

    def rule(self, length: int) -> Search:
        step = max(self.budget(length) // 32, 1)
        return Search(incremental=step, estimate_at=step)

    def ruler_count(self, plan: FwePlan, length: int, seed: int) -> int | None:
        """RULER's linear search, on one vocabulary drawn for the search."""
        vocab = self._vocab(plan, self.rng(seed, length, -1))
        budget = self.budget(length)
        return linear_search(lambda n: self._tokens(plan, vocab, n), budget // plan.wordlen,
                             self.rule(length).incremental, budget)

    def _vocab(self, plan: FwePlan, rng: random.Random) -> Vocab:
        words = coded_vocab(rng, plan.seed, plan.size, plan.wordlen)
        ids = plan.enc.many([" " + w for w in words])
        return Vocab(words, np.array([len(x) for x in ids], dtype=np.int64), ids)

    def _tokens(self, plan: FwePlan, vocab: Vocab, n: int) -> int:
        return len(plan.head) + len(plan.tail) + int(zipf_counts(n, plan.size, plan.alpha) @ vocab.lens)

    def build(self, plan: FwePlan, rng: random.Random, n: int, index: int) -> Built:
        return self._text(plan, self._vocab(plan, rng), n)

    def fill(self, plan: FwePlan, rng: random.Random, index: int) -> Built:
        vocab = self._vocab(plan, rng)
        room = self.budget(plan.length) - len(plan.head) - len(plan.tail)
        lo, hi = 0, max(room, 0) + plan.size  # flooring loses < size words, each costs ≥ 1 token
        while lo < hi:  # the largest N whose text fits
            mid = (lo + hi + 1) // 2
            if self._tokens(plan, vocab, mid) <= self.budget(plan.length):
                lo = mid
            else:
                hi = mid - 1
        return self._text(plan, vocab, lo)

    @staticmethod
    def _smallest(plan: FwePlan) -> int:
        """The least N at which rank 4 appears once: ⌊N · 4^−α / ζ(α)⌋ ≥ 1 (0 without 4 words)."""
        if plan.size < 4:
            return 0
        n = 1
        while zipf_counts(n, plan.size, plan.alpha)[3] < 1:
            n *= 2
        lo, hi = n // 2, n
        while lo + 1 < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if zipf_counts(mid, plan.size, plan.alpha)[3] >= 1 else (mid, hi)
        return hi

    def _text(self, plan: FwePlan, vocab: Vocab, n: int) -> Built:
        counts = zipf_counts(max(n, 0), plan.size, plan.alpha)
        if len(vocab.words) < 4 or counts[1:4].min() < 1:  # the answer's three words must appear
            raise self.too_short(plan.length, self._tokens(plan, vocab, self._smallest(plan)))
        order = [i for i, c in enumerate(counts) for _ in range(int(c))]
        random.Random(plan.seed).shuffle(order)
        ids = list(plan.head)
        for i in order:
            ids += vocab.ids[i]
        return Built(ids + plan.tail, vocab.words[1:4], n,
                     meta={"haystack": "coded-words", "answer_prefix": self.answer_prefix})
