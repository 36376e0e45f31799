"""RULER cwe: name the 10 most common words of a long numbered word list.

Re-implements scripts/data/synthetic/common_words_extraction.py in token space. Vocabulary: the
wonderwords nouns + adjectives + verbs (sorted, de-duplicated); when a prompt needs more distinct
words than that, RULER switches to its `json/english_words.json` list, which must then be given as
`english_words.json` in `data_dir`. A sample draws N distinct words; the first num_cw are "common"
and appear freq_cw times, the others freq_ucw times (6 and 1 when the length is below 4096); the
list is shuffled with `random.Random(seed)` and rendered "1. w 2. w …". One few-shot example (40
words ×10/×3, or 20 words ×3/×1 below 4096) with its answer comes first.

Haystack unit: a distinct word. `sizing: ruler` counts them with RULER's search (estimate from a
4096-word probe, upper bound twice that estimate, steps of 10 words); `sizing: fill` takes the largest
N that fits.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ...errors import UsageError
from .. import task_family
from ..pieces import Encoder
from .base import Built, RulerTask
from .sizing import Search
from .words import wonderwords_list


@lru_cache(maxsize=4)
def english_words(data_dir: str | None) -> tuple[str, ...]:
    path = Path(data_dir or ".").expanduser() / "english_words.json"
    if not data_dir or not path.is_file():
        raise UsageError("this cwe length needs more distinct words than wonderwords has: RULER then uses "
                         "its english_words.json", "put RULER's scripts/data/synthetic/json/english_words.json "
                         "into the folder given as data_dir (--data-dir)")
    return tuple(json.loads(path.read_text(encoding="utf-8")).values())


def numbered(words: list[str]) -> str:
    return " ".join(f"{i + 1}. {w}" for i, w in enumerate(words))


@dataclass(frozen=True)
class CwePlan:
    enc: Encoder
    length: int
    seed: int
    vocab: list[str]
    num_cw: int
    freq_cw: int
    freq_ucw: int
    shot: tuple[int, int, int]  # words, common and rare repetitions of the few-shot example


@task_family("ruler.cwe")
class RulerCommonWords(RulerTask):
    kind = "common_words_extraction"
    version = "2"

    def plan(self, enc: Encoder, length: int, seed: int) -> CwePlan:
        p = self.params
        short = length < 4096
        freq_cw, freq_ucw = (6, 1) if short else (int(p.get("freq_cw", 30)), int(p.get("freq_ucw", 3)))
        vocab = sorted(set(wonderwords_list("nounlist.txt") + wonderwords_list("adjectivelist.txt")
                           + wonderwords_list("verblist.txt")))
        return CwePlan(enc, length, seed, vocab, int(p.get("num_cw", 10)), freq_cw, freq_ucw,
                       (20, 3, 1) if short else (40, 10, 3))

    def rule(self, length: int) -> Search:
        return Search(incremental=10, estimate_at=4096, factor=2, floor_first=True)

    def _ends(self, plan: CwePlan, rng: random.Random) -> tuple[list[int], list[int]]:
        """Token ids before and after the task's list: few-shot examples, template parts."""
        prompt = self.template + self.answer_prefix
        shots = []
        for _ in range(int(self.params.get("num_fewshot", 1))):
            words, common = self._example(rng, plan.seed, plan.vocab, *plan.shot, plan.num_cw)
            shots.append(prompt.replace("{context}", numbered(words)) + " " + numbered(common))
        before, after = prompt.split("{context}")  # the first entry "1." follows the newline
        return plan.enc.head("\n".join(shots) + "\n" + before), plan.enc.one(after)

    def build(self, plan: CwePlan, rng: random.Random, n: int, index: int) -> Built:
        head, tail = self._ends(plan, rng)
        # RULER samples from wonderwords while they suffice, else from its english word list
        pool = plan.vocab if n <= len(plan.vocab) else english_words(self.params.get("data_dir"))
        if n > len(pool):
            raise UsageError(f"cwe needs {n} distinct words; the word lists have {len(pool)}")
        return self._built(plan, head, tail, rng.sample(pool, n), n)

    def tokens(self, plan: CwePlan, rng: random.Random, n: int) -> int:
        """The probe's length without building it: the shuffle does not change the sum."""
        head, tail = self._ends(plan, rng)
        pool = plan.vocab if n <= len(plan.vocab) else english_words(self.params.get("data_dir"))
        order = rng.sample(pool, min(n, len(pool)))
        reps = [plan.freq_cw] * plan.num_cw + [plan.freq_ucw] * (len(order) - plan.num_cw)
        words = sum(r * len(ids) for r, ids in zip(reps, plan.enc.many([" " + w for w in order]), strict=False))
        numbers = sum(map(len, self._numbers(plan.enc, sum(reps))))
        return len(head) + len(tail) + words + numbers

    def fill(self, plan: CwePlan, rng: random.Random, index: int) -> Built:
        head, tail = self._ends(plan, rng)
        room = self.budget(plan.length) - len(head) - len(tail)
        order = rng.sample(plan.vocab, len(plan.vocab))
        n = self._fit(plan.enc, order, room, plan.num_cw, plan.freq_cw, plan.freq_ucw)
        if n is None:  # more words than wonderwords has: RULER's english word list
            pool = english_words(self.params.get("data_dir"))
            order = rng.sample(pool, len(pool))
            n = self._fit(plan.enc, order, room, plan.num_cw, plan.freq_cw, plan.freq_ucw)
        if n is None or n < plan.num_cw:  # the real need: the common words at their repetitions
            smallest = self._built(plan, head, tail, order[:plan.num_cw], plan.num_cw)
            raise self.too_short(plan.length, len(smallest.ids))
        return self._built(plan, head, tail, order, n)

    def _built(self, plan: CwePlan, head: list[int], tail: list[int], order: list[str], n: int) -> Built:
        common = order[:plan.num_cw]
        listed = common * plan.freq_cw + order[plan.num_cw:n] * plan.freq_ucw
        random.Random(plan.seed).shuffle(listed)
        ids = list(head)
        words = plan.enc.many([" " + w for w in listed])
        for num, word in zip(self._numbers(plan.enc, len(listed)), words, strict=True):
            ids += num + word
        return Built(ids + tail, common, n, meta={"haystack": "words", "answer_prefix": self.answer_prefix})

    @staticmethod
    def _example(rng: random.Random, seed: int, vocab: list[str], n: int, cr: int, ur: int, num_cw: int):
        words = rng.sample(vocab, n)
        common = words[:num_cw]
        listed = common * cr + words[num_cw:] * ur
        random.Random(seed).shuffle(listed)
        return listed, common

    @staticmethod
    def _numbers(enc: Encoder, count: int) -> list[list[int]]:
        """Token ids of "1." and " i." for i = 2..count: the numbering that precedes each word."""
        have = _NUMBERS.setdefault(enc.fingerprint, [])
        if len(have) < count:
            start = len(have) + 1
            stop = max(count, 2 * len(have), 1024)
            have += enc.many([("1." if i == 1 else f" {i}.") for i in range(start, stop + 1)])
        return have[:count]

    def _fit(self, enc: Encoder, order: list[str], room: int, num_cw: int, cr: int, ur: int) -> int | None:
        """The largest word count N whose list fits in `room` tokens; None if all of `order` fits."""
        used, count, n = 0, 0, 0
        nums: list[list[int]] = []
        while n < len(order):
            lens = [len(ids) for ids in enc.many([" " + w for w in order[n: n + 512]])]
            for w_len in lens:
                reps = cr if n < num_cw else ur
                if count + reps > len(nums):
                    nums = self._numbers(enc, 2 * (count + reps))
                cost = reps * w_len + sum(len(x) for x in nums[count: count + reps])
                if used + cost > room:
                    return n
                used, count, n = used + cost, count + reps, n + 1
        return None


_NUMBERS: dict[str, list[list[int]]] = {}
