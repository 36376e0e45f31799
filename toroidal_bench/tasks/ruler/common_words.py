"""RULER cwe: name the 10 most common words of a long numbered word list.

Re-implements scripts/data/synthetic/common_words_extraction.py in token space. Vocabulary: the
wonderwords nouns + adjectives + verbs (sorted, de-duplicated); when a prompt needs more distinct
words than that, RULER switches to its `json/english_words.json` list, which must then be given as
`english_words.json` in `data_dir`. A sample draws N distinct words; the first num_cw are "common"
and appear freq_cw times, the others freq_ucw times (6 and 1 when the length is below 4096); the
list is shuffled with `random.Random(seed)` and rendered "1. w 2. w …". One few-shot example (40
words ×10/×3, or 20 words ×3/×1 below 4096) with its answer comes first. N is the largest that fits.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from ...errors import UsageError
from .. import task_family
from ..base import Sample
from ..pieces import Encoder, encoder_for
from .base import RulerTask
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


@task_family("ruler.cwe")
class RulerCommonWords(RulerTask):
    kind = "common_words_extraction"
    version = "1"

    def samples(self, tokenizer: Any, length: int, seed: int, limit: int | None) -> Iterable[Sample]:
        p = self.params
        num_cw = int(p.get("num_cw", 10))
        short = length < 4096
        freq_cw, freq_ucw = (6, 1) if short else (int(p.get("freq_cw", 30)), int(p.get("freq_ucw", 3)))
        shot_words, shot_cw, shot_ucw = (20, 3, 1) if short else (40, 10, 3)
        enc = encoder_for(tokenizer)
        vocab = sorted(set(wonderwords_list("nounlist.txt") + wonderwords_list("adjectivelist.txt")
                           + wonderwords_list("verblist.txt")))
        prompt = self.template + self.answer_prefix
        for index in range(self.count(limit)):
            rng = self.rng(seed, length, index)
            shots = []
            for _ in range(int(p.get("num_fewshot", 1))):
                words, common = self._example(rng, seed, vocab, shot_words, shot_cw, shot_ucw, num_cw)
                shots.append(prompt.replace("{context}", numbered(words)) + " " + numbered(common))
            before, after = prompt.split("{context}")  # the first entry "1." follows the newline
            head = enc.head("\n".join(shots) + "\n" + before)
            tail = enc.one(after)
            room = self.budget(length) - len(head) - len(tail)
            pool = vocab
            order = rng.sample(pool, len(pool))
            n = self._fit(enc, order, room, num_cw, freq_cw, freq_ucw)
            if n is None:  # more words than wonderwords has: RULER's english word list
                pool = english_words(p.get("data_dir"))
                order = rng.sample(pool, len(pool))
                n = self._fit(enc, order, room, num_cw, freq_cw, freq_ucw)
            if n is None or n < num_cw:
                raise self.too_short(length, self.budget(length) - room)
            common = order[:num_cw]
            listed = common * freq_cw + order[num_cw:n] * freq_ucw
            random.Random(seed).shuffle(listed)
            ids = list(head)
            for num, word in zip(self._numbers(enc, len(listed)), enc.many([" " + w for w in listed]), strict=True):
                ids += num + word
            yield self.make(enc, ids + tail, length, index, common, haystack="words", haystack_units=n,
                            answer_prefix=self.answer_prefix)

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
